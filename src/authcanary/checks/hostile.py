"""A hostile request (what a vendor's strategies in `strategies/` draw) and the statuses the documentation allows
for it."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from authcanary.credentials import MaskedRepr


@dataclass(frozen=True, repr=False)
class HostileRequest(MaskedRepr):
    """One request and what the documentation says may come back. Its repr (which hypothesis prints for a failing
    example, into junit.xml and allure-results too) names the request but never shows its headers or body: they may
    hold credentials. A vendor adds its own fields in a subclass (``@dataclass(frozen=True, repr=False)``)."""

    kind: str
    method: str
    path: str
    headers: dict[str, str]
    content: bytes
    allowed: frozenset[int]
    #: a failed login for a configured account: live accounts lock after a few (see the `login_probes` fixture)
    risks_lockout: bool = False

    def describe(self) -> str:
        return f"{self.kind}: {self.method} {self.path}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"

    def send(self, client: httpx.Client) -> httpx.Response:
        return client.request(self.method, self.path, headers=self.headers, content=self.content)

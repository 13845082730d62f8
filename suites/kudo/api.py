"""How the Kudo token service is called, as its documentation shows (seed 003, VENDORS.md §4). Sending only: what an
answer must be is judged in checks.py."""

from __future__ import annotations

import json
from typing import Any

import httpx

from authcanary.suite import Secret, reveal
from strategies.kudo import GENERATE, JSON, VERIFY

ENDPOINT = {"generate": f"POST {GENERATE}", "verify": f"GET {VERIFY}"}
#: `key=CONFIGURED`: the target's partner key
CONFIGURED = object()


def encode(parameters: Any) -> bytes:
    """Parameters as a JSON body, the way HTTP clients send them (UTF-8, compact, no NaN)."""
    return json.dumps(parameters, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


class KudoApi:
    """The documented calls of one target (its settings: targets.toml `[targets.NAME.kudo]`), through the suite's
    `client` (one per test)."""

    def __init__(self, client: httpx.Client, settings: dict[str, Any]) -> None:
        self.client = client
        self._key: Secret | str = settings["api_key"]  # revealed only where a request is built

    def generate(
        self, parameters: Any = None, *, key: Any = CONFIGURED, content: bytes | None = None
    ) -> httpx.Response:
        """`POST /generate` with `Content-Type: application/json` and `x-api-key` (the target's key; `key=None`:
        none, a string: that one) and the editor parameters as a JSON body (`content`: these bytes instead)."""
        headers = {"Content-Type": JSON}
        key = self._key if key is CONFIGURED else key
        if key is not None:
            headers["x-api-key"] = reveal(key)
        return self.client.post(GENERATE, content=encode(parameters) if content is None else content, headers=headers)

    def verify(self, token: str | None) -> httpx.Response:
        """`GET /verify` with `x-api-token` (`None`: no token) and the `Content-type: application/json` the document
        lists for it."""
        headers = {"Content-Type": JSON}
        if token is not None:
            headers["x-api-token"] = token
        return self.client.get(VERIFY, headers=headers)

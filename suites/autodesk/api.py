"""How the Autodesk APS token API is called, as its documentation shows. Sending only: what an answer must be is
judged in checks.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from authcanary.suite import Secret, reveal
from strategies.autodesk import FORM, V1, V2, basic

ENDPOINT = {1: f"POST {V1}", 2: f"POST {V2}"}
KEYS = "/authentication/v2/keys"
#: why a v1 check is skipped once v1 is gone: the migration suite reports the removal under `deprecations`
V1_REMOVED_SKIP = "v1 answers {status}: removed (reported under deprecations)"


class ApsApi:
    """The documented calls of one target (its settings: targets.toml `[targets.NAME.autodesk]`), through the suite's
    `client` (one per test)."""

    def __init__(self, client: httpx.Client, settings: dict[str, Any]) -> None:
        self.client = client
        self.client_id: str = settings["client_id"]
        self._client_secret: Secret | str = settings["client_secret"]  # revealed only where a request is built
        self.scope: str = settings["scope"]
        forbidden = settings.get("forbidden_client_id"), settings.get("forbidden_client_secret")
        #: a client that is not authorized (`forbidden_client_id`/`_secret`), when the target configures one
        self.forbidden_client: tuple[str, Secret | str] | None = forbidden if all(forbidden) else None
        self._jwks: httpx.Response | None = None

    # -- the token endpoints ---------------------------------------------------------------------------------------
    def token(
        self,
        version: int,
        *,
        client_id: str | None = None,
        client_secret: Secret | str | None = None,
        scope: str | None = "data:read",
        credentials: str = "body",
        grant_type: str = "client_credentials",
        content_type: str | None = FORM,
        extensions: dict | None = None,
    ) -> httpx.Response:
        """POST a token request to v1 or v2 (`version`), with the target's client unless `client_id` /
        `client_secret` say otherwise (`""`: an empty secret). `credentials` is `body`, `basic` (v2) or `both` (v2,
        documented as 400); `scope` None leaves the optional parameter out (a documented shape too); `content_type`
        None sends none. `extensions`: httpx request extensions, e.g. `{RAW: True}` for the first answer as it is
        (never retried)."""
        client_id = self.client_id if client_id is None else client_id
        client_secret = self._client_secret if client_secret is None else client_secret
        fields = {"grant_type": grant_type, **({"scope": scope} if scope is not None else {})}
        headers = {"Content-Type": content_type} if content_type else {}
        if credentials in ("body", "both"):
            fields = {"client_id": client_id, "client_secret": reveal(client_secret), **fields}
        if credentials in ("basic", "both"):
            headers["Authorization"] = basic(client_id, client_secret)
        # Encoded by hand: httpx would add a form Content-Type of its own when a scenario wants none.
        return self.client.post(
            V1 if version == 1 else V2, content=urlencode(fields), headers=headers, extensions=extensions
        )

    # -- the published keys ----------------------------------------------------------------------------------------
    def published_keys(self) -> httpx.Response:
        """The vendor's JWKS answer (`GET /authentication/v2/keys`), fetched once, when first asked for.

        An `ApsApi` lives for one test (as its `client` does), so a test that checks several tokens asks for the keys
        once, and each scenario cassette still records the fetch its own checks relied on: which cassettes hold a
        JWKS step does not depend on which tests ran before (drift stays deterministic across runs, orders and `-k`
        selections). A run-wide cache would leave the one fetch in whichever scenario happened to run first."""
        if self._jwks is None:
            self._jwks = self.client.get(KEYS)
        return self._jwks

    # -- v1's decommissioning --------------------------------------------------------------------------------------
    def v1_removed(self) -> int | None:
        """The status (404/410) when v1 is decommissioned, else None. One request."""
        response = self.token(1)
        return response.status_code if response.status_code in (404, 410) else None

    def skip_if_v1_removed(self) -> None:
        """Skip the test once v1 is gone (a deprecation finding of the migration suite, not a violation)."""
        status = self.v1_removed()
        if status:
            pytest.skip(V1_REMOVED_SKIP.format(status=status))

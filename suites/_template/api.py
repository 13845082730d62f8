"""How the vendor is called, as its documentation shows (one method per documented call). Sending only: what an
answer must be is judged in checks.py."""

from __future__ import annotations

from typing import Any

import httpx

from authcanary.suite import reveal

TOKEN = "/oauth/token"


class AcmeApi:
    """The documented calls of one target (its settings: targets.toml `[targets.NAME.acme]`)."""

    def __init__(self, client: httpx.Client, settings: dict[str, Any]) -> None:
        self.client = client
        self.client_id = settings["client_id"]
        self._client_secret = settings["client_secret"]  # a Secret: revealed only where the request is built

    def token(self, *, scope: str | None = None) -> httpx.Response:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": reveal(self._client_secret),
        }
        if scope is not None:  # optional parameters are also sent absent (a documented shape too)
            form["scope"] = scope
        return self.client.post(TOKEN, data=form)

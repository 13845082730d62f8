"""How the AxeoBIM token calls are made, as the documentation shows them (VENDORS.md §3, seed 000): step 1 the
client-credentials token, step 2 the Cerqual user token with the step-1 token as bearer. Sending only: what an answer
must be is judged in checks.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

from authcanary.suite import Secret, reveal
from strategies.axeobim import CLIENT, CLIENT_GRANT, FORM, USER, USER_GRANT, bearer

ENDPOINT = {"client": f"POST {CLIENT}", "user": f"POST {USER}"}


class AxeobimApi:
    """The documented calls of one target (its settings: targets.toml `[targets.NAME.axeobim]`), through the suite's
    `client` (one per test)."""

    def __init__(self, client: httpx.Client, settings: dict[str, Any]) -> None:
        self.client = client
        self.client_id: str = settings["client_id"]
        self._client_secret: Secret | str = settings["client_secret"]  # revealed only where a request is built
        self.email: str = settings["cerqual_email"]
        self.scope: str = settings["scope"]
        self.cerqual_scope: str = settings["cerqual_scope"]

    # -- step 1 ------------------------------------------------------------------------------------------------------
    def client_token(
        self,
        *,
        client_id: str | None = None,
        client_secret: Secret | str | None = None,
        scope: str | None = None,
        grant_type: str | None = CLIENT_GRANT,
        send_scope: bool = True,
    ) -> httpx.Response:
        """`POST /oauth/authenticate` with the target's client unless `client_id`/`client_secret` say otherwise;
        `grant_type` None leaves it out; `scope` defaults to the configured one, `send_scope=False` leaves the optional
        parameter out (a documented shape too)."""
        fields: list[tuple[str, str]] = []
        if grant_type is not None:
            fields.append(("grant_type", grant_type))
        fields.append(("client_id", self.client_id if client_id is None else client_id))
        fields.append(("client_secret", reveal(self._client_secret if client_secret is None else client_secret)))
        if send_scope:
            fields.append(("scope", self.scope if scope is None else scope))
        return self._post(CLIENT, fields, {})

    def client_token_without(self, name: str) -> httpx.Response:
        """Step 1 with one required parameter (`grant_type`, `client_id`, `client_secret`) left out."""
        fields = [
            ("grant_type", CLIENT_GRANT),
            ("client_id", self.client_id),
            ("client_secret", reveal(self._client_secret)),
            ("scope", self.scope),
        ]
        return self._post(CLIENT, [(key, value) for key, value in fields if key != name], {})

    def fresh_client_token(self) -> str | None:
        """A client token (step 1 with the target's client and scope), or None when step 1 gave none."""
        return access_token(self.client_token())

    # -- step 2 ------------------------------------------------------------------------------------------------------
    def user_token(
        self,
        token: str | None,
        *,
        email: str | None = None,
        scope: str | None = None,
        grant_type: str | None = USER_GRANT,
        send_scope: bool = True,
        send_email: bool = True,
        authorization: str | None = None,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> httpx.Response:
        """`POST /cerqual/authenticate_user` with `Authorization: Bearer <token>` (no header when `token` is None, or
        `authorization` as given), for the configured Cerqual user unless `email` says otherwise; `extra` fields are
        appended (a repeated parameter)."""
        fields: list[tuple[str, str]] = []
        if grant_type is not None:
            fields.append(("grant_type", grant_type))
        if send_email:
            fields.append(("email", self.email if email is None else email))
        if send_scope:
            fields.append(("scope", self.cerqual_scope if scope is None else scope))
        fields.extend(extra)
        headers = {"Authorization": authorization} if authorization is not None else bearer(token) if token else {}
        return self._post(USER, fields, headers)

    def _post(self, path: str, fields: list[tuple[str, str]], headers: dict[str, str]) -> httpx.Response:
        # Encoded by hand: the fields keep their order, and httpx adds nothing of its own.
        return self.client.post(path, content=urlencode(fields), headers={"Content-Type": FORM, **headers})


def access_token(response: httpx.Response) -> str | None:
    """The `access_token` of a 200 JSON answer, or None."""
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    token = body.get("access_token") if isinstance(body, dict) else None
    return token if isinstance(token, str) and token else None

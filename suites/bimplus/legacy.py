"""Shared steps and checks of the Bimplus legacy suites: the calls as documented and what a documented answer is
(contracts/bimplus/). The generic parts (the target's clock, status sets, constants, body schemas) are the engine's
(`authcanary.suite`). Every check is named: its id is declared in contracts/bimplus/checks.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from authcanary.suite import (
    Contract,
    Expect,
    Secret,
    Timed,
    VendorFindings,
    check_constants,
    check_schema,
    refused,
    reveal,
)
from strategies.bimplus import AUTHORIZE, CROSS_AUTHORIZE, CROSS_TOKEN, Login, bimplus_auth


@dataclass(frozen=True)
class Account:
    """A configured user; `name` is the targets key reports use instead of the e-mail."""

    name: str
    user: str
    password: Secret | str


def accounts(settings: dict[str, Any]) -> list[Account]:
    """The target's users: `user`, and `second_user` when configured."""
    found = [Account("user", settings["user"], settings["password"])]
    if settings.get("second_user") and settings.get("second_password"):
        found.append(Account("second_user", settings["second_user"], settings["second_password"]))
    return found


def login(settings: dict[str, Any]) -> Login:
    """What the hostile-request strategies build on."""
    return Login(settings["user"], settings["password"], settings["application_id"])


class LegacyApi:
    """The legacy endpoints of one target, called as the documentation shows."""

    def __init__(self, client: httpx.Client, settings: dict[str, Any]) -> None:
        self.client = client
        self.application_id = settings["application_id"]
        self.logout_path = settings["logout_path"]
        self.teams_path = settings["teams_path"]

    def authorize(
        self, account: Account, *, client_id: str | None = None, remember_me: Any = None, omit: tuple[str, ...] = ()
    ) -> httpx.Response:
        body = {"user_id": account.user, "password": reveal(account.password), "application_id": self.application_id}
        if client_id is not None:
            body["client_id"] = client_id
        if remember_me is not None:
            body["remember_me"] = remember_me
        return self.client.post(AUTHORIZE, json={k: v for k, v in body.items() if k not in omit})

    def remember_me_login(self, remember_me_token: str, client_id: str) -> httpx.Response:
        return self.client.post(
            AUTHORIZE,
            json={
                "remember_me": True,
                "remember_me_token": remember_me_token,
                "client_id": client_id,
                "application_id": self.application_id,
            },
        )

    def token_info(self, token: str) -> httpx.Response:
        return self.client.get(AUTHORIZE, headers=bimplus_auth(token))

    def cross_token(self, token: str) -> httpx.Response:
        return self.client.post(CROSS_TOKEN, headers=bimplus_auth(token))

    def cross_authorize(self, cross_token: str, client_id: str | None = None) -> httpx.Response:
        body = {"cross_token": cross_token, "application_id": self.application_id}
        return self.client.post(CROSS_AUTHORIZE, json={**body, **({"client_id": client_id} if client_id else {})})

    def logout(self, token: str) -> httpx.Response:
        return self.client.delete(self.logout_path, headers=bimplus_auth(token))

    def teams(self, token: str) -> httpx.Response:
        return self.client.get(self.teams_path, headers=bimplus_auth(token))


@dataclass
class Issued:
    """A token as it was issued: what token info and later calls must say about it."""

    kind: str  # access | cross | remember
    value: str
    account: Account
    client_id: str
    timing: Timed
    expires_in: int
    last_remaining: int | None = None


def seconds(value: Any) -> int | None:
    """An expires_in value as documented: an integer, or a string of digits (the tables say `string`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


class LegacyChecks:
    """The documented properties of legacy answers, recorded through `expect` (one instance per test or sequence:
    it remembers the user_id token info gave for each account)."""

    def __init__(self, expect: Expect, contract: Contract, report: VendorFindings) -> None:
        self.expect, self.contract, self.report = expect, contract, report
        tokens = contract.semantics["tokens"]
        self.dead_status = tokens["dead_status"]
        self.tolerance = tokens["clock_tolerance_seconds"]
        self.user_ids: dict[str, str] = {}

    # -- building blocks ------------------------------------------------------------------------------------------
    def body(self, response: httpx.Response, schema: str, status: int = 200) -> Any:
        """The answer's JSON when it has `status` and matches the contract's `schema`, else None (after recording)."""
        if not self.expect.status(response, status, "bimplus.answers.status_200"):
            return None
        try:
            body = response.json()
        except ValueError:
            self.expect.that(
                False,
                "bimplus.answers.json_body",
                response=response,
                expected="a JSON body",
                observed=f"{response.headers.get('content-type')}: {self.expect.excerpt(response)!r}",
            )
            return None
        if isinstance(body, dict):
            # presence is the schema's business (the remember-me example has no token_type)
            check_constants(self.expect, response, body, self.contract, absent_ok=True)
        return body if check_schema(self.expect, response, body, self.contract, schema, status=status) else None

    def lifetime(self, response: httpx.Response, name: str, value: int) -> None:
        """An issued lifetime against semantics.yaml `lifetimes`: documented passes, a contradicting reading of the
        documentation is noted (it is a reported ambiguity), anything else is a violation."""
        spec = self.contract.semantics["lifetimes"][name]
        endpoint = self.expect.endpoint(response.request)

        def near(values: list[int]) -> bool:
            return any(abs(value - documented) <= spec["tolerance_seconds"] for documented in values)

        if near(spec["documented"]):
            return
        if near(spec.get("contradicting", [])):
            self.report.add_note(
                f"{endpoint}: the {name} lifetime follows {spec['reading']} (a documented ambiguity, not a violation)"
            )
            return
        self.expect.that(
            False,
            "bimplus.lifetime.documented_value",
            response=response,
            detail=name,
            expected=f"expires_in {' or '.join(map(str, spec['documented']))} (±{spec['tolerance_seconds']} s)",
            observed=f"expires_in {value}",
            severity=spec["on_mismatch"],
        )

    def dead(self, response: httpx.Response, why: str) -> bool:
        """A dead, unknown or missing token is refused with the documented status; `why` (which token: an expired
        one, a used cross token, a logged-out one ...) is the case of the check."""
        return self.expect.status(response, self.dead_status, "bimplus.tokens.dead_refused", detail=why)

    def refused(self, response: httpx.Response, allowed: frozenset[int], check: str, detail: str = "") -> bool:
        """`response` has one of the `allowed` statuses (`check`: a declared check id)."""
        return refused(self.expect, response, allowed, check, detail)

    # -- token answers --------------------------------------------------------------------------------------------
    def token(
        self, timed: Timed, account: Account, lifetime: str = "access", client_id: str | None = None
    ) -> Issued | None:
        """A 200 token answer (authorize, remember-me login, cross-authorize); `client_id` when one was sent."""
        body = self.body(timed.response, "Token")
        if body is None:
            return None
        self.lifetime(timed.response, lifetime, body["expires_in"])
        if client_id is not None:
            self._echoes_client_id(timed.response, body, client_id)
        return Issued("access", body["access_token"], account, body["client_id"], timed, body["expires_in"])

    def remember_me(self, timed: Timed, account: Account, client_id: str | None = None) -> tuple[Issued, Issued] | None:
        """A 200 answer to authorize with remember_me true: (access token, remember-me token)."""
        response = timed.response
        if not self.expect.status(response, 200, "bimplus.answers.status_200"):
            return None
        body = self.expect.json_object(response, "bimplus.answers.json_body")
        if body is None or not self.expect.that(
            "remember_me_token" in body,
            "bimplus.remember_me.token_issued",
            response=response,
            expected="remember_me_token and remember_me_expires_in in the answer",
            observed=f"fields: {sorted(body)}",
        ):
            return None
        if self.body(response, "RememberMeToken") is None:
            return None
        self.lifetime(response, "remember_me_access", body["expires_in"])
        self.lifetime(response, "remember_me_token", body["remember_me_expires_in"])
        if client_id is not None:
            self._echoes_client_id(response, body, client_id)
        return (
            Issued("access", body["access_token"], account, body["client_id"], timed, body["expires_in"]),
            Issued(
                "remember", body["remember_me_token"], account, body["client_id"], timed, body["remember_me_expires_in"]
            ),
        )

    def cross_token(self, timed: Timed, source: Issued) -> Issued | None:
        """A 200 cross-token answer for the token `source`."""
        body = self.body(timed.response, "CrossToken")
        if body is None:
            return None
        expires_in = seconds(body["expires_in"])
        self.lifetime(timed.response, "cross_token", expires_in)
        return Issued("cross", body["cross_token"], source.account, source.client_id, timed, expires_in)

    def _echoes_client_id(self, response: httpx.Response, body: dict[str, Any], client_id: str) -> None:
        self.expect.that(
            body.get("client_id") == client_id,
            "bimplus.authorize.client_id_echoed",
            response=response,
            expected=f"client_id = {client_id}",
            observed=f"client_id = {body.get('client_id')!r}",
        )

    # -- token info -----------------------------------------------------------------------------------------------
    def token_info(self, probe: Timed, token: Issued) -> None:
        """Token info for a live token: its user's stable user_id, audience = its client_id, and a remaining
        lifetime that never exceeds the issued one, never increases and runs down with the clock."""
        response = probe.response
        body = self.body(response, "TokenInfo")
        if body is None:
            return
        known = self.user_ids.setdefault(token.account.name, body["user_id"])
        self.expect.that(
            body["user_id"] == known,
            "bimplus.token_info.user_id_stable",
            response=response,
            expected=f"user_id {known} (earlier answers for {token.account.name})",
            observed=f"user_id {body['user_id']}",
        )
        others = {name: user_id for name, user_id in self.user_ids.items() if name != token.account.name}
        self.expect.that(
            body["user_id"] not in others.values(),
            "bimplus.token_info.user_id_per_user",
            response=response,
            expected=f"a user_id other than {others}",
            observed=f"user_id {body['user_id']} for {token.account.name}",
        )
        self.expect.that(
            body["audience"] == token.client_id,
            "bimplus.token_info.audience_client_id",
            response=response,
            expected=f"audience {token.client_id}",
            observed=f"audience {body['audience']}",
        )
        remaining = seconds(body["expires_in"])
        self.expect.that(
            remaining <= token.expires_in + self.tolerance,
            "bimplus.token_info.remaining_within_issued",
            response=response,
            expected=f"expires_in <= {token.expires_in}",
            observed=f"expires_in {remaining}",
        )
        if token.last_remaining is not None:
            self.expect.that(
                remaining <= token.last_remaining + self.tolerance,
                "bimplus.token_info.remaining_never_increases",
                response=response,
                expected=f"expires_in <= {token.last_remaining} (the previous answer)",
                observed=f"expires_in {remaining}",
            )
        # An honest service counts from some instant between our issue request and its answer to some instant
        # between this probe's request and its answer.
        low = token.expires_in - (probe.received - token.timing.sent) - self.tolerance
        high = token.expires_in - (probe.sent - token.timing.received) + self.tolerance
        self.expect.that(
            low <= remaining <= high,
            "bimplus.token_info.remaining_follows_clock",
            response=response,
            expected=f"expires_in between {low:.1f} and {high:.1f} "
            f"({probe.sent - token.timing.received:.1f} s after it was issued)",
            observed=f"expires_in {remaining}",
        )
        token.last_remaining = remaining

"""Allplan Bimplus legacy Authorization Service simulator (seed 001, VENDORS.md §2).

BimPlus tokens (`Authorization: BimPlus <token>`): authorize with a password (optionally remember me), log in
with a remember-me token, token info, one-time cross tokens and cross-authorize, a user-wide logout and
`GET /v2/teams` as a protected resource. Where the documentation contradicts itself the simulator follows the
reading noted beside each constant; contracts/bimplus/semantics.yaml lists the contradictions as ambiguities.

The OIDC successor, a Keycloak realm (`keycloak.py`), is served beside the legacy service under
`/realms/{oidc_realm}` with the same accounts; `/v2/teams` also takes its `Bearer` tokens. Options announce the
legacy service's deprecation (`deprecation_headers`) or remove parts of it (`legacy_removed`: 410).

Besides the shared control plane it answers `GET /__authcanary__/failed-logins` (wrong-password attempts per
account, legacy and OIDC logins alike), which the live-safety tests read, and `POST /__authcanary__/rotate-keys`
(`{"retire": true}` also drops the older keys) -> `{"kids": [current first]}`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import math
import secrets
import unicodedata
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal, overload

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from authcanary.simulators.framework import (
    CONTROL_PREFIX,
    DOCUMENTED,
    ExpiringStore,
    Rejected,
    Simulator,
    control_body,
)
from authcanary.simulators.keycloak import DISCOVERY, Endpoint, InvalidToken, KeycloakRealm

AUTHORIZE = "/v2/authorize"  # POST authorize, GET token info, DELETE logout (the logout path is not in the seed)
CROSS_TOKEN = "/v2/cross-token"
CROSS_AUTHORIZE = "/v2/cross-authorize"
TEAMS = "/v2/teams"
FAILED_LOGINS = f"{CONTROL_PREFIX}/failed-logins"
ROTATE_KEYS = f"{CONTROL_PREFIX}/rotate-keys"
JSON = "application/json"
TOKEN_TYPE = "BimPlus"
NIL_UUID = "00000000-0000-0000-0000-000000000000"
SHARED_USER_ID = "5d0c6a52-3c52-4c4e-9d0e-6f1f3e0b7a11"  # deviation shared-user-id: one user_id for every user
# Lifetimes in seconds. Answers report the remaining whole seconds minus one, as every example of the seed
# does (28799, 2591999, 299): a 2-hour token is issued with expires_in 7199.
ACCESS_LIFETIME = 2 * 3600  # "the token validity is 2 hours by default" (the text; the example shows 2591999)
REMEMBER_ME_ACCESS_LIFETIME = 8 * 3600  # both remember-me examples: expires_in 28799
REMEMBER_ME_LIFETIME = 30 * 86400  # "set to 30 days" and the example's 2591999 (the text also says 4 weeks / 28.9 d)
CROSS_TOKEN_LIFETIME = 300  # the example's 299: "disposable temporary token"
# Legacy capabilities (option legacy_removed) and the year their removal was announced for (the Sunset header)
LEGACY_REMOVAL_YEARS = {"authorize": 2026, "token-info": 2025, "cross-token": 2025, "logout": 2026}
DEPRECATED_SINCE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)  # RFC 9745 Deprecation: when "Obsolete" applied


@dataclass
class Account:
    email: str
    password: str
    user_id: str
    team_id: str


@dataclass
class Grant:
    """A token the service issued."""

    value: str
    kind: str  # access | cross | remember
    account: Account
    client_id: str
    expires_at: float
    issued_expires_in: int
    serial: int  # issue order: a logout ends every token of the user with a serial up to its own
    revoked: bool = False
    last_access_token: str | None = None  # remember-me tokens: the access token they last produced
    info_calls: int = 0  # token info calls so far (deviation token-info-lifetime-grows)


def _stable_uuid4(*parts: str) -> str:
    """A uuid4-shaped id that stays the same for the same input (user ids survive a reset, like a real account)."""
    return str(uuid.UUID(bytes=hashlib.sha256("/".join(parts).encode()).digest()[:16], version=4))


class BimplusSimulator(Simulator):
    vendor = "bimplus"
    deviations = {
        "bearer-token-type": "token answers say token_type `Bearer` instead of the legacy `BimPlus`",
        "expires-in-string": 'authorize answers carry expires_in as a string ("7199")',
        "frozen-token-info-lifetime": "token info always reports the issued expires_in: the lifetime never runs down",
        "token-info-lifetime-inflated": "token info reports an hour more than the token has left",
        "user-id-unstable": "token info returns a new user_id on every call",
        "shared-user-id": "token info returns the same user_id for every user",
        "numeric-user-id": "token info's user_id is the account's number (a JSON integer) instead of a uuid string",
        "token-info-lifetime-grows": "every token info call of a token reports a day more than the call before "
        "(the token itself still expires as issued)",
        "audience-nil-uuid": "token info audience is the nil UUID instead of the token's client_id",
        "client-id-not-echoed": "a client_id given to authorize is replaced by a new one",
        "reusable-cross-token": "cross-authorize does not consume the cross token",
        "cross-token-one-hour": "cross tokens live an hour (expires_in 3599) instead of 299 s",
        "cross-token-no-token-type": "cross token answers leave out token_type",
        "logout-presented-token-only": "logout ends only the presented token, not every token of the user",
        "teams-accepts-logged-out-token": "GET /v2/teams accepts tokens a logout ended",
        "teams-wrapped": 'GET /v2/teams answers an object {"teams": [...]} instead of the array of teams',
        "teams-xml": "GET /v2/teams answers XML (application/xml) instead of JSON",
        "expired-tokens-accepted": "access tokens keep working after they expire",
        "dead-token-403": "dead, unknown or malformed tokens get 403 instead of 401",
        "missing-remember-me-token": "remember_me: true returns no remember_me_token",
        "remember-me-string-ignored": 'remember_me given as the string "true" (the seed\'s example) is ignored',
        "stale-remember-me-login": "a remember-me login returns the previous access token instead of a fresh one",
        "application-id-optional": "authorize without application_id succeeds",
        "bad-credentials-400": "a wrong password or unknown user gets 400 instead of 401",
        "any-content-type": "request bodies are read as JSON whatever the Content-Type",
        "mistyped-fields-coerced": "non-string values of string fields are accepted as their JSON text",
        "nfkc-email-login": "user_id is NFKC-normalized before lookup: look-alike e-mails log in to the account",
        "remember-me-absent-crash": "a password login (POST /v2/authorize without remember_me_token) whose JSON "
        "object has no remember_me key answers 500, every time",
        # the OIDC successor (the Keycloak realm) and the BIM+ API's side of it
        "oidc-issuer-trailing-slash": "discovery's issuer ends in `/`: not the URL it was fetched under",
        "oidc-discovery-no-revocation": "discovery leaves out revocation_endpoint",
        "oidc-userinfo-endpoint-moved": "discovery advertises userinfo at .../user-info, which answers 404",
        "oidc-advertises-es256": "discovery advertises ID token signing with ES256 only; tokens are RS256",
        "oidc-kid-not-in-jwks": "token headers carry a kid the JWKS does not have (the published key signs)",
        "oidc-rogue-signature": "tokens are signed by an unpublished key, under the published key's kid",
        "oidc-token-cacheable": "token endpoint answers carry no Cache-Control or Pragma",
        "oidc-no-refresh-expires-in": "token answers leave out refresh_expires_in",
        "oidc-no-id-token": "no id_token, even when the openid scope is asked",
        "oidc-internal-issuer": "tokens' iss is the realm's internal URL http://keycloak:8080/realms/{realm} "
        "(a proxy misconfiguration; the realm and the BIM+ API accept them)",
        "oidc-audience-missing": "access tokens' aud is only `account`, not the BIM+ API; /v2/teams still accepts them",
        "oidc-azp-wrong": "access tokens' azp is account-console instead of the requesting client",
        "oidc-lifetime-mismatch": "access tokens live 3600 s (exp - iat) while expires_in says 300",
        "oidc-typ-missing": "access tokens have no typ claim",
        "oidc-invalid-grant-401": "bad user credentials answer 401 invalid_grant (older Keycloak releases)",
        "oidc-error-text": "token endpoint errors are text/plain sentences without a JSON error",
        "oidc-bad-client-400": "a bad client secret answers 400 invalid_client instead of 401",
        "oidc-refresh-reusable": "a used refresh token keeps working (a new one is still issued each time)",
        "oidc-revoke-ignored": "revoking an access token changes nothing: it stays active everywhere",
        "oidc-teams-accepts-revoked": "/v2/teams accepts revoked access tokens (introspection says inactive)",
        "oidc-revoke-refresh-keeps-session": "revoking a refresh token kills only that refresh token; the session's "
        "access tokens stay active",
        "oidc-revoke-unknown-400": "revoking an unknown or malformed token answers 400 invalid_token",
        "oidc-introspection-open": "introspection answers without client authentication",
        "oidc-introspection-expired-active": "introspection says active: true for expired access tokens",
        "oidc-userinfo-without-openid": "userinfo answers 200 to tokens without the openid scope",
        "oidc-userinfo-accepts-dead": "userinfo answers 200 for revoked or logged-out tokens",
        "oidc-logout-keeps-session": "logout answers 204 but the session's tokens and refresh token stay alive",
        "oidc-teams-rejects-bearer": "/v2/teams answers 401 to valid Bearer tokens (legacy tokens only)",
        "oidc-teams-accepts-forged": "/v2/teams accepts Bearer JWTs whose signature does not verify",
        "oidc-teams-accepts-expired": "/v2/teams accepts expired Bearer tokens",
        "oidc-rotation-drops-old-keys": "a signing-key rotation retires the older keys at once: tokens signed before "
        "it no longer verify with the published JWKS",
        "oidc-teams-other-data": "/v2/teams answers a Bearer token with other teams than the same user's legacy "
        "token gets",
        "oidc-introspection-active-string": 'introspection answers `"active": "true"` / `"false"` (strings, not '
        "booleans)",
        "oidc-userinfo-no-sub": "userinfo answers leave out sub",
        "oidc-long-lived-tokens": "the realm raised Keycloak's default lifetimes: access tokens 3600 s, refresh tokens "
        "28800 s (consistent claims)",
        # the legacy service's announced end, as profiles (the options deprecation_headers and legacy_removed=all)
        "legacy-deprecation-headers": "every legacy answer carries Deprecation, Sunset and a successor-version Link",
        "legacy-removed": "every legacy capability answers 410 Gone",
    }
    max_grants = 50_000  # tokens kept at most (the oldest go first), so a long-lived `serve` keeps bounded memory
    option_defaults = {
        # seconds a password-login access token lives: 7200 ("2 hours by default") or 2592000 (the example's reading)
        "access_lifetime": ACCESS_LIFETIME,
        "oidc_realm": "bimplus",
        # RFC 9745 Deprecation, RFC 8594 Sunset and a successor-version Link on every legacy answer
        "deprecation_headers": False,
        # legacy capabilities that answer 410: authorize, token-info, cross-token, logout, or all (comma-separated)
        "legacy_removed": "",
    }

    def __init__(
        self, profile: str = DOCUMENTED, options: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> None:
        super().__init__(profile, options, settings)
        self.deprecation_headers = _option_flag(self.options, "deprecation_headers")
        self.removed = _removed_capabilities(self.options["legacy_removed"])
        self.options.update(deprecation_headers=self.deprecation_headers, legacy_removed=",".join(sorted(self.removed)))
        if self.deviates("legacy-deprecation-headers"):
            self.deprecation_headers = True
        if self.deviates("legacy-removed"):
            self.removed = frozenset(LEGACY_REMOVAL_YEARS)
        self.realm = KeycloakRealm(self)

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        # The seed's example user and application id; passwords of our own (the seed's "test" is a substring of the
        # user name, which would make every redacted report unreadable).
        return {
            "user": "test@bimplus.net",
            "password": "Sim-Passw0rd-1",
            "application_id": "6C12345D9B0C4F3C23ABB5721D098F7B",
            "second_user": "second@bimplus.net",
            "second_password": "Sim-Passw0rd-2",
            "oidc_issuer": "/realms/bimplus",  # a path: the harness resolves it against base_url
            "oidc_client_id": "bimplus-harness",
            "oidc_client_secret": "Sim-Oidc-Secret-1",
            "oidc_audience": "bimplus-api",
            "oidc_scope": "openid profile email",
        }

    def reset_state(self) -> None:
        self.accounts: dict[str, Account] = {}
        for user_key, password_key in (("user", "password"), ("second_user", "second_password")):
            email, password = self.settings.get(user_key), self.settings.get(password_key)
            if email and password:
                self.accounts[self._lookup_key(email)] = Account(
                    email, password, _stable_uuid4("user", email), _stable_uuid4("team", email)
                )
        self.grants: ExpiringStore[Grant] = ExpiringStore(self.clock, self._dies_at, self.max_grants)
        self.issued = 0
        # both keyed by registered accounts only, so they stay as small as `accounts`
        self.logged_out_after: dict[str, int] = {}  # account e-mail -> tokens issued up to this serial are dead
        self.failed_logins: Counter[str] = Counter()

    def reset(self) -> None:
        super().reset()
        self.realm.reset()

    def _dies_at(self, grant: Grant) -> float:
        """When a grant may be forgotten: never while a deviation still accepts it."""
        return math.inf if grant.kind == "access" and self.deviates("expired-tokens-accepted") else grant.expires_at

    def routes(self) -> list[BaseRoute]:
        return [
            Route(AUTHORIZE, self._legacy("authorize", self._authorize), methods=["POST"]),
            Route(AUTHORIZE, self._legacy("token-info", self._token_info), methods=["GET"]),
            Route(AUTHORIZE, self._legacy("logout", self._logout), methods=["DELETE"]),
            Route(CROSS_TOKEN, self._legacy("cross-token", self._cross_token), methods=["POST"]),
            Route(CROSS_AUTHORIZE, self._legacy("cross-token", self._cross_authorize), methods=["POST"]),
            Route(TEAMS, self._teams, methods=["GET"]),
            Route(FAILED_LOGINS, self._failed_logins, methods=["GET"]),
            Route(ROTATE_KEYS, self._rotate_keys, methods=["POST"]),
            *self.realm.routes(),
        ]

    def _legacy(self, capability: str, handler: Endpoint) -> Endpoint:
        """A legacy endpoint: 410 once its capability is removed; deprecation headers when the option is on."""

        async def endpoint(request: Request) -> Response:
            if capability in self.removed:
                response = self.error_response(
                    request,
                    410,
                    "gone",
                    f"The legacy {capability} capability was removed; use the OIDC provider at "
                    f"{self.realm.issuer(request)}.",
                )
            else:
                response = await handler(request)
            if self.deprecation_headers:
                sunset = dt.datetime(LEGACY_REMOVAL_YEARS[capability], 1, 1, tzinfo=dt.UTC)
                response.headers["Deprecation"] = f"@{int(DEPRECATED_SINCE.timestamp())}"
                response.headers["Sunset"] = email.utils.format_datetime(sunset, usegmt=True)
                response.headers["Link"] = f'<{self.realm.issuer(request)}{DISCOVERY}>; rel="successor-version"'
            return response

        return endpoint

    # -- endpoints ----------------------------------------------------------------------------------------------
    async def _authorize(self, request: Request) -> Response:
        try:
            body = await self._json_body(request)
            if "remember_me_token" in body:
                return self._remember_me_login(body)
            if "remember_me" not in body and self.deviates("remember-me-absent-crash"):
                return self.error_response(request, 500, "server_error", "An unexpected error occurred.")
            return self._password_login(body)
        except Rejected as exc:
            return self.error_response(request, exc.status, "invalid_request", str(exc))

    def _password_login(self, body: dict[str, Any]) -> Response:
        user_id = self._string(body, "user_id", required=True)
        password = self._string(body, "password", required=True)
        application_id = self._string(body, "application_id", required=not self.deviates("application-id-optional"))
        client_id = self._string(body, "client_id")
        remember_me = self._flag(body.get("remember_me"))
        account = self.login(user_id, password)
        if account is None:
            status = 400 if self.deviates("bad-credentials-400") else 401
            return self.error_response(None, status, "invalid_grant", "The user name or password is incorrect.")
        if self.deviates("client-id-not-echoed") or not client_id:
            client_id = str(uuid.uuid4())
        if not remember_me or self.deviates("missing-remember-me-token"):
            access = self._issue("access", account, client_id, int(self.options["access_lifetime"]))
            return self._token_answer(access)
        access = self._issue("access", account, client_id, REMEMBER_ME_ACCESS_LIFETIME)
        remember = self._issue("remember", account, client_id, REMEMBER_ME_LIFETIME)
        remember.last_access_token = access.value
        return self._token_answer(access, application_id=application_id, remember_me=remember)

    def _remember_me_login(self, body: dict[str, Any]) -> Response:
        if not self._flag(body.get("remember_me")):
            raise Rejected(400, "remember_me must be true to log in with a remember_me_token.")
        token = self._string(body, "remember_me_token", required=True)
        client_id = self._string(body, "client_id", required=True)
        application_id = self._string(body, "application_id")
        remember = self._alive_grant(token, "remember")
        if remember is None or remember.client_id != client_id:
            return self._token_error("The remember_me_token is unknown, expired or not issued to this client_id.")
        previous = self.grants.get(remember.last_access_token or "")
        if self.deviates("stale-remember-me-login") and previous and self._alive(previous):
            return self._token_answer(previous, application_id=application_id)
        access = self._issue("access", remember.account, client_id, REMEMBER_ME_ACCESS_LIFETIME)
        remember.last_access_token = access.value
        return self._token_answer(access, application_id=application_id)

    async def _token_info(self, request: Request) -> Response:
        grant = self._presented(request)
        if isinstance(grant, Response):
            return grant
        expires_in = self._remaining(grant)
        if self.deviates("frozen-token-info-lifetime"):
            expires_in = grant.issued_expires_in
        elif self.deviates("token-info-lifetime-inflated"):
            expires_in += 3600
        if self.deviates("token-info-lifetime-grows"):
            # a day: more than any time a sequence lets pass, so the second call always reports more than the first
            # and more than was issued, whatever happened between them
            expires_in += 86400 * grant.info_calls
            grant.info_calls += 1
        user_id: str | int = grant.account.user_id
        if self.deviates("user-id-unstable"):
            user_id = str(uuid.uuid4())
        elif self.deviates("shared-user-id"):
            user_id = SHARED_USER_ID
        elif self.deviates("numeric-user-id"):
            user_id = int(grant.account.user_id.replace("-", "")[:7], 16)
        return JSONResponse(
            {
                "user_id": user_id,
                "audience": NIL_UUID if self.deviates("audience-nil-uuid") else grant.client_id,
                "expires_in": expires_in,
            }
        )

    async def _logout(self, request: Request) -> Response:
        grant = self._presented(request)
        if isinstance(grant, Response):
            return grant
        if self.deviates("logout-presented-token-only"):
            grant.revoked = True
        else:
            # "Current date/time is set to be the oldest time for any tokens for this user."
            self.logged_out_after[grant.account.email] = self.issued
        return Response(status_code=200)

    async def _cross_token(self, request: Request) -> Response:
        grant = self._presented(request)
        if isinstance(grant, Response):
            return grant
        lifetime = 3600 if self.deviates("cross-token-one-hour") else CROSS_TOKEN_LIFETIME
        cross = self._issue("cross", grant.account, grant.client_id, lifetime)
        body: dict[str, Any] = {
            "cross_token": cross.value,
            "expires_in": cross.issued_expires_in,
            "token_type": self._token_type(),
        }
        if self.deviates("cross-token-no-token-type"):
            del body["token_type"]
        return JSONResponse(body)

    async def _cross_authorize(self, request: Request) -> Response:
        try:
            body = await self._json_body(request)
            token = self._string(body, "cross_token", required=True)
            client_id = self._string(body, "client_id")
            for name in ("team_id", "project_id", "application_id"):
                self._string(body, name)
        except Rejected as exc:
            return self.error_response(request, exc.status, "invalid_request", str(exc))
        cross = self._alive_grant(token, "cross")
        if cross is None:
            return self._token_error("The cross token is unknown, expired or already used.")
        if not self.deviates("reusable-cross-token"):
            del self.grants[cross.value]  # "The one time cross token will be removed"
        if self.deviates("client-id-not-echoed") or not client_id:
            client_id = str(uuid.uuid4())
        return self._token_answer(self._issue("access", cross.account, client_id, int(self.options["access_lifetime"])))

    async def _teams(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() == "bearer" and not self.deviates("oidc-teams-rejects-bearer"):
            try:
                claims = self.realm.resource_claims(request, token.strip())
            except InvalidToken as exc:
                return self._token_error(f"The Bearer token is not accepted: {exc}")
            account = next((a for a in self.accounts.values() if a.user_id == claims.get("sub")), None)
            teams = [] if account is None else self._teams_of(account)  # a service account has no teams
            if account is not None and self.deviates("oidc-teams-other-data"):
                teams = [{"id": _stable_uuid4("oidc-team", account.email), "name": f"OIDC team of {account.email}"}]
            return self._teams_answer(teams)
        grant = self._presented(request, ignore_logout=self.deviates("teams-accepts-logged-out-token"))
        if isinstance(grant, Response):
            return grant
        return self._teams_answer(self._teams_of(grant.account))

    def _teams_of(self, account: Account) -> list[dict[str, str]]:
        return [{"id": account.team_id, "name": f"Team of {account.email}"}]

    def _teams_answer(self, teams: list[dict[str, str]]) -> Response:
        if self.deviates("teams-xml"):
            items = "".join(f"<Team><Id>{team['id']}</Id><Name>{team['name']}</Name></Team>" for team in teams)
            return Response(
                f'<?xml version="1.0" encoding="utf-8"?><ArrayOfTeam>{items}</ArrayOfTeam>',
                media_type="application/xml",
            )
        return JSONResponse({"teams": teams} if self.deviates("teams-wrapped") else teams)

    async def _failed_logins(self, request: Request) -> Response:
        """Control plane: wrong-password attempts per account since the last reset (live-safety tests read it)."""
        return JSONResponse(dict(self.failed_logins))

    async def _rotate_keys(self, request: Request) -> Response:
        """Control plane: a new realm signing key becomes current; `{"retire": true}` also drops the older ones."""
        expected = '{} or {"retire": true}'
        try:
            body = await control_body(request, expected) if await request.body() else {}
            retire = body.get("retire", False)
            if not isinstance(retire, bool):
                raise Rejected(400, f"'retire' is {json.dumps(retire)[:40]}; expected {expected}")
            self.realm.keys.rotate(retire or self.deviates("oidc-rotation-drops-old-keys"))
        except Rejected as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"kids": self.realm.keys.kids()})

    # -- accounts -----------------------------------------------------------------------------------------------
    def login(self, username: str, password: str) -> Account | None:
        """The account of a user name (e-mail) and password, else None; a wrong password of a registered account
        is counted (legacy and OIDC logins lock the same portal account)."""
        account = self.accounts.get(self._lookup_key(username))
        if account is None or not secrets.compare_digest(account.password.encode(), password.encode()):
            if account is not None:
                self.failed_logins[account.email] += 1
            return None
        return account

    # -- tokens -------------------------------------------------------------------------------------------------
    def _issue(self, kind: str, account: Account, client_id: str, lifetime: int) -> Grant:
        self.issued += 1
        grant = Grant(
            value=secrets.token_hex(16),
            kind=kind,
            account=account,
            client_id=client_id,
            expires_at=self.clock.now() + lifetime,
            issued_expires_in=lifetime - 1,
            serial=self.issued,
        )
        self.grants[grant.value] = grant
        return grant

    def _token_answer(
        self, access: Grant, application_id: str | None = None, remember_me: Grant | None = None
    ) -> Response:
        expires_in = access.issued_expires_in
        body: dict[str, Any] = {
            "access_token": access.value,
            "expires_in": str(expires_in) if self.deviates("expires-in-string") else expires_in,
            "client_id": access.client_id,
            "token_type": self._token_type(),
        }
        if application_id:
            body["application_id"] = application_id
        if remember_me is not None:
            body.update(
                remember_me=True,
                remember_me_token=remember_me.value,
                remember_me_expires_in=remember_me.issued_expires_in,
            )
        return JSONResponse(body)

    def _token_type(self) -> str:
        return "Bearer" if self.deviates("bearer-token-type") else TOKEN_TYPE

    def _remaining(self, grant: Grant) -> int:
        return max(0, math.ceil(grant.expires_at - self.clock.now()) - 1)

    def _alive(self, grant: Grant, ignore_logout: bool = False) -> bool:
        if not ignore_logout and (grant.revoked or grant.serial <= self.logged_out_after.get(grant.account.email, 0)):
            return False
        if grant.kind == "access" and self.deviates("expired-tokens-accepted"):
            return True
        return self.clock.now() < grant.expires_at

    def _alive_grant(self, value: str, kind: str, ignore_logout: bool = False) -> Grant | None:
        grant = self.grants.get(value)
        return grant if grant is not None and grant.kind == kind and self._alive(grant, ignore_logout) else None

    def _presented(self, request: Request, ignore_logout: bool = False) -> Grant | Response:
        """The live access token of `Authorization: BimPlus <token>`, or the 401 answer."""
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != TOKEN_TYPE.lower() or not token.strip():
            return self._token_error("Expected the header Authorization: BimPlus <access token>.")
        grant = self._alive_grant(token.strip(), "access", ignore_logout)
        return grant if grant is not None else self._token_error("The token is unknown, expired or logged out.")

    def _token_error(self, description: str) -> Response:
        status = 403 if self.deviates("dead-token-403") else 401
        return self.error_response(None, status, "invalid_token", description)

    # -- request bodies -----------------------------------------------------------------------------------------
    async def _json_body(self, request: Request) -> dict[str, Any]:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != JSON and not self.deviates("any-content-type"):
            raise Rejected(415, f"The Content-Type must be {JSON}.")
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise Rejected(400, "The body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise Rejected(400, "The body must be a JSON object.")
        return body

    @overload
    def _string(self, body: dict[str, Any], name: str, required: Literal[True]) -> str: ...

    @overload
    def _string(self, body: dict[str, Any], name: str, required: bool = False) -> str | None: ...

    def _string(self, body: dict[str, Any], name: str, required: bool = False) -> str | None:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            if not self.deviates("mistyped-fields-coerced"):
                raise Rejected(400, f"'{name}' must be a string.")
            value = json.dumps(value)
        if required and not value:
            raise Rejected(400, f"The required field '{name}' is missing.")
        return value

    def _flag(self, value: Any) -> bool:
        """remember_me: a JSON bool, or the strings "true"/"false" the seed's examples send."""
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true" and not self.deviates("remember-me-string-ignored")
        raise Rejected(400, "'remember_me' must be true or false.")

    def _lookup_key(self, email: str) -> str:
        """Accounts are found case-insensitively in ASCII only: a look-alike e-mail is another (unknown) user."""
        if self.deviates("nfkc-email-login"):
            return unicodedata.normalize("NFKC", email).casefold()
        return email.lower() if email.isascii() else email


def _option_flag(options: dict[str, Any], name: str) -> bool:
    """A boolean option: a TOML boolean or the strings true/false (`serve --option`)."""
    value = options[name]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"simulator option {name} must be true or false, not {value!r}")


def _removed_capabilities(value: Any) -> frozenset[str]:
    """legacy_removed: capabilities joined by commas, or `all`; empty: none."""
    names = {part.strip() for part in str(value or "").split(",") if part.strip()}
    known = list(LEGACY_REMOVAL_YEARS)
    if "all" in names:
        return frozenset(known)
    if names - set(known):
        raise ValueError(
            f"simulator option legacy_removed must name legacy capabilities ({', '.join([*known, 'all'])}) "
            f"joined by commas, not {value!r}"
        )
    return frozenset(names)

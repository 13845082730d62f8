"""Shared steps and checks of the Bimplus OIDC suites: the realm's endpoints called as Keycloak documents them, and what
a documented answer is (contracts/bimplus/oidc/, the RFC named by each check in contracts/bimplus/checks.yaml).

The realm lives under its issuer (targets `oidc_issuer`), possibly on another host than the BIM+ API: every endpoint
is found through the discovery document (Keycloak's default paths stand in when discovery fails, so one broken
answer does not hide every other check), and reports name them `METHOD {issuer}/path` on every target.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

from authcanary.suite import (
    Contract,
    Expect,
    Secret,
    check_headers,
    check_schema,
    decode_unverified,
    is_placeholder,
    reveal,
    verify_jwt,
)

FORM = "application/x-www-form-urlencoded"
DISCOVERY = "/.well-known/openid-configuration"
#: Keycloak's paths under the issuer, used when the discovery document does not name an endpoint
KEYCLOAK_PATHS = {
    "authorization_endpoint": "/protocol/openid-connect/auth",
    "token_endpoint": "/protocol/openid-connect/token",
    "jwks_uri": "/protocol/openid-connect/certs",
    "userinfo_endpoint": "/protocol/openid-connect/userinfo",
    "introspection_endpoint": "/protocol/openid-connect/token/introspect",
    "revocation_endpoint": "/protocol/openid-connect/revoke",
    "end_session_endpoint": "/protocol/openid-connect/logout",
}
#: how an advertised endpoint is probed to see that it answers (no parameters: any 4xx is an answer)
PROBE_METHOD = {"authorization_endpoint": "GET", "jwks_uri": "GET", "userinfo_endpoint": "GET"}
ISSUER_LABEL = "{issuer}"
NOT_CONFIGURED = (
    "OIDC was not checked: the target's bimplus section has no oidc_issuer (and oidc_client_id); add them to run the "
    "OIDC and migration suites (docs/interfaces.md, Targets file)"
)


def configured(settings: dict[str, Any]) -> bool:
    """Whether the target's Bimplus section names an OIDC provider (else the OIDC suites are skipped)."""
    return bool(settings.get("oidc_issuer"))


def issuer_url(client: httpx.Client, settings: dict[str, Any]) -> str:
    """The issuer: `oidc_issuer` as given, or under the target's base URL when it is a path (`/realms/bimplus`)."""
    issuer = str(settings["oidc_issuer"]).rstrip("/")
    return str(client.base_url).rstrip("/") + issuer if issuer.startswith("/") else issuer


@dataclass(frozen=True)
class OidcClient:
    """A client of the realm: confidential (a secret, sent as HTTP Basic or in the body) or public (no secret)."""

    client_id: str
    secret: Secret | str | None = None

    def authenticate(self, form: dict[str, str], headers: dict[str, str], in_body: bool = False) -> None:
        """Add this client's authentication to a request: HTTP Basic (RFC 6749 §2.3.1, each part form-encoded), or
        client_id (and client_secret) in the body."""
        if self.secret is None or in_body:
            form["client_id"] = self.client_id
            if self.secret is not None:
                form["client_secret"] = reveal(self.secret)
            return
        credentials = f"{quote(self.client_id, safe='')}:{quote(reveal(self.secret), safe='')}"
        headers["Authorization"] = "Basic " + _base64(credentials)


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class OidcApi:
    """The realm's endpoints for one target, called as Keycloak documents them."""

    def __init__(self, client: httpx.Client, settings: dict[str, Any]) -> None:
        self.client = client
        self.issuer = issuer_url(client, settings)
        self.scope = settings["oidc_scope"]
        self.teams_path = settings["teams_path"]
        secret = settings.get("oidc_client_secret")
        self.harness = OidcClient(settings["oidc_client_id"], secret or None)
        self._metadata: dict[str, Any] | None = None

    @property
    def confidential(self) -> bool:
        return self.harness.secret is not None

    # -- discovery --------------------------------------------------------------------------------------------------
    def discovery(self) -> httpx.Response:
        return self.client.get(self.issuer + DISCOVERY)

    def use_metadata(self, metadata: dict[str, Any] | None) -> None:
        """Endpoints come from this discovery document from now on (None: Keycloak's default paths)."""
        self._metadata = metadata or {}

    def endpoint(self, name: str) -> str:
        """An endpoint's URL: as the discovery document advertises it, else Keycloak's default."""
        if self._metadata is None:
            response = self.discovery()
            try:
                body = response.json() if response.status_code == 200 else {}
            except ValueError:
                body = {}
            self.use_metadata(body if isinstance(body, dict) else {})
        assert self._metadata is not None
        advertised = self._metadata.get(name)
        return advertised if isinstance(advertised, str) and advertised else self.issuer + KEYCLOAK_PATHS[name]

    def probe(self, name: str) -> httpx.Response:
        """A bare request to an advertised endpoint (its method, no parameters)."""
        method = PROBE_METHOD.get(name, "POST")
        if method == "GET":
            return self.client.get(self.endpoint(name))
        return self.client.post(self.endpoint(name), data={}, headers={"Content-Type": FORM})

    def jwks(self) -> httpx.Response:
        return self.client.get(self.endpoint("jwks_uri"))

    # -- token endpoint ---------------------------------------------------------------------------------------------
    def token(self, form: dict[str, str], client: OidcClient | None = None, in_body: bool = False) -> httpx.Response:
        """POST the token endpoint with `form`, the client authenticated (`client`, default the harness's)."""
        form, headers = dict(form), {"Content-Type": FORM}
        (client or self.harness).authenticate(form, headers, in_body)
        return self.client.post(self.endpoint("token_endpoint"), data=form, headers=headers)

    def password_login(
        self, user: str, password: Secret | str, *, scope: str | None = None, in_body: bool = False
    ) -> httpx.Response:
        """Resource-owner password grant (RFC 6749 §4.3) with the portal's user name and password."""
        form = {"grant_type": "password", "username": user, "password": reveal(password)}
        form["scope"] = self.scope if scope is None else scope
        return self.token(form, in_body=in_body)

    def client_credentials(self) -> httpx.Response:
        return self.token({"grant_type": "client_credentials"})

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    # -- introspection, revocation, userinfo, logout ----------------------------------------------------------------
    def introspect(self, token: str, authenticate: bool = True) -> httpx.Response:
        form, headers = {"token": token}, {"Content-Type": FORM}
        if authenticate:
            self.harness.authenticate(form, headers)
        return self.client.post(self.endpoint("introspection_endpoint"), data=form, headers=headers)

    def revoke(self, token: str, hint: str | None = None) -> httpx.Response:
        form, headers = {"token": token}, {"Content-Type": FORM}
        if hint:
            form["token_type_hint"] = hint
        self.harness.authenticate(form, headers)
        return self.client.post(self.endpoint("revocation_endpoint"), data=form, headers=headers)

    def userinfo(self, access_token: str) -> httpx.Response:
        return self.client.get(self.endpoint("userinfo_endpoint"), headers=bearer(access_token))

    def logout(self, refresh_token: str) -> httpx.Response:
        """End the session of `refresh_token` (Keycloak's logout endpoint, as a confidential client)."""
        form, headers = {"refresh_token": refresh_token}, {"Content-Type": FORM}
        self.harness.authenticate(form, headers, in_body=True)
        return self.client.post(self.endpoint("end_session_endpoint"), data=form, headers=headers)

    def teams(self, access_token: str) -> httpx.Response:
        """The protected BIM+ resource, called with an OIDC access token."""
        return self.client.get(self.teams_path, headers=bearer(access_token))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Tokens:
    """What a 200 token answer gave (None where a value could not be read)."""

    response: httpx.Response
    access_token: str | None
    refresh_token: str | None
    id_token: str | None
    expires_in: int | None
    scope: str

    @property
    def live(self) -> bool:
        return self.access_token is not None


def read_tokens(response: httpx.Response) -> Tokens | None:
    """The tokens of a 200 answer, or None when it is not one."""
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None

    def text(name: str) -> str | None:
        value = body.get(name)
        return value if isinstance(value, str) and value else None

    expires_in = body.get("expires_in")
    return Tokens(
        response=response,
        access_token=text("access_token"),
        refresh_token=text("refresh_token"),
        id_token=text("id_token"),
        expires_in=expires_in if isinstance(expires_in, int) and not isinstance(expires_in, bool) else None,
        scope=text("scope") or "",
    )


@cache
def _forging_key() -> RSAKey:
    return RSAKey.generate_key(2048, private=True)


def forge(token: str) -> str | None:
    """The same header and claims as `token`, signed by a key of our own: a resource server must refuse it. None
    when `token` is not a readable JWT (a replayed recording's placeholder)."""
    if is_placeholder(token):
        return None
    try:
        header, claims = decode_unverified(token)
    except ValueError:
        return None
    return jwt.encode({**header, "alg": "RS256"}, claims, _forging_key())


#: the published JWKS, fetched when a signature is to be verified (once per test)
Keys = Callable[[], dict[str, Any] | None]


class OidcChecks:
    """Judges the realm's answers through `expect`; each rule is a check declared in contracts/bimplus/checks.yaml.
    Signatures are verified with the JWKS `keys()` gives (fetched only when needed: never for a replayed
    recording, whose tokens are placeholders)."""

    def __init__(self, expect: Expect, contract: Contract, settings: dict[str, Any], issuer: str, keys: Keys) -> None:
        self.expect, self.contract, self.issuer, self.keys = expect, contract, issuer, keys
        self.audience = settings.get("oidc_audience")
        self.client_id = settings["oidc_client_id"]
        self.semantics = contract.semantics
        self.advertised_algorithms: list[str] | None = None

    # -- discovery --------------------------------------------------------------------------------------------------
    def discovery(self, response: httpx.Response) -> dict[str, Any] | None:
        """The discovery document: served, of the contract's schema, and naming exactly the issuer it was fetched
        under (OpenID Connect Discovery §4.3); returns it when it could be read."""
        expect = self.expect
        if not expect.status(response, 200, "bimplus.answers.status_200", detail="discovery"):
            return None
        body = expect.json_object(response, "bimplus.answers.json_body", detail="discovery")
        if body is None:
            return None
        check_schema(expect, response, body, self.contract, "Discovery")
        expect.that(
            body.get("issuer") == self.issuer,
            "bimplus.oidc.discovery_issuer",
            response=response,
            expected=f"issuer = {self.issuer!r} (the URL the document was fetched under)",
            observed=f"issuer = {body.get('issuer')!r}",
        )
        algorithms = body.get("id_token_signing_alg_values_supported")
        if isinstance(algorithms, list):
            self.advertised_algorithms = [a for a in algorithms if isinstance(a, str)]
        return body

    def endpoint_answers(self, name: str, response: httpx.Response) -> None:
        """An advertised endpoint answers a bare request (any status but 404, 410 and 5xx: it is served)."""
        status = response.status_code
        ok = status not in (404, 410) and status < 500
        self.expect.that(
            ok,
            "bimplus.oidc.discovery_endpoints_answer",
            response=response,
            detail=name,
            expected=f"{name} is served (a bare request gets an answer other than 404, 410 or 5xx)",
            observed="" if ok else f"status {status}: {self.expect.excerpt(response)}",
        )

    # -- token answers ----------------------------------------------------------------------------------------------
    def token(self, response: httpx.Response, *, openid: bool, user_session: bool, grant: str) -> Tokens | None:
        """Every documented property of a 200 token answer of `grant`; returns its tokens when they could be read.
        `openid`: the openid scope was asked (an id_token is due); `user_session`: a user logged in (refresh token,
        session claims)."""
        expect = self.expect
        if not expect.status(response, 200, "bimplus.answers.status_200", detail=grant):
            return None
        body = expect.json_object(response, "bimplus.answers.json_body", detail=grant)
        if body is None:
            return None
        check_schema(expect, response, body, self.contract, "OidcToken")
        self.no_store(response, grant)
        tokens = read_tokens(response)
        assert tokens is not None  # a 200 JSON object
        if openid:
            expect.that(
                tokens.id_token is not None,
                "bimplus.oidc.id_token",
                response=response,
                detail=grant,
                expected="an id_token (openid was asked)",
                observed=f"fields: {sorted(body)}",
            )
        self.lifetimes(response, body, user_session)
        if tokens.access_token:
            self.access_token(response, tokens.access_token, tokens.expires_in, user_session)
        if tokens.id_token:
            self.id_token(response, tokens.id_token)
        return tokens

    def no_store(self, response: httpx.Response, detail: str) -> None:
        required = {name: [value] for name, value in self.semantics["tokens"]["no_store"].items()}
        check_headers(self.expect, response, required, "bimplus.oidc.no_store", detail)

    def lifetimes(self, response: httpx.Response, body: dict[str, Any], user_session: bool) -> None:
        """expires_in and refresh_expires_in are the documented defaults (examples: a mismatch weighs `on_mismatch`)."""
        lifetimes = self.semantics["lifetimes"]
        fields = [("expires_in", lifetimes["access"])]
        if user_session:
            fields.append(("refresh_expires_in", lifetimes["refresh"]))
        for field, lifetime in fields:
            value = body.get(field)
            if isinstance(value, int) and value not in lifetime["documented"]:
                self.expect.that(
                    False,
                    "bimplus.oidc.lifetime_documented",
                    response=response,
                    detail=field,
                    expected=f"{field} in {lifetime['documented']}",
                    observed=f"{field} = {value}",
                    severity=lifetime["on_mismatch"],
                )

    def access_token(
        self, response: httpx.Response, token: str, expires_in: int | None, user_session: bool
    ) -> dict[str, Any] | None:
        """An access token's signature and claims (RFC 9068 as Keycloak issues them)."""
        claims = self.verified_claims(response, token, "access token")
        if claims is None:
            return None
        expect = self.expect
        self.issuer_claim(response, claims, "access token")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud] if isinstance(aud, str) else []
        expect.that(
            self.audience in audiences if self.audience else bool(audiences),
            "bimplus.oidc.claim_aud",
            response=response,
            expected=f"aud includes {self.audience!r}" if self.audience else "aud present",
            observed=f"aud = {aud!r}",
        )
        expect.that(
            claims.get("azp") == self.client_id,
            "bimplus.oidc.claim_azp",
            response=response,
            expected=f"azp = {self.client_id!r}",
            observed=f"azp = {claims.get('azp')!r}",
        )
        expect.that(
            claims.get("typ") == self.semantics["tokens"]["type"],
            "bimplus.oidc.claim_typ",
            response=response,
            expected=f"typ = {self.semantics['tokens']['type']!r}",
            observed=f"typ = {claims.get('typ')!r}",
        )
        iat, exp = claims.get("iat"), claims.get("exp")
        if expires_in is not None:
            lifetime = exp - iat if isinstance(iat, int) and isinstance(exp, int) else None
            expect.that(
                lifetime is not None and abs(lifetime - expires_in) <= 1,
                "bimplus.oidc.claim_lifetime",
                response=response,
                expected=f"exp - iat = expires_in = {expires_in} (±1 s)",
                observed=f"exp - iat = {lifetime}",
            )
        return claims

    def id_token(self, response: httpx.Response, token: str) -> None:
        claims = self.verified_claims(response, token, "id token")
        if claims is None:
            return
        self.issuer_claim(response, claims, "id token")

    def issuer_claim(self, response: httpx.Response, claims: dict[str, Any], kind: str) -> None:
        issuer = self.issuer
        self.expect.that(
            claims.get("iss") == issuer,
            "bimplus.oidc.claim_iss",
            response=response,
            detail=kind,
            expected=f"iss = {issuer!r}",
            observed=f"iss = {claims.get('iss')!r}",
        )

    def verified_claims(self, response: httpx.Response, token: str, kind: str) -> dict[str, Any] | None:
        """The claims of a JWT the realm issued, after checking its kid is published, its algorithm advertised and its
        signature valid; None when they cannot be judged (a replayed placeholder, or not a JWT)."""
        if is_placeholder(token):
            return None
        expect = self.expect
        try:
            header, claims = decode_unverified(token)
        except ValueError as exc:
            expect.that(
                False,
                "bimplus.schema.oidctoken",
                response=response,
                detail=kind,
                expected="a JWT (RFC 9068)",
                observed=str(exc),
            )
            return None
        alg = header.get("alg")
        if self.advertised_algorithms is not None:
            expect.that(
                alg in self.advertised_algorithms,
                "bimplus.oidc.signing_algorithms",
                response=response,
                detail=kind,
                expected=f"alg in the advertised {self.advertised_algorithms}",
                observed=f"alg = {alg!r}",
            )
        jwks = self.keys()
        if jwks is None:
            return claims
        kids = [key.get("kid") for key in jwks.get("keys", []) if isinstance(key, dict)]
        if not expect.that(
            header.get("kid") in kids,
            "bimplus.oidc.kid_in_jwks",
            response=response,
            detail=kind,
            expected=f"kid one of the {len(kids)} key(s) the jwks_uri publishes",
            observed=f"kid = {header.get('kid')!r}",
        ):
            return claims
        try:
            verify_jwt(token, jwks, algorithms=(alg if isinstance(alg, str) else "RS256",))
        except Exception as exc:  # joserfc raises several error types; any of them means "does not verify"
            expect.that(
                False,
                "bimplus.oidc.signature",
                response=response,
                detail=kind,
                expected="verifies with the published key its kid names",
                observed=f"{type(exc).__name__}: {exc}",
            )
        return claims

    # -- errors and refusals ----------------------------------------------------------------------------------------
    def error(self, response: httpx.Response, rule: str, check: str, detail: str = "") -> None:
        """A documented error (semantics.yaml `errors.<rule>`): its status and `error` code (`check`), and an
        RFC 6749 §5.2 body."""
        documented = self.semantics["errors"][rule]
        expect = self.expect
        body = _json_object(response)
        code = body.get("error") if body else None
        expected_code = documented.get("error")
        expect.that(
            response.status_code == documented["status"] and (expected_code is None or code == expected_code),
            check,
            response=response,
            detail=detail or rule,
            expected=f"status {documented['status']}" + (f" error {expected_code}" if expected_code else ""),
            observed=f"status {response.status_code} error {code!r}",
        )
        if 400 <= response.status_code < 500:
            self.error_body(response, detail or rule)

    def error_body(self, response: httpx.Response, detail: str) -> None:
        body = _json_object(response)
        ok = body is not None and isinstance(body.get("error"), str)
        content_type = response.headers.get("content-type", "no content-type")
        self.expect.that(
            ok,
            "bimplus.oidc.error_body",
            response=response,
            detail=detail,
            expected='a JSON object {"error": ..., "error_description": ...}',
            observed="" if ok else f"{content_type}: {self.expect.excerpt(response)!r}",
        )

    def refused(self, response: httpx.Response, check: str, detail: str, statuses: tuple[int, ...] = (401,)) -> bool:
        ok = response.status_code in statuses
        return self.expect.that(
            ok,
            check,
            response=response,
            detail=detail,
            expected=f"status {' or '.join(map(str, statuses))}",
            observed="" if ok else f"status {response.status_code}: {self.expect.excerpt(response)}",
        )

    def inactive(self, response: httpx.Response, check: str, detail: str) -> None:
        """An introspection answer says `active: false` (RFC 7662 §2.2)."""
        body = _json_object(response)
        ok = response.status_code == 200 and body is not None and body.get("active") is False
        self.expect.that(
            ok,
            check,
            response=response,
            detail=detail,
            expected="200 {active: false}",
            observed="" if ok else f"status {response.status_code}: {self.expect.excerpt(response)}",
        )

    def userinfo(self, response: httpx.Response) -> dict[str, Any] | None:
        """A userinfo answer for a live openid token: 200 and the contract's schema Userinfo."""
        expect = self.expect
        if not expect.status(response, 200, "bimplus.answers.status_200", detail="userinfo"):
            return None
        body = expect.json_object(response, "bimplus.answers.json_body", detail="userinfo")
        if body is not None:
            check_schema(expect, response, body, self.contract, "Userinfo")
        return body

    def active(self, response: httpx.Response, detail: str) -> dict[str, Any] | None:
        """An introspection answer for a live token: 200, the schema, `active: true`."""
        expect = self.expect
        if not expect.status(response, 200, "bimplus.answers.status_200", detail=detail):
            return None
        body = expect.json_object(response, "bimplus.answers.json_body", detail=detail)
        if body is None:
            return None
        check_schema(expect, response, body, self.contract, "Introspection")
        expect.that(
            body.get("active") is True,
            "bimplus.answers.status_200",
            response=response,
            detail=detail,
            expected="active: true for a live token",
            observed=f"active = {body.get('active')!r}",
        )
        return body


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def seconds_left(claims: dict[str, Any], now: float) -> int | None:
    """Whole seconds until a token's exp on the target's clock (None without exp)."""
    exp = claims.get("exp")
    return math.ceil(exp - now) if isinstance(exp, (int, float)) else None

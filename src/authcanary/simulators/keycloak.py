"""The Keycloak realm of the Bimplus OIDC successor (VENDORS.md §2 "OIDC successor"), a component of the Bimplus
simulator: it shares the simulator's virtual clock, accounts and deviations, and its routes join the Bimplus app.

`{issuer}` is `{the request's base URL}/realms/{realm}`, as Keycloak derives its frontend URL from the request:

    GET       {issuer}/.well-known/openid-configuration   discovery
    GET       {issuer}/protocol/openid-connect/certs      JWKS: every signing key not retired
    GET       .../auth                                   browser login (not simulated; answers as Keycloak does)
    POST      .../token                                  password, client_credentials, refresh_token (rotated)
    POST      .../token/introspect                       RFC 7662, confidential clients only
    POST      .../revoke                                 RFC 7009
    GET|POST  .../userinfo                               OpenID Connect Core §5.3
    POST      .../logout                                 end a refresh token's session (204)
    GET       .../logout                                 RP-initiated logout with id_token_hint

Access and ID tokens are RS256 JWTs of the current realm key, refresh tokens HS512 JWTs of a realm secret (as
Keycloak issues them). The realm remembers what it issued (bounded) so revocation and logout take effect.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import Key
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from authcanary.credentials import decode_basic
from authcanary.simulators.framework import ExpiringStore, VirtualClock
from authcanary.simulators.keys import (
    HMAC_ALGORITHM,
    certified_jwk,
    hmac_key,
    key_id,
    sign_hs512,
    sign_jwt,
    signing_key,
)
from authcanary.tokens import decode_unverified

PROTOCOL = "/protocol/openid-connect"
DISCOVERY = "/.well-known/openid-configuration"
FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
REALM_NAME = re.compile(r"[A-Za-z0-9._-]+")
# Keycloak's defaults: access token lifespan, SSO session idle (a refresh token's lifetime) and max
ACCESS_LIFETIME = 300
SSO_IDLE = 1800
SSO_MAX = 36000
LONG_ACCESS_LIFETIME, LONG_SSO_IDLE = 3600, 28800  # oidc-long-lived-tokens: a realm that raised the defaults
MISMATCHED_ACCESS_LIFETIME = 3600  # oidc-lifetime-mismatch
# Default client scopes: profile and email show in `scope`; the others are granted but not listed there
LISTED_SCOPES = ("profile", "email")
UNLISTED_SCOPES = ("roles", "web-origins", "acr", "basic")
SCOPES_SUPPORTED = ("openid", *LISTED_SCOPES, *UNLISTED_SCOPES)
TOKEN_TYPE_HINTS = ("access_token", "refresh_token")
PUBLIC_CLIENT_ID = "bimplus-public"
ACCOUNT_CLIENT = "account"
ACCOUNT_CONSOLE = "account-console"  # oidc-azp-wrong
INTERNAL_BASE_URL = "http://keycloak:8080"  # oidc-internal-issuer: the realm behind a misconfigured proxy
SIGNING_KEY_PREFIX = "bimplus-realm"
MAX_SIGNING_KEYS = 100  # keys made between resets, so rotations cannot grow a long-lived `serve` without bound
MAX_TOKENS = 50_000  # tokens remembered at most (the oldest go first), so a long-lived `serve` stays bounded
ACCESS, REFRESH, ID = "access", "refresh", "id"
BAD_CLIENT = "Invalid client or Invalid client credentials"
OWN_PATHS = {
    DISCOVERY,
    *(f"{PROTOCOL}/{name}" for name in ("certs", "auth", "token", "token/introspect", "revoke", "userinfo", "logout")),
}
REALM_ROLES = ["offline_access", "uma_authorization"]
ACCOUNT_ROLES = ["manage-account", "manage-account-links", "view-profile"]


class User(Protocol):
    """A portal account as the realm sees it."""

    email: str
    user_id: str


class RealmHost(Protocol):
    """What the realm shares with the simulator that composes it."""

    clock: VirtualClock
    settings: dict[str, Any]
    options: dict[str, Any]

    def deviates(self, name: str) -> bool: ...

    def login(self, username: str, password: str) -> User | None: ...


class OAuthError(Exception):
    """An error answer (RFC 6749 §5.2): `status`, `error` and `error_description`."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


class InvalidToken(Exception):
    """A token the realm does not accept, and why."""


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None  # None: a public client
    service_account: bool = False


@dataclass(eq=False)
class Session:
    """A user session (its id is the tokens' `sid` and `session_state`), or a service account's."""

    id: str
    client: Client
    user: User | None  # None: the client's service account
    scope: str
    started: int
    refresh_jti: str = ""  # the one refresh token rotation accepts next
    ended: bool = False


@dataclass(eq=False)
class Issued:
    """What the realm remembers of a token it issued."""

    kind: str  # access | refresh | id
    session: Session
    expires_at: float
    revoked: bool = False


@dataclass
class Verified:
    claims: dict[str, Any]
    record: Issued | None  # None: a token the realm does not remember (never issued, or forgotten by a reset)


@dataclass
class Minted:
    expires_in: int
    access: str
    refresh: str | None
    id_token: str | None
    refresh_expires_in: int


class KeyRing:
    """The realm's RS256 signing keys, current first: a rotation adds one, `retire` drops the older ones."""

    def __init__(self, prefix: str, realm: str) -> None:
        self.prefix, self.realm = prefix, realm
        self.reset()

    def reset(self) -> None:
        self.serial = 1
        self.names = [f"{self.prefix}-1"]

    def rotate(self, retire: bool = False) -> None:
        """A new current key; ValueError once MAX_SIGNING_KEYS were made since the last reset."""
        if self.serial >= MAX_SIGNING_KEYS:
            raise ValueError(f"at most {MAX_SIGNING_KEYS} signing keys between resets; reset to rotate again")
        self.serial += 1
        self.names = [f"{self.prefix}-{self.serial}", *([] if retire else self.names)]

    @property
    def current(self) -> str:
        return self.names[0]

    def kids(self) -> list[str]:
        return [key_id(name) for name in self.names]

    def jwks(self) -> dict[str, Any]:
        """Every key not retired, with its self-signed certificate (`x5c`, `x5t`, `x5t#S256`), as Keycloak publishes
        its realm keys (certificate subject: the realm's name)."""
        return {"keys": [certified_jwk(name, self.realm) for name in self.names]}

    def candidates(self, kid: Any) -> list[Key]:
        """The keys to try on a token: the one of its kid, else every published key."""
        keys: list[Key] = [signing_key(name) for name in self.names]
        return [key for key in keys if key.kid == kid] or keys


def _verifies(token: str, keys: Iterable[Key], algorithm: str) -> bool:
    for key in keys:
        try:
            jws.deserialize_compact(token, key, algorithms=[algorithm])
        except (JoseError, ValueError, TypeError):
            continue
        return True
    return False


def _at_hash(access_token: str) -> str:
    """OpenID Connect Core §3.1.3.6: the left half of the access token's SHA-256, base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def _audiences(claims: dict[str, Any]) -> list[Any]:
    aud = claims.get("aud")
    return aud if isinstance(aud, list) else [aud]


def username(session: Session) -> str:
    return session.user.email.lower() if session.user else f"service-account-{session.client.client_id}"


def profile_claims(session: Session) -> dict[str, Any]:
    """email_verified and the profile and email claims, in Keycloak's order."""
    if session.user is None:
        return {"email_verified": False, "preferred_username": username(session)}
    local, _, domain = session.user.email.partition("@")
    given, family = local.split(".")[0].title(), domain.split(".")[0].title()
    return {
        "email_verified": True,
        "name": f"{given} {family}",
        "preferred_username": username(session),
        "given_name": given,
        "family_name": family,
        "email": session.user.email.lower(),
    }


class Tokens:
    """The realm's tokens: minted as Keycloak mints them, remembered (bounded) and verified."""

    def __init__(self, host: RealmHost, keys: KeyRing) -> None:
        self.host, self.keys = host, keys
        self.issued: ExpiringStore[Issued] = ExpiringStore(host.clock, self._forget_at, MAX_TOKENS)
        self.secret = f"{keys.prefix}-hmac"

    def _forget_at(self, record: Issued) -> float:
        """When a record may go: never while a deviation still accepts expired tokens."""
        keep = ("oidc-introspection-expired-active", "oidc-teams-accepts-expired")
        return math.inf if any(self.host.deviates(name) for name in keep) else record.expires_at

    # -- minting --------------------------------------------------------------------------------------------------
    def mint(self, issuer: str, session: Session) -> Minted:
        """An access token, a refresh token (user sessions) and an ID token (openid scope) for `session`."""
        now = int(self.host.clock.now())
        expires_in, idle = self.lifetimes()
        lifetime = MISMATCHED_ACCESS_LIFETIME if self.host.deviates("oidc-lifetime-mismatch") else expires_in
        access = self._rs256(self._access_claims(issuer, session, now, now + lifetime), ACCESS, session)
        refresh, refresh_expires_in = None, 0
        if session.user is not None:
            refresh_exp = min(now + idle, session.started + SSO_MAX)
            refresh_expires_in = refresh_exp - now
            claims = self._base_claims(issuer, session, now, refresh_exp, issuer)
            claims.update(typ="Refresh", azp=session.client.client_id, sid=session.id, scope=session.scope)
            session.refresh_jti = claims["jti"]
            self._remember(claims, REFRESH, session)
            refresh = sign_hs512(claims, self.secret)
        id_token = None
        if "openid" in session.scope.split():
            claims = {"exp": now + expires_in, "iat": now, "auth_time": session.started}
            claims.update(self._base_claims(issuer, session, now, now + expires_in, session.client.client_id))
            claims.update(typ="ID", azp=session.client.client_id)
            if session.user is not None:
                claims["sid"] = session.id
            claims.update(at_hash=_at_hash(access), acr="1", **profile_claims(session))
            id_token = self._rs256(claims, ID, session)
        return Minted(expires_in, access, refresh, id_token, refresh_expires_in)

    def lifetimes(self) -> tuple[int, int]:
        """The access token lifespan and the SSO session idle (a refresh token's lifetime), in seconds."""
        if self.host.deviates("oidc-long-lived-tokens"):
            return LONG_ACCESS_LIFETIME, LONG_SSO_IDLE
        return ACCESS_LIFETIME, SSO_IDLE

    def _base_claims(self, issuer: str, session: Session, iat: int, exp: int, audience: Any) -> dict[str, Any]:
        sub = session.user.user_id if session.user else str(uuid.uuid5(uuid.NAMESPACE_URL, username(session)))
        return {"exp": exp, "iat": iat, "jti": str(uuid.uuid4()), "iss": issuer, "aud": audience, "sub": sub}

    def _access_claims(self, issuer: str, session: Session, iat: int, exp: int) -> dict[str, Any]:
        audience: Any = [self.host.settings["oidc_audience"], ACCOUNT_CLIENT]
        if self.host.deviates("oidc-audience-missing"):
            audience = ACCOUNT_CLIENT  # Keycloak writes a single audience as a string
        claims = self._base_claims(issuer, session, iat, exp, audience)
        if not self.host.deviates("oidc-typ-missing"):
            claims["typ"] = "Bearer"
        claims["azp"] = ACCOUNT_CONSOLE if self.host.deviates("oidc-azp-wrong") else session.client.client_id
        if session.user is not None:
            claims.update(sid=session.id, session_state=session.id)
        claims.update(
            acr="1",
            realm_access={"roles": REALM_ROLES},
            resource_access={ACCOUNT_CLIENT: {"roles": ACCOUNT_ROLES}},
            scope=session.scope,
        )
        if session.user is None:
            claims["client_id"] = session.client.client_id
        return {**claims, **profile_claims(session)}

    def _rs256(self, claims: dict[str, Any], kind: str, session: Session) -> str:
        self._remember(claims, kind, session)
        kid = key_id(self.keys.current)
        if self.host.deviates("oidc-rogue-signature"):
            return sign_jwt(claims, "rogue", kid=kid)
        if self.host.deviates("oidc-kid-not-in-jwks"):
            return sign_jwt(claims, self.keys.current, kid=hashlib.sha256(kid.encode()).hexdigest()[:43])
        return sign_jwt(claims, self.keys.current)

    def _remember(self, claims: dict[str, Any], kind: str, session: Session) -> None:
        self.issued[claims["jti"]] = Issued(kind, session, claims["exp"])

    # -- verifying ------------------------------------------------------------------------------------------------
    def verify(self, token: str, issuer: str, kinds: tuple[str, ...], signature: bool = True) -> Verified:
        """The claims of a token signed by the realm for `issuer`, and the realm's record of it (expiry and liveness
        are the caller's: endpoints differ). InvalidToken otherwise."""
        try:
            header, claims = decode_unverified(token)
        except ValueError:
            raise InvalidToken("Malformed token") from None
        if signature and not self._signed_by_realm(token, header):
            raise InvalidToken("Invalid token signature")
        if claims.get("iss") != issuer:
            raise InvalidToken(f"Invalid token issuer. Expected '{issuer}'")
        jti = claims.get("jti")
        record = self.issued.get(jti) if isinstance(jti, str) else None
        if record is not None and record.kind not in kinds:
            raise InvalidToken("Invalid token type")
        return Verified(claims, record)

    def _signed_by_realm(self, token: str, header: dict[str, Any]) -> bool:
        if header.get("alg") == HMAC_ALGORITHM:
            return _verifies(token, [hmac_key(self.secret)], HMAC_ALGORITHM)
        keys = self.keys.candidates(header.get("kid"))
        if self.host.deviates("oidc-rogue-signature"):
            keys.append(signing_key("rogue"))  # the realm itself still trusts what it signed
        return header.get("alg") == "RS256" and _verifies(token, keys, "RS256")

    def expired(self, claims: dict[str, Any]) -> bool:
        exp = claims.get("exp")
        return isinstance(exp, bool) or not isinstance(exp, (int, float)) or exp <= self.host.clock.now()

    @staticmethod
    def dead(record: Issued | None, revocation: bool = True) -> str | None:
        """Why a verified token is no longer active (None: it is)."""
        if record is None:
            return "Session not active"  # not a token the realm remembers
        if record.session.ended:
            return "Session not active"
        if revocation and record.revoked:
            return "Token is not active"
        return None


Endpoint = Callable[[Request], Awaitable[Response]]


class KeycloakRealm:
    """The realm's endpoints in Keycloak's wire format (Keycloak 2x), for the clients the host registers."""

    def __init__(self, host: RealmHost) -> None:
        self.host = host
        self.name = str(host.options["oidc_realm"])
        if not REALM_NAME.fullmatch(self.name):
            raise ValueError(f"simulator option oidc_realm must be a realm name ([A-Za-z0-9._-]+), not {self.name!r}")
        settings = host.settings
        self.clients = {
            client.client_id: client
            for client in (
                Client(settings["oidc_client_id"], settings["oidc_client_secret"], service_account=True),
                Client(PUBLIC_CLIENT_ID, None),
            )
        }
        self.keys = KeyRing(SIGNING_KEY_PREFIX, self.name)
        self.reset()

    def reset(self) -> None:
        """Back to the first key, no session and no token."""
        self.keys.reset()
        self.tokens = Tokens(self.host, self.keys)

    def deviates(self, name: str) -> bool:
        return self.host.deviates(name)

    # -- URLs ----------------------------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        return f"/realms/{self.name}"

    def issuer(self, request: Request) -> str:
        """The issuer this request sees (Keycloak derives its frontend URL from the request). The mount's root_path
        is taken from the scope: starlette's `request.base_url` leaves out the path of a Mount."""
        root_path = str(request.scope.get("root_path", "")).rstrip("/")
        return f"{request.url.scheme}://{request.url.netloc}{root_path}{self.path}"

    def token_issuer(self, request: Request) -> str:
        """The `iss` of the tokens the realm issues and accepts (oidc-internal-issuer: the realm's internal URL)."""
        return INTERNAL_BASE_URL + self.path if self.deviates("oidc-internal-issuer") else self.issuer(request)

    def routes(self) -> list[BaseRoute]:
        own: list[tuple[str, Endpoint, list[str]]] = [
            (DISCOVERY, self._discovery, ["GET"]),
            (f"{PROTOCOL}/certs", self._certs, ["GET"]),
            (f"{PROTOCOL}/auth", self._auth, ["GET"]),
            (f"{PROTOCOL}/token", self._token, ["POST"]),
            (f"{PROTOCOL}/token/introspect", self._introspect, ["POST"]),
            (f"{PROTOCOL}/revoke", self._revoke, ["POST"]),
            (f"{PROTOCOL}/userinfo", self._userinfo, ["GET", "POST"]),
            (f"{PROTOCOL}/logout", self._logout, ["POST"]),
            (f"{PROTOCOL}/logout", self._end_session, ["GET"]),
        ]
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return [
            *(Route(self.path + path, endpoint, methods=allowed) for path, endpoint, allowed in own),
            Route("/realms/{realm}/{rest:path}", self._not_found, methods=methods),
        ]

    # -- discovery and keys ---------------------------------------------------------------------------------------
    async def _discovery(self, request: Request) -> Response:
        issuer = self.issuer(request)
        endpoint = f"{issuer}{PROTOCOL}"
        auth_methods = ["client_secret_basic", "client_secret_post"]
        document: dict[str, Any] = {
            "issuer": issuer + "/" if self.deviates("oidc-issuer-trailing-slash") else issuer,
            "authorization_endpoint": f"{endpoint}/auth",
            "token_endpoint": f"{endpoint}/token",
            "introspection_endpoint": f"{endpoint}/token/introspect",
            "userinfo_endpoint": f"{endpoint}/user-info"
            if self.deviates("oidc-userinfo-endpoint-moved")
            else f"{endpoint}/userinfo",
            "end_session_endpoint": f"{endpoint}/logout",
            "frontchannel_logout_session_supported": True,
            "frontchannel_logout_supported": True,
            "jwks_uri": f"{endpoint}/certs",
            "grant_types_supported": [
                "authorization_code",
                "implicit",
                "refresh_token",
                "password",
                "client_credentials",
            ],
            "acr_values_supported": ["0", "1"],
            "response_types_supported": [
                "code",
                "none",
                "id_token",
                "token",
                "id_token token",
                "code id_token",
                "code token",
                "code id_token token",
            ],
            "subject_types_supported": ["public", "pairwise"],
            "prompt_values_supported": ["none", "login", "consent"],
            "id_token_signing_alg_values_supported": ["ES256"] if self.deviates("oidc-advertises-es256") else ["RS256"],
            "userinfo_signing_alg_values_supported": ["RS256", "none"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "token_endpoint_auth_methods_supported": auth_methods,
            "introspection_endpoint_auth_methods_supported": auth_methods,
            "claims_supported": [
                "aud",
                "sub",
                "iss",
                "auth_time",
                "name",
                "given_name",
                "family_name",
                "preferred_username",
                "email",
                "acr",
            ],
            "claim_types_supported": ["normal"],
            "claims_parameter_supported": True,
            "scopes_supported": list(SCOPES_SUPPORTED),
            "code_challenge_methods_supported": ["plain", "S256"],
            "revocation_endpoint": f"{endpoint}/revoke",
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
        }
        if self.deviates("oidc-discovery-no-revocation"):
            del document["revocation_endpoint"], document["revocation_endpoint_auth_methods_supported"]
        return JSONResponse(document)

    async def _certs(self, request: Request) -> Response:
        return JSONResponse(self.keys.jwks())

    async def _auth(self, request: Request) -> Response:
        """The browser login is not simulated: the answers Keycloak gives before its login form."""
        client_id, redirect_uri = request.query_params.get("client_id"), request.query_params.get("redirect_uri")
        if not client_id or not redirect_uri:
            return _page("We are sorry...", "Invalid parameter: redirect_uri", 400)
        if client_id not in self.clients:
            return _page("We are sorry...", "Client not found.", 400)
        return _page(f"Sign in to {self.name}", "The browser login is not simulated; use the password grant.", 200)

    # -- token endpoint -------------------------------------------------------------------------------------------
    async def _token(self, request: Request) -> Response:
        grants = {
            "password": self._password_grant,
            "client_credentials": self._client_credentials_grant,
            "refresh_token": self._refresh_grant,
            "authorization_code": self._code_grant,
        }
        try:
            form = await _form(request)
            grant_type = form.get("grant_type")
            if not grant_type:
                raise OAuthError(400, "invalid_request", "Missing form parameter: grant_type")
            if grant_type not in grants:
                raise OAuthError(400, "unsupported_grant_type", "Unsupported grant_type")
            client = self._authenticate(request, form)
            session = grants[grant_type](request, client, form)
        except OAuthError as exc:
            return self._token_error(exc)
        return self._token_answer(request, session)

    def _password_grant(self, request: Request, client: Client, form: dict[str, str]) -> Session:
        name, password = form.get("username"), form.get("password")
        if not name or not password:
            raise OAuthError(400, "invalid_request", f"Missing parameter: {'username' if not name else 'password'}")
        scope = self._granted_scope(form.get("scope"))
        user = self.host.login(name, password)
        if user is None:
            status = 401 if self.deviates("oidc-invalid-grant-401") else 400
            raise OAuthError(status, "invalid_grant", "Invalid user credentials")
        return Session(str(uuid.uuid4()), client, user, scope, int(self.host.clock.now()))

    def _client_credentials_grant(self, request: Request, client: Client, form: dict[str, str]) -> Session:
        if client.secret is None:
            raise OAuthError(400, "unauthorized_client", "Public client not allowed to retrieve service account")
        if not client.service_account:
            raise OAuthError(400, "unauthorized_client", "Client not enabled to retrieve service account")
        scope = self._granted_scope(form.get("scope"))
        return Session(str(uuid.uuid4()), client, None, scope, int(self.host.clock.now()))

    def _refresh_grant(self, request: Request, client: Client, form: dict[str, str]) -> Session:
        token = form.get("refresh_token")
        if not token:
            raise OAuthError(400, "invalid_request", "Missing parameter: refresh_token")
        try:
            found = self.tokens.verify(token, self.token_issuer(request), (REFRESH,))
        except InvalidToken:
            raise OAuthError(400, "invalid_grant", "Invalid refresh token") from None
        record = found.record
        if self.tokens.expired(found.claims):
            raise OAuthError(400, "invalid_grant", "Token is not active")
        if record is None or record.session.ended:
            raise OAuthError(400, "invalid_grant", "Session not active")
        if record.session.client != client:
            raise OAuthError(
                400, "invalid_grant", "Invalid refresh token. Token client and authorized client don't match"
            )
        if record.revoked:
            raise OAuthError(400, "invalid_grant", "Token is not active")
        session = record.session
        if found.claims["jti"] != session.refresh_jti and not self.deviates("oidc-refresh-reusable"):
            raise OAuthError(400, "invalid_grant", "Maximum allowed refresh token reuse exceeded")
        asked = (form.get("scope") or "").split()
        if not set(asked) <= {*session.scope.split(), *UNLISTED_SCOPES}:
            raise OAuthError(400, "invalid_scope", f"Invalid scopes: {form['scope']}")
        return session

    def _code_grant(self, request: Request, client: Client, form: dict[str, str]) -> Session:
        if not form.get("code"):
            raise OAuthError(400, "invalid_request", "Missing parameter: code")
        raise OAuthError(400, "invalid_grant", "Code not valid")  # no browser login, so no code is ever valid

    def _granted_scope(self, asked: str | None) -> str:
        """The `scope` of the tokens: openid when asked, then the default scopes Keycloak lists."""
        names = (asked or "").split()
        if any(name not in SCOPES_SUPPORTED for name in names):
            raise OAuthError(400, "invalid_scope", f"Invalid scopes: {asked}")
        return " ".join([*(["openid"] if "openid" in names else []), *LISTED_SCOPES])

    def _token_answer(self, request: Request, session: Session) -> Response:
        minted = self.tokens.mint(self.token_issuer(request), session)
        body: dict[str, Any] = {
            "access_token": minted.access,
            "expires_in": minted.expires_in,
            "refresh_expires_in": minted.refresh_expires_in,
        }
        if minted.refresh is not None:
            body["refresh_token"] = minted.refresh
        body["token_type"] = "Bearer"
        if minted.id_token is not None and not self.deviates("oidc-no-id-token"):
            body["id_token"] = minted.id_token
        body["not-before-policy"] = 0
        if session.user is not None:
            body["session_state"] = session.id
        body["scope"] = session.scope
        if self.deviates("oidc-no-refresh-expires-in"):
            del body["refresh_expires_in"]
        return JSONResponse(body, headers=self._token_headers())

    def _token_error(self, exc: OAuthError) -> Response:
        status = 400 if exc.error == "invalid_client" and self.deviates("oidc-bad-client-400") else exc.status
        if self.deviates("oidc-error-text"):
            return PlainTextResponse(f"{exc.description}.", status_code=status, headers=self._token_headers())
        return _error(exc, status, self._token_headers())

    def _token_headers(self) -> dict[str, str]:
        return {} if self.deviates("oidc-token-cacheable") else NO_STORE

    # -- introspection and revocation -----------------------------------------------------------------------------
    async def _introspect(self, request: Request) -> Response:
        try:
            form = await _form(request)
            if not self.deviates("oidc-introspection-open"):
                client = self._authenticate(request, form)
                if client.secret is None:
                    raise OAuthError(401, "invalid_client", "Client not allowed.")
            token = form.get("token")
            if not token:
                raise OAuthError(400, "invalid_request", "Token not provided.")
            hint = form.get("token_type_hint") or "access_token"
            if hint not in TOKEN_TYPE_HINTS:
                raise OAuthError(400, "invalid_request", f"Unsupported token type [{hint}].")
        except OAuthError as exc:
            return _error(exc)
        try:
            found = self.tokens.verify(token, self.token_issuer(request), (ACCESS, REFRESH))
        except InvalidToken:
            return self._inactive()
        record = found.record
        lenient = record is not None and record.kind == ACCESS and self.deviates("oidc-introspection-expired-active")
        if record is None or self.tokens.dead(record) or (self.tokens.expired(found.claims) and not lenient):
            return self._inactive()
        body = dict(found.claims)
        body.update(
            client_id=found.claims.get("azp", record.session.client.client_id),
            username=username(record.session),
            token_type="Bearer" if record.kind == ACCESS else "Refresh",
            active="true" if self.deviates("oidc-introspection-active-string") else True,
        )
        return JSONResponse(body)

    def _inactive(self) -> Response:
        return JSONResponse({"active": "false" if self.deviates("oidc-introspection-active-string") else False})

    async def _revoke(self, request: Request) -> Response:
        try:
            form = await _form(request)
            client = self._authenticate(request, form)
            token = form.get("token")
            if not token:
                raise OAuthError(400, "invalid_request", "Token not provided")
            if form.get("token_type_hint") not in (None, "", *TOKEN_TYPE_HINTS):
                raise OAuthError(400, "unsupported_token_type", "Unsupported token type")
            try:
                record = self.tokens.verify(token, self.token_issuer(request), (ACCESS, REFRESH)).record
            except InvalidToken:
                record = None
            if record is None:
                if self.deviates("oidc-revoke-unknown-400"):
                    raise OAuthError(400, "invalid_token", "Invalid token")
                return Response(status_code=200)  # RFC 7009 §2.2: an invalid token is no error
            if record.session.client != client:
                raise OAuthError(400, "invalid_request", "Unmatching clients")  # RFC 7009 §2.1
        except OAuthError as exc:
            return _error(exc)
        if record.kind == REFRESH and not self.deviates("oidc-revoke-refresh-keeps-session"):
            record.session.ended = True  # Keycloak ends the refresh token's session
        elif record.kind == REFRESH or not self.deviates("oidc-revoke-ignored"):
            record.revoked = True
        return Response(status_code=200)

    # -- userinfo and logout --------------------------------------------------------------------------------------
    async def _userinfo(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        if not token and request.method == "POST":
            try:
                token = (await _form(request)).get("access_token", "")
            except OAuthError as exc:
                return _error(exc)
        if not token:
            return self._bearer_error(401, "invalid_token", "Token not provided")
        try:
            found = self.tokens.verify(token, self.token_issuer(request), (ACCESS,))
        except InvalidToken as exc:
            return self._bearer_error(401, "invalid_token", str(exc))
        if self.tokens.expired(found.claims):
            return self._bearer_error(401, "invalid_token", "Token is not active")
        lenient = found.record is not None and self.deviates("oidc-userinfo-accepts-dead")
        reason = None if lenient else self.tokens.dead(found.record)
        if found.record is None or reason:
            return self._bearer_error(401, "invalid_token", reason or "Session not active")
        if "openid" not in str(found.claims.get("scope", "")).split() and not self.deviates(
            "oidc-userinfo-without-openid"
        ):
            return self._bearer_error(403, "insufficient_scope", "Missing openid scope")
        claims = {"sub": found.claims["sub"], **profile_claims(found.record.session)}
        if self.deviates("oidc-userinfo-no-sub"):
            del claims["sub"]
        return JSONResponse(claims)

    def _bearer_error(self, status: int, error: str, description: str) -> Response:
        """RFC 6750 §3: the error in the body and in WWW-Authenticate."""
        challenge = f'Bearer realm="{self.name}", error="{error}", error_description="{description}"'
        return _error(OAuthError(status, error, description), headers={"WWW-Authenticate": challenge})

    async def _logout(self, request: Request) -> Response:
        """Keycloak's back-channel logout: the client ends the session of its refresh token."""
        try:
            form = await _form(request)
            client = self._authenticate(request, form)
            token = form.get("refresh_token")
            if not token:
                raise OAuthError(400, "invalid_request", "Missing parameter: refresh_token")
            try:
                record = self.tokens.verify(token, self.token_issuer(request), (REFRESH,)).record
            except InvalidToken:
                raise OAuthError(400, "invalid_grant", "Invalid refresh token") from None
            if record is not None and record.session.client != client:
                raise OAuthError(
                    400, "invalid_grant", "Invalid refresh token. Token client and authorized client don't match"
                )
        except OAuthError as exc:
            return _error(exc)
        if record is not None and not self.deviates("oidc-logout-keeps-session"):
            record.session.ended = True
        return Response(status_code=204)

    async def _end_session(self, request: Request) -> Response:
        """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) with an id_token_hint."""
        params = request.query_params
        hint, redirect = params.get("id_token_hint"), params.get("post_logout_redirect_uri")
        record = None
        if hint:
            try:
                record = self.tokens.verify(hint, self.token_issuer(request), (ID,)).record
            except InvalidToken:
                return _page("We are sorry...", "Invalid parameter: id_token_hint", 400)
        elif redirect and not params.get("client_id"):
            return _page("We are sorry...", "Missing parameters: id_token_hint", 400)
        if redirect and urlsplit(redirect).scheme not in ("http", "https"):
            return _page("We are sorry...", "Invalid redirect uri", 400)
        if record is not None and not self.deviates("oidc-logout-keeps-session"):
            record.session.ended = True
        if redirect:
            state = params.get("state")
            separator = "&" if "?" in redirect else "?"
            return RedirectResponse(redirect + (separator + urlencode({"state": state}) if state else ""), 302)
        if not hint:
            return _page("Logging out", "Do you want to log out?", 200)
        return _page("Logging out", "You are logged out", 200)

    async def _not_found(self, request: Request) -> Response:
        if request.path_params["realm"] != self.name:
            return JSONResponse({"error": "Realm does not exist"}, status_code=404)
        if "/" + request.path_params["rest"] in OWN_PATHS:
            return JSONResponse({"error": "HTTP 405 Method Not Allowed"}, status_code=405)
        return JSONResponse(
            {
                "error": "Unable to find matching target resource method",
                "error_description": "For more on this error consult the server log.",
            },
            status_code=404,
        )

    # -- the BIM+ API's side --------------------------------------------------------------------------------------
    def resource_claims(self, request: Request, token: str) -> dict[str, Any]:
        """The claims of a Bearer token a BIM+ resource accepts (signature, issuer, expiry, audience, revocation,
        session alive), else InvalidToken."""
        forged_ok = self.deviates("oidc-teams-accepts-forged")
        found = self.tokens.verify(token, self.token_issuer(request), (ACCESS,), signature=not forged_ok)
        if self.tokens.expired(found.claims) and not self.deviates("oidc-teams-accepts-expired"):
            raise InvalidToken("Token is not active")
        audience = self.host.settings["oidc_audience"]
        if audience not in _audiences(found.claims) and not self.deviates("oidc-audience-missing"):
            raise InvalidToken(f"The token is not for the audience {audience}.")
        if found.record is None and forged_ok:
            return found.claims  # what it cannot verify, it trusts
        reason = self.tokens.dead(found.record, revocation=not self.deviates("oidc-teams-accepts-revoked"))
        if reason:
            raise InvalidToken(reason)
        return found.claims

    # -- requests -------------------------------------------------------------------------------------------------
    def _authenticate(self, request: Request, form: dict[str, str]) -> Client:
        """The client (RFC 6749 §2.3.1): HTTP Basic of the form-encoded id and secret, or both in the body; a public
        client sends its client_id only."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            pair = decode_basic(credentials)
            if pair is None:
                raise OAuthError(401, "invalid_client", BAD_CLIENT)
            client_id, secret = (unquote_plus(part) for part in pair)
            if form.get("client_id") not in (None, "", client_id):
                raise OAuthError(401, "invalid_client", BAD_CLIENT)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError(401, "invalid_client", BAD_CLIENT)
        if client.secret is not None and not secrets.compare_digest(secret.encode(), client.secret.encode()):
            raise OAuthError(401, "invalid_client", BAD_CLIENT)
        return client


async def _form(request: Request) -> dict[str, str]:
    """The form parameters: none unless the body is form-encoded (Keycloak reads only forms); a repeated one is an
    error, as in Keycloak."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        return {}
    try:
        pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise OAuthError(400, "invalid_request", "The form is not UTF-8") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError(400, "invalid_request", "duplicated parameter")
        form[name] = value
    return form


def _error(exc: OAuthError, status: int | None = None, headers: dict[str, str] | None = None) -> Response:
    body = {"error": exc.error, "error_description": exc.description}
    return JSONResponse(body, status_code=status or exc.status, headers=headers)


def _page(title: str, message: str, status: int) -> Response:
    """An HTML page like Keycloak's login theme shows."""
    return HTMLResponse(
        f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head>"
        f'<body><h1 id="kc-page-title">{html.escape(title)}</h1>'
        f'<p id="instruction1" class="instruction">{html.escape(message)}</p></body></html>',
        status_code=status,
    )

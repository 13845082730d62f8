"""AxeoBIM (Axxone) simulator: the client-credentials token, then the Cerqual user token (seed 000, VENDORS.md §3).

Two steps, under the API base (`https://app.axxone.fr/system_aplus/api` live; the root here):

1. `POST /oauth/authenticate`, form `grant_type=client_credentials`, `client_id`, `client_secret`, `scope` -> a
   two-legged access token, an RS256 JWT signed by the realm key (`keys.signing_key("axeobim")`, published nowhere:
   the documentation publishes no key).
2. `POST /cerqual/authenticate_user` with `Authorization: Bearer <step-1 token>` ("Secured by oauth2-2legged"),
   form `grant_type=cerqual`, `email`, `scope` -> the user ("3-legged") token, with a refresh token.

The wire format is that of the PHP league/oauth2-server the documentation's error examples come from: token answers
`{"token_type": "Bearer", "expires_in": 3600, "access_token": ...}` with `Cache-Control: no-store` and
`Pragma: no-cache`; JWT claims `aud` (the client id), `jti`, `iat`, `nbf`, `exp` (NumericDates with microseconds),
`sub` ("" for a client token, the user's id for a user token) and `scopes`; refresh tokens opaque (`def50200` and
hex, as league's encrypted payloads). Errors are `{"error", "error_description", "hint" (when there is one),
"message"}`, `message` being the old name of `error_description` with the same text. A missing, bad, expired or
revoked bearer is 401 `access_denied`; a malformed request is 400. An issued token is known by its `jti` until the
control plane's reset (a token the service does not know is "revoked", as league's token repository says).
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from joserfc import jws, jwt
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from authcanary.simulators.framework import ExpiringStore, Simulator
from authcanary.simulators.keys import signing_key
from authcanary.tokens import decode_unverified

CLIENT_PATH = "/oauth/authenticate"
USER_PATH = "/cerqual/authenticate_user"
FORM = "application/x-www-form-urlencoded"
CLIENT_GRANT = "client_credentials"
USER_GRANT = "cerqual"
#: the realm key that signs every token, and the one a half-done key rotation verifies with (`step2-wrong-key`)
REALM_KEY, ROTATED_KEY = "axeobim", "axeobim-rotated"
ALGORITHM = "RS256"
EXPIRES_IN = 3600  # the documented example lifetime (seed 000: expires_in example 3600)
LONGER_EXPIRES_IN = 7200
#: seconds a token's iat/nbf may lie ahead of the service's clock (microsecond NumericDates, rounding)
NOT_BEFORE_LEEWAY = 1.0
#: scopes of the client token (the main API documentation's example `administration`) and of the user token (seed
#: 000's example `bcf:read bcf:create bcf:write`)
BCF_SCOPES = ("bcf:read", "bcf:create", "bcf:write")
CLIENT_SCOPES = ("administration", *BCF_SCOPES)
USER_SCOPES = BCF_SCOPES
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
JSON_UTF8 = "application/json; charset=UTF-8"
MAX_TOKENS = 100_000

# league/oauth2-server's texts (OAuthServerException)
INVALID_REQUEST = (
    "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more "
    "than once, or is otherwise malformed."
)
UNSUPPORTED_GRANT = "The authorization grant type is not supported by the authorization server."
UNSUPPORTED_GRANT_HINT = "Check that all required parameters have been provided"
INVALID_CLIENT = "Client authentication failed"
INVALID_SCOPE = "The requested scope is invalid, unknown, or malformed"
INVALID_CREDENTIALS = "The user credentials were incorrect."
ACCESS_DENIED = "The resource owner or authorization server denied the request."
SERVER_ERROR = (
    "The authorization server encountered an unexpected condition which prevented it from fulfilling the request: "
)


class OAuthError(Exception):
    """An error answer: status, `error`, `error_description`, optional `hint`."""

    def __init__(self, status: int, error: str, description: str, hint: str | None = None) -> None:
        super().__init__(description)
        self.status, self.error, self.description, self.hint = status, error, description, hint

    @classmethod
    def invalid_request(cls, parameter: str) -> OAuthError:
        return cls(400, "invalid_request", INVALID_REQUEST, f"Check the `{parameter}` parameter")

    @classmethod
    def access_denied(cls, hint: str) -> OAuthError:
        return cls(401, "access_denied", ACCESS_DENIED, hint)


@dataclass(frozen=True)
class Issued:
    """A token the service issued and still knows (by its `jti`, or by its value when opaque)."""

    client_id: str
    user: str  # "" for a client (two-legged) token
    expires_at: float


class AxeobimSimulator(Simulator):
    vendor = "axeobim"
    deviations = {
        "lowercase-token-type": "token_type is `bearer` instead of `Bearer` (both steps)",
        "expires-in-string": 'expires_in is a string ("3600") instead of an integer (both steps)',
        "longer-expiry": f"tokens live {LONGER_EXPIRES_IN} s instead of the documented example {EXPIRES_IN} s",
        "access-token-renamed": "the token field is called `token` instead of `access_token` (both steps)",
        "null-refresh-token": "the user token answer has `refresh_token: null` instead of a string",
        "state-in-answer": "token answers carry a `state` field (only due in the implicit flow)",
        "missing-cache-headers": "token answers carry no Cache-Control: no-store / Pragma: no-cache",
        "opaque-client-token": "the step-1 access_token is an opaque 80-hex string instead of a JWT (step 2 still "
        "takes it)",
        "exp-mismatch": "the step-1 JWT's exp is 10 minutes later than iat + expires_in",
        "echo-client-token": "step 2 answers with the bearer it was sent as the user's access_token",
        "any-secret-accepted": "step 1 accepts any client_secret (even none) for a registered client_id",
        "scope-required": "a request without the optional `scope` gets 400 invalid_scope (no default scope), on "
        "both steps",
        "request-errors-401": "malformed requests (missing or unsupported parameters, unknown scopes) get 401 "
        "instead of 400, on both steps",
        "bearer-errors-400": "a missing, malformed, forged or expired bearer on step 2 gets 400 invalid_request "
        "instead of 401",
        "bearer-not-required": "step 2 without an Authorization header is served (for the registered client)",
        "expired-token-accepted": "step 2 accepts an expired step-1 token",
        "signature-not-verified": "step 2 does not verify the bearer's signature (its claims still count)",
        "step2-wrong-key": "step 2 verifies bearers with another key than step 1 signs with (a key rotation half "
        "done): every step-2 call gets 401",
        "grant-type-ignored": "step 2 does not check grant_type (missing or any value is taken as cerqual)",
        "unknown-user-404": "step 2 answers 404 (not_found), a status the documentation does not list, when the "
        "e-mail names no Cerqual user (or is missing)",
        "message-differs": "error answers' `message` is not error_description's text (the hint is appended, or the "
        "error code stands in)",
        "no-message-field": "error answers no longer carry `message` (the announced removal of the old name of "
        "error_description)",
        "no-error-description": "error answers carry `message` only, without error_description (an old server)",
        "html-errors": "error answers are HTML pages instead of JSON",
    }
    option_defaults = {
        "access_lifetime": EXPIRES_IN,  # seconds a step-1 (client) token lives
        "user_lifetime": EXPIRES_IN,  # seconds a step-2 (user) token lives
    }

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        # The seed's example user; a client of the simulator's own (the documentation shows none).
        return {
            "client_id": "axeobim-sim-client",
            "client_secret": "Sim-Axeo-Secret-1",
            "cerqual_email": "user@company.com",
            "scope": "administration",
            "cerqual_scope": " ".join(USER_SCOPES),
        }

    def reset_state(self) -> None:
        lifetimes = []
        for name in ("access_lifetime", "user_lifetime"):
            value = self.options[name]
            try:
                seconds = int(str(value).strip())
                if isinstance(value, bool) or seconds < 1 or str(seconds) != str(value).strip():
                    raise ValueError
            except ValueError:
                raise ValueError(
                    f"simulator option {name} must be whole seconds of at least 1, not {value!r}"
                ) from None
            lifetimes.append(seconds)
        self.access_lifetime, self.user_lifetime = lifetimes
        self.issued: ExpiringStore[Issued] = ExpiringStore(self.clock, lambda token: token.expires_at, MAX_TOKENS)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(CLIENT_PATH, self._client_token, methods=["POST"]),
            Route(USER_PATH, self._user_token, methods=["POST"]),
        ]

    # -- answers ---------------------------------------------------------------------------------------------------
    def error_response(
        self, request: Request | None, status: int, error: str, description: str, headers: dict[str, str] | None = None
    ) -> Response:
        """league/oauth2-server's error body: error, error_description, hint (when given), message (= the
        description: "Old name for error_description field. Still present for backward-compatibility")."""
        if status == 500 and error == "server_error" and not description.startswith(SERVER_ERROR):
            description = SERVER_ERROR + description
        return self._error(OAuthError(status, error, description), headers)

    def _error(self, failure: OAuthError, headers: dict[str, str] | None = None) -> Response:
        headers = {**NO_STORE, **(headers or {})}
        if self.deviates("html-errors"):
            return HTMLResponse(
                f"<html><head><title>{failure.status}</title></head><body><h1>{failure.error}</h1>"
                f"<p>{failure.description}</p></body></html>",
                status_code=failure.status,
                headers=headers,
            )
        body: dict[str, Any] = {"error": failure.error}
        if not self.deviates("no-error-description"):
            body["error_description"] = failure.description
        if failure.hint:
            body["hint"] = failure.hint
        if not self.deviates("no-message-field"):
            if self.deviates("message-differs"):
                body["message"] = f"{failure.description} Hint: {failure.hint}" if failure.hint else failure.error
            else:
                body["message"] = failure.description
        return JSONResponse(body, status_code=failure.status, headers=headers, media_type=JSON_UTF8)

    def _refuse(self, failure: OAuthError) -> Response:
        """A malformed request's 400, or 401 under `request-errors-401`."""
        if failure.status == 400 and self.deviates("request-errors-401"):
            failure = OAuthError(401, failure.error, failure.description, failure.hint)
        return self._error(failure)

    def _deny(self, hint: str) -> Response:
        """A missing, bad, expired or revoked bearer: 401 access_denied (400 under `bearer-errors-400`)."""
        if self.deviates("bearer-errors-400"):
            return self._error(OAuthError.invalid_request("Authorization"))
        return self._error(OAuthError.access_denied(hint))

    def _token_answer(
        self, access_token: str, expires_in: int, refresh_token: str | None, form: dict[str, str]
    ) -> Response:
        body: dict[str, Any] = {
            "token_type": "bearer" if self.deviates("lowercase-token-type") else "Bearer",
            "expires_in": str(expires_in) if self.deviates("expires-in-string") else expires_in,
            ("token" if self.deviates("access-token-renamed") else "access_token"): access_token,
        }
        if refresh_token is not None or self.deviates("null-refresh-token"):
            body["refresh_token"] = None if self.deviates("null-refresh-token") else refresh_token
        if self.deviates("state-in-answer"):
            body["state"] = form.get("state", "")
        headers = {} if self.deviates("missing-cache-headers") else NO_STORE
        return JSONResponse(body, headers=headers, media_type=JSON_UTF8)

    # -- requests --------------------------------------------------------------------------------------------------
    async def _form(self, request: Request) -> dict[str, str]:
        """The form parameters; a body of another media type has none (the documented media type is the form). A
        repeated parameter or a body that is not UTF-8 is a malformed request."""
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != FORM:
            return {}
        try:
            pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise OAuthError(400, "invalid_request", INVALID_REQUEST, "The request body is not valid UTF-8") from None
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:
                raise OAuthError.invalid_request(name)
            form[name] = value
        return form

    def _scopes(self, form: dict[str, str], known: tuple[str, ...], default: tuple[str, ...]) -> list[str]:
        """The requested scopes (space-separated; absent or empty: the default), each one the service knows."""
        requested = [scope for scope in form.get("scope", "").split(" ") if scope]
        if not requested:
            if self.deviates("scope-required"):
                raise OAuthError(
                    400, "invalid_scope", INVALID_SCOPE, "Specify a scope in the request or set a default scope"
                )
            return list(default)
        for scope in requested:
            if scope not in known:
                raise OAuthError(400, "invalid_scope", INVALID_SCOPE, f"Check the `{scope}` scope")
        return list(dict.fromkeys(requested))

    async def _client_token(self, request: Request) -> Response:
        try:
            form = await self._form(request)
            if form.get("grant_type") != CLIENT_GRANT:
                raise OAuthError(400, "unsupported_grant_type", UNSUPPORTED_GRANT, UNSUPPORTED_GRANT_HINT)
            client_id = form.get("client_id")
            if client_id is None:
                raise OAuthError.invalid_request("client_id")
            registered = client_id == self.settings["client_id"]
            if not registered or (
                form.get("client_secret") != self.settings["client_secret"] and not self.deviates("any-secret-accepted")
            ):
                raise OAuthError(401, "invalid_client", INVALID_CLIENT)
            scopes = self._scopes(form, CLIENT_SCOPES, ("administration",))
        except OAuthError as failure:
            return self._refuse(failure)
        lifetime = LONGER_EXPIRES_IN if self.deviates("longer-expiry") else self.access_lifetime
        if self.deviates("opaque-client-token"):
            token = secrets.token_hex(40)
            self.issued[token] = Issued(client_id, "", self.clock.now() + lifetime)
        else:
            extra = 600 if self.deviates("exp-mismatch") else 0
            token = self._jwt(client_id, "", scopes, lifetime, extra)
        return self._token_answer(token, lifetime, None, form)

    async def _user_token(self, request: Request) -> Response:
        bearer = self._bearer(request)
        if isinstance(bearer, Response):
            return bearer
        client_id, presented = bearer
        try:
            form = await self._form(request)
            if form.get("grant_type") != USER_GRANT and not self.deviates("grant-type-ignored"):
                raise OAuthError(400, "unsupported_grant_type", UNSUPPORTED_GRANT, UNSUPPORTED_GRANT_HINT)
            email = form.get("email")
            known = email is not None and email.lower() == str(self.settings["cerqual_email"]).lower()
            if not known and self.deviates("unknown-user-404"):
                return self._error(OAuthError(404, "not_found", "No Cerqual user has this e-mail address."))
            if email is None:
                raise OAuthError.invalid_request("email")
            if not known:
                raise OAuthError(400, "invalid_grant", INVALID_CREDENTIALS)
            scopes = self._scopes(form, USER_SCOPES, USER_SCOPES)
        except OAuthError as failure:
            return self._refuse(failure)
        lifetime = LONGER_EXPIRES_IN if self.deviates("longer-expiry") else self.user_lifetime
        if self.deviates("echo-client-token") and presented:
            token = presented
        else:
            token = self._jwt(client_id, user_id(email), scopes, lifetime)
        refresh = "def50200" + secrets.token_hex(256)  # league's encrypted refresh token payload: opaque hex
        return self._token_answer(token, lifetime, refresh, form)

    def _bearer(self, request: Request) -> tuple[str, str] | Response:
        """(client id, token) of a valid step-1 bearer, else the refusal (league's BearerTokenValidator)."""
        header = request.headers.get("authorization")
        if header is None:
            if self.deviates("bearer-not-required"):
                return str(self.settings["client_id"]), ""
            return self._deny('Missing "Authorization" header')
        token = re.sub(r"^\s*Bearer\s", "", header).strip()
        known = self.issued.get(token)  # an opaque token (`opaque-client-token`)
        if known is not None:
            if known.expires_at <= self.clock.now() and not self.deviates("expired-token-accepted"):
                return self._deny("Access token is invalid")
            return known.client_id, token
        if token.count(".") != 2:
            return self._deny("The JWT string must have two dots")
        try:
            header_fields, claims = decode_unverified(token)
        except ValueError:
            return self._deny("Error while decoding from JSON")
        if not self.deviates("signature-not-verified"):
            key = signing_key(ROTATED_KEY if self.deviates("step2-wrong-key") else REALM_KEY)
            if header_fields.get("alg") != ALGORITHM:
                return self._deny("Access token could not be verified")
            try:
                jws.deserialize_compact(token, key, algorithms=[ALGORITHM])
            except (JoseError, ValueError):
                return self._deny("Access token could not be verified")
        now = self.clock.now()
        times = [claims.get(name) for name in ("iat", "nbf", "exp")]
        if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in times):
            return self._deny("Access token is invalid")
        iat, nbf, exp = (float(value) for value in times)  # type: ignore[arg-type]  # numbers: checked above
        early = max(iat, nbf) > now + NOT_BEFORE_LEEWAY
        if (exp <= now or early) and not self.deviates("expired-token-accepted"):
            return self._deny("Access token is invalid")
        issued = self.issued.get(str(claims.get("jti")))
        if issued is None or issued.client_id != claims.get("aud"):
            return self._deny("Access token has been revoked")
        return issued.client_id, token

    def _jwt(self, client_id: str, user: str, scopes: list[str], lifetime: int, extra: int = 0) -> str:
        """An RS256 JWT of the realm key with league's claims (NumericDates with microseconds); remembered by jti
        until it expires (or the control plane's reset)."""
        now = round(self.clock.now(), 6)
        jti = secrets.token_hex(40)
        claims = {
            "aud": client_id,
            "jti": jti,
            "iat": now,
            "nbf": now,
            "exp": round(now + lifetime + extra, 6),
            "sub": user,
            "scopes": scopes,
        }
        self.issued[jti] = Issued(client_id, user, now + lifetime + extra)
        return jwt.encode({"typ": "JWT", "alg": ALGORITHM}, claims, signing_key(REALM_KEY))


def user_id(email: str) -> str:
    """A Cerqual user's stable id (the user token's `sub`)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "cerqual:" + email.lower()))

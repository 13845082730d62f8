"""Autodesk APS authentication simulator: v1 `authenticate` and v2 `token`, two-legged (seed 002, VENDORS.md §1)."""

from __future__ import annotations

import datetime as dt
import html
import math
import secrets
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from authcanary.credentials import decode_basic
from authcanary.simulators.framework import Simulator, SlidingWindowLimiter
from authcanary.simulators.keys import public_jwks, sign_jwt

V1_PATH = "/authentication/v1/authenticate"
V2_PATH = "/authentication/v2/token"
KEYS_PATH = "/authentication/v2/keys"
FORM = "application/x-www-form-urlencoded"
V1_ANNOUNCED_REMOVAL = "2024-04-30"
RATE_LIMIT_PER_MINUTE = 500
EXPIRES_IN = {1: 1799, 2: 3599}  # the seed's v1 example and the v2 reference examples
NO_CACHE = {"Cache-Control": "no-cache, no-store", "Pragma": "no-cache"}
SCOPES = frozenset(
    {
        "user-profile:read",
        "user:read",
        "user:write",
        "viewables:read",
        "data:read",
        "data:write",
        "data:create",
        "data:search",
        "bucket:create",
        "bucket:read",
        "bucket:update",
        "bucket:delete",
        "code:all",
        "account:read",
        "account:write",
        "openid",
    }
)


class AutodeskSimulator(Simulator):
    vendor = "autodesk"
    deviations = {
        "lowercase-token-type": "token_type is `bearer` instead of `Bearer`",
        "expires-in-string": 'expires_in is a string ("1799") instead of an integer',
        "400-instead-of-415": "a missing or wrong Content-Type gets 400 instead of 415",
        "403-instead-of-401": "a bad client_id/client_secret pair gets 403 instead of 401",
        "password-grant-accepted": "grant_type=password is accepted like client_credentials",
        "v2-double-credentials-accepted": "v2 accepts credentials in the Basic header and the body at once",
        "access-token-renamed": "the token field is called `token` instead of `access_token`",
        "exp-mismatch": "the JWT exp claim is 10 minutes later than iat + expires_in",
        "opaque-access-token": "access_token is a 32-hex opaque string instead of a JWT",
        "missing-cache-headers": "no Cache-Control / Pragma headers on token responses",
        "no-rate-limit": "never answers 429, however many calls",
        "429-without-retry-after": "429 answers carry no Retry-After header",
        "v2-basic-rejected": "v2 rejects credentials in the Authorization: Basic header (401)",
        "v2-extra-field": "v2 token responses carry an extra `scope` field v1 does not",
        "extra-response-field": "v1 and v2 token responses both carry an extra `scope` field",
        "deprecation-headers": "v1 answers carry Deprecation and Sunset headers",
        "v1-removed": f"v1 is decommissioned on its announced date ({V1_ANNOUNCED_REMOVAL}) and answers 410",
        "jwt-bad-signature": "access tokens are signed by a key the JWKS does not publish",
        "longer-expiry": "tokens live 7199 s instead of the documented example lifetime",
        "html-errors": "error answers are HTML pages instead of JSON",
        "echo-secret-in-errors": "error answers quote the client_secret they were sent (HTML-escaped and "
        "URL-encoded JavaScript-style)",
        "server-error": "every call answers 500",
        "optional-scope-crash": "a v1 or v2 token request whose form has no `scope` field answers 500 (the generic "
        "error body), every time; with `scope` (even empty) it works",
        "form-encoded-token": "the 200 token answer is form-encoded (`access_token=...&token_type=Bearer&...`, "
        "Content-Type application/x-www-form-urlencoded) instead of a JSON object",
        "401-instead-of-400": "a request missing client_id or client_secret gets 401 instead of 400",
        "401-instead-of-403": "a registered client not authorized for the endpoint gets 401 instead of 403",
        "502-instead-of-500": "a generic server error answers 502 (Bad Gateway) instead of the documented 500",
        "rate-limit-off-by-one": "the limiter refuses the 500th call of a minute (499 served instead of 500)",
        "rate-limit-lockout": "a client that exceeded the rate limit is refused (403) for an hour, even once the "
        "minute has passed",
        "v2-body-credentials-extra-field": "v2 answers to credentials sent in the body carry an extra `client_id` "
        "field that answers to Basic-header credentials do not",
        "unknown-client-404": "an unregistered client_id gets 404 (client not found) instead of 401",
        "json-string-errors": "error answers are a bare JSON string (the message) instead of a JSON object",
        "token-stub": "every form-encoded token request gets a token: neither the parameters nor the client "
        "credentials are checked (a stub left in front of the service)",
    }
    #: how long a client that exceeded the rate limit stays refused under `rate-limit-lockout`
    LOCKOUT_SECONDS = 3600
    option_defaults = {
        "v1_decommission": "",  # ISO date after which v1 is gone; empty = still served
        "v1_removed_status": 410,  # 404 or 410
    }

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        # The seed's own example client, so its curl example works as written against the simulator.
        return {
            "client_id": "obQDn8P0GanGFQha4ngKKVWcxwyvFAGE",
            "client_secret": "eUruM8HRyc7BAQ1e",
            "scope": "data:read",
            "forbidden_client_id": "fRbDn8P0GanGFQha4ngKKVWcxwyvNoAC",
            "forbidden_client_secret": "nOtAlLoWeD7BAQ1e",
        }

    def reset_state(self) -> None:
        limit = RATE_LIMIT_PER_MINUTE - (1 if self.deviates("rate-limit-off-by-one") else 0)
        self.limiter = SlidingWindowLimiter(self.clock, limit)
        self.locked_out: dict[str, float] = {}  # client_id -> until (virtual time), `rate-limit-lockout`

    def routes(self) -> list[BaseRoute]:
        return [
            Route(V1_PATH, self._v1, methods=["POST"]),
            Route(V2_PATH, self._v2, methods=["POST"]),
            Route(KEYS_PATH, self._keys, methods=["GET"]),
        ]

    def error_response(
        self, request: Request | None, status: int, error: str, description: str, headers: dict[str, str] | None = None
    ) -> Response:
        """APS error body: `developerMessage`, `errorCode`, `moreInfo` (same on v1 and v2)."""
        if self.deviates("502-instead-of-500") and status == 500:
            status = 502
        if self.deviates("html-errors"):
            return HTMLResponse(
                f"<html><body><h1>{status}</h1><p>{error}</p></body></html>", status_code=status, headers=headers
            )
        if self.deviates("json-string-errors"):
            return JSONResponse(
                description,
                status_code=status,
                headers={**NO_CACHE, **(headers or {})},
                media_type="application/json;charset=UTF-8",
            )
        body = {
            "developerMessage": description,
            "errorCode": error,
            "moreInfo": "https://aps.autodesk.com/en/docs/oauth/v2/developers_guide/error_handling/",
        }
        echoed = getattr(request.state, "client_secret", None) if request is not None else None
        if echoed and self.deviates("echo-secret-in-errors"):
            body["developerMessage"] += f" (received client_secret {html.escape(echoed)})"
            body["moreInfo"] += "?client_secret=" + quote(echoed, safe="~()*!'")
        return JSONResponse(
            body,
            status_code=status,
            headers={**NO_CACHE, **(headers or {})},
            media_type="application/json;charset=UTF-8",
        )

    async def _keys(self, request: Request) -> Response:
        return JSONResponse(public_jwks())

    async def _v1(self, request: Request) -> Response:
        if self._v1_removed():
            status = int(self.options["v1_removed_status"])
            return self.error_response(
                request, status, "AUTH-GONE", f"v1 authentication has been removed; use POST {V2_PATH}"
            )
        response = await self._token(request, version=1)
        if self.deviates("deprecation-headers"):
            response.headers["Deprecation"] = "true"
            response.headers["Sunset"] = "Tue, 30 Apr 2024 23:59:59 GMT"
        return response

    async def _v2(self, request: Request) -> Response:
        return await self._token(request, version=2)

    def _v1_removed(self) -> bool:
        date = self.options["v1_decommission"] or (V1_ANNOUNCED_REMOVAL if self.deviates("v1-removed") else "")
        if not date:
            return False
        today = dt.datetime.fromtimestamp(self.clock.now(), dt.UTC).date()
        return today > dt.date.fromisoformat(str(date))

    async def _token(self, request: Request, version: int) -> Response:
        if self.deviates("server-error"):
            return self._server_error(request)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != FORM:
            status = 400 if self.deviates("400-instead-of-415") else 415
            return self.error_response(
                request, status, "AUTH-415", f"The Content-Type header is missing or is not {FORM}."
            )
        try:
            pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return self._bad_request(request, "The request body is not valid UTF-8.")
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:
                return self._bad_request(request, f"The parameter '{name}' is repeated.")
            form[name] = value
        request.state.client_secret = form.get("client_secret")
        if "scope" not in form and self.deviates("optional-scope-crash"):
            return self._server_error(request)
        if self.deviates("token-stub"):
            return self._issue(version, form.get("client_id") or self.settings["client_id"], [])

        header_credentials = None
        authorization = request.headers.get("authorization")
        if version == 2 and authorization is not None:
            header_credentials = _parse_basic(authorization)
            if header_credentials is None:
                return self._bad_request(request, "The Authorization header is not valid Basic credentials.")
            if self.deviates("v2-basic-rejected"):
                return self.error_response(
                    request, 401, "AUTH-001", "The client_id and client_secret combination is not valid."
                )
            if ("client_id" in form or "client_secret" in form) and not self.deviates("v2-double-credentials-accepted"):
                return self._bad_request(
                    request, "Client credentials were given both in the Authorization header and in the body; use one."
                )
        client_id, client_secret = header_credentials or (form.get("client_id"), form.get("client_secret"))
        request.state.client_secret = client_secret or form.get("client_secret")  # what an echo quotes

        grant_type = form.get("grant_type")
        if not grant_type:
            return self._bad_request(request, "The required parameter 'grant_type' is missing.")
        if grant_type != "client_credentials" and not (
            grant_type == "password" and self.deviates("password-grant-accepted")
        ):
            return self._bad_request(
                request, f"Unsupported grant_type '{grant_type}'; use client_credentials.", code="AUTH-003"
            )
        if not client_id or not client_secret:
            if self.deviates("401-instead-of-400"):
                return self.error_response(
                    request, 401, "AUTH-001", "The client_id and client_secret combination is not valid."
                )
            return self._bad_request(request, "The required parameters 'client_id' and 'client_secret' are missing.")

        if self.locked_out.get(client_id, -math.inf) > self.clock.now():
            return self.error_response(
                request, 403, "AUTH-LOCKED", "The client exceeded the rate limit and is blocked for an hour."
            )
        wait = None if self.deviates("no-rate-limit") else self.limiter.hit(client_id)
        if wait is not None:
            if self.deviates("rate-limit-lockout"):
                self.locked_out[client_id] = self.clock.now() + self.LOCKOUT_SECONDS
            headers = {} if self.deviates("429-without-retry-after") else {"Retry-After": str(math.ceil(wait))}
            return self.error_response(
                request, 429, "AUTH-429", "Rate limit exceeded; wait some time before retrying.", headers
            )

        registered = {
            self.settings["client_id"]: self.settings["client_secret"],
            self.settings["forbidden_client_id"]: self.settings["forbidden_client_secret"],
        }
        if client_id not in registered and self.deviates("unknown-client-404"):
            return self.error_response(request, 404, "AUTH-404", "The client_id is not registered.")
        if registered.get(client_id) != client_secret:
            status = 403 if self.deviates("403-instead-of-401") else 401
            return self.error_response(
                request, status, "AUTH-001", "The client_id and client_secret combination is not valid."
            )
        if client_id == self.settings["forbidden_client_id"]:
            return self.error_response(
                request,
                401 if self.deviates("401-instead-of-403") else 403,
                "AUTH-002",
                "The client_id is not authorized to access this endpoint.",
            )

        scopes = form.get("scope", "").split()
        unknown = [scope for scope in scopes if scope not in SCOPES]
        if unknown:
            return self._bad_request(request, f"Invalid scope: {' '.join(unknown)}.", code="AUTH-004")
        return self._issue(version, client_id, scopes, body_credentials=header_credentials is None)

    def _server_error(self, request: Request) -> Response:
        return self.error_response(request, 500, "AUTH-500", "Generic internal server error.")

    def _bad_request(self, request: Request, description: str, code: str = "AUTH-002") -> Response:
        return self.error_response(request, 400, code, description)

    def _issue(self, version: int, client_id: str, scopes: list[str], body_credentials: bool = True) -> Response:
        now = int(self.clock.now())
        expires_in = 7199 if self.deviates("longer-expiry") else EXPIRES_IN[version]
        exp = now + expires_in + (600 if self.deviates("exp-mismatch") else 0)
        if self.deviates("opaque-access-token"):
            token = secrets.token_hex(16)
        else:
            token = sign_jwt(
                {
                    "scope": scopes,
                    "client_id": client_id,
                    "iat": now,
                    "exp": exp,
                    "aud": f"https://autodesk.com/aud/ajwtexp{30 if version == 1 else 60}",
                    "jti": secrets.token_urlsafe(24),
                },
                key_name="rogue" if self.deviates("jwt-bad-signature") else "published",
            )
        body: dict[str, Any] = {
            "token_type": "bearer" if self.deviates("lowercase-token-type") else "Bearer",
            "expires_in": str(expires_in) if self.deviates("expires-in-string") else expires_in,
            ("token" if self.deviates("access-token-renamed") else "access_token"): token,
        }
        if self.deviates("extra-response-field") or (version == 2 and self.deviates("v2-extra-field")):
            body["scope"] = " ".join(scopes)
        if version == 2 and body_credentials and self.deviates("v2-body-credentials-extra-field"):
            body["client_id"] = client_id
        headers = {} if self.deviates("missing-cache-headers") else NO_CACHE
        if self.deviates("form-encoded-token"):
            return Response(
                urlencode({key: str(value) for key, value in body.items()}), headers=headers, media_type=FORM
            )
        return JSONResponse(body, headers=headers, media_type="application/json;charset=UTF-8")


def _parse_basic(header: str) -> tuple[str, str] | None:
    """(client_id, client_secret) from `Basic base64(id:secret)`, or None when it is not that."""
    scheme, _, encoded = header.partition(" ")
    return decode_basic(encoded) if scheme.lower() == "basic" and encoded.strip() else None

"""Graebert ARES Kudo session token service simulator (seed 003, VENDORS.md §4): `POST /generate` turns a partner's
editor parameters into a session token, `GET /verify` gives them back.

Documented behaviour (the `documented` profile):
- `POST /generate` with `x-api-key: <partner key>` and a JSON object of editor parameters -> 200
  `{"token": "<uuid4>", "expiration_time": <absolute unix epoch seconds>}`; every call a fresh token, stored with
  exactly the parameters sent.
- `GET /verify` with `x-api-token: <token>` -> 200 and exactly those parameters, as long as the token lives (on the
  virtual clock: `token_lifetime` seconds; expiration_time is the first second it is dead).
- Every error (a wrong or missing key, a body that is not a JSON object, an unknown, missing or expired token) is
  403 "with a descriptive error message", shown in the document as `{ Wrong token }`: by default that very text
  (`text/plain`), with the option `error_format=json` a JSON object `{"message": ...}`.
- Every answer carries a `Date` header from the virtual clock, so a client can judge `expiration_time` against it.
"""

from __future__ import annotations

import json
import math
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from authcanary.simulators.framework import DOCUMENTED, ExpiringStore, Simulator

GENERATE = "/generate"
VERIFY = "/verify"
TOKEN_LIFETIME = 3600  # seconds; the document gives none (semantics.yaml ambiguities)
MAX_TOKEN_LIFETIME = 366 * 86400
ERROR_FORMATS = ("text", "json")
MAX_BODY = 1024 * 1024  # a larger body is 413, as the service's gateway would answer
#: UTC+2 (Central European Summer Time, where Graebert is): a local clock taken for UTC
LOCAL_OFFSET = 7200
#: the largest integer an IEEE 754 double holds exactly (RFC 8259 §6)
EXACT_INTEGER = 2**53 - 1
#: the namespace of the `token-reused` deviation's name-based uuids
REUSED_NAMESPACE = uuid.UUID("6f1c5c36-8c77-4a4e-9a43-1f3b7b4f0d55")


@dataclass
class Session:
    """A generated token: the parameters it stands for and the first second it is dead (virtual clock)."""

    parameters: dict[str, Any]
    expires_at: int


class KudoSimulator(Simulator):
    vendor = "kudo"
    deviations = {
        # generate
        "empty-parameters-refused": "an empty JSON object of parameters ({}) is refused (403) instead of getting a "
        "token",
        "expiration-renamed": "the answer calls expiration_time `expires_at`",
        "sequential-token": "tokens are a counter (`1`, `2`, ...): predictable, not uuids",
        "token-reused": "the same parameters get the same token again (a name-based uuid of the parameters)",
        "expiration-milliseconds": "expiration_time is in milliseconds since the epoch instead of seconds",
        "expiration-in-past": "expiration_time is one lifetime before the issue time (the token itself lives on)",
        "expiration-relative": "expiration_time is the lifetime in seconds (3600) instead of an absolute time",
        "date-local-time": "the Date header gives local time (UTC+2) labelled GMT: two hours ahead of the clock the "
        "expirations are counted on",
        "expiration-utc-offset": "expiration_time is two hours later than the token really dies (local time taken "
        "for UTC)",
        "wrong-key-accepted": "any non-empty x-api-key gets a token (a missing one is still refused)",
        "401-instead-of-403": "errors are answered 401 instead of the documented 403",
        "non-object-body-accepted": "a JSON body that is not an object (an array, a string, a number, null) gets a "
        "token",
        # verify
        "verify-requires-key": "verify also demands the partner's x-api-key (403 with only x-api-token)",
        "numbers-as-strings": "verify answers numbers as strings (as URL parameters would carry them)",
        "unicode-normalised": "verify answers keys and strings NFKC-normalised",
        "nested-flattened": 'verify answers nested objects flattened into dotted keys ({"a.b": 1})',
        "empty-values-dropped": 'verify leaves out parameters whose value is empty ("", null, [] or {})',
        "big-ints-as-doubles": "verify answers integers beyond 2^53 rounded to the nearest double (as a JavaScript "
        "service does)",
        "verify-returns-latest": "verify answers the parameters of the most recently generated token, whatever token "
        "it is asked about",
        "verify-discloses-key": "verify adds the partner's api key to the parameters (`apiKey`)",
        "expired-token-accepted": "tokens never expire: verify answers them after expiration_time",
        "unknown-token-404": "verify answers an unknown token 404 instead of 403",
        # errors
        "empty-403-body": "403 answers have an empty body (no message)",
        "echo-key-in-errors": "error messages quote the x-api-key they were sent",
        "server-error": "every call answers 500",
    }
    max_sessions = 50_000  # tokens kept at most (the oldest go first), so a long-lived `serve` keeps bounded memory
    option_defaults = {
        "token_lifetime": TOKEN_LIFETIME,  # seconds a token lives
        "error_format": "text",  # text: the document's `{ Wrong token }`; json: {"message": "Wrong token"}
    }

    def __init__(
        self, profile: str = DOCUMENTED, options: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> None:
        super().__init__(profile, options, settings)
        self.lifetime = _lifetime(self.options["token_lifetime"])
        self.error_format = str(self.options["error_format"]).strip().lower()
        if self.error_format not in ERROR_FORMATS:
            expected = " or ".join(ERROR_FORMATS)
            raise ValueError(f"simulator option error_format must be {expected}, not {self.options['error_format']!r}")
        self.options.update(token_lifetime=self.lifetime, error_format=self.error_format)

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        # A partner key of our own (the document shows only "<Access Key>").
        return {"api_key": "kudo-sim-partner-key-7Q2x9LmV4tR8"}

    def reset_state(self) -> None:
        self.sessions: ExpiringStore[Session] = ExpiringStore(self.clock, self._forget_at, self.max_sessions)
        self.counter = 0
        self.latest: dict[str, Any] | None = None

    def _forget_at(self, session: Session) -> float:
        """When a session may be forgotten: never while a deviation still accepts it."""
        return math.inf if self.deviates("expired-token-accepted") else session.expires_at

    def routes(self) -> list[BaseRoute]:
        return [
            Route(GENERATE, self._generate, methods=["POST"]),
            Route(VERIFY, self._verify, methods=["GET"]),
        ]

    # -- answers --------------------------------------------------------------------------------------------------
    def date_header(self) -> dict[str, str]:
        """`Date` from the virtual clock (RFC 9110 §6.6.1)."""
        now = self.clock.now() + (LOCAL_OFFSET if self.deviates("date-local-time") else 0)
        return {"Date": formatdate(now, usegmt=True)}

    def error_response(
        self, request: Request | None, status: int, error: str, description: str, headers: dict[str, str] | None = None
    ) -> Response:
        """Errors as documented: a status (403 for every documented error) and a descriptive message, the document's
        `{ Wrong token }` as text, or `{"message": ...}` with `error_format=json`."""
        if status == 403 and self.deviates("401-instead-of-403"):
            status = 401
        headers = {**self.date_header(), **(headers or {})}
        key = request.headers.get("x-api-key") if request is not None else None
        if key and self.deviates("echo-key-in-errors"):
            description = f"{description} (x-api-key {key})"
        if status == 403 and self.deviates("empty-403-body"):
            return Response(b"", status_code=status, headers=headers)
        if self.error_format == "json":
            return JSONResponse({"message": description}, status_code=status, headers=headers)
        return Response(f"{{ {description} }}", status_code=status, headers=headers, media_type="text/plain")

    def _forbidden(self, request: Request, message: str) -> Response:
        return self.error_response(request, 403, "forbidden", message)

    # -- POST /generate -------------------------------------------------------------------------------------------
    async def _generate(self, request: Request) -> Response:
        if self.deviates("server-error"):
            return self.error_response(request, 500, "server_error", "Internal server error")
        key = request.headers.get("x-api-key")
        if not key or (key != self.settings["api_key"] and not self.deviates("wrong-key-accepted")):
            return self._forbidden(request, "Wrong api key")
        body = await _read(request)
        if body is None:
            return self.error_response(request, 413, "too_large", "Request entity too large")
        parameters = _parse(body)
        if parameters is None or (not isinstance(parameters, dict) and not self.deviates("non-object-body-accepted")):
            return self._forbidden(request, "Wrong parameters: a JSON object is expected")
        if not isinstance(parameters, dict):
            parameters = {"": parameters}  # what a lenient service would make of it
        if not parameters and self.deviates("empty-parameters-refused"):
            return self._forbidden(request, "No parameters")
        now = int(self.clock.now())
        token = self._new_token(parameters)
        session = Session(parameters, now + self.lifetime)
        self.sessions[token] = session
        self.latest = parameters
        expiration = session.expires_at
        if self.deviates("expiration-milliseconds"):
            expiration *= 1000
        if self.deviates("expiration-in-past"):
            expiration = now - self.lifetime
        if self.deviates("expiration-relative"):
            expiration = self.lifetime
        if self.deviates("expiration-utc-offset"):
            expiration += LOCAL_OFFSET
        field = "expires_at" if self.deviates("expiration-renamed") else "expiration_time"
        return JSONResponse({"token": token, field: expiration}, headers=self.date_header())

    def _new_token(self, parameters: dict[str, Any]) -> str:
        if self.deviates("sequential-token"):
            self.counter += 1
            return str(self.counter)
        if self.deviates("token-reused"):
            return str(uuid.uuid5(REUSED_NAMESPACE, json.dumps(parameters, sort_keys=True)))
        return str(uuid.uuid4())

    # -- GET /verify ----------------------------------------------------------------------------------------------
    async def _verify(self, request: Request) -> Response:
        if self.deviates("server-error"):
            return self.error_response(request, 500, "server_error", "Internal server error")
        if self.deviates("verify-requires-key") and request.headers.get("x-api-key") != self.settings["api_key"]:
            return self._forbidden(request, "Wrong api key")
        token = request.headers.get("x-api-token", "")
        session = self.sessions.get(token) if token else None
        if session is None:
            if token and self.deviates("unknown-token-404"):
                return self.error_response(request, 404, "not_found", "Token not found")
            return self._forbidden(request, "Wrong token")
        if self.clock.now() >= session.expires_at and not self.deviates("expired-token-accepted"):
            return self._forbidden(request, "Token expired")
        parameters = self.latest if self.deviates("verify-returns-latest") and self.latest is not None else None
        answer = _altered(parameters or session.parameters, self._alterations())
        if self.deviates("verify-discloses-key"):
            answer = {**answer, "apiKey": self.settings["api_key"]}
        return JSONResponse(answer, headers=self.date_header())

    def _alterations(self) -> list[Callable[[Any], Any]]:
        return [
            alteration
            for name, alteration in (
                ("empty-values-dropped", _drop_empty),
                ("nested-flattened", _flatten),
                ("big-ints-as-doubles", _doubles),
                ("numbers-as-strings", _numbers_as_strings),
                ("unicode-normalised", _nfkc),
            )
            if self.deviates(name)
        ]


# -- reading a request ------------------------------------------------------------------------------------------
async def _read(request: Request) -> bytes | None:
    """The body, or None when it is over MAX_BODY."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class _NotJson(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotJson(name)  # NaN, Infinity: not JSON (RFC 8259 §6)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: no double holds it
        raise _NotJson(text)
    return value


def _parse(body: bytes) -> Any:
    """The JSON document of the body (UTF-8, RFC 8259), or None when it is not one."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite)
    except (ValueError, RecursionError):  # also an integer too long to convert
        return None


def _lifetime(value: Any) -> int:
    try:
        lifetime = int(str(value).strip()) if not isinstance(value, bool) else 0
    except ValueError:
        lifetime = 0
    if not 1 <= lifetime <= MAX_TOKEN_LIFETIME:
        raise ValueError(f"simulator option token_lifetime must be whole seconds from 1 to {MAX_TOKEN_LIFETIME}")
    return lifetime


# -- the deviations' alterations of verify's answer -------------------------------------------------------------
def _altered(parameters: dict[str, Any], alterations: list[Callable[[Any], Any]]) -> dict[str, Any]:
    for alteration in alterations:
        parameters = alteration(parameters)
    return parameters


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _walk(value: Any, leaf: Callable[[Any], Any], key: Callable[[str], str] = lambda k: k) -> Any:
    if isinstance(value, dict):
        return {key(k): _walk(v, leaf, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(item, leaf, key) for item in value]
    return leaf(value)


def _numbers_as_strings(value: Any) -> Any:
    return _walk(value, lambda v: str(v) if _is_number(v) else v)


def _nfkc(value: Any) -> Any:
    def normal(text: Any) -> Any:
        return unicodedata.normalize("NFKC", text) if isinstance(text, str) else text

    return _walk(value, normal, normal)


def _doubles(value: Any) -> Any:
    def double(number: Any) -> Any:
        if isinstance(number, int) and not isinstance(number, bool) and abs(number) > EXACT_INTEGER:
            rounded = float(number)
            return int(rounded) if abs(rounded) < 1e21 else rounded  # JavaScript prints 1e21 and up as exponents
        return number

    return _walk(value, double)


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, (list, dict)) and not value)


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_empty(v) for k, v in value.items() if not _empty(v)}
    if isinstance(value, list):
        return [_drop_empty(item) for item in value]
    return value


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            flat.update(_flatten(item, f"{name}."))
        else:
            flat[name] = item
    return flat

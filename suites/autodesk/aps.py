"""Shared steps and checks of the Autodesk suites: how to ask for a token and what a documented answer is."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from weakref import WeakKeyDictionary

import httpx

from authcanary.checks import check_constants
from authcanary.contracts import Contract
from authcanary.credentials import Secret, reveal
from authcanary.plugin import Expect
from authcanary.recording.scrub import PLACEHOLDER_RE
from authcanary.tokens import decode_unverified, verify_jwt
from strategies.autodesk import FORM, V1, V2, basic

ENDPOINT = {1: f"POST {V1}", 2: f"POST {V2}"}
KEYS = "/authentication/v2/keys"
#: the JWKS answer per client, fetched at the first token check (see `published_keys`)
_JWKS: WeakKeyDictionary[httpx.Client, httpx.Response] = WeakKeyDictionary()


def request_token(client: httpx.Client, version: int, client_id: str, client_secret: Secret | str, *,
                  scope: str | None = "data:read", credentials: str = "body", grant_type: str = "client_credentials",
                  content_type: str | None = FORM, extensions: dict | None = None) -> httpx.Response:
    """POST a token request; `credentials` is `body`, `basic` (v2) or `both` (v2, documented as 400); `scope` None
    leaves the optional parameter out (a documented shape too).
    `extensions`: httpx request extensions, e.g. `{RAW: True}` for the first answer as it is (never retried)."""
    fields = {"grant_type": grant_type, **({"scope": scope} if scope is not None else {})}
    headers = {"Content-Type": content_type} if content_type else {}
    if credentials in ("body", "both"):
        fields = {"client_id": client_id, "client_secret": reveal(client_secret), **fields}
    if credentials in ("basic", "both"):
        headers["Authorization"] = basic(client_id, client_secret)
    # Encoded by hand: httpx would add a form Content-Type of its own when a scenario wants none.
    return client.post(V1 if version == 1 else V2, content=urlencode(fields), headers=headers, extensions=extensions)


def check_token_response(expect: Expect, response: httpx.Response, version: int, contract: Contract,
                         client: httpx.Client) -> dict[str, Any] | None:
    """Every documented property of a 200 token answer; returns the body when it could be read."""
    endpoint = ENDPOINT[version]
    semantics = contract.endpoint(endpoint)
    if not expect.status(response, 200, f"{endpoint}: valid client credentials get 200"):
        return None
    body = expect.json_object(response, f"{endpoint}: 200 body is a flat JSON object")
    if body is None:
        return None
    check_constants(expect, response, body, contract)
    expires_in = body.get("expires_in")
    expires_ok = expect.that(isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0,
                             f"{endpoint}: expires_in is a positive integer (seconds)", response=response,
                             expected="expires_in: int > 0", observed=f"expires_in = {expires_in!r}")
    lifetime = semantics.get("expires_in", {})
    if expires_ok and lifetime.get("examples") and expires_in not in lifetime["examples"]:
        expect.that(False, f"{endpoint}: expires_in matches the documented example", response=response,
                    expected=f"expires_in in {lifetime['examples']}", observed=f"expires_in = {expires_in}",
                    severity=lifetime.get("on_mismatch", "info"))
    for name, tokens in semantics.get("headers", {}).get("200", {}).items():
        present = {part.strip().lower() for part in response.headers.get(name, "").split(",")}
        expect.that(set(tokens) <= present, f"{endpoint}: {name} header as documented", response=response,
                    expected=f"{name}: {', '.join(tokens)}", observed=f"{name}: {response.headers.get(name)!r}",
                    severity="warning")
    token = body.get("access_token")
    if expect.that(isinstance(token, str) and token != "", f"{endpoint}: access_token is a non-empty string",
                   response=response, expected="access_token: string", observed=f"fields: {sorted(body)}"):
        check_jwt(expect, response, token, expires_in if expires_ok else None, contract, client)
    return body


def check_jwt(expect: Expect, response: httpx.Response, token: str, expires_in: int | None, contract: Contract,
              client: httpx.Client) -> None:
    """The access token is a JWT whose exp - iat equals expires_in, signed by a key the vendor publishes.

    Replayed from a recording, the token is the scrubber's placeholder: only its shape (a JWT or not) is known."""
    endpoint = expect.endpoint(response.request)
    if PLACEHOLDER_RE.fullmatch(token):
        expect.that(token.split(" ", 2)[1:2] == ["jwt"], f"{endpoint}: access_token is a JWT", response=response,
                    expected="a decodable JWT", observed=f"recorded as {token}")
        return
    try:
        header, claims = decode_unverified(token)
    except ValueError as exc:
        expect.that(False, f"{endpoint}: access_token is a JWT", response=response, expected="a decodable JWT",
                    observed=str(exc))
        return
    tolerance = contract.semantics.get("token", {}).get("exp_tolerance_seconds", 1)
    iat, exp = claims.get("iat"), claims.get("exp")
    if expires_in is not None:
        lifetime = exp - iat if isinstance(iat, int) and isinstance(exp, int) else None
        expect.that(lifetime is not None and abs(lifetime - expires_in) <= tolerance,
                    f"{endpoint}: JWT exp - iat equals expires_in", response=response,
                    expected=f"exp - iat = {expires_in} (±{tolerance} s)", observed=f"iat={iat!r} exp={exp!r}")
    jwks = published_keys(client)
    if jwks.status_code == 200:
        try:
            verify_jwt(token, jwks.json(), algorithms=(header.get("alg", "RS256"),))
        except Exception as exc:  # joserfc raises several error types; any of them means "does not verify"
            expect.that(False, f"{endpoint}: JWT signature verifies with the published keys", response=response,
                        expected=f"verifies against GET {KEYS}", observed=f"{type(exc).__name__}: {exc}")


def published_keys(client: httpx.Client) -> httpx.Response:
    """The vendor's JWKS answer (`GET /authentication/v2/keys`), fetched once per client.

    A suite's `client` lives for one test, so a test that checks several tokens asks for the keys once, and each
    scenario cassette still records the fetch its own checks relied on: which cassettes hold a JWKS step does not
    depend on which tests ran before (drift stays deterministic across runs, orders and `-k` selections). A run-wide
    cache would leave the one fetch in whichever scenario happened to run first."""
    if client not in _JWKS:
        _JWKS[client] = client.get(KEYS)
    return _JWKS[client]


def check_error_response(expect: Expect, response: httpx.Response, status: int, check: str) -> None:
    """A documented error: the status and a JSON object body, which never quotes a credential back."""
    echoed = expect.echoed_secrets(response)
    expect.that(not echoed, f"{check}: the answer does not quote the credentials back", response=response,
                expected="no client secret in the body", observed=f"the body quotes {', '.join(echoed)}",
                severity="warning")
    if not expect.status(response, status, check):
        return
    expect.json_object(response, f"{check}: error body is a JSON object")

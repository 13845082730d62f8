"""The Autodesk APS token API as the suites use it, in two parts:

- sending (the API): `request_token`, `published_keys`, `v1_removed` send requests and return the answers;
- judging (the checks): `check_token_response`, `check_jwt`, `check_error_response` judge answers already received,
  each against checks declared in contracts/autodesk/checks.yaml. A judge never holds a client: the one answer it
  may need besides its own (the published JWKS, to verify a signature) is handed to it as `keys`, a function that
  sends `GET /authentication/v2/keys` only if a signature is to be verified (see `keys_of`).
"""
from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlencode
from weakref import WeakKeyDictionary

import httpx
import pytest

from authcanary.suite import (
    Contract,
    Expect,
    Secret,
    VendorTarget,
    check_constants,
    decode_unverified,
    is_placeholder,
    reveal,
    verify_jwt,
)
from strategies.autodesk import FORM, V1, V2, basic

ENDPOINT = {1: f"POST {V1}", 2: f"POST {V2}"}
KEYS = "/authentication/v2/keys"
#: why a v1 check is skipped once v1 is gone: the migration suite reports the removal under `deprecations`
V1_REMOVED_SKIP = "v1 answers {status}: removed (reported under deprecations)"
#: the published JWKS answer, asked for when a judge needs it (see `keys_of`)
Keys = Callable[[], httpx.Response]
#: the JWKS answer per client, fetched at the first signature check (see `published_keys`)
_JWKS: WeakKeyDictionary[httpx.Client, httpx.Response] = WeakKeyDictionary()


# -- sending ---------------------------------------------------------------------------------------------------
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


def published_keys(client: httpx.Client) -> httpx.Response:
    """The vendor's JWKS answer (`GET /authentication/v2/keys`), fetched once per client.

    A suite's `client` lives for one test, so a test that checks several tokens asks for the keys once, and each
    scenario cassette still records the fetch its own checks relied on: which cassettes hold a JWKS step does not
    depend on which tests ran before (drift stays deterministic across runs, orders and `-k` selections). A run-wide
    cache would leave the one fetch in whichever scenario happened to run first."""
    if client not in _JWKS:
        _JWKS[client] = client.get(KEYS)
    return _JWKS[client]


def keys_of(client: httpx.Client) -> Keys:
    """The `keys` a judge takes: the client's published JWKS, fetched when first asked for (never, when no token
    needs its signature verified, e.g. a replayed recording's placeholder)."""
    return lambda: published_keys(client)


def v1_removed(client: httpx.Client, target: VendorTarget) -> int | None:
    """The status (404/410) when v1 is decommissioned, else None. One request."""
    response = request_token(client, 1, target.settings["client_id"], target.settings["client_secret"])
    return response.status_code if response.status_code in (404, 410) else None


def skip_if_v1_removed(client: httpx.Client, target: VendorTarget) -> None:
    """Skip the test once v1 is gone (a deprecation finding of the migration suite, not a violation)."""
    status = v1_removed(client, target)
    if status:
        pytest.skip(V1_REMOVED_SKIP.format(status=status))


# -- judging ---------------------------------------------------------------------------------------------------
def check_token_response(expect: Expect, response: httpx.Response, version: int, contract: Contract,
                         keys: Keys) -> dict[str, Any] | None:
    """Every documented property of a 200 token answer; returns the body when it could be read."""
    semantics = contract.endpoint(ENDPOINT[version])
    if not expect.status(response, 200, "autodesk.token.valid_credentials_200"):
        return None
    body = expect.json_object(response, "autodesk.token.json_body")
    if body is None:
        return None
    check_constants(expect, response, body, contract)
    expires_in = body.get("expires_in")
    expires_ok = expect.that(isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0,
                             "autodesk.token.expires_in_integer", response=response,
                             expected="expires_in: int > 0", observed=f"expires_in = {expires_in!r}")
    lifetime = semantics.get("expires_in", {})
    if expires_ok and lifetime.get("examples") and expires_in not in lifetime["examples"]:
        # the contract says how much a lifetime other than the documented example weighs (`on_mismatch`)
        expect.that(False, "autodesk.token.expires_in_example", response=response,
                    expected=f"expires_in in {lifetime['examples']}", observed=f"expires_in = {expires_in}",
                    severity=lifetime.get("on_mismatch"))
    for name, tokens in semantics.get("headers", {}).get("200", {}).items():
        present = {part.strip().lower() for part in response.headers.get(name, "").split(",")}
        expect.that(set(tokens) <= present, "autodesk.token.cache_headers", response=response, detail=name,
                    expected=f"{name}: {', '.join(tokens)}", observed=f"{name}: {response.headers.get(name)!r}")
    token = body.get("access_token")
    if expect.that(isinstance(token, str) and token != "", "autodesk.token.access_token_string",
                   response=response, expected="access_token: string", observed=f"fields: {sorted(body)}"):
        check_jwt(expect, response, token, expires_in if expires_ok else None, contract, keys)
    return body


def check_jwt(expect: Expect, response: httpx.Response, token: str, expires_in: int | None, contract: Contract,
              keys: Keys) -> None:
    """The access token is a JWT whose exp - iat equals expires_in, signed by a key the vendor publishes (`keys`).

    Replayed from a recording, the token is the scrubber's placeholder: only its shape (a JWT or not) is known."""
    if is_placeholder(token):
        expect.that(token.split(" ", 2)[1:2] == ["jwt"], "autodesk.token.access_token_jwt", response=response,
                    expected="a decodable JWT", observed=f"recorded as {token}")
        return
    try:
        header, claims = decode_unverified(token)
    except ValueError as exc:
        expect.that(False, "autodesk.token.access_token_jwt", response=response, expected="a decodable JWT",
                    observed=str(exc))
        return
    tolerance = contract.semantics.get("token", {}).get("exp_tolerance_seconds", 1)
    iat, exp = claims.get("iat"), claims.get("exp")
    if expires_in is not None:
        lifetime = exp - iat if isinstance(iat, int) and isinstance(exp, int) else None
        expect.that(lifetime is not None and abs(lifetime - expires_in) <= tolerance,
                    "autodesk.token.jwt_lifetime", response=response,
                    expected=f"exp - iat = {expires_in} (±{tolerance} s)", observed=f"iat={iat!r} exp={exp!r}")
    jwks = keys()
    if jwks.status_code == 200:
        try:
            verify_jwt(token, jwks.json(), algorithms=(header.get("alg", "RS256"),))
        except Exception as exc:  # joserfc raises several error types; any of them means "does not verify"
            expect.that(False, "autodesk.token.jwt_signature", response=response,
                        expected=f"verifies against GET {KEYS}", observed=f"{type(exc).__name__}: {exc}")


def check_error_response(expect: Expect, response: httpx.Response, status: int, check: str,
                         detail: str = "") -> None:
    """A documented error: the status (`check`, a declared id; `detail`: which case), and a JSON object body which
    never quotes a credential back."""
    echoed = expect.echoed_secrets(response)
    expect.that(not echoed, "autodesk.errors.no_secret_echo", response=response, detail=f"status {status}",
                expected="no client secret in the body", observed=f"the body quotes {', '.join(echoed)}")
    if not expect.status(response, status, check, detail=detail):
        return
    expect.json_object(response, "autodesk.errors.json_body", detail=f"status {status}")

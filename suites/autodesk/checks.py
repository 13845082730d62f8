"""What a documented Autodesk APS answer is: each rule a named check declared in contracts/autodesk/checks.yaml (id,
title, source, severity, and the simulator deviation profiles that prove it fires)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from authcanary.suite import (
    Contract,
    Expect,
    check_constants,
    check_expires_in,
    check_headers,
    decode_unverified,
    is_placeholder,
    verify_jwt,
)
from suites.autodesk.api import ENDPOINT, KEYS

#: the published JWKS answer, asked for when a signature is to be verified (`ApsApi.published_keys`)
Keys = Callable[[], httpx.Response]


class ApsChecks:
    """Judges answers already received, through `expect` (violations carry the check id, the endpoint and a curl
    reproduction). It holds no client: the one answer it may need besides the one it judges (the published JWKS, to
    verify a signature) comes from `keys`, called only when a signature is to be verified (never for a replayed
    recording's placeholder token, so a replay sends nothing extra)."""

    def __init__(self, expect: Expect, contract: Contract, keys: Keys) -> None:
        self.expect, self.contract, self.keys = expect, contract, keys

    def token(self, response: httpx.Response, version: int) -> dict[str, Any] | None:
        """Every documented property of a 200 token answer of v1 or v2 (`version`); returns the body when it could
        be read."""
        expect = self.expect
        semantics = self.contract.endpoint(ENDPOINT[version])
        if not expect.status(response, 200, "autodesk.token.valid_credentials_200"):
            return None
        body = expect.json_object(response, "autodesk.token.json_body")
        if body is None:
            return None
        check_constants(expect, response, body, self.contract)
        expires_in = check_expires_in(
            expect,
            response,
            body,
            semantics.get("expires_in", {}),
            "autodesk.token.expires_in_integer",
            "autodesk.token.expires_in_example",
        )
        check_headers(expect, response, semantics.get("headers", {}).get("200", {}), "autodesk.token.cache_headers")
        token = body.get("access_token")
        if expect.that(
            isinstance(token, str) and token != "",
            "autodesk.token.access_token_string",
            response=response,
            expected="access_token: string",
            observed=f"fields: {sorted(body)}",
        ):
            self.jwt(response, token, expires_in)
        return body

    def jwt(self, response: httpx.Response, token: str, expires_in: int | None) -> None:
        """The access token is a JWT whose exp - iat equals expires_in, signed by a key the vendor publishes (`keys`).

        Replayed from a recording, the token is the scrubber's placeholder: only its shape (a JWT or not) is known."""
        expect = self.expect
        if is_placeholder(token):
            expect.that(
                token.split(" ", 2)[1:2] == ["jwt"],
                "autodesk.token.access_token_jwt",
                response=response,
                expected="a decodable JWT",
                observed=f"recorded as {token}",
            )
            return
        try:
            header, claims = decode_unverified(token)
        except ValueError as exc:
            expect.that(
                False,
                "autodesk.token.access_token_jwt",
                response=response,
                expected="a decodable JWT",
                observed=str(exc),
            )
            return
        tolerance = self.contract.semantics.get("token", {}).get("exp_tolerance_seconds", 1)
        iat, exp = claims.get("iat"), claims.get("exp")
        if expires_in is not None:
            lifetime = exp - iat if isinstance(iat, int) and isinstance(exp, int) else None
            expect.that(
                lifetime is not None and abs(lifetime - expires_in) <= tolerance,
                "autodesk.token.jwt_lifetime",
                response=response,
                expected=f"exp - iat = {expires_in} (±{tolerance} s)",
                observed=f"iat={iat!r} exp={exp!r}",
            )
        jwks = self.keys()
        if jwks.status_code == 200:
            try:
                verify_jwt(token, jwks.json(), algorithms=(header.get("alg", "RS256"),))
            except Exception as exc:  # joserfc raises several error types; any of them means "does not verify"
                expect.that(
                    False,
                    "autodesk.token.jwt_signature",
                    response=response,
                    expected=f"verifies against GET {KEYS}",
                    observed=f"{type(exc).__name__}: {exc}",
                )

    def error(self, response: httpx.Response, status: int, check: str, detail: str = "") -> None:
        """A documented error: the status (`check`, a declared id; `detail`: which case), and a JSON object body
        which never quotes a credential back."""
        expect = self.expect
        echoed = expect.echoed_secrets(response)
        expect.that(
            not echoed,
            "autodesk.errors.no_secret_echo",
            response=response,
            detail=f"status {status}",
            expected="no client secret in the body",
            observed=f"the body quotes {', '.join(echoed)}",
        )
        if not expect.status(response, status, check, detail=detail):
            return
        expect.json_object(response, "autodesk.errors.json_body", detail=f"status {status}")

    def same_shape(
        self,
        first: dict[str, Any] | None,
        second: dict[str, Any] | None,
        response: httpx.Response,
        check: str,
        *,
        first_is: str,
        second_is: str,
    ) -> None:
        """Two token answers (bodies already judged by `token`; None when one could not be read, then nothing is
        compared) have the same fields with the same JSON types (`check`, a declared id; `response`: the second
        answer, the one reported; `first_is`/`second_is`: how each is described, `{shape}` standing for its shape)."""
        if first is None or second is None:
            return
        first_shape, second_shape = _shape(first), _shape(second)
        self.expect.that(
            first_shape == second_shape,
            check,
            response=response,
            expected=first_is.format(shape=first_shape),
            observed=second_is.format(shape=second_shape),
        )

    def rate_limited(
        self, statuses: list[int], first_429: httpx.Response | None, last: httpx.Response, limit: dict[str, Any]
    ) -> None:
        """The documented rate limit (`limit`: the contract's calls per_seconds): the calls below it are served
        (`statuses`, one per counted call, the first 429 answer `first_429`), the call past it (`last`) gets a
        documented 429 that says when to retry."""
        self.expect.that(
            statuses[:-1].count(429) == 0,
            "autodesk.limits.served_below_limit",
            response=first_429,
            endpoint=ENDPOINT[2],
            expected=f"no 429 in the first {limit['calls']} calls",
            observed=f"first 429 at call {statuses.index(429) + 1 if 429 in statuses else '-'}",
        )
        self.error(
            last,
            429,
            "autodesk.limits.rate_limit_429",
            detail=f"call {limit['calls'] + 1} within {limit['per_seconds']} s",
        )
        if last.status_code == 429:
            retry_after = last.headers.get("Retry-After", "")
            self.expect.that(
                retry_after.isdigit(),
                "autodesk.limits.retry_after",
                response=last,
                expected="Retry-After: <seconds>",
                observed=f"Retry-After: {retry_after or 'absent'}",
            )

    def served_after_window(self, response: httpx.Response) -> None:
        """Once the rate-limit window has passed, the client is served again."""
        self.expect.status(response, 200, "autodesk.limits.served_after_window")


def _shape(body: dict[str, Any]) -> dict[str, str]:
    return {key: type(value).__name__ for key, value in body.items()}

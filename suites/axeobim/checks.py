"""What a documented AxeoBIM answer is: each rule a named check declared in contracts/axeobim/checks.yaml (id, title,
source, severity, and the simulator deviation profiles that prove it fires)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any

import httpx

from authcanary.suite import (
    Contract,
    Expect,
    check_constants,
    check_expires_in,
    check_headers,
    check_schema,
    decode_unverified,
    is_placeholder,
    refused,
)
from suites.axeobim.api import ENDPOINT

#: which check holds a 200 of each step
TOKEN_200 = {"client": "axeobim.client.token_200", "user": "axeobim.user.token_200"}


class AxeobimChecks:
    """Judges answers already received, through `expect` (violations carry the check id, the endpoint and a curl
    reproduction). It remembers, per endpoint, whether each error answer it judged still carried `message` (the
    deprecated old name of error_description)."""

    def __init__(self, expect: Expect, contract: Contract) -> None:
        self.expect, self.contract = expect, contract
        #: endpoint -> the error bodies judged (400 and 401 JSON objects), for the deprecation of `message`
        self.error_bodies: dict[str, list[dict[str, Any]]] = defaultdict(list)

    # -- 200 -----------------------------------------------------------------------------------------------------------
    def token(self, response: httpx.Response, step: str, detail: str = "") -> dict[str, Any] | None:
        """Every documented property of a 200 token answer of `step` (`client` or `user`); returns the body when it
        could be read."""
        expect = self.expect
        semantics = self.contract.endpoint(ENDPOINT[step])
        if not expect.status(response, 200, TOKEN_200[step], detail):
            return None
        body = expect.json_object(response, "axeobim.schema.token", detail)
        if body is None:
            return None
        check_schema(expect, response, body, self.contract, "Token")
        check_constants(expect, response, body, self.contract)
        expires_in = check_expires_in(
            expect,
            response,
            body,
            semantics.get("expires_in", {}),
            "axeobim.token.expires_in_integer",
            "axeobim.token.expires_in_example",
        )
        for path in semantics.get("absent", {}).get("200", []):
            field = path.removeprefix("$.")
            expect.that(
                field not in body,
                "axeobim.token.no_state",
                response=response,
                expected=f"no `{field}` (implicit grant flow only)",
                observed=f"{field} = {body.get(field)!r}",
            )
        check_headers(expect, response, semantics.get("headers", {}).get("200", {}), "axeobim.token.no_store")
        token = body.get("access_token")
        if (
            expect.that(
                isinstance(token, str) and token != "",
                "axeobim.token.access_token_string",
                response=response,
                expected="access_token: string",
                observed=f"fields: {sorted(body)}",
            )
            and step == "client"
        ):
            self.client_jwt(response, token, expires_in)
        return body

    def client_jwt(self, response: httpx.Response, token: str, expires_in: int | None) -> None:
        """The client token is a JWT (step 2's Authorization header: "A JSON Web Token") whose exp - iat equals
        expires_in. Its signature is the vendor's business (no key is published): step 2 verifies it, and the bearer
        checks prove that it does. Replayed from a recording, the token is a placeholder: only its shape is known."""
        expect = self.expect
        if is_placeholder(token):
            expect.that(
                token.split(" ", 2)[1:2] == ["jwt"],
                "axeobim.client.access_token_jwt",
                response=response,
                expected="a decodable JWT",
                observed=f"recorded as {token}",
            )
            return
        try:
            _, claims = decode_unverified(token)
        except ValueError as exc:
            expect.that(
                False,
                "axeobim.client.access_token_jwt",
                response=response,
                expected="a decodable JWT",
                observed=str(exc),
            )
            return
        if expires_in is None:
            return
        tolerance = self.contract.semantics.get("token", {}).get("exp_tolerance_seconds", 1)
        iat, exp = claims.get("iat"), claims.get("exp")
        numbers = all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in (iat, exp))
        expect.that(
            numbers and abs(exp - iat - expires_in) <= tolerance,
            "axeobim.client.jwt_lifetime",
            response=response,
            expected=f"exp - iat = {expires_in} (±{tolerance} s)",
            observed=f"iat={iat!r} exp={exp!r}",
        )

    def distinct(self, response: httpx.Response, body: dict[str, Any] | None, client_token: str) -> None:
        """The user token is not the client token it was asked with."""
        if body is None or not isinstance(body.get("access_token"), str):
            return
        self.expect.that(
            body["access_token"] != client_token,
            "axeobim.user.distinct_token",
            response=response,
            expected="a user token of its own",
            observed="the bearer it was sent (the client token)",
        )

    # -- errors --------------------------------------------------------------------------------------------------------
    def refused(
        self, response: httpx.Response, allowed: int | Collection[int], check: str, detail: str = ""
    ) -> dict[str, Any] | None:
        """A documented refusal: a status among `allowed` (`check`, a declared id; `detail`: which case), and, on a
        400 or 401, the documented error body."""
        statuses = {allowed} if isinstance(allowed, int) else set(allowed)
        refused(self.expect, response, statuses, check, detail)
        return self.error_body(response, detail) if response.status_code in (400, 401) else None

    def error_body(self, response: httpx.Response, detail: str = "") -> dict[str, Any] | None:
        """A 400 or 401 body: a JSON object with `error` and `error_description` (non-empty strings), the documented
        fields' types, and `message`, while it is still sent, the same text as error_description."""
        expect = self.expect
        body = expect.json_object(response, "axeobim.errors.json_body", detail)
        if body is None:
            return None
        check_schema(expect, response, body, self.contract, "Error", status=response.status_code)
        required = [path.removeprefix("$.") for path in self.contract.semantics["errors"]["required"]]
        missing = [name for name in required if not (isinstance(body.get(name), str) and body[name])]
        expect.that(
            not missing,
            "axeobim.errors.error_fields",
            response=response,
            detail=detail,
            expected=f"{' and '.join(required)}: non-empty strings",
            observed=f"fields {sorted(body)}; missing or empty: {', '.join(missing)}",
        )
        for old, new in self.contract.semantics["errors"]["same_text"].items():
            old_name, new_name = old.removeprefix("$."), new.removeprefix("$.")
            if old_name in body:
                expect.that(
                    body[old_name] == body.get(new_name),
                    "axeobim.errors.message_equals_description",
                    response=response,
                    detail=detail,
                    expected=f"{old_name} = {new_name} ({body.get(new_name)!r})",
                    observed=f"{old_name} = {body[old_name]!r}",
                )
        self.error_bodies[expect.endpoint(response.request)].append(body)
        return body

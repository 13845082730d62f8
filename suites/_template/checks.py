"""What a documented answer is: each rule a named check declared in contracts/acme/checks.yaml (id, title, source,
severity, and the simulator deviation profiles that prove it fires)."""

from __future__ import annotations

from typing import Any

import httpx

from authcanary.suite import Contract, Expect, check_constants, check_schema


class AcmeChecks:
    """Judges answers through `expect` (violations carry the check id, the endpoint and a curl reproduction)."""

    def __init__(self, expect: Expect, contract: Contract) -> None:
        self.expect, self.contract = expect, contract

    def token(self, response: httpx.Response) -> dict[str, Any] | None:
        """A 200 token answer: status, body schema, the constants the documentation fixes, the lifetime type."""
        if not self.expect.status(response, 200, "acme.token.valid_credentials_answered"):
            return None
        body = self.expect.json_object(response, "acme.token.json_body")
        if body is None or not check_schema(self.expect, response, body, self.contract, "Token"):
            return None
        check_constants(self.expect, response, body, self.contract)
        expires_in = body.get("expires_in")
        self.expect.that(
            isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0,
            "acme.token.expires_in_seconds",
            response=response,
            expected="expires_in: int > 0",
            observed=f"expires_in = {expires_in!r}",
        )
        return body

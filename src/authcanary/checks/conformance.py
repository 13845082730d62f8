"""schemathesis' checks of one answer against the OpenAPI contract, each reported as a named check."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx
from schemathesis.errors import FailureGroup

if TYPE_CHECKING:
    from authcanary.pytest.expectations import Expect


def check_conformance(
    expect: Expect, case: Any, response: httpx.Response, checks: Mapping[Callable[..., Any], str], document: str
) -> None:
    """Run each schemathesis check (`checks`: check function -> the declared check id it reports as, e.g.
    `<vendor>.contract.<function name>`) on `case`'s answer, one at a time so a failure is the check's that found
    it; `document` names the contract in the expectation (`contracts/<vendor>/openapi.yaml`)."""
    for check, check_id in checks.items():
        try:
            case.validate_response(response, checks=[check])
        except FailureGroup as group:
            for failure in group.exceptions:
                expect.that(
                    False,
                    check_id,
                    response=response,
                    detail=failure.title,
                    expected=f"conforms to {document}",
                    observed=_first_lines(failure.message),
                )


def _first_lines(text: str, count: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[:count] if line.strip())

"""schemathesis' checks of one answer against the OpenAPI contract, each reported as a named check."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx
from schemathesis import Response
from schemathesis.errors import FailureGroup

if TYPE_CHECKING:
    from authcanary.pytest.expectations import Expect


def check_conformance(
    expect: Expect, case: Any, response: httpx.Response, checks: Mapping[Callable[..., Any], str], document: str
) -> None:
    """Run each schemathesis check (`checks`: check function -> the declared check id it reports as, e.g.
    `<vendor>.contract.<function name>`) on `case`'s answer; a failure is reported as the check's that found it;
    `document` names the contract in the expectation (`contracts/<vendor>/openapi.yaml`)."""
    # The answer is converted to schemathesis' form once (each conversion re-prepares the request), and all checks
    # run in one call: the checks are independent pure functions of (case, answer), so when they all hold (nearly
    # always) one call says so; only a failing answer is checked again one check at a time, to name the check.
    answer = Response.from_any(response)
    try:
        case.validate_response(answer, checks=list(checks))
        return
    except FailureGroup:
        pass
    for check, check_id in checks.items():
        try:
            case.validate_response(answer, checks=[check])
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

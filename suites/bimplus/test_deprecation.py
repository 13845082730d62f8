"""Deprecation state of the legacy endpoints against their announced removal dates (reported, never failing)."""

from __future__ import annotations

import pytest

from authcanary.suite import Deprecation

pytestmark = pytest.mark.scenario
#: the token sent when authorize gave none: an unknown one, so the call shows its refusal (an empty one would make
#: the header `BimPlus ` end in a space, which HTTP refuses to send)
NO_TOKEN = "0" * 32


def _field(response, name: str) -> str:
    """A string field of a 200 JSON answer, or "" (the next call then shows its refusal)."""
    try:
        body = response.json() if response.status_code == 200 else {}
    except ValueError:
        body = {}
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


def _observed(response) -> str:
    if response.status_code in (404, 410):
        return f"removed ({response.status_code})"
    headers = [name for name in ("Deprecation", "Sunset") if name in response.headers]
    return f"served ({response.status_code})" + (f" with {' and '.join(headers)} header(s)" if headers else "")


def test_legacy_endpoints_deprecation_state(api, contract, report, users):
    authorize = api.authorize(users[0])
    token = _field(authorize, "access_token") or NO_TOKEN
    cross = api.cross_token(token)
    cross_token = _field(cross, "cross_token")
    for endpoint, response in (
        ("POST /v2/authorize", authorize),
        ("GET /v2/authorize", api.token_info(token)),
        ("POST /v2/cross-token", cross),
        ("POST /v2/cross-authorize", api.cross_authorize(cross_token)),
    ):
        semantics = contract.endpoint(endpoint)
        # The replacement (OIDC) is not probed by the legacy suites: unknown here.
        report.add_deprecation(
            Deprecation(
                endpoint=endpoint,
                announced_removal=semantics["announced_removal"],
                observed=_observed(response),
                replacement=semantics["replacement"],
                replacement_ok=None,
            )
        )

"""The migration legacy -> OIDC as a table: each legacy endpoint's state against its announced removal (deprecations)
and each legacy capability's OIDC replacement observed working or not (migration readiness). Reported, never failing:
a replacement that breaks its contract is a violation of the OIDC suites' own checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from authcanary.suite import Deprecation, MigrationStep
from suites.bimplus.migration import Replacements, observed, removal_is_early, try_replacements
from suites.bimplus.oidc import ISSUER_LABEL, NOT_CONFIGURED, OidcApi, configured

pytestmark = pytest.mark.scenario
#: the token sent when authorize gave none: an unknown one, so the call shows its refusal (an empty one would make
#: the header `BimPlus ` end in a space, which HTTP refuses to send)
NO_TOKEN = "0" * 32
#: which capability each legacy endpoint serves (contracts/bimplus/oidc/semantics.yaml `migration`)
CAPABILITY = {
    "POST /v2/authorize": "authorize (password login)",
    "GET /v2/authorize": "token info",
    "POST /v2/cross-token": "cross token",
    "POST /v2/cross-authorize": "cross token",
}


def _field(response, name: str) -> str:
    """A string field of a 200 JSON answer, or "" (the next call then shows its refusal)."""
    try:
        body = response.json() if response.status_code == 200 else {}
    except ValueError:
        body = {}
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


def _removal(state: str, announced: str | None) -> str:
    """`state`, with when a removal came against its announcement (before it is breaking news for every client)."""
    if not state.startswith("removed") or not announced:
        return state
    early = removal_is_early(announced, datetime.now(UTC).date())
    return state if early is None else f"{state}, {'before' if early else 'after'} the announced {announced}"


def test_legacy_endpoints_deprecation_state(api, contract, oidc_contract, report, users, client, target, expect):
    legacy = {}
    authorize = legacy["POST /v2/authorize"] = api.authorize(users[0])
    token = _field(authorize, "access_token") or NO_TOKEN
    legacy["GET /v2/authorize"] = api.token_info(token)
    cross = legacy["POST /v2/cross-token"] = api.cross_token(token)
    legacy["POST /v2/cross-authorize"] = api.cross_authorize(_field(cross, "cross_token"))
    remember = api.authorize(users[0], remember_me=True)
    legacy["DELETE /v2/authorize"] = api.logout(_field(remember, "access_token") or token)

    replacements = Replacements()
    if configured(target.settings):
        oidc = OidcApi(client, target.settings)
        expect.name_base(oidc.issuer, ISSUER_LABEL)
        replacements = try_replacements(oidc, users[0].user, users[0].password)
    else:
        report.add_note(NOT_CONFIGURED)

    for endpoint, response in legacy.items():
        semantics = contract.endpoint(endpoint)
        capability = CAPABILITY.get(endpoint, "logout")
        report.add_deprecation(
            Deprecation(
                endpoint=endpoint,
                announced_removal=semantics.get("announced_removal", ""),
                observed=_removal(observed(response), semantics.get("announced_removal")),
                replacement=semantics["replacement"],
                replacement_ok=replacements.for_capability(capability),
            )
        )
    for step in oidc_contract.semantics["migration"]:
        endpoints = [e.strip().split(" (")[0] for e in step["legacy"].split(",")]
        responses = {e: legacy[e] for e in endpoints if e in legacy}
        if step["capability"] == "remember-me login":
            responses = {"POST /v2/authorize": remember}
        states = sorted({observed(r) for r in responses.values()})
        announced = contract.endpoint(endpoints[0]).get("announced_removal", "")
        gap = step["replacement"] is None
        report.add_migration_step(
            MigrationStep(
                capability=step["capability"],
                legacy_endpoint=step["legacy"],
                announced_removal=announced,
                legacy_observed="; ".join(_removal(state, announced) for state in states),
                replacement=step["replacement"] or "",
                replacement_ok=None if gap else replacements.for_capability(step["capability"]),
                gap=gap,
                note=step.get("note", ""),
            )
        )

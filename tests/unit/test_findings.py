"""A finding's identity: one violation per declared check and endpoint, however many tests see it; one migration
step per capability, carried into summary.json and the reports."""

from __future__ import annotations

import dataclasses
import json

import pytest

from authcanary.findings import MigrationStep, VendorFindings, Violation
from authcanary.reporting import build_context, render_html, render_markdown
from authcanary.summary import SCHEMA, vendor_entry


def violation(
    observed: str, severity: str = "breaking", check_id: str = "acme.token.answered", endpoint: str = "POST /token"
) -> Violation:
    return Violation(
        check="a title", endpoint=endpoint, expected="200", observed=observed, severity=severity, check_id=check_id
    )


def test_one_violation_per_check_and_endpoint_listing_every_test_that_saw_it():
    findings = VendorFindings()
    findings.add_violation(violation("status 500"), "t1")
    findings.add_violation(violation("status 502"), "t2")  # another observation of the same finding
    findings.add_violation(violation("status 500", endpoint="POST /other"), "t3")
    findings.add_violation(violation("status 500", check_id="acme.token.json_body"), "t1")
    assert [(v.check_id, v.endpoint, v.tests) for v in findings.violations] == [
        ("acme.token.answered", "POST /token", ["t1", "t2"]),
        ("acme.token.answered", "POST /other", ["t3"]),
        ("acme.token.json_body", "POST /token", ["t1"]),
    ]


def test_the_most_severe_observation_of_a_finding_stands():
    findings = VendorFindings()
    findings.add_violation(violation("7199 s", severity="info"), "t1")
    findings.add_violation(violation("86400 s", severity="breaking"), "t2")
    findings.add_violation(violation("7000 s", severity="warning"), "t3")
    [kept] = findings.violations
    assert (kept.severity, kept.observed, kept.tests) == ("breaking", "86400 s", ["t1", "t2", "t3"])


# --------------------------------------------------------------------------- migration readiness


def step(capability: str = "authorize", **changes) -> MigrationStep:
    fields = {
        "capability": capability,
        "legacy_endpoint": "POST /v2/authorize",
        "announced_removal": "2026",
        "legacy_observed": "served (200)",
        "replacement": "POST {issuer}/protocol/openid-connect/token (password grant)",
        "replacement_ok": None,
    }
    return MigrationStep(**{**fields, **changes})


def test_a_later_migration_step_for_the_same_capability_replaces_the_earlier_one_in_its_place():
    findings = VendorFindings()
    findings.add_migration_step(step("authorize"))
    findings.add_migration_step(step("token info", legacy_endpoint="GET /v2/authorize"))
    findings.add_migration_step(step("authorize", replacement_ok=True, legacy_observed="removed (410)"))
    assert [(s.capability, s.replacement_ok, s.legacy_observed) for s in findings.migration] == [
        ("authorize", True, "removed (410)"),
        ("token info", None, "served (200)"),
    ]


def test_a_migration_step_is_frozen_and_says_whether_its_capability_is_ready():
    ready = step(replacement_ok=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ready.replacement_ok = False  # type: ignore[misc]
    assert ready.ready
    assert not step(replacement_ok=False).ready and not step(replacement_ok=None).ready
    # a gap has no documented replacement: never ready, whatever was tried
    assert not step("cross token", replacement="", replacement_ok=True, gap=True).ready


@pytest.mark.parametrize(
    "changes", [{"replacement_ok": "yes"}, {"replacement_ok": 1}, {"gap": "true"}, {"capability": ""}]
)
def test_a_malformed_migration_step_is_refused_where_the_suite_makes_it(changes):
    with pytest.raises((TypeError, ValueError)):
        step(**changes)


def test_migration_is_always_a_list_in_findings_and_summary():
    assert VendorFindings().as_dict()["migration"] == []
    assert vendor_entry(None, [], [])["migration"] == []
    older = VendorFindings().as_dict()
    del older["migration"]  # findings of a plugin before the field
    assert vendor_entry(older, [], [])["migration"] == []


def test_migration_steps_round_trip_through_summary_json_into_the_reports():
    findings = VendorFindings(checks={"passed": 5, "failed": 0, "skipped": 0})
    findings.add_migration_step(step("authorize", replacement_ok=True))
    findings.add_migration_step(
        step("token info", legacy_endpoint="GET /v2/authorize", legacy_observed="removed (410)", replacement_ok=False)
    )
    findings.add_migration_step(step("remember-me", replacement="refresh token"))
    findings.add_migration_step(
        step(
            "cross token",
            legacy_endpoint="POST /v2/cross-token",
            replacement="",
            gap=True,
            note="no documented OIDC equivalent",
        )
    )
    plugin_output = json.loads(json.dumps({"vendors": {"bimplus": findings.as_dict()}}))  # findings.json
    entry = vendor_entry(plugin_output["vendors"]["bimplus"], [], [])
    # migration findings never fail anything by themselves (a failing replacement is reported, its check fails)
    assert entry["status"] == "ok"
    summary = json.loads(json.dumps({"schema": SCHEMA, "exit_code": 0, "vendors": {"bimplus": entry}}))
    migration = summary["vendors"]["bimplus"]["migration"]
    assert migration[0] == {
        "capability": "authorize",
        "legacy_endpoint": "POST /v2/authorize",
        "announced_removal": "2026",
        "legacy_observed": "served (200)",
        "replacement": "POST {issuer}/protocol/openid-connect/token (password grant)",
        "replacement_ok": True,
        "gap": False,
        "note": "",
    }
    assert [MigrationStep(**m) for m in migration] == findings.migration
    [vendor] = build_context(summary)["vendors"]
    assert vendor["readiness"]["label"] == "1/4 ready"
    assert vendor["readiness"]["detail"] == "1 failing, 1 gap, 1 not checked"
    assert "Migration readiness (1/4 ready)" in render_markdown(summary)
    assert "no documented OIDC equivalent" in render_html(summary)

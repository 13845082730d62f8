"""A finding's identity: one violation per declared check and endpoint, however many tests see it."""

from __future__ import annotations

from authcanary.findings import VendorFindings, Violation


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

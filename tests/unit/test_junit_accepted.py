"""junit.xml agrees with the run's verdict: a test that failed only on waived findings, or on findings below
`--fail-on`, is skipped with the reason; any other failure stays a failure."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from authcanary.reporting.junit import mark_accepted_failures

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0"
failures="3" skipped="0" tests="4"><testcase classname="suites.kudo.test_scenarios" name="test_fresh"><failure
message="ContractViolation">boom</failure></testcase><testcase classname="suites.kudo.test_stateful"
name="test_lifecycle[x]"><failure message="ContractViolation">boom</failure></testcase><testcase
classname="suites.kudo.test_scenarios" name="test_other"><failure message="AssertionError">other</failure></testcase>
<testcase classname="suites.kudo.test_scenarios" name="test_ok"/></testsuite></testsuites>"""
WAIVER = {"reason": "r", "ticket": "https://t.example.com/1", "expires": "2027-01-01", "expired": False}


def violation(tests: list[str], severity: str = "breaking", waiver: dict | None = None) -> dict:
    return {"check_id": "kudo.generate.fresh_token", "severity": severity, "tests": tests,
            **({"waiver": waiver} if waiver else {})}  # fmt: skip


def cases(path: Path) -> dict[str, str]:
    root = ElementTree.parse(path).getroot()
    return {case.get("name"): (case[0].tag if len(case) else "passed") for case in root.iter("testcase")}


def test_failures_only_on_waived_findings_become_skips_with_the_reason(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    summary = {
        "fail_on": None,
        "vendors": {
            "kudo": {
                "violations": [
                    violation(
                        [
                            "suites/kudo/test_scenarios.py::test_fresh",
                            "suites/kudo/test_stateful.py::test_lifecycle[x]",
                        ],
                        waiver=WAIVER,
                    ),
                    violation(["suites/kudo/test_scenarios.py::test_other"]),  # not waived: stays a failure
                ]
            }
        },
    }
    assert mark_accepted_failures(junit, summary) == 2
    assert cases(junit) == {"test_fresh": "skipped", "test_lifecycle[x]": "skipped", "test_other": "failure",
                            "test_ok": "passed"}  # fmt: skip
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert (suite.get("failures"), suite.get("skipped")) == ("1", "2")
    skipped = suite.find("testcase[@name='test_fresh']/skipped")
    assert "waived until 2027-01-01 (https://t.example.com/1)" in skipped.get("message")
    assert skipped.text == "boom"


def test_an_expired_waiver_or_a_failing_severity_keeps_the_failure(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    expired = {**WAIVER, "expired": True}
    summary = {"fail_on": None, "vendors": {"kudo": {"violations": [
        violation(["suites/kudo/test_scenarios.py::test_fresh"], waiver=expired),
        violation(["suites/kudo/test_scenarios.py::test_fresh"], waiver=WAIVER),
    ]}}}  # fmt: skip
    assert mark_accepted_failures(junit, summary) == 0
    assert cases(junit)["test_fresh"] == "failure"


def test_below_fail_on_is_accepted(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    summary = {"fail_on": "breaking", "vendors": {"kudo": {"violations": [
        violation(["suites/kudo/test_scenarios.py::test_fresh"], severity="warning"),
    ]}}}  # fmt: skip
    assert mark_accepted_failures(junit, summary) == 1
    assert "below --fail-on breaking" in ElementTree.parse(junit).getroot().find(".//skipped").get("message")


def test_an_unreadable_junit_is_left_alone(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text("<not xml")
    summary = {"vendors": {"kudo": {"violations": [violation(["a.py::t"], waiver=WAIVER)]}}}
    assert mark_accepted_failures(junit, summary) == 0 and junit.read_text() == "<not xml"

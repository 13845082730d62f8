"""junit.xml that agrees with the run's verdict: a test that failed only on findings that do not fail the run (waived,
or below `--fail-on`) is reported as skipped with the reason, as pytest reports an expected failure (xfail), so CI
test views are not red on a green run."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from authcanary.files import write_atomically
from authcanary.summary import fail_policy
from authcanary.waivers import waived

__all__ = ["mark_accepted_failures"]


def _testcase_key(nodeid: str) -> tuple[str, str]:
    """(classname, name) of a node id as pytest's junitxml writes it."""
    path, *names = nodeid.split("::")
    module = path.removesuffix(".py").replace("/", ".")
    return ".".join([module, *names[:-1]]), names[-1] if names else ""


def _why_accepted(violations: list[dict[str, Any]], fail_on: str | None) -> str | None:
    """Why a test's violations do not fail the run, or None if one of them does."""
    policy = fail_policy(fail_on)
    reasons = []
    for violation in violations:
        if waived(violation):
            waiver = violation["waiver"]
            reasons.append(f"{violation.get('check_id', '')} waived until {waiver['expires']} ({waiver['ticket']})")
        elif violation.get("severity") not in policy.violations:
            reasons.append(f"{violation.get('check_id', '')} is {violation.get('severity')}, below --fail-on {fail_on}")
        else:
            return None
    return "; ".join(reasons) if reasons else None


def mark_accepted_failures(junit: Path, summary: dict[str, Any]) -> int:
    """Rewrite `junit` so that each failed test whose every violation is waived or below `--fail-on` is skipped
    (type `authcanary.accepted`, the reason as message); returns how many were. A junit.xml that cannot be read is
    left as it is."""
    by_test: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in summary.get("vendors", {}).values():
        for violation in entry.get("violations", []):
            for test in violation.get("tests", []):
                by_test.setdefault(_testcase_key(test), []).append(violation)
    if not by_test or not junit.is_file():
        return 0
    try:
        tree = ElementTree.parse(junit)
    except (ElementTree.ParseError, OSError):
        return 0
    accepted = 0
    for suite in tree.getroot().iter("testsuite"):
        for case in suite.iter("testcase"):
            failure = case.find("failure")
            violations = by_test.get((case.get("classname", ""), case.get("name", "")))
            if failure is None or not violations or not (why := _why_accepted(violations, summary.get("fail_on"))):
                continue
            case.remove(failure)
            skipped = ElementTree.SubElement(case, "skipped", type="authcanary.accepted", message=why)
            skipped.text = failure.text
            for counter, change in (("failures", -1), ("skipped", 1)):
                suite.set(counter, str(int(suite.get(counter, "0")) + change))
            accepted += 1
    if accepted:
        write_atomically(junit, ElementTree.tostring(tree.getroot(), encoding="unicode", xml_declaration=True) + "\n")
    return accepted

"""summary.json (schema `authcanary.summary/1`, docs/interfaces.md): vendor statuses and the run's exit code."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authcanary.errors import ConfigError
from authcanary.findings import FAILING_SEVERITIES

__all__ = [
    "SCHEMA",
    "EXIT_OK",
    "EXIT_FINDINGS",
    "EXIT_CONFIG",
    "EXIT_UNREACHABLE",
    "EXIT_INTERRUPTED",
    "FAILING_SEVERITIES",
    "FAIL_ON",
    "FailPolicy",
    "fail_policy",
    "vendor_entry",
    "vendor_status",
    "exit_code",
    "read_summary",
    "read_json",
    "interrupted",
]

SCHEMA = "authcanary.summary/1"
EXIT_OK, EXIT_FINDINGS, EXIT_CONFIG, EXIT_UNREACHABLE = 0, 1, 2, 3
#: the run was interrupted (Ctrl-C, SIGINT): summary.json says `"interrupted": true`; never accepted as a baseline
EXIT_INTERRUPTED = 130


def vendor_entry(
    findings: dict[str, Any] | None,
    drift: list[dict[str, Any]],
    notes: list[str],
    policy: FailPolicy | None = None,
) -> dict[str, Any]:
    """One vendor's summary entry from the plugin's findings and the drift engine's findings."""
    findings = findings or {
        "checks": {"passed": 0, "failed": 0, "skipped": 0},
        "requests": 0,
        "violations": [],
        "deprecations": [],
        "migration": [],
        "ambiguities": [],
        "notes": [],
        "unreachable": None,
    }
    checks = findings["checks"]
    entry = {
        "status": "ok",
        "checks": checks,
        "requests": findings["requests"],
        "retries": findings.get("retries", 0),
        "outages": findings.get("outages", []),
        "violations": findings["violations"],
        "drift": drift,
        "deprecations": findings["deprecations"],
        "migration": findings.get("migration", []),  # findings of an older plugin have none
        "ambiguities": findings["ambiguities"],
        "notes": [*findings.get("notes", []), *notes],
    }
    if findings.get("unreachable"):
        entry["error"] = findings["unreachable"]
    if findings.get("simulator_profile"):
        entry["simulator_profile"] = findings["simulator_profile"]
    if findings.get("unobserved"):
        entry["unobserved"] = findings["unobserved"]  # recorded scenarios this run skipped (baseline accept keeps them)
    if findings.get("not_passed"):
        entry["not_passed"] = findings["not_passed"]  # tests that failed or were skipped (history: not re-checked)
    if findings.get("outage_scenarios"):
        entry["outage_scenarios"] = findings["outage_scenarios"]  # ... of which these lost interactions to outages
    entry["status"] = vendor_status(entry, policy or DEFAULT_POLICY)
    return entry


#: the notes of a vendor the run did not run (not in the target, or left out by --vendor); `authcanary merge` tells
#: such an entry from the vendor's own run by them
NOT_CONFIGURED_NOTE = "not configured for target '{target}': skipped"
NOT_SELECTED_NOTE = "not selected with --vendor: skipped"
NOT_RUN_NOTES = (NOT_CONFIGURED_NOTE.split(" '")[0], NOT_SELECTED_NOTE.split(":")[0])


@dataclass(frozen=True)
class FailPolicy:
    """Which findings fail the run (`--fail-on`): violations and drift of these severities, unless waived."""

    violations: frozenset[str] = FAILING_SEVERITIES
    drift: frozenset[str] = frozenset({"breaking"})


#: `--fail-on` values, like oasdiff's: the least severe finding that fails the run
FAIL_ON = ("breaking", "warning", "info")
DEFAULT_POLICY = FailPolicy()


def fail_policy(fail_on: str | None) -> FailPolicy:
    """The policy of `--fail-on LEVEL`: violations and drift of LEVEL or worse fail; None: the default (violations
    `breaking` and `warning`, drift `breaking`)."""
    if fail_on is None:
        return DEFAULT_POLICY
    if fail_on not in FAIL_ON:
        raise ValueError(f"--fail-on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}")
    levels = frozenset(FAIL_ON[: FAIL_ON.index(fail_on) + 1])
    return FailPolicy(violations=levels, drift=levels)


def run_policy(summary: Mapping[str, Any]) -> FailPolicy:
    """The policy a written summary was judged by (its `fail_on`); the default one for a summary without, or with a
    value this version lacks (reports read summaries of other versions too)."""
    try:
        return fail_policy(summary.get("fail_on") or None)
    except ValueError:
        return DEFAULT_POLICY


def vendor_status(entry: dict[str, Any], policy: FailPolicy = DEFAULT_POLICY) -> str:
    """A vendor entry's status under `policy`; a finding under a waiver that has not expired fails nothing."""
    from authcanary.waivers import waived

    checks = entry["checks"]
    violations = entry.get("violations", [])
    failing = [v for v in violations if v.get("severity") in policy.violations and not waived(v)]
    # every test a violation failed names it; a test that failed with none (a setup error) is a finding of its own
    explained = {test for v in violations if v.get("severity") in FAILING_SEVERITIES for test in v.get("tests", [])}
    if failing or checks["failed"] > len(explained):
        # Found on answers the vendor did give, so real even when an outage came later (the outage is in `error`);
        # `info` violations alone leave the vendor `ok` (and the run at exit 0): they are listed, nothing more
        return "violations"
    if entry.get("error"):
        return "unreachable"
    if checks["passed"] + checks["failed"] == 0:
        return "skipped"
    if any(d.get("severity") in policy.drift and not waived(d) for d in entry.get("drift", [])):
        return "drift"
    return "ok"


def exit_code(vendors: dict[str, dict[str, Any]]) -> int:
    """1 for violations or breaking drift (the actionable finding wins), else 3 if a vendor was unreachable, else 2
    if no check ran at all (every vendor skipped: "compliant" would be a lie)."""
    statuses = {entry["status"] for entry in vendors.values()}
    if statuses & {"violations", "drift"}:
        return EXIT_FINDINGS
    if "unreachable" in statuses:
        return EXIT_UNREACHABLE
    if statuses <= {"skipped"}:
        return EXIT_CONFIG
    return EXIT_OK


def read_summary(path: Path, fix: str) -> dict[str, Any]:
    """A run's summary.json (`path`), once it is one of this schema with vendor entries; anything else is a
    ConfigError saying what is wrong, with `fix`."""
    summary = read_json(path, fix)
    vendors = summary.get("vendors") if isinstance(summary, dict) else None
    if not isinstance(vendors, dict) or not all(isinstance(entry, dict) for entry in vendors.values()):
        raise ConfigError(f"{path}: unreadable: not a run summary (no vendor entries).", fix)
    if summary.get("schema") != SCHEMA:
        raise ConfigError(f"{path}: schema {summary.get('schema')!r}, not {SCHEMA}.", fix)
    return dict(summary)


def read_json(path: Path, fix: str) -> Any:
    """A JSON file a run wrote (summary.json, drift.json); unreadable is a ConfigError with `fix`."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc}).", fix) from None


def interrupted(summary: dict[str, Any]) -> bool:
    """Whether the run was interrupted (its results are partial)."""
    return summary.get("interrupted") is True or summary.get("exit_code") == EXIT_INTERRUPTED

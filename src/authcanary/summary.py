"""summary.json (schema `authcanary.summary/1`, docs/interfaces.md): vendor statuses and the run's exit code."""

from __future__ import annotations

from typing import Any

from authcanary.findings import FAILING_SEVERITIES

__all__ = [
    "SCHEMA",
    "EXIT_OK",
    "EXIT_FINDINGS",
    "EXIT_CONFIG",
    "EXIT_UNREACHABLE",
    "EXIT_INTERRUPTED",
    "FAILING_SEVERITIES",
    "vendor_entry",
    "exit_code",
]

SCHEMA = "authcanary.summary/1"
EXIT_OK, EXIT_FINDINGS, EXIT_CONFIG, EXIT_UNREACHABLE = 0, 1, 2, 3
#: the run was interrupted (Ctrl-C, SIGINT): summary.json says `"interrupted": true`; never accepted as a baseline
EXIT_INTERRUPTED = 130


def vendor_entry(findings: dict[str, Any] | None, drift: list[dict[str, Any]], notes: list[str]) -> dict[str, Any]:
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
    if any(v["severity"] in FAILING_SEVERITIES for v in findings["violations"]) or checks["failed"]:
        # Found on answers the vendor did give, so real even when an outage came later (the outage is in `error`);
        # `info` violations alone leave the vendor `ok` (and the run at exit 0): they are listed, nothing more
        status = "violations"
    elif findings.get("unreachable"):
        status = "unreachable"
    elif checks["passed"] + checks["failed"] == 0:
        status = "skipped"
    elif any(d["severity"] == "breaking" for d in drift):
        status = "drift"
    else:
        status = "ok"
    entry = {
        "status": status,
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
    if findings.get("outage_scenarios"):
        entry["outage_scenarios"] = findings["outage_scenarios"]  # ... of which these lost interactions to outages
    return entry


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

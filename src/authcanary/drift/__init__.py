"""Vendor-agnostic drift detection: normalize scrubbed cassettes, compare them with the baseline, report.

result = compare("cassettes", "reports/run/cassettes", constants=contract_constants)
write_drift_report(result, "reports/run")   # drift.json + drift.md
summary_items = result.findings(vendor)   # docs/interfaces.md summary.json ``drift`` items
"""

from .engine import KIND_SEVERITY, SEVERITIES, DriftResult, VendorDrift, compare, diff_steps, step_endpoint
from .normalize import CassetteError, Constants, Step, load_cassette, normalize_cassette, normalize_folder
from .report import DRIFT_SCHEMA, drift_document, render_markdown, write_drift_report

__all__ = [
    "DRIFT_SCHEMA",
    "KIND_SEVERITY",
    "SEVERITIES",
    "CassetteError",
    "Constants",
    "DriftResult",
    "Step",
    "VendorDrift",
    "compare",
    "diff_steps",
    "drift_document",
    "load_cassette",
    "normalize_cassette",
    "normalize_folder",
    "render_markdown",
    "step_endpoint",
    "write_drift_report",
]

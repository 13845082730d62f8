"""Write a :class:`~authcanary.drift.engine.DriftResult` as ``drift.json`` and ``drift.md`` (Markdown escaped as the
run's report.md is: every value may come from a vendor's response)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from authcanary.files import write_atomically
from authcanary.findings import SEVERITIES
from authcanary.reporting.render import md_code, md_text

from .engine import DriftResult

__all__ = ["DRIFT_SCHEMA", "drift_document", "render_markdown", "write_drift_report"]

DRIFT_SCHEMA = "authcanary.drift/1"
_COLUMNS = ("Severity", "Kind", "Step", "Path", "Baseline", "Current")


def drift_document(result: DriftResult) -> dict[str, Any]:
    """The machine-readable drift.json payload (schema ``authcanary.drift/1``)."""
    return {
        "schema": DRIFT_SCHEMA,
        "baseline": result.baseline_dir,
        "current": result.current_dir,
        "breaking": result.breaking,
        "vendors": {
            name: {
                "status": vendor.worst or "clean",
                "counts": {severity: vendor.count(severity) for severity in SEVERITIES},
                "steps": {"baseline": vendor.baseline_steps, "current": vendor.current_steps},
                "findings": vendor.findings,
                "stable_value_changes": vendor.stable_value_changes,
            }
            for name, vendor in result.vendors.items()
        },
        "no_baseline": result.no_baseline,
        "not_recorded": result.not_recorded,
    }


def _table(rows: Sequence[Sequence[str]], columns: tuple[str, ...]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render_markdown(result: DriftResult) -> str:
    """The human-readable drift.md: a section and one table per vendor, breaking findings first."""
    totals = {severity: sum(v.count(severity) for v in result.vendors.values()) for severity in SEVERITIES}
    lines = [
        "# Drift against the accepted baseline",
        "",
        f"Baseline: {md_code(result.baseline_dir, table=False)}  ",
        f"Current: {md_code(result.current_dir, table=False)}",
        "",
        f"**{totals['breaking']} breaking, {totals['warning']} warning, {totals['info']} info** "
        f"across {len(result.vendors)} compared vendor(s). Volatile values (tokens, ids, timestamps) are "
        "compared by shape only.",
    ]
    if result.no_baseline:
        lines += [
            "",
            f"**No baseline** (nothing compared, not a pass): {_names(result.no_baseline)}. "
            "Accept a run with `authcanary baseline accept RUN_DIR`.",
        ]
    if result.not_recorded:
        lines += ["", f"**Not recorded in this run** (skipped or unreachable): {_names(result.not_recorded)}."]
    for name, vendor in result.vendors.items():
        lines += ["", f"## {md_text(name)}", ""]
        if not vendor.findings:
            lines.append(f"No drift: {vendor.current_steps} step(s) match the baseline.")
        else:
            counts = ", ".join(f"{vendor.count(s)} {s}" for s in SEVERITIES if vendor.count(s))
            lines += [f"{counts} ({vendor.baseline_steps} baseline step(s), {vendor.current_steps} current).", ""]
            rows = [
                [
                    md_text(f["severity"]),
                    md_text(f["kind"]),
                    md_code(f["key"]),
                    md_code(f["path"]),
                    md_code(f["baseline"]),
                    md_code(f["current"]),
                ]
                for f in vendor.findings
            ]
            lines += _table(rows, _COLUMNS)
        if vendor.stable_value_changes:
            lines += [
                "",
                "Stable values that changed (not drift; declare them as contract constants to check them):",
                "",
            ]
            rows = [
                [md_code(n["key"]), md_code(n["path"]), md_code(n["baseline"]), md_code(n["current"])]
                for n in vendor.stable_value_changes
            ]
            lines += _table(rows, ("Step", "Path", "Baseline", "Current"))
    for name in result.no_baseline:
        lines += ["", f"## {md_text(name)}", "", "No baseline: this vendor's recordings were not compared."]
    return "\n".join(lines) + "\n"


def _names(names: list[str]) -> str:
    return ", ".join(md_text(name) for name in names)


def write_drift_report(result: DriftResult, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``drift.json`` and ``drift.md`` into ``out_dir`` (created if needed); return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "drift.json", out / "drift.md"
    write_atomically(json_path, json.dumps(drift_document(result), indent=2, ensure_ascii=False) + "\n")
    write_atomically(md_path, render_markdown(result))
    return json_path, md_path

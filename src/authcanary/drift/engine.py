"""Compare a run's cassettes with the accepted baseline and report drift.

Findings are dicts in the ``drift`` item format of ``summary.json`` (docs/interfaces.md)::

    {"key": step key, "kind": ..., "path": ..., "baseline": str, "current": str, "severity": ...}

Kinds and severities:

=================  ========  ============================================================================
kind               severity  fires when
=================  ========  ============================================================================
status_changed     breaking  the status code differs (path ``status``; the body is then not compared)
field_removed      breaking  a JSON path of the baseline body is gone (descendants are not repeated)
type_changed       breaking  a JSON path changed type (string -> int, object -> array, ...)
value_changed      breaking  a path the contract declares constant holds another value
step_missing       breaking  extension: a baseline step was not recorded (path ``""``)
format_changed     warning   same type, other format class (hex32 -> jwt, epoch-s -> epoch-ms); a JWT that lost
                             claims is breaking (a client reading one breaks), one that only gained claims info
header_changed     warning   a chosen header changed, appeared or disappeared (path ``header:<name>``)
field_added        info      a JSON path the baseline did not have
step_added         info      extension: a step the baseline did not have (path ``""``)
=================  ========  ============================================================================

Volatile values (tokens, ids, timestamps, lifetimes) never produce findings: only shapes are compared,
plus the values of declared contract constants.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authcanary.findings import SEVERITIES

from .normalize import Constants, Step, as_constants, normalize_folders

__all__ = ["ABSENT", "KIND_SEVERITY", "SEVERITIES", "DriftResult", "VendorDrift", "compare", "diff_steps"]

KIND_SEVERITY = {
    "status_changed": "breaking",
    "field_removed": "breaking",
    "type_changed": "breaking",
    "value_changed": "breaking",
    "step_missing": "breaking",
    "format_changed": "warning",
    "header_changed": "warning",
    "field_added": "info",
    "step_added": "info",
}
ABSENT = "(absent)"
_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


@dataclass
class VendorDrift:
    """Drift of one vendor: findings (summary.json items, deterministic order) and stable-value notes."""

    vendor: str
    findings: list[dict[str, str]]
    baseline_steps: int
    current_steps: int
    stable_value_changes: list[dict[str, str]] = field(default_factory=list)

    def count(self, severity: str) -> int:
        """Number of findings with this severity."""
        return sum(1 for finding in self.findings if finding["severity"] == severity)

    @property
    def worst(self) -> str | None:
        """The highest severity among the findings, or None when there is no drift."""
        present = {finding["severity"] for finding in self.findings}
        return next((severity for severity in SEVERITIES if severity in present), None)


@dataclass
class DriftResult:
    """Outcome of :func:`compare`.

    ``vendors`` holds every vendor compared (recorded now and present in the baseline); ``no_baseline`` the
    vendors recorded now without any baseline cassette (nothing compared, never a silent pass);
    ``not_recorded`` the vendors with a baseline (or explicitly requested) but no cassette in this run
    (skipped or unreachable).
    """

    baseline_dir: str
    current_dir: str
    vendors: dict[str, VendorDrift]
    no_baseline: list[str]
    not_recorded: list[str]

    @property
    def breaking(self) -> bool:
        """True when any vendor has breaking drift (the run's exit code is then 1)."""
        return any(vendor.worst == "breaking" for vendor in self.vendors.values())

    def findings(self, vendor: str) -> list[dict[str, str]]:
        """The summary.json ``drift`` list for one vendor (empty when it was not compared)."""
        return list(self.vendors[vendor].findings) if vendor in self.vendors else []

    def expect_removal(self, vendor: str, endpoint: str, note: str) -> int:
        """An endpoint removed as announced: every finding of a scenario whose recording touches ``endpoint``
        (``METHOD /path``) becomes ``info`` with ``note``, since the whole scenario changes when a step is gone.
        Returns how many findings were downgraded."""
        drift = self.vendors.get(vendor)
        scenarios = {_scenario(f) for f in drift.findings if _endpoint(f) == endpoint} if drift else set()
        return self.downgrade(vendor, scenarios, note)

    def expect_field_removal(self, vendor: str, path: str, endpoints: Iterable[str], note: str) -> int:
        """A deprecated field gone as announced: its ``field_removed`` findings on ``endpoints`` (``METHOD /path``;
        a recorded path may carry the target's prefix before it) become ``info`` with ``note``. Returns how many."""
        drift = self.vendors.get(vendor)
        if drift is None:
            return 0
        documented = [endpoint.split(" ", 1) for endpoint in endpoints]
        changed = 0
        for finding in drift.findings:
            method, _, recorded = _endpoint(finding).partition(" ")
            if (
                finding["kind"] == "field_removed"
                and finding["path"] == path
                and finding["severity"] != "info"
                and any(method == m and recorded.endswith(p) for m, p in documented)
            ):
                finding.update(severity="info", note=note)
                changed += 1
        drift.findings.sort(key=lambda f: SEVERITIES.index(f["severity"]))
        return changed

    def downgrade(self, vendor: str, scenarios: set[str], note: str, kinds: tuple[str, ...] = ()) -> int:
        """Findings of these scenarios (``<vendor>/<module>.<test>``; only of ``kinds`` if given) become ``info``
        with ``note``; returns how many changed."""
        drift = self.vendors.get(vendor)
        if drift is None:
            return 0
        changed = 0
        for finding in drift.findings:
            if (
                _scenario(finding) in scenarios
                and finding["severity"] != "info"
                and (not kinds or finding["kind"] in kinds)
            ):
                finding.update(severity="info", note=note)
                changed += 1
        drift.findings.sort(key=lambda f: SEVERITIES.index(f["severity"]))  # stable: keeps the order within each
        return changed


def _scenario(finding: dict[str, str]) -> str:
    return finding["key"].split("#", 1)[0]


def _endpoint(finding: dict[str, str]) -> str:
    return step_endpoint(finding["key"])


def step_endpoint(key: str) -> str:
    """`METHOD /path?query` of a drift key `<vendor>/<test id>#<METHOD /path?query [body keys]>#<n>` (the test id is
    the harness's, never shown to a vendor); "" for a key without one."""
    parts = key.split("#")
    return parts[1].split(" [")[0].strip() if len(parts) > 1 else ""


def compare(
    baseline_dir: str | Path,
    current_dir: str | Path,
    constants: Constants | Mapping[str, Any] | None = None,
    vendors: Iterable[str] | None = None,
    workers: int | None = None,
) -> DriftResult:
    """Compare the cassettes of ``current_dir`` with those of ``baseline_dir`` (both ``<dir>/<vendor>/``).

    ``constants`` is the contract's ``{"METHOD /path": {"status": {"$.path": value}}}``; ``vendors``
    restricts the comparison; ``workers`` is passed to ``normalize_folders`` (None: automatic, 1: serial).
    A missing baseline folder means no baseline for anyone; a missing current folder is an error
    (FileNotFoundError). Corrupt cassettes raise ``CassetteError`` naming the file.
    """
    if not Path(current_dir).is_dir():
        raise FileNotFoundError(f"{current_dir}: no such cassette folder")
    constants = as_constants(constants)
    if vendors is not None:
        vendors = [vendors] if isinstance(vendors, str) else list(vendors)
    current, baseline = normalize_folders([current_dir, baseline_dir], constants, vendors, workers)
    compared = {
        vendor: _compare_vendor(vendor, baseline[vendor], current[vendor], constants)
        for vendor in sorted(current.keys() & baseline.keys())
    }
    return DriftResult(
        baseline_dir=str(baseline_dir),
        current_dir=str(current_dir),
        vendors=compared,
        no_baseline=sorted(current.keys() - baseline.keys()),
        not_recorded=sorted((set(vendors) if vendors is not None else baseline.keys()) - current.keys()),
    )


def _compare_vendor(
    vendor: str, baseline: dict[str, Step], current: dict[str, Step], constants: Constants
) -> VendorDrift:
    findings: list[dict[str, str]] = []
    notes: list[dict[str, str]] = []
    for key in baseline.keys() - current.keys():
        findings.append(_finding(key, "step_missing", "", _step_summary(baseline[key]), ABSENT))
    for key in current.keys() - baseline.keys():
        findings.append(_finding(key, "step_added", "", ABSENT, _step_summary(current[key])))
    for key in baseline.keys() & current.keys():
        step_findings, step_notes = diff_steps(baseline[key], current[key], constants)
        findings.extend(step_findings)
        notes.extend(step_notes)
    findings.sort(key=lambda f: (_SEVERITY_RANK[f["severity"]], f["key"], f["path"], f["kind"]))
    notes.sort(key=lambda n: (n["key"], n["path"]))
    return VendorDrift(vendor, findings, len(baseline), len(current), notes)


def diff_steps(
    baseline: Step, current: Step, constants: Constants | None = None
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Findings between two observations of one step, and the notes on stable (non-constant) values that
    changed: those are shown in reports but are not drift."""
    key = baseline.key
    if baseline.status != current.status:
        return [_finding(key, "status_changed", "status", str(baseline.status), str(current.status))], []
    findings: list[dict[str, str]] = []
    if baseline.headers != current.headers:
        for name in sorted(baseline.headers.keys() | current.headers.keys()):
            before, after = baseline.headers.get(name, ABSENT), current.headers.get(name, ABSENT)
            if before != after:
                findings.append(_finding(key, "header_changed", f"header:{name}", before, after))
    reported: set[str] = set()
    if baseline.shape != current.shape:
        reported = _diff_shapes(baseline, current, findings)
    declared = constants.lookup(current.method, current.path, current.status) if constants else {}
    notes: list[dict[str, str]] = []
    for path in sorted(baseline.values.keys() & current.values.keys()):
        before, after = baseline.values[path], current.values[path]
        if path in reported or (type(before) is type(after) and before == after):
            continue
        if path in declared:
            findings.append(_finding(key, "value_changed", path, _json(before), _json(after)))
        else:
            notes.append({"key": key, "path": path, "baseline": _json(before), "current": _json(after)})
    return findings, notes


def _diff_shapes(baseline: Step, current: Step, findings: list[dict[str, str]]) -> set[str]:
    """Append shape findings; return the paths reported as removed/added/retyped (descendants skipped)."""
    before, after = baseline.shape, current.shape
    cut: list[str] = []  # reported paths whose descendants are not repeated, plus arrays empty on a side
    for path, shape in (*before.items(), *after.items()):
        if shape == ("array", "empty"):
            cut.append(path)
    reported: set[str] = set()
    for path in sorted(before.keys() | after.keys()):
        if cut and any(_descends(path, top) for top in cut):
            continue
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        if old is None:
            kind = "field_added"
        elif new is None:
            kind = "field_removed"
        elif old[0] != new[0]:
            kind = "type_changed"
        elif old[0] == "array":  # empty on one side: its elements are unknown, not changed
            continue
        else:
            findings.append(
                _finding(
                    baseline.key,
                    "format_changed",
                    path,
                    _describe(old, baseline.values, path),
                    _describe(new, current.values, path),
                    _claims_severity(old[1], new[1]),
                )
            )
            continue
        findings.append(
            _finding(
                baseline.key, kind, path, _describe(old, baseline.values, path), _describe(new, current.values, path)
            )
        )
        reported.add(path)
        cut.append(path)
    return reported


def _descends(path: str, top: str) -> bool:
    return len(path) > len(top) and path.startswith(top) and path[len(top)] in ".["


def _describe(shape: tuple[str, str] | None, values: Mapping[str, Any], path: str) -> str:
    """``"string jwt(RS256;aud,exp)"``, ``"int = 3599"`` (kept values are shown), or ``(absent)``."""
    if shape is None:
        return ABSENT
    kind, fmt = shape
    text = kind if fmt == kind else f"{kind} {fmt}"
    if path in values:
        text += f" = {_json(values[path])}"
    return text


def _step_summary(step: Step) -> str:
    return f"{step.signature} -> {step.status}"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


_JWT_FORMAT = re.compile(r"jwt\((?P<alg>[^;]*);(?P<claims>[^)]*)\)")


def _claims_severity(old: str, new: str) -> str | None:
    """A JWT of the same algorithm whose claims changed: breaking if a claim is gone, info if claims were only
    added (None: not such a change, the kind's severity applies). Unreadable claims (`?`) are not judged."""
    before, after = _JWT_FORMAT.fullmatch(old), _JWT_FORMAT.fullmatch(new)
    if not before or not after or before["alg"] != after["alg"] or "?" in (before["claims"], after["claims"]):
        return None
    gone = set(before["claims"].split(",")) - set(after["claims"].split(",")) - {""}
    return "breaking" if gone else "info"


def _finding(
    key: str, kind: str, path: str, baseline: str, current: str, severity: str | None = None
) -> dict[str, str]:
    return {
        "key": key,
        "kind": kind,
        "path": path,
        "baseline": baseline,
        "current": current,
        "severity": severity or KIND_SEVERITY[kind],
    }

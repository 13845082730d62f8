"""`authcanary merge`: the run folders of a per-vendor CI matrix as one run folder (a run's own parallel workers are
combined by the run itself: authcanary.pytest.workers.read_findings).

Each input is a finished run; every run lists every vendor, and a vendor's entry is taken from the one run that ran
it (the others list it as "not selected with --vendor"). What is merged and how (docs/interfaces.md "CI"):

- summary.json: the vendors' entries as their runs wrote them, the exit code recomputed from their statuses,
  started = earliest, finished = latest; `history` and `waivers` combined (`_merge_history`, `_merge_waivers`);
  other top-level values kept when the runs agree, else left out with a note;
- junit.xml: one <testsuites> with every run's suites; allure-results/: every file (their names are uuids);
  cassettes/<vendor>/ and drift.json/drift.md: from the run that ran the vendor; report.html and report.md rendered
  from the merged summary. Then the merged folder is scanned for secrets, as a run's is.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from authcanary.drift import DriftResult, VendorDrift, write_drift_report
from authcanary.errors import ConfigError
from authcanary.files import write_atomically
from authcanary.reporting.allure import OWN_RESULTS, SUMMARY_FILES
from authcanary.reporting.step_summary import append_step_summary
from authcanary.runner import claim_run_folder, report_leaks, write_run_outputs, write_summary
from authcanary.summary import (
    EXIT_CONFIG,
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    NOT_RUN_NOTES,
    SCHEMA,
    interrupted,
    read_json,
    read_summary,
)
from authcanary.summary import exit_code as vendors_exit_code
from authcanary.targets import Target, load_target

__all__ = ["merge_runs"]

#: top-level summary keys merged by their own rule; any other key is kept when every run that has it agrees
_OWN_RULE = {
    "schema",
    "target",
    "started",
    "finished",
    "mode",
    "baseline",
    "exit_code",
    "vendors",
    "history",
    "waivers",
    "notes",
    "error",
    "interrupted",
    "merged_from",
}
_RERUN_FIX = "Re-run that job (or leave its folder out of the merge); give merge the folders of finished runs."


@dataclass
class _Run:
    """One input run folder, read and checked."""

    path: Path
    summary: dict[str, Any]
    junit: ElementTree.Element
    drift: dict[str, Any] | None
    ran: list[str] = field(default_factory=list)  # the vendors this run ran (not merely listed)


def merge_runs(run_dirs: Sequence[Path], out: Path, targets_file: Path | None = None) -> dict[str, Any]:
    """Merge finished run folders into `out` (new or empty) and return the merged summary (as written to
    `out/summary.json`; exit_code 2 when the secret scan finds something). `targets_file`: also scan for the
    credentials of the runs' target (read from the environment, as a run does); without it, token-shaped values.

    Raises ConfigError (exit 2) before writing anything for an unfinished, unreadable or conflicting input, runs of
    different targets, or an `out` that already has files."""
    if not run_dirs:
        raise ConfigError("no run folder to merge.", "Pass the run folders: authcanary merge RUN_DIR... --out DIR.")
    runs = [_read_run(path) for path in _distinct(run_dirs)]
    owners = _owners(runs)
    summary = _merged_summary(runs, owners)
    if targets_file is not None:
        target = load_target(targets_file, str(summary["target"]))
    else:
        target = Target(name=str(summary["target"]), embedded=False, vendors={}, source=Path())
    _check_out(out, [run.path for run in runs])
    out = claim_run_folder(out, exclusive=False)
    for vendor, run in owners.items():
        if (run.path / "cassettes" / vendor).is_dir():
            shutil.copytree(run.path / "cassettes" / vendor, out / "cassettes" / vendor, symlinks=True)
    summary["notes"] += _merge_allure(runs, out / "allure-results")
    _write_junit(runs, out / "junit.xml")
    _write_drift(runs, owners, out)
    write_run_outputs(out, summary)
    if report_leaks(out, target):
        summary["exit_code"] = EXIT_CONFIG
        write_summary(out, summary)
    append_step_summary(summary, out)
    return summary


def _distinct(run_dirs: Sequence[Path]) -> list[Path]:
    seen: dict[Path, Path] = {}
    for path in run_dirs:
        if path.resolve() in seen:
            raise ConfigError(f"{path}: given twice (also as {seen[path.resolve()]}).", "Pass each run folder once.")
        seen[path.resolve()] = path
    return list(seen.values())


def _read_run(path: Path) -> _Run:
    """An input run, once it shows a finished, uninterrupted run of this summary schema."""
    if not path.is_dir():
        raise ConfigError(f"{path}: not a folder.", "Pass the run folders that `authcanary run --out` wrote.")
    if not (path / "summary.json").is_file():
        raise ConfigError(
            f"{path}: no summary.json, so that run did not finish (killed or crashed; or not a run folder).",
            _RERUN_FIX,
        )
    summary = read_summary(path / "summary.json", _RERUN_FIX)
    vendors = summary["vendors"]
    if interrupted(summary):
        raise ConfigError(f"{path}: that run was interrupted, so its results are partial.", _RERUN_FIX)
    try:
        junit = ElementTree.parse(path / "junit.xml").getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise ConfigError(f"{path / 'junit.xml'}: unreadable ({exc}).", _RERUN_FIX) from None
    drift = read_json(path / "drift.json", _RERUN_FIX) if (path / "drift.json").is_file() else None
    if drift is not None and not isinstance(drift.get("vendors") if isinstance(drift, dict) else None, dict):
        raise ConfigError(f"{path / 'drift.json'}: unreadable (no vendors).", _RERUN_FIX)
    ran = [name for name, entry in sorted(vendors.items()) if not _listed_only(entry)]
    return _Run(path, summary, junit, drift, ran)


def _listed_only(entry: dict[str, Any]) -> bool:
    return any(isinstance(note, str) and note.startswith(NOT_RUN_NOTES) for note in _list(entry.get("notes")))


def _owners(runs: list[_Run]) -> dict[str, _Run]:
    """The run each vendor's entry comes from: the one that ran it (two that did are an error)."""
    owners: dict[str, _Run] = {}
    for run in runs:
        for vendor in run.ran:
            if vendor in owners:
                raise ConfigError(
                    f"both {owners[vendor].path} and {run.path} ran {vendor}, so the merge cannot choose.",
                    "Merge the runs of different vendors (each job of the matrix runs one --vendor); "
                    "leave one of the two out.",
                )
            owners[vendor] = run
    return owners


def _check_out(out: Path, inputs: list[Path]) -> None:
    """As `authcanary run --out`: a new or empty folder (so never one of the inputs)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: not a folder.", "Give --out a new or empty folder.")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out}: the folder already has files.", "Choose an empty or new --out folder.")
    if inside := [path for path in inputs if out.resolve().is_relative_to(path.resolve())]:
        raise ConfigError(f"--out {out}: inside the run folder {inside[0]}.", "Write the merged run elsewhere.")


def _when(value: Any) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _time(runs: list[_Run], key: str, pick: Any) -> Any:
    """The earliest (`pick=min`) or latest (`max`) of the runs' `key` times; the first value if none parses."""
    times = [(when, run.summary[key]) for run in runs if (when := _when(run.summary.get(key))) is not None]
    return pick(times, key=lambda pair: pair[0])[1] if times else runs[0].summary.get(key)


def _joined(values: list[Any]) -> Any:
    """One value if the runs agree, else the distinct ones joined with ", " (paths, modes)."""
    distinct = list(dict.fromkeys(value for value in values if value not in (None, "")))
    if len(distinct) <= 1:
        return distinct[0] if distinct else (values[0] if values else None)
    return ", ".join(str(value) for value in distinct)


def _merged_summary(runs: list[_Run], owners: dict[str, _Run]) -> dict[str, Any]:
    targets = {run.summary.get("target") for run in runs}
    if len(targets) > 1:
        by_target = "; ".join(f"{run.path}: {run.summary.get('target')!r}" for run in runs)
        raise ConfigError(
            f"the runs are of different targets ({by_target}).", "Merge the runs of one target (one matrix)."
        )
    names = sorted({name for run in runs for name in run.summary["vendors"]})
    vendors = {}
    for name in names:
        source = owners.get(name) or next(run for run in runs if name in run.summary["vendors"])
        vendors[name] = copy.deepcopy(source.summary["vendors"][name])
    notes = [
        f"merged by `authcanary merge` from {len(runs)} run folder(s): "
        + "; ".join(f"{run.path} ({', '.join(run.ran) or 'no vendor run'})" for run in runs)
    ]
    summary: dict[str, Any] = {
        "schema": SCHEMA,
        "target": runs[0].summary.get("target"),
        "started": _time(runs, "started", min),
        "finished": _time(runs, "finished", max),
        "mode": _joined([run.summary.get("mode") for run in runs]),
        "baseline": _joined([run.summary.get("baseline") for run in runs]),
        "exit_code": vendors_exit_code(vendors),
    }
    for key in dict.fromkeys(key for run in runs for key in run.summary if key not in _OWN_RULE):
        values = [run.summary[key] for run in runs if key in run.summary]
        if all(value == values[0] for value in values):
            summary[key] = copy.deepcopy(values[0])
        else:
            shown = ", ".join(dict.fromkeys(json.dumps(value, sort_keys=True)[:80] for value in values))
            notes.append(f"the runs differ in `{key}` ({shown}): left out of the merged summary")
    if (history := _merge_history(runs)) is not None:
        summary["history"] = history
    if (waivers := _merge_waivers(runs, owners)) is not None:
        summary["waivers"] = waivers
    for run in runs:
        recorded = run.summary.get("exit_code")
        if recorded == EXIT_CONFIG and vendors_exit_code(run.summary["vendors"]) != EXIT_CONFIG:
            # its statuses do not explain the 2: the run found a secret in its own folder
            summary["exit_code"] = EXIT_CONFIG
            notes.append(f"{run.path} ended with exit 2 (secrets found in its output, see its log): the merge too")
    summary["merged_from"] = [
        {
            "run": str(run.path),
            "vendors": run.ran,
            "started": run.summary.get("started"),
            "finished": run.summary.get("finished"),
            "exit_code": run.summary.get("exit_code"),
        }
        for run in runs
    ]
    extra_notes = [note for run in runs for note in _list(run.summary.get("notes")) if isinstance(note, str)]
    summary["notes"] = list(dict.fromkeys(notes + extra_notes))
    errors = [f"{run.path}: {run.summary['error']}" for run in runs if run.summary.get("error")]
    if errors:
        summary["error"] = "; ".join(errors)
    summary["vendors"] = vendors
    return summary


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _merge_history(runs: list[_Run]) -> dict[str, Any] | None:
    """One history from the per-vendor ones. The trend is kept: its n-th point from the end combines the n-th from
    the end of every run's trend (the jobs of a matrix run the same nights, and each trend ends with that run):
    counts summed, started the earliest, exit codes combined as a run combines its vendors'."""
    parts = [(run, history) for run in runs if isinstance(history := run.summary.get("history"), dict)]
    if not parts:
        return None
    trends = [[point for point in _list(history.get("trend")) if isinstance(point, dict)] for _, history in parts]
    trend = []
    for back in range(max(map(len, trends)), 0, -1):
        points = [points[-back] for points in trends if len(points) >= back]
        trend.append(_trend_point(points))
    previous = [when for _, history in parts if (when := history.get("previous_run"))]
    merged: dict[str, Any] = {
        "path": _joined([history.get("path") for _, history in parts]),
        "previous_run": max(previous, key=lambda value: _when(value) or dt.datetime.min.replace(tzinfo=dt.UTC))
        if previous
        else None,
        "trend": trend,
    }
    errors = [f"{run.path}: {history['error']}" for run, history in parts if history.get("error")]
    if errors:
        merged["error"] = "; ".join(errors)
    return merged


def _trend_point(points: list[dict[str, Any]]) -> dict[str, Any]:
    codes = {point.get("exit_code") for point in points}
    code = next((c for c in (EXIT_FINDINGS, EXIT_UNREACHABLE, EXIT_INTERRUPTED, EXIT_OK) if c in codes), None)
    point: dict[str, Any] = {
        "started": min(
            (p.get("started") for p in points), key=lambda v: _when(v) or dt.datetime.max.replace(tzinfo=dt.UTC)
        ),
        "exit_code": code if code is not None else next(iter(codes)),
    }
    for key in ("findings", "new", "resolved", "waived"):
        point[key] = sum(value for p in points if isinstance(value := p.get(key), int))
    return point


def _merge_waivers(runs: list[_Run], owners: dict[str, _Run]) -> dict[str, Any] | None:
    """Expired waivers of every run; a waiver is stale when the run that ran its vendor found it stale (each run
    finds the waivers of the vendors it did not run stale), or, for no vendor run, when every run did."""
    parts = [(run, waivers) for run in runs if isinstance(waivers := run.summary.get("waivers"), dict)]
    if not parts:
        return None
    with_waivers = {id(run) for run, _ in parts}
    stale: dict[str, tuple[dict[str, Any], set[int]]] = {}
    for run, waivers in parts:
        for item in _list(waivers.get("stale")):
            stale.setdefault(json.dumps(item, sort_keys=True), (item, set()))[1].add(id(run))
    kept = []
    for item, stale_in in stale.values():
        owner = owners.get(str(item.get("vendor"))) if isinstance(item, dict) else None
        judges = {id(owner)} if owner is not None and id(owner) in with_waivers else with_waivers
        if judges <= stale_in:
            kept.append(item)
    expired = {json.dumps(item, sort_keys=True): item for _, w in parts for item in _list(w.get("expired"))}
    return {
        "path": _joined([waivers.get("path") for _, waivers in parts]),
        "stale": kept,
        "expired": list(expired.values()),
    }


def _merge_allure(runs: list[_Run], dest: Path) -> list[str]:
    """Copy every run's allure-results/ into `dest`. Result, container and attachment files have uuid names; a name
    several runs share (e.g. history/ of `--allure-history`) is written once: identical, or JSON objects/lists and
    .properties merged (the first run wins a key), else the first run's with a note. What a summary makes
    (categories, environment, executor, the findings' own results) is left to `write_run_outputs`."""
    sources: dict[str, list[tuple[Path, Path]]] = {}  # name -> (run folder, file) of every run that has it
    for run in runs:
        folder = run.path / "allure-results"
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.name in SUMMARY_FILES or path.name.startswith(OWN_RESULTS):
                continue  # written afresh from the merged summary
            if path.is_file() and not path.is_symlink():
                sources.setdefault(path.relative_to(folder).as_posix(), []).append((run.path, path))
    notes = []
    for name, found in sources.items():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        contents = list(dict.fromkeys(path.read_bytes() for _, path in found))
        if len(contents) == 1:
            shutil.copyfile(found[0][1], target)
            continue
        merged = _merge_texts(name, [content.decode("utf-8", errors="replace") for content in contents])
        if merged is None:
            shutil.copyfile(found[0][1], target)
            notes.append(f"allure-results/{name} differs between the runs: the one of {found[0][0]} is kept")
        else:
            write_atomically(target, merged)
    return notes


def _merge_texts(name: str, texts: list[str]) -> str | None:
    if name.endswith(".properties"):
        lines: dict[str, str] = {}
        for text in texts:
            for line in text.splitlines():
                key = line.split("=", 1)[0].strip()
                if key and not key.startswith(("#", "!")):
                    lines.setdefault(key, line)
        return "\n".join(lines.values()) + "\n"
    if not name.endswith(".json"):
        return None
    try:
        documents = [json.loads(text) for text in texts]
    except ValueError:
        return None
    if all(isinstance(document, dict) for document in documents):
        merged: dict[str, Any] = {}
        for document in documents:
            merged = {**document, **merged}
        return json.dumps(merged, indent=2, ensure_ascii=False) + "\n"
    if all(isinstance(document, list) for document in documents):
        items = {json.dumps(item, sort_keys=True): item for document in documents for item in document}
        return json.dumps(list(items.values()), indent=2, ensure_ascii=False) + "\n"
    return None


def _write_junit(runs: list[_Run], path: Path) -> None:
    """One <testsuites> holding every run's suites, each named after the vendors its run ran."""
    merged = ElementTree.Element("testsuites", {"name": "authcanary merge"})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    duration = 0.0
    for run in runs:
        suites = [run.junit] if run.junit.tag == "testsuite" else list(run.junit.iter("testsuite"))
        for suite in suites:
            if run.ran:
                suite.set("name", f"{suite.get('name', 'pytest')} [{', '.join(run.ran)}]")
            for key in totals:
                totals[key] += _number(suite.get(key), int)
            duration += _number(suite.get("time"), float)
            merged.append(suite)
    for key, value in totals.items():
        merged.set(key, str(value))
    merged.set("time", f"{duration:.3f}")
    write_atomically(path, '<?xml version="1.0" encoding="utf-8"?>' + ElementTree.tostring(merged, encoding="unicode"))


def _number(value: str | None, kind: type[int] | type[float]) -> Any:
    try:
        return kind(value or 0)
    except ValueError:
        return kind(0)


def _write_drift(runs: list[_Run], owners: dict[str, _Run], out: Path) -> None:
    """drift.json and drift.md of the merged run: each vendor's drift from the run that ran it."""
    documents = [(run, run.drift) for run in runs if run.drift is not None]
    if not documents:
        return
    vendors: dict[str, VendorDrift] = {}
    no_baseline: set[str] = set()
    not_recorded: set[str] = set()
    for run, document in documents:
        ran = {vendor for vendor, owner in owners.items() if owner is run}
        for vendor, section in document["vendors"].items():
            if vendor in ran and isinstance(section, dict):
                steps = _dict(section.get("steps"))
                vendors[vendor] = VendorDrift(
                    vendor=vendor,
                    findings=_list(section.get("findings")),
                    baseline_steps=_number(steps.get("baseline"), int),
                    current_steps=_number(steps.get("current"), int),
                    stable_value_changes=_list(section.get("stable_value_changes")),
                )
        no_baseline |= ran & set(_list(document.get("no_baseline")))
        not_recorded |= ran & set(_list(document.get("not_recorded")))
    result = DriftResult(
        baseline_dir=str(_joined([document.get("baseline") for _, document in documents])),
        current_dir=str(out / "cassettes"),
        vendors=dict(sorted(vendors.items())),
        no_baseline=sorted(no_baseline),
        not_recorded=sorted(not_recorded),
    )
    write_drift_report(result, out)

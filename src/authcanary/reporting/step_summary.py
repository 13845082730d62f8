"""The GitHub Actions job summary: when ``GITHUB_STEP_SUMMARY`` names a file, a finished run (and ``authcanary
merge``) appends a compact Markdown digest of its summary there: the verdict, a table of the vendors, the most
important findings with their state, and where the full report is.

It stays small by construction (at most ``MAX_VENDORS`` rows and ``MAX_FINDINGS`` findings, every vendor value cut
to ``CELL`` characters, the whole cut at ``MAX_BYTES``; GitHub refuses more than 1 MiB per step), every value is
escaped as in report.md, and a file that cannot be written is a warning, never a failed run.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from authcanary.drift import step_endpoint
from authcanary.findings import SEVERITIES, severity_rank

from .render import VERDICTS, build_context, md_code, md_text

__all__ = ["ENV", "MAX_BYTES", "MAX_FINDINGS", "append_step_summary", "render_step_summary"]

ENV = "GITHUB_STEP_SUMMARY"
MAX_FINDINGS = 20
MAX_VENDORS = 30
MAX_TREND = 30
UNKNOWN_VERDICT = ("", "", "", "\u2754")
#: characters of a vendor value (an endpoint, a check id, a path) in a line
CELL = 60
#: the most one digest appends; several (each matrix job, the merge) share GitHub's 1 MiB per job step
MAX_BYTES = 256 * 1024
_CUT_NOTE = "\n_(cut here to stay within GitHub's job summary limit: see the full report)_\n"
_KINDS = (("violation", "violations"), ("drift", "drift"), ("deprecation", "deprecations"), ("outage", "outages"))
_SEVERITY_MARK = {"breaking": "\U0001f534", "warning": "\U0001f7e0", "info": "\U0001f535"}
_RUN_URL = re.compile(r"https://[A-Za-z0-9.-]+(:\d+)?/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/actions/runs/\d+")


def append_step_summary(summary: dict[str, Any], run_dir: Path, environ: Mapping[str, str] | None = None) -> bool:
    """Append the digest of `summary` (whose run folder is `run_dir`) to the file `$GITHUB_STEP_SUMMARY` names, if
    set; returns whether it was appended. Never raises: a problem is a warning on stderr."""
    environ = os.environ if environ is None else environ
    target = environ.get(ENV, "")
    if not target:
        return False
    try:
        text = render_step_summary(summary, run_dir, environ)
    except Exception as exc:  # a digest that cannot be rendered must not fail a run whose outputs are written
        _warn(f"the job summary could not be rendered ({type(exc).__name__}: {exc}); please report this bug")
        return False
    if _looks_secret(text):
        _warn(f"the job summary was not appended to {ENV}: it looks like it holds a secret")
        return False
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        _warn(f"cannot append the job summary to {ENV}={target} ({exc.strerror or exc})")
        return False
    return True


def _warn(message: str) -> None:
    print(f"authcanary: warning: {message}", file=sys.stderr)


def _looks_secret(text: str) -> bool:
    """The run scans its folder after the digest is appended: scan the digest itself first."""
    from authcanary.recording.scan import scan_texts

    return bool(scan_texts({"step-summary.md": text}))


def render_step_summary(summary: dict[str, Any], run_dir: Path, environ: Mapping[str, str] | None = None) -> str:
    """The Markdown digest (GitHub flavoured), ending with a blank line so appended digests stay apart."""
    environ = os.environ if environ is None else environ
    summary = _dict(summary)
    context = build_context(summary)
    raw_vendors = _dict(summary.get("vendors"))
    verdict = context["verdict"]
    code = verdict["code"] if verdict["code"] is not None else "none"
    lines = [
        f"### {verdict['md_symbol']} authcanary: {md_text(verdict['headline'])} on "
        f"{md_code(context['target'], table=False, limit=CELL)} (exit {code})",
        "",
        str(md_text(verdict["detail"], limit=4 * CELL)),
        "",
        f"Started {md_text(context['started'], limit=CELL)} · {context['duration']}"
        + (" · replayed offline from the baseline" if context["mode"] == "replay" else ""),
    ]
    lines += _trend(summary)
    lines += _run_notes(summary)
    lines += ["", *_vendor_table(context["vendors"], raw_vendors)]
    lines += _findings(raw_vendors)
    report = md_code(str(Path(run_dir) / "report.html"), table=False, limit=4 * CELL)
    where = f"Full report: {report} (also report.md, summary.json, junit.xml)"
    if url := _run_url(environ):
        where += f", in the [artifacts of this workflow run]({url})"
    lines += ["", where + ".", ""]
    text = "\n".join(lines) + "\n"
    if len(text.encode("utf-8")) > MAX_BYTES:
        cut = text.encode("utf-8")[: MAX_BYTES - len(_CUT_NOTE.encode("utf-8"))].decode("utf-8", errors="ignore")
        text = cut[: cut.rfind("\n") + 1] + _CUT_NOTE
    return text


def _trend(summary: dict[str, Any]) -> list[str]:
    """The exit codes of the last runs of this target (history), oldest first, as one line of symbols."""
    points = [p for p in _list(_dict(summary.get("history")).get("trend")) if isinstance(p, dict)][-MAX_TREND:]
    if len(points) < 2:
        return []
    codes = [p.get("exit_code") for p in points]
    marks = "".join(VERDICTS.get(code, UNKNOWN_VERDICT)[3] if isinstance(code, int) else "\u2754" for code in codes)
    return ["", f"Last {len(points)} runs (oldest first): {marks}"]


def _run_notes(summary: dict[str, Any]) -> list[str]:
    """History and waiver problems, one line each: they matter to whoever reads the job."""
    notes = []
    history = _dict(summary.get("history"))
    if history.get("error"):
        notes.append(f"- History: {md_text(history['error'], limit=4 * CELL)}")
    waivers = _dict(summary.get("waivers"))
    for key, what in (("expired", "expired (the findings they covered fail the run)"), ("stale", "stale")):
        if listed := _list(waivers.get(key)):
            notes.append(f"- {len(listed)} waiver(s) {what}: see the full report")
    return ["", *notes] if notes else []


def _with_history(raw_vendors: dict[str, Any]) -> bool:
    return any(
        isinstance(entry, dict)
        and ("resolved" in entry or "waived" in entry or any("state" in item for _, _, item in _items(entry)))
        for entry in raw_vendors.values()
    )


def _vendor_table(vendors: list[dict[str, Any]], raw_vendors: dict[str, Any]) -> list[str]:
    if not vendors:
        return ["No vendor was run."]
    history = _with_history(raw_vendors)
    header = "| Vendor | Status | Checks | Violations | Drift |" + (" New | Resolved | Waived |" if history else "")
    lines = [header, "| --- | --- | --- | --: | --: |" + (" --: | --: | --: |" if history else "")]
    for vendor in vendors[:MAX_VENDORS]:
        checks = vendor["checks"]
        breaking = vendor["drift_by_severity"]["breaking"]
        row = (
            f"| {md_text(vendor['name'], limit=CELL)} | {vendor['status']['md_symbol']} {vendor['status']['label']} "
            f"| {checks['passed']} passed, {checks['failed']} failed, {checks['skipped']} skipped "
            f"| {len(vendor['violations'])} | {len(vendor['drift'])}{f' ({breaking} breaking)' if breaking else ''} |"
        )
        if history:
            raw = raw_vendors.get(vendor["name"])
            raw = raw if isinstance(raw, dict) else {}
            new = sum(1 for _, _, item in _items(raw) if item.get("state") == "new")
            resolved = len(raw["resolved"]) if isinstance(raw.get("resolved"), list) else 0
            row += f" {new} | {resolved} | {_waived(raw)} |"
        lines.append(row)
    if len(vendors) > MAX_VENDORS:
        lines.append(f"| {len(vendors) - MAX_VENDORS} more vendor(s) in the full report | | | | |")
    return lines


def _items(entry: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(vendor-independent) kind, list name and item of every finding of a vendor entry; malformed ones skipped."""
    return [(kind, key, item) for kind, key in _KINDS for item in _list(entry.get(key)) if isinstance(item, dict)]


def _waived(entry: dict[str, Any]) -> int:
    if isinstance(entry.get("waived"), int) and not isinstance(entry.get("waived"), bool):
        return int(entry["waived"])
    return sum(1 for _, _, item in _items(entry) if _waiver(item) and not _waiver(item).get("expired"))


def _waiver(item: dict[str, Any]) -> dict[str, Any]:
    return _dict(item.get("waiver"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _findings(raw_vendors: dict[str, Any]) -> list[str]:
    """The most important findings first: not waived before waived, by severity, new before open; then what was
    resolved since the previous run. Findings that read the same (a drift change seen by several tests) share a
    line, with their number."""
    ranked = []
    for vendor, entry in raw_vendors.items():
        if not isinstance(entry, dict):
            continue
        for kind, _, item in _items(entry):
            waiver = _waiver(item)
            rank = (bool(waiver) and not waiver.get("expired"), _rank(kind, item), item.get("state") != "new")
            ranked.append((rank, str(vendor), kind, item))
        for item in _list(entry.get("resolved")):
            if isinstance(item, dict):
                ranked.append(((True, len(SEVERITIES) + 1, True), str(vendor), "resolved", item))
    if not ranked:
        return []
    ranked.sort(key=lambda found: (found[0], found[1]))
    lines: dict[str, int] = {}
    for _, vendor, kind, item in ranked:
        line = _finding_line(vendor, kind, item)
        lines[line] = lines.get(line, 0) + 1
    shown = list(lines.items())[:MAX_FINDINGS]
    title = f"**Findings** ({len(ranked)})"
    if len(lines) > len(shown):
        title = f"**Findings** ({len(ranked)}; the {len(shown)} most important of {len(lines)} lines)"
    return ["", title, "", *(f"{line} (\u00d7{count})" if count > 1 else line for line, count in shown)]


def _rank(kind: str, item: dict[str, Any]) -> int:
    if kind in ("violation", "drift"):
        return severity_rank(item.get("severity"))
    return 1 if kind == "outage" else 2  # an outage reads like a warning, a deprecation like info


def _code(value: Any) -> str:
    return str(md_code(value, table=False, limit=CELL))


def _finding_line(vendor: str, kind: str, item: dict[str, Any]) -> str:
    severity = item.get("severity") if kind in ("violation", "drift") else None
    mark = "\u2705" if kind == "resolved" else _SEVERITY_MARK.get(str(severity), "\u26aa")
    what = f"{_code(vendor)} {mark} {f'{severity} ' if severity in SEVERITIES else ''}{kind}"
    if kind == "violation":
        what += f" {_code(item.get('check_id') or item.get('check'))}"
        what += f" on {_code(item['endpoint'])}" if item.get("endpoint") else ""
    elif kind == "drift":
        what += f" {_code(item.get('kind'))}" + (f" at {_code(item['path'])}" if item.get("path") else "")
        request = step_endpoint(str(item.get("key") or ""))  # its request line says more than the test id
        what += f" on {_code(request)}" if request else f" in {_code(item.get('key'))}"
    elif kind == "deprecation":
        what += f" {_code(item.get('endpoint'))}: {md_text(item.get('observed'), limit=CELL)}"
        if item.get("announced_removal"):
            what += f" (removal: {md_text(item['announced_removal'], limit=CELL)})"
    elif kind == "outage":
        what += f" {_code(item.get('endpoint'))} answered {md_text(item.get('status'), limit=CELL)}"
        what += f" {md_text(item.get('count'), limit=CELL)} time(s)"
    else:  # resolved since the previous run
        what += f" {_code(item.get('id') or item.get('title'))}"
    state = _resolved_state(item) if kind == "resolved" else _state(item)
    return f"- {what}" + (f": {state}" if state else "")


def _state(item: dict[str, Any]) -> str:
    parts = []
    if item.get("state") == "new":
        parts.append("**new**")
    elif item.get("state") == "open":
        since = md_text(str(item.get("first_seen") or "?")[:10], limit=CELL)
        runs = item.get("runs_seen")
        parts.append(f"open since {since}" + (f" ({md_text(runs, limit=CELL)} runs)" if runs is not None else ""))
    if item.get("flapping") is True:
        parts.append("flapping")
    waiver = _waiver(item)
    if waiver:
        expires = md_text(waiver.get("expires"), limit=CELL)
        ticket = f", {md_text(waiver['ticket'], limit=2 * CELL)}" if waiver.get("ticket") else ""
        parts.append(
            f"**waiver expired** on {expires}{ticket}" if waiver.get("expired") else f"waived until {expires}{ticket}"
        )
    return ", ".join(parts)


def _resolved_state(item: dict[str, Any]) -> str:
    last = md_text(str(item.get("last_seen") or "?")[:10], limit=CELL)
    return f"resolved (last seen {last})"


def _run_url(environ: Mapping[str, str]) -> str | None:
    """The workflow run's page (where its artifacts are), from GitHub's own variables; None outside Actions."""
    server, repository, run_id = (
        environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    url = f"{server}/{repository}/actions/runs/{run_id}"
    return url if server and repository and run_id and _RUN_URL.fullmatch(url) else None

"""The vendor regression report (``authcanary report vendor``): one vendor's findings of a run, as a self-contained
HTML document and a Markdown twin meant to be sent to that vendor.

Only what the vendor needs to reproduce and judge a finding goes in: the documented behaviour and its source, what
was observed, since when, a curl reproduction (credentials are shell variables) and the environment. Nothing
internal: no other vendor (not even its name), no waiver, no notes, no test ids, no local paths (a ``file://``
source link, the baseline folder), no run folder. Every value may come from a vendor: HTML is autoescaped, Markdown
escaped by default, exactly as in the run report (:mod:`authcanary.reporting.render`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import authcanary
from authcanary.drift import step_endpoint
from authcanary.errors import ConfigError
from authcanary.files import write_atomically
from authcanary.findings import severity_rank
from authcanary.summary import read_summary

from .render import (
    _env,
    _format_time,
    _int,
    _last_day,
    _parse_time,
    _plural,
    _severity,
    _text,
    source_links,
)

__all__ = [
    "build_vendor_context",
    "load_summary",
    "render_vendor_html",
    "render_vendor_markdown",
    "vendor_report_paths",
    "write_vendor_report",
]

#: drift of these severities is reported to the vendor (info drift, e.g. an added field, is not a regression)
DRIFT_SEVERITIES = ("breaking", "warning")
_KIND_ORDER = {"violation": 0, "drift": 1, "deprecation": 2}
_KIND_LABELS = {
    "violation": "Deviation from the documented behaviour",
    "drift": "Changed behaviour since an earlier run",
    "deprecation": "Deprecated endpoint",
}
_DRIFT_KINDS = {
    "status_changed": "status code changed",
    "field_removed": "field removed",
    "type_changed": "type changed",
    "value_changed": "documented constant changed",
    "step_missing": "request no longer answered as before",
    "format_changed": "value format changed",
    "header_changed": "header changed",
}
#: deprecations carry no severity of their own: they are listed after the violations and drift
DEPRECATION_SEVERITY = {
    "key": "deprecation",
    "label": "Deprecation",
    "css": "info",
    "symbol": "i",
    "md_symbol": "\U0001f535",
}
_VARIABLE_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HTTPS_URL_RE = re.compile(r"https://[^\s\"'<>\\`]+")

# --------------------------------------------------------------------------- view model


def _clean(value: Any) -> str | None:
    text = _text(value)
    return text if text is not None and text.strip() else None


def _public_base_url(value: Any) -> str | None:
    """The vendor's base URL without credentials: no user info, query or fragment (a key may sit in any)."""
    text = _clean(value)
    if text is None:
        return None
    try:
        parts = urlsplit(text.strip())
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
    except ValueError:
        return None
    if not parts.scheme or not netloc:
        return None
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _https_link(value: Any) -> str | None:
    """A check's source link when it is a public https URL, without user info or query (a ``file://`` one is a local
    path: never shown)."""
    text = (_clean(value) or "").strip()
    if not _HTTPS_URL_RE.fullmatch(text):
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    netloc = host + (f":{port}" if port is not None else "")
    return urlunsplit(("https", netloc, parts.path, "", parts.fragment)).replace("(", "%28").replace(")", "%29")


def _history(raw: dict[str, Any]) -> dict[str, Any]:
    runs = raw.get("runs_seen")
    state = _clean(raw.get("state"))
    return {
        "first_seen": _format_time(raw["first_seen"]) if _parse_time(raw.get("first_seen")) else None,
        "runs_seen": _int(runs) if runs is not None and _int(runs) > 0 else None,
        "new": state == "new",
    }


def _violation(raw: dict[str, Any]) -> dict[str, Any]:
    source = _clean(raw.get("vendor_source") or raw.get("source"))  # the vendor's own document names first
    return {
        "kind": "violation",
        "title": _clean(raw.get("check")) or _clean(raw.get("check_id")) or "(unnamed check)",
        "endpoint": _clean(raw.get("endpoint")) or "",
        "severity": _severity(raw.get("severity")),
        "reference": _clean(raw.get("check_id")) or "",
        "expected_label": "Documented behaviour",
        "expected": _text(raw.get("expected")),
        "source": source_links(source) if source else [],
        "source_link": _https_link(raw.get("source_url")),
        "observed": _text(raw.get("observed")),
        "reasons": [],
        "repro": _clean(raw.get("repro")) or "",
        **_history(raw),
    }


def _drift(raw: dict[str, Any]) -> dict[str, Any]:
    kind = _clean(raw.get("kind")) or ""
    path = _clean(raw.get("path")) or ""
    what = _DRIFT_KINDS.get(kind, kind.replace("_", " ") or "changed")
    return {
        "kind": "drift",
        "title": f"{what[:1].upper()}{what[1:]}" + (f": {path}" if path and path != "status" else ""),
        "endpoint": step_endpoint(_text(raw.get("key")) or ""),
        "severity": _severity(raw.get("severity")),
        "reference": "",
        "expected_label": "Behaviour observed in an earlier run",
        "expected": _text(raw.get("baseline")),
        "source": [],
        "source_link": None,
        "observed": _text(raw.get("current")),
        "reasons": [],
        "repro": "",
        **_history(raw),
    }


def _grouped_drift(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One finding per change: the same change of one endpoint recorded by several scenarios (one drift item per
    recorded step) is one finding, "seen in N recorded requests"; the earliest first-seen of them stands."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in items:
        key = (item["title"], item["endpoint"], item["expected"], item["observed"], item["severity"]["key"])
        if key not in groups:
            groups[key] = {**item, "occurrences": 1}
            continue
        group = groups[key]
        group["occurrences"] += 1
        if item.get("first_seen") and (not group.get("first_seen") or item["first_seen"] < group["first_seen"]):
            group["first_seen"] = item["first_seen"]
    return list(groups.values())


def _deprecation(raw: dict[str, Any], run_day: Any) -> dict[str, Any] | None:
    """A deprecation worth reporting: its replacement fails, or it is past its announced removal."""
    removal = _clean(raw.get("announced_removal"))
    last_day = _last_day(removal) if removal else None
    past = bool(last_day and run_day and last_day < run_day)
    failing = raw.get("replacement_ok") is False
    if not (past or failing):
        return None
    endpoint = _clean(raw.get("endpoint")) or ""
    replacement = _clean(raw.get("replacement"))
    reasons = []
    if failing:
        reasons.append("the documented replacement does not work")
    if past:
        reasons.append(f"the announced removal date ({removal}) has passed")
    ok = raw.get("replacement_ok")
    works = "was not checked" if not isinstance(ok, bool) else "works" if ok else "does not work"
    return {
        "kind": "deprecation",
        "title": f"Deprecated: {endpoint}" if endpoint else "Deprecated endpoint",
        "endpoint": endpoint,
        "severity": DEPRECATION_SEVERITY,
        "reference": "",
        "expected_label": "Announced",
        "expected": f"removal on {removal or '(no date announced)'}; replacement: {replacement or '(none documented)'}",
        "source": [],
        "source_link": None,
        "observed": f"{_text(raw.get('observed')) or '(not recorded)'}; the replacement {works}",
        "reasons": reasons,
        "repro": "",
        **_history(raw),
    }


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def ran_vendors(summary: dict[str, Any]) -> list[str]:
    """The vendors of a run that were not skipped."""
    vendors = summary.get("vendors")
    if not isinstance(vendors, dict):
        return []
    return sorted(
        str(name) for name, entry in vendors.items() if isinstance(entry, dict) and entry.get("status") != "skipped"
    )


def build_vendor_context(summary: dict[str, Any], vendor: str) -> dict[str, Any]:
    """The view model of ``vendor``'s report: only that vendor's entry and the run's environment are read."""
    vendors = summary.get("vendors") if isinstance(summary.get("vendors"), dict) else {}
    raw = vendors.get(vendor) if isinstance(vendors, dict) else None
    raw = raw if isinstance(raw, dict) else {}
    started = _parse_time(summary.get("started")) or _parse_time(summary.get("finished"))
    run_day = started.date() if started else None

    findings = [_violation(v) for v in _dicts(raw.get("violations"))]
    findings += _grouped_drift(
        [_drift(d) for d in _dicts(raw.get("drift")) if (_text(d.get("severity")) or "").lower() in DRIFT_SEVERITIES]
    )
    findings += [f for d in _dicts(raw.get("deprecations")) if (f := _deprecation(d, run_day))]
    findings.sort(
        key=lambda f: (severity_rank(f["severity"]["key"]), _KIND_ORDER[f["kind"]], f["title"].lower(), f["endpoint"])
    )
    for number, finding in enumerate(findings, start=1):
        finding["number"] = number
        finding["kind_label"] = _KIND_LABELS[finding["kind"]]

    outages = [
        {
            "endpoint": _clean(o.get("endpoint")) or "(unknown endpoint)",
            "status": _int(o.get("status")),
            "count": _int(o.get("count")),
        }
        for o in _dicts(raw.get("outages"))
    ]
    variables = sorted({name for f in findings for name in _VARIABLE_RE.findall(f["repro"])})
    checks: dict[str, Any] = raw["checks"] if isinstance(raw.get("checks"), dict) else {}
    counts = {kind: sum(1 for f in findings if f["kind"] == kind) for kind in _KIND_ORDER}
    parts = [
        _plural(counts["violation"], "deviation from the documentation", "deviations from the documentation"),
        _plural(counts["drift"], "change since an earlier run", "changes since an earlier run"),
        _plural(counts["deprecation"], "deprecation issue"),
    ]
    return {
        "vendor": vendor,
        "target": _clean(summary.get("target")) or "(not recorded)",
        "base_url": _public_base_url(raw.get("base_url")),
        "started": _format_time(summary.get("started")),
        "harness_version": _clean(summary.get("harness_version")) or authcanary.__version__,
        "replay": _text(summary.get("mode")) == "replay",
        "simulator_profile": _clean(raw.get("simulator_profile")),
        "checks_run": sum(_int(checks.get(k)) for k in ("passed", "failed")),
        "findings": findings,
        "counts": counts,
        "summary_line": ", ".join(p for p, k in zip(parts, _KIND_ORDER, strict=True) if counts[k]),
        "unreachable": raw.get("status") == "unreachable",
        "outages": outages,
        "variables": variables,
    }


# --------------------------------------------------------------------------- rendering


def render_vendor_html(summary: dict[str, Any], vendor: str) -> str:
    """The self-contained HTML vendor report (inline CSS; links only to rfc-editor.org and https check sources)."""
    return _env(False).get_template("vendor.html.j2").render(**build_vendor_context(summary, vendor))


def render_vendor_markdown(summary: dict[str, Any], vendor: str) -> str:
    """The Markdown twin of the HTML vendor report (GitHub/GitLab flavoured)."""
    text = _env(True).get_template("vendor.md.j2").render(**build_vendor_context(summary, vendor))
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- the command


def load_summary(run_dir: Path) -> dict[str, Any]:
    """RUN_DIR's summary.json; a missing or unreadable one is a ConfigError (exit 2)."""
    path = Path(run_dir) / "summary.json"
    fix = "Pass the folder of a finished `authcanary run` (it holds summary.json)."
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no summary.json, so not the folder of a finished run.", fix)
    return read_summary(path, fix)


def vendor_report_paths(run_dir: Path, vendor: str, out: Path | None) -> tuple[Path, Path]:
    """Where the HTML and the Markdown go: ``RUN_DIR/vendor-report-<V>.html`` and ``.md`` by default; ``--out
    X.html`` or ``X.md``: X.html and X.md; an existing folder: the default names in it; any other name gets
    ``.html`` and ``.md`` appended (``X.txt``: X.txt.html and X.txt.md)."""
    name = "vendor-report-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", vendor).strip("-.") or "vendor")
    if out is None:
        stem = Path(run_dir) / name
    elif out.is_dir():
        stem = out / name
    elif out.suffix.lower() in (".html", ".md"):
        stem = out.with_suffix("")
    else:
        stem = out
    return stem.with_name(stem.name + ".html"), stem.with_name(stem.name + ".md")


def _refuse_baseline(paths: tuple[Path, Path], run_dir: Path, summary: dict[str, Any]) -> None:
    folders = [Path("cassettes"), Path(run_dir) / "cassettes"]
    if isinstance(summary.get("baseline"), str) and summary["baseline"].strip():
        folders.append(Path(summary["baseline"]))
    for path in paths:
        for folder in folders:
            if path.resolve().is_relative_to(folder.resolve()):
                raise ConfigError(
                    f"{path}: inside the cassettes folder {folder}, where reports must not go.",
                    "Pass --out FILE outside it (the default is the run folder).",
                )


def _scan(texts: dict[str, str]) -> list[str]:
    """Suspected secrets in the rendered documents, before they are written."""
    from authcanary.recording.scan import scan_texts

    return [f"{hit.file.name}:{hit.line}: {hit.kind}" for hit in scan_texts(texts)]


def write_vendor_report(run_dir: Path, vendor: str, out: Path | None = None) -> tuple[Path, Path]:
    """Write ``vendor``'s regression report of the run in ``run_dir``; returns the HTML and Markdown paths.

    ConfigError (exit 2): no or unreadable summary.json, a vendor that did not run, an output inside a cassettes
    folder, or a suspected secret in the rendered report (nothing is written then)."""
    summary = load_summary(run_dir)
    ran = ran_vendors(summary)
    if vendor not in ran:
        why = "was skipped in" if vendor in summary["vendors"] else "is not in"
        raise ConfigError(
            f"vendor '{vendor}' {why} the run {run_dir}.",
            f"Use one of the vendors that ran: {', '.join(ran)}." if ran else "No vendor ran in this run: run again.",
        )
    paths = vendor_report_paths(run_dir, vendor, out)
    _refuse_baseline(paths, run_dir, summary)
    html_text = render_vendor_html(summary, vendor)
    md_text_ = render_vendor_markdown(summary, vendor)
    if hits := _scan({paths[0].name: html_text, paths[1].name: md_text_}):
        raise ConfigError(
            f"the vendor report would hold what looks like a secret ({'; '.join(hits[:3])}); nothing was written.",
            f"Check the run with `authcanary scan {run_dir}` and rotate any leaked credential.",
        )
    write_atomically(paths[0], html_text)
    write_atomically(paths[1], md_text_)
    return paths

"""Render a run's ``summary.json`` (schema ``authcanary.summary/1``) as ``report.html`` and ``report.md``.

The summary is normalised into a view model here (sorting, counting, verdict wording, time formatting),
so the templates only lay it out. Every value in a summary may come from a vendor's response, so:

* HTML is rendered with Jinja autoescaping on; no vendor value is ever placed in an attribute. The only
  links built are RFC links parsed from a check's documented source, a check's ``source_url`` and a
  waiver's ticket (both from our own configuration, and only with an allowed scheme).
* Markdown is rendered with "escape by default": a ``finalize`` hook escapes every ``{{ ... }}`` output
  for inline Markdown (pipes, HTML, emphasis, links, math, newlines) unless a filter already produced
  a safe :class:`markupsafe.Markup` (code spans, fenced blocks).

The renderer is lenient: a malformed or partial summary still produces a readable report (reports are
written at the very end of a run, a crash here would lose everything the run found).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from authcanary.files import write_atomically
from authcanary.findings import SEVERITIES, severity_rank
from authcanary.summary import DEFAULT_POLICY, SCHEMA, FailPolicy, run_policy

__all__ = [
    "SCHEMA",
    "TRUNCATE_AT",
    "build_context",
    "render_html",
    "render_markdown",
    "source_links",
    "write_reports",
]

#: Long values are cut to this many characters in tables (Markdown) and previews (HTML).
TRUNCATE_AT = 300
ELLIPSIS = "\u2026"

# status -> (label, css class, html symbol, markdown symbol)
STATUS_STYLES: dict[str, tuple[str, str, str, str]] = {
    "ok": ("OK", "ok", "\u2713", "\u2705"),
    "violations": ("Violations", "bad", "\u2717", "\u274c"),
    "drift": ("Drift", "warn", "\u25b2", "\u26a0\ufe0f"),
    "unreachable": ("Unreachable", "down", "\u2298", "\U0001f50c"),
    "skipped": ("Skipped", "neutral", "\u2013", "\u23ed\ufe0f"),
}
UNKNOWN_STATUS = ("Unknown", "neutral", "?", "\u2754")

SEVERITY_STYLES: dict[str, tuple[str, str, str]] = {
    # severity -> (css class, html symbol, markdown symbol)
    "breaking": ("bad", "\u2717", "\U0001f534"),
    "warning": ("warn", "\u25b2", "\U0001f7e0"),
    "info": ("info", "i", "\U0001f535"),
}
UNKNOWN_SEVERITY = ("neutral", "?", "\u26aa")

# exit code -> (headline, css class, html symbol, markdown symbol)
VERDICTS: dict[int, tuple[str, str, str, str]] = {
    0: ("Compliant", "ok", "\u2713", "\u2705"),
    1: ("Not compliant", "bad", "\u2717", "\u274c"),
    2: ("Configuration error", "warn", "!", "\u26a0\ufe0f"),
    3: ("Target unreachable", "down", "\u2298", "\U0001f50c"),
    130: ("Interrupted", "warn", "!", "\u23f9\ufe0f"),
}

_FALLBACK_FIELD = {
    "violations": "observed",
    "drift": "current",
    "deprecations": "observed",
    "migration": "note",
    "ambiguities": "text",
    "resolved": "title",
}

# whether a replacement works (deprecations, migration steps) -> (label, css class, html symbol, markdown symbol)
REPLACEMENT_STATES: dict[bool | None, tuple[str, str, str, str]] = {
    True: ("works", "ok", "\u2713", "\u2705"),
    False: ("fails", "bad", "\u2717", "\u274c"),
    None: ("not checked", "neutral", "\u2013", ""),
}
# report.md headings between the overview and the vendor sections (their GitHub anchors come before the vendors')
TREND_HEADING = "Trend"
CALENDAR_HEADING = "Removal calendar"
WAIVERS_HEADING = "Stale and expired waivers"

#: a capability without a documented replacement: reported, neutral (not a failure)
MIGRATION_GAP = ("migration gap: no documented replacement", "neutral", "\u2013", "\u2139\ufe0f")


# --------------------------------------------------------------------------- value helpers


def _text(value: Any) -> str | None:
    """A summary value as display text; ``None`` stays ``None`` (meaning: not recorded / absent)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return 0
    return 0


def _entries(value: Any, kind: str) -> list[dict[str, Any]]:
    """A list of finding dicts; malformed entries are kept (as text), never silently dropped."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, (list, tuple)):
        value = [value]
    out: list[dict[str, Any]] = []
    for item in value:
        if isinstance(item, dict):
            out.append(item)
        else:
            out.append({_FALLBACK_FIELD[kind]: _text(item)})
    return out


def _notes(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        value = [value]
    return [t for t in (_text(v) for v in value) if t is not None and t.strip()]


def truncate(value: Any, limit: int = TRUNCATE_AT) -> str:
    """Cut ``value`` to about ``limit`` characters, preferring a word boundary, and add an ellipsis."""
    text = _text(value) or ""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    raw = value.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # the schema's timestamps are UTC
    return parsed.astimezone(UTC)


def _format_time(value: Any) -> str:
    parsed = _parse_time(value)
    if parsed is not None:
        return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")
    text = _text(value)
    return text if text else "not recorded"


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "unknown"
    if seconds < 10:
        return f"{seconds:.1f} s"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def _join_words(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _severity(value: Any) -> dict[str, str]:
    key = (_text(value) or "").strip().lower()
    css, symbol, md_symbol = SEVERITY_STYLES.get(key, UNKNOWN_SEVERITY)
    label = key.capitalize() if key else "Unspecified"
    return {"key": key or "unspecified", "label": label, "css": css, "symbol": symbol, "md_symbol": md_symbol}


def _status(value: Any) -> dict[str, str]:
    key = (_text(value) or "").strip().lower()
    label, css, symbol, md_symbol = STATUS_STYLES.get(key, UNKNOWN_STATUS)
    if key and key not in STATUS_STYLES:
        label = key.capitalize()
    return {"key": key or "unknown", "label": label, "css": css, "symbol": symbol, "md_symbol": md_symbol}


def _github_slug(text: str, taken: dict[str, int]) -> str:
    """The anchor GitHub/GitLab give a heading with this text (with their -1, -2 de-duplication)."""
    slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
    count = taken.get(slug, 0)
    taken[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


# --------------------------------------------------------------------------- history, waivers, sources

# history state -> (css class, markdown symbol)
STATE_STYLES: dict[str, tuple[str, str]] = {"new": ("new", "\U0001f195"), "open": ("open", "\U0001f501")}
FLAPPING_MD = "\u3030\ufe0f"
WAIVED_MD = "\u23f8\ufe0f"
WAIVER_EXPIRED_MD = "\u274c"

#: the schemes a link from our own configuration may have (a check's source_url, a waiver's ticket)
SOURCE_URL_SCHEMES = ("https://", "http://", "file://")
TICKET_URL_SCHEMES = ("https://", "http://")
#: at most this many runs in the trend strip (a summary carries the last 14: history.TREND_RUNS)
TREND_MAX = 30

_SECTION_NUMBER = r"(?:\d+(?:\.\d+)*|[A-Z](?:\.\d+)*)(?![A-Za-z0-9])"
_SECTION_MARK = r"(?:\u00a7|\b[Ss]ection[ \u00a0]+)[ \u00a0]*"
_REFERENCE = re.compile(
    rf"\bRFC[ \u00a0-]?(?P<rfc>\d{{1,5}})\b(?:[ \u00a0]*{_SECTION_MARK}(?P<rfc_section>{_SECTION_NUMBER}))?"
    rf"|{_SECTION_MARK}(?P<section>{_SECTION_NUMBER})"
)
# what may stand between two sections of one RFC: "RFC 7519 §4.1.4 (exp), §4.1.6 (iat)", "RFC 6749 §2.3.1, §3.2"
_SAME_RFC = re.compile(r"\s*(?:\([^();]*\))?\s*(?:,|and|&|or)?\s*")


def _rfc_url(number: str, section: str | None) -> str:
    url = f"https://www.rfc-editor.org/rfc/rfc{int(number)}"
    if section:
        url += ("#appendix-" if section[0].isalpha() else "#section-") + section
    return url


def source_links(text: Any) -> list[tuple[str, str | None]]:
    """A documented source split into (text, href) parts: "RFC 6749 §5.2" links to its RFC section, and a further
    "§5.3" of the same RFC (after a comma or a parenthesis) to its own; everything else is text (href None).
    The href is built from the parsed numbers only, never copied from the text."""
    source = _text(text) or ""
    parts: list[tuple[str, str | None]] = []
    pos = 0
    rfc: str | None = None
    for match in _REFERENCE.finditer(source):
        if match.group("rfc"):
            if int(match.group("rfc")) == 0:
                continue
            rfc, section = match.group("rfc"), match.group("rfc_section")
        elif rfc is not None and _SAME_RFC.fullmatch(source[pos : match.start()]):
            section = match.group("section")
        else:
            rfc = None  # a section of something else ("seed 003 §4"): the RFC's run of sections ended
            continue
        if match.start() > pos:
            parts.append((source[pos : match.start()], None))
        parts.append((match.group(0), _rfc_url(rfc, section)))
        pos = match.end()
    if pos < len(source):
        parts.append((source[pos:], None))
    return parts


def _safe_url(value: Any, schemes: tuple[str, ...]) -> str | None:
    """``value`` as an href if it starts with one of ``schemes`` (characters that do not belong in a URL are
    percent-encoded), else None."""
    text = (_text(value) or "").strip()
    if not text.lower().startswith(schemes) or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return None
    return quote(text, safe=":/?#[]@!$&()*+,;=%~-._")


def _date_label(value: Any) -> str | None:
    """A timestamp as its UTC date (`2026-11-05`); text that is no timestamp as it is."""
    parsed = _parse_time(value)
    if parsed is not None:
        return parsed.strftime("%Y-%m-%d")
    text = _text(value)
    return text.strip() if text and text.strip() else None


def _waiver(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    expires = _text(raw.get("expires"))
    expired = raw.get("expired") is True
    ticket = _text(raw.get("ticket"))
    return {
        "reason": _text(raw.get("reason")),
        "ticket": ticket,
        "ticket_url": _safe_url(ticket, TICKET_URL_SCHEMES),
        "expires": expires,
        "expired": expired,
        "label": f"waiver expired {expires or '(no date)'}" if expired else "waived",
    }


def _lifecycle(raw: dict[str, Any]) -> dict[str, Any]:
    """A finding's history state (new / open since ... / flapping) and waiver, as the reports show them."""
    state = (_text(raw.get("state")) or "").strip().lower()
    first_seen = _date_label(raw.get("first_seen"))
    runs_seen = _int(raw.get("runs_seen")) if raw.get("runs_seen") is not None else None
    if state == "open":
        label = "open"
        if first_seen:
            label += f" since {first_seen}"
        if runs_seen:
            label += f" ({_plural(runs_seen, 'run')})"
    else:
        label = state
    css, md_symbol = STATE_STYLES.get(state, ("neutral", ""))
    waiver = _waiver(raw.get("waiver"))
    flapping = raw.get("flapping") is True
    return {
        "state": state or None,
        "label": label,
        "css": css,
        "md_symbol": md_symbol,
        "first_seen": first_seen,
        "runs_seen": runs_seen,
        "flapping": flapping,
        "waiver": waiver,
        "waived": bool(waiver and not waiver["expired"]),
        "waiver_expired": bool(waiver and waiver["expired"]),
        "shown": bool(state or flapping or waiver),
    }


def _resolved(raw: dict[str, Any]) -> dict[str, Any]:
    kind = (_text(raw.get("kind")) or "").strip() or "finding"
    return {
        "id": _text(raw.get("id")) or "",
        "kind": kind,
        "title": _text(raw.get("title")) or _text(raw.get("id")) or "(untitled finding)",
        "endpoint": _text(raw.get("endpoint")) or "",
        "first_seen": _date_label(raw.get("first_seen")),
        "last_seen": _date_label(raw.get("last_seen")),
        "runs_seen": _int(raw.get("runs_seen")) if raw.get("runs_seen") is not None else None,
    }


def _trend_run(raw: dict[str, Any], current: bool) -> dict[str, Any]:
    """One run of the trend strip. Its title (an attribute) is built from a parsed date and numbers only."""
    code = raw.get("exit_code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    unknown = ("Unknown outcome", "neutral", "?", "\u2754")
    headline, css, symbol, md_symbol = VERDICTS.get(code, unknown) if code is not None else unknown
    started = _parse_time(raw.get("started"))
    counts = {key: _int(raw.get(key)) for key in ("findings", "new", "resolved", "waived")}
    when = started.strftime("%Y-%m-%d %H:%M UTC") if started else "date not recorded"
    title = (
        f"{when}{' (this run)' if current else ''}: exit {code if code is not None else 'none'} ({headline}), "
        f"{_plural(counts['findings'], 'finding')}: {counts['new']} new, {counts['resolved']} resolved, "
        f"{counts['waived']} waived"
    )
    return {
        "date": started.strftime("%Y-%m-%d") if started else "?",
        "short": started.strftime("%m-%d") if started else "?",
        "code": code,
        "headline": headline,
        "css": css,
        "symbol": symbol,
        "md_symbol": md_symbol,
        "title": title,
        "current": current,
        **counts,
    }


def _history(raw: Any) -> dict[str, Any] | None:
    """The top-level `history` block (absent when history is off)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        return {"path": None, "previous_run": None, "first_run": False, "trend": [], "error": _text(raw)}
    runs = [r for r in raw.get("trend", []) if isinstance(r, dict)] if isinstance(raw.get("trend"), list) else []
    runs = runs[-TREND_MAX:]
    error = _text(raw.get("error"))
    previous = raw.get("previous_run")
    return {
        "path": _text(raw.get("path")),
        "previous_run": _format_time(previous) if previous else None,
        "first_run": "previous_run" in raw and not previous,
        "trend": [_trend_run(r, i == len(runs) - 1) for i, r in enumerate(runs)],
        "error": error if error and error.strip() else None,
    }


def _waiver_entry(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raw = {"reason": _text(raw)}
    waiver = _waiver(raw) or {}
    matches = [
        (label, text)
        for label, key in (("check", "check"), ("drift", "drift"), ("endpoint", "endpoint"), ("target", "target"))
        if (text := _text(raw.get(key)))
    ]
    return {**waiver, "vendor": _text(raw.get("vendor")) or "", "matches": matches}


def _waivers(raw: Any) -> dict[str, Any] | None:
    """The top-level `waivers` block (absent when there is no waivers file)."""
    if not isinstance(raw, dict):
        return None

    def entries(key: str) -> list[dict[str, Any]]:
        value = raw.get(key)
        return [_waiver_entry(w) for w in value] if isinstance(value, list) else []

    return {"path": _text(raw.get("path")), "stale": entries("stale"), "expired": entries("expired")}


def _calendar(vendors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every deprecation and migration step with an announced removal, soonest first (a year or month counts as
    its last day; a removal that is no date comes last)."""
    rows: list[dict[str, Any]] = []
    for vendor in vendors:
        for d in vendor["deprecations"]:
            if d["announced_removal"] and d["announced_removal"].strip():
                rows.append(
                    {
                        "vendor": vendor["name"],
                        "kind": "deprecation",
                        "what": "",
                        "endpoint": d["endpoint"],
                        "removal": d["announced_removal"],
                        "observed": d["observed"],
                        "replacement": d["replacement"] or "",
                        "state": d["replacement_ok"],
                        "when": d["when"],
                        "day": _last_day(d["announced_removal"]),
                    }
                )
        for m in vendor["migration"]:
            if m["announced_removal"]:
                rows.append(
                    {
                        "vendor": vendor["name"],
                        "kind": "migration",
                        "what": m["capability"],
                        "endpoint": m["legacy_endpoint"],
                        "removal": m["announced_removal"],
                        "observed": m["legacy_observed"],
                        "replacement": m["replacement"],
                        "state": m["state"],
                        "when": m["when"],
                        "day": _last_day(m["announced_removal"]),
                    }
                )
    rows.sort(key=lambda r: (r["day"] or date.max, r["day"] is None, r["vendor"], r["endpoint"], r["what"]))
    return rows


def _when(removal: str | None, run_day: date | None) -> dict[str, str]:
    """Whether an announced removal lies before the run's day: past, upcoming, or unknown (no date either side)."""
    last_day = _last_day(removal) if removal else None
    if last_day is None or run_day is None:
        return {"key": "unknown", "label": "unknown", "css": "neutral", "symbol": "?", "md_symbol": "\u2754"}
    if last_day < run_day:
        return {"key": "past", "label": "past", "css": "bad", "symbol": "!", "md_symbol": "\u23f0"}
    return {"key": "upcoming", "label": "upcoming", "css": "info", "symbol": "\u2192", "md_symbol": "\U0001f4c5"}


# --------------------------------------------------------------------------- view model


def _violation(raw: dict[str, Any]) -> dict[str, Any]:
    source = _text(raw.get("source"))
    check_file = _text(raw.get("check_file"))
    check_line = _int(raw.get("check_line"))
    tests = [t for t in map(_text, raw["tests"]) if t] if isinstance(raw.get("tests"), list) else []
    return {
        "id": _text(raw.get("id")) or "",
        "check": _text(raw.get("check")) or "(unnamed check)",
        "check_id": _text(raw.get("check_id")) or "",
        "endpoint": _text(raw.get("endpoint")) or "",
        "expected": _text(raw.get("expected")),
        "observed": _text(raw.get("observed")),
        "severity": _severity(raw.get("severity")),
        "repro": _text(raw.get("repro")) or "",
        "tests": list(dict.fromkeys(tests)),
        "source": source if source and source.strip() else None,
        "source_parts": source_links(source) if source and source.strip() else [],
        "source_url": _safe_url(raw.get("source_url"), SOURCE_URL_SCHEMES),
        "check_ref": (f"{check_file}:{check_line}" if check_line > 0 else check_file) if check_file else None,
        "life": _lifecycle(raw),
    }


def _violation_identity(v: dict[str, Any]) -> tuple[str, ...]:
    """One finding per identity: the summary's `id`, else check id and endpoint, else everything it says."""
    if v["id"]:
        return ("id", v["id"])
    if v["check_id"]:
        return ("check", v["check_id"], v["endpoint"])
    return ("text", v["check"], v["endpoint"], v["expected"] or "", v["observed"] or "", v["severity"]["key"])


def _grouped(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Violations with the same identity as one finding, seen by all their tests (the worse severity stands).
    Runs group them already; merged or hand-made summaries may not."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for v in violations:
        key = _violation_identity(v)
        known = out.get(key)
        if known is None:
            out[key] = v
            continue
        tests = list(dict.fromkeys([*known["tests"], *v["tests"]]))
        if severity_rank(v["severity"]["key"]) < severity_rank(known["severity"]["key"]):
            out[key] = known = v
        known["tests"] = tests
    return list(out.values())


def _drift(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": _text(raw.get("key")) or "",
        "kind": _text(raw.get("kind")) or "",
        "path": _text(raw.get("path")) or "",
        "baseline": _text(raw.get("baseline")),
        "current": _text(raw.get("current")),
        "severity": _severity(raw.get("severity")),
        "life": _lifecycle(raw),
    }


def _replacement_state(ok: Any) -> dict[str, str]:
    """How `replacement_ok` reads: works, fails, or (anything but a boolean) not checked."""
    label, css, symbol, md_symbol = REPLACEMENT_STATES[ok if isinstance(ok, bool) else None]
    return {"label": label, "css": css, "symbol": symbol, "md_symbol": md_symbol}


def _removal_passed(removal: str | None, run_day: date | None) -> bool:
    last_day = _last_day(removal) if removal else None
    return bool(last_day and run_day and last_day < run_day)


def _deprecation(raw: dict[str, Any], run_day: date | None) -> dict[str, Any]:
    removal = _text(raw.get("announced_removal"))
    return {
        "endpoint": _text(raw.get("endpoint")) or "",
        "announced_removal": removal,
        "removal_passed": _removal_passed(removal, run_day),
        "observed": _text(raw.get("observed")),
        "replacement": _text(raw.get("replacement")),
        "replacement_ok": _replacement_state(raw.get("replacement_ok")),
        "when": _when(removal, run_day),
        "life": _lifecycle(raw),
    }


def _migration_step(raw: dict[str, Any], run_day: date | None) -> dict[str, Any]:
    """A migration step; a gap (no documented replacement) reads as such, neutral, whatever `replacement_ok`
    says; only a boolean `true` gap is one (a malformed value is not)."""
    removal = (_text(raw.get("announced_removal")) or "").strip() or None
    gap = raw.get("gap") is True
    ok = raw.get("replacement_ok")
    if gap:
        label, css, symbol, md_symbol = MIGRATION_GAP
        state = {"label": label, "css": css, "symbol": symbol, "md_symbol": md_symbol}
    else:
        state = _replacement_state(ok)
    note = _text(raw.get("note"))
    return {
        "capability": _text(raw.get("capability")) or "(unnamed capability)",
        "legacy_endpoint": _text(raw.get("legacy_endpoint")) or "",
        "announced_removal": removal,
        "removal_passed": _removal_passed(removal, run_day),
        "when": _when(removal, run_day),
        "legacy_observed": _text(raw.get("legacy_observed")),
        "replacement": _text(raw.get("replacement")) or "",
        "gap": gap,
        "state": state,
        "ready": not gap and ok is True,
        "failing": not gap and ok is False,
        "note": note if note and note.strip() else None,
    }


def _readiness(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """How many capabilities can migrate today, e.g. `3/5 ready` and `1 failing, 1 gap`."""
    ready = sum(1 for step in steps if step["ready"])
    failing = sum(1 for step in steps if step["failing"])
    gaps = sum(1 for step in steps if step["gap"])
    not_checked = len(steps) - ready - failing - gaps
    parts = [f"{failing} failing"] if failing else []
    if gaps:
        parts.append(_plural(gaps, "gap"))
    if not_checked:
        parts.append(f"{not_checked} not checked")
    return {
        "total": len(steps),
        "ready": ready,
        "failing": failing,
        "gaps": gaps,
        "not_checked": not_checked,
        "label": f"{ready}/{len(steps)} ready" if steps else "",
        "detail": ", ".join(parts),
    }


def _last_day(when: str) -> date | None:
    """The last day a date, a month (`2025-06`) or a year (`2025`) covers; None if `when` is none of these."""
    when = when.strip()
    try:
        if re.fullmatch(r"\d{4}", when):
            return date(int(when), 12, 31)
        if re.fullmatch(r"\d{4}-\d{2}", when):
            year, month = map(int, when.split("-"))
            return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
        return date.fromisoformat(when[:10])
    except ValueError:
        return None


def _ambiguity(raw: dict[str, Any]) -> dict[str, Any]:
    return {"where": _text(raw.get("where")) or "", "text": _text(raw.get("text"))}


def _vendor(
    name: str, raw: Any, index: int, run_day: date | None, policy: FailPolicy = DEFAULT_POLICY
) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raw = {"error": f"malformed vendor entry in summary: {_text(raw)}"}
    status = _status(raw.get("status"))
    checks_raw = raw.get("checks") if isinstance(raw.get("checks"), dict) else {}
    checks = {k: _int(checks_raw.get(k)) for k in ("passed", "failed", "skipped")}

    violations = _grouped([_violation(v) for v in _entries(raw.get("violations"), "violations")])
    outages: list[dict[str, Any]] = [
        {
            "endpoint": _text(o.get("endpoint")),
            "status": _int(o.get("status")),
            "count": _int(o.get("count")),
            "life": _lifecycle(o),
        }
        for o in (raw.get("outages") if isinstance(raw.get("outages"), list) else [])
        if isinstance(o, dict)
    ]
    # waived findings last: what fails the run comes first
    violations.sort(
        key=lambda v: (v["life"]["waived"], severity_rank(v["severity"]["key"]), v["check"].lower(), v["endpoint"])
    )

    drift = [_drift(d) for d in _entries(raw.get("drift"), "drift")]
    drift.sort(key=lambda d: (severity_rank(d["severity"]["key"]), d["key"], d["path"], d["kind"]))
    groups: list[dict[str, Any]] = []
    for item in drift:
        if not groups or groups[-1]["severity"]["key"] != item["severity"]["key"]:
            groups.append({"severity": item["severity"], "entries": []})
        groups[-1]["entries"].append(item)
    drift_by_severity = {sev: 0 for sev in SEVERITIES}
    for item in drift:
        if item["severity"]["key"] in drift_by_severity:
            drift_by_severity[item["severity"]["key"]] += 1

    deprecations = [_deprecation(d, run_day) for d in _entries(raw.get("deprecations"), "deprecations")]
    deprecations.sort(key=lambda d: d["endpoint"])
    migration = [_migration_step(m, run_day) for m in _entries(raw.get("migration"), "migration")]
    migration.sort(key=lambda m: (m["capability"].lower(), m["capability"], m["legacy_endpoint"]))
    ambiguities = [_ambiguity(a) for a in _entries(raw.get("ambiguities"), "ambiguities")]
    resolved = [_resolved(r) for r in _entries(raw.get("resolved"), "resolved")]
    unchecked = [_resolved(r) for r in _entries(raw.get("unchecked"), "unchecked")]

    lives: list[dict[str, Any]] = [f["life"] for kind in (violations, drift, deprecations, outages) for f in kind]
    waived = sum(1 for life in lives if life["waived"])
    if isinstance(raw.get("waived"), int) and not isinstance(raw.get("waived"), bool):
        waived = max(waived, raw["waived"])  # the run counts what its waivers cover; never show fewer than listed
    history = {
        "new": sum(1 for life in lives if life["state"] == "new"),
        "open": sum(1 for life in lives if life["state"] == "open"),
        "resolved": len(resolved),
        "waived": waived,
        "expired": sum(1 for life in lives if life["waiver_expired"]),
    }

    if status["key"] == "skipped":
        not_run = "vendor skipped: no checks ran"
    elif status["key"] == "unreachable":
        not_run = "vendor unreachable: checks could not run"
    else:
        not_run = ""

    error = _text(raw.get("error"))
    return {
        "name": name,
        "anchor": f"vendor-{index}-" + (re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-") or "x"),
        "status": status,
        "checks": checks,
        "requests": _int(raw.get("requests")),
        "retries": _int(raw.get("retries")),
        "outages": outages,
        "lost": sum(outage["count"] for outage in outages),
        "violations": violations,
        "violations_breaking": sum(1 for v in violations if v["severity"]["key"] == "breaking"),
        # what fails the run, as summary.vendor_status judges it: the --fail-on severities, unless waived
        "violations_failing": sum(
            1 for v in violations if v["severity"]["key"] in policy.violations and not v["life"]["waived"]
        ),
        "drift_failing": sum(1 for d in drift if d["severity"]["key"] in policy.drift and not d["life"]["waived"]),
        "drift": drift,
        "drift_groups": groups,
        "drift_by_severity": drift_by_severity,
        "deprecations": deprecations,
        "migration": migration,
        "readiness": _readiness(migration),
        "ambiguities": ambiguities,
        "resolved": resolved,
        #: findings of the previous run that this one could not check again (their tests did not pass): still open
        "unchecked": unchecked,
        "history": history,
        "has_history": any(life["state"] for life in lives) or isinstance(raw.get("resolved"), list),
        "has_waivers": any(life["waiver"] for life in lives) or waived > 0,
        "notes": _notes(raw.get("notes")),
        "error": error if error and error.strip() else None,
        "not_run": not_run,
        "drift_checked": raw.get("drift_checked", True) is not False,  # summaries before the field: checked
        "simulator_profile": _text(raw.get("simulator_profile")),
    }


def _verdict(exit_code: Any, vendors: list[dict[str, Any]], fail_on: str | None = None) -> dict[str, Any]:
    code = exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None
    # waived findings are listed but never what makes a run fail
    n_viol = sum(v["violations_failing"] for v in vendors)
    n_drift = sum(v["drift_failing"] for v in vendors)
    n_other_drift = sum(len(v["drift"]) - v["drift_by_severity"]["breaking"] for v in vendors)
    n_waived = sum(v["history"]["waived"] for v in vendors)
    n_expired = sum(v["history"]["expired"] for v in vendors)
    if code in VERDICTS:
        headline, css, symbol, md_symbol = VERDICTS[code]
    else:
        headline, css, symbol, md_symbol = ("Unknown outcome", "neutral", "?", "\u2754")

    if code == 0 and not any(v["drift_checked"] for v in vendors):
        detail = "All checks agree with the documented behaviour; drift was not checked (see the notes)."
    elif code == 0:
        detail = "All checks agree with the documented behaviour and no breaking drift was found."
        if n_other_drift:
            detail += f" {_plural(n_other_drift, 'non-breaking drift change')} listed for review."
    elif code == 1:
        parts = []
        if n_viol:
            parts.append(_plural(n_viol, "failing contract violation"))
        if n_drift:
            parts.append(_plural(n_drift, f"{'failing' if fail_on else 'breaking'} drift change"))
        affected = [v["name"] for v in vendors if v["violations_failing"] or v["drift_failing"]]
        if parts:
            detail = f"{_join_words(parts)} found"
            if affected:
                detail += f" ({_join_words(affected)})"
            detail += "."
            if more := sum(len(v["violations"]) for v in vendors) - n_viol:
                below = f"below --fail-on {fail_on}" if fail_on else "info"
                detail += f" {more} more violation(s) listed that fail nothing (waived, or {below})."
        elif fail_on:
            detail = f"Findings at or above the --fail-on {fail_on} level were found."
        else:
            detail = "Contract violations or breaking drift were found."
    elif code == 2:
        detail = (
            "The run stopped on a usage or configuration error, so results are incomplete. "
            "See the notes for the file, the key and what to do."
        )
    elif code == 3:
        down = [v["name"] for v in vendors if v["status"]["key"] == "unreachable"]
        who = _join_words(down) if down else "The target"
        detail = (
            f"{who} could not be reached. This is an outage (connection, timeouts or server errors), "
            "not a contract violation and not drift."
        )
    elif code == 130:
        detail = (
            "The run was interrupted before it finished: what is listed is partial, drift was not compared, "
            "and this run can never become a baseline."
        )
    elif code is None:
        detail = "The summary records no exit code."
    else:
        detail = f"Exit code {code} is not one authcanary defines."
    if n_expired:
        detail += f" {_plural(n_expired, 'finding')} whose waiver expired fail{'s' if n_expired == 1 else ''} the run."
    if n_waived and code in (0, 1):
        detail += f" {_plural(n_waived, 'waived finding')} listed (known, not failing)."
    return {"code": code, "headline": headline, "css": css, "symbol": symbol, "md_symbol": md_symbol, "detail": detail}


def build_context(summary: dict[str, Any]) -> dict[str, Any]:
    """Normalise a summary dict into the view model both templates render."""
    if not isinstance(summary, dict):
        summary = {"notes": [f"summary is not a JSON object: {_text(summary)}"]}
    notes = _notes(summary.get("notes"))
    schema = _text(summary.get("schema"))
    if schema != SCHEMA:
        notes.insert(
            0, f"summary schema is {schema!r}, this report renders {SCHEMA!r}: some information may be missing"
        )

    started = _parse_time(summary.get("started"))
    finished = _parse_time(summary.get("finished"))
    duration = (finished - started).total_seconds() if started and finished else None
    run_day = day.date() if (day := started or finished) else None

    raw_vendors = summary.get("vendors")
    if raw_vendors is None:
        raw_vendors = {}
    if not isinstance(raw_vendors, dict):
        notes.append(f"summary 'vendors' is not an object and was ignored: {truncate(raw_vendors)}")
        raw_vendors = {}
    history = _history(summary.get("history"))
    waivers = _waivers(summary.get("waivers"))
    names = sorted(raw_vendors, key=lambda n: (str(n).lower(), str(n)))
    policy = run_policy(summary)
    vendors = [_vendor(str(name), raw_vendors[name], i, run_day, policy) for i, name in enumerate(names, start=1)]
    calendar = _calendar(vendors)
    # the GitHub anchors of the vendor sections depend on the headings before them in report.md
    md_slugs: dict[str, int] = {}
    for fixed in ("authcanary report", "notes", "overview"):
        md_slugs[fixed] = 1
    for heading, shown in (
        (TREND_HEADING, bool(history and history["trend"])),
        (CALENDAR_HEADING, bool(calendar)),
        (WAIVERS_HEADING, bool(waivers and (waivers["stale"] or waivers["expired"]))),
    ):
        if shown:
            _github_slug(heading, md_slugs)
    for vendor in vendors:
        vendor["md_anchor"] = Markup(_github_slug(vendor["name"], md_slugs))  # only word characters and hyphens

    totals = {
        "vendors": len(vendors),
        "passed": sum(v["checks"]["passed"] for v in vendors),
        "failed": sum(v["checks"]["failed"] for v in vendors),
        "skipped": sum(v["checks"]["skipped"] for v in vendors),
        "requests": sum(v["requests"] for v in vendors),
        "violations": sum(len(v["violations"]) for v in vendors),
        "drift": sum(len(v["drift"]) for v in vendors),
        "drift_breaking": sum(v["drift_by_severity"]["breaking"] for v in vendors),
        "deprecations": sum(len(v["deprecations"]) for v in vendors),
        "migration": sum(v["readiness"]["total"] for v in vendors),
        "migration_ready": sum(v["readiness"]["ready"] for v in vendors),
        "migration_failing": sum(v["readiness"]["failing"] for v in vendors),
        "ambiguities": sum(len(v["ambiguities"]) for v in vendors),
        **{key: sum(v["history"][key] for v in vendors) for key in ("new", "open", "resolved", "waived", "expired")},
    }
    error = _text(summary.get("error"))
    fail_on = (_text(summary.get("fail_on")) or "").strip() or None
    target = _text(summary.get("target")) or "(unknown target)"
    return {
        "schema": schema or "(none)",
        "target": target,
        "started": _format_time(summary.get("started")),
        "finished": _format_time(summary.get("finished")),
        "duration": format_duration(duration),
        "exit_code": summary.get("exit_code"),
        "mode": _text(summary.get("mode")) or "live",
        "baseline": _text(summary.get("baseline")),
        "verdict": _verdict(summary.get("exit_code"), vendors, fail_on),
        "harness_version": _text(summary.get("harness_version")),
        "fail_on": fail_on,
        "history": history,
        "show_history": history is not None or any(v["has_history"] for v in vendors),
        "show_waived": bool(waivers) or any(v["has_waivers"] for v in vendors),
        "waivers": waivers,
        "calendar": calendar,
        "trend_heading": TREND_HEADING,
        "calendar_heading": CALENDAR_HEADING,
        "waivers_heading": WAIVERS_HEADING,
        "notes": notes,
        "error": error if error and error.strip() else None,
        "vendors": vendors,
        "totals": totals,
        "truncate_at": TRUNCATE_AT,
    }


# --------------------------------------------------------------------------- Markdown escaping

_MD_ALWAYS = re.compile(r"([\\`*\[\]~$|])")
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_MD_LINE_START = re.compile(r"^([#>+=-]|\d+[.)])")
_NEWLINES = re.compile(r"\r\n|\r|\n")


def md_text(value: Any, limit: int | None = None) -> Markup:
    """Inline Markdown text safe in a table cell, a list item or a paragraph (GitHub and GitLab)."""
    text = _text(value)
    if text is None:
        return Markup("\u2014")
    if limit is not None:
        text = truncate(text, limit)
    text = text.strip().replace("\t", " ")
    text = _MD_ENTITY.sub("&amp;", text)
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_ALWAYS.sub(r"\\\1", text)
    text = _MD_UNDERSCORE.sub(r"\\_", text)
    lines = [
        _MD_LINE_START.sub(
            lambda m: "\\" + m.group(0) if len(m.group(0)) == 1 else m.group(0)[:-1] + "\\" + m.group(0)[-1],
            line.strip(),
        )
        for line in _NEWLINES.split(text)
    ]
    return Markup("<br>".join(lines))


def md_code(value: Any, table: bool = True, limit: int | None = None) -> Markup:
    """A Markdown code span; ``table=True`` escapes pipes the way GFM tables need (inside and out of spans)."""
    text = _text(value)
    if text is None:
        return Markup("\u2014")
    if limit is not None:
        text = truncate(text, limit)
    text = _NEWLINES.sub(" \u21b5 ", text).replace("\t", " ")
    if text == "":
        return Markup("(empty)")
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if (text.startswith("`") or text.endswith("`") or text.startswith(" ")) else ""
    return Markup(f"{fence}{pad}{text}{pad}{fence}")


def md_fence(value: Any, lang: str = "") -> Markup:
    """A fenced code block, its fence longer than any backtick run inside."""
    text = (_text(value) or "").replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return Markup(f"{fence}{lang}\n{text}\n{fence}")


def md_empty(text: str, vendor: dict[str, Any]) -> Markup:
    """An empty section's wording, with why nothing ran when the vendor was skipped or unreachable."""
    out = md_text(text)
    if vendor.get("not_run"):
        out = Markup(f"{out} _({md_text(vendor['not_run'])})_")
    return out


def _md_segment(text: str) -> str:
    """Inline Markdown for a piece of a longer text: escaped like md_text, its outer spaces kept."""
    if not text.strip():
        return " " if text else ""
    lead = " " if text[0].isspace() else ""
    trail = " " if text[-1].isspace() else ""
    return f"{lead}{md_text(text)}{trail}"


def md_link(text: Any, url: str | None) -> Markup:
    """``[text](url)`` for an href built or checked by this module, plain escaped text without one."""
    if not url:
        return md_text(text)
    return Markup(f"[{md_text(text)}]({url.replace('(', '%28').replace(')', '%29')})")


def md_source(parts: list[tuple[str, str | None]]) -> Markup:
    """A documented source with its RFC references as links (``source_links``)."""
    return Markup("".join(md_link(text, href) if href else _md_segment(text) for text, href in parts).strip())


def md_life(life: dict[str, Any]) -> Markup:
    """A finding's history state and waiver badges in words: `🆕 new`, `open since ... (16 runs)`, `waived`."""
    parts = []
    if life["state"]:
        parts.append(f"{life['md_symbol']} {md_text(life['label'])}".strip())
    if life["flapping"]:
        parts.append(f"{FLAPPING_MD} flapping")
    if life["waived"]:
        parts.append(f"{WAIVED_MD} waived")
    elif life["waiver_expired"]:
        parts.append(f"{WAIVER_EXPIRED_MD} {md_text(life['waiver']['label'])}")
    return Markup(" · ".join(parts))


def md_waiver(waiver: dict[str, Any]) -> Markup:
    """A waiver in one line: reason, ticket (a link when it is one) and expiry."""
    head = f"{WAIVER_EXPIRED_MD} **Waiver expired:**" if waiver["expired"] else f"{WAIVED_MD} **Waived:**"
    text = f"{head} {md_text(waiver['reason'] or 'no reason given')}"
    if waiver["ticket"]:
        text += f" · ticket {md_link(waiver['ticket'], waiver['ticket_url'])}"
    text += f" · {'expired' if waiver['expired'] else 'expires'} {md_text(waiver['expires'] or '(no date)')}"
    return Markup(text)


def _md_finalize(value: Any) -> Any:
    if isinstance(value, Markup):
        return value
    return md_text(value)


# --------------------------------------------------------------------------- environments


def _environment(markdown: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("authcanary.reporting", "templates"),
        autoescape=not markdown,
        finalize=_md_finalize if markdown else None,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["truncate_value"] = truncate
    env.filters["md"] = md_text
    env.filters["md_code"] = md_code
    env.filters["md_fence"] = md_fence
    env.filters["plural"] = _plural
    env.filters["md_link"] = md_link
    env.filters["md_source"] = md_source
    env.filters["md_life"] = md_life
    env.filters["md_waiver"] = md_waiver
    env.globals["md_empty"] = md_empty
    return env


_ENVIRONMENTS: dict[bool, jinja2.Environment] = {}


def _env(markdown: bool) -> jinja2.Environment:
    if markdown not in _ENVIRONMENTS:
        _ENVIRONMENTS[markdown] = _environment(markdown)
    return _ENVIRONMENTS[markdown]


def render_html(summary: dict[str, Any]) -> str:
    """The self-contained HTML report for ``summary`` (inline CSS, no external resources)."""
    return _env(False).get_template("report.html.j2").render(**build_context(summary))


def render_markdown(summary: dict[str, Any]) -> str:
    """The Markdown report for ``summary`` (GitHub/GitLab flavoured)."""
    text = _env(True).get_template("report.md.j2").render(**build_context(summary))
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"


def write_reports(run_dir: Path, summary: dict[str, Any]) -> list[Path]:
    """Write ``report.html`` and ``report.md`` into ``run_dir`` and return their paths (HTML first)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    html_text = render_html(summary)
    md_text_ = render_markdown(summary)
    html_path = run_dir / "report.html"
    md_path = run_dir / "report.md"
    write_atomically(html_path, html_text)
    write_atomically(md_path, md_text_)
    return [html_path, md_path]

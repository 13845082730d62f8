"""What a run adds to the `allure-results/` allure-pytest writes, so that `allure generate` makes a report people can
read: `categories.json` (violations, drift, deprecations, outages, waived known issues), `environment.properties`
(target, mode, base URLs without credentials, simulator profiles, harness version), `executor.json` (GitHub Actions
or local), one result per drift item, deprecation and outage (no test stands for them), the documented source and
waiver tickets as links of the tests that found violations, and the previous report's `history/` (Allure's trends).

    write_allure_results(run_dir, summary, history=Path("allure-report"))   # after the tests, from summary.json

The tests themselves are labelled while they run (`violation_labels`, called by the pytest session): epic = vendor,
feature = endpoint, story = check id, severity (breaking -> critical, warning -> normal, info -> minor), and a
`finding` label with each violation's id, by which their results are found again here. Everything is written from
summary.json's data, which is already scrubbed of secrets; a base URL loses any user info, query and fragment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from authcanary.drift import step_endpoint
from authcanary.errors import ConfigError
from authcanary.findings import SEVERITIES, each_finding, finding_id
from authcanary.summary import FailPolicy, run_policy

__all__ = [
    "CATEGORIES",
    "allure_history_folder",
    "categories",
    "copy_allure_history",
    "environment",
    "executor",
    "finding_results",
    "properties_text",
    "rfc_links",
    "violation_labels",
    "write_allure_results",
]

RESULTS = "allure-results"
#: Allure's names for our severities
SEVERITY = {"breaking": "critical", "warning": "normal", "info": "minor"}
#: the label naming a finding (its summary.json `id`) on the result that shows it
FINDING = "finding"
#: the file names of the results this module writes (rewritten, never duplicated, when it runs again)
OWN_RESULTS = "authcanary-finding-"
#: the files `write_allure_results` writes from a summary (a merge writes them afresh rather than merging them)
SUMMARY_FILES = ("categories.json", "environment.properties", "executor.json")
#: how a waived finding's message starts (the "Known issues" category matches it)
WAIVED = "[waived]"
_NAMESPACE = uuid.UUID("5d0c4a0e-7f53-4c55-9a55-2f1b2c3d4e5f")

#: what a result's message may start with before our own finding messages: lines naming expired waivers
_EXPIRED = r"(?:\[waiver expired\][^\n]*\n)*"
_OURS = _EXPIRED + r"(?:Drift \(|Deprecation: |Outage: )"
_NOT_RUN = r".*(?:TargetUnreachable|LostToOutage|BudgetExhausted)"
#: Allure categories. A result falls into each category it matches, so they exclude each other; Allure matches the
#: whole message, `.` spanning lines.
CATEGORIES: list[dict[str, Any]] = [
    {
        "name": "Known issues (waived)",
        "matchedStatuses": ["failed", "broken", "passed", "skipped", "unknown"],
        "messageRegex": re.escape(WAIVED) + ".*",
    },
    {
        "name": "Contract violations",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": r"(?!\[waived\]).*(?:ContractViolation|contract violation\(s\)).*",
    },
    {
        "name": "Drift from the baseline",
        "matchedStatuses": ["failed", "passed"],
        "messageRegex": _EXPIRED + r"Drift \(.*",
    },
    {
        "name": "Deprecations",
        "matchedStatuses": ["failed", "passed"],
        "messageRegex": _EXPIRED + r"Deprecation: .*",
    },
    {
        "name": "Outages (the checks did not run)",
        "matchedStatuses": ["skipped", "broken"],
        "messageRegex": r"(?!\[waived\])(?:"
        + _EXPIRED
        + r"Outage: |.*lost to an outage|.*unreachable|.*TargetUnreachable|.*LostToOutage).*",
    },
    {
        "name": "Request budget spent (the checks did not run)",
        "matchedStatuses": ["skipped", "broken"],
        "messageRegex": r".*(?:BudgetExhausted|request budget of \d+ spent).*",
    },
    {
        "name": "Unexpected failures (suite.unexpected_failure)",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": r"(?!\[waived\]|.*ContractViolation|.*contract violation\(s\)|"
        + _OURS
        + "|"
        + _NOT_RUN
        + ").*",
    },
]


def categories() -> list[dict[str, Any]]:
    """categories.json."""
    return [dict(category) for category in CATEGORIES]


# -- labels of the tests (while they run) -----------------------------------------------------------------------------


def violation_labels(violations: Iterable[Any]) -> list[tuple[str, str]]:
    """Allure labels of a test that recorded `violations` (`findings.Violation`s): feature = endpoint, story = check
    id, the violation's `finding` id, and one severity, the most serious one's; in order, without repeats."""
    labels: list[tuple[str, str]] = []
    worst = len(SEVERITIES)
    for violation in violations:
        entry = {"check_id": violation.check_id, "check": violation.check, "endpoint": violation.endpoint}
        for label in (
            ("feature", violation.endpoint),
            ("story", violation.check_id),
            (FINDING, finding_id("violation", entry)),
        ):
            if label[1] and label not in labels:
                labels.append(label)
        worst = min(worst, SEVERITIES.index(violation.severity))
    if worst < len(SEVERITIES):
        labels.append(("severity", SEVERITY[SEVERITIES[worst]]))
    return labels


# -- environment.properties and executor.json --------------------------------------------------------------------------


def environment(summary: Mapping[str, Any]) -> dict[str, str]:
    """The run's environment, as Allure shows it: target, mode, harness version, and per vendor that ran its base URL
    (without credentials) and simulator profile."""
    from authcanary import __version__

    env = {
        "target": str(summary.get("target", "")),
        "mode": str(summary.get("mode", "")),
        "harness_version": str(summary.get("harness_version") or __version__),
        "started": str(summary.get("started", "")),
    }
    if summary.get("fail_on"):
        env["fail_on"] = str(summary["fail_on"])
    for vendor, entry in sorted(_vendors(summary).items()):
        if not _ran(entry):
            continue
        if url := public_url(entry.get("base_url")):
            env[f"{vendor}.base_url"] = url
        if entry.get("simulator_profile"):
            env[f"{vendor}.simulator_profile"] = str(entry["simulator_profile"])
    return {key: value for key, value in env.items() if value}


def public_url(url: Any) -> str:
    """`url` without user info, query and fragment (where credentials hide); "" when it is not an http(s) URL."""
    if not isinstance(url, str) or not url:
        return ""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not host:
        return ""
    netloc = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, netloc + (f":{port}" if port else ""), parts.path, "", ""))


def properties_text(values: Mapping[str, str]) -> str:
    """A Java properties file (how Allure reads environment.properties: ISO 8859-1, `\\uXXXX` for the rest)."""
    return "".join(f"{_escape(key, key=True)}={_escape(value)}\n" for key, value in values.items())


def _escape(text: str, key: bool = False) -> str:
    out = []
    for index, char in enumerate(text):
        if char == "\\":
            out.append("\\\\")
        elif char in "\n\r\t\f":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}[char])
        elif char in "=:#!" or (char == " " and (key or index == 0)):
            out.append("\\" + char)
        elif not " " <= char <= "~":
            out.extend(f"\\u{unit:04x}" for unit in _utf16(char))
        else:
            out.append(char)
    return "".join(out)


def _utf16(char: str) -> list[int]:
    data = char.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def executor(summary: Mapping[str, Any], environ: Mapping[str, str], previous_build: int = 0) -> dict[str, Any]:
    """executor.json: GitHub Actions (build URL and name from its environment) when `GITHUB_ACTIONS` is set, else
    local. `buildOrder` orders Allure's trend: the workflow's run number on GitHub, else the previous report's + 1."""
    ran = [vendor for vendor, entry in sorted(_vendors(summary).items()) if _ran(entry)]
    report = f"authcanary {summary.get('target', '')}" + (f" ({', '.join(ran)})" if ran else "")
    info: dict[str, Any] = {"name": "authcanary", "type": "local", "reportName": report}
    order = previous_build + 1
    if environ.get("GITHUB_ACTIONS"):
        info["type"] = "github"
        server = (environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
        repository, run_id = environ.get("GITHUB_REPOSITORY", ""), environ.get("GITHUB_RUN_ID", "")
        number = environ.get("GITHUB_RUN_NUMBER", "")
        if repository:
            info["url"] = f"{server}/{repository}"
        if repository and run_id:
            info["buildUrl"] = f"{server}/{repository}/actions/runs/{run_id}"
        info["buildName"] = f"{environ.get('GITHUB_WORKFLOW') or repository or 'GitHub Actions'} #{number or run_id}"
        if number.isdigit():
            order = int(number)
    else:
        info["buildName"] = f"authcanary run {summary.get('started', '')}".strip()
    info["buildOrder"] = order
    return info


def _previous_build(results: Path) -> int:
    """The highest buildOrder of the carried history's trend (0: none)."""
    try:
        trend = json.loads((results / "history" / "history-trend.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    orders = [item.get("buildOrder") for item in trend if isinstance(item, dict)] if isinstance(trend, list) else []
    return max((order for order in orders if isinstance(order, int)), default=0)


# -- history -----------------------------------------------------------------------------------------------------------


def allure_history_folder(path: Path) -> Path | None:
    """The `history/` folder of `--allure-history DIR`: DIR is a previous generated report (`allure generate -o
    DIR` writes DIR/history/), or that history/ folder itself; None for an empty DIR (no report kept yet). Anything
    else is a ConfigError (exit 2) saying what to give instead."""
    fix = (
        "Give the folder of the previous generated Allure report (`allure generate allure-results -o DIR` writes "
        "DIR/history/), or drop --allure-history on the first run."
    )
    if not path.exists():
        raise ConfigError(f"--allure-history {path}: no such folder.", fix)
    if not path.is_dir():
        raise ConfigError(f"--allure-history {path}: not a folder.", fix)
    if (path / "history").is_dir():
        return path / "history"
    if (path / "history-trend.json").is_file() or (path / "history.json").is_file():
        return path
    if not any(path.iterdir()):
        return None
    what = " (that is a results folder, not a generated report)" if any(path.glob("*-result.json")) else ""
    raise ConfigError(f"--allure-history {path}: no history/ folder in it{what}.", fix)


def copy_allure_history(path: Path, results: Path) -> int:
    """Copy the previous report's history (`allure_history_folder(path)`) into `results`/history/, where `allure
    generate` continues its trends; returns the number of files copied."""
    source = allure_history_folder(path)
    if source is None:
        return 0
    target = results / "history"
    target.mkdir(parents=True, exist_ok=True)
    copied = 0
    for file in sorted(source.iterdir()):
        if file.is_file() and not file.is_symlink():
            shutil.copyfile(file, target / file.name)
            copied += 1
    return copied


# -- results of the findings no test stands for ------------------------------------------------------------------------


def finding_results(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One Allure result per drift item, deprecation and outage of the run (violations are the tests' own results):
    failed when the finding fails the run's policy, skipped for an outage (its checks did not run), else passed; a
    waived finding's message says so. Each keeps its history id across runs (Allure's history of a finding)."""
    when = _millis(summary.get("finished") or summary.get("started"))
    policy = run_policy(summary)
    results = []
    for vendor, entry in sorted(_vendors(summary).items()):
        seen = set()
        for kind, finding in each_finding(entry):
            if kind == "violation":
                continue
            fid = str(finding.get("id") or finding_id(kind, finding))
            if fid in seen:
                continue
            seen.add(fid)
            results.append(_finding_result(summary, vendor, kind, finding, fid, when, policy))
    return results


def _finding_result(
    summary: Mapping[str, Any],
    vendor: str,
    kind: str,
    finding: Mapping[str, Any],
    fid: str,
    when: int,
    policy: FailPolicy,
) -> dict[str, Any]:
    severity = finding.get("severity") if finding.get("severity") in SEVERITIES else None
    if kind == "drift":
        endpoint = step_endpoint(str(finding.get("key", "")))
        name = f"drift: {finding.get('kind', '')} {finding.get('path', '')}".strip() + f" ({finding.get('key', '')})"
        message = (
            f"Drift ({severity or 'unrated'}): {finding.get('kind', '')} at {finding.get('path') or 'the step'}: "
            f"baseline {_short(finding.get('baseline'))} -> current {_short(finding.get('current'))}"
        )
        if finding.get("note"):
            message += f"\n{_short(finding['note'])}"
        story = f"drift {finding.get('kind', '')}".strip()
    elif kind == "deprecation":
        endpoint = str(finding.get("endpoint", ""))
        name = f"deprecation: {endpoint}"
        ok = finding.get("replacement_ok")
        working = " (working)" if ok is True else " (NOT working)" if ok is False else ""
        message = (
            f"Deprecation: {endpoint}: announced removal {finding.get('announced_removal') or 'not announced'}; "
            f"observed {_short(finding.get('observed'))}; replacement "
            f"{finding.get('replacement') or 'none documented'}{working}"
        )
        story = "deprecation"
    else:
        endpoint = str(finding.get("endpoint", ""))
        name = f"outage: {endpoint} answered {finding.get('status', '')}"
        message = (
            f"Outage: {endpoint} answered {finding.get('status', '')} ({finding.get('count', 0)} interaction(s) lost); "
            "the checks that relied on them did not run"
        )
        story = "outage"
    if kind == "outage":
        status = "skipped"
    else:
        status = "failed" if kind == "drift" and severity in policy.drift else "passed"
    links: list[dict[str, str]] = []
    prefix = _waiver_prefix([(fid, finding)], links)
    labels = [
        ("epic", vendor),
        ("feature", endpoint),
        ("story", story),
        ("severity", SEVERITY.get(severity or "", "normal" if kind == "outage" else "minor")),
        (FINDING, fid),
        ("parentSuite", "authcanary findings"),
        ("suite", vendor),
        ("subSuite", kind),
        ("tag", kind),
    ]
    key = f"{vendor}|{kind}|{fid}"
    history = hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()
    return {
        "uuid": str(uuid.uuid5(_NAMESPACE, f"{summary.get('started', '')}|{key}")),
        "historyId": history,
        "testCaseId": history,
        "fullName": f"authcanary.findings.{vendor}.{kind}#{fid}",
        "name": name,
        "status": status,
        "statusDetails": {"message": prefix + message, **({"known": True} if prefix.startswith(WAIVED) else {})},
        "stage": "finished",
        "start": when,
        "stop": when,
        "labels": [{"name": name_, "value": value} for name_, value in labels if value],
        "links": links,
        "parameters": [],
        "titlePath": ["authcanary findings", vendor, kind],
    }


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def _waiver_prefix(findings: list[tuple[str, Mapping[str, Any]]], links: list[dict[str, str]]) -> str:
    """The message prefix of a result whose failing findings are all waived (`[waived] ...`) or whose waiver expired;
    each waiver's ticket becomes an issue link."""
    active: list[str] = []
    expired: list[str] = []
    for fid, finding in findings:
        waiver = finding.get("waiver")
        if not isinstance(waiver, Mapping):
            continue
        ticket = str(waiver.get("ticket") or "")
        if ticket.startswith(("https://", "http://")):
            _add_link(links, ticket, ticket, "issue")
        reason = waiver.get("reason") or "no reason given"
        line = f"{fid}: {reason} ({ticket or 'no ticket'}, until {waiver.get('expires')})"
        (expired if waiver.get("expired") else active).append(line)
    if expired:
        return "".join(f"[waiver expired] {line}\n" for line in expired)
    if active and len(active) == len(findings):
        return "".join(f"{WAIVED} {line}\n" for line in active)
    return ""


# -- the tests' results, once the run is summarised --------------------------------------------------------------------


def rfc_links(source: str) -> list[tuple[str, str]]:
    """(name, url) of each RFC section a check's documented `source` cites (`render.source_links`): `RFC 6749 §5.2`
    -> https://www.rfc-editor.org/rfc/rfc6749#section-5.2."""
    from authcanary.reporting.render import source_links

    return list(dict.fromkeys((text, url) for text, url in source_links(source) if url))


def _add_link(links: list[dict[str, str]], name: str, url: str, kind: str = "link") -> None:
    if all(link.get("url") != url for link in links):
        links.append({"name": name, "url": url, "type": kind})


def _violations_by_id(summary: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for entry in _vendors(summary).values():
        for kind, finding in each_finding(entry):
            if kind == "violation":
                found[str(finding.get("id") or finding_id(kind, finding))] = finding
    return found


def _annotate_tests(results: Path, summary: Mapping[str, Any]) -> None:
    """Give the results of the tests that found violations (their `finding` labels) each check's documented source
    (RFC links, its declaration's `source_url`) and waiver (an issue link; a waived test's message says so)."""
    violations, policy = _violations_by_id(summary), run_policy(summary)
    if not violations:
        return
    for path in results.glob("*-result.json"):
        if path.name.startswith(OWN_RESULTS):
            continue
        try:
            text = path.read_text(encoding="utf-8")
            if f'"{FINDING}"' not in text:
                continue
            result = json.loads(text)
        except (OSError, ValueError):
            continue
        if isinstance(result, dict) and _annotate(result, violations, policy):
            _write(path, json.dumps(result))


def _annotate(result: dict[str, Any], violations: Mapping[str, Mapping[str, Any]], policy: FailPolicy) -> bool:
    """Add links and the waiver prefix to one test result; whether it changed."""
    labels = result.get("labels") or []
    ids = [str(label.get("value")) for label in labels if isinstance(label, dict) and label.get("name") == FINDING]
    findings = [(fid, violations[fid]) for fid in ids if fid in violations]
    if not findings:
        return False
    before = json.dumps(result, sort_keys=True)
    links = result.setdefault("links", [])
    for fid, violation in findings:
        for name, url in rfc_links(str(violation.get("source", ""))):
            _add_link(links, name, url)
        url = str(violation.get("source_url") or "")
        if url.startswith(("https://", "http://", "file://")):
            _add_link(links, f"declaration of {violation.get('check_id') or fid}", url)
    failing = [(fid, v) for fid, v in findings if v.get("severity") in policy.violations]
    prefix = _waiver_prefix(failing or findings, links)
    details = result.setdefault("statusDetails", {}) or {}
    result["statusDetails"] = details
    message = str(details.get("message") or "")
    if prefix and result.get("status") in ("failed", "broken") and not message.startswith(("[waive", WAIVED)):
        details["message"] = prefix + message
        if prefix.startswith(WAIVED):
            details["known"] = True
    return json.dumps(result, sort_keys=True) != before


# -- the whole -------------------------------------------------------------------------------------------------------


def write_allure_results(run_dir: Path, summary: Mapping[str, Any], history: Path | None = None) -> None:
    """Complete `run_dir`/allure-results from the run's summary (module docstring); `history`: `--allure-history`.
    A history that can no longer be copied (validated before the run) is said on stderr, never fatal."""
    results = run_dir / RESULTS
    results.mkdir(parents=True, exist_ok=True)
    if history is not None:
        try:
            copy_allure_history(history, results)
        except (ConfigError, OSError) as exc:
            print(f"authcanary: the Allure history was not carried over: {exc}", file=sys.stderr)
    _write(results / "categories.json", json.dumps(categories(), indent=2) + "\n")
    _write(results / "environment.properties", properties_text(environment(summary)))
    info = executor(summary, os.environ, _previous_build(results))
    _write(results / "executor.json", json.dumps(info, indent=2) + "\n")
    for old in results.glob(f"{OWN_RESULTS}*-result.json"):
        old.unlink()
    for result in finding_results(summary):
        _write(results / f"{OWN_RESULTS}{result['uuid']}-result.json", json.dumps(result))
    _annotate_tests(results, summary)


def _write(path: Path, text: str) -> None:
    """Write through a temporary file renamed over `path` (no reader sees half a file), without the fsync of
    `files.write_atomically`: a run writes dozens of these, and fsync costs milliseconds each."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _vendors(summary: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    vendors = summary.get("vendors")
    return {k: v for k, v in vendors.items() if isinstance(v, dict)} if isinstance(vendors, dict) else {}


def _ran(entry: Mapping[str, Any]) -> bool:
    """Whether a vendor took part in the run (configured and selected), whatever came of it."""
    checks = entry.get("checks")
    checks = checks if isinstance(checks, dict) else {}
    return entry.get("status") not in (None, "skipped") or any(checks.get(k) for k in ("passed", "failed", "skipped"))


def _millis(stamp: Any) -> int:
    try:
        return int(dt.datetime.fromisoformat(str(stamp)).timestamp() * 1000)
    except ValueError:
        return int(dt.datetime.now(dt.UTC).timestamp() * 1000)

"""The GitHub job summary: appended (never truncated) only when GITHUB_STEP_SUMMARY is set, compact and escaped
whatever the summary holds, and a file that cannot be written is a warning, never a failure."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from authcanary.reporting.step_summary import (
    MAX_BYTES,
    MAX_FINDINGS,
    append_step_summary,
    render_step_summary,
)
from authcanary.summary import SCHEMA

RUN_DIR = Path("reports/run-kudo")
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)")


def vendor(status: str = "ok", **extra: Any) -> dict[str, Any]:
    return {
        "status": status,
        "checks": {"passed": 7, "failed": 1 if status == "violations" else 0, "skipped": 2},
        "requests": 12,
        "violations": [],
        "drift": [],
        "deprecations": [],
        "ambiguities": [],
        "notes": [],
        **extra,
    }


def violation(check_id: str, severity: str = "breaking", **extra: Any) -> dict[str, Any]:
    return {
        "check": check_id,
        "check_id": check_id,
        "endpoint": "POST /generate",
        "expected": "e",
        "observed": "o",
        "severity": severity,
        "repro": "curl",
        "tests": [],
        **extra,
    }


def summary(vendors: dict[str, Any], exit_code: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "target": "staging",
        "started": "2026-11-30T02:00:05+00:00",
        "finished": "2026-11-30T02:03:10+00:00",
        "mode": "live",
        "exit_code": exit_code,
        **extra,
        "vendors": vendors,
    }


WITH_HISTORY = summary(
    {
        "kudo": vendor(
            "violations",
            violations=[
                violation("kudo.generate.fresh_token", state="new", first_seen="2026-11-30T02:00:05+00:00"),
                violation(
                    "kudo.verify.same_parameters",
                    state="open",
                    first_seen="2026-11-05T02:00:03+00:00",
                    runs_seen=16,
                    flapping=True,
                ),
                violation(
                    "kudo.generate.status",
                    severity="warning",
                    state="open",
                    first_seen="2026-11-01T02:00:00+00:00",
                    runs_seen=30,
                    waiver={"reason": "r", "ticket": "https://vendor.example/JIRA-12", "expires": "2026-12-31"},
                ),
            ],
            resolved=[{"id": "kudo.verify.json", "kind": "violation", "last_seen": "2026-11-29T02:00:00+00:00"}],
            waived=1,
        ),
        "axeobim": vendor(),
    },
    history={
        "path": "reports/history.sqlite",
        "previous_run": "2026-11-29T02:00:05+00:00",
        "trend": [{"exit_code": 0}, {"exit_code": 1}, {"exit_code": 3}],
        "error": "history.sqlite was not a database: set aside",
    },
    waivers={"path": "waivers.toml", "stale": [{"vendor": "kudo"}], "expired": []},
)


def test_nothing_is_written_without_github_step_summary(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a relative default would land
    assert append_step_summary(WITH_HISTORY, RUN_DIR, environ={}) is False
    assert append_step_summary(WITH_HISTORY, RUN_DIR, environ={"GITHUB_STEP_SUMMARY": ""}) is False
    assert list(tmp_path.iterdir()) == []


def test_the_digest_is_appended_never_truncating(tmp_path):
    path = tmp_path / "step_summary.md"
    path.write_text("# an earlier step\n", encoding="utf-8")
    environ = {"GITHUB_STEP_SUMMARY": str(path)}
    assert append_step_summary(WITH_HISTORY, RUN_DIR, environ=environ)
    assert append_step_summary(summary({"kudo": vendor()}, exit_code=0), RUN_DIR, environ=environ)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# an earlier step\n")
    assert text.count("### ") == 2
    assert "Not compliant" in text and "Compliant on" in text


def test_the_digest_says_the_verdict_the_vendors_and_the_findings_with_their_state():
    text = render_step_summary(WITH_HISTORY, RUN_DIR, environ={})
    lines = text.splitlines()
    assert lines[0] == "### \u274c authcanary: Not compliant on `staging` (exit 1)"
    assert "| Vendor | Status | Checks | Violations | Drift | New | Resolved | Waived |" in lines
    assert "| kudo | \u274c Violations | 7 passed, 1 failed, 2 skipped | 3 | 0 | 1 | 1 | 1 |" in lines
    assert "| axeobim | \u2705 OK | 7 passed, 0 failed, 2 skipped | 0 | 0 | 0 | 0 | 0 |" in lines
    findings = [line for line in lines if line.startswith("- `")]
    assert findings == [
        "- `kudo` \U0001f534 breaking violation `kudo.generate.fresh_token` on `POST /generate`: **new**",
        "- `kudo` \U0001f534 breaking violation `kudo.verify.same_parameters` on `POST /generate`: open since "
        "2026-11-05 (16 runs), flapping",
        "- `kudo` \U0001f7e0 warning violation `kudo.generate.status` on `POST /generate`: open since 2026-11-01 "
        "(30 runs), waived until 2026-12-31, https://vendor.example/JIRA-12",
        "- `kudo` \u2705 resolved `kudo.verify.json`: resolved (last seen 2026-11-29)",
    ]
    assert "- History: history.sqlite was not a database: set aside" in lines
    assert "- 1 waiver(s) stale: see the full report" in lines
    assert "Last 3 runs (oldest first): \u2705\u274c\U0001f50c" in lines
    assert text.endswith(f"Full report: `{RUN_DIR / 'report.html'}` (also report.md, summary.json, junit.xml).\n\n")


def test_without_history_the_table_has_no_state_columns():
    text = render_step_summary(summary({"kudo": vendor("violations", violations=[violation("kudo.x")])}), RUN_DIR)
    assert "| Vendor | Status | Checks | Violations | Drift |\n" in text
    assert "New" not in text and "Last " not in text
    assert "- `kudo` \U0001f534 breaking violation `kudo.x` on `POST /generate`\n" in text


def test_an_expired_waiver_is_said_and_ranks_with_the_failing_findings():
    expired = violation("kudo.y", waiver={"expires": "2026-11-01", "ticket": "T-1", "expired": True})
    waived = violation("kudo.a", waiver={"expires": "2027-01-01"})
    text = render_step_summary(summary({"kudo": vendor("violations", violations=[waived, expired])}), RUN_DIR)
    findings = [line for line in text.splitlines() if line.startswith("- `")]
    assert findings[0].endswith("`kudo.y` on `POST /generate`: **waiver expired** on 2026-11-01, T-1")
    assert findings[1].endswith("waived until 2027-01-01")


def test_findings_are_capped_most_important_first():
    many = [violation(f"kudo.info_{i:03}", severity="info") for i in range(40)] + [violation("kudo.bad")]
    drift = [{"key": "k", "kind": "field_added", "path": f"body.f{i}", "severity": "info"} for i in range(10)]
    text = render_step_summary(summary({"kudo": vendor("violations", violations=many, drift=drift)}), RUN_DIR)
    findings = [line for line in text.splitlines() if line.startswith("- `")]
    assert len(findings) == MAX_FINDINGS
    assert "`kudo.bad`" in findings[0]
    assert f"**Findings** (51; the {MAX_FINDINGS} most important of 51 lines)" in text


def test_the_same_change_seen_by_several_tests_is_one_line():
    def drift(test: str, kind: str = "field_removed", path: str = "$.expiration_time") -> dict[str, Any]:
        request = "GET /verify" if kind == "step_missing" else "POST /generate [file,userId]"
        return {"key": f"kudo/test_scenarios.{test}#{request}#1", "kind": kind, "path": path, "severity": "breaking"}

    items = [drift(f"test_{i}") for i in range(7)] + [drift("test_x", "step_missing", ""), drift("test_y", path="$.a")]
    text = render_step_summary(summary({"kudo": vendor("drift", drift=items)}), RUN_DIR)
    findings = [line for line in text.splitlines() if line.startswith("- `")]
    assert findings == [
        "- `kudo` \U0001f534 breaking drift `field_removed` at `$.expiration_time` on `POST /generate` (\u00d77)",
        "- `kudo` \U0001f534 breaking drift `step_missing` on `GET /verify`",
        "- `kudo` \U0001f534 breaking drift `field_removed` at `$.a` on `POST /generate`",
    ]
    assert "**Findings** (9)" in text


def test_every_vendor_value_is_escaped():
    hostile = "x|y <script>alert(1)</script> *b* [l](http://e) `c`\n# h"
    entry = vendor(
        "violations",
        violations=[violation(hostile, endpoint=hostile)],
        drift=[{"key": hostile, "kind": hostile, "path": hostile, "severity": "breaking"}],
        deprecations=[{"endpoint": hostile, "observed": hostile, "announced_removal": hostile}],
        outages=[{"endpoint": hostile, "status": hostile, "count": hostile}],
    )
    text = render_step_summary(summary({hostile: entry}, history={"error": hostile}), RUN_DIR)
    outside_code = CODE_SPAN.sub("", text)  # inside a code span GitHub shows any text as it is
    assert "<script>" not in outside_code and "&lt;script&gt;" in outside_code
    assert "[l](http://e)" not in outside_code
    assert "\n# h" not in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert all(row.count(" | ") == rows[0].count(" | ") for row in rows[2:]), rows  # no cell split by a pipe


def test_the_digest_stays_small_whatever_the_summary_holds():
    huge = "\u00e9<|" * 5_000
    vendors = {
        f"{i}{huge}": vendor(
            "violations",
            violations=[violation(f"{j}{huge}", endpoint=huge) for j in range(20)],
            resolved=[{"id": huge}] * 20,
        )
        for i in range(60)
    }
    text = render_step_summary(summary(vendors, history={"error": huge, "trend": [{"exit_code": 0}] * 10_000}), RUN_DIR)
    assert len(text.encode("utf-8")) <= MAX_BYTES < 1024 * 1024
    assert text.count("\n- `") == MAX_FINDINGS
    assert "more vendor(s) in the full report" in text


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"vendors": None, "exit_code": "x"},
        {"vendors": {"kudo": "not an object"}},
        {"vendors": {"kudo": {"violations": ["text", 3, None], "resolved": "no", "drift": {"key": 1}}}},
        {"vendors": {"kudo": vendor(violations=[{"waiver": "no", "state": 3, "severity": ["x"]}])}, "history": []},
    ],
)
def test_a_malformed_summary_still_gives_a_digest(broken):
    text = render_step_summary(broken, RUN_DIR)
    assert text.startswith("### ") and "Full report" in text


def test_an_unwritable_file_is_a_warning_not_a_failure(tmp_path, capsys):
    for target in (tmp_path, tmp_path / "missing" / "summary.md"):  # a folder; a file in a folder that is not there
        assert append_step_summary(WITH_HISTORY, RUN_DIR, environ={"GITHUB_STEP_SUMMARY": str(target)}) is False
        err = capsys.readouterr().err
        assert err.startswith("authcanary: warning: cannot append the job summary to GITHUB_STEP_SUMMARY=")


def test_a_digest_that_looks_like_it_holds_a_secret_is_not_appended(tmp_path, capsys):
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    leaky = summary({"kudo": vendor("violations", violations=[violation("kudo.x", endpoint=f"GET /?t={jwt}")])})
    path = tmp_path / "summary.md"
    assert append_step_summary(leaky, RUN_DIR, environ={"GITHUB_STEP_SUMMARY": str(path)}) is False
    assert not path.exists()
    assert "looks like it holds a secret" in capsys.readouterr().err


def test_the_workflow_run_is_linked_only_from_githubs_own_variables():
    github = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/canary", "GITHUB_RUN_ID": "42"}
    text = render_step_summary(WITH_HISTORY, RUN_DIR, environ=github)
    assert "[artifacts of this workflow run](https://github.com/acme/canary/actions/runs/42)" in text
    forged = {**github, "GITHUB_REPOSITORY": "acme/canary) [x](javascript:alert(1)"}
    assert "artifacts of this workflow run" not in render_step_summary(WITH_HISTORY, RUN_DIR, environ=forged)


def test_the_last_resort_cut_keeps_whole_lines(monkeypatch):
    from authcanary.reporting import step_summary

    monkeypatch.setattr(step_summary, "MAX_BYTES", 600)
    text = render_step_summary(WITH_HISTORY, RUN_DIR)
    assert len(text.encode("utf-8")) <= 600
    assert text.endswith("_(cut here to stay within GitHub's job summary limit: see the full report)_\n")
    assert text.startswith("### ")

"""Report writers: report.html (self-contained, escaped) and report.md (GitHub/GitLab tables)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from markupsafe import escape

from authcanary.reporting import build_context, render_html, render_markdown, write_reports
from authcanary.reporting.render import source_links

HOSTILE = "<script>alert(1)</script>"
LONG_BODY = '{"error":"invalid_request","error_description":"' + "x" * 900 + '","tail":"END-OF-BODY"}'

V1 = "POST /authentication/v1/authenticate"


def realistic_summary() -> dict:
    """A nightly staging run: violations and drift on one vendor, one unreachable, one skipped, one clean."""
    return {
        "schema": "authcanary.summary/1",
        "target": "staging",
        "started": "2025-11-23T02:00:00Z",
        "finished": "2025-11-23T02:03:27.412000+00:00",
        "exit_code": 1,
        "notes": ["kudo: no [targets.staging.kudo] section in targets.toml, vendor skipped"],
        "vendors": {
            # deliberately not in alphabetical order: the report sorts vendors by name
            "kudo": {
                "status": "skipped",
                "checks": {"passed": 0, "failed": 0, "skipped": 9},
                "requests": 0,
                "violations": [],
                "drift": [],
                "deprecations": [],
                "ambiguities": [],
            },
            "autodesk": {
                "status": "violations",
                "checks": {"passed": 41, "failed": 3, "skipped": 2},
                "requests": 187,
                "violations": [
                    {
                        "check": "token_type_is_bearer",
                        "endpoint": V1,
                        "expected": 'token_type == "Bearer"',
                        "observed": 'token_type == "bearer"',
                        "severity": "warning",
                        "repro": "curl -sS -X POST 'https://developer.api.autodesk.com/authentication/v1/authenticate' "
                        "-H 'Content-Type: application/x-www-form-urlencoded' "
                        "--data-urlencode 'client_id=<client_id>' --data-urlencode 'client_secret=<secret>' "
                        "--data-urlencode 'grant_type=client_credentials'",
                    },
                    {
                        "check": "wrong_content_type_gives_415",
                        "endpoint": V1,
                        "expected": "HTTP 415 when Content-Type is not application/x-www-form-urlencoded",
                        "observed": "HTTP 400 " + LONG_BODY,
                        "severity": "breaking",
                        "repro": "curl -sS -X POST 'https://developer.api.autodesk.com/authentication/v1/authenticate' \\\n"
                        "  -H 'Content-Type: application/json' \\\n"
                        '  --data \'{"client_id":"<client_id>","grant_type":"client_credentials"}\'',
                    },
                    {
                        "check": "expires_in_is_integer",
                        "endpoint": "POST /authentication/v2/token",
                        "expected": "expires_in: integer (seconds)",
                        "observed": 'expires_in: "3599" (string)',
                        "severity": "breaking",
                        "repro": "curl -sS -X POST 'https://developer.api.autodesk.com/authentication/v2/token' "
                        "-u '<client_id>:<secret>' -d 'grant_type=client_credentials&scope=data:read'",
                    },
                ],
                "drift": [
                    {
                        "key": "autodesk.v1.authenticate.ok",
                        "kind": "header_changed",
                        "path": "headers.cache-control",
                        "baseline": "no-cache, no-store",
                        "current": "no-store",
                        "severity": "warning",
                    },
                    {
                        "key": "autodesk.v1.authenticate.bad_secret",
                        "kind": "status_changed",
                        "path": "status",
                        "baseline": "401",
                        "current": "400",
                        "severity": "breaking",
                    },
                    {
                        "key": "autodesk.v2.token.ok",
                        "kind": "field_added",
                        "path": "body.id_token",
                        "baseline": None,
                        "current": "<jwt RS256 kid=…>",
                        "severity": "info",
                    },
                ],
                "deprecations": [
                    {
                        "endpoint": V1,
                        "announced_removal": "2024-04-30",
                        "observed": "still served (HTTP 200), no Deprecation or Sunset header",
                        "replacement": "POST /authentication/v2/token",
                        "replacement_ok": True,
                    },
                ],
                "ambiguities": [
                    {
                        "where": "APS v2 migration guide vs v2 reference",
                        "text": 'Guide says "no change in the API response"; v2 examples show expires_in 3599 vs 1799 in v1.',
                    },
                ],
                "notes": ["hypothesis: 25 examples per property (live target)"],
            },
            "bimplus": {
                "status": "unreachable",
                "checks": {"passed": 0, "failed": 0, "skipped": 14},
                "requests": 3,
                "violations": [],
                "drift": [],
                "deprecations": [],
                "ambiguities": [],
                "error": "connect timeout to api-stage.bimplus.net:443 after 3 attempts (10 s each)",
            },
            "axeobim": {
                "status": "ok",
                "checks": {"passed": 18, "failed": 0, "skipped": 0},
                "requests": 24,
                "violations": [],
                "drift": [],
                "deprecations": [],
                "ambiguities": [],
                "notes": ["no baseline for this vendor: drift not checked"],
            },
        },
    }


@pytest.fixture()
def reports(tmp_path: Path) -> tuple[str, str]:
    paths = write_reports(tmp_path / "run", realistic_summary())
    assert paths == [tmp_path / "run" / "report.html", tmp_path / "run" / "report.md"]
    return paths[0].read_text(encoding="utf-8"), paths[1].read_text(encoding="utf-8")


def _sections(md: str) -> dict[str, str]:
    """report.md split by `## ` headings."""
    parts = re.split(r"^## ", md, flags=re.M)
    return {p.split("\n", 1)[0].strip(): p for p in parts[1:]}


def _cells(row: str) -> list[str]:
    """Cells of a GFM table row: split on pipes that are not backslash-escaped."""
    inner = row.strip()
    assert inner.startswith("|") and inner.endswith("|"), row
    return [c.strip() for c in re.split(r"(?<!\\)\|", inner[1:-1])]


def _table_rows(md: str) -> list[list[str]]:
    return [_cells(line) for line in md.splitlines() if line.startswith("|")]


# --------------------------------------------------------------------------- content


def test_header_and_verdict(reports):
    page, md = reports
    for text in (page, md):
        assert "staging" in text
        assert "2025-11-23 02:00:00 UTC" in text
        assert "2025-11-23 02:03:27 UTC" in text
        assert "3 min 27 s" in text
        assert "exit code" in text
        assert "3 failing contract violations and 1 breaking drift change found" in text
    assert "Not compliant" in page
    assert "NOT COMPLIANT" in md
    assert "<!DOCTYPE html>" in page.splitlines()[0]


@pytest.mark.parametrize(
    "code, words",
    [
        (0, "Compliant"),
        (1, "Not compliant"),
        (2, "Configuration error"),
        (3, "Target unreachable"),
    ],
)
def test_verdict_words_for_each_exit_code(code, words):
    summary = realistic_summary()
    summary["exit_code"] = code
    assert build_context(summary)["verdict"]["headline"] == words
    page = render_html(summary)
    assert f"<strong>{words}</strong>" in page
    assert f"{words.upper()}**" in render_markdown(summary)
    if code == 3:
        assert "bimplus could not be reached" in page
        assert "not a contract violation and not drift" in page


@pytest.mark.parametrize(
    "fail_on, words",
    [
        (
            "breaking",
            "2 failing contract violations and 1 failing drift change found (autodesk). 1 more violation(s) listed "
            "that fail nothing (waived, or below --fail-on breaking).",
        ),
        ("warning", "3 failing contract violations and 2 failing drift changes found (autodesk)."),
    ],
)
def test_the_verdict_counts_what_fails_under_fail_on(fail_on, words):
    """The run's `--fail-on` decides which findings fail it (summary.vendor_status); the banner counts those."""
    assert build_context({**realistic_summary(), "fail_on": fail_on})["verdict"]["detail"].startswith(words)


def test_vendors_sorted_and_overview(reports):
    page, md = reports
    names = ["autodesk", "axeobim", "bimplus", "kudo"]
    positions = [page.index(f'<h2 id="vendor-{i}-{n}-title">{n}</h2>') for i, n in enumerate(names, start=1)]
    assert positions == sorted(positions)
    assert [md.index(f"\n## {n}\n") for n in names] == sorted(md.index(f"\n## {n}\n") for n in names)

    overview = _sections(md)["Overview"]
    rows = _table_rows(overview)
    header, body = rows[0], rows[2:]
    assert header == [
        "Vendor",
        "Status",
        "Passed",
        "Failed",
        "Skipped",
        "Requests",
        "Violations",
        "Drift",
        "Deprecations",
        "Ambiguities",
    ]
    assert all(len(r) == len(header) for r in rows)
    autodesk = body[0]
    assert autodesk[0] == "[autodesk](#autodesk)"
    assert autodesk[1].endswith("Violations")
    assert autodesk[2:] == ["41", "3", "2", "187", "3", "3 (1 breaking)", "1", "1"]
    assert body[2][1].endswith("Unreachable") and body[3][1].endswith("Skipped") and body[1][1].endswith("OK")
    assert body[-1][0] == "**Total**"
    # status is a word, not just a colour
    for label in ("Violations", "Unreachable", "Skipped", "OK"):
        assert re.search(
            rf'<span class="pill [a-z]+"><span class="sym" aria-hidden="true">[^<]*</span> {label}</span>', page
        ), label


def test_violations_ordered_by_severity_then_check(reports):
    page, md = reports
    order = ["expires_in_is_integer", "wrong_content_type_gives_415", "token_type_is_bearer"]
    assert [page.index(f'<span class="check">{c}</span>') for c in order] == sorted(
        page.index(f'<span class="check">{c}</span>') for c in order
    )
    section = _sections(md)["autodesk"]
    rows = [r for r in _table_rows(section.split("### Drift")[0]) if r[0].isdigit()]
    assert [r[2] for r in rows] == [f"`{c}`" for c in order]
    assert [r[1].split()[-1] for r in rows] == ["Breaking", "Breaking", "Warning"]
    assert rows[0][3] == "`POST /authentication/v2/token`"


def test_repro_is_a_copyable_code_block(reports):
    page, md = reports
    repro = realistic_summary()["vendors"]["autodesk"]["violations"][1]["repro"]
    assert f'<pre id="repro-1-2"><code>{escape(repro)}</code></pre>' in page
    assert f"```sh\n{repro}\n```" in md
    assert 'class="copy"' in page and " hidden>Copy</button>" in page  # shown by JS only


def test_drift_grouped_by_severity(reports):
    page, md = reports
    section = _sections(md)["autodesk"]
    drift = section.split("### Drift (3)")[1].split("### Deprecations")[0]
    assert "1 breaking, 1 warning, 1 info" in drift
    headings = re.findall(r"^#### .*$", drift, flags=re.M)
    assert [h.split()[-2] for h in headings] == ["Breaking", "Warning", "Info"]
    assert "| `autodesk.v1.authenticate.bad_secret` | `status_changed` | `status` | `401` → `400` |" in drift
    assert "_(absent)_ → `<jwt RS256 kid=…>`" in drift
    assert "<code>401</code>" in page and "<code>400</code>" in page
    assert "<code>&lt;jwt RS256 kid=…&gt;</code>" in page


def test_deprecations_ambiguities_notes_and_errors(reports):
    page, md = reports
    for text in (page, md):
        assert "2024-04-30" in text and "date has passed" in text
        assert "still served (HTTP 200), no Deprecation or Sunset header" in text
        assert "works" in text
        assert "APS v2 migration guide vs v2 reference" in text
        assert "connect timeout to api-stage.bimplus.net:443 after 3 attempts" in text
        assert "no baseline for this vendor: drift not checked" in text
        assert "vendor skipped" in text  # the top-level note and the skipped vendor's sections
    assert "Unreachable:" in page
    assert "> **Unreachable:** connect timeout" in md
    assert "&#34;no change in the API response&#34;" in page or "&quot;no change in the API response&quot;" in page


def test_empty_sections_say_so(reports):
    page, md = reports
    for text in (page, md):
        for words in ("No violations.", "No drift.", "No deprecations.", "No ambiguities."):
            assert words in text
    axeobim = _sections(md)["axeobim"]
    for words in ("No violations.", "No drift.", "No deprecations.", "No ambiguities."):
        assert f"\n{words}\n" in axeobim
    kudo = _sections(md)["kudo"]
    assert "No violations. _(vendor skipped: no checks ran)_" in kudo
    bimplus = _sections(md)["bimplus"]
    assert "No drift. _(vendor unreachable: checks could not run)_" in bimplus


def test_no_vendors_and_minimal_summary(tmp_path):
    summary = {
        "schema": "authcanary.summary/1",
        "target": "staging",
        "exit_code": 2,
        "notes": ["targets.toml: [targets.staging.autodesk] client_secret: ${APS_CLIENT_SECRET} is not set"],
        "vendors": {},
    }
    page_path, md_path = write_reports(tmp_path, summary)
    page, md = page_path.read_text(), md_path.read_text()
    for text in (page, md):
        assert "No vendors were run." in text
        assert "not recorded" in text  # no started / finished
        assert "Configuration error".upper() in text.upper()
    assert "\\${APS_CLIENT_SECRET}" in md  # no accidental GitHub math; intraword _ is left readable
    assert "${APS_CLIENT_SECRET}" in page


def test_malformed_summary_still_renders(tmp_path):
    summary = {
        "schema": "authcanary.summary/0",
        "target": None,
        "exit_code": "?",
        "vendors": {
            "x": {
                "status": "weird",
                "checks": None,
                "requests": "many",
                "violations": ["bare string"],
                "drift": {"key": "k"},
                "ambiguities": None,
            },
            "y": "not a dict",
        },
    }
    page_path, md_path = write_reports(tmp_path, summary)
    page, md = page_path.read_text(), md_path.read_text()
    assert "bare string" in page and "bare string" in md
    assert "authcanary.summary/0" in page
    assert "malformed vendor entry" in md


# --------------------------------------------------------------------------- hostile values


def hostile_summary() -> dict:
    summary = realistic_summary()
    autodesk = summary["vendors"]["autodesk"]
    autodesk["violations"][0].update(
        check=f"check{HOSTILE}",
        expected="a | b",
        observed=f"HTTP 200 {HOSTILE} | piped\nsecond line",
        repro=f"curl https://x.example/ -d '</code></pre>{HOSTILE}'",
    )
    autodesk["drift"][0].update(current=f"no-store | {HOSTILE}")
    autodesk["ambiguities"][0]["text"] = (
        "<img src=https://evil.example/x.png onerror=alert(1)> [click](javascript:alert(1))"
    )
    autodesk["notes"] = [HOSTILE, "# not a heading", "*not emphasis*"]
    summary["vendors"][f"evil{HOSTILE}"] = {"status": f"ok{HOSTILE}", "error": HOSTILE}
    summary["target"] = f"stag|ing{HOSTILE}"
    return summary


def test_html_escapes_hostile_values():
    page = render_html(hostile_summary())
    assert "alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;" in page
    # the only script element is the report's own, inline
    assert page.count("<script") == 1 and "<script>\n(function" in page
    assert 'id="vendor-1-autodesk"' in page and 'id="vendor-4-evil-script-alert-1-script"' in page


def _outside_code(md: str) -> str:
    """report.md without fenced blocks and code spans (where text is literal, never HTML)."""
    md = re.sub(r"^(`{3,})[^\n]*\n.*?^\1$", "", md, flags=re.M | re.S)
    return re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", md)


def test_markdown_escapes_hostile_values_and_pipes():
    md = render_markdown(hostile_summary())
    # outside code, the only raw HTML is the report's own <br>
    assert re.findall(r"<(?!br>)", _outside_code(md)) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert "<img" not in md
    assert "\\[click\\](javascript:alert(1))" in md
    section = _sections(md)["autodesk"]
    violations = section.split("### Drift")[0]
    header, *rows = [r for r in _table_rows(violations) if r]
    assert all(len(r) == len(header) == 6 for r in rows)
    row = next(r for r in rows if "piped" in r[5])
    assert row[4] == "a \\| b"
    assert row[5] == "HTTP 200 &lt;script&gt;alert(1)&lt;/script&gt; \\| piped<br>second line"
    assert row[2] == "`check<script>alert(1)</script>`"  # code span: literal text on GitHub, never HTML
    drift_rows = _table_rows(section.split("### Drift")[1].split("### Deprecations")[0])
    assert all(len(r) == 4 for r in drift_rows)
    assert any("`no-store \\| <script>alert(1)</script>`" in r[3] for r in drift_rows)
    assert "- \\# not a heading" in section and "- \\*not emphasis\\*" in section
    assert md.startswith("# authcanary report: `stag|ing<script>alert(1)</script>`\n")
    overview_rows = _table_rows(_sections(md)["Overview"])
    assert all(len(r) == 10 for r in overview_rows)


def test_markdown_backticks_in_code_spans_and_fences():
    summary = realistic_summary()
    violation = summary["vendors"]["autodesk"]["violations"][0]
    violation["check"] = "uses `backticks`"
    violation["repro"] = "echo '```'\ncurl x"
    md = render_markdown(summary)
    assert "`` uses `backticks` ``" in md
    assert "````sh\necho '```'\ncurl x\n````" in md


# --------------------------------------------------------------------------- self-contained, long values


def test_html_is_self_contained(reports):
    page, _ = reports
    assert not re.search(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//", page, re.I)
    assert "@import" not in page and "<link" not in page and "<img" not in page and "<iframe" not in page
    assert re.search(r"<script[^>]*\ssrc", page) is None
    assert "<style>" in page
    for href in re.findall(r'href="([^"]*)"', page):
        assert href.startswith("#"), href
    # the curl repro is text inside a <pre>, not a link
    assert "https://developer.api.autodesk.com/authentication/v1/authenticate" in page


def test_long_values_truncated_in_markdown_full_in_html(reports):
    page, md = reports
    rows = _table_rows(_sections(md)["autodesk"].split("### Drift")[0])
    long_row = next(r for r in rows if r[2] == "`wrong_content_type_gives_415`")
    assert long_row[5].endswith("…")
    assert len(long_row[5]) < 400
    assert "END-OF-BODY" not in long_row[5]
    assert "Full observed value:\n\n```text\nHTTP 400 " + LONG_BODY + "\n```" in md
    # HTML: preview plus the full value in a <details>
    full = str(escape("HTTP 400 " + LONG_BODY))
    details = re.search(
        r"<details class=\"full\"><summary>Show full value \((\d+) characters\)</summary>"
        r"<pre class=\"full-val\">(.*?)</pre></details>",
        page,
        re.S,
    )
    assert details and details.group(2) == full
    assert int(details.group(1)) == len("HTTP 400 " + LONG_BODY)


def test_write_reports_creates_folder_and_is_deterministic(tmp_path):
    summary = realistic_summary()
    before = copy.deepcopy(summary)
    first = [p.read_bytes() for p in write_reports(tmp_path / "a" / "b", summary)]
    second = [p.read_bytes() for p in write_reports(tmp_path / "a" / "b", summary)]
    assert first == second
    assert summary == before  # the caller's dict is not modified
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["report.html", "report.md"]
    json.dumps(summary)  # still serialisable as summary.json


def test_markdown_parses_as_gfm_tables_without_raw_html():
    """Render report.md with a CommonMark parser (raw HTML allowed, as on GitLab) and check what comes out."""
    markdown_it = pytest.importorskip("markdown_it")
    parser = markdown_it.MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    out = parser.render(render_markdown(hostile_summary()))
    assert "<script" not in out and "<img" not in out and 'href="javascript:' not in out
    assert "<h1>authcanary report: <code>stag|ing&lt;script&gt;alert(1)&lt;/script&gt;</code></h1>" in out
    # overview, removal calendar, 3 violations table, 3 drift groups, deprecations, ambiguities
    assert out.count("<table>") == 8
    assert "<td>a | b</td>" in out
    assert "<td>HTTP 200 &lt;script&gt;alert(1)&lt;/script&gt; | piped<br>second line</td>" in out
    assert "<code>no-store | &lt;script&gt;alert(1)&lt;/script&gt;</code>" in out
    assert "<li># not a heading</li>" in out and "<li>*not emphasis*</li>" in out
    assert '<a href="#autodesk">autodesk</a>' in out


def test_html_fully_readable_without_js(reports):
    page, _ = reports
    # the only things hidden until JS runs are the copy buttons; <details> hold duplicates of previews
    assert page.count(" hidden>") == page.count('class="copy"') == 3
    assert "display:none" not in page.replace(" ", "").split("@mediaprint")[0]


def test_reports_say_how_the_run_was_made_and_what_drift_was_not_checked():
    summary = realistic_summary()
    summary.update(mode="replay", baseline="/ci/cassettes", exit_code=0)
    for entry in summary["vendors"].values():
        entry.update(status="ok", violations=[], drift=[], drift_checked=False)
    summary["vendors"]["autodesk"]["simulator_profile"] = "lowercase-token-type"
    for text in (render_markdown(summary), render_html(summary)):
        assert "replay" in text and "/ci/cassettes" in text and "lowercase-token-type" in text
        assert "Drift not checked" in text and "No drift." not in text
        assert "drift was not checked" in text
        assert "drift.json" not in text  # a replay run records nothing


@pytest.mark.parametrize(
    ("removal", "passed"),
    [
        ("2024", True),
        ("2025", False),
        ("2025-10", True),
        ("2025-11", False),
        ("2025-11-22", True),
        ("2026", False),
        ("soon", False),
    ],
)
def test_an_announced_removal_given_as_a_year_or_month_is_flagged_once_past(removal, passed):
    summary = realistic_summary()  # run on 2025-11-23
    entry = summary["vendors"]["autodesk"]
    entry["deprecations"] = [{"endpoint": V1, "announced_removal": removal, "observed": "served (200)"}]
    assert ("(date has passed)" in render_markdown(summary)) is passed


def test_a_violation_names_the_tests_that_saw_it():
    summary = realistic_summary()
    violation = summary["vendors"]["autodesk"]["violations"][0]
    violation["tests"] = ["suites/autodesk/test_a.py::test_one", "suites/autodesk/test_b.py::test_two[v2]"]
    markdown, page = render_markdown(summary), render_html(summary)
    assert (
        "seen in 2 tests: `suites/autodesk/test_a.py::test_one`, `suites/autodesk/test_b.py::test_two[v2]`" in markdown
    )
    assert "<dt>Seen in</dt>" in page and "test_two[v2]" in page


def test_every_run_output_is_written_whole_by_one_writer(tmp_path, monkeypatch):
    """The one atomic writer (summary.json, the reports, drift.json and drift.md, cassettes): a failed write leaves
    the previous file and no temporary one; a written file is an ordinary 0644 one."""
    import os

    from authcanary.files import write_atomically

    path = tmp_path / "sub" / "report.md"
    write_atomically(path, "first\n")
    assert path.read_text() == "first\n" and (path.stat().st_mode & 0o777) == 0o644

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, "second\n")
    monkeypatch.undo()
    assert path.read_text() == "first\n" and [p.name for p in path.parent.iterdir()] == ["report.md"]


# --------------------------------------------------------------------------- migration readiness

OIDC_TOKEN = "POST {issuer}/protocol/openid-connect/token"
GAP = "migration gap: no documented replacement"


def migration_summary() -> dict:
    """The realistic run with Bimplus reachable and one migration step per readiness state."""
    summary = realistic_summary()
    bimplus = summary["vendors"]["bimplus"]
    bimplus.update(status="ok", checks={"passed": 12, "failed": 0, "skipped": 2}, error=None)
    bimplus["migration"] = [
        {
            "capability": "token info",
            "legacy_endpoint": "GET /v2/authorize",
            "announced_removal": "2025-06",
            "legacy_observed": "removed (410)",
            "replacement": OIDC_TOKEN + "/introspect",
            "replacement_ok": False,
            "gap": False,
            "note": "introspection answered 500",
        },
        {
            "capability": "authorize",
            "legacy_endpoint": "POST /v2/authorize",
            "announced_removal": "2026",
            "legacy_observed": "served (200) with Deprecation and Sunset header(s)",
            "replacement": OIDC_TOKEN + " (password grant)",
            "replacement_ok": True,
            "gap": False,
            "note": "",
        },
        {
            "capability": "remember-me",
            "legacy_endpoint": "POST /v2/authorize",
            "announced_removal": "2026",
            "legacy_observed": "served (200)",
            "replacement": OIDC_TOKEN + " (refresh token)",
            "replacement_ok": None,
            "gap": False,
            "note": "",
        },
        {
            "capability": "cross token",
            "legacy_endpoint": "POST /v2/cross-token",
            "announced_removal": "2026",
            "legacy_observed": "served (200)",
            "replacement": "",
            "replacement_ok": None,
            "gap": True,
            "note": "Keycloak documents no equivalent",
        },
    ]
    return summary


def _migration_rows(md: str) -> dict[str, list[str]]:
    """The Migration readiness table of report.md's bimplus section, by capability."""
    table = _sections(md)["bimplus"].split("### Migration readiness")[1].split("### Ambiguities")[0]
    header, _, *rows = _table_rows(table)
    assert header == [
        "Capability",
        "Legacy endpoint",
        "Announced removal",
        "Legacy observed",
        "Replacement",
        "Replacement works",
        "Note",
    ]
    assert all(len(row) == len(header) for row in rows)
    return {row[0]: row for row in rows}


def _migration_html_rows(page: str) -> dict[str, str]:
    table = page.split("<h3>Migration readiness")[1].split("</table>")[0]
    rows = re.findall(r"<tr>\s*<td><span class=\"val\">(.*?)</span></td>(.*?)</tr>", table, re.S)
    return {capability: cells for capability, cells in rows}


def test_migration_readiness_renders_each_state_in_markdown():
    rows = _migration_rows(render_markdown(migration_summary()))
    assert list(rows) == ["authorize", "cross token", "remember-me", "token info"]  # sorted by capability
    assert rows["authorize"] == [
        "authorize",
        "`POST /v2/authorize`",
        "2026",
        "served (200) with Deprecation and Sunset header(s)",
        "`POST {issuer}/protocol/openid-connect/token (password grant)`",
        "✅ works",
        "",
    ]
    assert rows["token info"][2] == "2025-06 (date has passed)" and rows["token info"][3] == "removed (410)"
    assert rows["token info"][5] == "❌ fails" and rows["token info"][6] == "introspection answered 500"
    assert rows["remember-me"][5] == "not checked"
    gap = rows["cross token"]
    assert gap[4] == "none documented" and gap[5] == f"ℹ️ {GAP}" and gap[6] == "Keycloak documents no equivalent"
    assert "❌" not in gap[5] and "✅" not in gap[5]  # a gap is reported, not a failure


def test_migration_readiness_renders_each_state_in_html():
    page = render_html(migration_summary())
    rows = _migration_html_rows(page)
    assert list(rows) == ["authorize", "cross token", "remember-me", "token info"]
    assert '<span class="pill ok"><span class="sym" aria-hidden="true">✓</span> works</span>' in rows["authorize"]
    assert '<span class="pill bad"><span class="sym" aria-hidden="true">✗</span> fails</span>' in rows["token info"]
    assert "date has passed" in rows["token info"] and "introspection answered 500" in rows["token info"]
    assert "> not checked</span>" in rows["remember-me"] and 'class="pill neutral"' in rows["remember-me"]
    gap = rows["cross token"]
    assert f'class="pill neutral"><span class="sym" aria-hidden="true">–</span> {GAP}</span>' in gap
    assert "pill bad" not in gap and "pill ok" not in gap
    assert '<span class="absent">none documented</span>' in gap
    assert "<code>POST /v2/cross-token</code>" in gap


def test_migration_readiness_is_counted_in_the_overview_and_totals():
    summary = migration_summary()
    md, page = render_markdown(summary), render_html(summary)
    assert '<h3>Migration readiness <span class="badge">1/4 ready</span></h3>' in page
    assert "### Migration readiness (1/4 ready)" in md
    for text in (md, page):
        assert "1 failing, 1 gap, 1 not checked" in text
    assert "· 1/4 migration capabilities ready ·" in md
    assert '<span class="n">1/4</span><span class="l">migration capabilities ready</span>' in page
    rows = _table_rows(_sections(md)["Overview"])
    header, body = rows[0], rows[2:]
    assert header[9] == "Migration ready" and all(len(r) == 11 for r in rows)
    by_vendor = {row[0]: row for row in body}
    assert by_vendor["[bimplus](#bimplus)"][9] == "1/4 (1 failing, 1 gap, 1 not checked)"
    assert by_vendor["[autodesk](#autodesk)"][9] == "—"  # no migration recorded for that vendor
    assert by_vendor["**Total**"][9] == "1/4"
    assert '<th scope="col" class="n">Migration ready</th>' in page
    assert '<span class="num bad">1/4</span> <span class="muted">(1 failing, 1 gap, 1 not checked)</span>' in page


def test_all_capabilities_ready_reads_green():
    summary = migration_summary()
    steps = summary["vendors"]["bimplus"]["migration"] = summary["vendors"]["bimplus"]["migration"][:2]
    steps[0]["replacement_ok"] = True
    context = build_context(summary)
    assert context["totals"]["migration_ready"] == context["totals"]["migration"] == 2
    assert '<span class="num ok">2/2</span>' in render_html(summary)
    assert "| 2/2 |" in render_markdown(summary)


def test_no_migration_entries_no_migration_table_or_column(reports):
    for text in reports:
        assert "Migration readiness" not in text and "Migration ready" not in text
        assert "migration capabilities" not in text


def test_migration_values_are_escaped():
    summary = migration_summary()
    for entry in summary["vendors"]["bimplus"]["migration"]:
        for key in ("capability", "legacy_endpoint", "announced_removal", "legacy_observed", "replacement", "note"):
            entry[key] = f"{entry[key]} | {HOSTILE}"
    page = render_html(summary)
    assert page.count("<script") == 1  # the report's own
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4 * 6
    md = render_markdown(summary)
    assert re.findall(r"<(?!br>)", _outside_code(md)) == []
    rows = _migration_rows(md)
    row = rows["authorize | &lt;script&gt;alert(1)&lt;/script&gt;".replace("|", "\\|")]
    assert row[1] == "`POST /v2/authorize \\| <script>alert(1)</script>`"  # code span: literal, never HTML
    assert row[3] == "served (200) with Deprecation and Sunset header(s) \\| &lt;script&gt;alert(1)&lt;/script&gt;"
    markdown_it = pytest.importorskip("markdown_it")
    out = markdown_it.MarkdownIt("commonmark", {"html": True}).enable(["table"]).render(md)
    assert "<script" not in out


def test_malformed_migration_entries_still_render():
    summary = migration_summary()
    bimplus = summary["vendors"]["bimplus"]
    bimplus["migration"] = [
        "bare string",
        {"capability": None, "replacement_ok": "yes", "gap": "true", "note": ["a", "list"]},
        {"capability": 7, "replacement_ok": 1, "announced_removal": 2026, "legacy_observed": {"status": 410}},
        {"capability": "logout", "gap": True, "replacement_ok": False},
    ]
    summary["vendors"]["kudo"]["migration"] = {"capability": "lone dict"}
    summary["vendors"]["axeobim"]["migration"] = 42
    md, page = render_markdown(summary), render_html(summary)
    for text in (md, page):
        assert "bare string" in text and "lone dict" in text and "(unnamed capability)" in text
    rows = _migration_rows(md)
    unnamed = rows["(unnamed capability)"]  # the last of the two unnamed ones: the dict with a list as its note
    assert unnamed[5] == "not checked" and "list" in unnamed[6]  # a string is not a boolean; "true" is not a gap
    assert rows["7"][5] == "not checked" and rows["7"][2] == "2026" and "410" in rows["7"][3]
    assert rows["logout"][5] == f"ℹ️ {GAP}"  # a gap reads as one whatever replacement_ok says
    assert build_context(summary)["totals"]["migration"] == 4 + 1 + 1
    assert "42" in md


# --------------------------------------------------------------------------- findings over time (issue 12)

JIRA_3 = "https://vendor.example/JIRA-3"
JIRA_12 = "https://vendor.example/JIRA-12"
HISTORY_ERROR = (
    "history.sqlite was not a database: set aside as history.sqlite.corrupt-20251123T020000Z; a new history was started"
)
# (day of November 2025, exit code, findings, new, resolved, waived): the last run is this one (2025-11-23)
TREND = [(17, 0, 0, 0, 0, 0), (18, 1, 2, 2, 0, 0), (19, 1, 2, 0, 0, 0), (20, 3, 0, 0, 0, 0), (21, 1, 3, 1, 0, 1)]
TREND += [(22, 1, 4, 1, 1, 1), (23, 1, 6, 2, 1, 1)]


def lifecycle_summary() -> dict:
    """The realistic run as a run with history and waivers writes it (the shapes of /tmp/i12-spec.md)."""
    summary = realistic_summary()
    summary.update(harness_version="0.1.0", fail_on=None)
    summary["history"] = {
        "path": "reports/history.sqlite",
        "previous_run": "2025-11-22T02:00:05+00:00",
        "trend": [
            {
                "started": f"2025-11-{d}T02:00:04+00:00",
                "exit_code": c,
                "findings": f,
                "new": n,
                "resolved": r,
                "waived": w,
            }
            for d, c, f, n, r, w in TREND
        ],
    }
    summary["waivers"] = {
        "path": "waivers.toml",
        "stale": [
            {
                "vendor": "kudo",
                "check": "kudo.generate.fresh_token",
                "endpoint": "",
                "drift": "",
                "target": "",
                "reason": "fixed by the vendor?",
                "ticket": "https://vendor.example/JIRA-7",
                "expires": "2026-12-31",
            }
        ],
        "expired": [
            {
                "vendor": "autodesk",
                "check": "autodesk.token.expires_in_integer",
                "endpoint": "POST /authentication/v2/token",
                "drift": "",
                "target": "staging",
                "reason": "string expires_in until v2.1",
                "ticket": JIRA_12,
                "expires": "2025-11-01",
            }
        ],
    }
    autodesk = summary["vendors"]["autodesk"]
    bearer, content_type, expires_in = autodesk["violations"]
    bearer.update(
        id=f"autodesk.token.token_type_bearer {V1}",
        check_id="autodesk.token.token_type_bearer",
        state="open",
        first_seen="2025-11-05T02:00:03+00:00",
        runs_seen=16,
        flapping=True,
        waiver={"reason": "vendor says lowercase is fine", "ticket": JIRA_3, "expires": "2026-12-31", "expired": False},
        source="APS v1 reference §Authenticate; RFC 6749 §5.1 (token_type), §7.1; RFC 6750 §4 and seed 002 §4",
        check_file="contracts/autodesk/checks.yaml",
        check_line=24,
        source_url="file:///work/main/contracts/autodesk/checks.yaml#L24",
        tests=["suites/autodesk/test_a.py::test_one", "suites/autodesk/test_b.py::test_two[v2]", "suites/t.py::test_3"],
    )
    content_type.update(
        state="new",
        first_seen="2025-11-23T02:00:00+00:00",
        runs_seen=1,
        source="RFC 9110 §15.5.16 (415)",
        check_file="contracts/autodesk/checks.yaml",
        check_line=40,
        source_url="https://github.com/o/r/blob/main/contracts/autodesk/checks.yaml#L40",
    )
    expires_in.update(
        check_id="autodesk.token.expires_in_integer",
        state="open",
        first_seen="2025-10-01T02:00:00+00:00",
        runs_seen=40,
        waiver={"reason": "string expires_in until v2.1", "ticket": JIRA_12, "expires": "2025-11-01", "expired": True},
    )
    autodesk["drift"][0].update(state="new", first_seen="2025-11-23T02:00:00+00:00", runs_seen=1)
    autodesk["drift"][1].update(
        state="open",
        first_seen="2025-11-21T02:00:00+00:00",
        runs_seen=3,
        waiver={"reason": "401 to 400 accepted", "ticket": "JIRA-99", "expires": "2026-01-31", "expired": False},
    )
    autodesk["deprecations"][0].update(state="open", first_seen="2025-09-01T02:00:00+00:00", runs_seen=80)
    autodesk["deprecations"].append(
        {
            "endpoint": "GET /userprofile/v1/users/@me",
            "announced_removal": "2026-03",
            "observed": "served (200)",
            "replacement": "GET /userinfo",
            "replacement_ok": False,
            "state": "new",
            "runs_seen": 1,
        }
    )
    autodesk["outages"] = [{"endpoint": "POST /authentication/v2/token", "status": 503, "count": 2, "state": "new"}]
    autodesk["resolved"] = [
        {
            "id": "drift autodesk/v2#POST /authentication/v2/token#0 header_changed headers.etag",
            "kind": "drift",
            "title": "headers.etag changed",
            "endpoint": "POST /authentication/v2/token",
            "first_seen": "2025-11-01T02:00:00+00:00",
            "last_seen": "2025-11-22T02:00:00+00:00",
            "runs_seen": 15,
            "state": "resolved",
        }
    ]
    autodesk["waived"] = 2
    summary["vendors"]["bimplus"]["migration"] = [
        {
            "capability": "authorize",
            "legacy_endpoint": "POST /v2/authorize",
            "announced_removal": "2026",
            "legacy_observed": "served (200)",
            "replacement": "POST {issuer}/token",
            "replacement_ok": True,
            "gap": False,
            "note": "",
        },
        {
            "capability": "token info",
            "legacy_endpoint": "GET /v2/authorize",
            "announced_removal": "2025-06",
            "legacy_observed": "removed (410)",
            "replacement": "",
            "replacement_ok": None,
            "gap": True,
            "note": "",
        },
    ]
    return summary


@pytest.fixture()
def lifecycle_reports() -> tuple[str, str]:
    summary = lifecycle_summary()
    return render_html(summary), render_markdown(summary)


def _finding(page: str, check: str) -> str:
    """The HTML <article> of the violation with this check."""
    articles = re.findall(r'<article class="finding[^"]*">.*?</article>', page, re.S)
    return next(a for a in articles if f'<span class="check">{check}</span>' in a)


def test_an_old_summary_gets_none_of_the_history_parts(reports):
    page, md = reports
    page = page.split("</style>")[1]
    for text in (page, md):
        for words in ("Over time", "Trend", "Resolved since", "waived", "Stale and expired", "open since", "History"):
            assert words not in text, words
    assert '<th scope="col">State</th>' not in page and "| State |" not in md
    assert 'class="state' not in page and '<details class="tests">' not in page


def test_a_violation_seen_by_several_tests_is_one_finding(lifecycle_reports):
    page, md = lifecycle_reports
    article = _finding(page, "token_type_is_bearer")
    assert '<details class="tests"><summary>seen by 3 tests</summary><ul>' in article
    assert "<li><code>suites/autodesk/test_b.py::test_two[v2]</code></li>" in article
    assert "(seen in 3 tests: `suites/autodesk/test_a.py::test_one`, " in md
    # one test: named inline, no <details>
    summary = realistic_summary()
    summary["vendors"]["autodesk"]["violations"][0]["tests"] = ["suites/a.py::t"]
    assert "<dt>Seen in</dt><dd><code>suites/a.py::t</code></dd>" in render_html(summary)


def test_the_same_finding_listed_twice_is_grouped():
    """A summary from several places (a merge, a hand-made one) may list one finding twice: one card, all tests,
    the worse severity."""
    summary = realistic_summary()
    violations = summary["vendors"]["autodesk"]["violations"]
    first = {**violations[0], "check_id": "autodesk.token.token_type_bearer", "tests": ["a.py::t1", "b.py::t2"]}
    second = {**first, "severity": "breaking", "tests": ["b.py::t2", "c.py::t3"]}
    summary["vendors"]["autodesk"]["violations"] = [first, second, violations[1]]
    [vendor] = [v for v in build_context(summary)["vendors"] if v["name"] == "autodesk"]
    assert [(v["check"], v["severity"]["key"], v["tests"]) for v in vendor["violations"]] == [
        ("token_type_is_bearer", "breaking", ["a.py::t1", "b.py::t2", "c.py::t3"]),
        ("wrong_content_type_gives_415", "breaking", []),
    ]
    assert "seen by 3 tests" in render_html(summary)
    # without a check id only identical entries are one finding
    summary["vendors"]["autodesk"]["violations"] = [violations[1], copy.deepcopy(violations[1]), violations[2]]
    assert len(build_context(summary)["vendors"][0]["violations"]) == 2


def test_each_finding_shows_its_history_state(lifecycle_reports):
    page, md = lifecycle_reports
    head = _finding(page, "wrong_content_type_gives_415").split('<div class="finding-body">')[0]
    assert '<span class="state new">new</span>' in head
    head = _finding(page, "token_type_is_bearer").split('<div class="finding-body">')[0]
    assert '<span class="state open">open since 2025-11-05 (16 runs)</span>' in head
    assert ">flapping</span>" in head
    rows = {
        r[2].split("`")[1]: r for r in _table_rows(_sections(md)["autodesk"].split("### Drift")[0]) if r[0].isdigit()
    }
    assert rows["wrong_content_type_gives_415"][6] == "🆕 new"
    assert rows["token_type_is_bearer"][6] == "🔁 open since 2025-11-05 (16 runs) · 〰️ flapping · ⏸️ waived"
    assert "- **State:** 🔁 open since 2025-10-01 (40 runs) · ❌ waiver expired 2025-11-01" in md
    # drift, deprecations and outages carry theirs too
    drift = _sections(md)["autodesk"].split("### Drift")[1].split("### Deprecations")[0]
    assert "| `autodesk.v1.authenticate.ok` | `header_changed` | `headers.cache-control` |" in drift
    assert all(len(r) == 5 for r in _table_rows(drift))
    assert "🆕 new |" in drift and "🔁 open since 2025-11-21 (3 runs) · ⏸️ waived<br>⏸️ **Waived:** 401 to 400" in drift
    deprecations = _sections(md)["autodesk"].split("### Deprecations")[1].split("### Resolved")[0]
    assert "| ✅ works | 🔁 open since 2025-09-01 (80 runs) |" in deprecations
    assert "answered 503: 2 time(s) · 🆕 new" in md
    assert page.count('<th scope="col">State</th>') == 3 + 1  # three drift groups and the deprecations


def test_a_waived_finding_is_shown_as_waived_not_failing(lifecycle_reports):
    page, md = lifecycle_reports
    article = _finding(page, "token_type_is_bearer")
    assert article.startswith('<article class="finding waived">')
    assert (
        '<div class="waiver"><span class="label">Waived:</span> <span class="val">vendor says lowercase is fine</span>'
        f' &middot; ticket <a href="{JIRA_3}" rel="noopener noreferrer">{JIRA_3}</a> &middot; expires 2026-12-31</div>'
    ) in article
    assert f"- ⏸️ **Waived:** vendor says lowercase is fine · ticket [{JIRA_3}]({JIRA_3}) · expires 2026-12-31" in md
    # waived findings come after the failing ones and do not count as what fails the run
    order = ["expires_in_is_integer", "wrong_content_type_gives_415", "token_type_is_bearer"]
    assert [page.index(f'<span class="check">{c}</span>') for c in order] == sorted(
        page.index(f'<span class="check">{c}</span>') for c in order
    )
    verdict = build_context(lifecycle_summary())["verdict"]["detail"]
    assert verdict.startswith("2 failing contract violations found (autodesk).")  # the waived breaking drift is not one
    assert "2 waived findings listed (known, not failing)." in verdict


def test_a_run_whose_findings_are_all_waived_reads_compliant_and_says_what_it_waived():
    summary = lifecycle_summary()
    autodesk = summary["vendors"]["autodesk"]
    autodesk["violations"] = autodesk["violations"][:1]  # the waived one
    autodesk["drift"] = autodesk["drift"][1:2]  # the waived breaking change
    summary["exit_code"] = 0
    context = build_context(summary)
    assert context["verdict"]["headline"] == "Compliant"
    assert context["verdict"]["detail"].endswith("2 waived findings listed (known, not failing).")


def test_an_expired_waiver_fails_and_says_so(lifecycle_reports):
    page, md = lifecycle_reports
    article = _finding(page, "expires_in_is_integer")
    assert article.startswith('<article class="finding bad">')
    assert '<span class="state expired">waiver expired 2025-11-01</span>' in article
    assert '<div class="waiver expired"><span class="label">Waiver expired:</span>' in article
    assert (
        f"- ❌ **Waiver expired:** string expires_in until v2.1 · ticket [{JIRA_12}]({JIRA_12}) · expired 2025-11-01"
        in md
    )
    assert "1 finding whose waiver expired fails the run." in build_context(lifecycle_summary())["verdict"]["detail"]


def test_resolved_findings_are_listed_per_vendor(lifecycle_reports):
    page, md = lifecycle_reports
    resolved = _sections(md)["autodesk"].split("### Resolved since the previous run (1)")[1].split("### Ambiguities")[0]
    header, _, row = _table_rows(resolved)
    assert header == ["Kind", "Finding", "Endpoint", "First seen", "Last seen", "Runs seen"]
    assert row[0] == "✅ drift" and row[1].startswith("headers.etag changed<br>`drift autodesk/v2#POST")
    assert row[2:] == ["`POST /authentication/v2/token`", "2025-11-01", "2025-11-22", "15"]
    assert "Nothing resolved since the previous run." in _sections(md)["axeobim"]
    assert '<h3>Resolved since the previous run <span class="badge">1</span></h3>' in page
    assert '<td><span class="val">headers.etag changed</span><br><code class="muted">drift autodesk/v2#' in page


def test_the_overview_counts_new_open_resolved_and_waived(lifecycle_reports):
    page, md = lifecycle_reports
    context = build_context(lifecycle_summary())
    totals = {k: context["totals"][k] for k in ("new", "open", "resolved", "waived", "expired")}
    # new: a violation, a drift change, a deprecation, an outage; open: two violations, a drift change, a deprecation
    assert totals == {"new": 4, "open": 4, "resolved": 1, "waived": 2, "expired": 1}
    assert "- **Over time:** 4 new · 4 open · 1 resolved since the previous run · 2 waived · 1 waiver(s) expired" in md
    for n, label in ((4, "new"), (4, "open"), (1, "resolved since the previous run"), (2, "waived")):
        assert f'<span class="n">{n}</span><span class="l">{label}</span>' in page
    rows = {r[0]: r for r in _table_rows(_sections(md)["Overview"])}
    assert rows["Vendor"][-1] == "Over time" and all(len(r) == 12 for r in rows.values())
    assert rows["[autodesk](#autodesk)"][-1] == "4 new · 4 open · 1 resolved · 2 waived · 1 waiver(s) expired"
    assert rows["[axeobim](#axeobim)"][-1] == "–"
    assert rows["**Total**"][-1] == "4 new · 4 open · 1 resolved · 2 waived"


def test_waivers_alone_show_only_the_waived_count():
    summary = lifecycle_summary()
    del summary["history"]
    for entry in summary["vendors"].values():
        entry.pop("resolved", None)
        for kind in ("violations", "drift", "deprecations", "outages"):
            for finding in entry.get(kind, []):
                for key in ("state", "first_seen", "runs_seen", "flapping"):
                    finding.pop(key, None)
    md = render_markdown(summary)
    assert "- **Over time:** 2 waived · 1 waiver(s) expired" in md
    assert "Resolved since" not in md and "Trend" not in md and "new" not in _sections(md)["Overview"]


def test_stale_and_expired_waivers_have_their_own_section(lifecycle_reports):
    page, md = lifecycle_reports
    section = _sections(md)["Stale and expired waivers"]
    expired, stale = section.split("### Expired (1)")[1].split("### Stale (1)")
    assert _table_rows(expired)[2] == [
        "autodesk",
        "check `autodesk.token.expires_in_integer`<br>endpoint `POST /authentication/v2/token`<br>target `staging`",
        "string expires_in until v2.1",
        f"[{JIRA_12}]({JIRA_12})",
        "2025-11-01",
    ]
    assert _table_rows(stale)[2][:2] == ["kudo", "check `kudo.generate.fresh_token`"]
    assert "remove or update them" in stale and "Waivers file: `waivers.toml`" in stale
    assert '<h2 id="waivers-title">Stale and expired waivers</h2>' in page
    assert page.index('id="waivers-title"') < page.index('id="vendor-1-autodesk"')


def test_the_trend_strip_shows_the_last_runs_oldest_first(lifecycle_reports):
    page, md = lifecycle_reports
    strip = page.split('<ol class="trend"')[1].split("</ol>")[0]
    cells = re.findall(r'<li class="run ([a-z]+)( current)?" title="([^"]*)">', strip)
    assert [css for css, _, _ in cells] == ["ok", "bad", "bad", "down", "bad", "bad", "bad"]
    assert [bool(current) for _, current, _ in cells] == [False] * 6 + [True]
    assert cells[-1][2] == (
        "2025-11-23 02:00 UTC (this run): exit 1 (Not compliant), 6 findings: 2 new, 1 resolved, 1 waived"
    )
    assert '<span class="sr-only">2025-11-17 02:00 UTC: exit 0 (Compliant), 0 findings' in strip
    assert "- **Trend** (the last 7 runs, oldest first, this run last): ✅ ❌ ❌ 🔌 ❌ ❌ ❌" in md
    rows = _table_rows(_sections(md)["Trend"])
    assert rows[0] == ["Run", "11-17", "11-18", "11-19", "11-20", "11-21", "11-22", "11-23 (this run)"]
    assert rows[2] == ["Exit code", "✅ 0", "❌ 1", "❌ 1", "🔌 3", "❌ 1", "❌ 1", "❌ 1"]
    assert rows[3] == ["Findings", "0", "2", "2", "0", "3", "4", "6"]
    assert [r[0] for r in rows[4:]] == ["New", "Resolved", "Waived"]
    assert "- **Previous run:** 2025-11-22 02:00:05 UTC" in md
    # the vendor sections keep working anchors after the sections that now come before them
    assert "[autodesk](#autodesk)" in md


def test_a_history_error_is_shown_prominently():
    summary = lifecycle_summary()
    summary["history"]["error"] = HISTORY_ERROR
    page, md = render_html(summary), render_markdown(summary)
    assert page.index("History problem:") < page.index('<dl class="meta">')
    assert f'<span class="label">History problem:</span> <span class="text">{HISTORY_ERROR}</span>' in page
    head = md.split("\n- **Target:**")[0]
    assert "> ⚠️ **History problem:** history.sqlite was not a database: set aside as" in head


def test_a_first_run_says_so():
    summary = lifecycle_summary()
    summary["history"].update(previous_run=None, trend=summary["history"]["trend"][-1:])
    assert "- **Previous run:** none: the first run of this target" in render_markdown(summary)


@pytest.mark.parametrize(
    ("source", "links"),
    [
        ("RFC 6749 §5.2", [("RFC 6749 §5.2", "https://www.rfc-editor.org/rfc/rfc6749#section-5.2")]),
        (
            "RFC 7519 §4.1.4 (exp), §4.1.6 (iat)",
            [
                ("RFC 7519 §4.1.4", "https://www.rfc-editor.org/rfc/rfc7519#section-4.1.4"),
                ("§4.1.6", "https://www.rfc-editor.org/rfc/rfc7519#section-4.1.6"),
            ],
        ),
        (
            "RFC 6749 §2.3.1, §3.2, §5.2 (invalid_request)",
            [
                ("RFC 6749 §2.3.1", "https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1"),
                ("§3.2", "https://www.rfc-editor.org/rfc/rfc6749#section-3.2"),
                ("§5.2", "https://www.rfc-editor.org/rfc/rfc6749#section-5.2"),
            ],
        ),
        ("RFC 8259 lets them be rounded", [("RFC 8259", "https://www.rfc-editor.org/rfc/rfc8259")]),
        (
            "RFC 7636, Section 4.1",
            [
                ("RFC 7636", "https://www.rfc-editor.org/rfc/rfc7636"),
                ("Section 4.1", "https://www.rfc-editor.org/rfc/rfc7636#section-4.1"),
            ],
        ),
        ("RFC 7636 §A.1", [("RFC 7636 §A.1", "https://www.rfc-editor.org/rfc/rfc7636#appendix-A.1")]),
        # sections of anything else are no RFC's
        ("VENDORS.md §4 Generate; seed 003 §Generate token endpoint", []),
        (
            "RFC 9110 §15.5 (4xx); seed 001 §4",
            [("RFC 9110 §15.5", "https://www.rfc-editor.org/rfc/rfc9110#section-15.5")],
        ),
        ("RFC 6750 §3.1 and VENDORS.md §2", [("RFC 6750 §3.1", "https://www.rfc-editor.org/rfc/rfc6750#section-3.1")]),
        ("RFCs in general, RFC0 and RFC 12345678", []),
    ],
)
def test_rfc_references_become_links(source, links):
    parts = source_links(source)
    assert "".join(text for text, _ in parts) == source
    assert [(text, href) for text, href in parts if href] == links


def test_each_finding_links_to_its_check_and_documented_source(lifecycle_reports):
    page, md = lifecycle_reports
    article = _finding(page, "token_type_is_bearer")
    assert (
        '<dt>Documented</dt><dd class="source">APS v1 reference §Authenticate; '
        '<a href="https://www.rfc-editor.org/rfc/rfc6749#section-5.1" rel="noopener noreferrer">RFC 6749 §5.1</a>'
        ' (token_type), <a href="https://www.rfc-editor.org/rfc/rfc6749#section-7.1" rel="noopener noreferrer">§7.1</a>'
        '; <a href="https://www.rfc-editor.org/rfc/rfc6750#section-4" rel="noopener noreferrer">RFC 6750 §4</a>'
        " and seed 002 §4</dd>"
    ) in article
    assert (
        '<dt>Check</dt><dd><a class="declaration" href="file:///work/main/contracts/autodesk/checks.yaml#L24">'
        "contracts/autodesk/checks.yaml:24</a></dd>"
    ) in article
    assert (
        "- **Documented:** APS v1 reference §Authenticate; [RFC 6749 §5.1](https://www.rfc-editor.org/rfc/rfc6749#section-5.1)"
        " (token_type), [§7.1](https://www.rfc-editor.org/rfc/rfc6749#section-7.1); "
        "[RFC 6750 §4](https://www.rfc-editor.org/rfc/rfc6750#section-4) and seed 002 §4"
    ) in md
    assert (
        "- **Check:** [contracts/autodesk/checks.yaml:40](https://github.com/o/r/blob/main/contracts/autodesk/checks.yaml#L40)"
        in md
    )


def test_links_are_only_ours_and_only_with_allowed_schemes():
    summary = lifecycle_summary()
    autodesk = summary["vendors"]["autodesk"]
    bearer, content_type, expires_in = autodesk["violations"]
    bearer.update(
        source=f'RFC 6749 §5.2 "><script>alert(1)</script> [x](javascript:alert(1)) {HOSTILE}',
        source_url="javascript:alert(1)",
    )
    bearer["waiver"]["ticket"] = "javascript:alert(2)"
    content_type.update(source_url="file:///a dir/with (parens)/checks.yaml#L3", check_file="checks.yaml", check_line=3)
    expires_in.update(source_url="data:text/html,<script>alert(1)</script>", check_file=None)
    page, md = render_html(summary), render_markdown(summary)
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert all(h.startswith(("#", "https://", "file://")) for h in hrefs), hrefs
    assert "file:///a%20dir/with%20(parens)/checks.yaml#L3" in hrefs
    assert page.count("<script") == 1 and "javascript:" not in "".join(hrefs)
    assert "data:text" not in page
    article = _finding(page, "token_type_is_bearer")
    assert '<dt>Check</dt><dd><span class="mono">contracts/autodesk/checks.yaml:24</span></dd>' in article
    assert 'ticket <span class="mono">javascript:alert(2)</span>' in article
    assert "[checks.yaml:3](file:///a%20dir/with%20%28parens%29/checks.yaml#L3)" in md
    assert "\\[x\\](javascript:alert(1))" in md and not re.search(r"(?<!\\)\]\(javascript:", md)
    assert re.findall(r"<(?!br>)", _outside_code(md)) == []


def test_the_removal_calendar_lists_every_announced_removal_by_date(lifecycle_reports):
    page, md = lifecycle_reports
    rows = _table_rows(_sections(md)["Removal calendar"])
    assert rows[0] == [
        "Announced removal",
        "When",
        "Vendor",
        "Endpoint",
        "Observed",
        "Replacement",
        "Replacement works",
    ]
    body = rows[2:]
    assert [(r[0], r[1], r[2]) for r in body] == [
        ("2024-04-30", "⏰ past", "autodesk"),
        ("2025-06", "⏰ past", "bimplus"),
        ("2026-03", "📅 upcoming", "autodesk"),
        ("2026", "📅 upcoming", "bimplus"),
    ]
    assert body[1][3] == "`GET /v2/authorize` (migration: token info)" and body[1][5] == "none documented"
    assert body[2][3] == "`GET /userprofile/v1/users/@me` (deprecation)" and body[2][6] == "❌ fails"
    table = page.split('<table class="calendar">')[1].split("</table>")[0]
    assert re.findall(r'<tr class="(past|upcoming|unknown)">', table) == ["past", "past", "upcoming", "upcoming"]
    assert page.index('id="calendar-title"') < page.index('id="vendor-1-autodesk"')


def test_the_calendar_is_judged_against_the_run_day_and_keeps_dates_it_cannot_read():
    summary = realistic_summary()  # run on 2025-11-23
    summary["vendors"]["autodesk"]["deprecations"] = [
        {"endpoint": "GET /soon", "announced_removal": "soon"},
        {"endpoint": "GET /today", "announced_removal": "2025-11-23"},
        {"endpoint": "GET /yesterday", "announced_removal": "2025-11-22"},
        {"endpoint": "GET /this-month", "announced_removal": "2025-11"},
        {"endpoint": "GET /never", "announced_removal": None},
    ]
    calendar = build_context(summary)["calendar"]
    assert [(c["endpoint"], c["when"]["key"]) for c in calendar] == [
        ("GET /yesterday", "past"),
        ("GET /today", "upcoming"),
        ("GET /this-month", "upcoming"),
        ("GET /soon", "unknown"),
    ]
    del summary["started"], summary["finished"]
    assert {c["when"]["key"] for c in build_context(summary)["calendar"]} == {"unknown"}


def test_history_and_waiver_values_are_escaped():
    summary = lifecycle_summary()
    autodesk = summary["vendors"]["autodesk"]
    autodesk["violations"][0]["waiver"].update(reason=HOSTILE, expires=HOSTILE)
    autodesk["violations"][1].update(state=HOSTILE, first_seen=HOSTILE)
    autodesk["resolved"][0].update(title=f"t | {HOSTILE}", id=HOSTILE, kind=HOSTILE, endpoint=HOSTILE)
    summary["waivers"]["stale"][0].update(vendor=HOSTILE, check=f"c | {HOSTILE}", reason=HOSTILE, ticket=HOSTILE)
    summary["history"]["trend"][0]["started"] = HOSTILE
    summary["history"]["error"] = HOSTILE
    page, md = render_html(summary), render_markdown(summary)
    assert page.count("<script") == 1
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 8
    assert re.findall(r"<(?!br>)", _outside_code(md)) == []
    assert "date not recorded" in page  # an unreadable trend date never reaches the title attribute
    for table in ("Stale and expired waivers", "autodesk"):
        widths = {len(r) for r in _table_rows(_sections(md)[table].split("### Ambiguities")[0]) if r[0] != "#"}
        assert widths, table
    markdown_it = pytest.importorskip("markdown_it")
    out = markdown_it.MarkdownIt("commonmark", {"html": True}).enable(["table"]).render(md)
    assert "<script" not in out


def test_malformed_history_fields_still_render():
    summary = realistic_summary()
    summary["history"] = {"trend": ["x", {"exit_code": "1", "started": 5}], "previous_run": 7, "error": ["a"]}
    summary["waivers"] = {"stale": "nope", "expired": [None, "bare"]}
    autodesk = summary["vendors"]["autodesk"]
    autodesk["violations"][0].update(state=3, runs_seen="many", flapping="yes", waiver="yes", tests="t", source=5)
    autodesk["violations"][1].update(source_url=["x"], check_line="x", check_file="c.yaml")
    autodesk["drift"][0]["waiver"] = {"expired": "true"}
    autodesk["resolved"] = ["bare", {"runs_seen": None}]
    autodesk["waived"] = True
    page, md = render_html(summary), render_markdown(summary)
    for text in (page, md):
        assert "bare" in text and "(untitled finding)" in text
    assert '<dt>Check</dt><dd><span class="mono">c.yaml</span></dd>' in page
    summary["history"] = "not an object"
    assert "not an object" in render_markdown(summary)


def test_gfm_tables_of_a_lifecycle_report_stay_rectangular(lifecycle_reports):
    _, md = lifecycle_reports
    for block in re.split(r"\n\n", md):
        rows = _table_rows(block)
        if rows:
            assert len({len(r) for r in rows}) == 1, block
    markdown_it = pytest.importorskip("markdown_it")
    out = markdown_it.MarkdownIt("commonmark", {"html": True}).enable(["table"]).render(md)
    assert '<a href="https://www.rfc-editor.org/rfc/rfc9110#section-15.5.16">RFC 9110 §15.5.16</a>' in out
    assert '<a href="#autodesk">autodesk</a>' in out


def test_a_vendor_whose_name_is_a_section_heading_keeps_a_working_anchor():
    summary = lifecycle_summary()
    summary["vendors"]["trend"] = summary["vendors"].pop("axeobim")
    md = render_markdown(summary)
    assert "[trend](#trend-1)" in md and "\n## Trend\n" in md and "\n## trend\n" in md

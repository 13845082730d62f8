"""Report writers: report.html (self-contained, escaped) and report.md (GitHub/GitLab tables)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from markupsafe import escape

from authcanary.reporting import build_context, render_html, render_markdown, write_reports

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
        assert "3 contract violations and 1 breaking drift change found" in text
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
    # overview, 3 violations table, 3 drift groups, deprecations, ambiguities
    assert out.count("<table>") == 7
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

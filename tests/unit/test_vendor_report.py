"""The vendor regression report (`authcanary report vendor`): one vendor's findings, nothing internal, escaped."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from authcanary import __version__
from authcanary.errors import ConfigError
from authcanary.recording.scan import scan_paths
from authcanary.reporting.vendor import (
    build_vendor_context,
    render_vendor_html,
    render_vendor_markdown,
    vendor_report_paths,
    write_vendor_report,
)

HOSTILE = "<script>alert(1)</script>"
HOSTILE_MD = "| pipe | [click](javascript:alert(1)) **bold** <img src=x onerror=alert(1)> `tick`"
CANARY_SECRET = "sk_live_Zx81Qw0pLm3Nv7Rt5Yb2Kc9Hd4Jf6Gs"  # what a leaked key would look like
WAIVER_REASON = "INTERNAL-ONLY: agreed with sales to ignore this until renewal"
WAIVER_TICKET = "https://jira.internal.example/browse/OPS-4711"
INTERNAL_NOTE = "INTERNAL NOTE: flaky on the staging runner"
FILE_URL = "file:///home/ci/authcanary/contracts/kudo/checks.yaml#L24"
TEST_ID = "suites/kudo/test_scenarios.py::test_the_same_parameters_get_a_fresh_token"
REPRO = (
    "curl -i -X POST https://kudo.example/generate -H 'content-type: application/json' "
    '-H "x-api-key: ${KUDO_API_KEY}" --data-raw \'{"file":"test.dwg"}\''
)


def summary() -> dict[str, Any]:
    """A nightly run: kudo with every kind of finding (history and a waiver), autodesk with its own."""
    return {
        "schema": "authcanary.summary/1",
        "target": "staging",
        "started": "2026-11-30T02:00:05+00:00",
        "finished": "2026-11-30T02:03:00+00:00",
        "mode": "live",
        "baseline": "/home/ci/authcanary/cassettes",
        "exit_code": 1,
        "harness_version": "9.8.7",
        "notes": ["autodesk: slow today", INTERNAL_NOTE],
        "waivers": {"path": "/home/ci/authcanary/waivers.toml", "stale": [], "expired": []},
        "history": {"path": "/home/ci/authcanary/reports/history.sqlite", "previous_run": None, "trend": []},
        "vendors": {
            "kudo": {
                "status": "violations",
                "base_url": "https://partner:hunter2@kudo.example/api?key=abc#frag",
                "checks": {"passed": 19, "failed": 2, "skipped": 1},
                "requests": 206,
                "notes": [INTERNAL_NOTE],
                "simulator_profile": None,
                "violations": [
                    {
                        "check": "every generate call gets a new token",
                        "check_id": "kudo.generate.fresh_token",
                        "endpoint": "POST /generate",
                        "expected": "a token not issued before",
                        "observed": "the token of an earlier call, again",
                        "severity": "breaking",
                        "repro": REPRO,
                        "tests": [TEST_ID],
                        "id": "kudo.generate.fresh_token POST /generate",
                        "state": "open",
                        "first_seen": "2026-11-05T02:00:03+00:00",
                        "runs_seen": 16,
                        "flapping": False,
                        "source": "seed 003 §Generate token endpoint; RFC 9562 §6.9 (unguessable uuids)",
                        "check_file": "contracts/kudo/checks.yaml",
                        "check_line": 24,
                        "source_url": FILE_URL,
                        "waiver": {"reason": WAIVER_REASON, "ticket": WAIVER_TICKET, "expires": "2026-12-31"},
                    },
                    {
                        "check": "verify answers " + HOSTILE,
                        "check_id": "kudo.verify.same_parameters",
                        "endpoint": "GET /verify",
                        "expected": HOSTILE_MD,
                        "observed": HOSTILE + "\n# not a heading\n" + HOSTILE_MD,
                        "severity": "warning",
                        "repro": 'curl -i https://kudo.example/verify -H "x-api-token: ${X_API_TOKEN}"\n'
                        "# ``` a fence inside </pre>" + HOSTILE,
                        "tests": [TEST_ID],
                        "state": "new",
                        "source": "VENDORS.md §4 Verify",
                        "source_url": "https://ci:ghp_notshown@github.com/acme/authcanary/blob/main/contracts/kudo/checks.yaml?token=notshown#L50",
                    },
                ],
                "drift": [
                    {
                        "key": "kudo/test_scenarios.test_empty_parameters_get_a_token#POST /generate [file]#0",
                        "kind": "status_changed",
                        "path": "status",
                        "baseline": "200",
                        "current": "403",
                        "severity": "breaking",
                        "first_seen": "2026-11-29T02:00:03+00:00",
                        "runs_seen": 2,
                    },
                    {
                        "key": "kudo/test_scenarios.test_x#GET /verify#0",
                        "kind": "field_added",
                        "path": "$.extra_info_field",
                        "baseline": "(absent)",
                        "current": "string",
                        "severity": "info",
                        "note": INTERNAL_NOTE,
                    },
                ],
                "deprecations": [
                    {
                        "endpoint": "GET /v1/legacy",
                        "announced_removal": "2026-06-30",
                        "observed": "still answers 200",
                        "replacement": "GET /v2/modern",
                        "replacement_ok": True,
                    },
                    {
                        "endpoint": "GET /v1/fine",
                        "announced_removal": "2027-06-30",
                        "observed": "still answers 200",
                        "replacement": "GET /v2/fine",
                        "replacement_ok": True,
                    },
                ],
                "outages": [{"endpoint": "GET /verify", "status": 503, "count": 3}],
                "resolved": [],
                "waived": 1,
                "ambiguities": [{"where": "internal", "text": "ambiguity text"}],
            },
            "autodesk": {
                "status": "violations",
                "base_url": "https://developer.api.autodesk.com",
                "checks": {"passed": 3, "failed": 1, "skipped": 0},
                "violations": [
                    {
                        "check": "autodesk token type",
                        "check_id": "autodesk.token.bearer",
                        "endpoint": "POST /authentication/v2/token",
                        "expected": "Bearer",
                        "observed": "bearer",
                        "severity": "breaking",
                        "repro": 'curl -u "${AUTODESK_CLIENT_ID}:${AUTODESK_CLIENT_SECRET}" https://developer.api.autodesk.com',
                    }
                ],
                "drift": [],
                "deprecations": [],
                "outages": [],
            },
            "bimplus": {"status": "skipped", "checks": {"passed": 0, "failed": 0, "skipped": 0}},
        },
    }


class _Collect(HTMLParser):
    """Tags, attributes and text of an HTML document, for checks on its structure rather than its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Collect:
    parser = _Collect()
    parser.feed(html)
    return parser


def _both(data: dict[str, Any], vendor: str = "kudo") -> tuple[str, str]:
    return render_vendor_html(data, vendor), render_vendor_markdown(data, vendor)


def test_the_findings_of_the_vendor_with_their_source_history_and_repro() -> None:
    html, md = _both(summary())
    context = build_vendor_context(summary(), "kudo")
    kinds = [(f["kind"], f["severity"]["key"]) for f in context["findings"]]
    # breaking first; info drift and a deprecation with a working replacement before its date are not findings
    assert kinds == [
        ("violation", "breaking"),
        ("drift", "breaking"),
        ("violation", "warning"),
        ("deprecation", "deprecation"),
    ]
    for text in (html, md):
        assert "a token not issued before" in text
        assert "the token of an earlier call, again" in text
        assert "2026-11-05 02:00:03 UTC" in text and "16 runs" in text  # first seen, runs seen
        assert "in this run" in text  # the new one
        assert "https://www.rfc-editor.org/rfc/rfc9562#section-6.9" in text
        assert "KUDO_API_KEY" in text and "X_API_TOKEN" in text
        assert "set these variables before running" in text
        assert "POST /generate" in text and "GET /v1/legacy" in text and "GET /v1/fine" not in text
        assert "the announced removal date (2026-06-30) has passed" in text
        assert "GET /verify" in text and "503" in text  # the availability note
        assert "extra_info_field" not in text  # info drift is not sent
        # the environment: target, the base URL without credentials, time, harness version
        assert "staging" in text
        assert "https://kudo.example/api" in text
        assert "2026-11-30 02:00:05 UTC" in text
        assert "9.8.7" in text
    assert "[RFC 9562 §6.9](https://www.rfc-editor.org/rfc/rfc9562#section-6.9)" in md
    links = [attrs["href"] for tag, attrs in _parse(html).tags if tag == "a"]
    assert links == [
        "https://www.rfc-editor.org/rfc/rfc9562#section-6.9",
        "https://github.com/acme/authcanary/blob/main/contracts/kudo/checks.yaml#L50",
    ]
    assert "```sh\n" + REPRO + "\n```" in md


def test_nothing_internal_reaches_the_report() -> None:
    for text in _both(summary()):
        for internal in (
            "autodesk",
            "bimplus",
            "AUTODESK_CLIENT_ID",
            WAIVER_REASON,
            WAIVER_TICKET,
            "2026-12-31",  # the waiver's expiry
            "waive",
            INTERNAL_NOTE,
            "slow today",
            "ambiguity text",
            "file://",
            "/home/ci",
            "checks.yaml#L24",
            "suites/kudo",
            "test_scenarios",
            "::test_",
            "hunter2",
            "partner",
            "key=abc",
            "frag",
            "notshown",
        ):
            assert internal not in text, internal


def test_hostile_values_are_escaped_in_html() -> None:
    html = render_vendor_html(summary(), "kudo")
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    parsed = _parse(html)
    assert {tag for tag, _ in parsed.tags} <= {
        "html", "head", "meta", "title", "style", "body", "main", "header", "div", "h1", "h2", "h3", "p", "section",
        "table", "tr", "th", "td", "code", "span", "ul", "li", "article", "dl", "dt", "dd", "pre", "a", "footer",
    }  # fmt: skip
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs)
    assert "".join(parsed.text).count(HOSTILE) >= 3  # shown as text: title, observed and the repro


def test_hostile_values_are_escaped_in_markdown() -> None:
    md = render_vendor_markdown(summary(), "kudo")
    prose = re.sub(r"^(`{3,})sh\n.*?^\1$", "", md, flags=re.MULTILINE | re.DOTALL)  # code blocks show code as is
    assert "```" not in prose and HOSTILE in md
    assert "<script" not in prose and "<img" not in prose
    assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(javascript:", prose)  # no live link, only escaped text
    assert "\\| pipe \\|" in md and "\\[click\\]" in md and "\\*\\*bold\\*\\*" in md
    assert "\n# not a heading" not in md  # a value's line never becomes a heading
    # the repro's own fence is longer than any backtick run inside it
    fence = re.search(r"^(`{3,})sh\ncurl -i https://kudo.example/verify", md, re.MULTILINE)
    assert fence is not None and len(fence.group(1)) > 3


def test_a_vendor_without_findings_gets_a_short_no_deviations_document() -> None:
    data = summary()
    data["vendors"]["kudo"] = {"status": "ok", "checks": {"passed": 21, "failed": 0, "skipped": 0}}
    del data["harness_version"]
    for text in _both(data):
        assert "No deviations found" in text and "21 checks" in text
        assert "Findings" not in text and "Availability" not in text
        assert __version__ in text  # the harness that wrote it
        assert "(not recorded)" in text  # no base URL recorded


def test_old_or_malformed_summaries_render() -> None:
    data = {"vendors": {"kudo": {"violations": ["not a dict", {"severity": 3}], "drift": {"x": 1}, "outages": 5}}}
    html, md = _both(data)
    assert "(unnamed check)" in html and "(unnamed check)" in md
    assert "not recorded" in html and "not recorded" in md


def test_the_canary_secret_check_of_the_real_scanner(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    for suffix, text in zip((".html", ".md"), _both(summary()), strict=True):
        (clean / f"report{suffix}").write_text(text, encoding="utf-8")
    assert scan_paths([clean]) == []
    # ... and the same scanner would catch a secret a vendor's value carried (so the check above means something)
    data = summary()
    data["vendors"]["kudo"]["violations"][0]["observed"] = f'"api_key": "{CANARY_SECRET}"'
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    (leaky / "report.md").write_text(render_vendor_markdown(data, "kudo"), encoding="utf-8")
    assert scan_paths([leaky], known_secrets=[CANARY_SECRET])


def _run_dir(tmp_path: Path, data: dict[str, Any] | None = None) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "summary.json").write_text(json.dumps(summary() if data is None else data), encoding="utf-8")
    return run_dir


def test_write_vendor_report_writes_both_documents(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    html, md = write_vendor_report(run_dir, "kudo")
    assert (html, md) == (run_dir / "vendor-report-kudo.html", run_dir / "vendor-report-kudo.md")
    assert html.read_text(encoding="utf-8") == render_vendor_html(summary(), "kudo")
    assert md.read_text(encoding="utf-8") == render_vendor_markdown(summary(), "kudo")


@pytest.mark.parametrize(
    ("out", "expected"),
    [
        (None, ("run/vendor-report-kudo.html", "run/vendor-report-kudo.md")),
        ("to-kudo.html", ("to-kudo.html", "to-kudo.md")),
        ("to-kudo.md", ("to-kudo.html", "to-kudo.md")),
        ("to-kudo.HTML", ("to-kudo.html", "to-kudo.md")),
        ("to-kudo", ("to-kudo.html", "to-kudo.md")),
        ("to-kudo.v1.2", ("to-kudo.v1.2.html", "to-kudo.v1.2.md")),
        ("folder", ("folder/vendor-report-kudo.html", "folder/vendor-report-kudo.md")),
    ],
)
def test_output_paths(tmp_path: Path, out: str | None, expected: tuple[str, str]) -> None:
    (tmp_path / "folder").mkdir()
    paths = vendor_report_paths(tmp_path / "run", "kudo", tmp_path / out if out else None)
    assert paths == (tmp_path / expected[0], tmp_path / expected[1])


def test_a_hostile_vendor_name_makes_a_plain_file_name(tmp_path: Path) -> None:
    html, md = vendor_report_paths(tmp_path, "../../etc/x y", None)
    assert html.parent == tmp_path and md.parent == tmp_path
    assert html.name == "vendor-report-etc-x-y.html"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no summary.json"),
        ("not-json", "unreadable"),
        ("not-a-summary", "not a run summary"),
        ("unknown-vendor", "is not in the run"),
        ("skipped-vendor", "was skipped in the run"),
        ("in-baseline", "inside the cassettes folder"),
        ("in-run-cassettes", "inside the cassettes folder"),
    ],
)
def test_errors_are_config_errors(tmp_path: Path, setup: str, message: str) -> None:
    data = summary()
    data["baseline"] = str(tmp_path / "baseline")
    run_dir = _run_dir(tmp_path, data)
    vendor, out = "kudo", None
    if setup == "missing":
        (run_dir / "summary.json").unlink()
    elif setup == "not-json":
        (run_dir / "summary.json").write_text("{not json", encoding="utf-8")
    elif setup == "not-a-summary":
        (run_dir / "summary.json").write_text("[1, 2]", encoding="utf-8")
    elif setup == "unknown-vendor":
        vendor = "nosuch"
    elif setup == "skipped-vendor":
        vendor = "bimplus"
    elif setup == "in-baseline":
        out = tmp_path / "baseline" / "kudo" / "report.html"
    else:
        out = run_dir / "cassettes" / "report.md"
    with pytest.raises(ConfigError) as caught:
        write_vendor_report(run_dir, vendor, out)
    assert message in caught.value.cause
    if setup.endswith("vendor"):
        assert caught.value.fix == "Use one of the vendors that ran: autodesk, kudo."
    assert sorted(p.name for p in run_dir.iterdir()) == ([] if setup == "missing" else ["summary.json"])


def test_a_report_that_would_carry_a_secret_is_not_written(tmp_path: Path) -> None:
    data = copy.deepcopy(summary())
    data["vendors"]["kudo"]["violations"][0]["observed"] = f'"access_token": "{CANARY_SECRET}"'
    run_dir = _run_dir(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        write_vendor_report(run_dir, "kudo")
    assert "looks like a secret" in caught.value.cause and CANARY_SECRET not in str(caught.value)
    assert sorted(p.name for p in run_dir.iterdir()) == ["summary.json"]


def test_markdown_parses_without_raw_html_or_live_links() -> None:
    """Render the Markdown with a CommonMark parser (raw HTML allowed, as on GitLab) and check what comes out."""
    markdown_it = pytest.importorskip("markdown_it")
    out = markdown_it.MarkdownIt("commonmark", {"html": True}).render(render_vendor_markdown(summary(), "kudo"))
    assert "<script" not in out and "<img" not in out and 'href="javascript:' not in out
    assert re.findall(r'href="([^"]*)"', out) == [
        "https://www.rfc-editor.org/rfc/rfc9562#section-6.9",
        "https://github.com/acme/authcanary/blob/main/contracts/kudo/checks.yaml#L50",
    ]
    assert "<h3>3. verify answers &lt;script&gt;alert(1)&lt;/script&gt;</h3>" in out
    assert "# not a heading" in out and "<h1># not a heading" not in out
    assert '<code class="language-sh">curl -i https://kudo.example/verify' in out  # the repro, a code block
    assert out.count("<h3>") == 4


def test_one_change_seen_by_many_scenarios_is_one_finding_and_sources_use_the_vendors_titles() -> None:
    data = summary()
    kudo = data["vendors"]["kudo"]

    def change(test: str, first_seen: str) -> dict[str, Any]:
        return {"key": f"kudo/test_scenarios.{test}#POST /generate#0", "kind": "header_changed",
                "path": "header:cache-control", "baseline": "no-store", "current": "(absent)",
                "severity": "breaking", "first_seen": first_seen}  # fmt: skip

    kudo["drift"] = [change(f"test_{n}", f"2026-11-{10 + n}T02:00:00+00:00") for n in range(5)]
    kudo["violations"][0]["vendor_source"] = "Graebert ARES Kudo token service documentation §Generate"
    text = render_vendor_markdown(data, "kudo")
    assert text.count("header:cache-control") == 1 and "5 recorded requests to this endpoint" in text
    assert "2026-11-10" in text  # the earliest first-seen of the group
    assert "Graebert ARES Kudo token service documentation §Generate" in text

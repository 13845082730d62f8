"""`authcanary report vendor RUN_DIR --vendor V [--out FILE]` on a real run (console script in a subprocess): the
report a vendor gets holds its finding with the documented source and a curl repro, and nothing internal; bad input
is exit 2 with the fix and writes nothing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from authcanary import __version__
from authcanary.recording.scan import scan_paths
from authcanary.registry import VENDORS
from authcanary.targets import load_target
from conftest import ROOT, listing, run_authcanary


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One live run of the kudo simulator with a token-reuse deviation (a breaking violation)."""
    out = tmp_path_factory.mktemp("vendor-report") / "run"
    result = run_authcanary(["run", "--vendor", "kudo", "--profile", "token-reused"], out)
    assert result.code == 1, result.output
    return out


@pytest.fixture(scope="module")
def kudo_secrets() -> list[str]:
    secrets = sorted(load_target(ROOT / "targets.toml", "sim").secret_values())
    assert secrets  # the simulator's partner key, at least
    return secrets


def assert_refused(result, *needles: str) -> None:
    assert result.code == 2, result.output
    assert "Traceback" not in result.output, result.output
    assert "error:" in result.output and "fix:" in result.output, result.output
    for needle in needles:
        assert needle in result.output, result.output


def test_the_report_of_a_real_run(run_dir: Path, kudo_secrets: list[str]) -> None:
    before = listing(run_dir)
    result = run_authcanary(["report", "vendor", str(run_dir), "--vendor", "kudo"])
    assert result.code == 0, result.output
    html, md = run_dir / "vendor-report-kudo.html", run_dir / "vendor-report-kudo.md"
    assert result.output.split() == [str(html), str(md)]
    assert listing(run_dir) == before | {html.name, md.name}
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    violation = summary["vendors"]["kudo"]["violations"][0]
    for text in (html.read_text(encoding="utf-8"), md.read_text(encoding="utf-8")):
        assert "kudo.generate.fresh_token" in text
        assert "POST /generate" in text and "a token not issued before" in text
        assert "${KUDO_API_KEY}" in text and "set these variables before running" in text
        assert "curl -i -X POST" in text
        assert __version__ in text and "sim" in text
        if violation.get("source"):  # the documented source, once the run records it (issue 12)
            assert "rfc-editor.org/rfc/rfc9562" in text
        for other in sorted(set(VENDORS) - {"kudo"}):
            assert other not in text.lower()
        assert "file://" not in text and str(ROOT) not in text and str(run_dir) not in text
        assert "suites/" not in text and "::test_" not in text  # no test node ids
        assert not any(secret in text for secret in kudo_secrets)
    # the real scanner, given the simulator's credentials as known secrets, finds nothing
    assert scan_paths([html, md], known_secrets=kudo_secrets) == []


def test_out_names_both_documents(run_dir: Path, tmp_path: Path) -> None:
    result = run_authcanary(
        ["report", "vendor", str(run_dir), "--vendor", "kudo", "--out", str(tmp_path / "to-kudo.md")]
    )
    assert result.code == 0, result.output
    assert result.output.split() == [str(tmp_path / "to-kudo.html"), str(tmp_path / "to-kudo.md")]
    assert re.search(r"<h1[^>]*>kudo</h1>", (tmp_path / "to-kudo.html").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("no-summary", ["no summary.json"]),
        ("bad-json", ["unreadable"]),
        ("skipped-vendor", ["vendor 'autodesk' was skipped", "vendors that ran: kudo"]),
        ("unknown-vendor", ["vendor 'nosuch' is not in the run", "vendors that ran: kudo"]),
        ("in-cassettes", ["inside the cassettes folder"]),
    ],
)
def test_bad_input_is_exit_2_and_writes_nothing(run_dir: Path, tmp_path: Path, case: str, needles: list[str]) -> None:
    run = Path(shutil.copytree(run_dir, tmp_path / "run", ignore=shutil.ignore_patterns("vendor-report-*")))
    vendor, extra = "kudo", []
    if case == "no-summary":
        (run / "summary.json").unlink()
    elif case == "bad-json":
        (run / "summary.json").write_text('{"vendors": {"kudo": ', encoding="utf-8")
    elif case == "skipped-vendor":
        vendor = "autodesk"
    elif case == "unknown-vendor":
        vendor = "nosuch"
    else:
        extra = ["--out", str(run / "cassettes" / "kudo" / "report.html")]
    before = listing(run)
    result = run_authcanary(["report", "vendor", str(run), "--vendor", vendor, *extra])
    assert_refused(result, *needles)
    assert listing(run) == before


def test_missing_vendor_option_is_a_usage_error(run_dir: Path) -> None:
    result = run_authcanary(["report", "vendor", str(run_dir)])
    assert result.code == 2, result.output
    assert "--vendor" in result.output

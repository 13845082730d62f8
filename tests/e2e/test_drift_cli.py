"""`authcanary drift BASELINE CURRENT`: exit 2 with the fix when CURRENT holds no recordings, and never a report
inside the accepted baseline."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from test_run_safety import snapshot

from authcanary import cli
from conftest import ROOT


def drift(monkeypatch, capsys, *args: str | Path) -> tuple[int, str]:
    """`authcanary drift ARGS` in this process: (exit code, stdout + stderr)."""
    monkeypatch.setattr(sys, "argv", ["authcanary", "drift", *map(str, args)])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    captured = capsys.readouterr()
    return exited.value.code, captured.out + captured.err


@pytest.fixture
def baseline(tmp_path) -> Path:
    return Path(shutil.copytree(ROOT / "cassettes", tmp_path / "baseline"))


def assert_refused(code: int, output: str, *needles: str) -> None:
    assert code == 2, output
    assert "error:" in output and "fix:" in output and "Traceback" not in output, output
    for needle in needles:
        assert needle in output, output


def test_a_run_folder_whose_cassettes_folder_is_empty_exits_2(monkeypatch, capsys, baseline, tmp_path):
    run = tmp_path / "run"
    (run / "cassettes").mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"schema": "authcanary.summary/1", "vendors": {}}))
    code, output = drift(monkeypatch, capsys, baseline, run, "--out", tmp_path / "report")
    assert_refused(code, output, "recorded no cassettes", "live `authcanary run`")
    assert not (tmp_path / "report").exists()


def test_a_run_folder_without_cassettes_exits_2(monkeypatch, capsys, baseline, tmp_path):
    """A replay run, or one in which every vendor was skipped: summary.json but nothing recorded."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"schema": "authcanary.summary/1", "mode": "replay"}))
    code, output = drift(monkeypatch, capsys, baseline, run, "--out", tmp_path / "report")
    assert_refused(code, output, "recorded no cassettes", "a replay run records nothing")


@pytest.mark.parametrize("leftover", [None, "notes.txt"])
def test_a_vendor_folder_without_recordings_exits_2(monkeypatch, capsys, baseline, tmp_path, leftover):
    current = tmp_path / "current"
    shutil.copytree(ROOT / "cassettes" / "bimplus", current / "bimplus")
    (current / "autodesk").mkdir()
    if leftover:
        (current / "autodesk" / leftover).write_text("not a cassette\n")
    code, output = drift(monkeypatch, capsys, baseline, current, "--out", tmp_path / "report")
    assert_refused(code, output, "no recordings", "of autodesk")
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("where", [".", "autodesk", "reports/new"])
def test_out_inside_the_baseline_exits_2_and_writes_nothing(monkeypatch, capsys, baseline, tmp_path, where):
    before = snapshot(baseline)
    code, output = drift(monkeypatch, capsys, baseline, ROOT / "cassettes", "--out", baseline / where)
    assert_refused(code, output, "inside the baseline folder", "--out DIR outside it")
    assert snapshot(baseline) == before


def test_the_default_out_inside_the_baseline_exits_2(monkeypatch, capsys, baseline):
    """The default --out is the current folder: running drift from inside the baseline must not write there."""
    before = snapshot(baseline)
    monkeypatch.chdir(baseline / "autodesk")
    code, output = drift(monkeypatch, capsys, Path(".."), ROOT / "cassettes")
    assert_refused(code, output, "inside the baseline folder")
    assert snapshot(baseline) == before


def test_out_next_to_the_baseline_is_fine(monkeypatch, capsys, baseline, tmp_path):
    code, output = drift(
        monkeypatch,
        capsys,
        baseline,
        ROOT / "cassettes",
        "--out",
        tmp_path / "baseline-report",
        "--contracts",
        ROOT / "contracts",
    )
    assert code == 0, output
    assert (tmp_path / "baseline-report" / "drift.json").is_file()

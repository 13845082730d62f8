"""`authcanary run --mode replay` (issue 3, item 1): the scenario suites answered from the baseline cassettes,
with no network at all, and checked against the *current* contracts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT, closed_port, run_authcanary, write_loop_targets

VENDORS = ("autodesk", "bimplus")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baseline accepted from a documented embedded run of every vendor."""
    folder = tmp_path_factory.mktemp("replay")
    run = run_authcanary(["run", "--max-examples", "1"], folder / "recorded")
    assert run.code == 0, run.output[-3000:]
    accepted = run_authcanary(["baseline", "accept", str(folder / "recorded"), "--baseline", str(folder / "cassettes")])
    assert accepted.code == 0, accepted.output
    return folder / "cassettes"


def test_replay_of_the_documented_baseline_is_clean(baseline, tmp_path):
    result = run_authcanary(["run", "--mode", "replay", "--baseline", str(baseline)], tmp_path / "run")
    assert result.code == 0, result.output[-3000:]
    assert result.summary["mode"] == "replay"
    for vendor in VENDORS:
        entry = result.summary["vendors"][vendor]
        assert entry["status"] == "ok" and entry["checks"]["passed"] > 0, entry
        assert any("replayed offline" in note for note in entry["notes"]), entry["notes"]
    assert not (tmp_path / "run" / "cassettes").exists()  # nothing is recorded: the answers are the baseline's


def test_replay_sends_nothing_even_to_an_unreachable_live_target(baseline, tmp_path):
    targets = write_loop_targets(tmp_path / "targets.toml", f"http://127.0.0.1:{closed_port()}", simulator=False)
    result = run_authcanary(
        [
            "run",
            "--mode",
            "replay",
            "--targets",
            str(targets),
            "--target",
            "loop",
            "--vendor",
            "autodesk",
            "--baseline",
            str(baseline),
        ],
        tmp_path / "run",
    )
    assert result.code == 0, result.output[-3000:]
    assert result.summary["vendors"]["autodesk"]["status"] == "ok"


def test_a_contract_edit_is_checked_against_what_the_vendor_last_did(baseline, tmp_path):
    """Declaring token_type `bearer` in the contract makes the recorded `Bearer` answers violations."""
    root = tmp_path / "checkout"
    for name in ("suites", "strategies", "contracts"):
        shutil.copytree(ROOT / name, root / name)
    for name in ("conftest.py", "targets.toml", "pyproject.toml"):
        shutil.copy2(ROOT / name, root / name)
    semantics = root / "contracts" / "autodesk" / "semantics.yaml"
    edited = semantics.read_text().replace('"$.token_type": "Bearer"', '"$.token_type": "bearer"')
    assert edited != semantics.read_text()
    semantics.write_text(edited)
    result = run_authcanary(
        ["run", "--mode", "replay", "--vendor", "autodesk", "--baseline", str(baseline)], tmp_path / "run", cwd=root
    )
    assert result.code == 1, result.output[-3000:]
    violations = result.summary["vendors"]["autodesk"]["violations"]
    assert violations and all("bearer" in v["expected"] for v in violations), violations


def test_replay_without_a_baseline_is_a_config_error(tmp_path):
    result = run_authcanary(
        ["run", "--mode", "replay", "--vendor", "bimplus", "--baseline", str(tmp_path / "none")], tmp_path / "run"
    )
    assert result.code == 2 and "no such folder" in result.output, result.output
    (tmp_path / "none" / "autodesk").mkdir(parents=True)
    result = run_authcanary(
        ["run", "--mode", "replay", "--vendor", "bimplus", "--baseline", str(tmp_path / "none")], tmp_path / "run"
    )
    assert result.code == 2 and "no recordings of bimplus to replay" in result.output, result.output
    assert not (tmp_path / "run").exists()

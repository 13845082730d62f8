"""`authcanary baseline accept` takes a run folder only as the run left it: summary.json, drift.json and the cassettes
must agree with each other, or nothing is accepted (exit 2, the baseline untouched)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_run_safety import snapshot

from authcanary.baseline import accept, recordings_manifest
from authcanary.errors import ConfigError
from authcanary.summary import SCHEMA, exit_code, vendor_entry
from conftest import ROOT, run_authcanary

BREAKING = {
    "severity": "breaking",
    "kind": "status_changed",
    "key": "autodesk/test_x/POST /token#1",
    "path": "status",
    "baseline": "200",
    "current": "500",
}


def findings(passed: int = 5, **extra: Any) -> dict[str, Any]:
    return {
        "checks": {"passed": passed, "failed": 0, "skipped": 0},
        "requests": 9,
        "violations": [],
        "deprecations": [],
        "ambiguities": [],
        "notes": [],
        "simulator_profile": "documented",
        **extra,
    }


def read(run: Path) -> dict[str, Any]:
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


def write(run: Path, summary: dict[str, Any]) -> None:
    (run / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


def seal(run: Path, summary: dict[str, Any] | None = None) -> None:
    """List the cassettes now in the run folder as the ones the run recorded, as the runner does."""
    summary = summary or read(run)
    manifest = recordings_manifest(run)
    for vendor, entry in summary["vendors"].items():
        entry["recordings"] = manifest.get(vendor, {})
    write(run, summary)


def make_run(folder: Path, drift: list[dict[str, str]] | None = None) -> Path:
    """A finished run folder of the documented Autodesk behaviour (bimplus not selected), consistent in itself."""
    run = folder / "run"
    shutil.copytree(ROOT / "cassettes" / "autodesk", run / "cassettes" / "autodesk")
    vendors = {
        "autodesk": vendor_entry(findings(), drift or [], []),
        "bimplus": vendor_entry(None, [], ["not selected with --vendor: skipped"]),
    }
    seal(run, {"schema": SCHEMA, "target": "sim", "mode": "live", "exit_code": exit_code(vendors), "vendors": vendors})
    write_finished_outputs(run)
    return run


def write_finished_outputs(run: Path) -> None:
    """What a finished run writes besides summary.json and cassettes (accept refuses a folder without them)."""
    (run / "report.html").write_text("<html></html>", encoding="utf-8")
    (run / "report.md").write_text("# authcanary report\n", encoding="utf-8")
    (run / "junit.xml").write_text('<testsuites><testsuite name="pytest"/></testsuites>', encoding="utf-8")


def test_a_folder_without_the_reports_of_a_finished_run_is_refused(run, baseline):
    (run / "report.html").unlink()
    refused(run, baseline, "did not finish writing its outputs")


def test_an_unobserved_scenario_the_junit_report_shows_as_run_is_refused(run, baseline):
    """Listing a scenario as unobserved would keep its old baseline cassette: it must have been skipped."""
    summary = read(run)
    summary["vendors"]["autodesk"]["unobserved"] = ["autodesk/test_scenarios.test_v1_happy_path"]
    seal(run, summary)
    refused(run, baseline, "unobserved")
    (run / "junit.xml").write_text(
        '<testsuites><testsuite name="pytest"><testcase classname="suites.autodesk.'
        'test_scenarios" name="test_v1_happy_path"><skipped message="x"/></testcase>'
        "</testsuite></testsuites>",
        encoding="utf-8",
    )
    accept(run, baseline)


@pytest.fixture
def baseline(tmp_path) -> Path:
    return Path(shutil.copytree(ROOT / "cassettes", tmp_path / "baseline"))


@pytest.fixture
def run(tmp_path) -> Path:
    return make_run(tmp_path)


def refused(run: Path, baseline: Path, match: str, only: list[str] | None = None) -> ConfigError:
    before = snapshot(baseline)
    with pytest.raises(ConfigError, match=match) as caught:
        accept(run, baseline, only)
    assert snapshot(baseline) == before
    assert "the baseline was not changed" in caught.value.fix
    return caught.value


def cassettes(run: Path) -> list[Path]:
    return sorted((run / "cassettes" / "autodesk").glob("*.yaml"))


def test_the_manifest_lists_every_file_of_each_vendor_with_its_sha256(run):
    (run / "cassettes" / "autodesk" / "sub").mkdir()
    (run / "cassettes" / "autodesk" / "sub" / "x.yaml").write_bytes(b"x")
    manifest = recordings_manifest(run)
    assert list(manifest) == ["autodesk"]
    files = manifest["autodesk"]
    assert set(files) == {path.name for path in cassettes(run)} | {"sub/x.yaml"}
    assert files["sub/x.yaml"] == "sha256:" + hashlib.sha256(b"x").hexdigest()
    assert recordings_manifest(run / "nowhere") == {}


def test_a_consistent_run_is_accepted(run, baseline):
    assert [accepted.vendor for accepted in accept(run, baseline)] == ["autodesk"]
    assert snapshot(baseline / "autodesk") == snapshot(run / "cassettes" / "autodesk")


def test_a_consistent_run_with_its_drift_json_is_accepted(tmp_path, baseline):
    run = make_run(tmp_path, drift=[BREAKING])
    (run / "drift.json").write_text(json.dumps({"vendors": {"autodesk": {"findings": [BREAKING]}}}))
    assert read(run)["exit_code"] == 1
    assert [accepted.vendor for accepted in accept(run, baseline)] == ["autodesk"]


@pytest.mark.parametrize("mark", [{"interrupted": True}, {"exit_code": 130}])
def test_an_interrupted_run_is_refused(run, baseline, mark):
    write(run, {**read(run), **mark})
    refused(run, baseline, "interrupted runs are never a baseline")


def test_a_run_of_an_older_authcanary_is_refused(run, baseline):
    summary = read(run)
    for entry in summary["vendors"].values():
        del entry["recordings"]
    write(run, summary)
    error = refused(run, baseline, "older authcanary")
    assert "Re-run with this version" in error.fix


@pytest.mark.parametrize(
    ("summary", "match"),
    [
        ("{not json", "unreadable"),
        (json.dumps(["a list"]), "unreadable"),
        (json.dumps({"schema": "authcanary.summary/0", "vendors": {}}), "schema"),
    ],
)
def test_a_summary_that_is_no_summary_is_refused(run, baseline, summary, match):
    (run / "summary.json").write_text(summary)
    refused(run, baseline, match)


def test_a_vendor_removed_from_the_summary_is_refused(run, baseline):
    summary = read(run)
    del summary["vendors"]["autodesk"]
    write(run, summary)
    refused(run, baseline, "no entry for autodesk")


def test_a_deleted_cassette_is_refused(run, baseline):
    cassettes(run)[3].unlink()
    refused(run, baseline, f"{cassettes(run)[2].parent}/.*: listed in summary.json, but missing")


def test_a_deleted_vendor_folder_is_refused(run, baseline):
    shutil.copytree(ROOT / "cassettes" / "bimplus", run / "cassettes" / "bimplus")
    summary = read(run)
    summary["vendors"]["bimplus"] = vendor_entry(findings(), [], [])
    seal(run, summary)
    shutil.rmtree(run / "cassettes" / "bimplus")
    refused(run, baseline, "bimplus/.*listed in summary.json, but missing")


def test_an_added_cassette_is_refused(run, baseline):
    shutil.copy2(cassettes(run)[0], run / "cassettes" / "autodesk" / "test_scenarios.test_new.yaml")
    refused(run, baseline, "test_new.yaml: not among the recordings")


def test_an_edited_cassette_is_refused(run, baseline):
    edited = cassettes(run)[1]
    edited.write_bytes(edited.read_bytes().replace(b"200", b"201", 1))
    error = refused(run, baseline, "changed since the run wrote it")
    assert str(edited) in error.cause


def test_a_link_among_the_cassettes_is_refused(run, baseline, tmp_path):
    linked = cassettes(run)[0]
    target = tmp_path / "elsewhere.yaml"
    linked.rename(target)
    linked.symlink_to(target)
    refused(run, baseline, "not a regular file")


def test_vendor_option_checks_the_vendors_it_accepts(run, baseline):
    """A vendor not accepted is not the question; the one accepted is."""
    cassettes(run)[0].unlink()
    refused(run, baseline, "but missing", only=["autodesk"])


def test_an_exit_code_that_disagrees_with_the_statuses_is_refused(run, baseline):
    write(run, {**read(run), "exit_code": 1})
    refused(run, baseline, "exit_code 1, but the vendors' statuses make it 0")


@pytest.mark.parametrize(
    "edit",
    [
        {"status": "ok", "drift": [BREAKING]},
        {"status": "ok", "violations": [{"severity": "breaking", "check": "x"}]},
        {"status": "ok", "error": "connection refused"},
        {"status": "drift"},
    ],
    ids=["breaking drift", "violation", "unreachable", "drift without findings"],
)
def test_a_status_that_disagrees_with_its_findings_is_refused(run, baseline, edit):
    summary = read(run)
    summary["vendors"]["autodesk"].update(edit)
    summary["exit_code"] = exit_code(summary["vendors"])
    write(run, summary)
    refused(run, baseline, "autodesk has status")


def test_an_incomplete_vendor_entry_is_refused(run, baseline):
    summary = read(run)
    del summary["vendors"]["autodesk"]["checks"]
    write(run, summary)
    refused(run, baseline, "autodesk's entry is incomplete")


def test_a_drift_json_that_disagrees_with_the_summary_is_refused(run, baseline):
    (run / "drift.json").write_text(json.dumps({"vendors": {"autodesk": {"findings": [BREAKING]}}}))
    refused(run, baseline, "drift.json: the drift of autodesk differs")


def test_the_cli_refuses_with_exit_2_and_the_fix(run, baseline):
    cassettes(run)[0].write_text("interactions: []\nversion: 1\n")
    before = snapshot(baseline)
    result = run_authcanary(["baseline", "accept", str(run), "--baseline", str(baseline)])
    assert result.code == 2, result.output
    assert (
        "not those the run recorded" in result.output
        and "fix: Accept the run folder as the run left it" in result.output
    ), result.output
    assert "Traceback" not in result.output
    assert snapshot(baseline) == before

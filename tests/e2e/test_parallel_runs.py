"""Vendors side by side on pytest-xdist (`authcanary run --workers N`): a parallel run finds exactly what a one-process
run finds, over loopback against `authcanary serve --vendor all` (a fresh server per run) and embedded, and merges
every worker's outputs into one run folder."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from authcanary.pytest.workers import VendorScheduling, read_findings
from tests.conftest import ROOT, run_authcanary, serve_simulator

#: a deviation for every vendor (with --vendor all each goes to the vendors that define it)
DEVIATIONS = "lowercase-token-type,bearer-token-type,token-reused"


def findings(summary: dict[str, Any]) -> dict[str, Any]:
    """What a run found, per vendor, without what may differ between two runs (times, counts of requests)."""
    return {
        vendor: {
            "status": entry["status"],
            "checks": entry["checks"],
            "violations": sorted((v["check_id"], v["endpoint"], v["severity"]) for v in entry["violations"]),
            "drift": sorted((d["key"], d["kind"], d["path"], d["severity"]) for d in entry["drift"]),
            "deprecations": sorted((d["endpoint"], d["observed"], str(d["replacement_ok"])) for d in entry["deprecations"]),
            "migration": sorted((m["capability"], m["legacy_observed"], str(m["replacement_ok"])) for m in entry["migration"]),
            "recordings": sorted(entry["recordings"]),  # the files; their contents hold volatile values
        }
        for vendor, entry in summary["vendors"].items()
    }  # fmt: skip


def loop_targets(path: Path, port: int) -> Path:
    """targets.toml's `local` target (every vendor as `authcanary serve --vendor all` serves it) on `port`."""
    text = (ROOT / "targets.toml").read_text(encoding="utf-8")
    local = tomllib.loads(text)["targets"]["local"]
    lines = []
    for vendor, settings in local.items():
        lines.append(f"[targets.loop.{vendor}]")
        for key, value in settings.items():
            if key == "base_url":
                value = re.sub(r":\d+/", f":{port}/", value)
            lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def loopback_run(tmp_path: Path, name: str, workers: int) -> dict[str, Any]:
    folder = tmp_path / name
    folder.mkdir()
    with serve_simulator("all", DEVIATIONS, log_dir=folder) as served:
        targets = loop_targets(folder / "targets.toml", served.port)
        result = run_authcanary(
            ["run", "--targets", str(targets), "--target", "loop", "--workers", str(workers)], folder / "run"
        )
    assert result.code == 1, result.output[-3000:]
    assert result.summary is not None
    return result.summary


@pytest.mark.slow
def test_a_parallel_loopback_run_finds_what_a_one_process_run_finds(tmp_path: Path) -> None:
    one = loopback_run(tmp_path, "one-process", 1)
    parallel = loopback_run(tmp_path, "parallel", 4)
    assert findings(parallel) == findings(one)
    assert all(one["vendors"][vendor]["violations"] for vendor in ("autodesk", "axeobim", "bimplus", "kudo"))
    run = tmp_path / "parallel" / "run"
    assert not list(run.glob("findings*.json")), "the workers' findings are folded into summary.json"
    cases = re.findall(r'<testcase classname="([^"]*)" name="([^"]*)"', (run / "junit.xml").read_text())
    assert len(cases) == sum(sum(e["checks"].values()) for e in parallel["vendors"].values())
    assert {case[0].split(".")[1] for case in cases} == {"autodesk", "axeobim", "bimplus", "kudo"}


@pytest.mark.slow
def test_a_parallel_embedded_run_finds_what_a_one_process_run_finds(tmp_path: Path) -> None:
    runs = {}
    for workers in (1, 2):
        result = run_authcanary(["run", "--profile", DEVIATIONS, "--workers", str(workers)], tmp_path / f"w{workers}")
        assert result.code == 1, result.output[-3000:]
        runs[workers] = result.summary
    assert findings(runs[2]) == findings(runs[1])


def test_a_vendor_is_one_unit_of_work() -> None:
    split = VendorScheduling._split_scope
    assert split(None, "suites/kudo/test_scenarios.py::test_a") == "suites/kudo"  # type: ignore[arg-type]
    assert split(None, "suites/kudo/test_stateful.py::Machine::runTest") == "suites/kudo"  # type: ignore[arg-type]
    assert split(None, "tests/x.py::test_b") == "tests/x.py"  # type: ignore[arg-type]


def test_the_workers_findings_are_read_together_and_never_merged_per_vendor(tmp_path: Path) -> None:
    (tmp_path / "findings-gw0.json").write_text(json.dumps({"vendors": {"kudo": {"requests": 1}}}))
    (tmp_path / "findings-gw1.json").write_text(json.dumps({"vendors": {"autodesk": {"requests": 2}}}))
    assert read_findings(tmp_path) == {"kudo": {"requests": 1}, "autodesk": {"requests": 2}}
    assert not list(tmp_path.glob("findings*.json"))
    (tmp_path / "findings-gw0.json").write_text(json.dumps({"vendors": {"kudo": {"requests": 1}}}))
    (tmp_path / "findings-gw1.json").write_text(json.dumps({"vendors": {"kudo": {"requests": 2}}}))
    with pytest.raises(RuntimeError, match="kudo: findings from two workers"):
        read_findings(tmp_path)

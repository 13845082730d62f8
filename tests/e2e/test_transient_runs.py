"""A conforming vendor under transient trouble is still compliant: whole runs against simulators that answer a share of
requests with 503 + Retry-After or stray 500s, or answer slowly (the simulators' operational options), in-process
and over loopback. Lost interactions are outages (exit 3 past the threshold), never violations, never drift."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from authcanary.simulators.autodesk import AutodeskSimulator
from conftest import AUTHCANARY, ROOT, cli_env, run_authcanary, write_loop_targets

pytestmark = pytest.mark.slow


def embedded_targets(path: Path, options: str, **keys: Any) -> Path:
    lines = ["[targets.flaky]", "embedded = true"]
    for vendor in ("autodesk", "bimplus"):
        lines += [
            f"[targets.flaky.{vendor}]",
            f"options = {{ {options} }}",
            *(f"{key} = {json.dumps(value)}" for key, value in keys.items()),
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_compliant(summary: dict[str, Any], vendors: tuple[str, ...]) -> None:
    for vendor in vendors:
        entry = summary["vendors"][vendor]
        assert entry["violations"] == [], (vendor, entry["violations"])
        assert [d for d in entry["drift"] if d["severity"] == "breaking"] == [], (vendor, entry["drift"])
        assert entry["retries"] > 0, f"{vendor}: no fault was injected, the test proves nothing"


@pytest.mark.parametrize(
    "options",
    [
        'fault_rate = 0.15, fault_status = "503", fault_retry_after = 0',
        'fault_rate = 0.05, fault_status = "500", fault_seed = 3',
    ],
    ids=["503-retry-after", "stray-500"],
)
def test_a_flaky_conforming_vendor_is_compliant_in_process(tmp_path, options):
    targets = embedded_targets(tmp_path / "targets.toml", options, retry_budget=10_000)
    result = run_authcanary(
        ["run", "--targets", str(targets), "--target", "flaky", "--max-examples", "5"], tmp_path / "run"
    )
    assert result.code == 0, result.output[-4000:]
    assert_compliant(result.summary, ("autodesk", "bimplus"))


def test_a_flaky_conforming_vendor_is_compliant_over_loopback_honouring_retry_after(tmp_path, served_simulator):
    served = served_simulator("autodesk", options=("fault_rate=0.15", "fault_retry_after=1"))
    targets = write_loop_targets(tmp_path / "targets.toml", served.base_url, retry_budget=10_000, max_examples=3)
    result = run_authcanary(["run", "--targets", str(targets), "--target", "loop"], tmp_path / "run")
    assert result.code == 0, result.output[-4000:]
    assert_compliant(result.summary, ("autodesk",))


def test_more_outages_than_the_threshold_is_unreachable_never_violations(tmp_path):
    targets = embedded_targets(
        tmp_path / "targets.toml", 'fault_rate = 0.5, fault_status = "503", fault_retry_after = 0', retries=0
    )
    result = run_authcanary(
        ["run", "--targets", str(targets), "--target", "flaky", "--vendor", "autodesk", "--max-examples", "5"],
        tmp_path / "run",
    )
    entry = result.summary["vendors"]["autodesk"]
    assert result.code == 3, result.output[-4000:]
    assert entry["status"] == "unreachable" and entry["violations"] == [], entry
    assert sum(outage["count"] for outage in entry["outages"]) >= 3
    assert "lost to outages" in (tmp_path / "run" / "report.md").read_text()


def test_slow_answers_are_not_outages(tmp_path, served_simulator):
    """1.5 s per answer over loopback (plain pytest on the happy paths: every answer is slow, so the run is short)."""
    served = served_simulator("autodesk", options=("latency=1.5",))
    targets = write_loop_targets(tmp_path / "targets.toml", served.base_url)
    completed = subprocess.run(
        [
            str(Path(AUTHCANARY).with_name("python")),
            "-m",
            "pytest",
            "suites/autodesk/test_scenarios.py",
            "-k",
            "happy_path",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "--targets",
            str(targets),
            "--target",
            "loop",
            "-q",
        ],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    assert "5 passed" in completed.stdout, completed.stdout[-2000:]


@pytest.mark.skipif(not shutil.which("curl") or not shutil.which("bash"), reason="needs curl and bash")
def test_a_violations_curl_repro_runs_as_printed_against_a_prefixed_target(tmp_path, served_simulator):
    """issue 8 §3: a base URL with a path (`/autodesk`) must not be doubled in the reproduction."""
    served = served_simulator("autodesk", "lowercase-token-type", prefix="/autodesk")
    targets = write_loop_targets(tmp_path / "targets.toml", served.base_url, max_examples=2)
    result = run_authcanary(["run", "--targets", str(targets), "--target", "loop"], tmp_path / "run")
    repro = next(
        v["repro"]
        for v in result.summary["vendors"]["autodesk"]["violations"]
        if v["check_id"] == "autodesk.constant.token_type" and v["repro"]
    )
    assert "/autodesk/autodesk/" not in repro and f"{served.base_url}/authentication/" in repro, repro
    secret = AutodeskSimulator.default_settings()["client_secret"]
    completed = subprocess.run(
        ["bash", "-c", repro + " --silent --output /dev/null --write-out '%{http_code}'"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**cli_env(), "AUTODESK_CLIENT_SECRET": secret},
    )
    assert completed.stdout == "200", (repro, completed.stdout, completed.stderr)

"""Contract tests replay the cases an earlier run generated (authcanary.pytest.cases): the same requests as
generating them again, a replay that does not pass handed back to hypothesis (the same findings as a first run),
a damaged store generated again, and a live target never replaying."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from authcanary.runner import PLUGIN_ARGS
from conftest import ROOT, cli_env, run_authcanary, write_loop_targets

CONTRACT_TESTS = {
    "autodesk": "suites/autodesk/test_properties.py",
    "axeobim": "suites/axeobim/test_properties.py",
    "bimplus": "suites/bimplus/test_oidc_properties.py",
}
#: a token the simulator issued during the run (the axeobim suite stands one in for a generated bearer): new each run
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
CASE_ID = re.compile(r" -H 'x-schemathesis-testcaseid: \w+'")
#: logs every request the harness sends in-process (method, URL, headers, body), one JSON line each
REQUEST_LOG_PLUGIN = """
import json, os
from authcanary.http import InProcessTransport

_send = InProcessTransport.handle_request


def handle_request(self, request):
    with open(os.environ["REQUEST_LOG"], "a", encoding="utf-8") as log:
        # schemathesis' correlation id is random for every case, generated or replayed
        headers = sorted(item for item in request.headers.items() if item[0] != "x-schemathesis-testcaseid")
        log.write(json.dumps([request.method, str(request.url), headers, request.content.decode("latin-1")]) + "\\n")
    return _send(self, request)


InProcessTransport.handle_request = handle_request
"""


class Pytest:
    """The contract tests of the suites, run by pytest as `authcanary run` runs them, with hypothesis' home (and so
    the case store) in `home`."""

    def __init__(self, work: Path) -> None:
        self.work, self.home = work, work / "hypothesis"
        (work / "request_log.py").write_text(REQUEST_LOG_PLUGIN, encoding="utf-8")
        self.count = 0

    @property
    def store(self) -> Path:
        return self.home / "authcanary" / "cases"

    def run(self, files: list[str], *args: str, fresh: bool = False) -> tuple[subprocess.CompletedProcess, Any]:
        """(the pytest process, [the requests it sent, findings.json])"""
        self.count += 1
        log, out = self.work / f"requests-{self.count}.jsonl", self.work / f"out-{self.count}"
        command = [sys.executable, "-m", "pytest", *files, "-k", "test_contract_conformance", *PLUGIN_ARGS]
        command += ["-p", "request_log", "-o", "addopts=", "-p", "no:cacheprovider", "-q", "-W", "ignore"]
        command += ["--authcanary-out", str(out), *args] + (["--authcanary-fresh-cases"] if fresh else [])
        env = cli_env(
            PYTHONPATH=os.pathsep.join([str(self.work), str(ROOT)]),
            HYPOTHESIS_STORAGE_DIRECTORY=str(self.home),
            REQUEST_LOG=str(log),
        )
        completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        requests = [json.loads(JWT.sub("<jwt issued this run>", line)) for line in lines]
        findings = json.loads((out / "findings.json").read_text()) if (out / "findings.json").exists() else None
        return completed, (requests, findings)


def replayed(completed: subprocess.CompletedProcess) -> str:
    return next((line for line in completed.stdout.splitlines() if line.startswith("contract cases:")), "")


@pytest.fixture
def suites(tmp_path: Path) -> Pytest:
    return Pytest(tmp_path)


def test_replayed_cases_are_the_requests_generation_sends(suites):
    """The first run generates and stores; the second replays and sends exactly the same requests, in the same
    order; generating again (`--authcanary-fresh-cases`) sends them too: generation is deterministic."""
    files = list(CONTRACT_TESTS.values())
    first, (generated, _) = suites.run(files, "--max-examples", "12")
    assert first.returncode == 0, first.stdout[-3000:]
    assert "0 operation(s) replayed from the case store, 8 generated" in replayed(first)
    assert len(list(suites.store.glob("*.pickle"))) == 8
    second, (replay, _) = suites.run(files, "--max-examples", "12")
    assert second.returncode == 0, second.stdout[-3000:]
    assert "8 operation(s) replayed from the case store, 0 generated" in replayed(second)
    third, (again, _) = suites.run(files, "--max-examples", "12", fresh=True)
    assert "0 operation(s) replayed from the case store, 8 generated" in replayed(third)
    assert len(generated) > 100
    assert replay == generated
    assert again == generated
    # other settings are other cases: generated, not replayed
    other, _ = suites.run(files[:1], "--max-examples", "13")
    assert "0 operation(s) replayed from the case store, 2 generated" in replayed(other)


@pytest.mark.parametrize("profile", ["unknown-client-404", "html-errors", "json-string-errors", "token-stub"])
def test_a_replay_that_fails_is_handed_back_and_finds_what_a_first_run_finds(suites, tmp_path, profile):
    """A deviation on a filled store: the replay fails, hypothesis generates and shrinks, and the violations (their
    minimal examples and repros) are those of a run that generated its cases."""
    files = [CONTRACT_TESTS["autodesk"]]
    documented, _ = suites.run(files, "--max-examples", "12")
    assert documented.returncode == 0, documented.stdout[-3000:]
    warm, (_, warm_findings) = suites.run(files, "--max-examples", "12", "--sim-profile", profile)
    assert warm.returncode == 1, warm.stdout[-3000:]
    assert "handed back to hypothesis" in replayed(warm)
    (tmp_path / "cold").mkdir()
    cold_suites = Pytest(tmp_path / "cold")
    cold, (_, cold_findings) = cold_suites.run(files, "--max-examples", "12", "--sim-profile", profile)
    assert "0 operation(s) replayed" in replayed(cold)

    def violations(findings: dict[str, Any]) -> list[dict[str, Any]]:
        found = sorted(findings["vendors"]["autodesk"]["violations"], key=lambda v: (v["check_id"], v["endpoint"]))
        return [{**v, "repro": CASE_ID.sub("", v["repro"])} for v in found]  # random in every run

    assert violations(warm_findings), f"{profile}: the deviation is found"
    assert any(v["check_id"].startswith("autodesk.contract.") for v in violations(warm_findings))
    assert violations(warm_findings) == violations(cold_findings)


def test_a_damaged_store_is_generated_again(suites):
    files = [CONTRACT_TESTS["autodesk"]]
    suites.run(files, "--max-examples", "5")
    stored = sorted(suites.store.glob("*.pickle"))
    assert len(stored) == 2
    stored[0].write_bytes(stored[0].read_bytes()[:100])  # cut short
    stored[1].write_bytes(b"\x80\x05not a pickle at all")
    damaged, (sent, _) = suites.run(files, "--max-examples", "5")
    assert damaged.returncode == 0, damaged.stdout[-3000:]
    assert "0 operation(s) replayed from the case store, 2 generated" in replayed(damaged)
    mended, (resent, _) = suites.run(files, "--max-examples", "5")
    assert "2 operation(s) replayed from the case store, 0 generated" in replayed(mended)
    assert resent == sent


@pytest.mark.slow
def test_a_live_target_always_generates_and_stores_nothing(suites, served_simulator, tmp_path):
    """On a live target a replay that fails would send its requests twice: the store adds no request to a vendor."""
    served = served_simulator("autodesk")
    targets = write_loop_targets(tmp_path / "targets.toml", served.base_url)
    files = [CONTRACT_TESTS["autodesk"]]
    for _ in range(2):
        live, _ = suites.run(files, "--targets", str(targets), "--target", "loop", "--max-examples", "3")
        assert live.returncode == 0, live.stdout[-3000:]
        assert "0 operation(s) replayed from the case store, 2 generated" in replayed(live)
    assert not suites.store.exists() or not list(suites.store.iterdir())


def test_authcanary_run_replays_and_fresh_cases_generates(tmp_path):
    """`authcanary run` keeps the store in the cache folder: the second run replays, `--fresh-cases` generates."""
    env = cli_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    args = ["run", "--vendor", "autodesk", "--max-examples", "3", "--baseline", str(tmp_path / "none")]
    (tmp_path / "none").mkdir()
    said = []
    runs = [[], [], ["--fresh-cases"], ["--vendor", "kudo", "--workers", "2"]]  # the last: xdist workers count too
    for index, extra in enumerate(runs):
        result = run_authcanary([*args, *extra], tmp_path / f"run-{index}", env=env)
        assert result.code == 0, result.output[-3000:]
        said.append(next(line for line in result.output.splitlines() if line.startswith("contract cases:")))
    assert said == [
        "contract cases: 0 operation(s) replayed from the case store, 2 generated",
        "contract cases: 2 operation(s) replayed from the case store, 0 generated",
        "contract cases: 0 operation(s) replayed from the case store, 2 generated",
        "contract cases: 2 operation(s) replayed from the case store, 0 generated",
    ]
    assert len(list((tmp_path / "cache" / "authcanary" / "hypothesis" / "authcanary" / "cases").glob("*"))) == 2

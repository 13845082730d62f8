"""Contract tests reuse the cases an earlier run generated (authcanary.pytest.cases): the same requests as
generating them again, stored cases that do not pass handed back to hypothesis (the same findings as a first run,
and a failure that does not come back is flaky), a damaged store generated again, a live target never reusing, and
nothing stored that the key cannot stand for."""

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
#: logs every request the harness sends in-process (method, URL, headers, body), one JSON line each
REQUEST_LOG_PLUGIN = """
import json, os
from authcanary.http import InProcessTransport

_send = InProcessTransport.handle_request


def handle_request(self, request):
    with open(os.environ["REQUEST_LOG"], "a", encoding="utf-8") as log:
        # schemathesis' correlation id is random for every case, generated or reused
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


def said(completed: subprocess.CompletedProcess) -> str:
    return next((line for line in completed.stdout.splitlines() if line.startswith("contract cases:")), "")


@pytest.fixture
def suites(tmp_path: Path) -> Pytest:
    return Pytest(tmp_path)


def test_reused_cases_are_the_requests_generation_sends(suites):
    """The first run generates and stores; the second reuses them and sends exactly the same requests, in the same
    order; generating again (`--authcanary-fresh-cases`) sends them too: generation is deterministic."""
    files = list(CONTRACT_TESTS.values())
    first, (generated, _) = suites.run(files, "--max-examples", "12")
    assert first.returncode == 0, first.stdout[-3000:]
    assert said(first) == "contract cases: 8 operation(s) generated"
    assert len(list(suites.store.glob("*.pickle"))) == 8
    second, (reused, _) = suites.run(files, "--max-examples", "12")
    assert second.returncode == 0, second.stdout[-3000:]
    assert said(second) == "contract cases: 0 operation(s) generated, 8 reused from the case store"
    third, (again, _) = suites.run(files, "--max-examples", "12", fresh=True)
    assert said(third) == "contract cases: 8 operation(s) generated"
    assert len(generated) > 100
    assert reused == generated
    assert again == generated
    # other settings are other cases: generated, not reused
    other, _ = suites.run(files[:1], "--max-examples", "13")
    assert said(other) == "contract cases: 2 operation(s) generated"


@pytest.mark.parametrize("profile", ["unknown-client-404", "html-errors", "json-string-errors", "token-stub"])
def test_stored_cases_that_fail_are_handed_back_and_find_what_a_first_run_finds(suites, tmp_path, profile):
    """A deviation on a filled store: the stored cases fail, hypothesis generates and shrinks, and the violations (their
    minimal examples and repros) are those of a run that generated its cases."""
    files = [CONTRACT_TESTS["autodesk"]]
    documented, _ = suites.run(files, "--max-examples", "12")
    assert documented.returncode == 0, documented.stdout[-3000:]
    warm, (_, warm_findings) = suites.run(files, "--max-examples", "12", "--sim-profile", profile)
    assert warm.returncode == 1, warm.stdout[-3000:]
    assert "stored cases did not pass, generated again" in warm.stdout
    (tmp_path / "cold").mkdir()
    cold_suites = Pytest(tmp_path / "cold")
    cold, (_, cold_findings) = cold_suites.run(files, "--max-examples", "12", "--sim-profile", profile)
    assert said(cold) == "contract cases: 2 operation(s) generated"

    def violations(findings: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted(findings["vendors"]["autodesk"]["violations"], key=lambda v: (v["check_id"], v["endpoint"]))

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
    assert said(damaged) == "contract cases: 2 operation(s) generated"
    mended, (resent, _) = suites.run(files, "--max-examples", "5")
    assert said(mended) == "contract cases: 0 operation(s) generated, 2 reused from the case store"
    assert resent == sent


@pytest.mark.slow
def test_a_live_target_always_generates_and_stores_nothing(suites, served_simulator, tmp_path):
    """On a live target stored cases that fail would send their requests twice: the store adds no request to a
    vendor."""
    served = served_simulator("autodesk")
    targets = write_loop_targets(tmp_path / "targets.toml", served.base_url)
    files = [CONTRACT_TESTS["autodesk"]]
    for _ in range(2):
        live, _ = suites.run(files, "--targets", str(targets), "--target", "loop", "--max-examples", "3")
        assert live.returncode == 0, live.stdout[-3000:]
        assert said(live) == "contract cases: 2 operation(s) generated"
    assert not suites.store.exists() or not list(suites.store.iterdir())


def test_authcanary_run_reuses_and_fresh_cases_generates(tmp_path):
    """`authcanary run` keeps the store in the cache folder: the second run reuses, `--fresh-cases` generates."""
    env = cli_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    args = ["run", "--vendor", "autodesk", "--max-examples", "3", "--baseline", str(tmp_path / "none")]
    (tmp_path / "none").mkdir()
    summaries = []
    runs = [[], [], ["--fresh-cases"], ["--vendor", "kudo", "--workers", "2"]]  # the last: xdist workers count too
    for index, extra in enumerate(runs):
        result = run_authcanary([*args, *extra], tmp_path / f"run-{index}", env=env)
        assert result.code == 0, result.output[-3000:]
        summaries.append(next(line for line in result.output.splitlines() if line.startswith("contract cases:")))
    assert summaries == [
        "contract cases: 2 operation(s) generated",
        "contract cases: 0 operation(s) generated, 2 reused from the case store",
        "contract cases: 2 operation(s) generated",
        "contract cases: 0 operation(s) generated, 2 reused from the case store",
    ]
    assert len(list((tmp_path / "cache" / "authcanary" / "hypothesis" / "authcanary" / "cases").glob("*"))) == 2


#: a contract test of the Autodesk contract outside the suites (marked with its vendor), whose body
#: `BODY` is filled in; run by `own_test`
OWN_TEST = """
import os
import hypothesis
import pytest
import schemathesis
from authcanary.suite import contract_test

schema = schemathesis.openapi.from_path({contract!r})
schema.config.generation.update(max_examples=5, deterministic=True)
{configure}
SETTINGS = hypothesis.settings(max_examples=5, derandomize=True, database=None, deadline=None)
calls = {{"n": 0}}


@pytest.mark.autodesk
@contract_test(schema, SETTINGS)
def test_contract(case, client):
    calls["n"] += 1
{body}
"""


def own_test(work: Path, body: str, configure: str = "") -> Any:
    """Runs a contract test of the Autodesk contract with `body`, in `work` (its own hypothesis home)."""
    contract = str(ROOT / "contracts" / "autodesk" / "openapi.yaml")
    source = OWN_TEST.format(contract=contract, configure=configure, body=body)
    (work / "test_own_contract.py").write_text(source, encoding="utf-8")
    home = work / "hypothesis"

    def run(**env: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "pytest", str(work / "test_own_contract.py"), *PLUGIN_ARGS, "-q"]
        command += [
            "--rootdir",
            str(ROOT),
            "-o",
            "addopts=",
            "-p",
            "no:cacheprovider",
            "--authcanary-out",
            str(work / "out"),
        ]
        environment = cli_env(HYPOTHESIS_STORAGE_DIRECTORY=str(home), PYTHONPATH=str(ROOT), **env)
        return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)

    run.store = home / "authcanary" / "cases"  # type: ignore[attr-defined]
    return run


def test_stored_cases_whose_failure_does_not_come_back_fail_as_flaky(tmp_path):
    """A failure of the stored cases that generating them again does not find is not a pass: hypothesis calls a
    failure that does not come back flaky, and so does the harness."""
    run = own_test(
        tmp_path, '    if calls["n"] == int(os.environ.get("FAIL_ON_CALL", "0")):\n        raise AssertionError("once")'
    )
    first = run()
    assert first.returncode == 0, first.stdout[-3000:]
    assert said(first) == "contract cases: 2 operation(s) generated"
    flaky = run(FAIL_ON_CALL="1")
    assert flaky.returncode == 1, flaky.stdout[-3000:]
    assert "stored cases did not pass, generated again" in flaky.stdout and "AssertionError: once" in flaky.stdout
    assert "FlakyFailure" in flaky.stdout and "1 failed, 1 passed" in flaky.stdout
    again = run()
    assert said(again) == "contract cases: 0 operation(s) generated, 2 reused from the case store"


def test_stored_cases_run_as_hypothesis_examples(tmp_path):
    """A contract test may call hypothesis' note, event, target and assume, and use the random module: each stored
    case runs inside hypothesis, as a generated one does."""
    body = "\n".join(
        [
            "    import random",
            "    hypothesis.note(f'case {case.method}')",
            "    hypothesis.event('a contract case')",
            "    hypothesis.target(float(random.random()))",
            "    hypothesis.assume(True)",
        ]
    )
    run = own_test(tmp_path, body)
    assert run().returncode == 0
    reused = run()
    assert reused.returncode == 0, reused.stdout[-3000:]
    assert said(reused) == "contract cases: 0 operation(s) generated, 2 reused from the case store"


def test_configured_headers_are_never_stored(tmp_path):
    """Headers configured in schemathesis (often a credential) are not in the key: such cases are not stored."""
    secret = "configured-" + os.urandom(12).hex()
    run = own_test(tmp_path, "    pass", configure=f"schema.config.update(headers={{'X-Api-Key': {secret!r}}})")
    for _ in range(2):
        result = run()
        assert result.returncode == 0, result.stdout[-3000:]
        assert said(result) == "contract cases: 2 operation(s) generated"
    assert not run.store.exists() or not list(run.store.iterdir())
    home = tmp_path / "hypothesis"
    assert not [path for path in home.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]


def test_a_skip_on_stored_cases_says_only_why(tmp_path):
    """An operation the vendor no longer serves is skipped on a stored case as on a generated one, with its reason
    alone (hypothesis would add its "Failing explicit example" note to it)."""
    run = own_test(tmp_path, '    if os.environ.get("GONE"):\n        pytest.skip("the vendor removed it")')
    assert run().returncode == 0
    result = run(GONE="1", PYTEST_ADDOPTS="-rs")
    assert result.returncode == 0, result.stdout[-3000:]
    assert said(result) == "contract cases: 0 operation(s) generated, 2 reused from the case store"
    assert "SKIPPED [2]" in result.stdout and "the vendor removed it" in result.stdout
    assert "explicit example" not in result.stdout

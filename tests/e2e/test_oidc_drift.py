"""Drift that matters on a Keycloak upgrade (issue 10, item 5): `authcanary run --baseline` of the Bimplus simulator
against a baseline recorded from its documented profile.

- default selection: a second documented run has zero drift, although every value that differs from run to run
  differs (a new signing key, so another `kid`; new JWTs, `session_state`, `jti`, refresh tokens);
- `-m slow`: an upgrade that changes an error status, drops a discovery field or a token-body field, or drops a claim
  from the access token is drift of the right kind and severity, at the step it touches.
Property tests run one example each: only the recorded scenarios matter for drift.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import RunResult, run_authcanary

FAST = ["--target", "sim", "--vendor", "bimplus", "--max-examples", "1"]
#: profile -> (kind, severity, path, a fragment of the step key) of the finding it must cause
UPGRADES = {
    "oidc-invalid-grant-401": ("status_changed", "breaking", "status", "test_bad_user_credentials_get_400"),
    "oidc-discovery-no-revocation": ("field_removed", "breaking", "$.revocation_endpoint", "test_discovery"),
    "oidc-no-refresh-expires-in": ("field_removed", "breaking", "$.refresh_expires_in", "test_password_login_gives"),
    "oidc-typ-missing": ("format_changed", "breaking", "$.access_token", "test_password_login_gives"),
}


class Runs:
    """The baseline (recorded first) and one run per profile against it, two at a time (a 2-core machine)."""

    def __init__(self, base: Path) -> None:
        self.base, self.baseline = base, base / "baseline"
        self.executor = ThreadPoolExecutor(max_workers=2)
        self.recorded = self.executor.submit(self._record_baseline)
        self.futures: dict[str, Future[RunResult]] = {}

    def _record_baseline(self) -> RunResult:
        out = self.base / "first"
        result = run_authcanary(["run", *FAST], out)
        assert result.code == 0, result.output[-3000:]
        accepted = run_authcanary(["baseline", "accept", str(out), "--baseline", str(self.baseline)])
        assert accepted.code == 0, accepted.output
        return result

    def _run(self, profile: str) -> RunResult:
        self.recorded.result()
        args = ["run", *FAST, "--baseline", str(self.baseline)]
        return run_authcanary(
            [*args, *(["--profile", profile] if profile != "documented" else [])], self.base / profile
        )

    def submit(self, profile: str) -> None:
        if profile not in self.futures:
            self.futures[profile] = self.executor.submit(self._run, profile)

    def get(self, profile: str) -> RunResult:
        self.submit(profile)
        return self.futures[profile].result()


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    pool = Runs(tmp_path_factory.mktemp("oidc-drift"))
    for item in request.session.items:  # start the runs the selected tests need, so they overlap
        callspec = getattr(item, "callspec", None)
        if item.module is request.module:
            pool.submit(callspec.params["profile"] if callspec else "documented")
    yield pool
    pool.executor.shutdown(wait=True, cancel_futures=True)


def drift(result: RunResult) -> list[dict[str, Any]]:
    assert result.summary is not None, result.output[-3000:]
    return result.summary["vendors"]["bimplus"]["drift"]


def describe(findings: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"[{f['severity']}] {f['kind']} {f['path']} @ {f['key']}: {f['baseline']} -> {f['current']}" for f in findings
    )


def test_a_second_documented_run_has_zero_drift_although_every_volatile_value_changed(runs):
    first, second = runs.recorded.result(), runs.get("documented")
    assert drift(second) == [], describe(drift(second))
    assert second.code == 0, second.output[-2000:]
    kids = [
        {
            line.split("kid=")[1].split(" ")[0]
            for path in (result_dir / "cassettes" / "bimplus").glob("test_oidc_scenarios.*.yaml")
            for line in path.read_text(encoding="utf-8").splitlines()
            if "kid=" in line
        }
        for result_dir in (runs.base / "first", runs.base / "documented")
    ]
    assert kids[0] and kids[1] and not kids[0] & kids[1], "each run signs with its own key: the kid is volatile"
    assert first.summary is not None


@pytest.mark.slow
@pytest.mark.parametrize("profile", sorted(UPGRADES))
def test_a_provider_upgrade_is_drift_of_the_right_severity(runs, profile):
    kind, severity, path, step = UPGRADES[profile]
    findings = drift(runs.get(profile))
    matching = [f for f in findings if f["kind"] == kind and f["path"] == path and step in f["key"]]
    assert matching, f"{profile}: no {kind} at {path} on {step}\n{describe(findings)}"
    assert {f["severity"] for f in matching} == {severity}, describe(matching)

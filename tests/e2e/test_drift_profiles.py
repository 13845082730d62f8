"""Drift end to end: `authcanary run --baseline` against Autodesk simulator profiles (issue 3, item 7).

A baseline is recorded once from the documented profile (`authcanary run`, then `authcanary baseline accept`).
- default selection: a second documented run has zero drift, in summary.json, drift.json and `authcanary drift`;
- `-m slow`: each deviation profile that changes one aspect of the answers makes exactly its drift kind fire, with
  the documented severity, on exactly the steps that aspect touches (plus the steps it naturally removes), and the
  `authcanary drift` command reports the same findings as the run.
Property tests run one example each (`--max-examples 1`): only the recorded scenarios matter for drift.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from authcanary.drift.normalize import normalize_folder
from authcanary.history import ANNOTATIONS
from authcanary.simulators.autodesk import KEYS_PATH, V1_PATH, V2_PATH
from conftest import RunResult, run_authcanary

FAST = ["--max-examples", "1"]
JWT_SHAPE = "string jwt(RS256;aud,client_id,exp,iat,jti,scope)"


@dataclass(frozen=True)
class Deviation:
    """What one deviation profile must change in the drift report, and nothing more."""

    kind: str
    severity: str
    #: baseline steps it must fire on: "token" (200 token answers), "v1" (every v1 answer), "401" (401 answers)
    steps: str
    #: path -> the set of (baseline, current) descriptions the findings at that path may show
    paths: dict[str, set[tuple[str, str]]]
    #: findings the deviation causes as a consequence: (kind, path) -> baseline steps ("keys": the JWKS fetches)
    consequences: dict[tuple[str, str], str] | None = None


DEVIATIONS: dict[str, Deviation] = {
    "403-instead-of-401": Deviation("status_changed", "breaking", "401", {"status": {("401", "403")}}),
    "access-token-renamed": Deviation(
        "field_removed",
        "breaking",
        "token",
        {"$.access_token": {(JWT_SHAPE, "(absent)")}},
        # the renamed field appears under its new name, and no JWT means the suites skip the JWKS fetch
        {("field_added", "$.token"): "token", ("step_missing", ""): "keys"},
    ),
    # the scenarios that leave the optional scope out get an empty scope, and their expires_in differs per step
    "extra-response-field": Deviation(
        "field_added",
        "info",
        "token",
        {"$.scope": {("(absent)", 'string = "data:read"'), ("(absent)", "string empty-string")}},
    ),
    "expires-in-string": Deviation(
        "type_changed",
        "breaking",
        "token",
        {"$.expires_in": {("int = 1799", 'string = "1799"'), ("int = 3599", 'string = "3599"'), ("int", "string")}},
    ),
    "opaque-access-token": Deviation(
        "format_changed",
        "warning",
        "token",
        {"$.access_token": {(JWT_SHAPE, "string hex32")}},
        {("step_missing", ""): "keys"},
    ),
    "deprecation-headers": Deviation(
        "header_changed",
        "warning",
        "v1",
        {
            "header:deprecation": {("(absent)", "true")},
            "header:sunset": {("(absent)", "Tue, 30 Apr 2024 23:59:59 GMT")},
        },
    ),
    # token_type is a contract constant (contracts/autodesk/semantics.yaml): its value is compared, not just its type
    "lowercase-token-type": Deviation(
        "value_changed", "breaking", "token", {"$.token_type": {('"Bearer"', '"bearer"')}}
    ),
}


@dataclass
class Recorded:
    """One `authcanary run` and its run folder."""

    profile: str
    out: Path
    result: RunResult

    @property
    def autodesk(self) -> dict[str, Any]:
        assert self.result.summary is not None, f"{self.profile}: no summary.json\n{self.result.output[-3000:]}"
        return self.result.summary["vendors"]["autodesk"]

    @property
    def drift_json(self) -> dict[str, Any]:
        return json.loads((self.out / "drift.json").read_text(encoding="utf-8"))

    def describe(self) -> str:
        findings = "\n".join(
            f"  [{f['severity']}] {f['kind']} {f['path']} @ {f['key']}: {f['baseline']} -> {f['current']}"
            for f in (self.autodesk.get("drift") or [])[:40]
        )
        return f"run of profile {self.profile}: exit {self.result.code}\n{findings}\n{self.result.output[-2000:]}"


class Runs:
    """The baseline (recorded first) and one run per profile against it, two at a time (a 2-core machine)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.baseline = base / "baseline"
        self.executor = ThreadPoolExecutor(max_workers=2)
        self.recorded = self.executor.submit(self._record_baseline)
        self.futures: dict[str, Future] = {}

    def _record_baseline(self) -> Recorded:
        out = self.base / "first-documented"
        result = run_authcanary(["run", "--target", "sim", "--vendor", "autodesk", *FAST], out)
        assert (out / "cassettes" / "autodesk").is_dir(), f"the first run recorded nothing:\n{result.output[-3000:]}"
        accepted = run_authcanary(["baseline", "accept", str(out), "--baseline", str(self.baseline)])
        assert accepted.code == 0, f"baseline accept failed:\n{accepted.output}"
        return Recorded("documented", out, result)

    def _run(self, profile: str) -> Recorded:
        self.recorded.result()
        out = self.base / profile
        result = run_authcanary(
            [
                "run",
                "--target",
                "sim",
                "--vendor",
                "autodesk",
                "--profile",
                profile,
                "--baseline",
                str(self.baseline),
                *FAST,
            ],
            out,
        )
        return Recorded(profile, out, result)

    def submit(self, profile: str) -> None:
        if profile not in self.futures:
            self.futures[profile] = self.executor.submit(self._run, profile)

    def get(self, profile: str) -> Recorded:
        self.submit(profile)
        return self.futures[profile].result()

    def baseline_steps(self) -> dict[str, Any]:
        self.recorded.result()
        return normalize_folder(self.baseline)["autodesk"]


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    pool = Runs(tmp_path_factory.mktemp("drift-profiles"))
    pool.submit("documented")
    for item in request.session.items:  # start the runs the selected tests need, so they overlap
        callspec = getattr(item, "callspec", None)
        if item.module is request.module and callspec and "profile" in callspec.params:
            pool.submit(callspec.params["profile"])
    yield pool
    pool.executor.shutdown(wait=True, cancel_futures=True)


def steps_touched(steps: dict[str, Any], which: str) -> set[str]:
    """Keys of the baseline steps an aspect of the answers lives on."""
    select = {
        "token": lambda step: step.path in (V1_PATH, V2_PATH) and step.status == 200,
        "v1": lambda step: step.path == V1_PATH,
        "401": lambda step: step.status == 401,
        "keys": lambda step: step.path == KEYS_PATH,
    }[which]
    return {key for key, step in steps.items() if select(step)}


# -- zero drift: the documented profile twice --------------------------------------------------------------------
def test_documented_profile_twice_gives_zero_drift(runs):
    first, second = runs.recorded.result(), runs.get("documented")
    autodesk = second.autodesk
    assert autodesk["drift"] == [], second.describe()
    assert not any("no baseline" in note for note in autodesk["notes"]), autodesk["notes"]
    assert autodesk["status"] == "ok", second.describe()
    document = second.drift_json
    vendor = document["vendors"]["autodesk"]
    assert document["breaking"] is False and document["no_baseline"] == []
    assert vendor["status"] == "clean" and vendor["findings"] == []
    assert vendor["counts"] == {"breaking": 0, "warning": 0, "info": 0}
    recorded = len(list((first.out / "cassettes" / "autodesk").glob("*.yaml")))
    assert recorded >= 10, "the documented run records every scenario"
    assert vendor["steps"]["baseline"] == vendor["steps"]["current"] == len(runs.baseline_steps()) > recorded


def test_documented_run_against_its_baseline_exits_0(runs):
    """No violation and no drift: a clean run, and nothing in its folder (drift.md included) looks like a secret."""
    second = runs.get("documented")
    assert second.result.code == 0 and second.result.summary["exit_code"] == 0, second.describe()


def test_drift_command_agrees_on_zero_drift(runs, tmp_path):
    second = runs.get("documented")
    result = run_authcanary(["drift", str(runs.baseline), str(second.out), "--out", str(tmp_path)])
    assert result.code == 0, result.output
    document = json.loads((tmp_path / "drift.json").read_text(encoding="utf-8"))
    assert document["vendors"]["autodesk"]["findings"] == []
    assert "No drift:" in (tmp_path / "drift.md").read_text(encoding="utf-8")


# -- each kind fires on the profile that changes only that aspect -------------------------------------------------
def test_every_drift_kind_has_a_profile():
    from authcanary.drift import KIND_SEVERITY

    fired = {deviation.kind for deviation in DEVIATIONS.values()}
    fired |= {kind for deviation in DEVIATIONS.values() for kind, _ in (deviation.consequences or {})}
    # step_added is shown by swapping baseline and current of a step_missing profile (test below)
    assert set(KIND_SEVERITY) - fired == {"step_added"}
    for deviation in DEVIATIONS.values():
        assert KIND_SEVERITY[deviation.kind] == deviation.severity


def without_history(findings: list[dict]) -> list[dict]:
    """summary.json's drift items as drift.json has them: without what the history adds (id, state, ...)."""
    return [{key: value for key, value in finding.items() if key not in ANNOTATIONS} for finding in findings]


@pytest.mark.slow
@pytest.mark.parametrize("profile", sorted(DEVIATIONS))
def test_deviation_fires_its_drift_kind_and_nothing_else(runs, profile):
    deviation, run = DEVIATIONS[profile], runs.get(profile)
    steps = runs.baseline_steps()
    findings = run.autodesk["drift"]
    assert findings, f"no drift at all\n{run.describe()}"
    assert without_history(findings) == run.drift_json["vendors"]["autodesk"]["findings"], (
        "summary.json and drift.json disagree"
    )

    expected_steps = steps_touched(steps, deviation.steps)
    assert expected_steps, f"the baseline has no {deviation.steps!r} step"
    for path, values in deviation.paths.items():
        fired = [f for f in findings if f["kind"] == deviation.kind and f["path"] == path]
        assert {f["key"] for f in fired} == expected_steps, (
            f"{deviation.kind} at {path} must fire on every {deviation.steps!r} step, and only there\n{run.describe()}"
        )
        assert {f["severity"] for f in fired} == {deviation.severity}
        assert {(f["baseline"], f["current"]) for f in fired} <= values, fired[:3]

    consequences = deviation.consequences or {}
    for (kind, path), which in consequences.items():
        fired = {f["key"] for f in findings if (f["kind"], f["path"]) == (kind, path)}
        assert fired == steps_touched(steps, which), f"{kind} {path!r} expected on the {which!r} steps"
    allowed = {(deviation.kind, path) for path in deviation.paths} | set(consequences)
    others = [f for f in findings if (f["kind"], f["path"]) not in allowed]
    assert not others, f"{profile} changes one aspect, yet other drift fired: {others[:5]}"
    breaking = any(f["severity"] == "breaking" for f in findings)
    assert run.drift_json["breaking"] is breaking
    assert run.drift_json["vendors"]["autodesk"]["status"] == ("breaking" if breaking else deviation.severity)


@pytest.mark.slow
# v1-removed: drift the run explains itself (v1 removed as announced) is info for the command too
@pytest.mark.parametrize("profile", [*sorted(DEVIATIONS), "v1-removed"])
def test_drift_command_reports_what_the_run_reported(runs, profile, tmp_path):
    run = runs.get(profile)
    result = run_authcanary(["drift", str(runs.baseline), str(run.out), "--out", str(tmp_path)])
    document = json.loads((tmp_path / "drift.json").read_text(encoding="utf-8"))
    assert document["vendors"]["autodesk"]["findings"] == without_history(run.autodesk["drift"])
    assert result.code == (1 if document["breaking"] else 0), result.output


@pytest.mark.slow
def test_step_added_when_baseline_and_current_are_swapped(runs, tmp_path):
    """opaque-access-token skips the JWKS fetch: as a baseline, the documented run has those steps added."""
    opaque, documented = runs.get("opaque-access-token"), runs.get("documented")
    result = run_authcanary(["drift", str(opaque.out / "cassettes"), str(documented.out), "--out", str(tmp_path)])
    findings = json.loads((tmp_path / "drift.json").read_text(encoding="utf-8"))["vendors"]["autodesk"]["findings"]
    added = {f["key"] for f in findings if f["kind"] == "step_added"}
    assert added == steps_touched(runs.baseline_steps(), "keys")
    assert {f["severity"] for f in findings if f["kind"] == "step_added"} == {"info"}
    assert {(f["kind"], f["path"]) for f in findings} == {("step_added", ""), ("format_changed", "$.access_token")}
    assert result.code == 0, "step_added and format_changed are not breaking"

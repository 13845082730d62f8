"""`authcanary run --vendor kudo` catches every deviation profile of the Kudo token service simulator (exit 1 and a
violation of every check whose declaration lists it, by check id and with the declared severity:
contracts/kudo/checks.yaml; exit 0 for a deviation that proves only info checks) and passes the documented profile
(exit 0, zero violations, the documentation's ambiguities reported), in-process and over loopback HTTP. The
documented recordings drift nowhere: a second run, served over HTTP, live or not, compares clean with the first. No
run writes the partner key. The declarations themselves are checked for every vendor in
tests/unit/test_check_declarations.py.

The in-process runs the selected tests need all start with the module, two at a time, and overlap with the
loopback test. By default: the documented profile and the profiles in REQUIRED in-process, and the documented
profile over loopback HTTP (as a simulator and as a live target); the rest is `slow`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from authcanary.catalog import UNEXPECTED, Catalog, load_catalog
from authcanary.findings import FAILING_SEVERITIES
from authcanary.simulators.kudo import KudoSimulator
from conftest import RunResult, files_containing, run_authcanary, serve_simulator

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
CATALOG: Catalog = load_catalog(CONTRACTS, "kudo")
DEVIATIONS = list(KudoSimulator.deviations)
DEFAULTS = KudoSimulator.default_settings()
SECRETS = [DEFAULTS["api_key"]]
MAX_EXAMPLES = "2"  # every deviation is caught by a scenario, or by each hostile kind's first examples
LIVE_REQUESTS = 150  # the most a live run may send the vendor (issue 11)
BUDGET = 300  # the default request_budget of a live vendor section

# The profiles that run in-process in the default test run: the round trip, the expiration's unit, the partner
# key, and expiry on the virtual clock; the others run under `-m slow`.
REQUIRED = {"numbers-as-strings", "expiration-milliseconds", "wrong-key-accepted", "expired-token-accepted"}
# VENDORS.md "Documentation ambiguities the harness should surface" (Kudo), as a `where` fragment.
VENDORS_MD_AMBIGUITIES = ["Kudo 403 error body"]
PROFILE_PARAMS = [pytest.param(name, marks=() if name in REQUIRED else pytest.mark.slow) for name in DEVIATIONS]
JSON_ERRORS = "json-errors"  # the embedded target with the error_format=json option: JSON 403 bodies


def kudo(result: RunResult) -> dict[str, Any]:
    assert result.summary is not None, result.output
    return result.summary["vendors"]["kudo"]


def write_targets(path: Path, name: str, section: dict[str, Any], embedded: bool = False) -> Path:
    """A targets file with one kudo section (TOML written by hand: values are strings, ints, bools, tables)."""

    def toml(value: Any) -> str:
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{key} = {toml(item)}" for key, item in value.items()) + " }"
        return str(value).lower() if isinstance(value, bool) else json.dumps(value)

    lines = [
        *([f"[targets.{name}]", "embedded = true"] if embedded else []),
        f"[targets.{name}.kudo]",
        *(f"{key} = {toml(value)}" for key, value in section.items()),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_kudo(out: Path, *args: str) -> RunResult:
    """`authcanary run --vendor kudo ARGS`; no run ever writes the partner key."""
    result = run_authcanary(["run", "--vendor", "kudo", *args], out)
    assert files_containing(out, SECRETS) == {}
    return result


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the in-process runs write: `<folder>/<label>` is the run folder of the run `label`."""
    return tmp_path_factory.mktemp("kudo-runs")


@pytest.fixture(scope="module", autouse=True)
def runs(request: pytest.FixtureRequest, runs_folder: Path) -> Iterator[dict[str, Future]]:
    """Every in-process run the selected tests of this module ask for (`run` parameter, and the documented run the
    loopback test takes its baseline from), started with the module two at a time: the loopback test (first in the
    file) overlaps with them."""
    folder = runs_folder
    targets = write_targets(folder / "targets.toml", JSON_ERRORS, {"options": {"error_format": "json"}}, embedded=True)
    (folder / "no-baseline").mkdir(exist_ok=True)  # an empty baseline: nothing to compare with
    arguments = {
        "documented": [],
        # judged on its own: against the committed baseline (text errors) a switch to JSON is drift, as it should be
        JSON_ERRORS: ["--targets", str(targets), "--target", JSON_ERRORS, "--baseline", str(folder / "no-baseline")],
        **{profile: ["--profile", profile] for profile in DEVIATIONS},
    }
    wanted = {
        item.callspec.params["run"]
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        and hasattr(item, "callspec")
        and "run" in item.callspec.params
    }
    if any(
        getattr(item, "module", None) is request.module and item.name.startswith("test_loopback_documented")
        for item in request.session.items
    ):
        wanted.add("documented")  # its recordings are the baseline the loopback runs are compared with
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 2)) as pool:
        yield {
            label: pool.submit(run_kudo, folder / label, "--max-examples", MAX_EXAMPLES, *arguments[label])
            for label in sorted(wanted)
        }


def assert_caught(result: RunResult, profile: str) -> None:
    """Every check declaring `profile` fired, with its declared severity (matched by check id); a deviation proven
    otherwise (`other_profiles`) shows as declared; info only fails nothing."""
    violations = kudo(result)["violations"]
    fired = {(violation["check_id"], violation["severity"]) for violation in violations}
    proving = CATALOG.proving(profile)
    if any(spec.severity in FAILING_SEVERITIES for spec in proving):
        assert result.code == 1, result.output
    elif proving:
        assert result.code == 0 and kudo(result)["status"] == "ok", result.output
    missing = [spec.id for spec in proving if (spec.id, spec.severity) not in fired]
    assert not missing, f"{profile} did not fire {missing} (with the declared severity); fired: {sorted(fired)}"
    other = CATALOG.other_profiles.get(profile, {})
    if other.get("outage"):
        assert result.code == 3 and kudo(result)["status"] == "unreachable", result.output
        assert violations == []
    assert proving or other, f"{profile} proves nothing (contracts/kudo/checks.yaml)"
    unexpected = [violation for violation in violations if violation["check_id"] == f"kudo.{UNEXPECTED}"]
    assert not unexpected, unexpected


def assert_clean(result: RunResult) -> None:
    assert result.code == 0, result.output
    assert kudo(result)["status"] == "ok" and kudo(result)["violations"] == [], kudo(result)["violations"]


# -- over loopback HTTP ------------------------------------------------------------------------------------------
def run_against(base_url: str, folder: Path, *args: str, simulator: bool = True) -> RunResult:
    section = {
        "base_url": base_url,
        "simulator": simulator,
        **DEFAULTS,
        "request_budget": BUDGET,
        "rate_limit_per_minute": 60000,
    }
    targets = write_targets(folder / "targets.toml", "loopback", section)
    return run_kudo(folder / "run", "--targets", str(targets), "--target", "loopback", *args)


def test_loopback_documented_is_clean_drift_free_and_live_safe(runs, runs_folder, tmp_path):
    """Over HTTP: clean, with the embedded documented run's recordings as the baseline and no drift from them; as a
    live target (no simulator powers) also at most LIVE_REQUESTS requests, the simulator-only checks skipped and
    the simulator's clock never moved."""
    embedded = runs["documented"].result()
    assert_clean(embedded)
    baseline = tmp_path / "baseline"
    accepted = run_authcanary(
        ["baseline", "accept", str(runs_folder / "documented"), "--baseline", str(baseline), "--vendor", "kudo"]
    )
    assert accepted.code == 0, accepted.output
    with serve_simulator("kudo", log_dir=tmp_path) as served:
        simulated = run_against(served.base_url, tmp_path / "simulated", "--baseline", str(baseline))
        assert_clean(simulated)
        assert kudo(simulated)["drift_checked"] and kudo(simulated)["drift"] == [], kudo(simulated)["drift"]
        httpx.post(f"{served.base_url}/__authcanary__/reset")
        logged = served.requests_logged()
        live = run_against(served.base_url, tmp_path / "live", "--baseline", str(baseline), simulator=False)
        assert_clean(live)
        # the simulator-only scenario it skipped is missing, explained (info); nothing else differs
        assert [d for d in kudo(live)["drift"] if d["severity"] != "info" or not d.get("note")] == []
        assert 0 < kudo(live)["requests"] <= LIVE_REQUESTS and kudo(live)["checks"]["skipped"] > 0
        assert served.requests_logged() - logged == kudo(live)["requests"]
        info = httpx.get(f"{served.base_url}/__authcanary__/info").json()
        assert abs(info["now"] - time.time()) < 5, "a live run moved the simulator's clock"


@pytest.mark.slow
@pytest.mark.parametrize("profile", DEVIATIONS)
def test_loopback_profile_is_caught(tmp_path, profile):
    with serve_simulator("kudo", profile, log_dir=tmp_path) as served:
        assert_caught(run_against(served.base_url, tmp_path, "--max-examples", MAX_EXAMPLES), profile)


# -- in-process (results of the runs started with the module) ----------------------------------------------------
@pytest.mark.parametrize("run", ["documented"])
def test_documented_profile_is_clean_and_reports_the_ambiguities(runs, run):
    result = runs[run].result()
    assert_clean(result)
    wheres = " | ".join(ambiguity["where"] for ambiguity in kudo(result)["ambiguities"])
    for fragment in VENDORS_MD_AMBIGUITIES:
        assert fragment in wheres
    assert "mandatory" in wheres and kudo(result)["deprecations"] == []  # an undated "eventually": no deprecation
    assert any(note.startswith("stateful token lifecycle:") for note in kudo(result)["notes"])
    assert kudo(result)["simulator_profile"] == "documented"


@pytest.mark.slow
@pytest.mark.parametrize("run", [JSON_ERRORS])
def test_json_error_bodies_are_accepted_too(runs, run):
    """The document's `{ Wrong token }` is not JSON; a service answering JSON messages is as compliant (no
    violation; compared with a baseline of text errors the switch is drift, which this run is not compared with)."""
    assert_clean(runs[run].result())


@pytest.mark.parametrize("run", PROFILE_PARAMS)
def test_embedded_profile_is_caught(runs, run):
    assert_caught(runs[run].result(), run)

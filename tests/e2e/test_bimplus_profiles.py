"""`authcanary run --vendor bimplus` catches every deviation profile of the Bimplus simulator (exit 1 and a
violation of every check whose declaration lists it, by check id and with the declared severity:
contracts/bimplus/checks.yaml) and passes the documented profile (exit 0, the documentation's ambiguities
reported), in-process and over loopback HTTP. The declarations themselves (every check names a deviation, every deviation proves a check, the suites name only declared checks) are checked for every vendor in tests/unit/test_check_declarations.py.

The in-process runs the selected tests need all start with the module, two at a time, and overlap with the
loopback test. By default: the documented profile and the profiles issue 4 names in-process, and
the documented profile over loopback HTTP (also as a live target); the rest is `slow`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from authcanary.catalog import UNEXPECTED, Catalog, load_catalog
from authcanary.findings import FAILING_SEVERITIES
from authcanary.simulators.bimplus import BimplusSimulator
from conftest import RunResult, files_containing, run_authcanary, serve_simulator

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
CATALOG: Catalog = load_catalog(CONTRACTS, "bimplus")
DEVIATIONS = list(BimplusSimulator.deviations)
DEFAULTS = BimplusSimulator.default_settings()
SECRETS = [DEFAULTS["password"], DEFAULTS["second_password"]]
MAX_EXAMPLES = "2"
BUDGET = 300  # the default request_budget of a live vendor section: a documented run must fit in it

# Which checks a deviation must make fire is declared in contracts/bimplus/checks.yaml (`profiles` of each check,
# `authcanary checks --vendor bimplus`). E.g. remember-me-absent-crash (a crash on one documented shape, remember_me
# left out, while the endpoint answers others) is a violation of bimplus.answers.status_200, not an outage
# (docs/architecture.md "Outage or bug").
# The profiles issue 4 names: they run in the default test run.
REQUIRED = {
    "bearer-token-type",
    "frozen-token-info-lifetime",
    "reusable-cross-token",
    "logout-presented-token-only",
    "missing-remember-me-token",
    "application-id-optional",
    "cross-token-one-hour",
    "teams-accepts-logged-out-token",
    "remember-me-absent-crash",
}
# VENDORS.md "Documentation ambiguities the harness should surface" (Bimplus), as `where` fragments.
VENDORS_MD_AMBIGUITIES = [
    "Token info (GET /v2/authorize) expires_in",
    "default token validity",
    "remeber_me_token",
    "Logout path",
]
PROFILE_PARAMS = [pytest.param(name, marks=() if name in REQUIRED else pytest.mark.slow) for name in DEVIATIONS]
EXAMPLE_READING = "example-reading"  # the embedded target with the access-lifetime option of the examples


def bimplus(result: RunResult) -> dict[str, Any]:
    assert result.summary is not None, result.output
    return result.summary["vendors"]["bimplus"]


def write_targets(path: Path, name: str, section: dict[str, Any], embedded: bool = False) -> Path:
    """A targets file with one bimplus section (TOML written by hand: values are strings, ints, bools, tables)."""

    def toml(value: Any) -> str:
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{key} = {toml(item)}" for key, item in value.items()) + " }"
        return str(value).lower() if isinstance(value, bool) else json.dumps(value)

    lines = [
        *([f"[targets.{name}]", "embedded = true"] if embedded else []),
        f"[targets.{name}.bimplus]",
        *(f"{key} = {toml(value)}" for key, value in section.items()),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_bimplus(out: Path, *args: str) -> RunResult:
    """`authcanary run --vendor bimplus ARGS`; no run ever writes a configured password."""
    result = run_authcanary(["run", "--vendor", "bimplus", *args], out)
    assert files_containing(out, SECRETS) == {}
    return result


@pytest.fixture(scope="module", autouse=True)
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future]]:
    """Every in-process run the selected tests of this module ask for (`run` parameter), started with the module
    two at a time: the loopback test (first in the file) overlaps with them."""
    folder = tmp_path_factory.mktemp("bimplus-runs")
    targets = write_targets(
        folder / "targets.toml", EXAMPLE_READING, {"options": {"access_lifetime": 2592000}}, embedded=True
    )
    arguments = {
        "documented": [],
        EXAMPLE_READING: ["--targets", str(targets), "--target", EXAMPLE_READING],
        **{profile: ["--profile", profile] for profile in DEVIATIONS},
    }
    wanted = {
        item.callspec.params["run"]
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        and hasattr(item, "callspec")
        and "run" in item.callspec.params
    }
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 2)) as pool:
        yield {
            label: pool.submit(run_bimplus, folder / label, "--max-examples", MAX_EXAMPLES, *arguments[label])
            for label in sorted(wanted)
        }


def assert_caught(result: RunResult, profile: str) -> None:
    """Every check declaring `profile` fired, with its declared severity (matched by check id); a deviation proven
    otherwise (`other_profiles`) shows as declared."""
    violations = bimplus(result)["violations"]
    fired = {(violation["check_id"], violation["severity"]) for violation in violations}
    proving = CATALOG.proving(profile)
    if any(spec.severity in FAILING_SEVERITIES for spec in proving):
        assert result.code == 1, result.output
    missing = [spec.id for spec in proving if (spec.id, spec.severity) not in fired]
    assert not missing, f"{profile} did not fire {missing} (with the declared severity); fired: {sorted(fired)}"
    other = CATALOG.other_profiles.get(profile, {})
    if "deprecation" in other:
        observed = [deprecation["observed"] for deprecation in bimplus(result)["deprecations"]]
        assert any(text.startswith(other["deprecation"]) for text in observed), observed
    if other.get("outage"):
        assert bimplus(result)["status"] == "unreachable", result.output
    assert proving or other, f"{profile} proves nothing (contracts/bimplus/checks.yaml)"
    unexpected = [violation for violation in violations if violation["check_id"] == f"bimplus.{UNEXPECTED}"]
    assert not unexpected, unexpected


def assert_clean(result: RunResult) -> None:
    assert result.code == 0, result.output
    assert bimplus(result)["status"] == "ok" and bimplus(result)["violations"] == []


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
    return run_bimplus(folder / "run", "--targets", str(targets), "--target", "loopback", *args)


def test_loopback_documented_is_clean_within_budget_and_live_safe(tmp_path):
    """Over HTTP: clean and within the request budget; as a live target (no simulator powers) also at most three
    failed logins."""
    with serve_simulator("bimplus", log_dir=tmp_path) as served:
        simulated = run_against(served.base_url, tmp_path / "simulated")
        assert_clean(simulated)
        assert 0 < bimplus(simulated)["requests"] <= BUDGET
        httpx.post(f"{served.base_url}/__authcanary__/reset")
        live = run_against(served.base_url, tmp_path / "live", simulator=False)
        assert_clean(live)
        assert 0 < bimplus(live)["requests"] <= BUDGET and bimplus(live)["checks"]["skipped"] > 0
        failed_logins = httpx.get(f"{served.base_url}/__authcanary__/failed-logins").json()
        assert 0 < sum(failed_logins.values()) <= 3, failed_logins


@pytest.mark.slow
@pytest.mark.parametrize("profile", DEVIATIONS)
def test_loopback_profile_is_caught(tmp_path, profile):
    with serve_simulator("bimplus", profile, log_dir=tmp_path) as served:
        assert_caught(run_against(served.base_url, tmp_path, "--max-examples", MAX_EXAMPLES), profile)


# -- in-process (results of the runs started with the module) ----------------------------------------------------


@pytest.mark.parametrize("run", ["documented"])
def test_documented_profile_is_clean_and_reports_the_ambiguities(runs, run):
    result = runs[run].result()
    assert_clean(result)
    wheres = " | ".join(ambiguity["where"] for ambiguity in bimplus(result)["ambiguities"])
    for fragment in VENDORS_MD_AMBIGUITIES:
        assert fragment in wheres
    assert {d["endpoint"] for d in bimplus(result)["deprecations"]} >= {"POST /v2/authorize", "GET /v2/authorize"}
    assert any(note.startswith("stateful token lifecycle:") for note in bimplus(result)["notes"])


@pytest.mark.slow
@pytest.mark.parametrize("run", [EXAMPLE_READING])
def test_a_contradicting_documented_lifetime_is_noted_not_violated(runs, run):
    result = runs[run].result()
    assert_clean(result)
    assert any("the examples' 2591999 s" in note for note in bimplus(result)["notes"]), bimplus(result)["notes"]


@pytest.mark.parametrize("run", PROFILE_PARAMS)
def test_embedded_profile_is_caught(runs, run):
    assert_caught(runs[run].result(), run)

"""`authcanary run --vendor bimplus` catches every deviation profile of the Bimplus simulator (exit 1 and a
violation of every check whose declaration lists it, by check id and with the declared severity:
contracts/bimplus/checks.yaml) and passes the documented profile (exit 0, the documentation's ambiguities
reported), in-process and over loopback HTTP. The declarations themselves are checked too: every check names a
deviation that proves it, every deviation proves a check, every named deviation exists, and the suites call only
declared checks.

The in-process runs the selected tests need all start with the module, two at a time, and overlap with the
loopback test. By default: the documented profile and the profiles issue 4 names in-process, and
the documented profile over loopback HTTP (also as a live target); the rest is `slow`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from authcanary.catalog import UNEXPECTED, Catalog, load_catalog
from authcanary.contracts import load_contract
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
#: the check ids the suites name literally (constants and schemas are named by the engine from the contract)
CHECK_ID_LITERAL = re.compile(r"""["'](bimplus\.[a-z0-9_]+\.[a-z0-9_]+)["']""")
SUITE_SOURCES = [
    *sorted((ROOT / "suites" / "bimplus").glob("*.py")),
    *sorted((ROOT / "strategies").glob("bimplus*.py")),
]
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


# -- the declarations (contracts/bimplus/checks.yaml) ------------------------------------------------------------
def test_every_declared_check_has_a_profile():
    """A check no deviation makes fire is not known to be able to fail."""
    assert [spec.id for spec in CATALOG.checks.values() if not spec.profiles] == []


def test_every_deviation_proves_a_check():
    """Each deviation of the simulator is listed by a check it makes fire, or proven otherwise (other_profiles)."""
    proven = {profile for spec in CATALOG.checks.values() for profile in spec.profiles} | set(CATALOG.other_profiles)
    assert [deviation for deviation in DEVIATIONS if deviation not in proven] == []


def test_profiles_name_known_deviations():
    named = {profile: spec.id for spec in CATALOG.checks.values() for profile in spec.profiles}
    named.update({profile: "other_profiles" for profile in CATALOG.other_profiles})
    assert {profile: where for profile, where in named.items() if profile not in DEVIATIONS} == {}


def test_declarations_are_complete_and_unique():
    """The YAML has no duplicate ids (yaml keeps the last silently), and each check says where it comes from."""
    text = (CONTRACTS / "bimplus" / "checks.yaml").read_text(encoding="utf-8")
    ids = re.findall(r"^  (bimplus\.[a-z0-9_.]+):", text, flags=re.MULTILINE)
    assert len(ids) == len(set(ids)) == len(CATALOG.checks)
    assert set(yaml.safe_load(text)) <= {"checks", "other_profiles", "public_sources"}
    for spec in CATALOG.checks.values():
        assert spec.id.startswith("bimplus.") and spec.title and spec.source
        assert "VENDORS.md §2" in spec.source or "seed 001" in spec.source or "RFC" in spec.source, spec.id


def test_suites_name_only_declared_checks_and_every_declared_check_is_named():
    """The ids the Bimplus suites and strategies name, plus the ones the engine names from the contract
    (`<vendor>.constant.<field>`, `<vendor>.schema.<schema>`), are exactly the declared ones."""
    sources = "\n".join(path.read_text("utf-8") for path in SUITE_SOURCES)
    literal = set(CHECK_ID_LITERAL.findall(sources))
    contract = load_contract(CONTRACTS, "bimplus")
    constants = {
        f"bimplus.constant.{path.removeprefix('$.').lower()}"
        for endpoint in contract.semantics["endpoints"].values()
        for fields in endpoint.get("constants", {}).values()
        for path in fields
    }
    schemas = {
        f"bimplus.schema.{name.lower()}"
        for part in (contract, *contract.parts())  # the legacy API and the OIDC provider (contracts/bimplus/oidc/)
        for name in part.openapi["components"]["schemas"]
        if f'"{name}"' in sources
    }  # the suites check a body against a schema they name
    assert literal - set(CATALOG.checks) == set(), "named but not declared"
    assert set(CATALOG.checks) - literal - constants - schemas == set(), "declared but named nowhere"


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

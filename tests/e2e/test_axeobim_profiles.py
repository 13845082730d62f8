"""`authcanary run --vendor axeobim` catches every deviation profile of the AxeoBIM simulator (a violation of every
check whose declaration lists it, by check id and with the declared severity: contracts/axeobim/checks.yaml; exit 1,
or 0 when the profile proves only `info` checks) and passes the documented profile (exit 0, no violation, the
documentation's ambiguities and the deprecated error field `message` reported, no drift when run twice), in-process
and over loopback HTTP. `no-message-field` (the announced removal of `message`) is a deprecation finding, never a
violation. The declarations themselves (every check names a deviation, every deviation proves a check, the suites name only declared checks) are checked for every vendor in tests/unit/test_check_declarations.py.

The in-process runs the selected tests need all start with the module, two at a time, and overlap with the loopback
tests. By default: the documented profile (twice, for drift) and the deviations of REQUIRED in-process, the
documented profile over loopback HTTP (as a simulator, and as a live target under the live API prefix); the rest is
`slow`.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from authcanary.catalog import UNEXPECTED, Catalog, load_catalog
from authcanary.contracts import load_contract
from authcanary.findings import FAILING_SEVERITIES
from authcanary.simulators.axeobim import AxeobimSimulator
from conftest import RunResult, files_containing, run_authcanary, serve_simulator

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
CATALOG: Catalog = load_catalog(CONTRACTS, "axeobim")
DEVIATIONS = list(AxeobimSimulator.deviations)
DEFAULTS = AxeobimSimulator.default_settings()
SECRETS = [DEFAULTS["client_secret"]]
RAW_JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
MAX_EXAMPLES = "2"
#: a live run over loopback sends at most this many requests to the vendor (issue 11)
LIVE_REQUESTS = 150
#: the live API base's path (https://app.axxone.fr/system_aplus/api): the loopback live run is served under it
LIVE_PREFIX = "/system_aplus/api"
#: the deviations run in-process in the default test run: the two refusals (400 versus 401) confused each way, an
#: expired step-1 token and one signed by another key accepted, and the announced removal of `message`
REQUIRED = {
    "bearer-errors-400",
    "request-errors-401",
    "expired-token-accepted",
    "signature-not-verified",
    "no-message-field",
}
#: seed 000's contradictions and silences (semantics.yaml `ambiguities`), as `where` fragments
AMBIGUITIES = ["wrong consumer key", "400 or 401", "no Cerqual user", "state", "message", "refresh_token"]
ENDPOINTS = {"POST /oauth/authenticate", "POST /cerqual/authenticate_user"}
PROFILE_PARAMS = [pytest.param(name, marks=() if name in REQUIRED else pytest.mark.slow) for name in DEVIATIONS]
TWICE = "documented-twice"  # the documented profile again, against the first run's recordings as its baseline


def axeobim(result: RunResult) -> dict[str, Any]:
    assert result.summary is not None, result.output
    return result.summary["vendors"]["axeobim"]


def write_targets(path: Path, name: str, section: dict[str, Any], embedded: bool = False) -> Path:
    """A targets file with one axeobim section (TOML written by hand: values are strings, ints, bools)."""
    lines = [
        *([f"[targets.{name}]", "embedded = true"] if embedded else []),
        f"[targets.{name}.axeobim]",
        *(
            f"{key} = {str(value).lower() if isinstance(value, bool) else json.dumps(value)}"
            for key, value in section.items()
        ),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_axeobim(out: Path, *args: str) -> RunResult:
    """`authcanary run --vendor axeobim ARGS` on the embedded target of a targets file of its own (only this vendor's
    simulator is built); no run ever writes the configured secret or a raw token."""
    targets = write_targets(out.parent / f"{out.name}-targets.toml", "sim", {}, embedded=True)
    result = run_authcanary(["run", "--targets", str(targets), "--target", "sim", "--vendor", "axeobim", *args], out)
    assert_nothing_leaked(out)
    return result


def run_against(base_url: str, folder: Path, *args: str, simulator: bool = True) -> RunResult:
    section = {"base_url": base_url, "simulator": simulator, **DEFAULTS, "rate_limit_per_minute": 60000}
    targets = write_targets(folder / "targets.toml", "loopback", section)
    out = folder / "run"
    result = run_authcanary(
        ["run", "--targets", str(targets), "--target", "loopback", "--vendor", "axeobim", *args], out
    )
    assert_nothing_leaked(out)
    return result


def settled_count(served) -> int:
    """The server's access-log count once it stops growing (a line is written just after its response is sent)."""
    count, deadline = served.requests_logged(), time.monotonic() + 2.0
    while time.monotonic() < deadline:
        time.sleep(0.1)
        latest = served.requests_logged()
        if latest == count:
            break
        count = latest
    return count


def assert_nothing_leaked(out: Path) -> None:
    assert files_containing(out, SECRETS) == {}
    tokens = [str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and RAW_JWT.search(p.read_bytes())]
    assert tokens == [], f"raw JWTs written to: {tokens}"


def _first_then_twice(folder: Path) -> tuple[RunResult, RunResult]:
    """The documented profile, its recordings accepted as a baseline (outside the project), then run again."""
    first = run_axeobim(folder / "first", "--max-examples", MAX_EXAMPLES)
    baseline = folder / "baseline"
    accepted = run_authcanary(["baseline", "accept", str(folder / "first"), "--baseline", str(baseline)])
    assert accepted.code == 0, accepted.output
    return first, run_axeobim(folder / "again", "--max-examples", MAX_EXAMPLES, "--baseline", str(baseline))


@pytest.fixture(scope="module", autouse=True)
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future]]:
    """Every in-process run the selected tests of this module ask for (`run` parameter), started with the module
    two at a time: the loopback tests (first in the file) overlap with them."""
    folder = tmp_path_factory.mktemp("axeobim-runs")
    wanted = {
        item.callspec.params["run"]
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        and hasattr(item, "callspec")
        and "run" in item.callspec.params
    }
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 2)) as pool:
        futures = {}
        for label in sorted(wanted):
            if label == TWICE:
                futures[label] = pool.submit(_first_then_twice, folder / label)
            else:
                profile = [] if label == "documented" else ["--profile", label]
                futures[label] = pool.submit(run_axeobim, folder / label, "--max-examples", MAX_EXAMPLES, *profile)
        yield futures


def assert_caught(result: RunResult, profile: str) -> None:
    """Every check declaring `profile` fired, with its declared severity (matched by check id); a deviation proven
    otherwise (`other_profiles`) shows as declared, and fails nothing."""
    entry = axeobim(result)
    violations = entry["violations"]
    fired = {(violation["check_id"], violation["severity"]) for violation in violations}
    proving = CATALOG.proving(profile)
    failing = any(spec.severity in FAILING_SEVERITIES for spec in proving)
    assert result.code == (1 if failing else 0), result.output
    missing = [spec.id for spec in proving if (spec.id, spec.severity) not in fired]
    assert not missing, f"{profile} did not fire {missing} (with the declared severity); fired: {sorted(fired)}"
    for violation in violations:
        assert violation["check_id"] in CATALOG.checks, violation
        assert violation["endpoint"] in ENDPOINTS, violation
        assert violation["expected"] and violation["observed"], violation
    if proving:
        proved = {spec.id for spec in proving}
        assert any("curl" in violation["repro"] for violation in violations if violation["check_id"] in proved)
    other = CATALOG.other_profiles.get(profile, {})
    if "deprecation" in other:
        assert result.code == 0 and violations == [] and entry["status"] == "ok", result.output
        observed = {d["endpoint"]: d["observed"] for d in entry["deprecations"]}
        assert set(observed) == ENDPOINTS and all(text.startswith(other["deprecation"]) for text in observed.values())
    assert proving or other, f"{profile} proves nothing (contracts/axeobim/checks.yaml)"
    unexpected = [violation for violation in violations if violation["check_id"] == f"axeobim.{UNEXPECTED}"]
    assert not unexpected, unexpected


def assert_clean(result: RunResult) -> None:
    assert result.code == 0, result.output
    entry = axeobim(result)
    assert entry["status"] == "ok" and entry["violations"] == [], entry["violations"]
    assert entry["checks"]["failed"] == 0 and entry["checks"]["passed"] > 0


def assert_message_still_sent(entry: dict[str, Any]) -> None:
    """The deprecated field `message` is reported per endpoint: still sent, error_description its replacement."""
    deprecations = {d["endpoint"]: d for d in entry["deprecations"]}
    assert set(deprecations) == ENDPOINTS, entry["deprecations"]
    for deprecation in deprecations.values():
        assert deprecation["observed"] == "error field `message` still sent (old name of error_description)"
        assert deprecation["replacement"] == "error_description" and deprecation["replacement_ok"] is True
        assert "backward-compatibility" in deprecation["announced_removal"]


# -- over loopback HTTP ------------------------------------------------------------------------------------------
def test_loopback_documented_is_clean_and_live_safe(tmp_path):
    """Over HTTP: clean; as a live target under the live API prefix (no simulator powers): clean too, the simulator
    checks skipped, at most LIVE_REQUESTS requests, every one of them reaching the server."""
    with serve_simulator("axeobim", log_dir=tmp_path) as served:
        simulated = run_against(served.base_url, tmp_path / "simulated")
        assert_clean(simulated)
        assert_message_still_sent(axeobim(simulated))
    with serve_simulator("axeobim", prefix=LIVE_PREFIX, log_dir=tmp_path) as served:
        live = run_against(served.base_url, tmp_path / "live", simulator=False)
        assert_clean(live)
        entry = axeobim(live)
        assert_message_still_sent(entry)
        assert entry["checks"]["skipped"] > 0, "the expired-token scenario needs the virtual clock"
        assert 0 < entry["requests"] <= LIVE_REQUESTS, entry["requests"]
        assert settled_count(served) == entry["requests"], "every request counted reached the server, and no other"
        info = httpx.get(f"{served.base_url}/__authcanary__/info").json()
        assert info["vendor"] == "axeobim" and abs(info["now"] - time.time()) < 60, "a live run never time-travels"


@pytest.mark.slow
@pytest.mark.parametrize("profile", DEVIATIONS)
def test_loopback_profile_is_caught(tmp_path, profile):
    with serve_simulator("axeobim", profile, log_dir=tmp_path) as served:
        assert_caught(run_against(served.base_url, tmp_path, "--max-examples", MAX_EXAMPLES), profile)


# -- the declarations (contracts/axeobim/checks.yaml) ------------------------------------------------------------
def test_the_deprecated_field_is_declared_for_the_drift_engine():
    """`message` is kept "for backward compatibility": its disappearance is an announced removal (semantics.yaml
    `deprecated_fields`), on both endpoints, in favour of error_description."""
    fields = load_contract(CONTRACTS, "axeobim").semantics["deprecated_fields"]
    assert set(fields) == {"$.message"}
    assert set(fields["$.message"]["endpoints"]) == ENDPOINTS
    assert fields["$.message"]["replacement"] == "$.error_description"
    assert "still present for backward-compatibility" in fields["$.message"]["announced_removal"]


# -- in-process (results of the runs started with the module) ----------------------------------------------------
@pytest.mark.parametrize("run", ["documented"])
def test_documented_profile_is_clean_and_reports_the_ambiguities_and_the_deprecated_field(runs, run):
    result = runs[run].result()
    assert_clean(result)
    entry = axeobim(result)
    wheres = " | ".join(ambiguity["where"] for ambiguity in entry["ambiguities"])
    for fragment in AMBIGUITIES:
        assert fragment in wheres
    assert_message_still_sent(entry)
    assert any(note.startswith("stateful two-step token lifecycle:") for note in entry["notes"])
    assert entry["simulator_profile"] == "documented" and entry["recordings"]
    assert result.summary["vendors"]["autodesk"]["status"] == "skipped"


@pytest.mark.parametrize("run", [TWICE])
def test_documented_profile_twice_has_no_drift(runs, run):
    first, again = runs[run].result()
    assert_clean(first)
    assert_clean(again)
    entry = axeobim(again)
    assert entry["drift_checked"] is True and entry["drift"] == [], entry["drift"]


@pytest.mark.parametrize("run", PROFILE_PARAMS)
def test_embedded_profile_is_caught(runs, run):
    assert_caught(runs[run].result(), run)

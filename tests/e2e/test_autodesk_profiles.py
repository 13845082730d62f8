"""Every check can fail: `authcanary run` against each Autodesk simulator profile, in-process (embedded target,
`--profile P`) and over loopback HTTP (`authcanary serve --profile P` plus a targets file pointing at it).

What each profile must give is what contracts/autodesk/checks.yaml declares (`load_catalog`):
- documented: exit 0, no violation, the v1 deprecation observed as "served (200)";
- a deviation in a check's `profiles`: that check fires (matched on its `check_id`) with its declared severity; a
  deviation that proves a breaking or warning check exits 1, one that proves only info checks exits 0, status ok
  (info never fails a run);
- `other_profiles` {deprecation: P}: exit 0, the deprecation finding's `observed` starts with P (v1-removed: the v1
  checks skipped); {outage: true} (server-error): exit 3, unreachable after a 5xx storm, never a violation;
- every run: requests counted, no secret and no raw token in any file of the run folder, nothing outside --out;
- the declarations themselves (every check has a profile, every deviation proves something, every profile named is
  a deviation of the simulator) are checked for every vendor in tests/unit/test_check_declarations.py.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from authcanary.catalog import load_catalog
from authcanary.findings import VendorFindings, Violation
from authcanary.pytest.expectations import VIOLATIONS as RECORDED
from authcanary.pytest.expectations import ContractViolation, Expect
from authcanary.simulators.autodesk import AutodeskSimulator
from authcanary.summary import exit_code, vendor_entry
from conftest import (
    FAST_EXAMPLES,
    ROOT,
    RunResult,
    files_containing,
    listing,
    run_authcanary,
    serve_simulator,
    write_loop_targets,
)

V1 = "POST /authentication/v1/authenticate"
V2 = "POST /authentication/v2/token"
DEFAULTS = AutodeskSimulator.default_settings()
SECRETS = [DEFAULTS["client_secret"], DEFAULTS["forbidden_client_secret"]]
RAW_JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")

CATALOG = load_catalog(ROOT / "contracts", "autodesk")
DEVIATIONS = set(AutodeskSimulator.deviations)
#: deviations some declared check names in its `profiles`: each must make those checks fire
PROVING = sorted({profile for spec in CATALOG.checks.values() for profile in spec.profiles})
#: ... whose checks are all of severity `info`: reported, but compliant (exit 0, status ok)
INFO_ONLY = [profile for profile in PROVING if {spec.severity for spec in CATALOG.proving(profile)} == {"info"}]
#: ... the others: a violation fails the run (exit 1)
VIOLATIONS = [profile for profile in PROVING if profile not in INFO_ONLY]
#: deviations that change only the deprecation state: compliant (exit 0), reported under deprecations
DEPRECATION_ONLY: dict[str, str] = {
    profile: how["deprecation"] for profile, how in CATALOG.other_profiles.items() if "deprecation" in how
}
OUTAGES = {profile for profile, how in CATALOG.other_profiles.items() if how.get("outage")}
#: loopback runs in the default (not slow) selection: the documented profile at the root and under a prefix, and
#: one deviation; the others are `-m slow`
FAST_LOOPBACK = {("loopback", "documented"), ("loopback-prefix", "documented"), ("loopback", "lowercase-token-type")}
MODES = ("inprocess", "loopback")
#: the deviations added so that every named check has one (issue 9): run in-process by `-m slow` (CI), so the
#: default test run keeps its length; the profiles before them run in-process in every default run
SLOW_INPROCESS = {
    "401-instead-of-400",
    "401-instead-of-403",
    "502-instead-of-500",
    "form-encoded-token",
    "json-string-errors",
    "rate-limit-lockout",
    "rate-limit-off-by-one",
    "token-stub",
    "unknown-client-404",
    "v2-body-credentials-extra-field",
}


@dataclass
class ProfileRun:
    mode: str
    profile: str
    result: RunResult
    out: Path
    outside_before: dict[str, set[str]]
    outside_after: dict[str, set[str]]
    served_requests: int | None = None

    @property
    def autodesk(self) -> dict[str, Any]:
        assert self.result.summary is not None, f"no summary.json ({self.mode} {self.profile}):\n{self.result.output}"
        return self.result.summary["vendors"]["autodesk"]

    def describe(self) -> str:
        violations = "\n".join(
            f"  - [{v['severity']}] {v['check']}: {v['observed'][:120]}"
            for v in (self.result.summary or {}).get("vendors", {}).get("autodesk", {}).get("violations", [])
        )
        return (
            f"{self.mode} run of profile {self.profile}: exit {self.result.code}\n{violations}\n"
            f"--- output (tail) ---\n{self.result.output[-3000:]}"
        )


def _outside() -> dict[str, set[str]]:
    """What a run must never touch: the repo's reports/ and baseline cassettes/, no schemathesis folder at the root.
    (`.hypothesis/` is shared with any test run in the checkout: see test_cli's isolated-checkout test.)"""
    return {
        name: listing(ROOT / name) | ({name} if (ROOT / name).exists() else set())
        for name in ("reports", "cassettes", ".schemathesis")
    }


def _run(mode: str, profile: str, base: Path) -> ProfileRun:
    folder = base / f"{mode}-{profile}"
    folder.mkdir(parents=True)
    out = folder / "run"
    before = _outside()
    if mode == "inprocess":
        result = run_authcanary(
            ["run", "--vendor", "autodesk", "--profile", profile, "--max-examples", FAST_EXAMPLES], out
        )
        return ProfileRun(mode, profile, result, out, before, _outside())
    prefix = "/aps" if mode == "loopback-prefix" else ""
    with serve_simulator("autodesk", profile, prefix, log_dir=folder) as served:
        targets = write_loop_targets(folder / "targets.toml", served.base_url)
        result = run_authcanary(
            [
                "run",
                "--targets",
                str(targets),
                "--target",
                "loop",
                "--vendor",
                "autodesk",
                "--max-examples",
                FAST_EXAMPLES,
            ],
            out,
        )
        served_requests = _settled_count(served)
    return ProfileRun(mode, profile, result, out, before, _outside(), served_requests)


def _settled_count(served) -> int:
    """The server's access-log count once it stops growing (a line is written just after its response is sent)."""
    count, deadline = served.requests_logged(), time.monotonic() + 2.0
    while time.monotonic() < deadline:
        time.sleep(0.1)
        latest = served.requests_logged()
        if latest == count:
            break
        count = latest
    return count


class RunPool:
    """Runs `authcanary run` for (mode, profile) pairs, two at a time (this is a 2-core machine), once each."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.executor = ThreadPoolExecutor(max_workers=2)
        self.futures: dict[tuple[str, str], Future] = {}

    def submit(self, mode: str, profile: str) -> None:
        if (mode, profile) not in self.futures:
            self.futures[(mode, profile)] = self.executor.submit(_run, mode, profile, self.base)

    def get(self, mode: str, profile: str) -> ProfileRun:
        self.submit(mode, profile)
        return self.futures[(mode, profile)].result()


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    pool = RunPool(tmp_path_factory.mktemp("profiles"))
    # Start every run the selected tests of this module need, so they overlap.
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if item.module is request.module and callspec and {"mode", "profile"} <= set(callspec.params):
            pool.submit(callspec.params["mode"], callspec.params["profile"])
    yield pool
    pool.executor.shutdown(wait=True, cancel_futures=True)


def modes(profiles, *, extra: tuple[str, ...] = ()) -> list:
    params = []
    for profile in profiles:
        for mode in (*MODES, *extra):
            fast = (mode == "inprocess" and profile not in SLOW_INPROCESS) or (mode, profile) in FAST_LOOPBACK
            marks = [] if fast else [pytest.mark.slow]
            params.append(pytest.param(mode, profile, id=f"{mode}-{profile}", marks=marks))
    return params


ALL_PROFILES = ["documented", *sorted(AutodeskSimulator.deviations)]


# -- the declarations are complete ---------------------------------------------------------------------------
def test_the_catalog_declares_checks_and_profiles():
    assert CATALOG.checks and PROVING and VIOLATIONS and INFO_ONLY and DEPRECATION_ONLY and OUTAGES


# -- documented: compliant -------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, profile", modes(["documented"], extra=("loopback-prefix",)))
def test_documented_profile_is_compliant(runs, mode, profile):
    run = runs.get(mode, profile)
    autodesk = run.autodesk
    assert run.result.code == 0, run.describe()
    assert run.result.summary["exit_code"] == 0
    assert autodesk["status"] == "ok", run.describe()
    assert autodesk["violations"] == [], run.describe()
    assert autodesk["checks"]["failed"] == 0 and autodesk["checks"]["passed"] > 0
    assert autodesk["requests"] > 0
    [deprecation] = autodesk["deprecations"]
    assert deprecation["endpoint"] == V1
    assert deprecation["observed"] == "served (200)"
    assert deprecation["announced_removal"] == "2024-04-30"
    assert deprecation["replacement"] == V2 and deprecation["replacement_ok"] is True
    assert autodesk["ambiguities"], "the documentation's own contradictions are reported"
    assert run.result.summary["vendors"]["bimplus"]["status"] == "skipped"


# -- each deviation: a violation of the check it breaks --------------------------------------------------------
@pytest.mark.parametrize("mode, profile", modes(VIOLATIONS))
def test_deviation_is_reported_as_a_violation(runs, mode, profile):
    run = runs.get(mode, profile)
    autodesk = run.autodesk
    assert run.result.code == 1, run.describe()
    assert run.result.summary["exit_code"] == 1
    assert autodesk["status"] == "violations"
    for violation in autodesk["violations"]:
        assert violation["severity"] in {"breaking", "warning", "info"}
        assert violation["check"] and violation["expected"] and violation["observed"], violation
        assert violation["check_id"] in CATALOG.checks, f"undeclared check in a violation: {violation}"
    assert (
        len({t for v in autodesk["violations"] for t in v["tests"]})
        <= autodesk["checks"]["failed"] + autodesk["checks"]["passed"]
    )
    for spec in CATALOG.proving(profile):
        matching = [v for v in autodesk["violations"] if v["check_id"] == spec.id]
        assert matching, f"{profile} must make {spec.id} fire\n{run.describe()}"
        assert any(v["severity"] == spec.severity for v in matching), (
            f"{spec.id}: not {spec.severity}\n{run.describe()}"
        )
        assert all(v["check"].startswith(spec.title) for v in matching), matching
        assert all(v["tests"] and all(t.startswith("suites/autodesk/test_") for t in v["tests"]) for v in matching)
        with_repro = [v for v in matching if v["repro"]]
        assert with_repro, f"{spec.id}: a violation of a request/response check comes with a curl reproduction"
        repro = with_repro[0]["repro"]
        assert "curl" in repro
        if mode == "inprocess":
            assert repro.startswith(f"# authcanary serve --vendor autodesk --profile {profile}\n"), repro
            assert "http://127.0.0.1:8700" in repro
        else:
            assert re.search(r"http://127\.0\.0\.1:\d+/authentication/v[12]/", repro), repro
    assert autodesk["requests"] > 0


# -- info-only deviations: reported with severity info, and compliant ------------------------------------------
@pytest.mark.parametrize("mode, profile", modes(INFO_ONLY))
def test_info_violation_is_reported_but_does_not_fail_the_run(runs, mode, profile):
    run = runs.get(mode, profile)
    autodesk = run.autodesk
    assert run.result.code == 0, run.describe()
    assert run.result.summary["exit_code"] == 0
    assert autodesk["status"] == "ok", run.describe()
    assert autodesk["checks"]["failed"] == 0 and autodesk["checks"]["passed"] > 0, run.describe()
    assert autodesk["violations"], f"the info finding is listed\n{run.describe()}"
    assert {v["severity"] for v in autodesk["violations"]} == {"info"}, run.describe()
    for spec in CATALOG.proving(profile):
        matching = [v for v in autodesk["violations"] if v["check_id"] == spec.id]
        assert matching, f"{profile} must make {spec.id} fire\n{run.describe()}"
        assert all(v["expected"] and v["observed"] and "curl" in v["repro"] for v in matching), matching
    if profile == "longer-expiry":
        assert any(
            "7199" in v["observed"] and "1799" in v["expected"]
            for v in autodesk["violations"]
            if v["check_id"] == "autodesk.token.expires_in_example"
        ), run.describe()
    junit = (run.out / "junit.xml").read_text(encoding="utf-8")
    assert "<failure" not in junit and "<error" not in junit, "an info finding fails no test"


@pytest.mark.parametrize(
    "mode, profile", [pytest.param("inprocess", "longer-expiry,lowercase-token-type", id="inprocess-info-and-breaking")]
)
def test_info_and_breaking_violations_together_fail_the_run(runs, mode, profile):
    run = runs.get(mode, profile)
    autodesk = run.autodesk
    assert run.result.code == 1 and run.result.summary["exit_code"] == 1, run.describe()
    assert autodesk["status"] == "violations"
    severities = {v["severity"] for v in autodesk["violations"]}
    assert {"info", "breaking"} <= severities, run.describe()
    fired = {(v["check_id"], v["severity"]) for v in autodesk["violations"]}
    for deviation in profile.split(","):
        for spec in CATALOG.proving(deviation):
            assert (spec.id, spec.severity) in fired, run.describe()


# -- the severity policy itself (summary.py, plugin.py Expect), without a run ----------------------------------
def _violation(severity: str, check: str = "c", observed: str = "o") -> Violation:
    return Violation(check=check, endpoint=V2, expected="e", observed=observed, severity=severity)


def _entry(*severities: str, failed: int = 0) -> dict[str, Any]:
    findings = VendorFindings(checks={"passed": 3, "failed": failed, "skipped": 0}, requests=3)
    for index, severity in enumerate(severities):
        findings.add_violation(_violation(severity, check=f"check {index}"))
    return vendor_entry(findings.as_dict(), [], [])


@pytest.mark.parametrize(
    "severities, status, code",
    [
        ((), "ok", 0),
        (("info",), "ok", 0),
        (("info", "info"), "ok", 0),
        (("warning",), "violations", 1),
        (("breaking",), "violations", 1),
        (("info", "breaking"), "violations", 1),
    ],
)
def test_only_breaking_and_warning_violations_fail_a_vendor(severities, status, code):
    entry = _entry(*severities)
    assert entry["status"] == status
    assert [v["severity"] for v in entry["violations"]] == list(severities), "every violation is listed"
    assert exit_code({"autodesk": entry}) == code


def test_a_failed_check_fails_the_vendor_even_with_only_info_violations():
    assert _entry("info", failed=1)["status"] == "violations"


def test_violation_severity_is_checked():
    assert [_violation(s).fails for s in ("breaking", "warning", "info")] == [True, True, False]
    with pytest.raises(ValueError, match="severity"):
        _violation("Breaking")


class _Canary:
    """The parts of CanarySession that Expect uses."""

    def base_url(self, vendor: str) -> str:
        return "http://autodesk.sim"

    def base_path(self, vendor: str) -> str:
        return ""

    def vendor_target(self, vendor: str) -> Any:
        return type("VendorTarget", (), {"embedded": False})()

    def redact(self, vendor: str, text: str) -> str:
        return text

    lost = 0  # interactions lost to outages so far

    def lost_count(self, vendor: str) -> int:
        return self.lost

    def catalog(self, vendor: str):
        return CATALOG


@pytest.mark.filterwarnings("ignore:Using `reject` outside a property-based test")
def test_an_example_that_lost_an_interaction_to_an_outage_is_rejected_not_a_violation():
    from hypothesis.errors import UnsatisfiedAssumption

    item = type("Item", (), {"stash": pytest.Stash()})()
    canary = _Canary()
    expect = Expect(canary, "autodesk", item)  # type: ignore[arg-type]
    with pytest.raises(UnsatisfiedAssumption):
        with expect.example():
            canary.lost += 1  # the transport marked this example's answer lost (a 503 after its retries)
            expect.that(False, "autodesk.token.valid_credentials_200", endpoint=V2, observed="503")
    assert item.stash[RECORDED] == []
    with pytest.raises(UnsatisfiedAssumption):
        with expect.example():  # also when the outage made the check raise
            canary.lost += 1
            raise KeyError("access_token")
    with pytest.raises(ContractViolation):
        with expect.example():  # an example that lost nothing is judged as usual
            expect.that(False, "autodesk.constant.token_type", endpoint=V2, observed="bearer")


def test_expect_example_keeps_info_violations_and_fails_only_on_failing_ones():
    item = type("Item", (), {"stash": pytest.Stash()})()
    expect = Expect(_Canary(), "autodesk", item)  # type: ignore[arg-type]
    lifetime, token_type = "autodesk.token.expires_in_example", "autodesk.constant.token_type"
    assert CATALOG.check(lifetime).severity == "info" and CATALOG.check(token_type).severity == "breaking"
    with expect.example():  # an example with an info finding passes, and the finding stays
        expect.that(False, lifetime, endpoint=V2, observed="7199")
    with expect.example():  # the same info finding in the next example is not listed again
        expect.that(False, lifetime, endpoint=V2, observed="7198")
    with pytest.raises(ContractViolation) as info:
        with expect.example():  # a breaking one fails the example; its message lists only the failing ones
            expect.that(False, token_type, endpoint=V2, observed="bearer")
            # a severity set per value (the contract's `on_mismatch`) overrides the declared one
            expect.that(False, "autodesk.token.cache_headers", endpoint=V2, observed="x", severity="info")
    assert token_type in str(info.value) and lifetime not in str(info.value)
    assert "autodesk.token.cache_headers" not in str(info.value)
    with expect.example():  # the next example replaces the breaking one (hypothesis keeps the minimal one last)
        pass
    assert [(v.check_id, v.severity, v.observed) for v in item.stash[RECORDED]] == [
        (lifetime, "info", "7199"),
        ("autodesk.token.cache_headers", "info", "x"),
    ]
    assert item.stash[RECORDED][0].check == CATALOG.check(lifetime).title


def test_expect_refuses_an_undeclared_check_even_when_it_holds():
    from authcanary.catalog import UndeclaredCheck

    expect = Expect(_Canary(), "autodesk", type("Item", (), {"stash": pytest.Stash()})())  # type: ignore[arg-type]
    with pytest.raises(UndeclaredCheck, match="checks.yaml"):
        expect.that(True, "autodesk.token.not_declared", endpoint=V2)


# -- deprecation-only deviations: compliant, and the deprecation says what changed -----------------------------
@pytest.mark.parametrize("mode, profile", modes(sorted(DEPRECATION_ONLY)))
def test_deprecation_only_profile_is_compliant(runs, mode, profile):
    run = runs.get(mode, profile)
    assert run.result.code == 0, run.describe()
    assert run.autodesk["status"] == "ok", run.describe()
    assert run.autodesk["violations"] == [], run.describe()
    assert run.autodesk["checks"]["failed"] == 0, run.describe()


@pytest.mark.parametrize("mode, profile", modes(["v1-removed"]))
def test_v1_removal_skips_the_v1_checks_instead_of_failing_them(runs, mode, profile):
    """Scenario, migration and property checks of v1 are skipped once v1 answers 410; v2's still run and pass."""
    run = runs.get(mode, profile)
    autodesk = run.autodesk
    assert autodesk["checks"]["skipped"] > 0 and autodesk["checks"]["passed"] > 0, run.describe()
    junit = (run.out / "junit.xml").read_text(encoding="utf-8")
    skipped = re.findall(
        r'<testcase [^>]*name="([^"]+)"[^>]*>\s*<skipped[^>]*message="v1 answers 410: removed '
        r'\(reported under deprecations\)"',
        junit,
    )
    assert any(name.startswith("test_contract_conformance") for name in skipped), skipped
    assert any(name.startswith("test_v1_happy_path") for name in skipped), skipped
    assert not any(name.startswith("test_hostile_requests") for name in skipped), "hostile requests go to v2"


@pytest.mark.parametrize("mode, profile", modes(sorted(DEPRECATION_ONLY)))
def test_deprecation_finding_says_what_changed(runs, mode, profile):
    run = runs.get(mode, profile)
    [deprecation] = run.autodesk["deprecations"]
    assert deprecation["endpoint"] == V1 and deprecation["announced_removal"] == "2024-04-30"
    assert deprecation["observed"].startswith(DEPRECATION_ONLY[profile]), deprecation
    assert deprecation["replacement"] == V2 and deprecation["replacement_ok"] is True


# -- server-error: an outage, never a violation ----------------------------------------------------------------
@pytest.mark.parametrize("mode, profile", modes(sorted(OUTAGES)))
def test_server_error_storm_is_unreachable_not_violations(runs, mode, profile):
    run = runs.get(mode, profile)
    autodesk = run.autodesk
    assert run.result.code == 3, run.describe()
    assert run.result.summary["exit_code"] == 3
    assert autodesk["status"] == "unreachable"
    assert autodesk["violations"] == [] and autodesk["checks"]["failed"] == 0, run.describe()
    assert "5xx" in autodesk["error"]
    assert 0 < autodesk["requests"] <= 10, "the harness stops sending once the vendor is down"


# -- every run: requests counted, nothing secret written, nothing written outside --out ------------------------
@pytest.mark.parametrize("mode, profile", modes(ALL_PROFILES))
def test_requests_are_counted(runs, mode, profile):
    run = runs.get(mode, profile)
    assert run.autodesk["requests"] > 0
    assert run.result.summary["vendors"]["bimplus"]["requests"] == 0
    if run.served_requests is not None:
        # every request the harness counted reached the server's access log, and nothing else did
        assert run.served_requests == run.autodesk["requests"], run.describe()


@pytest.mark.parametrize("mode, profile", modes(ALL_PROFILES))
def test_no_secret_or_token_in_the_run_folder(runs, mode, profile):
    run = runs.get(mode, profile)
    assert (run.out / "summary.json").is_file()
    leaks = files_containing(run.out, SECRETS)
    assert not leaks, f"secret values written to: {sorted(leaks)}"
    tokens = [
        str(path.relative_to(run.out))
        for path in run.out.rglob("*")
        if path.is_file() and RAW_JWT.search(path.read_bytes())
    ]
    assert not tokens, f"raw JWTs written to: {tokens}"


@pytest.mark.parametrize("mode, profile", modes(ALL_PROFILES))
def test_run_folder_contents_and_nothing_outside(runs, mode, profile):
    run = runs.get(mode, profile)
    names = {path.name for path in run.out.iterdir()}
    assert {"summary.json", "junit.xml", "allure-results", "report.html", "report.md"} <= names, names
    assert "findings.json" not in names, "the plugin's findings are folded into summary.json"
    assert run.outside_after == run.outside_before, "the run wrote outside its --out folder"
    cases = re.findall(r'<testcase classname="([^"]*)" name="([^"]*)"', (run.out / "junit.xml").read_text())
    assert len(cases) == len(set(cases)), "two tests share a name in junit.xml: CI would merge them"
    checks = run.result.summary["vendors"]["autodesk"]["checks"]
    assert len(cases) == sum(checks.values())
    if run.autodesk["status"] != "unreachable":  # embedded or served: baseline accept needs to know the profile
        assert run.autodesk["simulator_profile"] == profile

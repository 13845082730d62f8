"""The pytest plugin (entry point `authcanary`): binds suites to a target and collects what they find.

Options: `--target NAME` (default `sim`), `--targets FILE`, `--vendor V` (repeatable), `--sim-profile P`,
`--max-examples N`, `--authcanary-out DIR` (where `findings.json` and cassettes go).
Markers: one per vendor (added automatically to tests under `suites/<vendor>/`) and `scenario`
(deterministic request sequences, recorded as cassettes).
Fixtures for suites: `client`, `target`, `sim`, `expect`, `report`, `contract`, `max_examples`, and from
`authcanary.checks.fixtures`: `sim_or_none`, `clock`, `login_probes`.
"""
from __future__ import annotations

import gc
import json
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from authcanary.catalog import UNEXPECTED, Catalog, load_catalog
from authcanary.contracts import Contract, load_contract
from authcanary.credentials import reveal
from authcanary.errors import ConfigError, TargetUnreachable
from authcanary.findings import VendorFindings, Violation, outage_counts
from authcanary.http import (BudgetExhausted, ControlTransport, GuardedTransport, InProcessTransport,
                             LostInteraction, RetryPolicy, VendorStats, bind_client)
from authcanary.recording.cassette import RecordingTransport, ReplayTransport, UnmatchedRequestError
from authcanary.recording.scrub import Scrubber
from authcanary.redact import mask_secrets, redact_text
from authcanary.registry import VENDORS
from authcanary.repro import curl_command
from authcanary.simulators.framework import CONTROL_PREFIX, Simulator
from authcanary.targets import Target, VendorTarget, load_target

pytest_plugins = ["authcanary.checks.fixtures"]

SESSION = pytest.StashKey["CanarySession"]()
VIOLATIONS = pytest.StashKey[list]()
#: how many of its vendor's lost interactions (VendorStats.lost) had happened when the test started
LOST_AT_START = pytest.StashKey[int]()
#: ... and up to where `Expect.example` already handled them (an example lost to an outage is not a violation)
LOST_HANDLED = pytest.StashKey[int]()
#: where `authcanary serve --vendor V` listens by default: curl repros of the embedded target point there
SERVE_DEFAULT_URL = "http://127.0.0.1:8700"
_current_session: "CanarySession | None" = None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("authcanary", "authcanary: run suites against a target")
    group.addoption("--target", default="sim", help="target name in the targets file (default: sim)")
    group.addoption("--targets", default="targets.toml", help="targets file (default: ./targets.toml)")
    group.addoption("--vendor", action="append", default=[], help="only this vendor (repeatable)")
    group.addoption("--sim-profile", default=None,
                    help="embedded target only: simulator profile for every vendor (documented or a deviation)")
    group.addoption("--max-examples", type=int, default=None, help="hypothesis examples per property test")
    group.addoption("--authcanary-out", default=None, help="run folder: findings.json and cassettes/ go here")
    group.addoption("--replay", default=None, metavar="BASELINE",
                    help="offline: answer scenario requests from BASELINE/<vendor>/*.yaml; nothing is sent")


def pytest_configure(config: pytest.Config) -> None:
    for name, spec in VENDORS.items():
        config.addinivalue_line("markers", f"{name}: checks of {spec.title}")
    config.addinivalue_line("markers", "scenario: a deterministic request sequence, recorded as a cassette")
    global _current_session
    config.stash[SESSION] = _current_session = CanarySession(config)
    _current_session.register_hypothesis_profiles()


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    canary = config.stash[SESSION]
    wanted = set(config.getoption("--vendor"))
    kept, deselected = [], []
    for item in items:
        _name_the_node_like_the_item(item)
        vendor = _vendor_of_path(Path(item.path), config.rootpath)
        if vendor and not item.get_closest_marker(vendor):
            item.add_marker(getattr(pytest.mark, vendor))
        vendor = vendor or next((name for name in VENDORS if item.get_closest_marker(name)), None)
        if vendor is None:
            kept.append(item)
            continue
        if wanted and vendor not in wanted:
            deselected.append(item)
            continue
        item.stash[VENDOR] = vendor
        canary.vendors_seen.add(vendor)
        kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


VENDOR = pytest.StashKey[str]()


def _name_the_node_like_the_item(item: pytest.Item) -> None:
    """schemathesis 4 under pytest 9 gives every operation of a test the test's bare node id (the item's name has the
    operation), so junit.xml, reports and xdist would merge the operations into one test: give the id the name."""
    parent_id, _, own_id = item.nodeid.rpartition("::")
    if own_id == item.name:
        return
    node_id = f"{parent_id}::{item.name}"
    if hasattr(item, "_id"):  # pytest 9: a structured NodeId (there is no public setter)
        item._id = type(item._id).parse(node_id)
    else:
        item._nodeid = node_id


def _vendor_of_path(path: Path, root: Path) -> str | None:
    try:
        parts = path.resolve().relative_to(root.resolve()).parts
    except ValueError:
        return None
    return parts[1] if len(parts) > 2 and parts[0] == "suites" and parts[1] in VENDORS else None


def pytest_runtest_setup(item: pytest.Item) -> None:
    vendor = item.stash.get(VENDOR, None)
    if vendor is None:
        return
    canary = item.config.stash[SESSION]
    target = canary.target
    if vendor not in target.vendors:
        pytest.skip(f"{vendor} is not configured for target '{target.name}'")
    if canary.stats[vendor].unreachable:
        pytest.skip(f"{vendor} unreachable: {canary.stats[vendor].unreachable}")
    item.stash[LOST_AT_START] = item.stash[LOST_HANDLED] = len(canary.stats[vendor].lost)


class LostToOutage(Exception):
    """A check whose failure came from interactions lost to an outage: it did not run, it did not fail."""

    def __init__(self, lost: list[LostInteraction]) -> None:
        self.lost = lost
        super().__init__("lost to an outage: " + "; ".join(f"{i.endpoint} answered {i.reason}" for i in lost[:3])
                         + (f" (and {len(lost) - 3} more)" if len(lost) > 3 else ""))


class ContractViolation(AssertionError):
    """Raised at the end of a check that recorded failing (`breaking` or `warning`) violations through `expect`;
    `info` violations are recorded in the findings but fail nothing."""

    @classmethod
    def of(cls, violations: list[Violation]) -> "ContractViolation":
        lines = "\n".join(f"- [{v.check_id}] {v.check}: expected {v.expected}; observed {v.observed}"
                          for v in violations)
        return cls(f"{len(violations)} contract violation(s):\n{lines}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        result = yield
    except Exception:
        _record_violations_unless_lost(item, failed=True)
        raise
    _record_violations_unless_lost(item, failed=False)
    failing = [violation for violation in item.stash.get(VIOLATIONS, []) if violation.fails]
    if failing:
        raise ContractViolation.of(failing)
    return result


def _record_violations_unless_lost(item: pytest.Item, failed: bool) -> None:
    """Hand the test's violations to the findings, unless the test failed and an interaction it relied on was lost
    to an outage (`LostToOutage`: the check did not run). Examples (`Expect.example`) answer for their own."""
    vendor = item.stash.get(VENDOR, None)
    if vendor is None:
        return
    canary = item.config.stash[SESSION]
    lost = canary.stats[vendor].lost[item.stash.get(LOST_HANDLED, 0):]
    if lost and (failed or any(violation.fails for violation in item.stash.get(VIOLATIONS, []))):
        raise LostToOutage(lost)
    for violation in item.stash.get(VIOLATIONS, []):
        canary.findings[vendor].add_violation(violation, item.nodeid)
        _label(item, violation.check_id)


def _label(item: pytest.Item, check_id: str) -> None:
    """The check id on the test in junit.xml (a property) and allure-results (a label)."""
    if ("check_id", check_id) in item.user_properties:
        return
    item.user_properties.append(("check_id", check_id))
    try:
        import allure
    except ImportError:  # allure-pytest is a dependency, but plain pytest runs need not load it
        return
    allure.dynamic.label("check_id", check_id)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    report = _classified_report(item, call, (yield))
    vendor = item.stash.get(VENDOR, None)
    if vendor is not None and item.get_closest_marker("scenario") is not None:
        canary = item.config.stash[SESSION]
        scenario = f"{vendor}/{canary.cassette_path(Path(), vendor, item).stem}"
        lost = len(canary.stats[vendor].lost) - item.stash.get(LOST_AT_START, 0) if report.when == "call" else 0
        if lost:
            # the recorder left the lost interactions out: their steps were not observed, which is not drift
            canary.findings[vendor].add_note(f"{scenario}: {lost} interaction(s) lost to outages were not recorded; "
                                             "drift skips them")
        if report.skipped or lost:
            canary.findings[vendor].unobserved.append(scenario)
    return report


def _classified_report(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> pytest.TestReport:
    """Outages, spent budgets and stale recordings become skips; unrecorded failures become violations."""
    vendor = item.stash.get(VENDOR, None)
    if vendor is None or report.passed or report.skipped:
        return report
    canary = item.config.stash[SESSION]
    outage = canary.stats[vendor].unreachable
    if call.excinfo and call.excinfo.errisinstance(UnmatchedRequestError):
        # The scenario asks for more than the baseline recorded: the recording is stale, not the vendor wrong.
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {call.excinfo.value}")
        canary.findings[vendor].add_note(f"stale baseline recording for {item.name}: re-record and accept it")
        return report
    if outage or (call.excinfo and call.excinfo.errisinstance((TargetUnreachable, BudgetExhausted, LostToOutage))):
        # An outage or a spent budget is not a behaviour of the vendor: the check did not run.
        reason = f"{vendor} unreachable: {outage}" if outage else str(call.excinfo.value)
        if not outage and not call.excinfo.errisinstance(LostToOutage):
            canary.findings[vendor].add_note(reason)
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {reason}")
        return report
    if report.when == "call" and not any(violation.fails for violation in item.stash.get(VIOLATIONS, [])):
        # A failure no check recorded (an unexpected exception, a plain assert): still a finding, never lost.
        message = canary.redact(vendor, _first_line(call.excinfo.exconly() if call.excinfo else report.longreprtext))
        spec = canary.catalog(vendor).check(f"{vendor}.{UNEXPECTED}")
        canary.findings[vendor].add_violation(Violation(check=f"{spec.title}: {item.name}", endpoint="",
                                                        expected="the check passes", observed=message,
                                                        check_id=spec.id), item.nodeid)
    return report


def _first_line(text: str, limit: int = 400) -> str:
    line = next((line for line in text.strip().splitlines() if line.strip()), "")
    return line if len(line) <= limit else line[:limit] + "…"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    canary = _current_session
    if canary is None or report.nodeid not in canary.item_vendor:
        return
    checks = canary.findings[canary.item_vendor[report.nodeid]].checks
    if report.when == "call" or (report.when == "setup" and not report.passed):
        checks["passed" if report.passed else "skipped" if report.skipped else "failed"] += 1




def pytest_collection_finish(session: pytest.Session) -> None:
    # Everything alive now (modules, the contract, strategies, collected items) lives as long as the session: keep
    # it out of the cyclic GC, which otherwise re-scans it at every full collection hypothesis' garbage triggers.
    gc.freeze()
    canary = session.config.stash[SESSION]
    canary.item_vendor = {item.nodeid: item.stash[VENDOR] for item in session.items if VENDOR in item.stash}


def current_session() -> "CanarySession":
    """The session of the running pytest (suites use it at import time, e.g. for hypothesis settings)."""
    if _current_session is None:
        raise RuntimeError("authcanary plugin is not active")
    return _current_session


def pytest_sessionfinish(session: pytest.Session) -> None:
    global _current_session
    canary = session.config.stash.get(SESSION, None)
    if canary is not None:
        canary.finish()
    _current_session = None


class CanarySession:
    """Per pytest session: the resolved target, one transport per vendor, and the findings so far."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.root = Path(config.rootpath)
        self.out = Path(config.getoption("--authcanary-out")) if config.getoption("--authcanary-out") else None
        self.replay = Path(config.getoption("--replay")) if config.getoption("--replay") else None
        self.vendors_seen: set[str] = set()
        self.item_vendor: dict[str, str] = {}
        self.findings: dict[str, VendorFindings] = {name: VendorFindings() for name in VENDORS}
        self.stats: dict[str, VendorStats] = {name: VendorStats() for name in VENDORS}
        self._target: Target | None = None
        self._simulators: dict[str, Simulator] = {}
        self._inner: dict[str, httpx.BaseTransport] = {}
        self._closers: list[Any] = []

    @property
    def target(self) -> Target:
        if self._target is None:
            path = Path(self.config.getoption("--targets"))
            try:
                self._target = load_target(path if path.is_absolute() else Path.cwd() / path,
                                           self.config.getoption("--target"))
            except ConfigError as exc:
                raise pytest.UsageError(str(exc)) from None
        return self._target

    def vendor_target(self, vendor: str) -> VendorTarget:
        return self.target.vendors[vendor]

    def contract(self, vendor: str) -> Contract:
        return load_contract(self.root / "contracts", vendor)

    def catalog(self, vendor: str) -> Catalog:
        """The vendor's declared checks (contracts/<vendor>/checks.yaml)."""
        try:
            return load_catalog(self.root / "contracts", vendor)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None

    def secrets(self, vendor: str) -> dict[str, str]:
        """Secret value -> the shell variable a repro uses in its place."""
        vendor_target = self.vendor_target(vendor)
        spec = VENDORS[vendor]
        names = {}
        for key in spec.secret_keys:
            value = reveal(vendor_target.settings.get(key))
            if value:
                names[value] = vendor_target.secret_env.get(value, f"{vendor}_{key}".upper())
        return names

    def cassette_path(self, root: Path, vendor: str, item: pytest.Item) -> Path:
        """`<root>/<vendor>/<module>.<test name>.yaml`, a stable file name for a test id."""
        name = f"{Path(item.path).stem}.{item.name}"
        return root / vendor / (re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_") + ".yaml")

    def redact(self, vendor: str, text: str) -> str:
        """`text` without secret values or tokens, for findings, reports and logs."""
        return redact_text(text, self.secrets(vendor) if vendor in self.target.vendors else {})

    def simulator(self, vendor: str) -> Simulator:
        """The in-process simulator of the embedded target (one per session, reset before each test)."""
        if vendor not in self._simulators:
            vendor_target = self.vendor_target(vendor)
            profile = self.config.getoption("--sim-profile") or vendor_target.profile
            try:
                self._simulators[vendor] = VENDORS[vendor].simulator_class()(
                    profile=profile, options=vendor_target.settings.get("options"),
                    settings={key: reveal(value) for key, value in vendor_target.settings.items()})
            except ValueError as exc:
                raise pytest.UsageError(str(exc)) from None
        return self._simulators[vendor]

    def base_url(self, vendor: str) -> str:
        vendor_target = self.vendor_target(vendor)
        return vendor_target.base_url or f"http://{vendor}.sim"

    def base_path(self, vendor: str) -> str:
        """The path part of the vendor's base URL (`/aps` of `https://host/aps`), left out of recordings."""
        return httpx.URL(self.base_url(vendor)).path.rstrip("/")

    def inner_transport(self, vendor: str) -> httpx.BaseTransport:
        """The raw transport to the vendor: in-process ASGI for the embedded target, real HTTP otherwise."""
        if vendor not in self._inner:
            vendor_target = self.vendor_target(vendor)
            if vendor_target.embedded:
                transport = InProcessTransport(self.simulator(vendor).app())
                self._closers.append(transport.shutdown)
                self._inner[vendor] = transport
            else:
                self._inner[vendor] = httpx.HTTPTransport(retries=0)
        return self._inner[vendor]

    def client(self, vendor: str, inner: httpx.BaseTransport | None = None,
               record: Callable[[httpx.BaseTransport], httpx.BaseTransport] | None = None) -> httpx.Client:
        """A suite's client: guarded (counted, budgeted, paced, transient failures retried) around `inner` (default:
        the vendor's wire); `record` wraps the guard, so a recording holds each interaction's final answer."""
        vendor_target = self.vendor_target(vendor)
        settings = vendor_target.settings
        live = not vendor_target.embedded and self.replay is None
        shared_staging = live and not vendor_target.simulated
        transport: httpx.BaseTransport = GuardedTransport(
            inner or self.inner_transport(vendor), vendor, self.stats[vendor],
            budget=settings.get("request_budget") if shared_staging else None,
            min_interval=60.0 / settings["rate_limit_per_minute"] if shared_staging else 0.0,
            retry=self.retry_policy(vendor), base_path=self.base_path(vendor))
        if record is not None:
            transport = record(transport)
        return bind_client(transport, self.base_url(vendor), timeout=settings.get("timeout", 15.0))

    def retry_policy(self, vendor: str) -> RetryPolicy:
        """The target's transient-failure policy; a simulator's faults do not depend on time, so a 5xx without
        Retry-After is retried at once there."""
        vendor_target = self.vendor_target(vendor)
        settings = vendor_target.settings
        return RetryPolicy(retries=settings.get("retries", RetryPolicy.retries),
                           budget=settings.get("retry_budget", RetryPolicy.budget),
                           backoff=0.0 if vendor_target.simulated else RetryPolicy.backoff)

    def control(self, vendor: str) -> "SimulatorControl":
        """The simulator control plane, in-process or over HTTP alike; not counted as vendor requests, but an outage
        there (a `simulator = true` base_url nobody answers) is the vendor's outage: status unreachable, exit 3."""
        transport = ControlTransport(self.inner_transport(vendor), vendor, self.stats[vendor])
        return SimulatorControl(bind_client(transport, self.base_url(vendor),
                                            timeout=self.vendor_target(vendor).settings.get("timeout", 15.0)))

    def max_examples(self, vendor: str) -> int:
        if vendor not in self.target.vendors:
            return 1  # the vendor's tests are skipped anyway
        return self.config.getoption("--max-examples") or self.vendor_target(vendor).settings["max_examples"]

    def _simulator_profile(self, vendor: str) -> str | None:
        """The profile of the vendor's simulator (embedded, or `authcanary serve` as its control plane says); None
        for a real vendor or a simulator that does not answer."""
        vendor_target = self.vendor_target(vendor)
        if vendor_target.embedded:
            return self.simulator(vendor).profile
        if not vendor_target.simulated or self.stats[vendor].unreachable:
            return None
        try:
            return self.control(vendor).info().get("profile")
        except (TargetUnreachable, httpx.HTTPError, ValueError, AttributeError):
            return None

    def _too_many_lost(self, vendor: str) -> str | None:
        """Why the vendor counts as unreachable when it lost more interactions to outages than its threshold."""
        stats, threshold = self.stats[vendor], self.vendor_target(vendor).settings.get("outage_threshold", 0.05)
        lost = len(stats.lost)
        if lost >= 3 and lost > threshold * stats.interactions:
            return (f"{lost} of {stats.interactions} interactions lost to outages (more than the threshold of "
                    f"{threshold:.0%}); the checks that relied on them did not run")
        return None

    def lost_count(self, vendor: str) -> int:
        return len(self.stats[vendor].lost)

    def register_hypothesis_profiles(self) -> None:
        """One hypothesis profile per vendor, `authcanary.<vendor>` (what `hypothesis_settings` gives suites at
        import time, before any test runs). A targets file that does not load registers 1-example profiles: the
        first vendor test reports the configuration error."""
        import hypothesis

        for vendor in VENDORS:
            try:
                settings = self.hypothesis_settings(vendor)
            except pytest.UsageError:
                settings = hypothesis.settings(max_examples=1)
            hypothesis.settings.register_profile(f"authcanary.{vendor}", settings)

    def hypothesis_settings(self, vendor: str) -> "hypothesis.settings":
        """Deterministic hypothesis settings sized for the target (far fewer examples on live vendors)."""
        import hypothesis

        return hypothesis.settings(
            max_examples=self.max_examples(vendor), derandomize=True, database=None, deadline=None,
            print_blob=False,  # hypothesis turns it on under CI: a run must be the same everywhere
            report_multiple_bugs=False, phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate,
                                                hypothesis.Phase.shrink],
            suppress_health_check=list(hypothesis.HealthCheck))

    def finish(self) -> None:
        if self.out is not None and self._target is not None and self.replay is None:
            for vendor in sorted(self.vendors_seen & set(self.target.vendors)):
                self.findings[vendor].simulator_profile = self._simulator_profile(vendor)
        for close in self._closers:
            close()
        if self.out is None or self._target is None:
            return
        vendors: dict[str, Any] = {}
        for vendor in sorted(self.vendors_seen):
            findings = self.findings[vendor]
            if vendor in self.target.vendors:
                stats = self.stats[vendor]
                findings.requests = stats.requests
                findings.retries = stats.retries
                findings.outages = outage_counts(stats.lost)
                findings.unreachable = stats.unreachable or self._too_many_lost(vendor)
                findings.ambiguities = self.contract(vendor).ambiguities()
            vendors[vendor] = findings.as_dict()
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "findings.json").write_text(json.dumps({"vendors": vendors}, indent=2), encoding="utf-8")


def hypothesis_settings(vendor: str) -> "hypothesis.settings":
    """The vendor's hypothesis settings for this run (examples sized for the target, deterministic, no database):
    decorate property tests with them, `@hypothesis_settings("autodesk")`."""
    import hypothesis

    try:
        return hypothesis.settings.get_profile(f"authcanary.{vendor}")
    except hypothesis.errors.InvalidArgument:
        raise RuntimeError("authcanary's pytest plugin is not active (run the suites with it: `authcanary run` or "
                           "`pytest suites`)") from None


class SimulatorControl:
    """Drives a simulator's `/__authcanary__/` control plane (clock, faults, reset)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.client.post(f"{CONTROL_PREFIX}/{path}", json=body or {})
        if response.status_code != 200:
            raise RuntimeError(f"simulator control {path} failed: {response.status_code} {response.text[:200]}")
        return response.json()

    def info(self) -> dict[str, Any]:
        response = self.client.get(f"{CONTROL_PREFIX}/info")
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._post("reset")

    def advance(self, seconds: float) -> float:
        """Move the virtual clock forward; returns the new virtual time."""
        return self._post("clock", {"advance": seconds})["now"]

    def fault(self, status: int, count: int = 1) -> None:
        self._post("fault", {"status": status, "count": count})


class Expect:
    """Soft assertions that record contract violations (with a curl repro) and fail the test at its end.

    Severity policy (README): `breaking` and `warning` violations fail the check and the run; `info` ones are recorded
    in summary.json (severity info) and fail nothing."""

    def __init__(self, canary: CanarySession, vendor: str, item: pytest.Item) -> None:
        self.canary, self.vendor, self.item = canary, vendor, item
        self.last_example_lost = False
        self.base_url = canary.base_url(vendor)
        # an in-process request has no real host: its repro points at `authcanary serve`; a live one is sent as is
        self.repro_origin = SERVE_DEFAULT_URL if canary.vendor_target(vendor).embedded else None

    def that(self, ok: bool, check: str, *, response: httpx.Response | None = None, endpoint: str = "",
             expected: str = "", observed: str = "", severity: str | None = None, detail: str = "") -> bool:
        """Record a violation of the declared check `check` (an id, `contracts/<vendor>/checks.yaml`) unless `ok`;
        returns `ok` so callers can stop early. `detail` says which case of the check this was (a parameter, a
        hostile request's kind); `severity` overrides the declared one where the contract sets it per value."""
        spec = self.canary.catalog(self.vendor).check(check)  # an undeclared id fails even when the check holds
        if ok:
            return True
        repro = ""
        if response is not None:
            endpoint = endpoint or self.endpoint(response.request)
            repro = curl_command(response.request, self.canary.secrets(self.vendor), self.repro_origin)
            if self.canary.vendor_target(self.vendor).embedded:
                profile = self.canary.simulator(self.vendor).profile
                repro = f"# authcanary serve --vendor {self.vendor} --profile {profile}\n{repro}"
        title = f"{spec.title} ({detail})" if detail else spec.title
        violation = Violation(check=self.canary.redact(self.vendor, title), endpoint=endpoint,
                              expected=self.canary.redact(self.vendor, expected),
                              observed=self.canary.redact(self.vendor, observed), severity=severity or spec.severity,
                              repro=self.canary.redact(self.vendor, repro), check_id=spec.id)
        self.item.stash.setdefault(VIOLATIONS, []).append(violation)
        return False

    @contextmanager
    def example(self, *, reject_lost: bool = True) -> Iterator[None]:
        """One hypothesis example: its failing violations replace the previous example's and fail the example.

        Hypothesis replays the minimal failing example last, so what remains is the minimal reproduction. `info`
        violations fail no example; they stay recorded, the first one of each check only (not one per example).
        An example that lost an interaction to an outage is rejected (`hypothesis.reject`): neither a violation nor
        a flaky failure. `reject_lost=False` (a step of a state machine, whose later draws must not change): its
        violations are forgotten and the error it raised swallowed instead, and `last_example_lost` says so."""
        informational = [violation for violation in self.item.stash.get(VIOLATIONS, []) if not violation.fails]
        self.item.stash[VIOLATIONS] = violations = list(informational)
        lost_before = self.canary.lost_count(self.vendor)
        self.last_example_lost = False
        try:
            yield
        except Exception:
            if not self._forget_if_lost(lost_before, violations, len(informational), reject_lost):
                raise
            return
        if self._forget_if_lost(lost_before, violations, len(informational), reject_lost):
            return
        seen = {violation.identity for violation in informational}
        new = violations[len(informational):]
        violations[len(informational):] = [violation for violation in new
                                           if violation.fails or violation.identity not in seen]
        failing = [violation for violation in new if violation.fails]
        if failing:
            raise ContractViolation.of(failing)

    def lost(self) -> list[LostInteraction]:
        """The interactions with this vendor lost to outages so far in the run."""
        return self.canary.stats[self.vendor].lost

    def _forget_if_lost(self, lost_before: int, violations: list[Violation], keep: int, reject: bool) -> bool:
        lost_now = self.canary.lost_count(self.vendor)
        self.item.stash[LOST_HANDLED] = lost_now  # what the test lost so far is this example's business, or none's
        if lost_now == lost_before:
            return False
        del violations[keep:]
        self.last_example_lost = True
        if reject:
            import hypothesis

            hypothesis.reject()
        return True

    @contextmanager
    def discarded(self) -> Iterator[None]:
        """Run a check whose outcome does not count (a state machine step after one lost to an outage, when the
        model of the vendor's state is no longer known): its violations are forgotten, its errors swallowed."""
        violations = self.item.stash.setdefault(VIOLATIONS, [])
        keep = len(violations)
        try:
            yield
        except Exception:
            pass
        finally:
            del violations[keep:]
            self.item.stash[LOST_HANDLED] = self.canary.lost_count(self.vendor)

    def echoed_secrets(self, response: httpx.Response) -> list[str]:
        """The variable names of the configured secrets (8+ characters: shorter ones match by chance) the response
        body quotes, in any encoding."""
        secrets = {value: name for value, name in self.canary.secrets(self.vendor).items() if len(value) >= 8}
        masked = mask_secrets(response.text, secrets)
        return sorted(name for name in set(secrets.values()) if "${" + name + "}" in masked)

    def excerpt(self, response: httpx.Response, limit: int = 200) -> str:
        """The start of the body for a violation's `observed`, secrets masked in the whole body first (a cut made
        before masking would leave half a secret that no longer looks like one): the target's as `${VAR}`, and any
        other credential or token the body quotes (an echoed request) as its placeholder."""
        masked = self.canary.redact(self.vendor, response.text)
        return Scrubber().scrub_body_text(masked, response.headers.get("content-type", ""))[:limit]

    def status(self, response: httpx.Response, expected: int | set[int], check: str, detail: str = "") -> bool:
        allowed = {expected} if isinstance(expected, int) else set(expected)
        return self.that(response.status_code in allowed, check, response=response, detail=detail,
                         expected=f"status {' or '.join(map(str, sorted(allowed)))}",
                         observed=f"status {response.status_code}: {self.excerpt(response, 300)}")

    def json_object(self, response: httpx.Response, check: str, detail: str = "") -> dict[str, Any] | None:
        """The body as a JSON object, or None after recording a violation."""
        try:
            body = response.json()
        except ValueError:
            body = None
        ok = isinstance(body, dict)
        self.that(ok, check, response=response, detail=detail, expected="a JSON object body",
                  observed=f"{response.headers.get('content-type', 'no content-type')}: {self.excerpt(response)!r}")
        return body if ok else None

    def endpoint(self, request: httpx.Request) -> str:
        prefix = httpx.URL(self.base_url).path.rstrip("/")
        path = request.url.path
        return f"{request.method} {path[len(prefix):] if prefix and path.startswith(prefix) else path}"


# -- fixtures -------------------------------------------------------------------------------------------------
@pytest.fixture
def vendor(request: pytest.FixtureRequest) -> str:
    """The vendor of the test (from its marker or its `suites/<vendor>/` folder)."""
    name = request.node.stash.get(VENDOR, None)
    if name is None:
        raise pytest.UsageError(f"{request.node.nodeid}: not a vendor suite (mark it or put it in suites/<vendor>/)")
    return name


@pytest.fixture
def canary(request: pytest.FixtureRequest) -> CanarySession:
    return request.config.stash[SESSION]


@pytest.fixture
def target(canary: CanarySession, vendor: str) -> VendorTarget:
    return canary.vendor_target(vendor)


class ReplayedControl(SimulatorControl):
    """Replay mode: the recorded answers already carry the effect of every clock jump and fault."""

    def __init__(self) -> None:
        pass

    def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"now": 0.0}

    def info(self) -> dict[str, Any]:
        return {"replay": True}


@pytest.fixture
def sim(canary: CanarySession, vendor: str, target: VendorTarget) -> SimulatorControl:
    """Simulator control (time travel, faults); tests that need it are skipped on live targets."""
    if canary.replay is not None:
        return ReplayedControl()
    if not target.simulated:
        pytest.skip("needs a simulator (time travel or fault injection): not done against a live vendor")
    return canary.control(vendor)


@pytest.fixture
def client(request: pytest.FixtureRequest, canary: CanarySession, vendor: str, target: VendorTarget
           ) -> Iterator[httpx.Client]:
    """An httpx client bound to the vendor; the simulator (if any) starts each test fresh.

    Scenario tests are recorded (scrubbed before anything is written) into the run folder's cassettes/;
    with `--replay BASELINE` they are answered from the baseline cassettes and nothing is sent."""
    scenario = request.node.get_closest_marker("scenario") is not None
    if canary.replay is not None:
        if not scenario:
            pytest.skip("replay mode runs only the recorded scenarios")
        cassette = canary.cassette_path(canary.replay, vendor, request.node)
        if not cassette.exists():
            pytest.skip(f"no baseline recording {cassette}")
        with canary.client(vendor, inner=ReplayTransport(cassette, canary.base_path(vendor))) as http:
            yield http
        return
    if target.simulated:
        canary.control(vendor).reset()
    if not (scenario and canary.out):
        with canary.client(vendor) as http:
            yield http
        return
    recorders: list[RecordingTransport] = []

    def record(guarded: httpx.BaseTransport) -> RecordingTransport:
        recorders.append(RecordingTransport(guarded, canary.cassette_path(canary.out / "cassettes", vendor,
                                                                          request.node),
                                            Scrubber(canary.secrets(vendor)), canary.base_path(vendor)))
        return recorders[-1]

    try:
        with canary.client(vendor, record=record) as http:
            yield http
    finally:
        for recorder in recorders:
            recorder.save()


@pytest.fixture
def expect(request: pytest.FixtureRequest, canary: CanarySession, vendor: str) -> Expect:
    return Expect(canary, vendor, request.node)


@pytest.fixture
def report(canary: CanarySession, vendor: str) -> VendorFindings:
    """Where suites put deprecations and notes (violations go through `expect`)."""
    return canary.findings[vendor]


@pytest.fixture
def contract(canary: CanarySession, vendor: str) -> Contract:
    return canary.contract(vendor)


@pytest.fixture
def max_examples(canary: CanarySession, vendor: str) -> int:
    return canary.max_examples(vendor)


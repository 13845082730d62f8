"""The pytest session of a run (`CanarySession`), registered as a plugin object as pytest's junitxml registers its
`LogXML`: the resolved target, one guarded transport per vendor, the findings so far, and the hooks that bind suites
to them. No module state: everything lives on the session, reachable from a test through `config.stash[SESSION]`."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from hypothesis.errors import Flaky

from authcanary.catalog import UNEXPECTED, Catalog, load_catalog
from authcanary.contracts import Contract, load_contract
from authcanary.credentials import reveal
from authcanary.errors import ConfigError, TargetUnreachable
from authcanary.files import write_atomically
from authcanary.findings import VendorFindings, Violation, outage_counts
from authcanary.http import (
    BudgetExhausted,
    ControlTransport,
    GuardedTransport,
    InProcessTransport,
    LostInteraction,
    RetryPolicy,
    VendorStats,
    bind_client,
)
from authcanary.pytest.control import SimulatorControl
from authcanary.pytest.expectations import LOST_AT_START, LOST_HANDLED, VIOLATIONS, ContractViolation, LostToOutage
from authcanary.pytest.workers import findings_file, is_controller, worker_id
from authcanary.recording.cassette import UnmatchedRequestError, scenario_name
from authcanary.redact import redact_text
from authcanary.registry import VENDORS
from authcanary.simulators.framework import Simulator
from authcanary.simulators.profiles import split_profile
from authcanary.targets import Target, VendorTarget, load_target

if TYPE_CHECKING:
    import hypothesis

SESSION = pytest.StashKey["CanarySession"]()
#: the vendor's crash count (VendorStats.crashes) when the test started
CRASHES_AT_START = pytest.StashKey[int]()
#: the vendor a collected test checks
VENDOR = pytest.StashKey[str]()


class CanarySession:
    """Per pytest session: the resolved target, one transport per vendor, and the findings so far."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.root = Path(config.rootpath)
        self.out = Path(config.getoption("--authcanary-out")) if config.getoption("--authcanary-out") else None
        self.replay = Path(config.getoption("--replay")) if config.getoption("--replay") else None
        self.vendors_seen: set[str] = set()
        #: the vendors whose tests this process ran (on an xdist worker: the vendors it was given)
        self.vendors_run: set[str] = set()
        self.item_vendor: dict[str, str] = {}
        self.findings: dict[str, VendorFindings] = {name: VendorFindings() for name in VENDORS}
        self.stats: dict[str, VendorStats] = {name: VendorStats() for name in VENDORS}
        self._target: Target | None = None
        self._simulators: dict[str, Simulator] = {}
        self._catalogs: dict[str, Catalog] = {}
        self._inner: dict[str, httpx.BaseTransport] = {}
        self._closers: list[Any] = []

    @property
    def target(self) -> Target:
        if self._target is None:
            path = Path(self.config.getoption("--targets"))
            try:
                self._target = load_target(
                    path if path.is_absolute() else Path.cwd() / path, self.config.getoption("--target")
                )
            except ConfigError as exc:
                raise pytest.UsageError(str(exc)) from None
        return self._target

    def vendor_target(self, vendor: str) -> VendorTarget:
        return self.target.vendors[vendor]

    def contract(self, vendor: str) -> Contract:
        return load_contract(self.root / "contracts", vendor)

    def catalog(self, vendor: str) -> Catalog:
        """The vendor's declared checks (contracts/<vendor>/checks.yaml); read once per run (every check asks)."""
        if vendor not in self._catalogs:
            try:
                self._catalogs[vendor] = load_catalog(self.root / "contracts", vendor)
            except ConfigError as exc:
                raise pytest.UsageError(str(exc)) from None
        return self._catalogs[vendor]

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
        return root / vendor / (scenario_name(Path(item.path).stem, item.name) + ".yaml")

    def redact(self, vendor: str, text: str) -> str:
        """`text` without secret values or tokens, for findings, reports and logs."""
        return redact_text(text, self.secrets(vendor) if vendor in self.target.vendors else {})

    def simulator(self, vendor: str) -> Simulator:
        """The in-process simulator of the embedded target (one per session, reset before each test)."""
        if vendor not in self._simulators:
            vendor_target = self.vendor_target(vendor)
            wanted = self.config.getoption("--sim-profile")
            # a profile of several vendors' deviations: this vendor's simulator takes the ones it defines
            try:
                profile = (
                    split_profile(wanted, sorted(self.target.vendors))[vendor] if wanted else vendor_target.profile
                )
            except ConfigError as exc:
                raise pytest.UsageError(str(exc)) from None
            try:
                self._simulators[vendor] = VENDORS[vendor].simulator_class()(
                    profile=profile,
                    options=vendor_target.settings.get("options"),
                    settings={key: reveal(value) for key, value in vendor_target.settings.items()},
                )
            except ValueError as exc:
                raise pytest.UsageError(str(exc)) from None
        return self._simulators[vendor]

    def base_url(self, vendor: str) -> str:
        vendor_target = self.vendor_target(vendor)
        return vendor_target.base_url or f"http://{vendor}.sim"

    def base_path(self, vendor: str) -> str:
        """The path part of the vendor's base URL (`/api` of `https://host/api`), left out of recordings."""
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

    def client(
        self,
        vendor: str,
        inner: httpx.BaseTransport | None = None,
        record: Callable[[httpx.BaseTransport], httpx.BaseTransport] | None = None,
    ) -> httpx.Client:
        """A suite's client: guarded (counted, budgeted, paced, transient failures retried) around `inner` (default:
        the vendor's wire); `record` wraps the guard, so a recording holds each interaction's final answer."""
        vendor_target = self.vendor_target(vendor)
        settings = vendor_target.settings
        live = not vendor_target.embedded and self.replay is None
        shared_staging = live and not vendor_target.simulated
        transport: httpx.BaseTransport = GuardedTransport(
            inner or self.inner_transport(vendor),
            vendor,
            self.stats[vendor],
            budget=settings.get("request_budget") if shared_staging else None,
            min_interval=60.0 / settings["rate_limit_per_minute"] if shared_staging else 0.0,
            retry=self.retry_policy(vendor),
            base_path=self.base_path(vendor),
        )
        if record is not None:
            transport = record(transport)
        return bind_client(transport, self.base_url(vendor), timeout=settings.get("timeout", 15.0))

    def retry_policy(self, vendor: str) -> RetryPolicy:
        """The target's transient-failure policy. On a simulator (no shared staging at stake) retries are not
        budgeted unless the target says so, and a 5xx without Retry-After is retried at once (its faults do not
        depend on time)."""
        vendor_target = self.vendor_target(vendor)
        settings = vendor_target.settings
        return RetryPolicy(
            retries=settings.get("retries", RetryPolicy.retries),
            budget=settings.get("retry_budget", None if vendor_target.simulated else RetryPolicy.budget),
            backoff=0.0 if vendor_target.simulated else RetryPolicy.backoff,
        )

    def control(self, vendor: str) -> SimulatorControl:
        """The simulator control plane, in-process or over HTTP alike; not counted as vendor requests, but an outage
        there (a `simulator = true` base_url nobody answers) is the vendor's outage: status unreachable, exit 3."""
        transport = ControlTransport(self.inner_transport(vendor), vendor, self.stats[vendor])
        return SimulatorControl(
            bind_client(
                transport, self.base_url(vendor), timeout=self.vendor_target(vendor).settings.get("timeout", 15.0)
            )
        )

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
            return (
                f"{lost} of {stats.interactions} interactions lost to outages (more than the threshold of "
                f"{threshold:.0%}); the checks that relied on them did not run"
            )
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

    def hypothesis_settings(self, vendor: str) -> hypothesis.settings:
        """Deterministic hypothesis settings sized for the target (far fewer examples on live vendors)."""
        import hypothesis

        return hypothesis.settings(
            max_examples=self.max_examples(vendor),
            derandomize=True,
            database=None,
            deadline=None,
            print_blob=False,  # hypothesis turns it on under CI: a run must be the same everywhere
            report_multiple_bugs=False,
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
            suppress_health_check=list(hypothesis.HealthCheck),
        )

    def finish(self) -> None:
        worker = worker_id(self.config)
        # every xdist worker collects every vendor but runs only its own: it reports those
        reported = self.vendors_run if worker is not None else self.vendors_seen
        if is_controller(self.config):
            reported = set()  # the controller runs no test: the workers report
        if self.out is not None and self._target is not None and self.replay is None:
            for vendor in sorted(reported & set(self.target.vendors)):
                self.findings[vendor].simulator_profile = self._simulator_profile(vendor)
        for close in self._closers:
            close()
        if self.out is None or self._target is None or is_controller(self.config):
            return
        vendors: dict[str, Any] = {}
        for vendor in sorted(reported):
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
        write_atomically(findings_file(self.out, worker), json.dumps({"vendors": vendors}, indent=2))

    def _lost_since_start(self, item: pytest.Item) -> list[LostInteraction]:
        return self.stats[item.stash[VENDOR]].lost[item.stash.get(LOST_AT_START, 0) :]

    def _saw_server_errors(self, item: pytest.Item) -> bool:
        """Whether the test met a server error: an interaction lost to an outage, or a 5xx taken for a crash."""
        stats = self.stats[item.stash[VENDOR]] if VENDOR in item.stash else None
        return stats is not None and (
            bool(self._lost_since_start(item)) or stats.crashes > item.stash.get(CRASHES_AT_START, 0)
        )

    # -- hooks ----------------------------------------------------------------------------------------------
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
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
            self.vendors_seen.add(vendor)
            kept.append(item)
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = kept

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        vendor = item.stash.get(VENDOR, None)
        if vendor is None:
            return
        self.vendors_run.add(vendor)
        target = self.target
        if vendor not in target.vendors:
            pytest.skip(f"{vendor} is not configured for target '{target.name}'")
        if self.stats[vendor].unreachable:
            pytest.skip(f"{vendor} unreachable: {self.stats[vendor].unreachable}")
        item.stash[LOST_AT_START] = item.stash[LOST_HANDLED] = len(self.stats[vendor].lost)
        item.stash[CRASHES_AT_START] = self.stats[vendor].crashes

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        try:
            result = yield
        except Flaky as exc:
            # hypothesis replayed a failing example and it passed: the failure did not come back, so a server error
            # behind it (lost, or taken for a crash) was an outage, not the vendor's answer
            if self._saw_server_errors(item):
                raise LostToOutage(
                    self._lost_since_start(item),
                    "a server error that did not come back when hypothesis replayed the example",
                ) from exc
            _record_violations_unless_lost(item, failed=True)
            raise
        except Exception:
            _record_violations_unless_lost(item, failed=True)
            raise
        _record_violations_unless_lost(item, failed=False)
        failing = [violation for violation in item.stash.get(VIOLATIONS, []) if violation.fails]
        if failing:
            raise ContractViolation.of(failing)
        return result

    # trylast: inside allure-pytest's wrapper, which then sees the report as classified here (an outage: skipped)
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = _classified_report(item, call, (yield))
        vendor = item.stash.get(VENDOR, None)
        if vendor is not None and report.when in ("setup", "call"):
            _label_allure(item, vendor, report.when)
        if vendor is not None and item.get_closest_marker("scenario") is not None:
            scenario = f"{vendor}/{self.cassette_path(Path(), vendor, item).stem}"
            lost = len(self.stats[vendor].lost) - item.stash.get(LOST_AT_START, 0) if report.when == "call" else 0
            if lost:
                # the recorder left the lost interactions out: their steps were not observed, which is not drift
                self.findings[vendor].add_note(
                    f"{scenario}: {lost} interaction(s) lost to outages were not recorded; drift skips them"
                )
            if lost:
                self.findings[vendor].outage_scenarios.append(scenario)
            if report.skipped or lost:
                self.findings[vendor].unobserved.append(scenario)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self.item_vendor:
            return
        findings = self.findings[self.item_vendor[report.nodeid]]
        if report.when == "call" or (report.when == "setup" and not report.passed):
            findings.checks["passed" if report.passed else "skipped" if report.skipped else "failed"] += 1
            if not report.passed:
                findings.not_passed.append(report.nodeid)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # Everything alive now (modules, the contract, strategies, collected items) lives as long as the session: keep
        # it out of the cyclic GC, which otherwise re-scans it at every full collection hypothesis' garbage triggers.
        gc.freeze()
        self.item_vendor = {item.nodeid: item.stash[VENDOR] for item in session.items if VENDOR in item.stash}

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.finish()


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
        item._nodeid = node_id  # type: ignore[attr-defined]  # pytest < 9 only; the installed pytest 9 has no such attribute


def _vendor_of_path(path: Path, root: Path) -> str | None:
    try:
        parts = path.resolve().relative_to(root.resolve()).parts
    except ValueError:
        return None
    return parts[1] if len(parts) > 2 and parts[0] == "suites" and parts[1] in VENDORS else None


def _record_violations_unless_lost(item: pytest.Item, failed: bool) -> None:
    """Hand the test's violations to the findings, unless the test failed and an interaction it relied on was lost
    to an outage (`LostToOutage`: the check did not run). Examples (`Expect.example`) answer for their own."""
    vendor = item.stash.get(VENDOR, None)
    if vendor is None:
        return
    canary = item.config.stash[SESSION]
    lost = canary.stats[vendor].lost[item.stash.get(LOST_HANDLED, 0) :]
    if lost and (failed or any(violation.fails for violation in item.stash.get(VIOLATIONS, []))):
        raise LostToOutage(lost)
    for violation in item.stash.get(VIOLATIONS, []):
        canary.findings[vendor].add_violation(violation, item.nodeid)
        _label(item, violation)


#: the violations a test handed to the findings, labelled on its allure result once its call is reported
LABELLED = pytest.StashKey[list[Violation]]()


def _label(item: pytest.Item, violation: Violation, report: pytest.TestReport | None = None) -> None:
    """The check id on the test in junit.xml (a property; of `report` too once it is made); the violation is kept for
    the test's allure labels (`_label_allure`)."""
    item.stash.setdefault(LABELLED, []).append(violation)
    for properties in (item.user_properties, report.user_properties if report is not None else None):
        if properties is not None and ("check_id", violation.check_id) not in properties:
            properties.append(("check_id", violation.check_id))


def _label_allure(item: pytest.Item, vendor: str, when: str) -> None:
    """The test's allure labels: epic = vendor (from its setup on, so skipped tests have it too); once its call is
    reported, per violation its check id, endpoint (feature), check (story), finding id and the worst severity
    (`authcanary.reporting.allure.violation_labels`)."""
    try:
        import allure
    except ImportError:  # allure-pytest is a dependency, but plain pytest runs need not load it
        return
    if when == "setup":
        allure.dynamic.label("epic", vendor)
        return
    violations = item.stash.get(LABELLED, [])
    if not violations:
        return
    from authcanary.reporting.allure import violation_labels

    for check_id in dict.fromkeys(violation.check_id for violation in violations):
        allure.dynamic.label("check_id", check_id)
    for name, value in violation_labels(violations):
        allure.dynamic.label(name, value)


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
        if outage:
            reason = f"{vendor} unreachable: {outage}"
        else:
            assert call.excinfo is not None  # no outage: the exception is why we are here
            reason = str(call.excinfo.value)
            if not call.excinfo.errisinstance(LostToOutage):
                canary.findings[vendor].add_note(reason)
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {reason}")
        return report
    if report.when == "call" and not any(violation.fails for violation in item.stash.get(VIOLATIONS, [])):
        # A failure no check recorded (an unexpected exception, a plain assert): still a finding, never lost.
        message = canary.redact(vendor, _first_line(call.excinfo.exconly() if call.excinfo else report.longreprtext))
        spec = canary.catalog(vendor).check(f"{vendor}.{UNEXPECTED}")
        unexpected = Violation(
            check=f"{spec.title}: {item.name}",
            endpoint="",
            expected="the check passes",
            observed=message,
            check_id=spec.id,
        )
        canary.findings[vendor].add_violation(unexpected, item.nodeid)
        _label(item, unexpected, report)
    return report


def _first_line(text: str, limit: int = 400) -> str:
    line = next((line for line in text.strip().splitlines() if line.strip()), "")
    return line if len(line) <= limit else line[:limit] + "…"


def hypothesis_settings(vendor: str) -> hypothesis.settings:
    """The vendor's hypothesis settings for this run (examples sized for the target, deterministic, no database):
    decorate property tests with them, for example `@hypothesis_settings(VENDOR)`."""
    import hypothesis

    try:
        return hypothesis.settings.get_profile(f"authcanary.{vendor}")
    except hypothesis.errors.InvalidArgument:
        raise RuntimeError(
            "authcanary's pytest plugin is not active (run the suites with it: `authcanary run` or `pytest suites`)"
        ) from None

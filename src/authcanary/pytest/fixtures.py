"""The fixtures every suite gets from the plugin: `vendor`, `canary`, `target`, `sim`, `client`, `expect`,
`report`, `contract`, `max_examples` (and, from `authcanary.checks.fixtures`, `sim_or_none`, `clock`,
`login_probes`)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from authcanary.contracts import Contract
from authcanary.findings import VendorFindings
from authcanary.pytest.control import ReplayedControl, SimulatorControl
from authcanary.pytest.expectations import Expect
from authcanary.pytest.session import SESSION, VENDOR, CanarySession
from authcanary.recording.cassette import RecordingTransport, ReplayTransport
from authcanary.recording.scrub import Scrubber
from authcanary.targets import VendorTarget


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


@pytest.fixture
def sim(canary: CanarySession, vendor: str, target: VendorTarget) -> SimulatorControl:
    """Simulator control (time travel, faults); tests that need it are skipped on live targets."""
    if canary.replay is not None:
        return ReplayedControl()
    if not target.simulated:
        pytest.skip("needs a simulator (time travel or fault injection): not done against a live vendor")
    return canary.control(vendor)


@pytest.fixture
def client(
    request: pytest.FixtureRequest, canary: CanarySession, vendor: str, target: VendorTarget
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
    out = canary.out  # set: only scenarios of a run with a run folder are recorded
    recorders: list[RecordingTransport] = []

    def record(guarded: httpx.BaseTransport) -> RecordingTransport:
        recorders.append(
            RecordingTransport(
                guarded,
                canary.cassette_path(out / "cassettes", vendor, request.node),
                Scrubber(canary.secrets(vendor)),
                canary.base_path(vendor),
            )
        )
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

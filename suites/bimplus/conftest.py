"""Fixtures shared by the Bimplus suites: the legacy API, the checks, the target's clock, and the live-safety
budget of failed logins."""
from __future__ import annotations

import httpx
import pytest

from authcanary.contracts import Contract
from authcanary.findings import VendorFindings
from authcanary.plugin import Expect, SimulatorControl, current_session
from authcanary.targets import VendorTarget
from suites.bimplus.legacy import Account, Clock, LegacyApi, LegacyChecks, accounts

VENDOR = "bimplus"


class LoginProbes:
    """Failed-login attempts against the configured accounts in this run: live accounts lock after a few, so a
    live target allows `wrong_password_probes` (default 3); simulators allow any number."""

    def __init__(self, limit: int | None) -> None:
        self.limit, self.used = limit, 0

    def available(self) -> bool:
        return self.limit is None or self.used < self.limit

    def spend(self) -> None:
        assert self.available(), "failed-login budget already spent"
        self.used += 1


@pytest.fixture(scope="session")
def login_probes() -> LoginProbes:
    target = current_session().vendor_target(VENDOR)
    return LoginProbes(None if target.simulated else target.settings["wrong_password_probes"])


@pytest.fixture
def sim_or_none(request: pytest.FixtureRequest, target: VendorTarget) -> SimulatorControl | None:
    """Simulator control on a simulator, None on a live target: one test runs on both, time travel where allowed."""
    return request.getfixturevalue("sim") if target.simulated else None


@pytest.fixture
def clock(sim_or_none: SimulatorControl | None) -> Clock:
    return Clock(sim_or_none)


@pytest.fixture
def api(client: httpx.Client, target: VendorTarget) -> LegacyApi:
    return LegacyApi(client, target.settings)


@pytest.fixture
def checks(expect: Expect, contract: Contract, report: VendorFindings) -> LegacyChecks:
    return LegacyChecks(expect, contract, report)


@pytest.fixture
def users(target: VendorTarget) -> list[Account]:
    return accounts(target.settings)

"""pytest fixtures for any vendor's suites, built on `authcanary.checks`; the plugin registers them for every suite.
They rely on the plugin's `vendor`, `target` and `sim` fixtures."""

from __future__ import annotations

import pytest

from authcanary.checks.clock import Clock
from authcanary.pytest.control import SimulatorControl
from authcanary.registry import vendor_spec
from authcanary.targets import VendorTarget

_LOGIN_BUDGETS = pytest.StashKey[dict]()


class LoginProbes:
    """The run's budget of failed-login attempts against one vendor's configured accounts: live accounts lock after
    a few, so a live target allows what the vendor's `failed_logins_key` (registry) says; simulators allow any
    number."""

    def __init__(self, limit: int | None) -> None:
        self.limit, self.used = limit, 0

    def available(self) -> bool:
        return self.limit is None or self.used < self.limit

    def spend(self) -> None:
        assert self.available(), "failed-login budget already spent"
        self.used += 1


@pytest.fixture
def login_probes(request: pytest.FixtureRequest, vendor: str, target: VendorTarget) -> LoginProbes:
    """The vendor's failed-login budget, shared by every test of the run."""
    budgets = request.session.stash.setdefault(_LOGIN_BUDGETS, {})
    if vendor not in budgets:
        limit = None if target.simulated else vendor_spec(vendor).failed_logins_allowed(target.settings)
        budgets[vendor] = LoginProbes(limit)
    return budgets[vendor]


@pytest.fixture
def sim_or_none(request: pytest.FixtureRequest, target: VendorTarget) -> SimulatorControl | None:
    """Simulator control on a simulator, None on a live target: one test runs on both, time travel where allowed."""
    return request.getfixturevalue("sim") if target.simulated else None


@pytest.fixture
def clock(sim_or_none: SimulatorControl | None) -> Clock:
    """The target's clock (`Clock`): virtual jumps on a simulator, real waiting on a live target."""
    return Clock(sim_or_none)

"""The target's time as a suite sees it: wall time plus the virtual jumps made on a simulator. One check runs on a
simulator (time travel: a two-hour expiry in milliseconds) and on a live target (it waits, or samples the clock)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from authcanary.simulators.framework import VirtualClock

if TYPE_CHECKING:
    from authcanary.pytest.control import SimulatorControl


@dataclass(frozen=True)
class Timed:
    """A response and when (on the target's clock as we see it) its request left and its answer arrived."""

    response: httpx.Response
    sent: float
    received: float


class Clock(VirtualClock):
    """The target's time: the simulator's virtual clock as we follow it (wall time plus the jumps we made it take),
    or wall time. `sim` is the simulator control (the `sim_or_none` fixture), None on a live target."""

    def __init__(self, sim: SimulatorControl | None) -> None:
        super().__init__()
        self.sim = sim

    def advance(self, seconds: float) -> None:
        """Simulators only: jump the virtual clock (and ours) forward."""
        assert self.sim is not None, "time travel needs a simulator"
        self.sim.advance(seconds)
        super().advance(seconds)

    def wait(self, seconds: float) -> None:
        """Let `seconds` pass: a jump on a simulator, a sleep on a live target."""
        if self.sim is not None:
            self.advance(seconds)
        else:
            time.sleep(seconds)

    def timed(self, call: Callable[[], httpx.Response]) -> Timed:
        """`call()`, with when it was sent and answered."""
        sent = self.now()
        response = call()
        return Timed(response, sent, self.now())

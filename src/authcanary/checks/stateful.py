"""Stateful exploration (hypothesis `RuleBasedStateMachine`) in which every step is checked through `expect`.

Each step is one `expect.example()`: a violation ends the sequence, hypothesis shrinks it (on an embedded target)
and the violation names the steps that produced it. Sized for the target: far fewer, shorter sequences and no
shrinking on a live vendor, where every request counts.

    class TokenMachine(CheckedMachine):
        @rule()
        def login(self):
            with self.step("login"):
                ...

    explore(lambda: TokenMachine(expect), vendor=VENDOR, target=target, sim=sim_or_none, report=report,
            what="token lifecycle")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from authcanary.findings import VendorFindings
from authcanary.pytest.control import SimulatorControl
from authcanary.pytest.expectations import Expect
from authcanary.pytest.session import hypothesis_settings
from authcanary.targets import VendorTarget


def stateful_settings(
    vendor: str, target: VendorTarget, *, embedded_factor: int = 4, embedded_steps: int = 20, live_steps: int = 6
) -> settings:
    """Embedded: `embedded_factor` times the target's examples (240 sequences by default) of up to `embedded_steps`
    steps. Elsewhere a quarter of the examples (at least 2), `live_steps` steps each, and no shrinking."""
    base = hypothesis_settings(vendor)
    if target.embedded:
        return settings(base, max_examples=embedded_factor * base.max_examples, stateful_step_count=embedded_steps)
    return settings(
        base,
        max_examples=max(2, base.max_examples // 4),
        stateful_step_count=live_steps,
        phases=[Phase.explicit, Phase.generate],
    )


class SequenceExpect(Expect):
    """`expect` that appends the steps so far to every observation: a violation names its (minimal) sequence."""

    def __init__(self, expect: Expect, steps: list[str]) -> None:
        super().__init__(expect.canary, expect.vendor, expect.item)
        self.named_bases = expect.named_bases  # shared: a base named later in the test names the steps' too
        self.steps = steps

    def that(self, ok: bool, check: str, *, observed: str = "", **kwargs: Any) -> bool:
        if not ok:
            observed = f"{observed} [sequence: {'; '.join(self.steps)}]"
        return super().that(ok, check, observed=observed, **kwargs)


class CheckedMachine(RuleBasedStateMachine):
    """A state machine whose rules run their requests and checks inside `step`; `self.expect` records violations
    with the sequence so far, `self.steps` (a rule may append to the last step, e.g. what it produced)."""

    def __init__(self, expect: Expect) -> None:
        super().__init__()
        self.steps: list[str] = []
        self.expect = SequenceExpect(expect, self.steps)
        #: a step lost an interaction to an outage: the model no longer knows the vendor's state, so the rest of the
        #: sequence runs (hypothesis' draws must not change) but is not judged
        self.lost_to_outage = False

    @contextmanager
    def step(self, description: str) -> Iterator[None]:
        self.steps.append(description)
        if self.lost_to_outage:
            with self.expect.discarded():
                yield
            return
        with self.expect.example(reject_lost=False):
            yield
        self.lost_to_outage = self.expect.last_example_lost


def explore(
    new_machine: Callable[[], RuleBasedStateMachine],
    *,
    vendor: str,
    target: VendorTarget,
    sim: SimulatorControl | None,
    report: VendorFindings,
    what: str,
    **sizing: int,
) -> int:
    """Run sequences of `new_machine()` (sized by `stateful_settings`), each on a freshly reset simulator when there
    is one; notes how many were explored (also when one failed) and returns that number."""
    explored = 0

    def new_sequence() -> RuleBasedStateMachine:
        nonlocal explored
        explored += 1
        if sim is not None:
            sim.reset()
        return new_machine()

    # An outage can change what a sequence could do (a lost login leaves a rule without its precondition), so
    # hypothesis may see the same draws behave differently (Flaky): the plugin reports that as an outage.
    try:
        # hypothesis annotates the factory as a class, but documents (and accepts) any callable returning a machine
        run_state_machine_as_test(
            new_sequence,  # type: ignore[arg-type]
            settings=stateful_settings(vendor, target, **sizing),
        )
    finally:
        report.add_note(f"{what}: {explored} step sequences explored")
    return explored

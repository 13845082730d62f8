"""Stateful exploration of the two-step token life cycle (a hypothesis RuleBasedStateMachine).

Rules: get a client token (step 1); ask for the user token (step 2) with a held client token; send a forgery of a
held client token (its claims under another key's signature); and, on simulators only, let time pass or jump past a
held token's expiry. The model knows which client tokens must still work (issued less than expires_in ago) and which
must be refused (older than expires_in, allowing the clock's tolerance), and stays silent in between. Every step
checks what it touched: a live client token gets a user token of its own (200), an expired one 401 (re-authenticate),
a forged one 401, whatever the clock says.

Each step is one `expect.example()`: a violation ends the sequence, hypothesis shrinks it (on the embedded target),
and the violation names the sequence that produced it (`CheckedMachine`, `explore` of `authcanary.suite`).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from authcanary.suite import CheckedMachine, Clock, Contract, Expect, Timed, explore
from strategies.axeobim import FORGERIES, forgeable, forged
from suites.axeobim.api import AxeobimApi
from suites.axeobim.checks import AxeobimChecks

VENDOR = "axeobim"
ALIVE, EXPIRED = "alive", "expired"
#: seconds either side of an expiry where the model does not say (clock skew, whole-second rounding)
TOLERANCE = 2.0
token_index = st.integers(0, 15)  # which held client token (modulo how many there are)


@dataclass
class Held:
    name: str
    value: str
    expires_in: int
    timing: Timed


class TwoStepMachine(CheckedMachine):
    def __init__(self, api: AxeobimApi, clock: Clock, expect: Expect, contract: Contract) -> None:
        super().__init__(expect)
        self.api, self.clock = api, clock
        self.checks = AxeobimChecks(self.expect, contract)
        self.held: list[Held] = []

    def fate(self, token: Held) -> str | None:
        """ALIVE, EXPIRED, or None near the expiry (the documentation's clock is not ours to the second)."""
        now = self.clock.now()
        if now - token.timing.sent < token.expires_in - TOLERANCE:
            return ALIVE
        if now - token.timing.received > token.expires_in + TOLERANCE:
            return EXPIRED
        return None

    def pick(self, index: int) -> Held:
        return self.held[index % len(self.held)]

    @initialize()
    def first_client_token(self) -> None:
        self.client_token()

    @precondition(lambda self: len(self.held) < 2)  # two client tokens are enough to interleave their lives
    @rule()
    def client_token(self) -> None:
        with self.step("client token"):
            timed = self.clock.timed(lambda: self.api.client_token())
            body = self.checks.token(timed.response, "client")
            if body is None or not isinstance(body.get("expires_in"), int) or not body.get("access_token"):
                return
            token = Held(f"c{len(self.held) + 1}", body["access_token"], body["expires_in"], timed)
            self.held.append(token)
            self.steps[-1] += f" -> {token.name}"

    @precondition(lambda self: self.held)
    @rule(index=token_index)
    def user_token(self, index: int) -> None:
        token = self.pick(index)
        with self.step(f"user token with {token.name}"):
            fate = self.fate(token)
            response = self.api.user_token(token.value)
            if fate == ALIVE:
                self.checks.distinct(
                    response, self.checks.token(response, "user", detail="a live client token"), token.value
                )
            elif fate == EXPIRED:
                self.checks.refused(response, 401, "axeobim.bearer.expired_401", detail=f"{token.name}, expired")

    @precondition(lambda self: any(forgeable(token.value) for token in self.held))
    @rule(index=token_index, how=st.sampled_from(FORGERIES))
    def forged_token(self, index: int, how: str) -> None:
        candidates = [token for token in self.held if forgeable(token.value)]
        token = candidates[index % len(candidates)]
        with self.step(f"user token with {token.name} forged ({how})"):
            response = self.api.user_token(forged(token.value, how))
            self.checks.refused(response, 401, "axeobim.bearer.bad_signature_401", detail=f"{how}, {self.fate(token)}")

    @precondition(lambda self: self.clock.sim is not None and any(self.fate(t) == ALIVE for t in self.held))
    @rule(index=token_index)
    def jump_past_expiry(self, index: int) -> None:
        alive = [token for token in self.held if self.fate(token) == ALIVE]
        token = alive[index % len(alive)]
        jump = token.timing.received + token.expires_in - self.clock.now() + TOLERANCE + 1
        with self.step(f"jump {jump:.0f} s, past the expiry of {token.name}"):
            self.clock.advance(jump)

    @precondition(lambda self: self.clock.sim is not None and self.held)
    @rule(seconds=st.sampled_from([60, 1800]))
    def let_time_pass(self, seconds: int) -> None:
        with self.step(f"let {seconds} s pass"):
            self.clock.advance(seconds)


def test_two_step_token_lifecycle(api, target, sim_or_none, expect, contract, report):
    """Embedded: the target's examples as sequences of up to 4 steps after a first client token; live: a few
    sequences of 6 steps, not shrunk."""
    explore(
        lambda: TwoStepMachine(api, Clock(sim_or_none), expect, contract),
        vendor=VENDOR,
        target=target,
        sim=sim_or_none,
        report=report,
        what="stateful two-step token lifecycle",
        embedded_factor=1,
        embedded_steps=4,
    )

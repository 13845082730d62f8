"""Stateful exploration of the token life cycle (a hypothesis RuleBasedStateMachine).

Rules: generate (documented examples and arbitrary parameters), verify a held token, verify a token never issued
and, on simulators only, clock jumps up to just before and past a token's expiration_time. A model knows which
tokens must verify (alive), which must be refused (past their expiration_time) and where the documentation says
nothing (a token verified before: one use or many, semantics.yaml ambiguities; the seconds around expiration_time).
Every step checks what it touched: each new token is a fresh uuid with a sane expiration_time; a live token's first
verify answers exactly its own parameters; a later one answers them again or 403; an expired or unknown token gets
403 with a message.

Each step is one `expect.example()`: a violation ends the sequence, hypothesis shrinks it (on the embedded target),
and the violation names the sequence that produced it (`CheckedMachine`, `explore` of `authcanary.suite`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from authcanary.suite import CheckedMachine, Clock, explore
from strategies.kudo import DOCUMENTED_EXAMPLES, editor_parameters
from suites.kudo.api import KudoApi
from suites.kudo.checks import Issued, KudoChecks

VENDOR = "kudo"
ALIVE, DEAD = "alive", "expired"
token_index = st.integers(0, 31)  # which held token (modulo how many there are)


@dataclass
class Held:
    issued: Issued
    name: str
    verified: bool = False  # verified once: whether it may be verified again is not documented
    used_up: bool = False  # a later verify answered 403: it stays refused


class TokenMachine(CheckedMachine):
    def __init__(self, api: KudoApi, clock: Clock, checks: KudoChecks) -> None:
        super().__init__(checks.expect)
        self.api, self.clock = api, clock
        self.checks = KudoChecks(self.expect, checks.contract, checks.key)  # violations name the sequence
        self.held: list[Held] = []

    # -- the model ------------------------------------------------------------------------------------------------
    def fate(self, held: Held) -> str | None:
        """ALIVE, DEAD, or None where the documentation does not say (the margin around expiration_time) or the
        expiration_time could not be read."""
        expiration, margin = held.issued.expiration_time, self.checks.margin
        if expiration is None:
            return None
        now = self.clock.now()
        if now >= expiration + margin:
            return DEAD
        return ALIVE if now < expiration - margin else None

    def check(self, held: Held) -> None:
        """Verify `held` and judge the answer by what the model knows."""
        fate, response = self.fate(held), self.api.verify(held.issued.token)
        others = [other.issued for other in self.held if other is not held]
        if fate == DEAD:
            self.checks.forbidden(response, "kudo.verify.expired_token_403", f"{held.name}, past its expiration_time")
        elif held.used_up:
            self.checks.forbidden(response, "kudo.verify.bad_token_403", f"{held.name}, refused before")
        elif fate == ALIVE and not held.verified:
            self.checks.verified(response, held.issued, f"{held.name}, first verify", others=others)
        elif response.status_code == 200:
            self.checks.verified(response, held.issued, f"{held.name}, verified before", others=others)
        elif fate == ALIVE:
            held.used_up = self.checks.forbidden(response, "kudo.verify.bad_token_403", f"{held.name}, verified before")
        held.verified = True

    # -- rules ----------------------------------------------------------------------------------------------------
    @rule(parameters=st.one_of(st.sampled_from(DOCUMENTED_EXAMPLES), editor_parameters()))
    def generate(self, parameters: dict) -> None:
        with self.step("generate"):
            timed = self.clock.timed(lambda: self.api.generate(parameters))
            issued = self.checks.issued(timed, parameters, "generate", judge_date=self.clock.offset == 0)
            if issued is None:
                return
            self.checks.fresh(timed.response, issued.token, {held.issued.token for held in self.held}, "generate")
            held = Held(issued, f"t{len(self.held) + 1}")
            self.held.append(held)
            self.steps[-1] += f" -> {held.name}"

    @precondition(lambda self: self.held)
    @rule(index=token_index)
    def verify(self, index: int) -> None:
        held = self.held[index % len(self.held)]
        with self.step(f"verify {held.name}"):
            self.check(held)

    @rule(token=st.uuids(version=4))
    def verify_unknown(self, token: uuid.UUID) -> None:
        with self.step("verify a token never issued"):
            self.checks.forbidden(self.api.verify(str(token)), "kudo.verify.bad_token_403", "a token never issued")

    @precondition(lambda self: self.clock.sim is not None and any(self.fate(held) == ALIVE for held in self.held))
    @rule(index=token_index, past=st.booleans())
    def jump_to_expiry(self, index: int, past: bool) -> None:
        """Jump to just before (`past` false) or just after a live token's expiration_time, and verify it."""
        alive = [held for held in self.held if self.fate(held) == ALIVE]
        held = alive[index % len(alive)]
        expiration = held.issued.expiration_time
        assert expiration is not None  # ALIVE: it was read
        margin = self.checks.margin
        target = expiration + margin if past else expiration - margin
        jump = max(0.0, target - self.clock.now())
        with self.step(f"jump {jump:.0f} s, {'past' if past else 'to just before'} the expiration of {held.name}"):
            self.clock.advance(jump)
            if past:
                self.check(held)
            elif not held.verified:
                response = self.api.verify(held.issued.token)
                self.checks.verified(
                    response,
                    held.issued,
                    f"{held.name}, {margin:.0f} s before expiration_time",
                    check="kudo.verify.valid_until_expiration",
                )
                held.verified = True

    @precondition(lambda self: self.clock.sim is not None and self.held)
    @rule(seconds=st.sampled_from([30, 600]))
    def let_time_pass(self, seconds: int) -> None:
        with self.step(f"let {seconds} s pass"):
            self.clock.advance(seconds)
            for held in self.held:
                if self.fate(held) == DEAD and not held.used_up:
                    self.check(held)
                    held.used_up = True


def test_token_lifecycle(api, checks, target, sim_or_none, report):
    """Embedded: as many sequences as the target's examples, of up to 10 steps; live: a few of 6 steps, not shrunk."""
    explore(
        lambda: TokenMachine(api, Clock(sim_or_none), checks),
        vendor=VENDOR,
        target=target,
        sim=sim_or_none,
        report=report,
        what="stateful token lifecycle",
        embedded_factor=1,
        embedded_steps=10,
    )

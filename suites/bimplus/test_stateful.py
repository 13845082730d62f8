"""Stateful exploration of the legacy token lifecycle (a hypothesis RuleBasedStateMachine).

Rules: authorize (with or without remember me, own client_id or the service's), token info, teams, cross token,
cross-authorize, remember-me login, logout and, on simulators only, clock jumps past a token's expiry. A model knows
which tokens must work, which must be refused (expired, used, logged out) and where the documentation says nothing
(an older token of a client_id that a remember-me login renewed). Every step checks what it touched or changed:
token info's user_id is stable per user and its audience is the token's client_id; the remaining lifetime never
exceeds the issued one, never increases and runs down with the clock; cross tokens are single-use and dead after
299 s; a logout ends every token of the user issued before it and none of other users or issued after it;
remember-me logins yield fresh working tokens; dead tokens get 401 everywhere.

Each step is one `expect.example()`: a violation ends the sequence, hypothesis shrinks it (on the embedded target),
and the violation names the sequence that produced it (`CheckedMachine`, `explore` of `authcanary.suite`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from authcanary.suite import CheckedMachine, Clock, Contract, Expect, VendorFindings, explore
from suites.bimplus.legacy import Account, Issued, LegacyApi, LegacyChecks

VENDOR = "bimplus"
ALIVE = "alive"
KIND_NAMES = {"access": "", "cross": " cross", "remember": " remember-me"}
users_index = st.integers(0, 1)  # which configured user (modulo how many there are)
token_index = st.integers(0, 31)  # which held token of a kind (modulo how many there are)


@dataclass
class Held(Issued):
    """A token the machine holds, with what the model knows about it."""

    name: str = ""
    dead_after: float = 0.0  # seconds after its issue past which it must be refused
    used: bool = False
    logged_out: bool = False
    renewed: bool = False  # a remember-me login renewed its client_id: the documentation does not say it lives on
    confirmed_dead: bool = False


class LegacyTokenMachine(CheckedMachine):
    def __init__(
        self,
        api: LegacyApi,
        clock: Clock,
        expect: Expect,
        contract: Contract,
        report: VendorFindings,
        users: list[Account],
    ) -> None:
        super().__init__(expect)
        self.api, self.clock, self.users = api, clock, users
        self.checks = LegacyChecks(self.expect, contract, report)
        self.cross_dead_after = contract.semantics["lifetimes"]["cross_token"]["dead_after_seconds"]
        self.held: list[Held] = []

    # -- the model ------------------------------------------------------------------------------------------------
    def fate(self, token: Held) -> str | None:
        """ALIVE, why the token must be refused, or None where the documentation does not say."""
        if token.logged_out:
            return "logged-out"
        if token.used:
            return "used"
        now, tolerance = self.clock.now(), self.checks.tolerance
        if now - token.timing.received > token.dead_after + tolerance:
            return "expired" if token.kind != "cross" else f"expired (older than {token.dead_after:.0f} s)"
        if not token.renewed and now - token.timing.sent < token.expires_in - tolerance:
            return ALIVE
        return None

    def hold(self, issued: Issued, dead_after: float | None = None) -> Held:
        token = Held(
            **vars(issued),
            name=f"{issued.kind[0]}{len(self.held) + 1}",
            dead_after=issued.expires_in if dead_after is None else dead_after,
        )
        self.held.append(token)
        self.steps[-1] += f" -> {token.name}"
        return token

    def tokens(self, kind: str) -> list[Held]:
        return [token for token in self.held if token.kind == kind]

    def pick(self, kind: str, index: int) -> Held:
        tokens = self.tokens(kind)
        return tokens[index % len(tokens)]

    def refused(self, response, token: Held, fate: str) -> None:
        self.checks.dead(response, f"{fate}{KIND_NAMES[token.kind]} token")
        token.confirmed_dead = True

    def verify(self, token: Held, everywhere: bool = False) -> None:
        """The service agrees with the model about `token`: one call, or every token call when `everywhere`.
        A live cross or remember-me token is only tested by the rules that use it up."""
        fate = self.fate(token)
        if token.kind == "access":
            probe = self.clock.timed(lambda: self.api.token_info(token.value))
            if fate == ALIVE or (fate is None and probe.response.status_code == 200):
                self.checks.token_info(probe, token)
            elif fate is not None:
                self.refused(probe.response, token, fate)
                if everywhere:
                    self.refused(self.api.teams(token.value), token, fate)
                    self.refused(self.api.cross_token(token.value), token, fate)
        elif fate not in (ALIVE, None):
            response = (
                self.api.cross_authorize(token.value)
                if token.kind == "cross"
                else self.api.remember_me_login(token.value, token.client_id)
            )
            self.refused(response, token, fate)

    def sweep(self, jumped: Held | None = None) -> None:
        for token in self.held:
            if not token.confirmed_dead:
                self.verify(token, everywhere=token is jumped)

    # -- rules ----------------------------------------------------------------------------------------------------
    @rule(user=users_index, own_client=st.booleans())
    def authorize(self, user: int, own_client: bool) -> None:
        account = self.users[user % len(self.users)]
        client_id = str(uuid.uuid4()) if own_client else None
        with self.step(f"authorize {account.name}{' with a client_id' if own_client else ''}"):
            issued = self.checks.token(
                self.clock.timed(lambda: self.api.authorize(account, client_id=client_id)), account, client_id=client_id
            )
            if issued is not None:
                self.verify(self.hold(issued))

    @rule(user=users_index, own_client=st.booleans())
    def authorize_remember_me(self, user: int, own_client: bool) -> None:
        account = self.users[user % len(self.users)]
        client_id = str(uuid.uuid4()) if own_client else None
        with self.step(f"authorize {account.name} with remember_me{' and a client_id' if own_client else ''}"):
            issued = self.checks.remember_me(
                self.clock.timed(lambda: self.api.authorize(account, client_id=client_id, remember_me=True)),
                account,
                client_id=client_id,
            )
            if issued is not None:
                access, remember = issued
                self.hold(remember)
                self.verify(self.hold(access))

    @precondition(lambda self: self.tokens("access"))
    @rule(index=token_index)
    def token_info(self, index: int) -> None:
        token = self.pick("access", index)
        with self.step(f"token info of {token.name}"):
            self.verify(token)

    @precondition(lambda self: self.tokens("access"))
    @rule(index=token_index)
    def teams(self, index: int) -> None:
        token = self.pick("access", index)
        with self.step(f"teams with {token.name}"):
            response, fate = self.api.teams(token.value), self.fate(token)
            if fate == ALIVE:
                self.checks.body(response, "Teams")
            elif fate is not None:
                self.refused(response, token, fate)

    @precondition(lambda self: self.tokens("access"))
    @rule(index=token_index)
    def cross_token(self, index: int) -> None:
        token = self.pick("access", index)
        with self.step(f"cross token from {token.name}"):
            timed, fate = self.clock.timed(lambda: self.api.cross_token(token.value)), self.fate(token)
            if fate not in (ALIVE, None):
                self.refused(timed.response, token, fate)
            elif fate == ALIVE or timed.response.status_code == 200:
                cross = self.checks.cross_token(timed, token)
                if cross is not None:
                    self.hold(cross, dead_after=self.cross_dead_after)

    @precondition(lambda self: self.tokens("cross"))
    @rule(index=token_index, own_client=st.booleans())
    def cross_authorize(self, index: int, own_client: bool) -> None:
        cross = self.pick("cross", index)
        client_id = str(uuid.uuid4()) if own_client else None
        with self.step(f"cross-authorize with {cross.name}{' and a client_id' if own_client else ''}"):
            fate = self.fate(cross)
            timed = self.clock.timed(lambda: self.api.cross_authorize(cross.value, client_id))
            cross.used = True
            if fate not in (ALIVE, None):
                self.refused(timed.response, cross, fate)
            elif fate == ALIVE or timed.response.status_code == 200:
                issued = self.checks.token(timed, cross.account, client_id=client_id)
                if issued is not None:
                    self.verify(self.hold(issued))

    @precondition(lambda self: self.tokens("remember"))
    @rule(index=token_index)
    def remember_me_login(self, index: int) -> None:
        remember = self.pick("remember", index)
        with self.step(f"remember-me login with {remember.name}"):
            fate = self.fate(remember)
            timed = self.clock.timed(lambda: self.api.remember_me_login(remember.value, remember.client_id))
            if fate not in (ALIVE, None):
                self.refused(timed.response, remember, fate)
                return
            if fate is None and timed.response.status_code != 200:
                return
            issued = self.checks.token(
                timed, remember.account, lifetime="remember_me_access", client_id=remember.client_id
            )
            if issued is None:
                return
            self.expect.that(
                all(issued.value != token.value for token in self.held),
                "bimplus.remember_me.fresh_access_token",
                response=timed.response,
                expected="an access token not issued before",
                observed="a token issued earlier",
            )
            for token in self.tokens("access"):
                if token.client_id == remember.client_id:
                    token.renewed = True
            self.verify(self.hold(issued))

    @precondition(lambda self: self.tokens("access"))
    @rule(index=token_index)
    def logout(self, index: int) -> None:
        token = self.pick("access", index)
        with self.step(f"logout with {token.name}"):
            fate, started = self.fate(token), self.clock.now()
            response = self.api.logout(token.value)
            if fate not in (ALIVE, None):
                self.refused(response, token, fate)
                return
            if (fate is None and response.status_code != 200) or not self.expect.status(
                response, 200, "bimplus.answers.status_200", "logout with a live token"
            ):
                return
            for held in self.held:
                if held.account == token.account and held.timing.received <= started:
                    held.logged_out = True
            for held in self.held:
                if held.account == token.account and not held.confirmed_dead:
                    self.verify(held, everywhere=held is token)
                elif held.account != token.account and held.kind == "access" and self.fate(held) == ALIVE:
                    self.verify(held)  # other users' tokens live on
            if self.clock.sim is None:
                self.clock.wait(1.0)  # a service keeping whole seconds: later tokens are clearly issued after it

    @precondition(lambda self: self.clock.sim is not None and any(self.fate(t) in (ALIVE, None) for t in self.held))
    @rule(index=token_index)
    def jump_past_expiry(self, index: int) -> None:
        candidates = [token for token in self.held if self.fate(token) in (ALIVE, None)]
        token = candidates[index % len(candidates)]
        jump = max(0.0, token.timing.received + token.dead_after - self.clock.now()) + self.checks.tolerance + 1
        with self.step(f"jump {jump:.0f} s, past the expiry of {token.name}"):
            self.clock.advance(jump)
            self.sweep(jumped=token)

    @precondition(lambda self: self.clock.sim is not None and self.held)
    @rule(seconds=st.sampled_from([30, 1800]))
    def let_time_pass(self, seconds: int) -> None:
        with self.step(f"let {seconds} s pass"):
            self.clock.advance(seconds)
            self.sweep()


def test_token_lifecycle(api, users, target, sim_or_none, expect, contract, report):
    """Embedded: 240 sequences of up to 20 steps by default; live: a few sequences of 6 steps, not shrunk."""
    explore(
        lambda: LegacyTokenMachine(api, Clock(sim_or_none), expect, contract, report, users),
        vendor=VENDOR,
        target=target,
        sim=sim_or_none,
        report=report,
        what="stateful token lifecycle",
    )

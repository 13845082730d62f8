"""Stateful exploration of the Bimplus OIDC token lifecycle (a hypothesis RuleBasedStateMachine).

Rules: password login (with or without the openid scope, the client in a Basic header or in the body), refresh,
revocation of an access or a refresh token (RFC 7009), end-session logout, introspection, userinfo, the BIM+ API
(GET /v2/teams) with a Bearer token and, on simulators only, clock jumps past an access token's expiry. A model knows
each token's documented fate: alive, used (a refresh token, when the realm rotates them: targets
oidc_refresh_rotation), revoked, its session ended (logout, or a revoked refresh token), expired, or not said by the
documentation (an access token older than its session's last refresh, a session after a revocation the RFCs let the
realm extend as it likes). Every step checks what it touched or changed: introspection (with a confidential client),
userinfo and the BIM+ API agree with the model, a used refresh token is refused, and a dead session's refresh token
is refused.

Each step is one `expect.example()`: a violation ends the sequence, hypothesis shrinks it (on the embedded target),
and the violation names the sequence that produced it (`CheckedMachine`, `explore` of `authcanary.suite`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from authcanary.suite import CheckedMachine, Clock, Contract, Expect, explore
from suites.bimplus.legacy import Account
from suites.bimplus.oidc import OidcApi, OidcChecks, Tokens

VENDOR = "bimplus"
ALIVE = "alive"
TOLERANCE = 2.0  # seconds: exp is whole seconds of the realm's clock
# why a token is dead (the model's words) -> the check each probe reports it under
REVOKED, LOGGED_OUT, SESSION_REVOKED, USED, EXPIRED = (
    "revoked",
    "logged out",
    "session ended by revoking its refresh token",
    "used",
    "expired",
)
INTROSPECTION_CHECK = {
    REVOKED: "bimplus.oidc.revoked_access_inactive",
    LOGGED_OUT: "bimplus.oidc.logout_ends_session",
    SESSION_REVOKED: "bimplus.oidc.revoke_refresh_ends_session",
    EXPIRED: "bimplus.oidc.introspection_expired",
}
RESOURCE_CHECK = {
    REVOKED: "bimplus.oidc.revoked_access_refused",
    LOGGED_OUT: "bimplus.oidc.logout_ends_session",
    SESSION_REVOKED: "bimplus.oidc.revoke_refresh_ends_session",
    EXPIRED: "bimplus.oidc.resource_refuses_expired",
}
# userinfo's check names revoked and logged-out tokens (an expired one is left to introspection and the BIM+ API)
USERINFO_DEAD = {REVOKED, LOGGED_OUT, SESSION_REVOKED}
REFRESH_CHECK = {
    USED: ("used_refresh_token", "bimplus.oidc.refresh_rotation"),
    LOGGED_OUT: ("ended_session_refresh", "bimplus.oidc.logout_ends_session"),
    SESSION_REVOKED: ("ended_session_refresh", "bimplus.oidc.revoke_refresh_ends_session"),
}
token_index = st.integers(0, 31)  # which held token of a kind (modulo how many there are)


@dataclass
class Session:
    """A user session of the realm (one password login and its refreshes)."""

    name: str
    ended: str | None = None  # LOGGED_OUT or SESSION_REVOKED


@dataclass
class Held:
    """A token the machine holds, with what the model knows about it."""

    name: str
    kind: str  # "access" or "refresh"
    value: str
    session: Session
    sent: float  # when the request that issued it left, and its answer arrived (the target's clock)
    received: float
    lifetime: int | None  # expires_in / refresh_expires_in (None: not given)
    openid: bool = False
    revoked: bool = False
    used: bool = False
    #: the documentation no longer says whether it works (it still says when it is dead)
    undetermined: bool = False
    confirmed_dead: bool = False


class OidcTokenMachine(CheckedMachine):
    def __init__(
        self,
        oidc: OidcApi,
        oidc_checks: OidcChecks,
        contract: Contract,
        settings: dict[str, Any],
        clock: Clock,
        user: Account,
        expect: Expect,
    ) -> None:
        super().__init__(expect)
        self.oidc, self.clock, self.user = oidc, clock, user
        self.checks = OidcChecks(self.expect, contract, settings, oidc.issuer, oidc_checks.keys)
        self.rotation = bool(settings["oidc_refresh_rotation"])
        self.sessions: list[Session] = []
        self.held: list[Held] = []

    # -- the model ------------------------------------------------------------------------------------------------
    def fate(self, token: Held) -> str | None:
        """ALIVE, why the token must be refused, or None where the documentation does not say."""
        if token.revoked:
            return REVOKED
        if token.session.ended:
            return token.session.ended
        if token.kind == "refresh" and token.used:
            return USED if self.rotation else None
        if token.lifetime is None:
            return None
        now = self.clock.now()
        if now - token.received > token.lifetime + TOLERANCE:
            return EXPIRED if token.kind == "access" else None  # no check names an expired refresh token
        if token.undetermined or now - token.sent >= token.lifetime - TOLERANCE:
            return None
        return ALIVE

    def tokens(self, kind: str, fates: tuple[str | None, ...] | None = None) -> list[Held]:
        return [t for t in self.held if t.kind == kind and (fates is None or self.fate(t) in fates)]

    def pick(self, kind: str, index: int, fates: tuple[str | None, ...] | None = None) -> Held:
        tokens = self.tokens(kind, fates)
        return tokens[index % len(tokens)]

    def of_session(self, session: Session) -> list[Held]:
        return [token for token in self.held if token.session is session]

    def hold(self, tokens: Tokens, session: Session, sent: float, received: float) -> Held | None:
        """Hold the access and refresh tokens of a 200 answer; returns the access token."""
        body = tokens.response.json()
        refresh_lifetime = body.get("refresh_expires_in")
        openid = "openid" in tokens.scope.split()
        access = None
        names = []
        for kind, value, lifetime in (
            ("access", tokens.access_token, tokens.expires_in),
            ("refresh", tokens.refresh_token, refresh_lifetime if isinstance(refresh_lifetime, int) else None),
        ):
            if value is None:
                continue
            held = Held(f"{kind[0]}{len(self.held) + 1}", kind, value, session, sent, received, lifetime, openid)
            self.held.append(held)
            names.append(held.name)
            access = held if kind == "access" else access
        self.steps[-1] += f" -> {', '.join(names)}" if names else ""
        return access

    def undetermine(self, session: Session, but: Held | None = None) -> None:
        """The documentation no longer says whether the session's tokens work (they may still be known dead)."""
        for token in self.of_session(session):
            if token is not but:
                token.undetermined = True

    # -- probes ---------------------------------------------------------------------------------------------------
    def probe(self, token: Held, call: Callable[[str], httpx.Response]) -> tuple[httpx.Response, str | None]:
        """`call(token)` and the token's fate while it ran (None when that changed meanwhile: a live target's clock
        ran past a limit)."""
        before = self.fate(token)
        response = call(token.value)
        return response, before if self.fate(token) == before else None

    def introspect(self, token: Held) -> None:
        if not self.oidc.confidential:
            return
        response, fate = self.probe(token, self.oidc.introspect)
        if fate == ALIVE:
            self.checks.active(response, "a live access token")
        elif fate in INTROSPECTION_CHECK:
            self.checks.inactive(response, INTROSPECTION_CHECK[fate], f"an access token, {fate}")
            token.confirmed_dead = True

    def teams(self, token: Held) -> None:
        response, fate = self.probe(token, self.oidc.teams)
        if fate == ALIVE:
            self.checks.refused(response, "bimplus.oidc.resource_accepts_bearer", "a live OIDC token", (200,))
        elif fate in RESOURCE_CHECK:
            self.checks.refused(response, RESOURCE_CHECK[fate], f"an access token, {fate}")
            token.confirmed_dead = True

    def userinfo(self, token: Held) -> None:
        response, fate = self.probe(token, self.oidc.userinfo)
        if fate == ALIVE and token.openid:
            self.checks.userinfo(response)
        elif fate == ALIVE:
            self.checks.error(response, "userinfo_without_openid", "bimplus.oidc.userinfo_scope")
        elif fate in USERINFO_DEAD and token.openid:
            self.checks.error(
                response, "userinfo_dead_token", "bimplus.oidc.userinfo_dead_token", f"an access token, {fate}"
            )
        elif fate in USERINFO_DEAD:  # dead and without openid: either refusal is documented
            self.checks.refused(
                response, "bimplus.oidc.userinfo_dead_token", f"an access token without openid, {fate}", (401, 403)
            )

    def verify(self, token: Held, everywhere: bool = True) -> None:
        """Introspection, the BIM+ API and userinfo agree with the model about an access token (introspection, or
        the BIM+ API without a confidential client, when not `everywhere`); a dead refresh token is refused."""
        if token.kind == "refresh":
            fate = self.fate(token)
            if fate in REFRESH_CHECK:
                self.refresh_refused(token, fate, self.oidc.refresh(token.value))
            return
        if not everywhere:
            (self.introspect if self.oidc.confidential else self.teams)(token)
            return
        self.introspect(token)
        self.teams(token)
        self.userinfo(token)

    def refresh_refused(self, token: Held, fate: str, response: httpx.Response) -> None:
        rule, check = REFRESH_CHECK[fate]
        self.checks.error(response, rule, check, f"a refresh token, {fate}")
        token.confirmed_dead = True

    def sweep(self, jumped: Held | None = None) -> None:
        for token in self.held:
            if token.kind == "access" and not token.confirmed_dead:
                self.verify(token, everywhere=token is jumped)

    # -- rules ----------------------------------------------------------------------------------------------------
    @rule(openid=st.booleans(), in_body=st.booleans())
    def login(self, openid: bool, in_body: bool) -> None:
        others = [name for name in self.oidc.scope.split() if name != "openid"]
        scope = " ".join(["openid", *others] if openid else others)
        with self.step(f"login{' with openid' if openid else ''}{' (client in the body)' if in_body else ''}"):
            sent = self.clock.now()
            response = self.oidc.password_login(self.user.user, self.user.password, scope=scope, in_body=in_body)
            tokens = self.checks.token(response, openid=openid, user_session=True, grant="password")
            if tokens is None or not tokens.live:
                return
            session = Session(f"s{len(self.sessions) + 1}")
            self.sessions.append(session)
            access = self.hold(tokens, session, sent, self.clock.now())
            if access is not None:
                self.verify(access)

    @precondition(lambda self: self.tokens("refresh"))
    @rule(index=token_index)
    def refresh(self, index: int) -> None:
        token = self.pick("refresh", index)
        with self.step(f"refresh with {token.name}"):
            fate, sent = self.fate(token), self.clock.now()
            response = self.oidc.refresh(token.value)
            if fate in REFRESH_CHECK:
                self.refresh_refused(token, fate, response)
                if fate == USED:  # RFC 9700 §4.14.2: the realm may now revoke the session's active refresh token
                    self.undetermine(token.session, but=token)
                return
            if fate is None and response.status_code != 200:
                token.confirmed_dead = True
                return
            tokens = self.checks.token(response, openid=token.openid, user_session=True, grant="refresh")
            if tokens is None or not tokens.live:
                return
            token.used = True
            for held in self.of_session(token.session):  # RFC 6749 §6 says nothing of the older access tokens
                if held.kind == "access":
                    held.undetermined = True
            access = self.hold(tokens, token.session, sent, self.clock.now())
            if access is not None:
                self.verify(access)

    @precondition(lambda self: self.tokens("access"))
    @rule(index=token_index, hint=st.booleans())
    def revoke_access(self, index: int, hint: bool) -> None:
        token = self.pick("access", index)
        with self.step(f"revoke {token.name}{' (hint access_token)' if hint else ''}"):
            fate = self.fate(token)
            response = self.oidc.revoke(token.value, "access_token" if hint else None)
            check = "bimplus.answers.status_200" if fate == ALIVE else "bimplus.oidc.revoke_any_token"
            if not self.checks.refused(response, check, "revocation of an access token", (200,)):
                return
            if fate in (ALIVE, None):
                token.revoked = True
                # RFC 7009 §2.1: the realm MAY revoke the refresh token (and so the whole grant) as well
                self.undetermine(token.session, but=token)
            self.verify(token)

    @precondition(lambda self: self.tokens("refresh"))
    @rule(index=token_index, hint=st.booleans())
    def revoke_refresh(self, index: int, hint: bool) -> None:
        token = self.pick("refresh", index)
        with self.step(f"revoke {token.name}{' (hint refresh_token)' if hint else ''}"):
            fate = self.fate(token)
            response = self.oidc.revoke(token.value, "refresh_token" if hint else None)
            check = "bimplus.answers.status_200" if fate == ALIVE else "bimplus.oidc.revoke_any_token"
            if not self.checks.refused(response, check, "revocation of a refresh token", (200,)):
                return
            if fate != ALIVE:  # an invalid token changes nothing (RFC 7009 §2.2), one of unknown state may
                if not token.session.ended:
                    self.undetermine(token.session)
                return
            token.session.ended = SESSION_REVOKED  # VENDORS.md §2: revoking a refresh token ends its session
            self.end(token.session)

    @precondition(lambda self: self.tokens("refresh", (ALIVE,)))
    @rule(index=token_index)
    def logout(self, index: int) -> None:
        token = self.pick("refresh", index, (ALIVE,))
        with self.step(f"logout with {token.name}"):
            response = self.oidc.logout(token.value)
            if not self.checks.refused(response, "bimplus.answers.status_200", "logout", (204, 200)):
                return
            token.session.ended = LOGGED_OUT
            self.end(token.session)

    def end(self, session: Session) -> None:
        """After a session ended: each of its access tokens is dead everywhere, its latest refresh token refused."""
        tokens = self.of_session(session)
        for held in tokens:
            if held.kind == "access" and not held.confirmed_dead:
                self.verify(held)
        refresh = [held for held in tokens if held.kind == "refresh"]
        if refresh:
            self.verify(refresh[-1])

    @precondition(lambda self: self.oidc.confidential and self.tokens("access"))
    @rule(index=token_index)
    def introspection(self, index: int) -> None:
        token = self.pick("access", index)
        with self.step(f"introspect {token.name}"):
            self.introspect(token)

    @precondition(lambda self: self.tokens("access"))
    @rule(index=token_index)
    def userinfo_call(self, index: int) -> None:
        token = self.pick("access", index)
        with self.step(f"userinfo with {token.name}"):
            self.userinfo(token)

    @precondition(lambda self: self.tokens("access"))
    @rule(index=token_index)
    def teams_call(self, index: int) -> None:
        token = self.pick("access", index)
        with self.step(f"teams with {token.name}"):
            self.teams(token)

    @precondition(lambda self: self.clock.sim is not None and self.tokens("access", (ALIVE,)))
    @rule(index=token_index)
    def jump_past_expiry(self, index: int) -> None:
        token = self.pick("access", index, (ALIVE,))
        assert token.lifetime is not None  # alive: its lifetime is known
        jump = max(0.0, token.received + token.lifetime - self.clock.now()) + TOLERANCE + 1
        with self.step(f"jump {jump:.0f} s, past the expiry of {token.name}"):
            self.clock.advance(jump)
            self.sweep(jumped=token)


def test_oidc_token_lifecycle(oidc, oidc_checks, oidc_contract, users, target, sim_or_none, expect, report):
    """Embedded: 60 sequences of up to 10 steps by default; live: a few sequences of 6 steps, not shrunk."""
    explore(
        lambda: OidcTokenMachine(
            oidc, oidc_checks, oidc_contract, target.settings, Clock(sim_or_none), users[0], expect
        ),
        vendor=VENDOR,
        target=target,
        sim=sim_or_none,
        report=report,
        what="stateful OIDC token lifecycle",
        embedded_factor=1,
        embedded_steps=10,
    )

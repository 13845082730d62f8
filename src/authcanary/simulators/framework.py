"""What every vendor simulator shares: virtual clock, deviation profiles, control plane, fault injection, serving.

A simulator is a starlette app. Besides the vendor's endpoints it answers a small control plane under
`/__authcanary__/` (the same in-process and over HTTP, so suites drive both alike):

    GET  /__authcanary__/info                          vendor, profile, virtual time
    POST /__authcanary__/clock   {"advance": 3600}     move the virtual clock forward
    POST /__authcanary__/fault   {"status": 500, "count": 1}   answer the next requests with that status
    POST /__authcanary__/reset                         forget every token, counter, fault and clock jump
"""
from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

CONTROL_PREFIX = "/__authcanary__"
DOCUMENTED = "documented"


class VirtualClock:
    """Wall-clock time plus an offset that only ever grows: a 2-hour expiry is one `advance(7200)` away."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the virtual clock never goes back")
        self.offset += seconds

    def reset(self) -> None:
        self.offset = 0.0


class SlidingWindowLimiter:
    """At most `limit` calls per `window` seconds per key, on the virtual clock. Memory stays bounded on a
    long-lived `serve`: keys with no call in the last window are dropped once per window."""

    def __init__(self, clock: VirtualClock, limit: int, window: float = 60.0) -> None:
        self.clock, self.limit, self.window = clock, limit, window
        self.calls: dict[str, deque[float]] = defaultdict(deque)
        self._swept = clock.now()

    def hit(self, key: str) -> float | None:
        """Count one call; returns None when allowed, else the seconds to wait (for Retry-After)."""
        now = self.clock.now()
        if abs(now - self._swept) >= self.window:  # abs: a reset clock jumps back
            self.calls = defaultdict(deque, {k: c for k, c in self.calls.items() if c and c[-1] > now - self.window})
            self._swept = now
        calls = self.calls[key]
        while calls and calls[0] <= now - self.window:
            calls.popleft()
        if len(calls) >= self.limit:
            return calls[0] + self.window - now
        calls.append(now)
        return None


class UnknownProfile(ValueError):
    pass


class Simulator:
    """Base class of a vendor simulator. Subclasses declare deviations, options and routes."""

    vendor: ClassVar[str]
    #: deviation name -> what it changes compared with the documented behaviour
    deviations: ClassVar[dict[str, str]] = {}
    #: option name -> default (e.g. a decommission date); set with `serve --option k=v` or targets `options`
    option_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, profile: str = DOCUMENTED, options: dict[str, Any] | None = None,
                 settings: dict[str, Any] | None = None) -> None:
        self.profile = profile
        self.active = self.parse_profile(profile)
        unknown = set(options or {}) - set(self.option_defaults)
        if unknown:
            raise UnknownProfile(f"unknown {self.vendor} simulator option(s): {', '.join(sorted(unknown))}; "
                                 f"known: {', '.join(sorted(self.option_defaults)) or 'none'}")
        self.options = {**self.option_defaults, **(options or {})}
        self.settings = {**self.default_settings(), **(settings or {})}
        self.clock = VirtualClock()
        self.faults: deque[int] = deque()
        self.reset_state()

    @classmethod
    def parse_profile(cls, profile: str) -> frozenset[str]:
        """`documented`, one deviation name, or several joined by commas."""
        names = {name.strip() for name in profile.split(",") if name.strip()} - {DOCUMENTED}
        unknown = names - set(cls.deviations)
        if unknown:
            raise UnknownProfile(f"unknown {cls.vendor} profile {', '.join(sorted(unknown))}; known: "
                                 f"{', '.join([DOCUMENTED, *sorted(cls.deviations)])}")
        return frozenset(names)

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        """The credentials the simulator registers, used by the embedded target unless overridden."""
        return {}

    def deviates(self, name: str) -> bool:
        assert name in self.deviations, f"undeclared deviation {name!r}"
        return name in self.active

    def reset_state(self) -> None:
        """Forget tokens, counters and sessions; subclasses extend."""

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def error_response(self, request: Request | None, status: int, error: str, description: str) -> Response:
        """The vendor's error body for `status`; subclasses shape it like the vendor does."""
        return JSONResponse({"error": error, "error_description": description}, status_code=status)

    def reset(self) -> None:
        self.clock.reset()
        self.faults.clear()
        self.reset_state()

    # -- control plane -------------------------------------------------------------------------------------
    async def _info(self, request: Request) -> Response:
        return JSONResponse({"vendor": self.vendor, "profile": self.profile, "now": self.clock.now(),
                             "deviations": self.deviations, "options": self.options})

    async def _clock(self, request: Request) -> Response:
        try:
            self.clock.advance(float((await request.json())["advance"]))
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            return JSONResponse({"error": f"expected {{\"advance\": seconds >= 0}}: {exc}"}, status_code=400)
        return JSONResponse({"now": self.clock.now()})

    async def _fault(self, request: Request) -> Response:
        try:
            body = await request.json()
            status, count = int(body["status"]), int(body.get("count", 1))
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            return JSONResponse({"error": f"expected {{\"status\": 500, \"count\": 1}}: {exc}"}, status_code=400)
        self.faults.extend([status] * count)
        return JSONResponse({"queued": list(self.faults)})

    async def _reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})

    def app(self) -> ASGIApp:
        control = [
            Route(f"{CONTROL_PREFIX}/info", self._info, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/clock", self._clock, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/fault", self._fault, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/reset", self._reset, methods=["POST"]),
        ]
        return _FaultInjector(Starlette(routes=[*control, *self.routes()]), self)


class _FaultInjector:
    """Answers queued faults (from the control plane) before the vendor routes see the request."""

    def __init__(self, app: ASGIApp, simulator: Simulator) -> None:
        self.inner, self.simulator = app, simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and self.simulator.faults and CONTROL_PREFIX not in path:
            status = self.simulator.faults.popleft()
            response = self.simulator.error_response(None, status, "server_error", "injected fault")
            await response(scope, receive, send)
            return
        await self.inner(scope, receive, send)


def build_app(simulators: dict[str, Simulator], prefix: str = "") -> ASGIApp:
    """One simulator at `prefix` (or the root), several under `{prefix}/{vendor}`."""
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    if len(simulators) == 1 and not prefix:
        return next(iter(simulators.values())).app()
    if len(simulators) == 1:
        return Starlette(routes=[Mount(prefix, app=next(iter(simulators.values())).app())])
    return Starlette(routes=[Mount(f"{prefix}/{name}", app=sim.app()) for name, sim in simulators.items()])

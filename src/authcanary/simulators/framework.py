"""What every vendor simulator shares: virtual clock, deviation profiles, control plane, fault injection, serving.

A simulator is a starlette app. Besides the vendor's endpoints it answers a small control plane under
`/__authcanary__/` (the same in-process and over HTTP, so suites drive both alike):

    GET  /__authcanary__/info                          vendor, profile, virtual time
    POST /__authcanary__/clock   {"advance": 3600}     move the virtual clock forward (up to ten years at once)
    POST /__authcanary__/fault   {"status": 500, "count": 1}   answer the next requests with that status (400..599;
                                                       at most 1000 queued)
    POST /__authcanary__/reset                         forget every token, counter, fault and clock jump

Every simulator also normalises repeated slashes in the path and answers CORS (both as vendors' gateways do), and
takes the operational options of `Conditions` (random faults, latency).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, ClassVar, Generic, TypeVar

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTROL_PREFIX = "/__authcanary__"
DOCUMENTED = "documented"
ANY_ORIGIN = ("*",)
#: response headers a browser script may read (retry logic, deprecation notices)
EXPOSED_HEADERS = ("Retry-After", "Deprecation", "Sunset")
MAX_CONTROL_BODY = 64 * 1024
MAX_QUEUED_FAULTS = 1000
MAX_CLOCK_ADVANCE = 3653 * 86400  # ten years, leap days included
RETRY_AFTER_STATUSES = (429, 503)
V = TypeVar("V")


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


class Every:
    """Due once per `seconds` of virtual time: when to sweep what a long-lived `serve` no longer needs."""

    def __init__(self, clock: VirtualClock, seconds: float) -> None:
        self.clock, self.seconds, self.last = clock, seconds, clock.now()

    def due(self) -> bool:
        now = self.clock.now()
        if abs(now - self.last) < self.seconds:  # abs: a reset clock jumps back
            return False
        self.last = now
        return True


class SlidingWindowLimiter:
    """At most `limit` calls per `window` seconds per key, on the virtual clock. Memory stays bounded on a
    long-lived `serve`: keys with no call in the last window are dropped once per window."""

    def __init__(self, clock: VirtualClock, limit: int, window: float = 60.0) -> None:
        self.clock, self.limit, self.window = clock, limit, window
        self.calls: dict[str, deque[float]] = defaultdict(deque)
        self._sweep = Every(clock, window)

    def hit(self, key: str) -> float | None:
        """Count one call; returns None when allowed, else the seconds to wait (for Retry-After)."""
        now = self.clock.now()
        if self._sweep.due():
            self.calls = defaultdict(deque, {k: c for k, c in self.calls.items() if c and c[-1] > now - self.window})
        calls = self.calls[key]
        while calls and calls[0] <= now - self.window:
            calls.popleft()
        if len(calls) >= self.limit:
            return calls[0] + self.window - now
        calls.append(now)
        return None


class ExpiringStore(Generic[V]):
    """Key -> value (tokens, sessions) that dies at `expires_at(value)` on the virtual clock. The dead are swept
    once a minute and the oldest dropped beyond `limit`, so a long-lived `serve` keeps bounded memory."""

    def __init__(self, clock: VirtualClock, expires_at: Callable[[V], float], limit: int) -> None:
        self.clock, self.expires_at, self.limit = clock, expires_at, limit
        self.stored: dict[str, V] = {}
        self._sweep = Every(clock, 60.0)

    def get(self, key: str) -> V | None:
        return self.stored.get(key)

    def __setitem__(self, key: str, value: V) -> None:
        if self._sweep.due():
            now = self.clock.now()
            self.stored = {k: v for k, v in self.stored.items() if self.expires_at(v) > now}
        self.stored[key] = value
        while len(self.stored) > self.limit:
            del self.stored[next(iter(self.stored))]  # insertion order: the oldest

    def __delitem__(self, key: str) -> None:
        del self.stored[key]

    def __len__(self) -> int:
        return len(self.stored)


class UnknownProfile(ValueError):
    pass


class Rejected(Exception):
    """A request refused before it is handled: answered with `status` and this message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Conditions:
    """Operational conditions, set as options (not deviations: a conforming vendor under them still passes every
    check): a `fault_rate` share of vendor-API requests answered with a fault drawn from `fault_status`, with
    Retry-After on 503/429, reproducibly from `fault_seed`; `latency` seconds before every vendor-API answer."""

    fault_rate: float = 0.0
    fault_statuses: tuple[int, ...] = (503,)
    fault_retry_after: int = 1
    fault_seed: int = 0
    latency: float = 0.0

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"fault_rate": 0.0, "fault_status": "503", "fault_retry_after": 1, "fault_seed": 0, "latency": 0.0}

    def as_options(self) -> dict[str, Any]:
        """These conditions as option values (what `/__authcanary__/info` reports)."""
        return {
            "fault_rate": self.fault_rate,
            "fault_status": ",".join(map(str, self.fault_statuses)),
            "fault_retry_after": self.fault_retry_after,
            "fault_seed": self.fault_seed,
            "latency": self.latency,
        }

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Conditions:
        """The conditions of `options` (strings from `--option`, numbers from TOML); a bad value is a ValueError."""
        retry_after = options["fault_retry_after"]
        return cls(
            fault_rate=_option_number(options, "fault_rate", 0, 1, "a number from 0 to 1"),
            fault_statuses=_fault_statuses(options["fault_status"]),
            fault_retry_after=0
            if retry_after in ("", None)
            else int(
                _option_number(
                    options,
                    "fault_retry_after",
                    0,
                    86400,
                    "whole seconds from 0 to 86400 (0 or empty: no header)",
                    integer=True,
                )
            ),
            fault_seed=int(_option_number(options, "fault_seed", -math.inf, math.inf, "an integer", integer=True)),
            latency=_option_number(options, "latency", 0, 60, "seconds from 0 to 60"),
        )


def _option_number(
    options: dict[str, Any], name: str, low: float, high: float, expected: str, integer: bool = False
) -> float:
    value = options[name]
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        number = (int if integer else float)(value.strip()) if isinstance(value, str) else value
        if (
            isinstance(number, float)
            and not math.isfinite(number)
            or not low <= number <= high
            or (integer and number != int(number))
        ):
            raise ValueError
    except ValueError:
        raise ValueError(f"simulator option {name} must be {expected}, not {value!r}") from None  # (not a credential)
    return number


def _fault_statuses(value: Any) -> tuple[int, ...]:
    """`fault_status`: one HTTP status 400..599, or several joined by commas ("503,500")."""
    parts = value if isinstance(value, list) else str(value).split(",") if not isinstance(value, bool) else [value]
    try:
        statuses = tuple(int(str(part).strip()) for part in parts)
        if not statuses or not all(400 <= status <= 599 for status in statuses):
            raise ValueError
    except ValueError:
        raise ValueError(
            "simulator option fault_status must be an HTTP status from 400 to 599, or several joined "
            f"by commas (e.g. 503,500), not {value!r}"
        ) from None
    return statuses


class Simulator:
    """Base class of a vendor simulator. Subclasses declare deviations, options and routes."""

    vendor: ClassVar[str]
    #: deviation name -> what it changes compared with the documented behaviour
    deviations: ClassVar[dict[str, str]] = {}
    #: option name -> default (e.g. a decommission date); set with `serve --option k=v` or targets `options`.
    #: A subclass's own defaults join the operational conditions every simulator has.
    option_defaults: ClassVar[dict[str, Any]] = Conditions.defaults()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.option_defaults = {**Simulator.option_defaults, **cls.option_defaults}

    def __init__(
        self, profile: str = DOCUMENTED, options: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> None:
        self.profile = profile
        self.active = self.parse_profile(profile)
        unknown = set(options or {}) - set(self.option_defaults)
        if unknown:
            raise UnknownProfile(
                f"unknown {self.vendor} simulator option(s): {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(self.option_defaults)) or 'none'}"
            )
        self.options = {**self.option_defaults, **(options or {})}
        self.conditions = Conditions.from_options(self.options)
        self.options.update(self.conditions.as_options())  # /info shows what is in force: numbers, not the strings
        self.random = random.Random(self.conditions.fault_seed)
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
            raise UnknownProfile(
                f"unknown {cls.vendor} profile {', '.join(sorted(unknown))}; known: "
                f"{', '.join([DOCUMENTED, *sorted(cls.deviations)])}"
            )
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

    def error_response(
        self, request: Request | None, status: int, error: str, description: str, headers: dict[str, str] | None = None
    ) -> Response:
        """The vendor's error body for `status`; subclasses shape it like the vendor does."""
        return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)

    def reset(self) -> None:
        """Forget state; the options (configuration) and the fault draws go on (the harness resets before every
        test: re-seeding there would give each test the same first draws, and a short test would never see a
        fault). A simulator's whole sequence of draws follows from `fault_seed`."""
        self.clock.reset()
        self.faults.clear()
        self.reset_state()

    def next_fault(self) -> int | None:
        """The status to answer this vendor-API request with instead: a queued fault, else a random one."""
        if self.faults:
            return self.faults.popleft()
        if self.conditions.fault_rate and self.random.random() < self.conditions.fault_rate:
            return self.random.choice(self.conditions.fault_statuses)
        return None

    def fault_response(self, status: int) -> Response:
        retry_after = self.conditions.fault_retry_after
        headers = {"Retry-After": str(retry_after)} if status in RETRY_AFTER_STATUSES and retry_after else None
        return self.error_response(None, status, "server_error", "injected fault", headers)

    # -- control plane -------------------------------------------------------------------------------------
    async def _info(self, request: Request) -> Response:
        return JSONResponse(
            {
                "vendor": self.vendor,
                "profile": self.profile,
                "now": self.clock.now(),
                "deviations": self.deviations,
                "options": self.options,
            }
        )

    async def _clock(self, request: Request) -> Response:
        expected = f'{{"advance": seconds}} with 0 <= seconds <= {MAX_CLOCK_ADVANCE} (ten years)'
        try:
            body = await control_body(request, expected)
            self.clock.advance(_number(body, "advance", 0, MAX_CLOCK_ADVANCE, expected, integer=False))
        except Rejected as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return JSONResponse({"now": self.clock.now()})

    async def _fault(self, request: Request) -> Response:
        expected = f'{{"status": 500, "count": 1}}: status an integer 400..599, count an integer 1..{MAX_QUEUED_FAULTS}'
        try:
            body = await control_body(request, expected)
            status = int(_number(body, "status", 400, 599, expected))
            count = int(_number({"count": 1, **body}, "count", 1, MAX_QUEUED_FAULTS, expected))
            if len(self.faults) + count > MAX_QUEUED_FAULTS:
                raise Rejected(400, f"at most {MAX_QUEUED_FAULTS} faults may be queued; {len(self.faults)} are")
        except Rejected as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        self.faults.extend([status] * count)
        return JSONResponse({"queued": list(self.faults)})

    async def _reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})

    def app(self, cors_origins: Iterable[str] = ANY_ORIGIN) -> ASGIApp:
        """The simulator as an ASGI app; browsers from `cors_origins` may call it (default: any origin)."""
        control = [
            Route(f"{CONTROL_PREFIX}/info", self._info, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/clock", self._clock, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/fault", self._fault, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/reset", self._reset, methods=["POST"]),
        ]
        app = VirtualDate(_Conditions(Starlette(routes=[*control, *self.routes()]), self), self.clock)
        return CollapseSlashes(
            CORSMiddleware(
                app,
                allow_origins=list(cors_origins),
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=EXPOSED_HEADERS,
            )
        )


async def control_body(request: Request, expected: str) -> dict[str, Any]:
    """The JSON object a control-plane request sends, read up to MAX_CONTROL_BODY bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_CONTROL_BODY:
            raise Rejected(413, f"the body is over {MAX_CONTROL_BODY} bytes; expected {expected}")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks))
    except ValueError as exc:  # also a number too long to convert (Python's integer digit limit)
        raise Rejected(
            400, f"the body is not JSON this plane can read ({type(exc).__name__}); expected {expected}"
        ) from None
    if not isinstance(body, dict):
        kind = {list: "an array", str: "a string", type(None): "null", bool: "a boolean"}.get(type(body), "a number")
        raise Rejected(400, f"the body is {kind}, not a JSON object; expected {expected}")
    return body


def _number(body: dict[str, Any], name: str, low: float, high: float, expected: str, integer: bool = True) -> float:
    """body[name], a JSON number (an integer if `integer`) from low to high, else Rejected (400)."""
    if name not in body:
        raise Rejected(400, f"'{name}' is missing; expected {expected}")
    value = body[name]
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:  # NaN compares False
        raise Rejected(400, f"'{name}' is {json.dumps(value)[:40]}; expected {expected}")
    return value


class _Conditions:
    """Before the vendor routes see a request: the latency, then a queued or random fault. The control plane is
    never delayed or faulted."""

    def __init__(self, app: ASGIApp, simulator: Simulator) -> None:
        self.inner, self.simulator = app, simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or CONTROL_PREFIX in scope.get("path", ""):
            await self.inner(scope, receive, send)
            return
        if self.simulator.conditions.latency:
            await asyncio.sleep(self.simulator.conditions.latency)
        status = self.simulator.next_fault()
        if status is None:
            await self.inner(scope, receive, send)
        else:
            await self.simulator.fault_response(status)(scope, receive, send)


class VirtualDate:
    """Every answer carries a `Date` (RFC 9110 §6.6.1: an origin server with a clock sends one) read off the virtual
    clock, in-process and over HTTP alike; a route that dates its answer itself keeps its own."""

    def __init__(self, app: ASGIApp, clock: VirtualClock) -> None:
        self.app, self.clock = app, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"date" for name, _ in headers):
                    headers.append((b"date", formatdate(self.clock.now(), usegmt=True).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, dated)


class CollapseSlashes:
    """Routes `//authentication/v2/token` as `/authentication/v2/token`, as the vendors' gateways do (the APS
    TypeScript SDK joins a base URL ending in `/` and a path starting with one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and "//" in scope["path"]:
            scope = {**scope, "path": re.sub("/{2,}", "/", scope["path"])}
            if scope.get("raw_path"):
                # some servers (and httpx's ASGI transport) leave the query string in raw_path: keep it as it is
                path, mark, query = scope["raw_path"].partition(b"?")
                scope["raw_path"] = re.sub(rb"/{2,}", b"/", path) + mark + query
        await self.app(scope, receive, send)


def build_app(simulators: dict[str, Simulator], prefix: str = "", cors_origins: Iterable[str] = ANY_ORIGIN) -> ASGIApp:
    """One simulator at `prefix` (or the root), several under `{prefix}/{vendor}`; repeated slashes are one, in the
    prefix too. Browsers from `cors_origins` may call them (default: any origin)."""
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    cors_origins = list(cors_origins)
    if len(simulators) == 1 and not prefix:
        return next(iter(simulators.values())).app(cors_origins)
    if len(simulators) == 1:
        mounts = [Mount(prefix, app=next(iter(simulators.values())).app(cors_origins))]
    else:
        mounts = [Mount(f"{prefix}/{name}", app=sim.app(cors_origins)) for name, sim in simulators.items()]
    return CollapseSlashes(Starlette(routes=mounts))

"""httpx clients bound to a vendor of a target: in-process ASGI for the embedded target, real HTTP otherwise.

Every request a suite sends goes through `GuardedTransport`, which counts it, enforces the live-safety
rules of DESIGN.md (request budget, pacing, honouring 429 Retry-After) and turns outages into
`TargetUnreachable` so they are reported as such, never as violations.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from authcanary.errors import TargetUnreachable

#: request extension a suite sets when it wants to see a 429 itself (the rate-limit probe)
RAW_429 = "authcanary.raw_429"
#: consecutive 5xx answers that count as an outage rather than a behaviour
SERVER_ERROR_STORM = 5
MAX_RETRY_AFTER = 60.0


class BudgetExhausted(Exception):
    """The vendor's request budget for this run is spent; remaining tests that need requests are skipped."""


@dataclass
class VendorStats:
    """What the run observed of one vendor's transport."""

    requests: int = 0
    consecutive_5xx: int = 0
    unreachable: str | None = None
    notes: list[str] = field(default_factory=list)


_OUTAGES = (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.RemoteProtocolError)


def send_or_mark_unreachable(inner: httpx.BaseTransport, request: httpx.Request, vendor: str,
                             stats: VendorStats) -> httpx.Response:
    """Sends `request`; an outage (no connection, no answer) marks the vendor unreachable and raises
    TargetUnreachable, and so does any later request to a vendor already marked."""
    if stats.unreachable:
        raise TargetUnreachable(vendor, stats.unreachable)
    try:
        return inner.handle_request(request)
    except _OUTAGES as exc:
        stats.unreachable = f"{type(exc).__name__}: {exc or 'no answer'} ({request.url.scheme}://" \
                            f"{request.url.host}:{request.url.port or ''})"
        raise TargetUnreachable(vendor, stats.unreachable) from exc


class GuardedTransport(httpx.BaseTransport):
    """Counts, paces and budgets requests; raises TargetUnreachable on outages."""

    def __init__(self, inner: httpx.BaseTransport, vendor: str, stats: VendorStats, *, budget: int | None,
                 min_interval: float = 0.0, sleep=time.sleep) -> None:
        self.inner, self.vendor, self.stats = inner, vendor, stats
        self.budget, self.min_interval, self.sleep = budget, min_interval, sleep
        self._last_sent = 0.0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.stats.unreachable:  # before the budget: an unreachable vendor is the news, not a spent budget
            raise TargetUnreachable(self.vendor, self.stats.unreachable)
        response = self._send(request)
        if response.status_code == 429 and not request.extensions.get(RAW_429):
            retry_after = _retry_after_seconds(response)
            if retry_after is not None:
                response.close()
                self.sleep(min(retry_after, MAX_RETRY_AFTER))
                response = self._send(request)
        return response

    def _send(self, request: httpx.Request) -> httpx.Response:
        if self.budget is not None and self.stats.requests >= self.budget:
            raise BudgetExhausted(f"{self.vendor}: request budget of {self.budget} spent")
        if self.min_interval:
            wait = self._last_sent + self.min_interval - time.monotonic()
            if wait > 0:
                self.sleep(wait)
            self._last_sent = time.monotonic()
        self.stats.requests += 1
        response = send_or_mark_unreachable(self.inner, request, self.vendor, self.stats)
        if response.status_code >= 500:
            self.stats.consecutive_5xx += 1
            if self.stats.consecutive_5xx >= SERVER_ERROR_STORM:
                self.stats.unreachable = f"{SERVER_ERROR_STORM} consecutive 5xx answers (last: " \
                                         f"{response.status_code})"
        else:
            self.stats.consecutive_5xx = 0
        return response

    def close(self) -> None:
        self.inner.close()


class ControlTransport(httpx.BaseTransport):
    """A simulator control plane's wire: uncounted, unbudgeted and unpaced (it is not the vendor's API), but an
    outage marks the vendor unreachable like one of its own requests (the check is then skipped, never failed)."""

    def __init__(self, inner: httpx.BaseTransport, vendor: str, stats: VendorStats) -> None:
        self.inner, self.vendor, self.stats = inner, vendor, stats

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return send_or_mark_unreachable(self.inner, request, self.vendor, self.stats)

    def close(self) -> None:
        self.inner.close()


class InProcessTransport(httpx.BaseTransport):
    """The embedded target's wire: runs an ASGI app in the calling thread, on a private event loop.

    starlette's TestClient transport hands every ASGI message to an event loop in a portal thread and back
    (~1 ms a request, the bulk of an in-process request); this runs the app where the request is made (~0.3 ms).
    Unlike TestClient it runs no lifespan (the simulators have none). Shared by every client of a session:
    `close()` (called whenever a client closes) keeps it usable; `shutdown()` ends it."""

    def __init__(self, app: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("testclient", 50000))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def exchange() -> httpx.Response:
            sent = httpx.Request(request.method, request.url, headers=request.headers, content=body,
                                 extensions=request.extensions)
            answer = await self._asgi.handle_async_request(sent)
            # a stream, as from a real wire: httpx reads and closes it, which also sets `elapsed`
            return httpx.Response(answer.status_code, headers=answer.headers,
                                  stream=httpx.ByteStream(await answer.aread()), extensions=answer.extensions)

        return self._loop.run_until_complete(exchange())

    def close(self) -> None:
        pass

    def shutdown(self) -> None:
        self._loop.close()


def _retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def bind_client(transport: httpx.BaseTransport, base_url: str, timeout: float = 15.0) -> httpx.Client:
    """An httpx client whose relative URLs resolve under `base_url` (which may carry a path prefix)."""
    return httpx.Client(transport=transport, base_url=base_url.rstrip("/") + "/", timeout=timeout,
                        follow_redirects=False)

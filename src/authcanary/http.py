"""httpx clients bound to a vendor of a target: in-process ASGI for the embedded target, real HTTP otherwise.

Every request a suite sends goes through `GuardedTransport`, which counts it, enforces the live-safety rules of
docs/architecture.md (request budget, pacing) and applies the one transient-failure policy of the harness
(`RetryPolicy`):

- `429` and `503` are outages by definition: retried after `Retry-After`, at most `retries` times per request and
  `retry_budget` times per run (every retry is a request of the budget); if the answer stays `429`/`503` the
  interaction is *lost to an outage*.
- any other `5xx` is retried the same way; one that goes away was an outage; one that comes back on every retry,
  while the same endpoint answers other requests normally (an earlier answer, or a bare request with no body and no
  credentials that gets a 4xx), is the vendor crashing on that request: a behaviour, handed to the checks. One that
  could not be retried (the run's retry budget is spent), or that comes back on an endpoint that answers nothing, is
  an outage. A `RAW` request (the check wants the first answer) is never retried; its 5xx is an outage only where
  the endpoint answers nothing.
- a lost interaction carries `OUTAGE` in its response extensions; the plugin never reports it as a violation or
  drift. `SERVER_ERROR_STORM` lost interactions in a row, or a connection that cannot be made, mark the vendor
  unreachable (`TargetUnreachable`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from authcanary.errors import TargetUnreachable

#: request extension of a check that wants the vendor's first answer as it is, never retried (the rate-limit probe,
#: an injected fault whose answer is the subject of the check)
RAW = "authcanary.raw"
#: response extension set on an interaction lost to an outage: why (e.g. "503 after 2 retries")
OUTAGE = "authcanary.outage"
#: consecutive interactions lost to outages that make the vendor unreachable for the rest of the run
SERVER_ERROR_STORM = 5
#: statuses that say "not now" (retry later), never "this request is wrong"
UNAVAILABLE = frozenset({429, 503})


class BudgetExhausted(Exception):
    """The vendor's request budget for this run is spent; remaining tests that need requests are skipped."""


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried (targets keys `retries`, `retry_budget`)."""

    retries: int = 2
    #: retries allowed per run and vendor (None: unlimited)
    budget: int | None = 50
    #: the longest Retry-After honoured, in seconds (a longer one is waited for this long)
    max_wait: float = 60.0
    #: the wait before retrying a 5xx that gives no Retry-After
    backoff: float = 0.5


@dataclass(frozen=True)
class LostInteraction:
    """An interaction lost to an outage: no answer the checks could judge."""

    endpoint: str
    status: int
    reason: str


@dataclass
class VendorStats:
    """What the run observed of one vendor's transport."""

    requests: int = 0
    #: interactions (a request and its retries count once)
    interactions: int = 0
    #: requests sent again after a transient failure
    retries: int = 0
    lost: list[LostInteraction] = field(default_factory=list)
    consecutive_lost: int = 0
    #: endpoint -> answers that were not server errors (the endpoint works: a 5xx that persists there is a crash)
    answered: Counter[str] = field(default_factory=Counter)
    #: 5xx answers that came back on every retry from an endpoint that works: handed to the checks as the vendor's
    #: (a hypothesis example that then passes on replay was not a crash but an outage: see the plugin)
    crashes: int = 0
    unreachable: str | None = None
    notes: list[str] = field(default_factory=list)


_OUTAGES = (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.RemoteProtocolError)


def send_or_mark_unreachable(
    inner: httpx.BaseTransport, request: httpx.Request, vendor: str, stats: VendorStats
) -> httpx.Response:
    """Sends `request`; an outage (no connection, no answer) marks the vendor unreachable and raises
    TargetUnreachable, and so does any later request to a vendor already marked."""
    if stats.unreachable:
        raise TargetUnreachable(vendor, stats.unreachable)
    try:
        return inner.handle_request(request)
    except _OUTAGES as exc:
        stats.unreachable = (
            f"{type(exc).__name__}: {exc or 'no answer'} ({request.url.scheme}://"
            f"{request.url.host}:{request.url.port or ''})"
        )
        raise TargetUnreachable(vendor, stats.unreachable) from exc


class GuardedTransport(httpx.BaseTransport):
    """Counts, paces and budgets requests, retries transient failures (`RetryPolicy`) and marks interactions lost
    to outages; raises TargetUnreachable when the vendor cannot be reached."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        vendor: str,
        stats: VendorStats,
        *,
        budget: int | None,
        min_interval: float = 0.0,
        retry: RetryPolicy = RetryPolicy(),
        base_path: str = "",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner, self.vendor, self.stats = inner, vendor, stats
        self.budget, self.min_interval, self.retry, self.sleep = budget, min_interval, retry, sleep
        self.base_path = base_path.rstrip("/")
        self._last_sent = 0.0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.stats.unreachable:  # before the budget: an unreachable vendor is the news, not a spent budget
            raise TargetUnreachable(self.vendor, self.stats.unreachable)
        self.stats.interactions += 1
        endpoint, raw = self.endpoint(request), bool(request.extensions.get(RAW))
        response = self._send(request)
        retried = 0
        while not raw and _transient(response.status_code) and retried < self.retry.retries and self._may_retry():
            wait = self._wait_before_retry(response)
            response.close()
            self.sleep(wait)
            retried += 1
            self.stats.retries += 1
            response = self._send(request)
        status = response.status_code
        if not _transient(status) or (raw and status < 500):
            self.stats.consecutive_lost = 0
            self.stats.answered[endpoint] += 1
        elif raw:
            if not self._works(request, endpoint):  # handed over as it is, unless the endpoint answers nothing
                self._lose(response, endpoint, retried, raw)
        elif status in UNAVAILABLE or not retried or not self._works(request, endpoint):
            # "not now", a 5xx there was no retry to confirm, or an endpoint that answers nothing: an outage
            self._lose(response, endpoint, retried, raw)
        else:
            self.stats.crashes += 1  # it came back on every retry while the endpoint works: the vendor's answer
        return response

    def endpoint(self, request: httpx.Request) -> str:
        """`METHOD /path` as the vendor documents it (the target's base path left out)."""
        path = request.url.path
        if self.base_path and path.startswith(self.base_path + "/"):
            path = path[len(self.base_path) :]
        return f"{request.method} {path}"

    def _works(self, request: httpx.Request, endpoint: str) -> bool:
        """Whether the endpoint is up although it keeps failing `request`: it answered before, or the same method
        and URL with no body and no credentials gets any answer but a server error (a 4xx says the endpoint works;
        one request, the first time an endpoint that never answered fails; never recorded)."""
        if self.stats.answered[endpoint]:
            return True
        probe = self._send(httpx.Request(request.method, request.url, extensions={RAW: True}))
        probe.read()
        if probe.status_code < 500:
            self.stats.answered[endpoint] += 1
        return probe.status_code < 500

    def _may_retry(self) -> bool:
        return self.retry.budget is None or self.stats.retries < self.retry.budget

    def _wait_before_retry(self, response: httpx.Response) -> float:
        retry_after = _retry_after_seconds(response)
        return min(self.retry.backoff if retry_after is None else retry_after, self.retry.max_wait)

    def _lose(self, response: httpx.Response, endpoint: str, retried: int, raw: bool) -> None:
        if raw:
            reason = f"{response.status_code} (not retried: the check asked for the first answer)"
        else:
            reason = f"{response.status_code} after {retried} retr{'y' if retried == 1 else 'ies'}"
            if retried < self.retry.retries:
                reason += " (retry budget of the run spent)"
        response.extensions[OUTAGE] = reason
        self.stats.lost.append(LostInteraction(endpoint, response.status_code, reason))
        self.stats.consecutive_lost += 1
        if self.stats.consecutive_lost >= SERVER_ERROR_STORM:
            self.stats.unreachable = (
                f"{SERVER_ERROR_STORM} interactions in a row lost to outages (5xx or 429 "
                f"answers; last: {endpoint} answered {reason})"
            )

    def _send(self, request: httpx.Request) -> httpx.Response:
        if self.budget is not None and self.stats.requests >= self.budget:
            raise BudgetExhausted(f"{self.vendor}: request budget of {self.budget} spent")
        if self.min_interval:
            wait = self._last_sent + self.min_interval - time.monotonic()
            if wait > 0:
                self.sleep(wait)
            self._last_sent = time.monotonic()
        self.stats.requests += 1
        return send_or_mark_unreachable(self.inner, request, self.vendor, self.stats)

    def close(self) -> None:
        self.inner.close()


def _transient(status: int) -> bool:
    return status in UNAVAILABLE or status >= 500


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
    (~1 ms a request); httpx's ASGITransport wants an async client, and per request looks for trio by a failing
    import (~0.1 ms). This runs the app where the request is made, straight from the request as the client built
    it: one ASGI scope, the body in one message, the answer as a byte stream (~0.05 ms besides the app). Unlike
    TestClient it runs no lifespan (the simulators have none). Shared by every client of a session: `close()`
    (called whenever a client closes) keeps it usable; `shutdown()` ends it."""

    #: the client address the app sees (as starlette's TestClient gives it)
    CLIENT = ("testclient", 50000)

    def __init__(self, app: Any) -> None:
        self._app = app
        self._loop = asyncio.new_event_loop()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(name.lower(), value) for name, value in request.headers.raw],
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "server": (url.host, url.port),
            "client": self.CLIENT,
            "root_path": "",
        }
        status, headers, body = self._loop.run_until_complete(self._exchange(scope, request.read()))
        # a stream, as from a real wire: httpx reads and closes it, which also sets `elapsed`
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))

    async def _exchange(self, scope: dict[str, Any], body: bytes) -> tuple[int, list[Any], bytes]:
        """One ASGI exchange; an app that fails before it answers is a 500 (as a server would answer)."""
        status: int | None = None
        headers: list[Any] = []
        parts: list[bytes] = []
        complete = asyncio.Event()
        received = False

        async def receive() -> dict[str, Any]:
            nonlocal received
            if received:  # the body was read: what comes next is the client going away, once answered
                await complete.wait()
                return {"type": "http.disconnect"}
            received = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body":
                if message.get("body") and scope["method"] != "HEAD":
                    parts.append(message["body"])
                if not message.get("more_body", False):
                    complete.set()

        try:
            await self._app(scope, receive, send)
        except Exception:
            complete.set()
        if status is None:
            return 500, [], b""
        if not complete.is_set():
            raise RuntimeError(f"the app did not finish its answer to {scope['method']} {scope['path']}")
        return status, headers, b"".join(parts)

    def close(self) -> None:
        pass

    def shutdown(self) -> None:
        self._loop.close()


def _retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After in seconds: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); None when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


class _AnswerCookies(httpx.Cookies):
    """A client's cookie jar that reads an answer's headers for cookies only when the answer sets one: httpx builds
    an `email.message.Message` of every answer's headers to look (~0.03 ms a request), which finds nothing in one
    without `Set-Cookie`."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            super().extract_cookies(response)


class _Client(httpx.Client):
    """`httpx.Client` keeping its cookies in an `_AnswerCookies` jar (the same cookies, found the same way)."""

    @property
    def cookies(self) -> httpx.Cookies:
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._cookies = _AnswerCookies(cookies)


def bind_client(transport: httpx.BaseTransport, base_url: str, timeout: float = 15.0) -> httpx.Client:
    """An httpx client whose relative URLs resolve under `base_url` (which may carry a path prefix)."""
    return _Client(transport=transport, base_url=base_url.rstrip("/") + "/", timeout=timeout, follow_redirects=False)

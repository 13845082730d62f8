"""The transient-failure policy of the HTTP layer (authcanary.http.GuardedTransport, RetryPolicy)."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from authcanary.errors import TargetUnreachable
from authcanary.http import OUTAGE, RAW, SERVER_ERROR_STORM, BudgetExhausted, GuardedTransport, RetryPolicy, VendorStats


class Script(httpx.BaseTransport):
    """Answers each request with the next status of `statuses` (the last one forever), counting what it got."""

    def __init__(self, *statuses: int, headers: dict[str, str] | None = None) -> None:
        self.statuses, self.headers, self.sent = list(statuses), headers or {}, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        status = self.statuses[min(self.sent, len(self.statuses) - 1)]
        self.sent += 1
        return httpx.Response(status, headers=self.headers if status >= 429 else {}, json={"n": self.sent})


def guarded(
    inner: httpx.BaseTransport,
    stats: VendorStats | None = None,
    budget: int | None = None,
    retry: RetryPolicy | None = None,
    waits: list[float] | None = None,
    base_path: str = "",
) -> tuple[httpx.Client, VendorStats]:
    stats = stats or VendorStats()
    retry = retry or RetryPolicy()
    transport = GuardedTransport(
        inner,
        "acme",
        stats,
        budget=budget,
        retry=retry,
        base_path=base_path,
        sleep=(waits if waits is not None else []).append,
    )
    return httpx.Client(transport=transport, base_url="http://vendor.test/api/"), stats


def test_503_with_retry_after_is_retried_after_waiting_and_is_not_lost():
    waits: list[float] = []
    client, stats = guarded(Script(503, 200, headers={"Retry-After": "1"}), waits=waits)
    response = client.post("token")
    assert response.status_code == 200 and OUTAGE not in response.extensions
    assert waits == [1.0]
    assert (stats.requests, stats.interactions, stats.retries, stats.lost) == (2, 1, 1, [])


def test_retry_after_as_an_http_date_is_honoured():
    waits: list[float] = []
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    client, _ = guarded(Script(429, 200, headers={"Retry-After": later}), waits=waits)
    assert client.get("x").status_code == 200
    assert 25 <= waits[0] <= 30


def test_a_long_retry_after_is_capped():
    waits: list[float] = []
    client, _ = guarded(Script(503, 200, headers={"Retry-After": "3600"}), waits=waits, retry=RetryPolicy(max_wait=5))
    client.get("x")
    assert waits == [5]


def test_a_persistent_503_is_an_interaction_lost_to_an_outage():
    client, stats = guarded(Script(503), retry=RetryPolicy(retries=2))
    response = client.post("token")
    assert response.status_code == 503
    assert response.extensions[OUTAGE] == "503 after 2 retries"
    assert stats.requests == 3 and stats.retries == 2
    assert [(lost.endpoint, lost.status) for lost in stats.lost] == [("POST /api/token", 503)]


def test_the_lost_endpoint_is_named_without_the_targets_base_path():
    client, stats = guarded(Script(503), base_path="/api")
    client.post("token")
    assert stats.lost[0].endpoint == "POST /token"


def test_a_5xx_that_goes_away_was_an_outage_not_a_finding():
    client, stats = guarded(Script(500, 502, 200))
    assert client.get("x").status_code == 200
    assert stats.retries == 2 and stats.lost == []


def test_a_5xx_every_time_on_an_endpoint_that_works_is_the_vendor_crashing_not_an_outage():
    """docs/architecture.md "Outage or bug": the 500 is handed to the checks (a violation), not hidden as an outage."""
    inner = Script(200, 500)
    client, stats = guarded(inner)
    assert client.post("token").status_code == 200
    crashed = client.post("token", data={"shape": "the one that crashes"})
    assert crashed.status_code == 500 and OUTAGE not in crashed.extensions
    assert stats.lost == [] and stats.retries == 2


def test_a_5xx_every_time_on_an_endpoint_that_never_answered_is_an_outage():
    client, stats = guarded(Script(500))
    assert OUTAGE in client.post("token").extensions
    assert len(stats.lost) == 1


def test_retries_stop_when_the_runs_retry_budget_is_spent():
    client, stats = guarded(Script(503), retry=RetryPolicy(retries=2, budget=3))
    client.get("a")
    response = client.get("b")
    assert stats.retries == 3
    assert response.extensions[OUTAGE] == "503 after 1 retry (retry budget of the run spent)"


def test_retries_count_against_the_request_budget():
    client, stats = guarded(Script(503, 503, 200), budget=2)
    with pytest.raises(BudgetExhausted):
        client.get("x")
    assert stats.requests == 2


def test_raw_requests_get_the_first_answer_as_it_is():
    inner = Script(429, 200, headers={"Retry-After": "1"})
    client, stats = guarded(inner)
    response = client.get("x", extensions={RAW: True})
    assert response.status_code == 429 and inner.sent == 1
    assert stats.retries == 0 and stats.lost == []


def test_a_storm_of_lost_interactions_makes_the_vendor_unreachable():
    client, stats = guarded(Script(503), retry=RetryPolicy(retries=0))
    for _ in range(SERVER_ERROR_STORM):
        client.get("x")
    assert stats.unreachable and "in a row" in stats.unreachable
    with pytest.raises(TargetUnreachable):
        client.get("x")


def test_an_answered_interaction_ends_a_storm():
    inner = Script(*([503] * (SERVER_ERROR_STORM - 1)), 200, *([503] * (SERVER_ERROR_STORM - 1)))
    client, stats = guarded(inner, retry=RetryPolicy(retries=0))
    for _ in range(2 * SERVER_ERROR_STORM - 1):
        client.get("x")
    assert stats.unreachable is None and len(stats.lost) == 2 * (SERVER_ERROR_STORM - 1)


def test_a_5xx_every_time_on_an_endpoint_that_answers_a_bare_request_is_a_crash_from_the_first_request():
    """The crash is the first thing the endpoint does (no earlier answer): a bare request (no body, no credentials)
    that gets a 4xx shows the endpoint is up, so the 500 is the vendor's answer to that shape."""
    seen: list[bytes] = []

    def vendor(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(500 if request.content else 400)

    client, stats = guarded(httpx.MockTransport(vendor))
    crashed = client.post("token", data={"grant_type": "client_credentials"})
    assert crashed.status_code == 500 and OUTAGE not in crashed.extensions
    assert seen.count(b"") == 1 and stats.lost == []
    client.post("token", data={"grant_type": "client_credentials"})
    assert seen.count(b"") == 1, "the endpoint is known to work: no second probe"


def test_once_the_retry_budget_is_spent_a_5xx_is_an_outage_never_taken_for_a_crash():
    """Only a 5xx that came back on a retry can be the vendor's answer; one that could not be retried is not known."""
    client, stats = guarded(Script(200, 500, 500, 500, 500), retry=RetryPolicy(retries=2, budget=0))
    assert client.post("token").status_code == 200
    answer = client.post("token")
    assert OUTAGE in answer.extensions and stats.crashes == 0 and len(stats.lost) == 1


def test_a_crash_is_counted():
    client, stats = guarded(Script(200, 500))
    client.post("token")
    client.post("token")
    assert stats.crashes == 1 and stats.lost == []


def test_a_raw_5xx_from_an_endpoint_that_answers_nothing_is_counted_as_lost():
    client, stats = guarded(Script(500))
    answer = client.post("token", extensions={RAW: True})
    assert answer.status_code == 500 and OUTAGE in answer.extensions
    assert [lost.reason for lost in stats.lost] == ["500 (not retried: the check asked for the first answer)"]

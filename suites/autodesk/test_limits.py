"""The documented rate limit (500 calls per minute per client). Simulators only: never hammer a live vendor."""

from __future__ import annotations

import pytest

from authcanary.suite import RAW
from suites.autodesk.api import ENDPOINT


def test_429_past_the_documented_rate_limit(api, checks, contract, sim):
    limit = contract.endpoint(ENDPOINT[2])["rate_limit"]
    statuses, first_429 = [], None
    # RAW: each answer as it is (a retried 429 would hide the limit); a server error is an outage answer that the
    # vendor's limiter did not count either, so it is not counted here (bounded: twice the limit at most)
    for _ in range(2 * (limit["calls"] + 1)):
        response = api.token(2, credentials="basic", extensions={RAW: True})
        if response.status_code < 500:
            statuses.append(response.status_code)
        if response.status_code == 429 and first_429 is None:
            first_429 = response
        if len(statuses) == limit["calls"] + 1:
            break
    else:
        pytest.skip(
            f"{len(statuses)} of {2 * (limit['calls'] + 1)} calls answered (the others 5xx): an outage, "
            "the limit could not be probed"
        )
    checks.rate_limited(statuses, first_429, response, limit)
    sim.advance(limit["per_seconds"] + 1)
    checks.served_after_window(api.token(2, scope=None, credentials="basic"))

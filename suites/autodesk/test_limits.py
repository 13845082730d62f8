"""The documented rate limit (500 calls per minute per client). Simulators only: never hammer a live vendor."""
from __future__ import annotations

import pytest

from authcanary.http import RAW
from suites.autodesk.aps import ENDPOINT, check_error_response
from strategies.autodesk import FORM, V2, basic


def test_429_past_the_documented_rate_limit(client, target, expect, contract, sim):
    limit = contract.endpoint(ENDPOINT[2])["rate_limit"]
    headers = {"Content-Type": FORM,
               "Authorization": basic(target.settings["client_id"], target.settings["client_secret"])}
    statuses = []
    # RAW: each answer as it is (a retried 429 would hide the limit); a server error is an outage answer that the
    # vendor's limiter did not count either, so it is not counted here (bounded: twice the limit at most)
    for _ in range(2 * (limit["calls"] + 1)):
        response = client.post(V2, data={"grant_type": "client_credentials", "scope": "data:read"},
                               headers=headers, extensions={RAW: True})
        if response.status_code < 500:
            statuses.append(response.status_code)
        if len(statuses) == limit["calls"] + 1:
            break
    else:
        pytest.skip(f"{len(statuses)} of {2 * (limit['calls'] + 1)} calls answered (the others 5xx): an outage, "
                    "the limit could not be probed")
    expect.that(statuses[:-1].count(429) == 0, "v2: the first 500 calls in a minute are served",
                endpoint=ENDPOINT[2], expected="no 429 before the limit",
                observed=f"first 429 at call {statuses.index(429) + 1 if 429 in statuses else '-'}")
    check_error_response(expect, response, 429, f"v2: call {limit['calls'] + 1} within a minute gets 429")
    if response.status_code == 429:
        retry_after = response.headers.get("Retry-After", "")
        expect.that(retry_after.isdigit(), "v2: 429 carries Retry-After (seconds)", response=response,
                    expected="Retry-After: <seconds>", observed=f"Retry-After: {retry_after or 'absent'}")
    sim.advance(limit["per_seconds"] + 1)
    after = client.post(V2, data={"grant_type": "client_credentials"}, headers=headers)
    expect.status(after, 200, "v2: calls are served again once the minute has passed")

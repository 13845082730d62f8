"""Token lifetimes without time travel, so live targets are checked too: token info's remaining lifetime, sampled
twice at least 2 s apart, decreases by the elapsed time (± the contract's clock tolerance)."""

from __future__ import annotations

from suites.bimplus.legacy import seconds

SAMPLE_GAP_SECONDS = 2.0


def test_remaining_lifetime_runs_down_with_the_clock(api, checks, clock, expect, users):
    token = checks.token(clock.timed(lambda: api.authorize(users[0])), users[0])
    if token is None:
        return
    first = clock.timed(lambda: api.token_info(token.value))
    clock.wait(SAMPLE_GAP_SECONDS)
    second = clock.timed(lambda: api.token_info(token.value))
    for probe in (first, second):  # each answer is token info as documented (never more than issued, never up)
        checks.token_info(probe, token)
    samples = [checks.body(probe.response, "TokenInfo") for probe in (first, second)]
    if None in samples:
        return
    decrease = seconds(samples[0]["expires_in"]) - seconds(samples[1]["expires_in"])
    low = second.sent - first.received - checks.tolerance
    high = second.received - first.sent + checks.tolerance
    expect.that(
        low <= decrease <= high,
        "bimplus.token_info.remaining_follows_clock",
        response=second.response,
        detail=f"sampled {SAMPLE_GAP_SECONDS:.0f} s apart",
        expected=f"a decrease between {low:.1f} and {high:.1f} s",
        observed=f"expires_in {samples[0]['expires_in']} then {samples[1]['expires_in']}",
    )

"""Property-based request validation: hostile authorize and cross-authorize requests (missing, extra and mistyped
fields, wrong content types, huge values, unicode e-mails, remember_me as a string, wrong passwords) and malformed
tokens on every token-protected call, from strategies/bimplus.py.

Each kind gets its own share of the target's example budget, so every kind runs even on a live target. Requests
that could count as a failed login for a configured account spend the run's failed-login budget (live: 3); once it
is spent the strategies stop producing them.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authcanary.suite import hypothesis_settings
from strategies.bimplus import AUTHORIZE, CROSS_TOKEN, KINDS, hostile_requests, malformed_authorizations
from suites.bimplus.legacy import login

VENDOR = "bimplus"
SETTINGS = hypothesis_settings(VENDOR)
PER_KIND = settings(SETTINGS, max_examples=max(2, SETTINGS.max_examples // 4))


@pytest.mark.parametrize("kind", KINDS)
@PER_KIND
@given(data=st.data())
def test_hostile_requests_are_refused_as_documented(kind, client, target, expect, checks, login_probes, data):
    hostile = data.draw(hostile_requests(kind, login(target.settings), login_probes.available()), label="request")
    with expect.example():
        if hostile.risks_lockout:
            login_probes.spend()
        response = hostile.send(client)
        if not checks.refused(response, hostile.allowed, "bimplus.hostile.refused", hostile.kind):
            return
        if hostile.remember_me is not None and response.status_code == 200:
            body = expect.json_object(response, "bimplus.answers.json_body", hostile.kind)
            if body is not None:
                expect.that(
                    ("remember_me_token" in body) == hostile.remember_me,
                    "bimplus.remember_me.string_honoured",
                    response=response,
                    detail=hostile.kind,
                    expected="honoured like the bool (remember_me_token iff true), or a 4xx",
                    observed=f"200 with fields {sorted(body)}",
                )


@settings(SETTINGS, max_examples=max(2, SETTINGS.max_examples // 2))
@given(data=st.data())
def test_malformed_tokens_get_401_everywhere(client, target, expect, checks, data):
    paths = (
        ("GET", AUTHORIZE),
        ("GET", target.settings["teams_path"]),
        ("POST", CROSS_TOKEN),
        ("DELETE", target.settings["logout_path"]),
    )
    hostile = data.draw(malformed_authorizations(paths), label="request")
    with expect.example():
        checks.refused(hostile.send(client), hostile.allowed, "bimplus.hostile.refused", hostile.kind)

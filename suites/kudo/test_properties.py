"""Property-based checks (strategies/kudo.py): generate then verify gives back exactly the parameters sent, for
arbitrary JSON objects of editor parameters (unicode, nesting, numbers, empty values, the empty object); hostile
generate and verify requests are refused as documented.

Sized by the target (`max_examples`: 60 per property on the embedded simulators, 10 on a live target; each kind of
hostile request gets its own share of it, so every kind runs on a live target too). On a violation the minimal
example hypothesis found is what gets reported, with a curl reproduction.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authcanary.suite import hypothesis_settings
from strategies.kudo import KINDS, editor_parameters, hostile_requests

VENDOR = "kudo"
SETTINGS = hypothesis_settings(VENDOR)
PER_KIND = settings(SETTINGS, max_examples=max(2, SETTINGS.max_examples // 4))


@SETTINGS
@given(data=st.data())
def test_generate_then_verify_gives_back_exactly_the_parameters(api, checks, clock, expect, data):
    parameters = data.draw(editor_parameters(), label="parameters")
    with expect.example():
        issued = checks.issued(clock.timed(lambda: api.generate(parameters)), parameters, "drawn parameters")
        if issued is not None:
            checks.verified(api.verify(issued.token), issued, "drawn parameters")


@pytest.mark.parametrize("kind", KINDS)
@PER_KIND
@given(data=st.data())
def test_hostile_requests_are_refused_as_documented(kind, client, target, checks, expect, data):
    hostile = data.draw(hostile_requests(kind, target.settings["api_key"], checks.bad_body_statuses), label="request")
    with expect.example():
        checks.hostile(hostile.send(client), hostile.allowed, hostile.kind)

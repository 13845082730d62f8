"""Deterministic scenarios (recorded as cassettes, compared with the baseline): the documented examples, parameters
of every JSON kind, the documented errors, and (on simulators) a token's life up to its expiration_time."""

from __future__ import annotations

import pytest

from strategies.kudo import DOCUMENTED_EXAMPLES

pytestmark = pytest.mark.scenario

#: parameters of every kind the documentation allows ("all URL parameters as JSON body"): what a service that turns
#: them into URL parameters, normalises unicode, flattens objects or drops empty values would change
RICH_PARAMETERS = {
    "file": "Ｐｌａｎ ﬁnal – Straße.dwg",  # fullwidth letters and a ligature (NFKC folds them), an en dash, ß
    "userId": "e\u0301mile \U0001f9d1\u200d\U0001f4bb",  # a combining accent (NFC composes it), a ZWJ emoji
    "server": "",  # empty values
    "auth": None,
    "tags": [],
    "options": {},
    "viewer": {"theme": "dark", "panels": {"left": True, "right": False}, "zoom": 1.5},  # nested objects
    "layers": ["0", "Defpoints", {"name": "Ebene 1", "visible": True}],
    "count": 3,  # numbers
    "offset": -42,
    "ratio": 0.1,
    "tiny": 5e-324,
    "huge": 1.7976931348623157e308,
    "big": 2**53 + 1,  # beyond double precision: kept exactly, or reported as info
    "\u05e2\u05d1\u05e8\u05d9\u05ea": "\u0645\u0631\u062d\u0628\u0627",  # right-to-left name and value
}
FIRST = {"file": "first.dwg", "userId": "1"}
SECOND = {"file": "second.dwg", "userId": "2"}
UNKNOWN_TOKEN = "0b7e3b4e-2f7a-4c1e-9d0a-5c3e8f1a2b6d"  # a uuid no service issued


@pytest.mark.parametrize("parameters", DOCUMENTED_EXAMPLES, ids=["s3-file", "verify-example"])
def test_documented_example_round_trip(api, checks, clock, parameters):
    issued = checks.issued(clock.timed(lambda: api.generate(parameters)), parameters, "documented example")
    if issued is not None:
        checks.verified(api.verify(issued.token), issued, "documented example")


def test_parameters_of_every_json_kind_come_back_exactly(api, checks, clock):
    issued = checks.issued(clock.timed(lambda: api.generate(RICH_PARAMETERS)), RICH_PARAMETERS, "every JSON kind")
    if issued is not None:
        checks.verified(api.verify(issued.token), issued, "every JSON kind")


def test_empty_parameters_get_a_token(api, checks, clock):
    issued = checks.issued(clock.timed(lambda: api.generate({})), {}, "the empty object")
    if issued is not None:
        checks.verified(api.verify(issued.token), issued, "the empty object")


def test_each_token_verifies_to_its_own_parameters(api, checks, clock):
    first = checks.issued(clock.timed(lambda: api.generate(FIRST)), FIRST, "first of two")
    second = checks.issued(clock.timed(lambda: api.generate(SECOND)), SECOND, "second of two")
    if first is None or second is None:
        return
    checks.verified(api.verify(first.token), first, "the first of two tokens", others=[second])
    checks.verified(api.verify(second.token), second, "the second of two tokens", others=[first])


def test_the_same_parameters_get_a_fresh_token(api, checks, clock):
    parameters = DOCUMENTED_EXAMPLES[0]
    first = checks.issued(clock.timed(lambda: api.generate(parameters)), parameters, "the same parameters twice")
    timed = clock.timed(lambda: api.generate(parameters))
    second = checks.issued(timed, parameters, "the same parameters twice")
    if first is not None and second is not None:
        checks.fresh(timed.response, second.token, {first.token}, "the same parameters twice")


def test_a_second_verify_answers_the_parameters_again_or_403(api, checks, clock):
    """Whether a token survives its verification is not documented (semantics.yaml ambiguities): the first verify
    must answer the parameters, a second one may do so again or answer 403; the recording shows which."""
    parameters = DOCUMENTED_EXAMPLES[1]
    issued = checks.issued(clock.timed(lambda: api.generate(parameters)), parameters, "documented example")
    if issued is None or checks.verified(api.verify(issued.token), issued, "first verify") is None:
        return
    again = api.verify(issued.token)
    if again.status_code == 200:
        checks.verified(again, issued, "second verify")
    else:
        checks.forbidden(again, "kudo.verify.bad_token_403", "second verify of a token (one use)")


@pytest.mark.parametrize("key", ["kudo-not-a-partner-key-0000", None], ids=["wrong", "missing"])
def test_generate_without_the_partner_key_is_403(api, checks, key):
    checks.forbidden(
        api.generate(DOCUMENTED_EXAMPLES[0], key=key), "kudo.generate.bad_key_403", f"{'wrong' if key else 'no'} key"
    )


@pytest.mark.parametrize("token", [UNKNOWN_TOKEN, "not-a-token", None], ids=["unknown-uuid", "malformed", "missing"])
def test_verify_of_a_token_not_issued_is_403(api, checks, token):
    case = {UNKNOWN_TOKEN: "an unknown uuid", None: "no x-api-token"}.get(token, "a malformed token")
    checks.forbidden(api.verify(token), "kudo.verify.bad_token_403", case)


def test_a_body_that_is_not_json_is_refused(api, checks):
    """The partner key with a form instead of JSON: refused (403, or what HTTP frameworks answer), never quoting
    the key back."""
    response = api.generate(content=b"file=test.dwg&userId=123")
    checks.hostile(response, checks.bad_body_statuses, "body not JSON (a form)")
    if response.status_code == checks.error_status:
        checks.message(response, "body not JSON (a form)")


def test_a_token_lives_until_its_expiration_time_then_403(api, checks, clock, sim):
    """Simulators only (time travel): the token verifies up to expiration_time and is refused after it."""
    parameters = DOCUMENTED_EXAMPLES[0]
    issued = checks.issued(clock.timed(lambda: api.generate(parameters)), parameters, "documented example")
    if issued is None or issued.expiration_time is None:
        return  # when it dies cannot be told (the generate answer's violations say why)
    clock.advance(max(0.0, issued.expiration_time - checks.margin - clock.now()))
    checks.verified(
        api.verify(issued.token),
        issued,
        f"{checks.margin:.0f} s before expiration_time",
        check="kudo.verify.valid_until_expiration",
    )
    clock.advance(max(0.0, issued.expiration_time + checks.margin - clock.now()))
    checks.forbidden(
        api.verify(issued.token), "kudo.verify.expired_token_403", f"{checks.margin:.0f} s after expiration_time"
    )

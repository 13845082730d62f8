"""Deterministic scenarios of the legacy service: each documented flow once, and the documented refusals
(recorded as cassettes)."""

from __future__ import annotations

import json

import pytest

from authcanary.suite import reveal
from strategies.bimplus import AUTHORIZE, CLIENT_ERRORS, CROSS_TOKEN, bimplus_auth
from suites.bimplus.legacy import Account

pytestmark = pytest.mark.scenario
# Client ids from the seed's examples: fixed, so a recording replays (a fresh one per run would not).
CLIENT_ID = "0864b512-1776-4a55-8ee5-2b19d7d9b7ea"
OTHER_CLIENT_ID = "9fd0bb9d-570b-4719-bfae-93e2f879c19a"


def test_authorize_token_info_and_teams(api, checks, clock, users):
    """A password login gives a BimPlus token; token info describes it; it opens a protected resource."""
    token = checks.token(clock.timed(lambda: api.authorize(users[0])), users[0])
    if token is None:
        return
    checks.token_info(clock.timed(lambda: api.token_info(token.value)), token)
    checks.body(api.teams(token.value), "Teams")


def test_authorize_returns_the_client_id_it_was_given(api, checks, clock, users):
    token = checks.token(
        clock.timed(lambda: api.authorize(users[0], client_id=CLIENT_ID)), users[0], client_id=CLIENT_ID
    )
    if token is not None:
        checks.token_info(clock.timed(lambda: api.token_info(token.value)), token)


def test_application_id_is_mandatory(api, checks, users):
    checks.refused(
        api.authorize(users[0], omit=("application_id",)), CLIENT_ERRORS, "bimplus.authorize.application_id_mandatory"
    )


def test_remember_me_login_yields_fresh_working_tokens(api, checks, clock, expect, users):
    issued = checks.remember_me(clock.timed(lambda: api.authorize(users[0], remember_me=True)), users[0])
    if issued is None:
        return
    previous, remember = issued
    for _ in range(2):
        token = checks.token(
            clock.timed(lambda: api.remember_me_login(remember.value, remember.client_id)),
            users[0],
            lifetime="remember_me_access",
            client_id=remember.client_id,
        )
        if token is None:
            return
        expect.that(
            token.value != previous.value,
            "bimplus.remember_me.fresh_access_token",
            response=token.timing.response,
            expected="an access token not issued before",
            observed="the previous access token again",
        )
        checks.token_info(clock.timed(lambda token=token: api.token_info(token.value)), token)
        previous = token


def test_remember_me_as_the_examples_string(api, expect, users):
    """The tables say bool, the examples send "true": honoured like true, or refused with a 4xx."""
    response = api.authorize(users[0], remember_me="true")
    if response.status_code in CLIENT_ERRORS:
        return
    body = expect.json_object(response, "bimplus.answers.json_body")
    if body is not None:
        expect.that(
            "remember_me_token" in body,
            "bimplus.remember_me.string_honoured",
            response=response,
            detail='remember_me "true"',
            expected="a remember_me_token, or a 4xx",
            observed=f"fields: {sorted(body)}",
        )


def test_cross_token_is_single_use(api, checks, clock, users):
    token = checks.token(clock.timed(lambda: api.authorize(users[0])), users[0])
    cross = token and checks.cross_token(clock.timed(lambda: api.cross_token(token.value)), token)
    if cross is None:
        return
    second = checks.token(clock.timed(lambda: api.cross_authorize(cross.value)), users[0])
    if second is not None:
        checks.token_info(clock.timed(lambda: api.token_info(token.value)), token)
        checks.token_info(clock.timed(lambda: api.token_info(second.value)), second)  # the same user_id
    checks.dead(api.cross_authorize(cross.value), "used cross token")


def test_cross_token_dies_after_299_seconds(api, checks, clock, contract, users, sim):
    token = checks.token(clock.timed(lambda: api.authorize(users[0])), users[0])
    cross = token and checks.cross_token(clock.timed(lambda: api.cross_token(token.value)), token)
    if cross is None:
        return
    dead_after = contract.semantics["lifetimes"]["cross_token"]["dead_after_seconds"]
    clock.advance(dead_after + checks.tolerance + 1)
    checks.dead(api.cross_authorize(cross.value), f"expired (older than {dead_after} s) cross token")


def test_access_token_dies_when_it_expires(api, checks, clock, users, sim):
    token = checks.token(clock.timed(lambda: api.authorize(users[0])), users[0])
    if token is None:
        return
    clock.advance(token.expires_in + checks.tolerance + 1)
    for response in (api.token_info(token.value), api.teams(token.value), api.cross_token(token.value)):
        checks.dead(response, "expired token")


def test_logout_ends_every_token_of_the_user(api, checks, clock, expect, users):
    """Every token of the user issued before the logout dies (other clients', cross and remember-me tokens
    included); other users' tokens and tokens issued afterwards work."""
    user = users[0]
    presented = checks.token(clock.timed(lambda: api.authorize(user)), user)
    other_client = checks.token(
        clock.timed(lambda: api.authorize(user, client_id=OTHER_CLIENT_ID)), user, client_id=OTHER_CLIENT_ID
    )
    remembered = checks.remember_me(clock.timed(lambda: api.authorize(user, remember_me=True)), user)
    cross = other_client and checks.cross_token(clock.timed(lambda: api.cross_token(other_client.value)), other_client)
    bystander = checks.token(clock.timed(lambda: api.authorize(users[1])), users[1]) if len(users) > 1 else None
    if not (presented and other_client and remembered and cross):
        return
    if not expect.status(api.logout(presented.value), 200, "bimplus.answers.status_200"):
        return
    for response in (api.token_info(presented.value), api.teams(presented.value), api.cross_token(presented.value)):
        checks.dead(response, "logged-out token")
    checks.dead(api.token_info(other_client.value), "logged-out token (another client of the same user)")
    checks.dead(api.token_info(remembered[0].value), "logged-out token (remember-me access of the same user)")
    checks.dead(api.remember_me_login(remembered[1].value, remembered[1].client_id), "logged-out remember-me token")
    checks.dead(api.cross_authorize(cross.value), "logged-out cross token")
    if bystander is not None:
        checks.token_info(clock.timed(lambda: api.token_info(bystander.value)), bystander)
    clock.wait(1.0)  # a service that keeps whole seconds: the next token is unambiguously issued after the logout
    after = checks.token(clock.timed(lambda: api.authorize(user)), user)
    if after is not None:
        checks.token_info(clock.timed(lambda: api.token_info(after.value)), after)


# Parametrized by name, not by header: parameters are written to junit and allure, and a token-shaped value
# there is indistinguishable from a leaked one.
@pytest.mark.parametrize("token", ["missing", "unknown"])
def test_missing_and_unknown_tokens_get_401(api, checks, client, token):
    header = bimplus_auth("0" * 32) if token == "unknown" else {}
    for method, path in (
        ("GET", AUTHORIZE),
        ("GET", api.teams_path),
        ("POST", CROSS_TOKEN),
        ("DELETE", api.logout_path),
    ):
        checks.dead(client.request(method, path, headers=header), f"{token} token")


def test_bad_credentials_get_401(api, contract, expect, users, login_probes):
    status = contract.endpoint(f"POST {AUTHORIZE}")["bad_credentials_status"]
    stranger = Account("stranger", "nobody@unknown.invalid", users[0].password)
    expect.status(api.authorize(stranger), status, "bimplus.authorize.bad_credentials_refused", "unknown user")
    if not login_probes.available():
        pytest.skip("the failed-login budget of this run is spent (accounts lock)")
    login_probes.spend()
    wrong = Account(users[0].name, users[0].user, reveal(users[0].password) + "-wrong")
    expect.status(api.authorize(wrong), status, "bimplus.authorize.bad_credentials_refused", "wrong password")


def test_wrong_content_type_is_refused(api, checks, client, contract, users):
    content_type = contract.endpoint(f"POST {AUTHORIZE}")["content_type"]
    body = json.dumps(
        {"user_id": users[0].user, "password": reveal(users[0].password), "application_id": api.application_id}
    )
    checks.refused(
        client.post(AUTHORIZE, content=body, headers={"Content-Type": "text/plain"}),
        CLIENT_ERRORS,
        "bimplus.authorize.json_content_type",
        f"text/plain instead of {content_type}",
    )

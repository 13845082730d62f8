"""Deterministic scenarios (recorded as cassettes, compared with the baseline): both steps with the optional scope
present and absent, and which refusal is which: 401 for a missing, malformed, forged or expired bearer
("re-authenticate"), 400 for a malformed request ("re-authenticating won't help")."""

from __future__ import annotations

import pytest

from authcanary.suite import is_placeholder
from strategies.axeobim import forgeable, forged

pytestmark = pytest.mark.scenario


@pytest.mark.parametrize("send_scope", [True, False], ids=["scope", "no-scope"])
def test_client_token(api, checks, send_scope):
    checks.token(api.client_token(send_scope=send_scope), "client", detail="scope" if send_scope else "no scope")


@pytest.mark.parametrize("send_scope", [True, False], ids=["scope", "no-scope"])
def test_user_token(api, checks, send_scope):
    """Step 1, then step 2 with its token: a user token of its own."""
    token = api.fresh_client_token()
    if token is None:
        pytest.skip("step 1 gave no client token (judged by test_client_token)")
    response = api.user_token(token, send_scope=send_scope)
    checks.distinct(response, checks.token(response, "user", detail="scope" if send_scope else "no scope"), token)


@pytest.mark.parametrize(
    "case",
    ["grant_type missing", "grant_type password", "client_id missing"],
)
def test_client_malformed_request_gets_400(api, checks, case):
    if case == "grant_type missing":
        response = api.client_token(grant_type=None)
    elif case == "grant_type password":
        response = api.client_token(grant_type="password")
    else:
        response = api.client_token_without("client_id")
    checks.refused(response, 400, "axeobim.request.malformed_400", detail=case)


@pytest.mark.parametrize("case", ["wrong client_secret", "unknown client_id"])
def test_client_wrong_credentials_get_no_token(api, checks, contract, case):
    allowed = contract.endpoint("POST /oauth/authenticate")["statuses"]["bad_client"]
    if case == "wrong client_secret":
        response = api.client_token(client_secret="not-the-secret-0000")
    else:
        response = api.client_token(client_id="no-such-client-0000")
    checks.refused(response, allowed, "axeobim.client.bad_credentials_refused", detail=case)


@pytest.mark.parametrize(
    "case",
    ["grant_type missing", "grant_type client_credentials", "email missing", "email repeated"],
)
def test_user_malformed_request_with_a_valid_bearer_gets_400(api, checks, case):
    """The bearer is fine: re-authenticating won't help, the request must change (400)."""
    token = api.fresh_client_token()
    if token is None:
        pytest.skip("step 1 gave no client token (judged by test_client_token)")
    if case == "grant_type missing":
        response = api.user_token(token, grant_type=None)
    elif case == "grant_type client_credentials":
        response = api.user_token(token, grant_type="client_credentials")
    elif case == "email missing":
        response = api.user_token(token, send_email=False)
    else:
        response = api.user_token(token, extra=(("email", api.email),))
    checks.refused(response, 400, "axeobim.request.malformed_400", detail=case)


def test_user_without_bearer_gets_401(api, checks):
    checks.refused(api.user_token(None), 401, "axeobim.bearer.missing_401")


#: Authorization headers that hold no valid token (named, so that no token-shaped value is a test parameter)
MALFORMED_BEARERS = {
    "garbage": "Bearer not-a-token",
    "jwt-shaped": "Bearer " + ".".join(["eyJhbGciOiJSUzI1NiJ9", "eyJzdWIiOiIxIn0", "c2lnbmF0dXJl"]),
    "basic": "Basic " + "dXNlcjpwYXNz",
}


@pytest.mark.parametrize("case", sorted(MALFORMED_BEARERS))
def test_user_with_a_malformed_bearer_gets_401(api, checks, case):
    response = api.user_token(None, authorization=MALFORMED_BEARERS[case])
    checks.refused(response, 401, "axeobim.bearer.malformed_401", detail=case)


@pytest.mark.parametrize("how", ["foreign-key", "unsigned", "tampered"])
def test_user_with_a_forged_bearer_gets_401(api, checks, how):
    """A genuine client token's claims under another key's signature (the harness signs it itself), no signature,
    or the vendor's signature over changed claims: re-authenticate (401)."""
    token = api.fresh_client_token()
    if token is None:
        pytest.skip("step 1 gave no client token (judged by test_client_token)")
    if is_placeholder(token):
        fake = token  # replayed: the recording answers
    elif forgeable(token):
        fake = forged(token, how)
    else:
        pytest.skip("the client token is no JWT, there are no claims to forge (axeobim.client.access_token_jwt)")
    checks.refused(api.user_token(fake), 401, "axeobim.bearer.bad_signature_401", detail=how)


def test_user_with_an_expired_client_token_gets_401(api, checks, sim):
    """The client token is used past its expires_in (virtual clock): 401, re-authenticate; a fresh one works."""
    response = api.client_token()
    body = checks.token(response, "client")
    if body is None or not isinstance(body.get("expires_in"), int):
        pytest.skip("step 1 gave no client token with an integer expires_in (judged by test_client_token)")
    sim.advance(body["expires_in"] + 2)
    checks.refused(api.user_token(body["access_token"]), 401, "axeobim.bearer.expired_401")
    checks.token(api.user_token(api.fresh_client_token()), "user", detail="after re-authenticating")

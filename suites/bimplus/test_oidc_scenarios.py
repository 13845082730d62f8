"""Deterministic scenarios of the Bimplus OIDC provider (a Keycloak realm): discovery, the grants, refresh rotation,
revocation, introspection, userinfo, logout, and the BIM+ API with OIDC tokens (recorded as cassettes).

Black box, no browser: the user logs in with the portal's user name and password (resource-owner password grant), as
VENDORS.md §2 documents for scripts and CI."""

from __future__ import annotations

import pytest

from authcanary.suite import reveal
from suites.bimplus.oidc import OidcClient, Tokens, forge, read_tokens

pytestmark = pytest.mark.scenario
STRANGER = "nobody@unknown.invalid"
UNKNOWN_TOKEN = "0" * 40  # no realm issued it: revocation must still answer 200 (RFC 7009 §2.2)


def login(oidc, oidc_checks, users, *, scope: str | None = None, in_body: bool = False) -> Tokens | None:
    """The first user's password login, judged; None when it gave no token."""
    asked = oidc.scope if scope is None else scope
    response = oidc.password_login(users[0].user, users[0].password, scope=scope, in_body=in_body)
    tokens = oidc_checks.token(response, openid="openid" in asked.split(), user_session=True, grant="password")
    return tokens if tokens is not None and tokens.live else None


def test_discovery_is_consistent(oidc, oidc_checks):
    """The discovery document names exactly its issuer and every endpoint the harness needs, each of which answers,
    and the signing algorithms it advertises are the ones the tokens use."""
    metadata = oidc_checks.discovery(oidc.discovery())
    oidc.use_metadata(metadata)
    if metadata is None:
        return
    for name in oidc_checks.semantics["discovery"]["endpoints"]:
        if isinstance(metadata.get(name), str):
            oidc_checks.endpoint_answers(name, oidc.probe(name))


def test_password_login_gives_verified_tokens(oidc, oidc_checks, users):
    """Password grant, the client authenticated with HTTP Basic: a Keycloak token body, no-store, an id_token for
    openid, and access/ID tokens whose kid is published, whose signature verifies and whose claims are documented."""
    oidc_checks.discovery(oidc.discovery())  # the advertised algorithms, to compare with the tokens'
    login(oidc, oidc_checks, users)


def test_password_login_with_the_client_in_the_body(oidc, oidc_checks, users):
    """RFC 6749 §2.3.1: client_id and client_secret in the body are accepted as well as HTTP Basic."""
    login(oidc, oidc_checks, users, in_body=True)


def test_client_credentials_give_a_service_token(oidc, oidc_checks):
    """client_credentials (a service account): a token without a refresh token or a user session."""
    if not oidc.confidential:
        pytest.skip("client_credentials needs a confidential client (targets oidc_client_secret)")
    oidc_checks.token(oidc.client_credentials(), openid=False, user_session=False, grant="client_credentials")


def test_bad_user_credentials_get_400_invalid_grant(oidc, oidc_checks, users, login_probes):
    """RFC 6749 §5.2: invalid_grant is 400 (older Keycloak releases answered 401). An unknown user first (no account
    can lock), then the configured user with a wrong password within the run's failed-login budget."""
    unknown = oidc.password_login(STRANGER, users[0].password)
    oidc_checks.error(unknown, "bad_user_credentials", "bimplus.oidc.bad_credentials_status", "unknown user")
    if not login_probes.available():
        pytest.skip("the failed-login budget of this run is spent (accounts lock)")
    login_probes.spend()
    wrong = oidc.password_login(users[0].user, reveal(users[0].password) + "-wrong")
    oidc_checks.error(wrong, "bad_user_credentials", "bimplus.oidc.bad_credentials_status", "wrong password")


def test_bad_client_secret_gets_401_invalid_client(oidc, oidc_checks, users):
    if not oidc.confidential:
        pytest.skip("a public client has no secret to get wrong")
    wrong = OidcClient(oidc.harness.client_id, reveal(oidc.harness.secret or "") + "-wrong")
    form = {"grant_type": "password", "username": users[0].user, "password": reveal(users[0].password)}
    oidc_checks.error(oidc.token(form, client=wrong), "bad_client", "bimplus.oidc.bad_client_status")


def test_unsupported_grant_type_is_an_rfc6749_error(oidc, oidc_checks):
    response = oidc.token({"grant_type": "urn:example:unsupported"})
    oidc_checks.error_body(response, "unsupported grant_type")


def test_refresh_rotates_the_refresh_token(oidc, oidc_checks, users, target):
    """A refresh gives fresh verified tokens; with rotation (targets oidc_refresh_rotation, default on) the used
    refresh token is refused with 400 invalid_grant (RFC 9700 §4.14.2)."""
    tokens = login(oidc, oidc_checks, users)
    if tokens is None or tokens.refresh_token is None:
        return
    refreshed = oidc_checks.token(
        oidc.refresh(tokens.refresh_token), openid="openid" in tokens.scope.split(), user_session=True, grant="refresh"
    )
    if refreshed is None or not target.settings["oidc_refresh_rotation"]:
        return
    oidc_checks.error(oidc.refresh(tokens.refresh_token), "used_refresh_token", "bimplus.oidc.refresh_rotation")


def test_a_revoked_access_token_is_dead_everywhere(oidc, oidc_checks, users):
    """RFC 7009: after revocation the access token is inactive at introspection, and refused by userinfo and by the
    BIM+ API."""
    tokens = login(oidc, oidc_checks, users)
    if tokens is None or tokens.access_token is None:
        return
    oidc_checks.expect.status(oidc.revoke(tokens.access_token, "access_token"), 200, "bimplus.answers.status_200")
    if oidc.confidential:
        oidc_checks.inactive(
            oidc.introspect(tokens.access_token), "bimplus.oidc.revoked_access_inactive", "revoked access token"
        )
    oidc_checks.refused(oidc.teams(tokens.access_token), "bimplus.oidc.revoked_access_refused", "revoked access token")
    oidc_checks.error(oidc.userinfo(tokens.access_token), "userinfo_dead_token", "bimplus.oidc.userinfo_dead_token")


def test_a_revoked_refresh_token_ends_its_session(oidc, oidc_checks, users):
    tokens = login(oidc, oidc_checks, users)
    if tokens is None or tokens.refresh_token is None or tokens.access_token is None:
        return
    oidc_checks.expect.status(oidc.revoke(tokens.refresh_token, "refresh_token"), 200, "bimplus.answers.status_200")
    if oidc.confidential:
        oidc_checks.inactive(
            oidc.introspect(tokens.access_token),
            "bimplus.oidc.revoke_refresh_ends_session",
            "the session's access token",
        )
    oidc_checks.error(
        oidc.refresh(tokens.refresh_token),
        "ended_session_refresh",
        "bimplus.oidc.revoke_refresh_ends_session",
        "the revoked refresh token",
    )


def test_revoking_an_unknown_token_answers_200(oidc, oidc_checks):
    response = oidc.revoke(UNKNOWN_TOKEN)
    oidc_checks.refused(response, "bimplus.oidc.revoke_any_token", "an unknown token", statuses=(200,))


def test_introspection_needs_client_authentication(oidc, oidc_checks, users):
    """RFC 7662 §2.1: a confidential client sees a live token active; nobody unauthenticated sees anything."""
    if not oidc.confidential:
        pytest.skip("introspection needs a confidential client (targets oidc_client_secret)")
    tokens = login(oidc, oidc_checks, users)
    if tokens is None or tokens.access_token is None:
        return
    oidc_checks.active(oidc.introspect(tokens.access_token), "a live access token")
    oidc_checks.error(
        oidc.introspect(tokens.access_token, authenticate=False),
        "introspection_unauthenticated",
        "bimplus.oidc.introspection_auth",
    )


def test_userinfo_needs_the_openid_scope(oidc, oidc_checks, users):
    """UserInfo answers an openid token with the user's claims, and refuses a token without openid (403)."""
    tokens = login(oidc, oidc_checks, users)
    if tokens is not None and tokens.access_token is not None and "openid" in tokens.scope.split():
        oidc_checks.userinfo(oidc.userinfo(tokens.access_token))
    plain = read_tokens(oidc.password_login(users[0].user, users[0].password, scope="profile"))
    if plain is not None and plain.access_token is not None:
        oidc_checks.error(oidc.userinfo(plain.access_token), "userinfo_without_openid", "bimplus.oidc.userinfo_scope")


def test_logout_ends_the_session(oidc, oidc_checks, users):
    """End-session: afterwards the session's refresh token is refused and its access token is dead."""
    tokens = login(oidc, oidc_checks, users)
    if tokens is None or tokens.refresh_token is None or tokens.access_token is None:
        return
    oidc_checks.refused(oidc.logout(tokens.refresh_token), "bimplus.answers.status_200", "logout", statuses=(204, 200))
    oidc_checks.error(
        oidc.refresh(tokens.refresh_token), "ended_session_refresh", "bimplus.oidc.logout_ends_session", "refresh"
    )
    if oidc.confidential:
        oidc_checks.inactive(
            oidc.introspect(tokens.access_token), "bimplus.oidc.logout_ends_session", "the session's access token"
        )
    oidc_checks.error(
        oidc.userinfo(tokens.access_token), "userinfo_dead_token", "bimplus.oidc.userinfo_dead_token", "logged out"
    )


def test_the_bim_api_takes_oidc_tokens_and_refuses_forged_ones(oidc, oidc_checks, checks, users):
    """GET /v2/teams accepts a live Bearer access token (and answers the documented teams), and refuses the same
    claims signed by a key the realm never published (RFC 9068 §4)."""
    tokens = login(oidc, oidc_checks, users)
    if tokens is None or tokens.access_token is None:
        return
    teams = oidc.teams(tokens.access_token)
    if oidc_checks.refused(teams, "bimplus.oidc.resource_accepts_bearer", "a live OIDC token", statuses=(200,)):
        checks.body(teams, "Teams")
    forged = forge(tokens.access_token)
    if forged is not None:
        oidc_checks.refused(oidc.teams(forged), "bimplus.oidc.resource_verifies_signature", "a forged signature")


def test_expired_tokens_are_dead(oidc, oidc_checks, users, clock):
    """Past expires_in (simulator clock) an access token is inactive at introspection and refused by the BIM+ API."""
    if clock.sim is None:
        pytest.skip("time travel needs a simulator (on a live target expiry is judged from exp and expires_in)")
    tokens = login(oidc, oidc_checks, users)
    if tokens is None or tokens.access_token is None or tokens.expires_in is None:
        return
    clock.advance(tokens.expires_in + 2)
    if oidc.confidential:
        oidc_checks.inactive(
            oidc.introspect(tokens.access_token), "bimplus.oidc.introspection_expired", "expired access token"
        )
    oidc_checks.refused(oidc.teams(tokens.access_token), "bimplus.oidc.resource_refuses_expired", "expired")


def test_tokens_verify_across_a_signing_key_rotation(oidc, oidc_checks, users, sim_or_none, published_keys):
    """After the realm rotates its signing key (simulator control plane, as Keycloak's key providers do), a token
    signed before still verifies with the published JWKS, and a new token carries a kid that is published."""
    if sim_or_none is None:
        pytest.skip("rotating the realm's keys needs a simulator's control plane")
    before = login(oidc, oidc_checks, users)
    if before is None or before.access_token is None:
        return
    sim_or_none.command("rotate-keys")
    published_keys.forget()
    oidc_checks.access_token(before.response, before.access_token, before.expires_in, user_session=True)
    login(oidc, oidc_checks, users)

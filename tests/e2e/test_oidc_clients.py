"""Real OIDC clients against the Bimplus realm of `authcanary serve`, at the root (`--vendor bimplus`) and mounted
(`--vendor all`: the realm at /bimplus/realms/bimplus): authlib's OAuth2 clients (httpx and requests) read the
discovery document and run the password grant, refresh, revocation and introspection; PyJWT's PyJWKClient verifies
access tokens from jwks_uri (audience and issuer checked), across a key rotation too; authlib's ID token claims
(on joserfc) verify the id_token and its at_hash; the BIM+ API takes the tokens as `Bearer`."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from authcanary.simulators.bimplus import BimplusSimulator
from conftest import Served, serve_simulator

with warnings.catch_warnings():
    import authlib.deprecate  # noqa: F401  its import adds simplefilter("always") for its own warning class...

    warnings.simplefilter("ignore")  # ...so ignore after it: authlib warns that its httpx integration is deprecated
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.oidc.core import CodeIDToken

SETTINGS = BimplusSimulator.default_settings()
CID, SECRET = SETTINGS["oidc_client_id"], SETTINGS["oidc_client_secret"]
AUDIENCE, SCOPE = SETTINGS["oidc_audience"], SETTINGS["oidc_scope"]
USER, PASSWORD = SETTINGS["user"], SETTINGS["password"]
LEGACY_LOGIN = {"user_id": USER, "password": PASSWORD, "application_id": SETTINGS["application_id"]}
CLIENTS = {"httpx": OAuth2Client, "requests": OAuth2Session}


@pytest.fixture(scope="module", params=["bimplus", "all"], ids=["vendor-bimplus", "vendor-all"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `authcanary serve --vendor bimplus|all` for the module."""
    with serve_simulator(request.param, "documented", log_dir=tmp_path_factory.mktemp("oidc")) as server:
        yield server


@pytest.fixture
def base(served: Served) -> str:
    """The Bimplus simulator's base URL, reset for the test."""
    url = served.vendor_url("bimplus")
    assert httpx.post(f"{url}/__authcanary__/reset").status_code == 200
    return url


@pytest.fixture
def metadata(base: str) -> dict[str, Any]:
    """The realm's discovery document, fetched as a client does."""
    response = httpx.get(f"{base}/realms/bimplus/.well-known/openid-configuration")
    assert response.status_code == 200
    return response.json()


def oauth_client(kind: str, method: str = "client_secret_basic", **kwargs: Any) -> Any:
    secret = None if method == "none" else SECRET
    client_id = "bimplus-public" if method == "none" else CID
    return CLIENTS[kind](client_id, secret, scope=SCOPE, token_endpoint_auth_method=method, **kwargs)


def verified_access_claims(token: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """PyJWT over the realm's jwks_uri: signature, expiry, audience and issuer."""
    signing_key = jwt.PyJWKClient(metadata["jwks_uri"]).get_signing_key_from_jwt(token)
    return jwt.decode(token, signing_key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=metadata["issuer"])


def verified_id_token(token: dict[str, Any], metadata: dict[str, Any], client_id: str = CID) -> CodeIDToken:
    """authlib's ID token claims on joserfc: signature (JWKS), iss, aud, azp, exp and at_hash."""
    keys = KeySet.import_key_set(httpx.get(metadata["jwks_uri"]).json())
    decoded = jose_jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    options = {"iss": {"essential": True, "value": metadata["issuer"]}, "aud": {"essential": True, "value": client_id}}
    claims = CodeIDToken(
        decoded.claims, decoded.header, options, params={"access_token": token["access_token"], "client_id": client_id}
    )
    claims.validate()
    assert claims["at_hash"]  # validated against the access token above
    return claims


def legacy_teams(base: str) -> Any:
    token = httpx.post(f"{base}/v2/authorize", json=LEGACY_LOGIN).json()["access_token"]
    return httpx.get(f"{base}/v2/teams", headers={"Authorization": f"BimPlus {token}"}).json()


def test_discovery_issuer_is_the_url_it_was_fetched_under(served, base, metadata):
    assert metadata["issuer"] == f"{base}/realms/bimplus"
    if served.vendor == "all":
        assert metadata["issuer"] == f"{served.root_url}/bimplus/realms/bimplus"
    for name in ("token_endpoint", "jwks_uri", "userinfo_endpoint", "introspection_endpoint", "revocation_endpoint"):
        assert metadata[name].startswith(metadata["issuer"] + "/protocol/openid-connect/")


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
@pytest.mark.parametrize("kind", list(CLIENTS))
def test_authlib_password_refresh_revoke_introspect(base, metadata, kind, method):
    with oauth_client(kind, method) as client:
        token = client.fetch_token(metadata["token_endpoint"], grant_type="password", username=USER, password=PASSWORD)
        assert (token["token_type"], token["expires_in"], token["scope"]) == ("Bearer", 300, SCOPE)
        access = verified_access_claims(token["access_token"], metadata)
        assert (access["azp"], access["email"]) == (CID, USER)
        id_token = verified_id_token(dict(token), metadata)
        assert id_token["sub"] == access["sub"] and id_token["sid"] == token["session_state"]

        assert client.get(metadata["userinfo_endpoint"]).json()["email"] == USER  # the client sends its Bearer token
        teams = client.get(f"{base}/v2/teams")
        assert teams.status_code == 200 and teams.json() == legacy_teams(base)

        introspection = client.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
        assert introspection.json()["active"] is True and introspection.json()["username"] == USER

        first_refresh = token["refresh_token"]
        renewed = client.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
        assert renewed["refresh_token"] != first_refresh and renewed["session_state"] == token["session_state"]
        verified_access_claims(renewed["access_token"], metadata)
        verified_id_token(dict(renewed), metadata)
        with pytest.raises(OAuthError) as reused:  # rotation: the first refresh token is spent
            client.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
        assert reused.value.error == "invalid_grant"

        revoked = client.revoke_token(
            metadata["revocation_endpoint"], token=renewed["refresh_token"], token_type_hint="refresh_token"
        )
        assert revoked.status_code == 200
        for access_token in (token["access_token"], renewed["access_token"]):  # the whole session ended
            answer = client.introspect_token(metadata["introspection_endpoint"], token=access_token)
            assert answer.json() == {"active": False}
        assert client.get(f"{base}/v2/teams").status_code == 401


def test_authlib_public_client_and_errors(base, metadata):
    with oauth_client("httpx", "none") as client:
        token = client.fetch_token(metadata["token_endpoint"], grant_type="password", username=USER, password=PASSWORD)
        verified_id_token(dict(token), metadata, client_id="bimplus-public")
        assert verified_access_claims(token["access_token"], metadata)["azp"] == "bimplus-public"
        assert client.revoke_token(metadata["revocation_endpoint"], token=token["access_token"]).status_code == 200
        assert (
            httpx.get(f"{base}/v2/teams", headers={"Authorization": f"Bearer {token['access_token']}"}).status_code
            == 401
        )
        with pytest.raises(OAuthError) as wrong:
            client.fetch_token(metadata["token_endpoint"], grant_type="password", username=USER, password="wrong")
        assert wrong.value.error == "invalid_grant"
    with OAuth2Client(CID, "not-the-secret", scope=SCOPE) as client, pytest.raises(OAuthError) as bad_client:
        client.fetch_token(metadata["token_endpoint"], grant_type="password", username=USER, password=PASSWORD)
    assert bad_client.value.error == "invalid_client"


def test_authlib_client_credentials_service_account(base, metadata):
    with oauth_client("requests") as client:
        token = client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
        assert "refresh_token" not in token and token["refresh_expires_in"] == 0
        claims = verified_access_claims(token["access_token"], metadata)
        assert claims["preferred_username"] == f"service-account-{CID}"
        assert client.get(f"{base}/v2/teams").json() == []


def test_pyjwk_client_across_a_key_rotation(base, metadata):
    with oauth_client("httpx") as client:
        old = client.fetch_token(metadata["token_endpoint"], grant_type="password", username=USER, password=PASSWORD)
        # PyJWT fetches the JWKS again for an unknown kid at most once per cooldown (30 s by default); a service
        # meets a rotation long after its first fetch, this test a moment after
        jwks_client = jwt.PyJWKClient(metadata["jwks_uri"], cooldown_duration=0)
        old_key = jwks_client.get_signing_key_from_jwt(old["access_token"])
        kids = httpx.post(f"{base}/__authcanary__/rotate-keys", json={}).json()["kids"]
        new = client.fetch_token(metadata["token_endpoint"], grant_type="password", username=USER, password=PASSWORD)
        new_key = jwks_client.get_signing_key_from_jwt(new["access_token"])  # an unknown kid: it fetches again
        assert (new_key.key_id, old_key.key_id) == tuple(kids)
        for token, key in ((old, old_key), (new, new_key)):
            jwt.decode(
                token["access_token"], key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=metadata["issuer"]
            )
            verified_id_token(dict(token), metadata)

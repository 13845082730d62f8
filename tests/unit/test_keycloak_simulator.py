"""The Bimplus OIDC successor (the Keycloak realm of the Bimplus simulator) behaves as documented (VENDORS.md §2
"OIDC successor"), in-process: every endpoint, the shared clock, key rotation, reset, the legacy options, /v2/teams
with both token kinds, and one probe per oidc-* deviation."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from joserfc.errors import BadSignatureError

from authcanary.http import InProcessTransport
from authcanary.simulators import keycloak
from authcanary.simulators.bimplus import BimplusSimulator
from authcanary.simulators.framework import VirtualClock, build_app
from authcanary.simulators.keycloak import INTERNAL_BASE_URL, SIGNING_KEY_PREFIX, KeycloakRealm
from authcanary.simulators.keys import sign_jwt
from authcanary.tokens import decode_unverified, verify_jwt

BASE = "http://bimplus.sim"
ISSUER = f"{BASE}/realms/bimplus"
REALM = "/realms/bimplus"
OIDC = f"{REALM}/protocol/openid-connect"
TOKEN, INTROSPECT, REVOKE, USERINFO, LOGOUT = (
    f"{OIDC}/{name}" for name in ("token", "token/introspect", "revoke", "userinfo", "logout")
)
SETTINGS = BimplusSimulator.default_settings()
CLIENT = (SETTINGS["oidc_client_id"], SETTINGS["oidc_client_secret"])
PUBLIC = "bimplus-public"
USER = {"username": SETTINGS["user"], "password": SETTINGS["password"]}
SECOND = {"username": SETTINGS["second_user"], "password": SETTINGS["second_password"]}
LEGACY_USER = {
    "user_id": SETTINGS["user"],
    "password": SETTINGS["password"],
    "application_id": SETTINGS["application_id"],
}
NO_STORE = ("no-store", "no-cache")
FIRST_KEY = f"{SIGNING_KEY_PREFIX}-1"  # the realm's first signing key


@pytest.fixture
def make() -> Iterator[Callable[..., httpx.Client]]:
    """Factory: an httpx client over a fresh in-process Bimplus simulator (profile, options)."""
    made: list[tuple[httpx.Client, InProcessTransport]] = []

    def factory(profile: str = "documented", **options: Any) -> httpx.Client:
        transport = InProcessTransport(BimplusSimulator(profile, options=options).app())
        client = httpx.Client(transport=transport, base_url=BASE)
        made.append((client, transport))
        return client

    yield factory
    for client, transport in made:
        client.close()
        transport.shutdown()


@pytest.fixture(autouse=True)
def frozen_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the virtual clock moves: these tests count exact seconds (a token valid at 299 s, not at 300 s), which a
    real second passing on a loaded machine would shift."""
    monkeypatch.setattr(VirtualClock, "now", lambda clock: 1_800_000_000.0 + clock.offset)


@pytest.fixture
def sim(make) -> httpx.Client:
    return make()


# -- helpers -------------------------------------------------------------------------------------------------------
def login(c: httpx.Client, scope: str | None = "openid profile email", user: dict = USER, **extra: str) -> dict:
    form = {"grant_type": "password", **user, **({"scope": scope} if scope else {}), **extra}
    response = c.post(TOKEN, data=form, auth=CLIENT)
    assert response.status_code == 200, response.text
    return response.json()


def refresh(c: httpx.Client, token: str, auth: tuple[str, str] = CLIENT) -> httpx.Response:
    return c.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": token}, auth=auth)


def introspect(c: httpx.Client, token: str, **extra: Any) -> dict:
    response = c.post(INTROSPECT, data={"token": token}, auth=CLIENT, **extra)
    assert response.status_code == 200, response.text
    return response.json()


def active(c: httpx.Client, token: str) -> bool:
    return introspect(c, token)["active"]


def revoke(c: httpx.Client, token: str, **form: str) -> httpx.Response:
    return c.post(REVOKE, data={"token": token, **form}, auth=CLIENT)


def logout(c: httpx.Client, refresh_token: str) -> httpx.Response:
    return c.post(LOGOUT, data={"refresh_token": refresh_token}, auth=CLIENT)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def teams(c: httpx.Client, token: str, scheme: str = "Bearer") -> httpx.Response:
    return c.get("/v2/teams", headers={"Authorization": f"{scheme} {token}"})


def legacy_token(c: httpx.Client, user: dict = LEGACY_USER) -> str:
    response = c.post("/v2/authorize", json=user)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def advance(c: httpx.Client, seconds: float) -> None:
    assert c.post("/__authcanary__/clock", json={"advance": seconds}).status_code == 200


def discovery(c: httpx.Client) -> dict:
    response = c.get(f"{REALM}/.well-known/openid-configuration")
    assert response.status_code == 200
    return response.json()


def jwks(c: httpx.Client) -> dict:
    return c.get(f"{OIDC}/certs").json()


def header(token: str) -> dict:
    return decode_unverified(token)[0]


def claims(token: str) -> dict:
    return decode_unverified(token)[1]


def forged(token: str) -> str:
    """The same header and claims, signed by a key the realm never published."""
    return sign_jwt(claims(token), "rogue", kid=header(token)["kid"])


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


def at_hash(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()[:16]).rstrip(b"=").decode()


# -- discovery and keys --------------------------------------------------------------------------------------------
def test_discovery_names_the_realm_and_its_served_endpoints(sim):
    document = discovery(sim)
    assert document["issuer"] == ISSUER
    assert {name: document[name] for name in document if name.endswith(("_endpoint", "_uri"))} == {
        "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
        "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
        "introspection_endpoint": f"{ISSUER}/protocol/openid-connect/token/introspect",
        "userinfo_endpoint": f"{ISSUER}/protocol/openid-connect/userinfo",
        "end_session_endpoint": f"{ISSUER}/protocol/openid-connect/logout",
        "jwks_uri": f"{ISSUER}/protocol/openid-connect/certs",
        "revocation_endpoint": f"{ISSUER}/protocol/openid-connect/revoke",
    }
    assert document["grant_types_supported"] == [
        "authorization_code",
        "implicit",
        "refresh_token",
        "password",
        "client_credentials",
    ]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert document["subject_types_supported"] == ["public", "pairwise"]
    assert {"client_secret_basic", "client_secret_post"} <= set(document["token_endpoint_auth_methods_supported"])
    assert {"openid", "profile", "email"} <= set(document["scopes_supported"])
    assert document["code_challenge_methods_supported"] == ["plain", "S256"]
    assert document["backchannel_logout_supported"] is document["frontchannel_logout_supported"] is True
    for name in ("introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"):
        assert document[name] == document["token_endpoint_auth_methods_supported"]
    for key in ("response_types_supported", "userinfo_signing_alg_values_supported", "response_modes_supported"):
        assert document[key]
    assert sim.get(document["jwks_uri"]).status_code == 200
    for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint", "end_session_endpoint"):
        assert sim.post(document[name]).status_code in (400, 401), name  # served: an error about the request


def test_the_issuer_follows_the_mount_and_the_realm_option():
    transport = InProcessTransport(
        build_app({"bimplus": BimplusSimulator(options={"oidc_realm": "portal"}), "other": BimplusSimulator()})
    )
    with httpx.Client(transport=transport, base_url=BASE) as client:
        document = client.get("/bimplus/realms/portal/.well-known/openid-configuration").json()
        assert document["issuer"] == f"{BASE}/bimplus/realms/portal"
        assert document["token_endpoint"] == f"{BASE}/bimplus/realms/portal/protocol/openid-connect/token"
        token = client.post(document["token_endpoint"], data={"grant_type": "password", **USER}, auth=CLIENT)
        assert claims(token.json()["access_token"])["iss"] == document["issuer"]
        assert teams(client, token.json()["access_token"]).status_code == 404  # /v2/teams is under the mount
        assert client.get("/bimplus/v2/teams", headers=bearer(token.json()["access_token"])).status_code == 200
        assert client.get(f"/other{REALM}/.well-known/openid-configuration").json()["issuer"] == f"{BASE}/other{REALM}"
        assert client.get(f"/bimplus{REALM}/.well-known/openid-configuration").status_code == 404
    transport.shutdown()


def _b64int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def test_certs_publish_the_signing_key_and_tokens_verify_with_it(sim):
    keys = jwks(sim)["keys"]
    assert len(keys) == 1
    [key] = keys
    assert (key["kty"], key["use"], key["alg"]) == ("RSA", "sig", "RS256") and key["kid"]
    assert set(key) == {"kty", "kid", "use", "alg", "n", "e", "x5c", "x5t", "x5t#S256"}
    # the certificate (RFC 7517 §4.7-4.9) holds this very key, under the realm's name, and its thumbprints match
    der = base64.b64decode(key["x5c"][0])
    certificate = x509.load_der_x509_certificate(der)
    assert certificate.subject.rfc4514_string() == "CN=bimplus"
    numbers = certificate.public_key().public_numbers()
    assert (numbers.n, numbers.e) == (_b64int(key["n"]), _b64int(key["e"]))
    assert key["x5t#S256"] == base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    assert key["x5t"] == base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("=")
    body = login(sim)
    for name in ("access_token", "id_token"):
        assert header(body[name]) == {"alg": "RS256", "typ": "JWT", "kid": key["kid"]}
        assert verify_jwt(body[name], jwks(sim))["iss"] == ISSUER


# -- token endpoint ------------------------------------------------------------------------------------------------
def test_password_grant_answers_keycloaks_body_and_tokens(sim):
    response = sim.post(TOKEN, data={"grant_type": "password", "scope": "openid", **USER}, auth=CLIENT)
    assert response.status_code == 200
    assert (response.headers["cache-control"], response.headers["pragma"]) == NO_STORE
    body = response.json()
    assert list(body) == [
        "access_token",
        "expires_in",
        "refresh_expires_in",
        "refresh_token",
        "token_type",
        "id_token",
        "not-before-policy",
        "session_state",
        "scope",
    ]
    assert (body["expires_in"], body["refresh_expires_in"], body["token_type"]) == (300, 1800, "Bearer")
    assert (body["not-before-policy"], body["scope"]) == (0, "openid profile email")
    sid = body["session_state"]
    assert uuid.UUID(sid)
    access = claims(body["access_token"])
    assert access["exp"] - access["iat"] == 300 and uuid.UUID(access["jti"])
    assert (access["iss"], access["aud"], access["typ"], access["azp"]) == (
        ISSUER,
        ["bimplus-api", "account"],
        "Bearer",
        CLIENT[0],
    )
    assert access["sid"] == access["session_state"] == sid and access["scope"] == body["scope"]
    assert (access["email"], access["preferred_username"], access["email_verified"]) == (
        SETTINGS["user"],
        SETTINGS["user"],
        True,
    )
    legacy_info = sim.get("/v2/authorize", headers={"Authorization": f"BimPlus {legacy_token(sim)}"}).json()
    assert access["sub"] == legacy_info["user_id"]  # the same account, the same id
    assert header(body["refresh_token"])["alg"] == "HS512"
    refresh_claims = claims(body["refresh_token"])
    assert (refresh_claims["typ"], refresh_claims["aud"], refresh_claims["sid"]) == ("Refresh", ISSUER, sid)
    assert refresh_claims["exp"] - refresh_claims["iat"] == 1800 and refresh_claims["azp"] == CLIENT[0]
    id_claims = claims(body["id_token"])
    assert (id_claims["typ"], id_claims["aud"], id_claims["azp"], id_claims["sid"]) == ("ID", CLIENT[0], CLIENT[0], sid)
    assert id_claims["at_hash"] == at_hash(body["access_token"]) and id_claims["auth_time"] == access["iat"]
    assert id_claims["email"] == SETTINGS["user"] and id_claims["sub"] == access["sub"]


@pytest.mark.parametrize(
    "asked, granted",
    [
        (None, "profile email"),
        ("profile", "profile email"),
        ("openid", "openid profile email"),
        ("email roles", "profile email"),
    ],
)
def test_scope_defaults_and_openid_only_when_asked(sim, asked, granted):
    body = login(sim, scope=asked)
    assert body["scope"] == granted == claims(body["access_token"])["scope"]
    assert ("id_token" in body) is ("openid" in granted)


def test_username_is_case_insensitive_ascii_and_a_wrong_password_is_counted(sim):
    assert login(sim, user={**USER, "username": SETTINGS["user"].upper()})["access_token"]
    lookalike = {**USER, "username": "ｔest@bimplus.net"}
    assert error(sim.post(TOKEN, data={"grant_type": "password", **lookalike}, auth=CLIENT)) == (400, "invalid_grant")
    sim.post(TOKEN, data={"grant_type": "password", **USER, "password": "wrong"}, auth=CLIENT)
    assert sim.get("/__authcanary__/failed-logins").json() == {SETTINGS["user"]: 1}


SECRET = "s3cret:with/odd chars"


@pytest.mark.parametrize(
    "method, auth, form",
    [
        ("basic-raw", (CLIENT[0], SECRET), {}),
        ("basic-form-encoded", (CLIENT[0], "s3cret%3Awith%2Fodd+chars"), {}),  # RFC 6749 §2.3.1
        ("basic-percent-encoded", (CLIENT[0], "s3cret%3Awith/odd%20chars"), {}),  # what authlib sends
        ("body", None, {"client_id": CLIENT[0], "client_secret": SECRET}),
        ("public", None, {"client_id": PUBLIC}),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_client_authentication_methods(method, auth, form):
    transport = InProcessTransport(BimplusSimulator(settings={"oidc_client_secret": SECRET}).app())
    with httpx.Client(transport=transport, base_url=BASE) as client:
        response = client.post(TOKEN, data={"grant_type": "password", **USER, **form}, auth=auth)
        assert response.status_code == 200, response.text
        assert claims(response.json()["access_token"])["azp"] == (PUBLIC if method == "public" else CLIENT[0])
    transport.shutdown()


@pytest.mark.parametrize(
    "form, auth, status, code, description",
    [
        ({}, CLIENT, 400, "invalid_request", "Missing form parameter: grant_type"),
        ({"grant_type": "implicit"}, CLIENT, 400, "unsupported_grant_type", "Unsupported grant_type"),
        ({"grant_type": "password", **USER}, (CLIENT[0], "wrong"), 401, "invalid_client", None),
        ({"grant_type": "password", **USER}, ("nobody", "x"), 401, "invalid_client", None),
        ({"grant_type": "password", **USER, "client_id": CLIENT[0]}, None, 401, "invalid_client", None),
        ({"grant_type": "password", **USER}, None, 401, "invalid_client", None),
        (
            {"grant_type": "password", **USER, "password": "wrong"},
            CLIENT,
            400,
            "invalid_grant",
            "Invalid user credentials",
        ),
        ({"grant_type": "password", **USER, "username": "nobody@unknown.invalid"}, CLIENT, 400, "invalid_grant", None),
        ({"grant_type": "password", "password": "x"}, CLIENT, 400, "invalid_request", "Missing parameter: username"),
        ({"grant_type": "password", **USER, "scope": "openid admin"}, CLIENT, 400, "invalid_scope", None),
        (
            {"grant_type": "client_credentials", "client_id": PUBLIC},
            None,
            400,
            "unauthorized_client",
            "Public client not allowed to retrieve service account",
        ),
        ({"grant_type": "refresh_token"}, CLIENT, 400, "invalid_request", "Missing parameter: refresh_token"),
        (
            {"grant_type": "refresh_token", "refresh_token": "x.y.z"},
            CLIENT,
            400,
            "invalid_grant",
            "Invalid refresh token",
        ),
        ({"grant_type": "authorization_code", "code": "abc"}, CLIENT, 400, "invalid_grant", "Code not valid"),
    ],
    ids=[
        "no-grant-type",
        "unsupported-grant",
        "bad-secret",
        "unknown-client",
        "confidential-without-secret",
        "no-client",
        "bad-password",
        "unknown-user",
        "no-username",
        "unknown-scope",
        "public-client-credentials",
        "no-refresh-token",
        "malformed-refresh-token",
        "authorization-code",
    ],
)
def test_token_endpoint_errors(sim, form, auth, status, code, description):
    response = sim.post(TOKEN, data=form, auth=auth)
    assert error(response) == (status, code), response.text
    assert set(response.json()) == {"error", "error_description"}
    if description:
        assert response.json()["error_description"] == description
    if code == "invalid_client":
        assert response.json()["error_description"] == "Invalid client or Invalid client credentials"
    assert (response.headers["cache-control"], response.headers["pragma"]) == NO_STORE  # errors too


def test_token_endpoint_reads_only_forms_and_refuses_repeated_parameters(sim):
    as_json = sim.post(TOKEN, json={"grant_type": "password", **USER}, auth=CLIENT)
    assert as_json.status_code == 400
    assert as_json.json() == {"error": "invalid_request", "error_description": "Missing form parameter: grant_type"}
    repeated = sim.post(
        TOKEN,
        content="grant_type=password&grant_type=password",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=CLIENT,
    )
    assert error(repeated) == (400, "invalid_request")


def test_client_credentials_is_a_service_account_without_refresh_or_session(sim):
    bodies = [sim.post(TOKEN, data={"grant_type": "client_credentials"}, auth=CLIENT).json() for _ in range(2)]
    assert list(bodies[0]) == [
        "access_token",
        "expires_in",
        "refresh_expires_in",
        "token_type",
        "not-before-policy",
        "scope",
    ]
    assert bodies[0]["refresh_expires_in"] == 0 and bodies[0]["scope"] == "profile email"
    first, second = (claims(body["access_token"]) for body in bodies)
    assert first["sub"] == second["sub"] and uuid.UUID(first["sub"])  # a stable service-account user
    assert first["preferred_username"] == f"service-account-{CLIENT[0]}"
    assert "sid" not in first and "session_state" not in first and first["azp"] == CLIENT[0]
    assert teams(sim, bodies[0]["access_token"]).json() == []  # no user, no teams
    with_openid = sim.post(TOKEN, data={"grant_type": "client_credentials", "scope": "openid"}, auth=CLIENT).json()
    assert claims(with_openid["id_token"])["aud"] == CLIENT[0]


# -- refresh ---------------------------------------------------------------------------------------------------------
def test_refresh_rotates_and_refuses_a_used_refresh_token(sim):
    body = login(sim)
    renewed = refresh(sim, body["refresh_token"])
    assert renewed.status_code == 200 and (renewed.headers["cache-control"], renewed.headers["pragma"]) == NO_STORE
    fresh = renewed.json()
    assert fresh["refresh_token"] != body["refresh_token"] and fresh["access_token"] != body["access_token"]
    assert fresh["session_state"] == body["session_state"] and fresh["scope"] == body["scope"]
    assert claims(fresh["id_token"])["at_hash"] == at_hash(fresh["access_token"])
    assert active(sim, body["access_token"])  # a refresh does not revoke the earlier access token
    reused = refresh(sim, body["refresh_token"])
    assert reused.json() == {
        "error": "invalid_grant",
        "error_description": "Maximum allowed refresh token reuse exceeded",
    }
    assert refresh(sim, fresh["refresh_token"]).status_code == 200  # the session lives on


@pytest.mark.parametrize(
    "case, description",
    [
        ("expired", "Token is not active"),
        ("logged-out", "Session not active"),
        ("revoked", "Session not active"),
        ("other-client", "Invalid refresh token. Token client and authorized client don't match"),
        ("forged", "Invalid refresh token"),
        ("reset", "Session not active"),
    ],
)
def test_refresh_refusals(sim, case, description):
    token = login(sim)["refresh_token"]
    auth = CLIENT
    if case == "expired":
        advance(sim, 1800)
    elif case == "logged-out":
        assert logout(sim, token).status_code == 204
    elif case == "revoked":
        assert revoke(sim, token).status_code == 200
    elif case == "other-client":
        auth = (PUBLIC, "")
    elif case == "forged":
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    else:
        assert sim.post("/__authcanary__/reset").status_code == 200
    response = refresh(sim, token, auth=auth)
    assert response.json() == {"error": "invalid_grant", "error_description": description}
    assert response.status_code == 400


def test_refresh_tokens_never_outlive_the_sso_session_max(sim):
    token = login(sim)["refresh_token"]
    lifetimes = []
    for _ in range(25):
        advance(sim, 1500)
        body = refresh(sim, token).json()
        token = body["refresh_token"]
        lifetimes.append(body["refresh_expires_in"])
        refresh_claims = claims(token)
        assert refresh_claims["exp"] - refresh_claims["iat"] == body["refresh_expires_in"]
        if body["refresh_expires_in"] <= 1500:
            break
    assert lifetimes[0] == 1800 and lifetimes[-1] == 36000 - 1500 * len(lifetimes) == 1500
    advance(sim, 1500)  # the session's ten hours are over
    assert refresh(sim, token).json()["error_description"] == "Token is not active"


# -- introspection ---------------------------------------------------------------------------------------------------
def test_introspection_of_active_tokens(sim):
    body = login(sim)
    info = introspect(sim, body["access_token"])
    assert info == {
        **claims(body["access_token"]),
        "client_id": CLIENT[0],
        "username": SETTINGS["user"],
        "token_type": "Bearer",
        "active": True,
    }
    as_body = sim.post(
        INTROSPECT,
        data={
            "token": body["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": CLIENT[0],
            "client_secret": CLIENT[1],
        },
    )
    assert as_body.json()["active"] is True and as_body.json()["typ"] == "Refresh"


@pytest.mark.parametrize(
    "case", ["expired", "revoked", "logged-out", "unknown", "malformed", "forged", "id-token", "reset"]
)
def test_introspection_says_inactive(sim, case):
    body = login(sim)
    token = body["access_token"]
    if case == "expired":
        advance(sim, 300)
    elif case == "revoked":
        revoke(sim, token)
    elif case == "logged-out":
        logout(sim, body["refresh_token"])
    elif case == "unknown":
        token = sign_jwt({**claims(token), "jti": str(uuid.uuid4())}, FIRST_KEY)
    elif case == "malformed":
        token = "not-a-token"
    elif case == "forged":
        token = forged(token)
    elif case == "id-token":
        token = body["id_token"]
    else:
        sim.post("/__authcanary__/reset")
    assert introspect(sim, token) == {"active": False}


@pytest.mark.parametrize(
    "auth, form, status, code",
    [
        (None, {}, 401, "invalid_client"),
        ((CLIENT[0], "wrong"), {}, 401, "invalid_client"),
        (None, {"client_id": PUBLIC}, 401, "invalid_client"),
        (CLIENT, {"token": ""}, 400, "invalid_request"),
        (CLIENT, {"token_type_hint": "id_token"}, 400, "invalid_request"),
    ],
    ids=["no-client", "bad-secret", "public-client", "no-token", "unknown-hint"],
)
def test_introspection_refusals(sim, auth, form, status, code):
    token = login(sim)["access_token"]
    response = sim.post(INTROSPECT, data={"token": token, **form}, auth=auth)
    assert error(response) == (status, code), response.text


# -- revocation ------------------------------------------------------------------------------------------------------
def test_revoking_an_access_token_kills_only_it(sim):
    body = login(sim)
    response = revoke(sim, body["access_token"], token_type_hint="access_token")
    assert response.status_code == 200 and response.content == b""
    assert not active(sim, body["access_token"])
    assert sim.get(USERINFO, headers=bearer(body["access_token"])).status_code == 401
    assert teams(sim, body["access_token"]).status_code == 401
    assert refresh(sim, body["refresh_token"]).status_code == 200  # the session lives on


def test_revoking_a_refresh_token_ends_its_session(sim):
    body, other = login(sim), login(sim)
    assert revoke(sim, body["refresh_token"], token_type_hint="refresh_token").status_code == 200
    assert not active(sim, body["access_token"]) and not active(sim, body["refresh_token"])
    assert teams(sim, body["access_token"]).status_code == 401
    assert active(sim, other["access_token"])  # another session of the same user


def test_revocation_answers_200_for_any_token_and_refuses_bad_requests(sim):
    body = login(sim)
    for token in ("not-a-token", forged(body["access_token"]), "a.b.c"):
        assert revoke(sim, token).status_code == 200
    public = sim.post(TOKEN, data={"grant_type": "password", "client_id": PUBLIC, **USER}).json()
    assert sim.post(REVOKE, data={"token": public["access_token"], "client_id": PUBLIC}).status_code == 200
    assert not active(sim, public["access_token"])
    assert error(revoke(sim, body["access_token"], token_type_hint="id_token")) == (400, "unsupported_token_type")
    assert error(sim.post(REVOKE, data={"token": body["access_token"]})) == (401, "invalid_client")
    assert error(sim.post(REVOKE, data={}, auth=CLIENT)) == (400, "invalid_request")
    # RFC 7009 §2.1: a token issued to another client is not this client's to revoke
    assert error(sim.post(REVOKE, data={"token": body["access_token"], "client_id": PUBLIC})) == (
        400,
        "invalid_request",
    )
    assert active(sim, body["access_token"])


# -- userinfo -------------------------------------------------------------------------------------------------------
def test_userinfo_answers_the_user(sim):
    token = login(sim)["access_token"]
    expected = {
        "sub": claims(token)["sub"],
        "email_verified": True,
        "name": "Test Bimplus",
        "preferred_username": SETTINGS["user"],
        "given_name": "Test",
        "family_name": "Bimplus",
        "email": SETTINGS["user"],
    }
    assert sim.get(USERINFO, headers=bearer(token)).json() == expected
    assert sim.post(USERINFO, headers=bearer(token)).json() == expected
    assert sim.post(USERINFO, data={"access_token": token}).json() == expected


@pytest.mark.parametrize(
    "case, status, code",
    [
        ("no-openid", 403, "insufficient_scope"),
        ("missing", 401, "invalid_token"),
        ("forged", 401, "invalid_token"),
        ("expired", 401, "invalid_token"),
        ("revoked", 401, "invalid_token"),
        ("logged-out", 401, "invalid_token"),
        ("refresh-token", 401, "invalid_token"),
    ],
)
def test_userinfo_refusals(sim, case, status, code):
    body = login(sim, scope="profile" if case == "no-openid" else "openid")
    token = body["access_token"]
    if case == "missing":
        token = ""
    elif case == "forged":
        token = forged(token)
    elif case == "expired":
        advance(sim, 300)
    elif case == "revoked":
        revoke(sim, token)
    elif case == "logged-out":
        logout(sim, body["refresh_token"])
    elif case == "refresh-token":
        token = body["refresh_token"]
    response = sim.get(USERINFO, headers=bearer(token) if token else {})
    assert error(response) == (status, code), response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="bimplus", ') and f'error="{code}"' in challenge
    if case == "no-openid":
        assert response.json()["error_description"] == "Missing openid scope"


# -- logout ----------------------------------------------------------------------------------------------------------
def test_logout_ends_the_session_of_the_refresh_token(sim):
    body, bystander = login(sim), login(sim, user=SECOND)
    response = logout(sim, body["refresh_token"])
    assert response.status_code == 204 and response.content == b""
    assert refresh(sim, body["refresh_token"]).json()["error_description"] == "Session not active"
    assert not active(sim, body["access_token"])
    assert sim.get(USERINFO, headers=bearer(body["access_token"])).status_code == 401
    assert teams(sim, body["access_token"]).status_code == 401
    assert active(sim, bystander["access_token"]) and teams(sim, bystander["access_token"]).status_code == 200
    assert logout(sim, body["refresh_token"]).status_code == 204  # again: nothing left to end


def test_logout_refusals(sim):
    token = login(sim)["refresh_token"]
    assert error(sim.post(LOGOUT, data={}, auth=CLIENT)) == (400, "invalid_request")
    assert error(sim.post(LOGOUT, data={"refresh_token": token}, auth=(CLIENT[0], "wrong"))) == (401, "invalid_client")
    assert error(sim.post(LOGOUT, data={"refresh_token": "a.b.c"}, auth=CLIENT)) == (400, "invalid_grant")
    other_client = sim.post(LOGOUT, data={"refresh_token": token, "client_id": PUBLIC})
    assert error(other_client) == (400, "invalid_grant")
    assert refresh(sim, token).status_code == 200


def test_browser_logout_with_an_id_token_hint(sim):
    first, second = login(sim), login(sim)
    page = sim.get(LOGOUT, params={"id_token_hint": first["id_token"]})
    assert page.status_code == 200 and "You are logged out" in page.text
    assert not active(sim, first["access_token"])
    redirect = sim.get(
        LOGOUT,
        params={"id_token_hint": second["id_token"], "post_logout_redirect_uri": "http://localhost/bye", "state": "s1"},
    )
    assert redirect.status_code == 302 and redirect.headers["location"] == "http://localhost/bye?state=s1"
    assert not active(sim, second["access_token"])
    assert sim.get(LOGOUT, params={"id_token_hint": "a.b.c"}).status_code == 400
    assert sim.get(LOGOUT, params={"post_logout_redirect_uri": "http://localhost/bye"}).status_code == 400
    assert sim.get(LOGOUT).status_code == 200  # Keycloak's confirmation page


# -- the rest of the realm ---------------------------------------------------------------------------------------------
def test_auth_endpoint_and_unknown_paths(sim):
    bare = sim.get(f"{OIDC}/auth")
    assert bare.status_code == 400 and "Invalid parameter: redirect_uri" in bare.text
    assert bare.headers["content-type"].startswith("text/html")
    assert (
        sim.get(f"{OIDC}/auth", params={"client_id": "nobody", "redirect_uri": "http://localhost/"}).status_code == 400
    )
    assert sim.get(f"{OIDC}/auth", params={"client_id": PUBLIC, "redirect_uri": "http://localhost/"}).status_code == 200
    assert sim.get(f"{OIDC}/user-info").status_code == 404
    assert sim.get(TOKEN).status_code == 405
    assert sim.get("/realms/elsewhere/.well-known/openid-configuration").json()["error"] == "Realm does not exist"


# -- the BIM+ API with both token kinds -----------------------------------------------------------------------------
def test_teams_answers_the_same_teams_to_both_token_kinds(sim):
    for oidc_user, legacy_user in (
        (USER, LEGACY_USER),
        (SECOND, {**LEGACY_USER, "user_id": SECOND["username"], "password": SECOND["password"]}),
    ):
        oidc = teams(sim, login(sim, user=oidc_user)["access_token"])
        legacy = teams(sim, legacy_token(sim, legacy_user), scheme="BimPlus")
        assert oidc.status_code == legacy.status_code == 200
        assert oidc.json() == legacy.json() and oidc.json()[0]["name"].endswith(oidc_user["username"])


@pytest.mark.parametrize("case", ["forged", "expired", "other-audience", "not-a-jwt", "id-token", "other-issuer"])
def test_teams_refuses_bad_bearer_tokens_like_legacy_ones(sim, case):
    body = login(sim)
    token = body["access_token"]
    if case == "forged":
        token = forged(token)
    elif case == "expired":
        advance(sim, 300)
    elif case == "other-audience":  # signed by the realm's own key: only the audience is wrong
        token = sign_jwt({**claims(token), "aud": ["other-api", "account"]}, FIRST_KEY)
    elif case == "not-a-jwt":
        token = "0" * 32
    elif case == "id-token":
        token = body["id_token"]
    else:
        token = sign_jwt({**claims(token), "iss": "http://elsewhere/realms/bimplus"}, FIRST_KEY)
    response = teams(sim, token)
    assert response.status_code == 401
    assert set(response.json()) == set(teams(sim, "0" * 32, scheme="BimPlus").json()) == {"error", "error_description"}


# -- control plane ----------------------------------------------------------------------------------------------------
def test_key_rotation_keeps_old_tokens_verifying_until_retired(sim):
    first_kid = jwks(sim)["keys"][0]["kid"]
    old = login(sim)["access_token"]
    kids = sim.post("/__authcanary__/rotate-keys", json={}).json()["kids"]
    assert kids[1:] == [first_kid] and kids[0] != first_kid
    assert [key["kid"] for key in jwks(sim)["keys"]] == kids
    new = login(sim)["access_token"]
    assert header(new)["kid"] == kids[0] and header(old)["kid"] == first_kid
    for token in (old, new):
        assert verify_jwt(token, jwks(sim)) and active(sim, token) and teams(sim, token).status_code == 200
    retired = sim.post("/__authcanary__/rotate-keys", json={"retire": True}).json()["kids"]
    assert len(retired) == 1 and retired[0] not in kids
    assert [key["kid"] for key in jwks(sim)["keys"]] == retired
    assert not active(sim, old) and not active(sim, new) and teams(sim, new).status_code == 401
    assert sim.post("/__authcanary__/rotate-keys").status_code == 200  # no body: as {}
    assert sim.post("/__authcanary__/rotate-keys", json={"retire": "yes"}).status_code == 400
    sim.post("/__authcanary__/reset")
    assert [key["kid"] for key in jwks(sim)["keys"]] == [first_kid]


def test_rotations_are_bounded_between_resets(sim, monkeypatch):
    monkeypatch.setattr(keycloak, "MAX_SIGNING_KEYS", 3)  # a long-lived serve makes at most so many keys
    assert [len(sim.post("/__authcanary__/rotate-keys", json={}).json()["kids"]) for _ in range(2)] == [2, 3]
    refused = sim.post("/__authcanary__/rotate-keys", json={})
    assert refused.status_code == 400 and "reset" in refused.json()["error"]
    sim.post("/__authcanary__/reset")
    assert sim.post("/__authcanary__/rotate-keys", json={"retire": True}).status_code == 200


def test_one_virtual_clock_for_oidc_and_legacy_tokens(sim):
    oidc, legacy = login(sim)["access_token"], legacy_token(sim)
    advance(sim, 299)
    assert active(sim, oidc) and teams(sim, oidc).status_code == 200
    advance(sim, 1)
    assert not active(sim, oidc) and teams(sim, oidc).status_code == 401
    assert teams(sim, legacy, scheme="BimPlus").status_code == 200
    advance(sim, 7200 - 300)
    assert teams(sim, legacy, scheme="BimPlus").status_code == 401


def test_reset_forgets_oidc_sessions_and_legacy_tokens(sim):
    body, legacy = login(sim), legacy_token(sim)
    sim.post("/__authcanary__/reset")
    assert not active(sim, body["access_token"]) and teams(sim, body["access_token"]).status_code == 401
    assert refresh(sim, body["refresh_token"]).status_code == 400
    assert teams(sim, legacy, scheme="BimPlus").status_code == 401
    assert active(sim, login(sim)["access_token"])


# -- options --------------------------------------------------------------------------------------------------------
LEGACY_CALLS = [
    ("POST", "/v2/authorize", "authorize", "Thu, 01 Jan 2026 00:00:00 GMT"),
    ("GET", "/v2/authorize", "token-info", "Wed, 01 Jan 2025 00:00:00 GMT"),
    ("DELETE", "/v2/authorize", "logout", "Thu, 01 Jan 2026 00:00:00 GMT"),
    ("POST", "/v2/cross-token", "cross-token", "Wed, 01 Jan 2025 00:00:00 GMT"),
    ("POST", "/v2/cross-authorize", "cross-token", "Wed, 01 Jan 2025 00:00:00 GMT"),
]


def legacy_call(c: httpx.Client, method: str, path: str, token: str) -> httpx.Response:
    if method == "POST" and path == "/v2/authorize":
        return c.post(path, json=LEGACY_USER)
    if path == "/v2/cross-authorize":
        return c.post(path, json={"cross_token": "0" * 32})
    return c.request(method, path, headers={"Authorization": f"BimPlus {token}"})


@pytest.mark.parametrize("setting", [True, "true"])
def test_deprecation_headers_on_every_legacy_answer(make, setting):
    sim = make(deprecation_headers=setting)
    token = legacy_token(sim)
    for method, path, _, sunset in LEGACY_CALLS:
        response = legacy_call(sim, method, path, token)
        assert response.headers["deprecation"] == "@1577836800", (method, path)
        assert response.headers["sunset"] == sunset, (method, path)
        assert response.headers["link"] == f'<{ISSUER}/.well-known/openid-configuration>; rel="successor-version"'
    assert "deprecation" not in teams(sim, legacy_token(sim), scheme="BimPlus").headers
    assert "deprecation" not in sim.post(TOKEN, data={}).headers
    assert "deprecation" not in make().post("/v2/authorize", json=LEGACY_USER).headers  # off by default


@pytest.mark.parametrize("capability", ["authorize", "token-info", "cross-token", "logout"])
def test_legacy_removed_capabilities_answer_410(make, capability):
    sim = make(legacy_removed=capability)
    token = "0" * 32 if capability == "authorize" else legacy_token(sim)
    for method, path, owner, _ in LEGACY_CALLS:
        response = legacy_call(sim, method, path, token)
        if owner == capability:
            assert response.status_code == 410 and response.json()["error"] == "gone", (method, path)
        else:
            assert response.status_code != 410, (method, path)
    assert login(sim)["access_token"]  # the successor works


def test_legacy_removed_all_and_bad_option_values(make):
    sim = make(legacy_removed="all")
    statuses = {legacy_call(sim, method, path, "0" * 32).status_code for method, path, _, _ in LEGACY_CALLS}
    assert statuses == {410}
    assert teams(sim, login(sim)["access_token"]).status_code == 200
    with pytest.raises(ValueError, match="authorize, token-info, cross-token, logout"):
        BimplusSimulator(options={"legacy_removed": "authorize,remember-me"})
    with pytest.raises(ValueError, match="deprecation_headers"):
        BimplusSimulator(options={"deprecation_headers": "maybe"})
    with pytest.raises(ValueError, match="oidc_realm"):
        BimplusSimulator(options={"oidc_realm": "a/b"})


@pytest.mark.parametrize(
    "profile, options", [("legacy-removed", {}), ("documented", {"legacy_removed": "all"})], ids=["profile", "option"]
)
def test_legacy_removed_as_a_profile_or_an_option(make, profile, options):
    sim = make(profile, **options)
    assert {legacy_call(sim, method, path, "0" * 32).status_code for method, path, _, _ in LEGACY_CALLS} == {410}


def test_legacy_deprecation_headers_as_a_profile(make):
    sim = make("legacy-deprecation-headers")
    assert sim.post("/v2/authorize", json=LEGACY_USER).headers["sunset"] == "Thu, 01 Jan 2026 00:00:00 GMT"


def test_the_realm_is_a_component_sharing_the_simulators_clock_and_accounts():
    simulator = BimplusSimulator()
    assert isinstance(simulator.realm, KeycloakRealm) and simulator.realm.host is simulator
    assert simulator.realm.tokens.host.clock is simulator.clock
    assert set(SETTINGS) >= {"oidc_issuer", "oidc_client_id", "oidc_client_secret", "oidc_audience", "oidc_scope"}
    assert SETTINGS["oidc_issuer"] == REALM


# -- one probe per oidc-* deviation ---------------------------------------------------------------------------------
def _kid_published_after_rotation(c: httpx.Client) -> bool:
    """Whether a token signed before a (non-retiring) key rotation still names a published kid."""
    token = login(c)["access_token"]
    c.post("/__authcanary__/rotate-keys", json={})
    return header(token)["kid"] in {key["kid"] for key in jwks(c)["keys"]}


def _signature_facts(c: httpx.Client) -> tuple[bool, bool]:
    """(the token's kid is in the JWKS, some JWKS key verifies its signature)"""
    token = login(c)["access_token"]
    published = jwks(c)["keys"]
    in_jwks = header(token)["kid"] in {key["kid"] for key in published}
    verifies = False
    for key in published:
        try:
            verify_jwt(token, {"keys": [{**key, "kid": header(token)["kid"]}]})
            verifies = True
        except BadSignatureError:
            pass
    return in_jwks, verifies


def _cache_headers(c: httpx.Client) -> tuple[str | None, ...]:
    good = c.post(TOKEN, data={"grant_type": "password", **USER}, auth=CLIENT)
    bad = c.post(TOKEN, data={"grant_type": "password", **USER, "password": "wrong"}, auth=CLIENT)
    return tuple(response.headers.get(name) for response in (good, bad) for name in ("cache-control", "pragma"))


def _issuer_and_acceptance(c: httpx.Client) -> tuple[str, int, bool]:
    token = login(c)["access_token"]
    return claims(token)["iss"], teams(c, token).status_code, active(c, token)


def _after_access_revocation(c: httpx.Client) -> tuple[bool, int]:
    token = login(c)["access_token"]
    assert revoke(c, token).status_code == 200
    return active(c, token), teams(c, token).status_code


def _after_refresh_revocation(c: httpx.Client) -> tuple[bool, int]:
    body = login(c)
    assert revoke(c, body["refresh_token"]).status_code == 200
    return active(c, body["access_token"]), refresh(c, body["refresh_token"]).status_code


def _bad_password(c: httpx.Client) -> httpx.Response:
    return c.post(TOKEN, data={"grant_type": "password", **USER, "password": "wrong"}, auth=CLIENT)


def _after_logout(c: httpx.Client) -> tuple[int, int]:
    body = login(c)
    status = logout(c, body["refresh_token"]).status_code
    return status, refresh(c, body["refresh_token"]).status_code


def _userinfo_after_logout(c: httpx.Client) -> int:
    body = login(c)
    logout(c, body["refresh_token"])
    return c.get(USERINFO, headers=bearer(body["access_token"])).status_code


def _expired_introspection(c: httpx.Client) -> bool:
    token = login(c)["access_token"]
    advance(c, 301)
    return active(c, token)


def _expired_teams(c: httpx.Client) -> int:
    token = login(c)["access_token"]
    advance(c, 301)
    return teams(c, token).status_code


def _refresh_twice(c: httpx.Client) -> int:
    token = login(c)["refresh_token"]
    assert refresh(c, token).status_code == 200
    return refresh(c, token).status_code


def _same_teams(c: httpx.Client) -> bool:
    return teams(c, login(c)["access_token"]).json() == teams(c, legacy_token(c), scheme="BimPlus").json()


def _lifetimes(c: httpx.Client) -> tuple[int, int]:
    body = login(c)
    access = claims(body["access_token"])
    return access["exp"] - access["iat"], body["expires_in"]


PROBES: dict[str, tuple[Callable[[httpx.Client], Any], Any, Any]] = {
    # deviation: (probe, what documented answers, what the deviation answers)
    "oidc-issuer-trailing-slash": (lambda c: discovery(c)["issuer"], ISSUER, ISSUER + "/"),
    "oidc-discovery-no-revocation": (lambda c: "revocation_endpoint" in discovery(c), True, False),
    "oidc-userinfo-endpoint-moved": (
        lambda c: c.get(discovery(c)["userinfo_endpoint"], headers=bearer(login(c)["access_token"])).status_code,
        200,
        404,
    ),
    "oidc-advertises-es256": (
        lambda c: (discovery(c)["id_token_signing_alg_values_supported"], header(login(c)["id_token"])["alg"]),
        (["RS256"], "RS256"),
        (["ES256"], "RS256"),
    ),
    "oidc-kid-not-in-jwks": (_signature_facts, (True, True), (False, True)),
    "oidc-rotation-drops-old-keys": (_kid_published_after_rotation, True, False),
    "oidc-rogue-signature": (_signature_facts, (True, True), (True, False)),
    "oidc-token-cacheable": (_cache_headers, NO_STORE * 2, (None,) * 4),
    "oidc-no-refresh-expires-in": (lambda c: login(c).get("refresh_expires_in"), 1800, None),
    "oidc-no-id-token": (lambda c: "id_token" in login(c), True, False),
    "oidc-internal-issuer": (
        _issuer_and_acceptance,
        (ISSUER, 200, True),
        (f"{INTERNAL_BASE_URL}/realms/bimplus", 200, True),
    ),
    "oidc-audience-missing": (
        lambda c: (claims(token := login(c)["access_token"])["aud"], teams(c, token).status_code),
        (["bimplus-api", "account"], 200),
        ("account", 200),
    ),
    "oidc-azp-wrong": (lambda c: claims(login(c)["access_token"])["azp"], CLIENT[0], "account-console"),
    "oidc-lifetime-mismatch": (_lifetimes, (300, 300), (3600, 300)),
    "oidc-typ-missing": (lambda c: claims(login(c)["access_token"]).get("typ"), "Bearer", None),
    "oidc-invalid-grant-401": (lambda c: error(_bad_password(c)), (400, "invalid_grant"), (401, "invalid_grant")),
    "oidc-error-text": (
        lambda c: _bad_password(c).headers["content-type"].split(";")[0],
        "application/json",
        "text/plain",
    ),
    "oidc-bad-client-400": (
        lambda c: error(c.post(TOKEN, data={"grant_type": "password", **USER}, auth=(CLIENT[0], "wrong"))),
        (401, "invalid_client"),
        (400, "invalid_client"),
    ),
    "oidc-refresh-reusable": (_refresh_twice, 400, 200),
    "oidc-revoke-ignored": (_after_access_revocation, (False, 401), (True, 200)),
    "oidc-teams-accepts-revoked": (_after_access_revocation, (False, 401), (False, 200)),
    "oidc-revoke-refresh-keeps-session": (_after_refresh_revocation, (False, 400), (True, 400)),
    "oidc-revoke-unknown-400": (lambda c: revoke(c, "not-a-token").status_code, 200, 400),
    "oidc-introspection-open": (
        lambda c: c.post(INTROSPECT, data={"token": login(c)["access_token"]}).status_code,
        401,
        200,
    ),
    "oidc-introspection-expired-active": (_expired_introspection, False, True),
    "oidc-userinfo-without-openid": (
        lambda c: c.get(USERINFO, headers=bearer(login(c, scope="profile")["access_token"])).status_code,
        403,
        200,
    ),
    "oidc-userinfo-accepts-dead": (_userinfo_after_logout, 401, 200),
    "oidc-logout-keeps-session": (_after_logout, (204, 400), (204, 200)),
    "oidc-teams-rejects-bearer": (lambda c: teams(c, login(c)["access_token"]).status_code, 200, 401),
    "oidc-teams-accepts-forged": (lambda c: teams(c, forged(login(c)["access_token"])).status_code, 401, 200),
    "oidc-teams-accepts-expired": (_expired_teams, 401, 200),
    "oidc-teams-other-data": (_same_teams, True, False),
    "oidc-introspection-active-string": (
        lambda c: (introspect(c, login(c)["access_token"])["active"], introspect(c, "a.b.c")["active"]),
        (True, False),
        ("true", "false"),
    ),
    "oidc-userinfo-no-sub": (
        lambda c: "sub" in c.get(USERINFO, headers=bearer(login(c)["access_token"])).json(),
        True,
        False,
    ),
    "oidc-long-lived-tokens": (
        lambda c: (*_lifetimes(c), login(c)["refresh_expires_in"]),
        (300, 300, 1800),
        (3600, 3600, 28800),
    ),
}


def test_every_oidc_deviation_has_a_probe():
    assert set(PROBES) == {name for name in BimplusSimulator.deviations if name.startswith("oidc-")}


@pytest.mark.parametrize("deviation", list(PROBES))
def test_oidc_deviation(make, deviation):
    probe, documented, deviating = PROBES[deviation]
    assert probe(make()) == documented
    assert probe(make(deviation)) == deviating

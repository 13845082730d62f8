"""Widely used JavaScript OIDC clients against the Bimplus realm of `authcanary serve`, at the root (`--vendor bimplus`)
and mounted (`--vendor all`: the realm at /bimplus/realms/bimplus): panva's openid-client (v6) discovers the realm
(`allowInsecureRequests`: http on loopback), runs the password grant (`genericGrantRequest`), refresh, introspection,
revocation, userinfo and client_credentials, and checks each ID token's claims and signature
(`enableNonRepudiationChecks`); jose's `createRemoteJWKSet` + `jwtVerify` verify the access tokens (audience the BIM+
API) and ID tokens (audience the client) against jwks_uri, across a key rotation too.

The Node script and its pinned packages live in tests/e2e/js (package.json pins exact versions, package-lock.json
their integrity hashes; to upgrade, edit package.json and run `npm install --package-lock-only` there). `npm ci`
installs them outside the checkout, in a folder of the system's temp dir keyed by the lock's hash, reused by later
runs. Without node 20+ and npm, or when `npm ci` fails (no registry), the tests are skipped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from npm_packages import digest, installed

from authcanary.simulators.bimplus import BimplusSimulator
from authcanary.simulators.keycloak import PUBLIC_CLIENT_ID
from conftest import Served, serve_simulator

pytestmark = pytest.mark.slow

SETTINGS = BimplusSimulator.default_settings()
CID, SECRET = SETTINGS["oidc_client_id"], SETTINGS["oidc_client_secret"]
AUDIENCE, SCOPE = SETTINGS["oidc_audience"], SETTINGS["oidc_scope"]
USER, PASSWORD = SETTINGS["user"], SETTINGS["password"]
LEGACY_LOGIN = {"user_id": USER, "password": PASSWORD, "application_id": SETTINGS["application_id"]}

JS_DIR = Path(__file__).with_name("js")
SCRIPT = JS_DIR / "oidc_clients.mjs"
MIN_NODE = 20  # openid-client v6 and jose v6 need Node's global fetch and WebCrypto


def _node_major(node: str) -> int:
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    try:
        return int(version.lstrip("v").split(".")[0])
    except ValueError:
        return 0


@pytest.fixture(scope="module")
def js_script() -> list[str]:
    """The command running tests/e2e/js/oidc_clients.mjs with its locked packages installed (`npm ci`, cached)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the JavaScript OIDC clients (not on PATH)")
    if _node_major(node) < MIN_NODE:
        pytest.skip(f"node {MIN_NODE}+ is needed for openid-client v6 and jose v6")
    target = installed(JS_DIR, npm)
    # The script runs next to node_modules (ES modules resolve bare imports from the script's folder); the name
    # carries its content's hash, so concurrent runs of different checkouts do not overwrite each other's script.
    script = target / f"oidc_clients-{digest(SCRIPT)}.mjs"
    if not script.is_file():
        partial = target / f".{script.name}.{os.getpid()}"
        shutil.copyfile(SCRIPT, partial)
        os.replace(partial, script)
    return [node, str(script)]


def run_js(command: list[str], scenario: str, issuer: str, base: str, auth: str = "basic") -> dict[str, Any]:
    """One scenario of the Node script; its JSON answer, or the test fails with what the library rejected."""
    client_id = PUBLIC_CLIENT_ID if auth == "none" else CID
    arguments = {
        "scenario": scenario,
        "issuer": issuer,
        "base": base,
        "client_id": client_id,
        "client_secret": SECRET,
        "auth": auth,
        "username": USER,
        "password": PASSWORD,
        "audience": AUDIENCE,
        "scope": SCOPE,
    }
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("NODE_OPTIONS", None)
    done = subprocess.run(
        [*command, json.dumps(arguments)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(command[1]).parent,
    )
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        pytest.fail(
            f"node {scenario} exited {done.returncode} without JSON:\n{done.stdout}\n{done.stderr}", pytrace=False
        )
    if "failed" in result or done.returncode != 0:
        failed = json.dumps(result.get("failed", result), indent=2)
        pytest.fail(f"node {scenario} ({auth}) failed:\n{failed}\n{done.stderr}", pytrace=False)
    return result


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `authcanary serve --vendor bimplus` for the module."""
    with serve_simulator("bimplus", "documented", log_dir=tmp_path_factory.mktemp("oidc-js")) as server:
        yield server


def reset(base: str) -> str:
    assert httpx.post(f"{base}/__authcanary__/reset").status_code == 200
    return base


@pytest.fixture
def base(served: Served) -> str:
    """The Bimplus simulator's base URL, reset for the test."""
    return reset(served.vendor_url("bimplus"))


def legacy_teams(base: str) -> Any:
    token = httpx.post(f"{base}/v2/authorize", json=LEGACY_LOGIN).json()["access_token"]
    return httpx.get(f"{base}/v2/teams", headers={"Authorization": f"BimPlus {token}"}).json()


def assert_error(seen: dict[str, Any], status: int, error: str, description: str | None = None) -> None:
    """openid-client's ResponseBodyError for an RFC 6749 §5.2 error answer."""
    assert seen.get("name") == "ResponseBodyError", seen
    assert (seen["status"], seen["error"]) == (status, error), seen
    if description is not None:
        assert seen["error_description"] == description, seen


def assert_bearer_challenge(seen: dict[str, Any], error: str = "invalid_token") -> None:
    """openid-client's WWWAuthenticateChallengeError for an RFC 6750 §3 challenge."""
    assert seen.get("name") == "WWWAuthenticateChallengeError", seen
    assert seen["status"] == 401, seen
    [challenge] = seen["cause"]
    assert challenge["scheme"] == "bearer" and challenge["parameters"]["realm"] == "bimplus", seen
    assert challenge["parameters"]["error"] == error, seen


def assert_token_answer(token: dict[str, Any], issuer: str, client_id: str = CID) -> dict[str, Any]:
    """A user session's token answer as openid-client returns it; the ID token claims it validated."""
    # oauth4webapi lowercases token_type; the wire has Keycloak's "Bearer" (tests/e2e/test_oidc_clients.py)
    assert (token["token_type"], token["expires_in"], token["scope"]) == ("bearer", 300, SCOPE)
    # expiresIn() is what is left at the moment the script asks: a second may have passed on a busy machine
    assert 290 <= token["expiresIn"] <= 300, token["expiresIn"]
    assert token["has_access_token"] and token["has_id_token"] and token["has_refresh_token"]
    assert token["refresh_expires_in"] == 1800
    claims = token["id_token_claims"]
    assert (claims["iss"], claims["aud"], claims["azp"], claims["typ"]) == (issuer, client_id, client_id, "ID")
    assert claims["sid"] == token["session_state"] and claims["email"] == USER and claims["at_hash"]
    return claims


def assert_verified_access(verified: dict[str, Any], issuer: str, client_id: str = CID) -> dict[str, Any]:
    """What jose's jwtVerify returned for an access token (issuer and audience were checked)."""
    header, claims = verified["header"], verified["claims"]
    assert (header["alg"], header["typ"]) == ("RS256", "JWT") and header["kid"]
    assert claims["iss"] == issuer and AUDIENCE in claims["aud"]
    assert (claims["typ"], claims["azp"]) == ("Bearer", client_id)
    return claims


def assert_verified_id(verified: dict[str, Any], issuer: str, client_id: str = CID) -> dict[str, Any]:
    claims = verified["claims"]
    assert verified["header"]["alg"] == "RS256"
    assert (claims["iss"], claims["aud"], claims["azp"], claims["typ"]) == (issuer, client_id, client_id, "ID")
    return claims


def assert_confidential_session(result: dict[str, Any], issuer: str, base: str) -> None:
    """The confidential client's whole session, as openid-client and jose saw it."""
    metadata = result["metadata"]
    assert metadata["issuer"] == issuer
    for name in ("token_endpoint", "jwks_uri", "userinfo_endpoint", "introspection_endpoint", "revocation_endpoint"):
        assert metadata[name].startswith(issuer + "/protocol/openid-connect/")

    id_claims = assert_token_answer(result["token"], issuer)
    access = assert_verified_access(result["access"], issuer)
    verified_id = assert_verified_id(result["id"], issuer)
    assert verified_id == id_claims  # jose and openid-client read the same ID token
    assert access["sub"] == id_claims["sub"] and access["sid"] == result["token"]["session_state"]
    assert access["email"] == USER and access["preferred_username"] == USER
    assert result["id"]["header"]["kid"] == result["access"]["header"]["kid"]

    userinfo = result["userinfo"]
    assert (userinfo["sub"], userinfo["email"]) == (id_claims["sub"], USER)
    assert result["teams"] == {"status": 200, "body": legacy_teams(base)}  # fetchProtectedResource: Bearer

    introspection = result["introspection"]
    assert introspection["active"] is True
    assert (introspection["username"], introspection["client_id"], introspection["token_type"]) == (USER, CID, "Bearer")
    assert introspection["sub"] == access["sub"]
    refresh_introspection = result["refresh_introspection"]
    assert refresh_introspection["active"] is True and refresh_introspection["token_type"] == "Refresh"

    refreshed_id = assert_token_answer(result["refreshed"], issuer)
    assert result["refreshed"]["session_state"] == result["token"]["session_state"] and result["refresh_rotated"]
    assert refreshed_id["sub"] == id_claims["sub"] and refreshed_id["auth_time"] == id_claims["auth_time"]
    assert assert_verified_access(result["refreshed_access"], issuer)["sid"] == access["sid"]
    assert assert_verified_id(result["refreshed_id"], issuer) == refreshed_id
    assert_error(result["reused_refresh"], 400, "invalid_grant", "Maximum allowed refresh token reuse exceeded")

    assert result["revoked"] is True
    after = result["after_revocation"]  # revoking the refresh token ended the whole session
    assert after["introspection"] == [{"active": False}, {"active": False}]
    assert_bearer_challenge(after["userinfo"])
    assert_error(after["refresh"], 400, "invalid_grant", "Session not active")
    assert after["teams"]["status"] == 401

    assert_error(result["wrong_password"], 400, "invalid_grant", "Invalid user credentials")
    assert_error(result["wrong_secret"], 401, "invalid_client", "Invalid client or Invalid client credentials")

    service = result["client_credentials"]
    token = service["token"]
    assert not token["has_refresh_token"] and token["refresh_expires_in"] == 0 and "session_state" not in token
    service_access = assert_verified_access(service["access"], issuer)
    assert service_access["preferred_username"] == f"service-account-{CID}" and "sid" not in service_access


@pytest.mark.parametrize("auth", ["basic", "post"], ids=["client_secret_basic", "client_secret_post"])
def test_openid_client_and_jose_confidential_client(js_script, base, auth):
    issuer = f"{base}/realms/bimplus"
    assert_confidential_session(run_js(js_script, "confidential", issuer, base, auth), issuer, base)


def test_openid_client_and_jose_public_client(js_script, base):
    issuer = f"{base}/realms/bimplus"
    result = run_js(js_script, "public", issuer, base, auth="none")
    id_claims = assert_token_answer(result["token"], issuer, PUBLIC_CLIENT_ID)
    access = assert_verified_access(result["access"], issuer, PUBLIC_CLIENT_ID)
    assert assert_verified_id(result["id"], issuer, PUBLIC_CLIENT_ID) == id_claims
    assert (result["userinfo"]["sub"], result["userinfo"]["email"]) == (access["sub"], USER)
    assert_token_answer(result["refreshed"], issuer, PUBLIC_CLIENT_ID)
    assert result["refreshed"]["session_state"] == result["token"]["session_state"]
    assert result["revoked"] is True
    assert_bearer_challenge(result["userinfo_after_revocation"])
    assert_error(
        result["client_credentials"],
        400,
        "unauthorized_client",
        "Public client not allowed to retrieve service account",
    )


def test_jose_remote_jwks_across_a_key_rotation(js_script, base):
    result = run_js(js_script, "rotation", f"{base}/realms/bimplus", base)
    new, old = result["kids"]
    assert result["before"] == [old, old]
    assert result["after_new"] == [new, new]  # an unknown kid: createRemoteJWKSet fetched jwks_uri again
    assert result["after_old"] == [old, old]  # the older key stays published


def test_openid_client_and_jose_mounted_under_vendor_all(js_script, served_simulator):
    served = served_simulator("all", "documented")
    base = reset(served.vendor_url("bimplus"))
    issuer = f"{served.root_url}/bimplus/realms/bimplus"
    assert base == f"{served.root_url}/bimplus"
    assert_confidential_session(run_js(js_script, "confidential", issuer, base), issuer, base)

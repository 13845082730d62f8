"""Fidelity with real clients: the Autodesk SDK (autodesk-forge-sdk, v1) and authlib's httpx OAuth2 client
(client_credentials with Basic auth, v2) obtain working tokens from `authcanary serve --vendor autodesk`, at the
root and under a path prefix, and the simulator accepts what real clients send: scopes separated by raw spaces,
%20 or +, `;charset=UTF-8` on the content type."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from autodesk_forge_sdk import AuthenticationClient, Scope

from authcanary.simulators.autodesk import EXPIRES_IN, AutodeskSimulator
from authcanary.tokens import decode_unverified, verify_jwt
from conftest import Served, serve_simulator

with warnings.catch_warnings():
    import authlib.deprecate  # noqa: F401  its import adds simplefilter("always") for its own warning class...

    warnings.simplefilter("ignore")  # ...so ignore after it: authlib warns that its httpx integration is deprecated
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.httpx_client import OAuth2Client

DEFAULTS = AutodeskSimulator.default_settings()
CID, SECRET = DEFAULTS["client_id"], DEFAULTS["client_secret"]
PREFIXES = ["", "/aps"]


@pytest.fixture(scope="module", params=PREFIXES, ids=["root", "prefix-aps"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `authcanary serve --vendor autodesk [--prefix /aps]` for the module."""
    with serve_simulator(
        "autodesk", "documented", request.param, log_dir=tmp_path_factory.mktemp("fidelity")
    ) as server:
        yield server


def jwks(served: Served) -> dict[str, Any]:
    response = httpx.get(f"{served.base_url}/authentication/v2/keys")
    assert response.status_code == 200
    return response.json()


def assert_working_token(served: Served, token: dict[str, Any], version: int, scopes: list[str]) -> dict[str, Any]:
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == EXPIRES_IN[version]
    header, _ = decode_unverified(token["access_token"])
    assert header["alg"] == "RS256"
    claims = verify_jwt(token["access_token"], jwks(served))
    assert claims["scope"] == scopes
    assert claims["client_id"] == CID
    assert claims["exp"] - claims["iat"] == token["expires_in"]
    return claims


# -- autodesk-forge-sdk, v1 ------------------------------------------------------------------------------------
def test_forge_sdk_v1_two_legged(served, monkeypatch):
    sent: list[requests.PreparedRequest] = []
    original = requests.post

    def spy(url, *args, **kwargs):
        response = original(url, *args, **kwargs)
        sent.append(response.request)
        return response

    monkeypatch.setattr(requests, "post", spy)  # the SDK calls requests.post(url, data=form)
    client = AuthenticationClient(base_url=f"{served.base_url}/authentication/v1")
    token = client.authenticate(CID, SECRET, [Scope.DATA_READ, Scope.BUCKET_CREATE])
    assert_working_token(served, token, 1, ["data:read", "bucket:create"])
    [request] = sent
    assert request.url == f"{served.base_url}/authentication/v1/authenticate"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "scope=data%3Aread+bucket%3Acreate" in request.body  # the SDK joins scopes with `+`


def test_forge_sdk_v1_bad_secret_is_401(served):
    client = AuthenticationClient(base_url=f"{served.base_url}/authentication/v1")
    with pytest.raises(requests.HTTPError) as info:
        client.authenticate(CID, "not-the-secret", [Scope.DATA_READ])
    assert info.value.response.status_code == 401


# -- authlib httpx OAuth2Client, v2 ----------------------------------------------------------------------------
def authlib_client(
    auth_method: str,
    scope: str,
    sent: list[httpx.Request],
    secret: str = SECRET,
    received: list[httpx.Response] | None = None,
) -> OAuth2Client:
    hooks = {"request": [sent.append], "response": [received.append] if received is not None else []}
    return OAuth2Client(CID, secret, token_endpoint_auth_method=auth_method, scope=scope, event_hooks=hooks)


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_authlib_v2_client_credentials(served, auth_method):
    sent: list[httpx.Request] = []
    with authlib_client(auth_method, "data:read bucket:create", sent) as client:
        token = client.fetch_token(f"{served.base_url}/authentication/v2/token", grant_type="client_credentials")
    assert_working_token(served, dict(token), 2, ["data:read", "bucket:create"])
    [request] = sent
    assert (
        request.headers["content-type"].lower().replace(" ", "") == "application/x-www-form-urlencoded;charset=utf-8"
    )  # what authlib sends, parameters and all
    body = request.content.decode()
    if auth_method == "client_secret_basic":
        assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{CID}:{SECRET}".encode()).decode()
        assert "client_secret" not in body
    else:
        assert "authorization" not in request.headers and "client_secret=" in body


def test_authlib_v2_bad_secret_gets_no_token(served):
    """401 with the APS error body. It has no RFC 6749 `error` member, so authlib does not raise: it hands back the
    error body as the "token" (a fact about APS-shaped errors and generic OAuth clients, kept visible here)."""
    sent: list[httpx.Request] = []
    received: list[httpx.Response] = []
    with authlib_client("client_secret_basic", "data:read", sent, secret="not-the-secret", received=received) as client:
        try:
            token = dict(
                client.fetch_token(f"{served.base_url}/authentication/v2/token", grant_type="client_credentials")
            )
        except OAuthError:
            token = {}
    assert [response.status_code for response in received] == [401]
    assert "access_token" not in token


# -- raw requests as other clients send them -------------------------------------------------------------------
@pytest.mark.parametrize("separator", [" ", "%20", "+"], ids=["raw-space", "percent-20", "plus"])
@pytest.mark.parametrize("version", [1, 2])
def test_scope_separators(served, version, separator):
    scope = separator.join(["data:read", "bucket:create", "viewables:read"])
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if version == 1:
        path = "/authentication/v1/authenticate"
        body = f"client_id={CID}&client_secret={SECRET}&grant_type=client_credentials&scope={scope}"
    else:
        path = "/authentication/v2/token"
        body = f"grant_type=client_credentials&scope={scope}"
        headers["Authorization"] = "Basic " + base64.b64encode(f"{CID}:{SECRET}".encode()).decode()
    response = httpx.post(f"{served.base_url}{path}", content=body.encode(), headers=headers)
    assert response.status_code == 200, response.text
    assert_working_token(served, response.json(), version, ["data:read", "bucket:create", "viewables:read"])


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded;charset=UTF-8", "application/x-www-form-urlencoded; charset=utf-8"],
)
def test_charset_on_the_content_type(served, content_type):
    response = httpx.post(
        f"{served.base_url}/authentication/v1/authenticate",
        content=f"client_id={CID}&client_secret={SECRET}&grant_type=client_credentials".encode(),
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200, response.text
    assert_working_token(served, response.json(), 1, [])


def test_httpx_form_encoding(served):
    """httpx's own `data=` encoding (spaces as `+`), credentials in the body, v2."""
    response = httpx.post(
        f"{served.base_url}/authentication/v2/token",
        data={
            "client_id": CID,
            "client_secret": SECRET,
            "grant_type": "client_credentials",
            "scope": "data:read data:write",
        },
    )
    assert response.status_code == 200, response.text
    assert_working_token(served, response.json(), 2, ["data:read", "data:write"])


def test_the_prefix_is_required_when_served_under_one(served):
    if not served.prefix:
        pytest.skip("served at the root")
    response = httpx.post(
        f"{served.root_url}/authentication/v2/token", data={"grant_type": "client_credentials"}, auth=(CID, SECRET)
    )
    assert response.status_code == 404


def test_server_logs_requests_without_secrets(served):
    httpx.post(
        f"{served.base_url}/authentication/v1/authenticate?client_secret={SECRET}",
        data={"client_id": CID, "client_secret": SECRET, "grant_type": "client_credentials"},
    )
    log = served.output()
    assert "/authentication/v1/authenticate -> 200" in log
    assert SECRET not in log, "the access log never shows query strings or bodies"


def test_all_vendors_mounted_under_a_prefix(served_simulator):
    server = served_simulator("all", "documented", prefix="/sims")
    base = server.vendor_url("autodesk")
    assert base.endswith("/sims/autodesk")
    client = AuthenticationClient(base_url=f"{base}/authentication/v1")
    token = client.authenticate(CID, SECRET, [Scope.DATA_READ])
    claims = verify_jwt(token["access_token"], httpx.get(f"{base}/authentication/v2/keys").json())
    assert claims["scope"] == ["data:read"]
    assert httpx.get(f"{server.vendor_url('bimplus')}/__authcanary__/info").json()["vendor"] == "bimplus"


def test_served_profile_and_options(served_simulator):
    server = served_simulator(
        "autodesk", "lowercase-token-type", options=("v1_decommission=2024-04-30", "v1_removed_status=404")
    )
    info = httpx.get(f"{server.base_url}/__authcanary__/info").json()
    assert info["profile"] == "lowercase-token-type"
    assert info["options"]["v1_decommission"] == "2024-04-30"
    client = AuthenticationClient(base_url=f"{server.base_url}/authentication/v1")
    with pytest.raises(requests.HTTPError) as removed:
        client.authenticate(CID, SECRET, [Scope.DATA_READ])
    assert removed.value.response.status_code == 404
    v2 = httpx.post(
        f"{server.base_url}/authentication/v2/token", data={"grant_type": "client_credentials"}, auth=(CID, SECRET)
    )
    assert v2.status_code == 200 and v2.json()["token_type"] == "bearer"

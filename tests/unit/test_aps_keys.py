"""The Autodesk suites fetch the published JWKS once per `ApsApi` (= per client, per test), only when a signature is
to be verified, and still catch a bad signature."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from test_checks import FakeExpect

from authcanary.contracts import load_contract
from authcanary.simulators.keys import public_jwks, sign_jwt
from suites.autodesk.api import KEYS, ApsApi
from suites.autodesk.checks import ApsChecks

CONTRACT = load_contract(Path(__file__).resolve().parents[2] / "contracts", "autodesk")


def keys_client(asked: list[str]) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(200, json=public_jwks())

    return httpx.Client(transport=httpx.MockTransport(answer), base_url="http://aps.sim")


def keys_api(asked: list[str]) -> ApsApi:
    return ApsApi(keys_client(asked), {"client_id": "c", "client_secret": "s", "scope": "data:read"})


def token(key_name: str = "published") -> str:
    now = int(time.time())
    return sign_jwt({"iat": now, "exp": now + 3599, "scope": "data:read"}, key_name)


def check(expect: FakeExpect, api: ApsApi, jwt: str) -> None:
    """What the suites' `checks` fixture does: the checks take the api's published keys, asked for lazily."""
    response = httpx.Response(200, request=httpx.Request("POST", "http://aps.sim/authentication/v2/token"))
    ApsChecks(expect, CONTRACT, api.published_keys).jwt(response, jwt, 3599)


def test_keys_are_fetched_once_per_client():
    asked: list[str] = []
    expect = FakeExpect()
    first, second = keys_api(asked), keys_api(asked)
    for api in (first, first, second):
        check(expect, api, token())
    assert asked == [KEYS, KEYS] and expect.failed == []


def test_a_token_signed_by_an_unpublished_key_fails_with_cached_keys():
    asked: list[str] = []
    expect, api = FakeExpect(), keys_api(asked)
    check(expect, api, token())
    check(expect, api, token("rogue"))
    assert asked == [KEYS]
    assert [f["check"] for f in expect.failed] == ["autodesk.token.jwt_signature"]


def test_keys_are_not_fetched_when_no_signature_is_to_be_verified():
    """A replayed recording's token is a placeholder: its shape is judged, and nothing is sent for the keys."""
    asked: list[str] = []
    expect = FakeExpect()
    check(expect, keys_api(asked), "<token#1 jwt RS256 kid=k1 claims=[exp,iat]>")
    assert asked == [] and expect.failed == []

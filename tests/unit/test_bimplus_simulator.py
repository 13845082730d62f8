"""The Bimplus legacy simulator behaves as documented (seed 001, contracts/bimplus/), in-process."""

from __future__ import annotations

import json
import re
import uuid
import warnings
from pathlib import Path

import pytest

from authcanary.registry import vendor_spec
from authcanary.simulators.bimplus import BimplusSimulator
from authcanary.simulators.framework import UnknownProfile
from authcanary.targets import load_target

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = BimplusSimulator.default_settings()
USER = {"user_id": SETTINGS["user"], "password": SETTINGS["password"], "application_id": SETTINGS["application_id"]}
SECOND = {**USER, "user_id": SETTINGS["second_user"], "password": SETTINGS["second_password"]}
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def make_client(**kwargs) -> TestClient:
    return TestClient(BimplusSimulator(**kwargs).app(), base_url="http://bimplus.sim")


@pytest.fixture
def sim() -> TestClient:
    return make_client()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"BimPlus {token}"}


def login(sim: TestClient, **extra) -> dict:
    response = sim.post("/v2/authorize", json={**USER, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def advance(sim: TestClient, seconds: float) -> None:
    assert sim.post("/__authcanary__/clock", json={"advance": seconds}).status_code == 200


def test_authorize_answers_like_the_documentation(sim):
    body = login(sim)
    assert set(body) == {"access_token", "expires_in", "client_id", "token_type"}
    assert HEX32.match(body["access_token"]) and body["token_type"] == "BimPlus"
    assert body["expires_in"] == 7199  # "2 hours by default", counted like the examples
    assert uuid.UUID(body["client_id"]).version == 4
    client_id = str(uuid.uuid4())
    assert login(sim, client_id=client_id)["client_id"] == client_id


@pytest.mark.parametrize(
    "body, headers, status",
    [
        ({k: v for k, v in USER.items() if k != "application_id"}, {}, 400),
        ({**USER, "user_id": ["x"]}, {}, 400),
        ({**USER, "remember_me": "maybe"}, {}, 400),
        (USER, {"Content-Type": "text/plain"}, 415),
        ({**USER, "password": "wrong"}, {}, 401),
        ({**USER, "user_id": "ｔest@bimplus.net"}, {}, 401),  # a look-alike is another (unknown) user
    ],
    ids=["no-application-id", "mistyped", "bad-remember-me", "content-type", "wrong-password", "look-alike"],
)
def test_authorize_refusals(sim, body, headers, status):
    response = sim.post(
        "/v2/authorize", content=json.dumps(body), headers={"Content-Type": "application/json", **headers}
    )
    assert response.status_code == status, response.text


def test_failed_logins_are_counted_per_configured_account(sim):
    sim.post("/v2/authorize", json={**USER, "password": "wrong"})
    sim.post("/v2/authorize", json={**USER, "user_id": "nobody@unknown.invalid"})
    assert sim.get("/__authcanary__/failed-logins").json() == {SETTINGS["user"]: 1}


def test_token_info_user_audience_and_lifetime_on_the_virtual_clock(sim):
    first, second = login(sim), login(sim, client_id=str(uuid.uuid4()))
    infos = [sim.get("/v2/authorize", headers=auth(b["access_token"])).json() for b in (first, second)]
    assert infos[0]["user_id"] == infos[1]["user_id"] and uuid.UUID(infos[0]["user_id"])
    assert [info["audience"] for info in infos] == [first["client_id"], second["client_id"]]
    assert infos[0]["expires_in"] == 7199
    advance(sim, 3600)
    assert sim.get("/v2/authorize", headers=auth(first["access_token"])).json()["expires_in"] == 3599
    advance(sim, 3601)
    assert sim.get("/v2/authorize", headers=auth(first["access_token"])).status_code == 401
    assert sim.get("/v2/teams", headers=auth(first["access_token"])).status_code == 401


def test_remember_me_login_gives_fresh_tokens_for_its_client(sim):
    body = login(sim, remember_me="true")  # the examples' string is honoured like the bool
    assert body["remember_me"] is True and HEX32.match(body["remember_me_token"])
    assert (body["expires_in"], body["remember_me_expires_in"]) == (28799, 2591999)
    renew = {"remember_me": True, "remember_me_token": body["remember_me_token"], "client_id": body["client_id"]}
    fresh = sim.post("/v2/authorize", json=renew).json()
    assert fresh["access_token"] != body["access_token"] and fresh["client_id"] == body["client_id"]
    assert sim.get("/v2/teams", headers=auth(fresh["access_token"])).status_code == 200
    assert sim.post("/v2/authorize", json={**renew, "client_id": str(uuid.uuid4())}).status_code == 401
    typo = {"remember_me": True, "remeber_me_token": body["remember_me_token"], "client_id": body["client_id"]}
    assert sim.post("/v2/authorize", json=typo).status_code == 400  # the example's spelling is not accepted
    advance(sim, 30 * 86400)
    assert sim.post("/v2/authorize", json=renew).status_code == 401


def test_cross_token_is_one_time_and_short_lived(sim):
    token = login(sim)["access_token"]
    cross = sim.post("/v2/cross-token", headers=auth(token)).json()
    assert cross["expires_in"] == 299 and cross["token_type"] == "BimPlus" and HEX32.match(cross["cross_token"])
    authorized = sim.post("/v2/cross-authorize", json={"cross_token": cross["cross_token"]})
    assert authorized.status_code == 200 and authorized.json()["access_token"] != token
    assert sim.post("/v2/cross-authorize", json={"cross_token": cross["cross_token"]}).status_code == 401
    late = sim.post("/v2/cross-token", headers=auth(token)).json()["cross_token"]
    advance(sim, 300)
    assert sim.post("/v2/cross-authorize", json={"cross_token": late}).status_code == 401


def test_logout_ends_every_token_of_the_user_issued_before_it(sim):
    presented, other_client = login(sim), login(sim, client_id=str(uuid.uuid4()))
    remember = login(sim, remember_me=True)
    cross = sim.post("/v2/cross-token", headers=auth(other_client["access_token"])).json()["cross_token"]
    bystander = sim.post("/v2/authorize", json=SECOND).json()["access_token"]
    assert sim.delete("/v2/authorize", headers=auth(presented["access_token"])).status_code == 200
    for body in (presented, other_client, remember):
        assert sim.get("/v2/authorize", headers=auth(body["access_token"])).status_code == 401
    assert sim.post("/v2/cross-authorize", json={"cross_token": cross}).status_code == 401
    assert (
        sim.post(
            "/v2/authorize",
            json={
                "remember_me": True,
                "remember_me_token": remember["remember_me_token"],
                "client_id": remember["client_id"],
            },
        ).status_code
        == 401
    )
    assert sim.get("/v2/teams", headers=auth(bystander)).status_code == 200
    assert sim.get("/v2/teams", headers=auth(login(sim)["access_token"])).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "BimPlus"}, {"Authorization": "Bearer " + "0" * 32}, auth("0" * 32)],
    ids=["missing", "no-token", "bearer", "unknown"],
)
def test_malformed_tokens_get_401(sim, headers):
    for method, path in (
        ("GET", "/v2/authorize"),
        ("GET", "/v2/teams"),
        ("POST", "/v2/cross-token"),
        ("DELETE", "/v2/authorize"),
    ):
        assert sim.request(method, path, headers=headers).status_code == 401


def test_access_lifetime_option_gives_the_examples_reading():
    sim = make_client(options={"access_lifetime": "2592000"})  # as `serve --option` passes it
    assert login(sim)["expires_in"] == 2591999


def test_deviations_apply_and_unknown_profiles_are_refused():
    assert login(make_client(profile="bearer-token-type,cross-token-one-hour"))["token_type"] == "Bearer"
    with pytest.raises(UnknownProfile, match="documented"):
        BimplusSimulator(profile="no-such-deviation")


def test_targets_know_bimplus():
    embedded = load_target(ROOT / "targets.toml", "sim", environ={}).vendors["bimplus"]
    assert embedded.settings["user"] == SETTINGS["user"] and embedded.settings["logout_path"] == "/v2/authorize"
    local = load_target(ROOT / "targets.toml", "local", environ={}).vendors["bimplus"]
    assert local.simulated
    assert vendor_spec("bimplus").secret_keys == {"password", "second_password", "oidc_client_secret"}


def test_remember_me_absent_crash_answers_500_to_password_logins_without_remember_me():
    crashing, documented = make_client(profile="remember-me-absent-crash"), make_client()
    for body in (USER, {**USER, "password": "wrong"}, {"user_id": "x"}):  # whatever else the login holds
        answer = crashing.post("/v2/authorize", json=body)
        assert answer.status_code == 500 and answer.json()["error"] == "server_error", answer.text
        assert documented.post("/v2/authorize", json=body).status_code != 500
    for remember_me in (False, True, "true", None):  # present (even false or null): the login works
        assert login(crashing, remember_me=remember_me)["token_type"] == "BimPlus"
    renew = login(crashing, remember_me=True)
    assert (
        crashing.post(
            "/v2/authorize",
            json={
                "remember_me": True,
                "remember_me_token": renew["remember_me_token"],
                "client_id": renew["client_id"],
            },
        ).status_code
        == 200
    )
    assert crashing.post("/v2/authorize", json=USER, headers={"Content-Type": "text/plain"}).status_code == 415


def test_token_info_deviations():
    shared = make_client(profile="shared-user-id")
    infos = [
        shared.get("/v2/authorize", headers=auth(body["access_token"])).json()
        for body in (login(shared), shared.post("/v2/authorize", json=SECOND).json())
    ]
    assert infos[0]["user_id"] == infos[1]["user_id"] and uuid.UUID(infos[0]["user_id"])
    numeric = make_client(profile="numeric-user-id")
    token = login(numeric)["access_token"]
    user_ids = [numeric.get("/v2/authorize", headers=auth(token)).json()["user_id"] for _ in range(2)]
    assert isinstance(user_ids[0], int) and user_ids[0] == user_ids[1]
    growing = make_client(profile="token-info-lifetime-grows")
    token = login(growing)["access_token"]
    assert [growing.get("/v2/authorize", headers=auth(token)).json()["expires_in"] for _ in range(3)] == [
        7199,
        7199 + 86400,
        7199 + 172800,
    ]
    advance(growing, 7200)  # the token itself still expires as issued
    assert growing.get("/v2/authorize", headers=auth(token)).status_code == 401


def test_cross_token_and_teams_deviations():
    untyped = make_client(profile="cross-token-no-token-type")
    cross = untyped.post("/v2/cross-token", headers=auth(login(untyped)["access_token"])).json()
    assert set(cross) == {"cross_token", "expires_in"} and cross["expires_in"] == 299
    wrapped = make_client(profile="teams-wrapped")
    teams = wrapped.get("/v2/teams", headers=auth(login(wrapped)["access_token"]))
    assert teams.status_code == 200 and isinstance(teams.json()["teams"], list) and teams.json()["teams"]
    xml = make_client(profile="teams-xml")
    teams = xml.get("/v2/teams", headers=auth(login(xml)["access_token"]))
    assert teams.status_code == 200 and teams.headers["content-type"].startswith("application/xml")
    assert teams.text.startswith("<?xml") and "<ArrayOfTeam>" in teams.text

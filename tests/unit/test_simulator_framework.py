"""What every simulator shares, in-process (real ASGI through httpx): control-plane input validation, the
operational options (random faults, latency), repeated slashes, CORS and bounded memory."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from authcanary.errors import ConfigError
from authcanary.http import InProcessTransport
from authcanary.registry import VENDORS
from authcanary.server import build_simulators
from authcanary.simulators.autodesk import V2_PATH, AutodeskSimulator
from authcanary.simulators.bimplus import BimplusSimulator
from authcanary.simulators.framework import (
    CONTROL_PREFIX,
    MAX_CONTROL_BODY,
    MAX_QUEUED_FAULTS,
    CollapseSlashes,
    Simulator,
    build_app,
)
from authcanary.targets import load_target

APS = AutodeskSimulator.default_settings()
BIM = BimplusSimulator.default_settings()
APS_FORM = {
    "client_id": APS["client_id"],
    "client_secret": APS["client_secret"],
    "grant_type": "client_credentials",
    "scope": "data:read",
}
BIM_LOGIN = {"user_id": BIM["user"], "password": BIM["password"], "application_id": BIM["application_id"]}
ORIGIN = "http://app.example"


BASE = "http://sim"


def client(app: Any) -> httpx.Client:
    return httpx.Client(transport=InProcessTransport(app), base_url=BASE)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with client(AutodeskSimulator().app()) as http:
        yield http


def token(http: httpx.Client, path: str = V2_PATH) -> httpx.Response:
    return http.post(BASE + path, data=APS_FORM)  # absolute: a relative `//x` would name a host x


def control(http: httpx.Client, name: str, body: Any = None, *, raw: bytes | None = None) -> httpx.Response:
    content = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
    return http.post(f"{CONTROL_PREFIX}/{name}", content=content, headers={"Content-Type": "application/json"})


# -- control-plane input validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {"status": True},
        {"status": 500.0},
        {"status": "500"},
        {"status": 399},
        {"status": 600},
        {"status": None},
        {"count": 1},
        {"status": 500, "count": 0},
        {"status": 500, "count": MAX_QUEUED_FAULTS + 1},
        {"status": 500, "count": True},
        {"status": 500, "count": 1.5},
        {"status": 500, "count": 10**400},
    ],
    ids=repr,
)
def test_fault_refuses_what_is_not_an_integer_status_and_count(http, body):
    response = control(http, "fault", body)
    assert response.status_code == 400, response.text
    assert "status an integer 400..599" in response.json()["error"]
    assert token(http).status_code == 200  # nothing was queued


def test_at_most_a_thousand_faults_are_queued(http):
    assert control(http, "fault", {"status": 503, "count": MAX_QUEUED_FAULTS - 1}).status_code == 200
    assert control(http, "fault", {"status": 500, "count": 2}).status_code == 400
    assert len(control(http, "fault", {"status": 500}).json()["queued"]) == MAX_QUEUED_FAULTS
    assert control(http, "fault", {"status": 500}).status_code == 400


@pytest.mark.parametrize(
    "raw",
    [
        b'{"advance": NaN}',
        b'{"advance": Infinity}',
        b'{"advance": -1}',
        b'{"advance": "3600"}',
        b'{"advance": true}',
        b'{"advance": 315619201}',
        b"{}",
    ],
)
def test_clock_refuses_what_is_not_a_finite_advance_up_to_ten_years(http, raw):
    before = http.get(f"{CONTROL_PREFIX}/info").json()["now"]
    response = control(http, "clock", raw=raw)
    assert response.status_code == 400 and "ten years" in response.json()["error"], response.text
    assert http.get(f"{CONTROL_PREFIX}/info").json()["now"] < before + 60


def test_clock_takes_fractions_and_exactly_ten_years(http):
    assert control(http, "clock", {"advance": 0.5}).status_code == 200
    assert control(http, "clock", {"advance": 315619200}).status_code == 200


@pytest.mark.parametrize("name", ["fault", "clock"])
@pytest.mark.parametrize("raw", [b"[500]", b'"x"', b"null", b"not json", b"\xff\xfe", b""])
def test_control_bodies_must_be_json_objects(http, name, raw):
    response = control(http, name, raw=raw)
    assert response.status_code == 400 and "expected" in response.json()["error"], response.text
    assert "{" in response.json()["error"]  # says what is expected


@pytest.mark.parametrize("name", ["fault", "clock"])
def test_control_bodies_over_64_kib_are_refused(http, name):
    raw = json.dumps({"status": 500, "advance": 1, "pad": "x" * MAX_CONTROL_BODY}).encode()
    response = control(http, name, raw=raw)
    assert response.status_code == 413 and str(MAX_CONTROL_BODY) in response.json()["error"]


# -- operational options -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_every_vendor_has_the_operational_options_and_its_own(vendor):
    cls = VENDORS[vendor].simulator_class()
    assert {"fault_rate", "fault_status", "fault_retry_after", "fault_seed", "latency"} <= set(cls.option_defaults)
    assert set(cls.option_defaults) > set(Simulator.option_defaults)  # its own options kept


@pytest.mark.parametrize(
    "name, value",
    [
        ("fault_rate", "1.5"),
        ("fault_rate", -0.1),
        ("fault_rate", "abc"),
        ("fault_rate", True),
        ("fault_rate", "nan"),
        ("fault_status", "99"),
        ("fault_status", "503,abc"),
        ("fault_status", ""),
        ("fault_status", 600),
        ("fault_retry_after", "-1"),
        ("fault_retry_after", "1.5"),
        ("fault_retry_after", "soon"),
        ("fault_seed", "x"),
        ("fault_seed", 1.5),
        ("latency", "-1"),
        ("latency", "61"),
        ("latency", "inf"),
    ],
)
def test_bad_operational_option_values_are_value_errors_naming_the_option(name, value):
    with pytest.raises(ValueError, match=f"simulator option {name} must be"):
        AutodeskSimulator(options={name: value})


def test_operational_options_from_strings_and_numbers():
    given = {
        "fault_rate": "0.5",
        "fault_status": "503, 500",
        "fault_retry_after": "",
        "fault_seed": "7",
        "latency": "0.01",
    }
    conditions = BimplusSimulator(options=given).conditions
    assert (
        conditions.fault_rate,
        conditions.fault_statuses,
        conditions.fault_retry_after,
        conditions.fault_seed,
        conditions.latency,
    ) == (0.5, (503, 500), 0, 7, 0.01)
    conditions = AutodeskSimulator(options={"fault_rate": 1, "fault_status": 429, "fault_retry_after": 30}).conditions
    assert (conditions.fault_rate, conditions.fault_statuses, conditions.fault_retry_after) == (1, (429,), 30)


def test_a_bad_option_value_from_serve_is_a_config_error_naming_it():
    with pytest.raises(ConfigError) as error:
        build_simulators("all", "documented", ["fault_rate=often"])
    assert "fault_rate" in error.value.cause and "often" in error.value.cause
    assert "authcanary profiles" not in error.value.fix


def test_the_targets_file_options_table_takes_them(tmp_path):
    (tmp_path / "targets.toml").write_text(
        "[targets.sim]\nembedded = true\n[targets.sim.autodesk]\n"
        'options = { fault_rate = 0.25, fault_status = "503,500", latency = 0 }\n'
    )
    settings = load_target(tmp_path / "targets.toml", "sim", environ={}).vendors["autodesk"].settings
    assert AutodeskSimulator(options=settings["options"]).conditions.fault_statuses == (503, 500)


def statuses(http: httpx.Client, calls: int) -> list[int]:
    return [token(http).status_code for _ in range(calls)]


def test_fault_rate_one_faults_every_vendor_request_never_the_control_plane():
    with client(AutodeskSimulator(options={"fault_rate": "1", "fault_status": "503,500"}).app()) as http:
        answers = [token(http) for _ in range(40)]
        assert {r.status_code for r in answers} == {503, 500}
        assert all(r.headers.get("retry-after") == ("1" if r.status_code == 503 else None) for r in answers)
        assert set(answers[0].json()) == {"developerMessage", "errorCode", "moreInfo"}  # the vendor's error body
        assert http.get(f"{CONTROL_PREFIX}/info").status_code == 200
        assert control(http, "clock", {"advance": 1}).status_code == 200


def test_fault_rate_is_a_share_reproducible_from_the_seed_and_goes_on_across_resets():
    options = {"fault_rate": 0.3, "fault_seed": 42}
    first, again = client(BimplusSimulator(options=options).app()), client(BimplusSimulator(options=options).app())
    with first, again:
        run = [first.post("/v2/authorize", json=BIM_LOGIN).status_code for _ in range(200)]
        assert run == [again.post("/v2/authorize", json=BIM_LOGIN).status_code for _ in range(200)]
        assert set(run) == {200, 503} and 30 <= run.count(503) <= 90
        assert control(first, "reset").status_code == 200  # options are configuration: still faulting after a
        after_reset = [first.post("/v2/authorize", json=BIM_LOGIN).status_code for _ in range(200)]  # reset,
        assert 30 <= after_reset.count(503) <= 90 and after_reset != run  # with the draws going on (not re-seeded)
    with client(BimplusSimulator(options={**options, "fault_seed": 43}).app()) as other:
        assert [other.post("/v2/authorize", json=BIM_LOGIN).status_code for _ in range(200)] != run


def test_no_random_faults_by_default(http):
    assert set(statuses(http, 50)) == {200}


@pytest.mark.parametrize("retry_after, header", [(None, "1"), ("0", None), ("", None), ("120", "120")])
@pytest.mark.parametrize("status", [503, 429])
def test_queued_faults_carry_retry_after_on_503_and_429(status, retry_after, header):
    options = {} if retry_after is None else {"fault_retry_after": retry_after}
    with client(AutodeskSimulator(options=options).app()) as http:
        control(http, "fault", {"status": status, "count": 1})
        answer = token(http)
        assert answer.status_code == status and answer.headers.get("retry-after") == header


def test_queued_500_has_no_retry_after(http):
    control(http, "fault", {"status": 500})
    assert "retry-after" not in token(http).headers


def test_latency_delays_vendor_answers_not_the_control_plane():
    with client(AutodeskSimulator(options={"latency": "0.3"}).app()) as http:
        started = time.monotonic()
        assert token(http).status_code == 200
        assert time.monotonic() - started >= 0.3
        started = time.monotonic()
        http.get(f"{CONTROL_PREFIX}/info")
        assert time.monotonic() - started < 0.3


# -- repeated slashes --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["//authentication/v2/token", "///authentication//v2///token"])
def test_repeated_slashes_route_like_one(http, path):
    assert token(http, path).status_code == 200


@pytest.mark.parametrize(
    "prefix, path",
    [
        ("/autodesk", "/autodesk//authentication/v2/token"),
        ("/autodesk", "//autodesk/authentication//v2/token"),
        ("/a/b", "/a//b//authentication/v2/token"),
    ],
)
def test_repeated_slashes_under_a_mount_prefix(prefix, path):
    with client(build_app({"autodesk": AutodeskSimulator()}, prefix)) as http:
        assert token(http, path).status_code == 200


def test_repeated_slashes_with_every_vendor():
    with client(build_app({"autodesk": AutodeskSimulator(), "bimplus": BimplusSimulator()})) as http:
        assert token(http, "/autodesk//authentication/v2/token").status_code == 200
        assert http.post(f"{BASE}//bimplus//v2/authorize", json=BIM_LOGIN).status_code == 200
        assert http.get("/bimplus//__authcanary__/info").json()["vendor"] == "bimplus"


def test_collapse_slashes_keeps_the_query_string():
    seen: dict[str, Any] = {}

    async def app(scope, receive, send):
        seen.update(scope)

    scope = {"type": "http", "path": "//a//b", "raw_path": b"//a//b?next=//x", "query_string": b"next=//x"}
    asyncio.run(CollapseSlashes(app)(scope, None, None))
    assert (seen["path"], seen["raw_path"], seen["query_string"]) == ("/a/b", b"/a/b?next=//x", b"next=//x")


# -- CORS ----------------------------------------------------------------------------------------------------------
def preflight(http: httpx.Client, path: str, method: str = "POST", origin: str = ORIGIN) -> httpx.Response:
    return http.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def assert_preflight_allows(response: httpx.Response, origin: str, method: str) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == origin
    assert method in response.headers["access-control-allow-methods"]
    assert {"authorization", "content-type"} <= {
        h.strip() for h in response.headers["access-control-allow-headers"].split(",")
    }


@pytest.mark.parametrize(
    "vendor, path, method",
    [
        ("autodesk", V2_PATH, "POST"),
        ("bimplus", "/v2/authorize", "DELETE"),
        ("bimplus", f"{CONTROL_PREFIX}/clock", "POST"),
    ],
)
def test_preflight_is_answered_for_any_origin_by_default(vendor, path, method):
    with client(VENDORS[vendor].simulator_class()().app()) as http:
        assert_preflight_allows(preflight(http, path, method), "*", method)


def test_answers_expose_retry_after_deprecation_and_sunset(http):
    control(http, "fault", {"status": 503})
    answer = http.post(V2_PATH, data=APS_FORM, headers={"Origin": ORIGIN})
    assert answer.status_code == 503 and answer.headers["access-control-allow-origin"] == "*"
    exposed = {h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert {"retry-after", "deprecation", "sunset"} <= exposed


def test_allowed_origins_can_be_restricted():
    with client(build_app({"autodesk": AutodeskSimulator()}, "/aps", cors_origins=[ORIGIN])) as http:
        assert_preflight_allows(preflight(http, f"/aps{V2_PATH}"), ORIGIN, "POST")
        refused = preflight(http, f"/aps{V2_PATH}", origin="http://elsewhere.example")
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
        answer = http.post(f"/aps{V2_PATH}", data=APS_FORM, headers={"Origin": ORIGIN})
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == ORIGIN


def test_without_cors_the_preflight_is_not_answered():
    """What the CORS layer adds: the vendor routes alone do not answer OPTIONS."""
    with client(AutodeskSimulator().app(cors_origins=[])) as http:
        assert preflight(http, V2_PATH).status_code == 400


# -- bounded memory ------------------------------------------------------------------------------------------------
def bimplus(**kwargs: Any) -> tuple[BimplusSimulator, httpx.Client]:
    simulator = BimplusSimulator(**kwargs)
    return simulator, client(simulator.app())


def login(http: httpx.Client, **extra: Any) -> dict[str, Any]:
    response = http.post("/v2/authorize", json={**BIM_LOGIN, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def test_expired_grants_are_forgotten():
    simulator, http = bimplus()
    with http:
        for _ in range(150):
            login(http)
            login(http, remember_me=True)  # an access and a remember-me token
        assert len(simulator.grants) == 450
        control(http, "clock", {"advance": 3 * 3600})  # password-login access tokens are dead
        kept = login(http)["access_token"]
        assert len(simulator.grants) == 301
        control(http, "clock", {"advance": 31 * 86400})  # so are the remember-me ones
        login(http)
        assert len(simulator.grants) == 1 and simulator.grants.get(kept) is None


def test_grants_are_bounded_in_count_the_oldest_first():
    simulator, http = bimplus()
    simulator.max_grants = 20
    simulator.reset()
    with http:
        tokens = [login(http)["access_token"] for _ in range(50)]
        assert len(simulator.grants) == 20
        assert http.get("/v2/teams", headers={"Authorization": f"BimPlus {tokens[-1]}"}).status_code == 200
        assert http.get("/v2/teams", headers={"Authorization": f"BimPlus {tokens[0]}"}).status_code == 401


def test_tokens_a_deviation_still_accepts_are_kept():
    _, http = bimplus(profile="expired-tokens-accepted")
    with http:
        old = login(http)["access_token"]
        control(http, "clock", {"advance": 3 * 3600})
        login(http)  # sweeps
        assert http.get("/v2/teams", headers={"Authorization": f"BimPlus {old}"}).status_code == 200


def test_wrong_logins_of_unknown_users_leave_no_state():
    simulator, http = bimplus()
    with http:
        for n in range(100):
            http.post("/v2/authorize", json={**BIM_LOGIN, "user_id": f"nobody-{n}@example.com"})
        assert not simulator.failed_logins and not simulator.grants.stored and not simulator.logged_out_after


def test_every_answer_is_dated_by_the_virtual_clock(http):
    """RFC 9110 §6.6.1: one Date header, read off the virtual clock (it follows a jump), in-process as over HTTP."""
    from email.utils import parsedate_to_datetime

    before = token(http)
    control(http, "clock", {"advance": 86400 * 400})
    after = token(http)
    assert len(before.headers.get_list("date")) == len(after.headers.get_list("date")) == 1
    jumped = parsedate_to_datetime(after.headers["date"]) - parsedate_to_datetime(before.headers["date"])
    assert 399 <= jumped.days <= 400

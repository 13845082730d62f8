"""The Graebert ARES Kudo token service simulator behaves as documented (seed 003, VENDORS.md §4, contracts/kudo/),
in-process: generate and verify, the errors, the virtual clock and Date header, the options, what each deviation
changes; and the comparator the round-trip checks judge verify's answers with (suites/kudo/checks.py)."""

from __future__ import annotations

import json
import re
import uuid
import warnings
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from authcanary.registry import vendor_spec
from authcanary.simulators.framework import UnknownProfile
from authcanary.simulators.kudo import EXACT_INTEGER, LOCAL_OFFSET, TOKEN_LIFETIME, KudoSimulator
from authcanary.targets import load_target
from suites.kudo.checks import differences

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
KEY = KudoSimulator.default_settings()["api_key"]
EXAMPLE = {"file": "test.dwg", "userId": "123"}
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
RICH = {
    "file": "Ｐｌａｎ ﬁnal.dwg",
    "userId": "e\u0301mile",
    "empty": "",
    "none": None,
    "list": [],
    "object": {},
    "viewer": {"panels": {"left": True}, "zoom": 1.5},
    "count": 3,
    "big": 2**60 + 1,
}


def make_client(profile: str = "documented", **options) -> TestClient:
    return TestClient(KudoSimulator(profile, options=options or None).app(), base_url="http://kudo.sim")


@pytest.fixture
def sim() -> TestClient:
    return make_client()


def generate(sim: TestClient, parameters=EXAMPLE, key: str | None = KEY, **kwargs):
    headers = {"Content-Type": "application/json", **({"x-api-key": key} if key is not None else {})}
    content = kwargs.pop("content", None)
    return sim.post("/generate", content=json.dumps(parameters) if content is None else content, headers=headers)


def token_of(sim: TestClient, parameters=EXAMPLE) -> dict:
    response = generate(sim, parameters)
    assert response.status_code == 200, response.text
    return response.json()


def verify(sim: TestClient, token: str | None, **headers):
    return sim.get("/verify", headers={**({"x-api-token": token} if token is not None else {}), **headers})


def advance(sim: TestClient, seconds: float) -> float:
    response = sim.post("/__authcanary__/clock", json={"advance": seconds})
    assert response.status_code == 200
    return response.json()["now"]


def now(sim: TestClient) -> float:
    return sim.get("/__authcanary__/info").json()["now"]


def date_of(response) -> float:
    return parsedate_to_datetime(response.headers["date"]).timestamp()


# -- documented behaviour ---------------------------------------------------------------------------------------
def test_generate_answers_a_uuid4_and_an_absolute_expiration_in_seconds(sim):
    before = now(sim)
    response = generate(sim)
    body = response.json()
    assert response.status_code == 200 and set(body) == {"token", "expiration_time"}
    assert UUID4.match(body["token"])
    assert isinstance(body["expiration_time"], int)
    assert abs(body["expiration_time"] - (before + TOKEN_LIFETIME)) <= 2
    assert abs(date_of(response) - before) <= 2 and body["expiration_time"] > date_of(response)


def test_every_generate_gets_a_fresh_token(sim):
    assert len({token_of(sim)["token"] for _ in range(5)}) == 5


@pytest.mark.parametrize("parameters", [EXAMPLE, {}, RICH], ids=["example", "empty", "rich"])
def test_verify_answers_exactly_the_parameters(sim, parameters):
    response = verify(sim, token_of(sim, parameters)["token"])
    assert response.status_code == 200
    assert json.loads(response.content) == parameters and not differences(parameters, response.json(), EXACT_INTEGER)
    assert verify(sim, token_of(sim, parameters)["token"], **{"Content-Type": "application/json"}).status_code == 200


def test_each_token_keeps_its_own_parameters_and_can_be_verified_again(sim):
    first, second = token_of(sim, {"n": 1}), token_of(sim, {"n": 2})
    assert verify(sim, first["token"]).json() == {"n": 1}
    assert verify(sim, second["token"]).json() == {"n": 2}
    assert verify(sim, first["token"]).json() == {"n": 1}


def test_a_token_dies_at_its_expiration_time_on_the_virtual_clock(sim):
    body = token_of(sim)
    advance(sim, body["expiration_time"] - now(sim) - 1)
    assert verify(sim, body["token"]).status_code == 200
    advance(sim, 1.5)
    expired = verify(sim, body["token"])
    assert expired.status_code == 403 and expired.text == "{ Token expired }"
    assert abs(date_of(expired) - now(sim)) <= 2  # the Date follows the virtual clock


@pytest.mark.parametrize(
    "key, content",
    [
        (None, None),
        ("", None),
        ("not-the-partner-key", None),
        (KEY.upper(), None),
        (KEY, b"file=test.dwg"),
        (KEY, b"[1, 2]"),
        (KEY, b'"text"'),
        (KEY, b"null"),
        (KEY, b'{"a": NaN}'),
        (KEY, b'{"a": 1e400}'),
        (KEY, b""),
        (KEY, b"\xff\xfe"),
    ],
    ids=[
        "none",
        "empty",
        "wrong",
        "case",
        "form",
        "array",
        "string",
        "null",
        "nan",
        "overflow",
        "empty-body",
        "binary",
    ],
)
def test_generate_errors_are_403_with_the_documents_message(sim, key, content):
    response = generate(sim, key=key, content=content)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/plain")
    assert re.fullmatch(r"\{ [A-Z][^{}]+ \}", response.text), response.text
    assert "date" in response.headers


def test_verify_errors_are_403(sim):
    for token in (None, "", "not-a-token", str(uuid.uuid4()), KEY):
        response = verify(sim, token)
        assert (response.status_code, response.text) == (403, "{ Wrong token }")


def test_a_body_over_a_mebibyte_is_413(sim):
    assert generate(sim, content=b"[" + b"0," * 600_000 + b"0]").status_code == 413


def test_json_error_format_and_token_lifetime_options():
    sim = make_client(error_format="json", token_lifetime="60")
    response = generate(sim, key="wrong")
    assert response.status_code == 403 and response.json() == {"message": "Wrong api key"}
    body = token_of(sim)
    assert abs(body["expiration_time"] - now(sim) - 60) <= 2
    info = sim.get("/__authcanary__/info").json()
    assert info["options"]["error_format"] == "json" and info["options"]["token_lifetime"] == 60


@pytest.mark.parametrize("options", [{"error_format": "xml"}, {"token_lifetime": "0"}, {"token_lifetime": "soon"}])
def test_bad_options_are_refused(options):
    with pytest.raises(ValueError, match="simulator option"):
        KudoSimulator(options=options)


def test_reset_forgets_tokens_and_the_clock(sim):
    token = token_of(sim)["token"]
    advance(sim, 100)
    assert sim.post("/__authcanary__/reset").status_code == 200
    assert verify(sim, token).status_code == 403 and abs(now(sim) - date_of(generate(sim))) <= 2


def test_injected_faults_carry_the_error_format_and_a_date(sim):
    sim.post("/__authcanary__/fault", json={"status": 503})
    response = generate(sim)
    assert response.status_code == 503 and response.text == "{ injected fault }" and "date" in response.headers
    assert response.headers["retry-after"] == "1"


def test_the_store_of_tokens_is_bounded():
    simulator = KudoSimulator()
    simulator.max_sessions = 3
    simulator.reset_state()
    client = TestClient(simulator.app(), base_url="http://kudo.sim")
    tokens = [token_of(client, {"n": n})["token"] for n in range(5)]
    assert len(simulator.sessions) == 3
    assert verify(client, tokens[0]).status_code == 403 and verify(client, tokens[-1]).status_code == 200


def test_targets_know_kudo(tmp_path):
    embedded = load_target(ROOT / "targets.toml", "sim", environ={}).vendors["kudo"]
    assert embedded.embedded and embedded.settings["api_key"] == KEY  # the simulator's own key
    targets = tmp_path / "targets.toml"
    targets.write_text('[targets.sim]\nembedded = true\n[targets.sim.kudo]\noptions = { error_format = "json" }\n')
    vendor = load_target(targets, "sim", environ={}).vendors["kudo"]
    assert vendor.embedded and vendor.settings["options"] == {"error_format": "json"}
    assert vendor_spec("kudo").secret_keys == {"api_key"}


# -- deviations -------------------------------------------------------------------------------------------------
def test_every_deviation_is_known_and_unknown_profiles_are_refused():
    for name in KudoSimulator.deviations:
        assert KudoSimulator(name).deviates(name)
    with pytest.raises(UnknownProfile):
        KudoSimulator("no-such-deviation")


def test_generate_deviations():
    assert generate(make_client("empty-parameters-refused"), {}).status_code == 403
    assert "expires_at" in token_of(make_client("expiration-renamed"))
    sequential = make_client("sequential-token")
    assert [token_of(sequential)["token"] for _ in range(2)] == ["1", "2"]
    reused = make_client("token-reused")
    assert token_of(reused)["token"] == token_of(reused)["token"] != token_of(reused, {"other": 1})["token"]
    assert token_of(make_client("expiration-milliseconds"))["expiration_time"] > 10**12
    past = make_client("expiration-in-past")
    assert token_of(past)["expiration_time"] < now(past)
    assert token_of(make_client("expiration-relative"))["expiration_time"] == TOKEN_LIFETIME
    local = make_client("date-local-time")
    response = generate(local)
    assert abs(date_of(response) - now(local) - LOCAL_OFFSET) <= 2 and response.json()["expiration_time"] < date_of(
        response
    )
    assert generate(make_client("wrong-key-accepted"), key="anything").status_code == 200
    assert generate(make_client("wrong-key-accepted"), key=None).status_code == 403
    assert generate(make_client("non-object-body-accepted"), [1, 2]).status_code == 200


def test_the_utc_offset_deviation_overstates_the_expiration_by_two_hours():
    sim = make_client("expiration-utc-offset")
    body = token_of(sim)
    assert abs(body["expiration_time"] - now(sim) - TOKEN_LIFETIME - LOCAL_OFFSET) <= 2
    advance(sim, TOKEN_LIFETIME + 1)
    assert verify(sim, body["token"]).status_code == 403  # dead two hours before its expiration_time


@pytest.mark.parametrize(
    "profile, expected",
    [
        ("numbers-as-strings", {"count": "3", "viewer": {"panels": {"left": True}, "zoom": "1.5"}}),
        ("unicode-normalised", {"file": "Plan final.dwg", "userId": "émile"}),
        ("nested-flattened", {"viewer.panels.left": True, "viewer.zoom": 1.5}),
        ("empty-values-dropped", {"viewer": {"panels": {"left": True}, "zoom": 1.5}}),
        ("big-ints-as-doubles", {"big": 2**60}),
    ],
)
def test_verify_alterations(profile, expected):
    sim = make_client(profile)
    answer = verify(sim, token_of(sim, RICH)["token"]).json()
    for key, value in expected.items():
        assert answer[key] == value, (key, answer)
    assert differences(RICH, answer, EXACT_INTEGER)
    if profile == "empty-values-dropped":
        assert not {"empty", "none", "list", "object"} & set(answer)
    if profile == "nested-flattened":
        assert "viewer" not in answer and "object" not in answer


def test_verify_deviations():
    latest = make_client("verify-returns-latest")
    first = token_of(latest, {"n": 1})["token"]
    token_of(latest, {"n": 2})
    assert verify(latest, first).json() == {"n": 2}
    disclosing = make_client("verify-discloses-key")
    assert verify(disclosing, token_of(disclosing)["token"]).json() == {**EXAMPLE, "apiKey": KEY}
    keyed = make_client("verify-requires-key")
    token = token_of(keyed)["token"]
    assert verify(keyed, token).status_code == 403 and verify(keyed, token, **{"x-api-key": KEY}).status_code == 200
    immortal = make_client("expired-token-accepted")
    token = token_of(immortal)["token"]
    advance(immortal, 10 * TOKEN_LIFETIME)
    generate(immortal)  # a sweep of the dead keeps it: the deviation still answers it
    assert verify(immortal, token).status_code == 200
    not_found = make_client("unknown-token-404")
    assert verify(not_found, str(uuid.uuid4())).status_code == 404 and verify(not_found, None).status_code == 403


def test_error_deviations():
    assert generate(make_client("401-instead-of-403"), key="x").status_code == 401
    assert verify(make_client("401-instead-of-403"), "x").status_code == 401
    empty = generate(make_client("empty-403-body"), key="x")
    assert empty.status_code == 403 and empty.content == b""
    echo = generate(make_client("echo-key-in-errors"), content=b"not json")
    assert echo.status_code == 403 and KEY in echo.text
    failing = make_client("server-error")
    assert generate(failing).status_code == 500 and verify(failing, "x").status_code == 500


# -- the comparator of verify's answers (suites/kudo/checks.py) --------------------------------------------------
@pytest.mark.parametrize(
    "sent, answered",
    [
        ({"a": 1}, {"a": 1.0}),  # one JSON number
        ({"a": 1e20}, {"a": 100000000000000000000}),
        ({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}),
        ({}, {}),
    ],
)
def test_the_same_json_is_no_difference(sent, answered):
    assert differences(sent, answered, EXACT_INTEGER) == []


@pytest.mark.parametrize(
    "sent, answered, path",
    [
        ({"a": 1}, {"a": "1"}, "$.a"),
        ({"a": True}, {"a": 1}, "$.a"),
        ({"a": 0}, {"a": False}, "$.a"),
        ({"a": ""}, {}, "$.a"),
        ({}, {"x": 1}, "$.x"),
        ({"a": {"b": 1}}, {"a.b": 1}, "$.a"),
        ({"a": [1, 2]}, {"a": [1]}, "$.a"),
        ({"e\u0301": 1}, {"\u00e9": 1}, '$["e\\u0301"]'),
        ({"a": 2**53 + 3}, {"a": 2**53 + 1}, "$.a"),  # within a double of it, but not its double
    ],
)
def test_differences_are_found_where_they_are(sent, answered, path):
    found = differences(sent, answered, EXACT_INTEGER)
    assert found and found[0].path == path, found
    assert not any(difference.rounded for difference in found)


def test_an_integer_beyond_double_precision_rounded_is_told_apart():
    (found,) = differences({"a": 2**60 + 1}, {"a": 2**60}, EXACT_INTEGER)
    assert found.rounded
    (found,) = differences({"a": 10**30}, {"a": 1e30}, EXACT_INTEGER)
    assert found.rounded

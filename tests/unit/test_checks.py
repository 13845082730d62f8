"""The engine's vendor-agnostic check helpers (authcanary.checks) and the shared credential decoding."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from authcanary.checks import Clock, LoginProbes, check_constants, check_schema, describe_statuses, refused
from authcanary.checks.answers import schema_errors
from authcanary.contracts import load_contract
from authcanary.credentials import decode_basic

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


@dataclass
class FakeExpect:
    """What the helpers use of the plugin's `Expect`: `that`, `endpoint` and `excerpt`."""

    failed: list[dict[str, Any]] = field(default_factory=list)

    def that(self, ok: bool, check: str, **details: Any) -> bool:
        if not ok:
            self.failed.append({"check": check, **details})
        return ok

    def endpoint(self, request: httpx.Request) -> str:
        return f"{request.method} {request.url.path}"

    def excerpt(self, response: httpx.Response, limit: int = 200) -> str:
        return response.text[:limit]


def answer(method: str, path: str, status: int = 200, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request(method, f"http://vendor.sim{path}"), **kwargs)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ({401}, "401"),
        ({400, 415}, "400 or 415"),
        (set(range(400, 500)), "4xx"),
        ({200} | set(range(400, 500)), "200 or 4xx"),
        (frozenset(range(400, 600)), "4xx or 5xx"),
    ],
)
def test_status_sets_read_as_people_write_them(statuses, expected):
    assert describe_statuses(statuses) == expected


def test_refused_names_the_allowed_statuses():
    expect = FakeExpect()
    assert refused(expect, answer("GET", "/x", 401), {401, 403}, "acme.tokens.dead_refused")
    assert not refused(
        expect,
        answer("GET", "/x", 200, text="fine"),
        set(range(400, 500)),
        "acme.tokens.dead_refused",
        detail="expired",
    )
    assert expect.failed[0]["check"] == "acme.tokens.dead_refused" and expect.failed[0]["detail"] == "expired"
    assert expect.failed[0]["expected"] == "status 4xx" and expect.failed[0]["observed"] == "status 200: fine"


def test_the_constant_and_schema_checks_are_declared_for_every_vendor():
    """check_constants and check_schema name checks by the contract's fields and schemas: each must be declared."""
    from authcanary.catalog import load_catalog

    for vendor in ("autodesk", "bimplus"):
        contract, catalog = load_contract(CONTRACTS, vendor), load_catalog(CONTRACTS, vendor)
        fields = {
            path.removeprefix("$.")
            for spec in contract.semantics.get("endpoints", {}).values()
            for constants in spec.get("constants", {}).values()
            for path in constants
        }
        for name in fields:
            catalog.check(f"{vendor}.constant.{name}")


def test_constants_of_the_contract():
    autodesk = load_contract(CONTRACTS, "autodesk")
    response = answer("POST", "/authentication/v2/token")
    expect = FakeExpect()
    check_constants(expect, response, {"token_type": "Bearer"}, autodesk)
    assert expect.failed == []
    check_constants(expect, response, {"token_type": "bearer"}, autodesk)
    check_constants(expect, response, {}, autodesk)
    assert [f["observed"] for f in expect.failed] == ["token_type = 'bearer'", "token_type = None"]
    assert expect.failed[0]["check"] == "autodesk.constant.token_type"  # the declared check of that constant
    check_constants(expect, response, {}, autodesk, absent_ok=True)
    assert len(expect.failed) == 2


def test_body_schema_of_the_contract():
    bimplus = load_contract(CONTRACTS, "bimplus")
    assert schema_errors(bimplus, "Teams", [{"id": 1}]) == []
    assert schema_errors(bimplus, "Teams", {"id": 1}) == ['(body): {"id":1} is not of type "array"']
    expect = FakeExpect()
    assert not check_schema(expect, answer("GET", "/v2/teams"), {}, bimplus, "Teams")
    assert expect.failed[0]["check"] == "bimplus.schema.teams" and expect.failed[0]["detail"] == "status 200"
    assert expect.failed[0]["expected"] == "openapi.yaml #/components/schemas/Teams"


class FakeSim:
    def __init__(self) -> None:
        self.jumps: list[float] = []

    def advance(self, seconds: float) -> float:
        self.jumps.append(seconds)
        return sum(self.jumps)


def test_clock_jumps_on_a_simulator_and_times_calls():
    sim = FakeSim()
    clock = Clock(sim)
    before = clock.now()
    clock.wait(3600)
    clock.advance(60)
    assert sim.jumps == [3600, 60] and clock.now() - before >= 3660
    timed = clock.timed(lambda: answer("GET", "/x"))
    assert timed.response.status_code == 200 and timed.sent <= timed.received


def test_clock_refuses_time_travel_on_a_live_target():
    with pytest.raises(AssertionError, match="needs a simulator"):
        Clock(None).advance(1)


def test_failed_login_budget():
    live = LoginProbes(2)
    live.spend()
    live.spend()
    assert not live.available()
    with pytest.raises(AssertionError, match="already spent"):
        live.spend()
    simulator = LoginProbes(None)
    for _ in range(50):
        simulator.spend()
    assert simulator.available()


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        (base64.b64encode(b"client:s3cr:et").decode(), ("client", "s3cr:et")),
        (base64.b64encode(b"client:").decode(), ("client", "")),
        (base64.b64encode(b"no colon").decode(), None),
        (base64.b64encode("ünï:cødé".encode()).decode() + " ", ("ünï", "cødé")),
        ("%%%", None),
        (base64.b64encode(b"\xff\xfe:x").decode(), None),
    ],
)
def test_basic_credentials_are_decoded_strictly(credentials, expected):
    assert decode_basic(credentials) == expected


def test_an_excerpt_masks_an_echoed_credential_and_never_cuts_a_secret_in_half():
    from types import SimpleNamespace

    from authcanary.suite import Expect

    secret = "Vb7nQ2xK9mLp4RtY8wZc3HdF6gJs1AeU5oIq0NkT"
    canary = SimpleNamespace(
        base_url=lambda vendor: "http://x",
        base_path=lambda vendor: "",
        vendor_target=lambda vendor: SimpleNamespace(embedded=False),
        redact=lambda vendor, text: text.replace(secret, "${SECRET}"),
    )
    expect = Expect(canary, "autodesk", item=None)
    echo = answer(
        "POST",
        "/t",
        401,
        json={
            "detail": "x" * 150,
            "sent": secret,
            "body": "client_secret=not-the-secret-0000&grant_type=client_credentials",
        },
    )
    excerpt = expect.excerpt(echo, 180)
    assert secret[:20] not in excerpt and "${SECRET}" in excerpt
    assert "not-the-secret-0000" not in expect.excerpt(echo, 1000)

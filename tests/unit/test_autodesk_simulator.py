"""The Autodesk APS simulator, driven directly (in-process ASGI): every documented behaviour of VENDORS.md §1,
the control plane (virtual clock, fault injection, reset), and what each deviation profile changes."""

from __future__ import annotations

import base64
import datetime as dt
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from authcanary.simulators.autodesk import (
    EXPIRES_IN,
    KEYS_PATH,
    RATE_LIMIT_PER_MINUTE,
    V1_ANNOUNCED_REMOVAL,
    V1_PATH,
    V2_PATH,
    AutodeskSimulator,
)
from authcanary.simulators.framework import CONTROL_PREFIX, SlidingWindowLimiter, VirtualClock, build_app
from authcanary.tokens import decode_unverified, verify_jwt

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette nudges towards httpx2
    from starlette.testclient import TestClient

DEFAULTS = AutodeskSimulator.default_settings()
CID, SECRET = DEFAULTS["client_id"], DEFAULTS["client_secret"]
FORBIDDEN_ID, FORBIDDEN_SECRET = DEFAULTS["forbidden_client_id"], DEFAULTS["forbidden_client_secret"]
FORM = "application/x-www-form-urlencoded"


def basic(client_id: str = CID, client_secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


class Aps:
    """A TestClient around one simulator, with the requests the tests need."""

    def __init__(self, simulator: AutodeskSimulator, client: TestClient) -> None:
        self.simulator, self.http = simulator, client

    def post(
        self,
        path: str,
        body: bytes | str | list[tuple[str, str]] | None,
        *,
        content_type: str | None = FORM,
        authorization: str | None = None,
    ):
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if authorization is not None:
            headers["Authorization"] = authorization
        if isinstance(body, list):
            body = urlencode(body)
        return self.http.post(path, content=body if body is not None else b"", headers=headers)

    def v1(
        self,
        client_id: str = CID,
        client_secret: str = SECRET,
        *,
        scope: str | None = "data:read",
        grant_type: str = "client_credentials",
        **kwargs,
    ):
        fields = [("client_id", client_id), ("client_secret", client_secret), ("grant_type", grant_type)]
        return self.post(V1_PATH, fields + ([("scope", scope)] if scope is not None else []), **kwargs)

    def v2(
        self,
        client_id: str = CID,
        client_secret: str = SECRET,
        *,
        credentials: str = "basic",
        scope: str | None = "data:read",
        grant_type: str = "client_credentials",
        **kwargs,
    ):
        fields = [("grant_type", grant_type)] + ([("scope", scope)] if scope is not None else [])
        if credentials in ("body", "both"):
            fields = [("client_id", client_id), ("client_secret", client_secret), *fields]
        if credentials in ("basic", "both"):
            kwargs.setdefault("authorization", basic(client_id, client_secret))
        return self.post(V2_PATH, fields, **kwargs)

    def jwks(self) -> dict[str, Any]:
        response = self.http.get(KEYS_PATH)
        assert response.status_code == 200
        return response.json()

    def control(self, name: str, body: dict[str, Any] | None = None):
        if name == "info":
            return self.http.get(f"{CONTROL_PREFIX}/info")
        return self.http.post(f"{CONTROL_PREFIX}/{name}", json=body or {})

    def exhaust_rate_limit(self, client_id: str = CID) -> None:
        """Spend the client's 500 calls of this minute (wrong secret: cheap, and counted all the same)."""
        for _ in range(RATE_LIMIT_PER_MINUTE):
            self.v2(client_id, "wrong-secret", credentials="body")


@pytest.fixture
def make_aps() -> Iterator[Callable[..., Aps]]:
    clients: list[TestClient] = []

    def make(profile: str = "documented", options: dict[str, Any] | None = None, prefix: str | None = None) -> Aps:
        simulator = AutodeskSimulator(profile=profile, options=options)
        app = simulator.app() if prefix is None else build_app({"autodesk": simulator}, prefix)
        client = TestClient(app, base_url="http://autodesk.sim", raise_server_exceptions=True)
        client.__enter__()
        clients.append(client)
        return Aps(simulator, client)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def aps(make_aps) -> Aps:
    return make_aps()


def assert_error(response, status: int) -> dict[str, Any]:
    """A documented APS error: the status, a JSON body with developerMessage/errorCode/moreInfo."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"developerMessage", "errorCode", "moreInfo"}
    return body


def assert_token(aps: Aps, response, version: int, scopes: list[str] | None = None) -> dict[str, Any]:
    """A documented 200: flat JSON, Bearer, int expires_in, an RS256 JWT that verifies with the JWKS."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-cache, no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "access_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == EXPIRES_IN[version] and type(body["expires_in"]) is int
    header, _ = decode_unverified(body["access_token"])
    assert header["alg"] == "RS256" and header.get("kid")
    claims = verify_jwt(body["access_token"], aps.jwks())
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert claims["client_id"] == CID
    if scopes is not None:
        assert claims["scope"] == scopes
    return claims


# -- happy paths -----------------------------------------------------------------------------------------------
def test_v1_issues_a_verifiable_jwt(aps):
    claims = assert_token(aps, aps.v1(), 1, ["data:read"])
    assert abs(claims["iat"] - aps.simulator.clock.now()) < 5


@pytest.mark.parametrize("credentials", ["basic", "body"])
def test_v2_issues_a_verifiable_jwt(aps, credentials):
    assert_token(aps, aps.v2(credentials=credentials), 2, ["data:read"])


def test_seed_curl_example_works_as_written(aps):
    """The seed's example request (its client id and secret are the simulator's defaults)."""
    body = f"client_id={CID}&client_secret={SECRET}&grant_type=client_credentials&scope=data:read"
    assert_token(aps, aps.post(V1_PATH, body), 1, ["data:read"])


def test_scope_is_optional(aps):
    assert_token(aps, aps.v2(scope=None), 2, [])


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("separator", [" ", "%20", "+"], ids=["raw-space", "percent-20", "plus"])
def test_scopes_separated_by_raw_space_percent20_or_plus(aps, version, separator):
    scope = f"data:read{separator}bucket:create{separator}viewables:read"
    if version == 1:
        body = f"client_id={CID}&client_secret={SECRET}&grant_type=client_credentials&scope={scope}"
        response = aps.post(V1_PATH, body)
    else:
        response = aps.post(V2_PATH, f"grant_type=client_credentials&scope={scope}", authorization=basic())
    assert_token(aps, response, version, ["data:read", "bucket:create", "viewables:read"])


@pytest.mark.parametrize(
    "content_type", [f"{FORM};charset=UTF-8", f"{FORM}; charset=utf-8", "Application/X-WWW-Form-URLEncoded"]
)
@pytest.mark.parametrize("version", [1, 2])
def test_form_content_type_with_parameters_or_other_case_is_accepted(aps, version, content_type):
    response = aps.v1(content_type=content_type) if version == 1 else aps.v2(content_type=content_type)
    assert_token(aps, response, version)


def test_jwt_lifetime_follows_the_virtual_clock(aps):
    aps.control("clock", {"advance": 86_400})
    claims = assert_token(aps, aps.v2(), 2)
    assert claims["iat"] >= int(aps.simulator.clock.now()) - 1
    assert abs(claims["iat"] - (dt.datetime.now(dt.UTC).timestamp() + 86_400)) < 5


def test_jwks_publishes_only_public_rs256_keys(aps):
    keys = aps.jwks()["keys"]
    assert keys and all(key["kty"] == "RSA" and key["alg"] == "RS256" and "d" not in key for key in keys)


# -- documented errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencodedx"],
)
@pytest.mark.parametrize("version", [1, 2])
def test_415_for_missing_or_other_content_type(aps, version, content_type):
    response = aps.v1(content_type=content_type) if version == 1 else aps.v2(content_type=content_type)
    assert_error(response, 415)


@pytest.mark.parametrize("name", ["client_id", "client_secret", "grant_type", "scope"])
def test_400_repeated_parameter(aps, name):
    fields = [
        ("client_id", CID),
        ("client_secret", SECRET),
        ("grant_type", "client_credentials"),
        ("scope", "data:read"),
        (name, "again"),
    ]
    body = assert_error(aps.post(V1_PATH, fields), 400)
    assert name in body["developerMessage"]


@pytest.mark.parametrize("version", [1, 2])
def test_400_missing_grant_type(aps, version):
    response = (
        aps.post(V1_PATH, [("client_id", CID), ("client_secret", SECRET)])
        if version == 1
        else aps.post(V2_PATH, [("scope", "data:read")], authorization=basic())
    )
    assert "grant_type" in assert_error(response, 400)["developerMessage"]


@pytest.mark.parametrize(
    "grant_type", ["password", "authorization_code", "refresh_token", "CLIENT_CREDENTIALS", "client_credentials ", ""]
)
@pytest.mark.parametrize("version", [1, 2])
def test_400_unknown_grant_type(aps, version, grant_type):
    response = aps.v1(grant_type=grant_type) if version == 1 else aps.v2(grant_type=grant_type)
    assert_error(response, 400)


@pytest.mark.parametrize(
    "fields",
    [
        [("client_secret", SECRET), ("grant_type", "client_credentials")],
        [("client_id", CID), ("grant_type", "client_credentials")],
        [("client_id", CID), ("client_secret", ""), ("grant_type", "client_credentials")],
        [("client_id", ""), ("client_secret", SECRET), ("grant_type", "client_credentials")],
    ],
    ids=["no-id", "no-secret", "empty-secret", "empty-id"],
)
@pytest.mark.parametrize("path", [V1_PATH, V2_PATH])
def test_400_missing_credentials(aps, path, fields):
    assert_error(aps.post(path, fields), 400)


def test_400_unknown_scope(aps):
    assert_error(aps.v2(scope="data:read root:all"), 400)


def test_400_body_not_utf8(aps):
    assert_error(aps.post(V1_PATH, b"client_id=\xff\xfe&grant_type=client_credentials"), 400)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(
    "client_id, client_secret", [(CID, "wrong"), ("unknown-client", SECRET), (FORBIDDEN_ID, SECRET)]
)
def test_401_invalid_pair(aps, version, client_id, client_secret):
    response = aps.v1(client_id, client_secret) if version == 1 else aps.v2(client_id, client_secret)
    assert_error(response, 401)


@pytest.mark.parametrize("credentials", ["basic", "body"])
def test_401_invalid_pair_v2_either_placement(aps, credentials):
    assert_error(aps.v2(CID, "wrong", credentials=credentials), 401)


@pytest.mark.parametrize("version", [1, 2])
def test_403_registered_client_not_authorized(aps, version):
    response = aps.v1(FORBIDDEN_ID, FORBIDDEN_SECRET) if version == 1 else aps.v2(FORBIDDEN_ID, FORBIDDEN_SECRET)
    assert_error(response, 403)


def test_v2_credentials_in_header_and_body_get_400(aps):
    assert_error(aps.v2(credentials="both"), 400)


def test_v2_only_client_id_in_body_with_basic_is_still_both(aps):
    response = aps.post(V2_PATH, [("client_id", CID), ("grant_type", "client_credentials")], authorization=basic())
    assert_error(response, 400)


@pytest.mark.parametrize(
    "authorization", ["Bearer abc", "Basic", "Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode()]
)
def test_v2_malformed_basic_header_gets_400(aps, authorization):
    assert_error(aps.v2(credentials="body", authorization=authorization), 400)


def test_v2_basic_scheme_is_case_insensitive(aps):
    assert_token(aps, aps.v2(authorization=basic().replace("Basic", "basic")), 2)


def test_v1_ignores_an_authorization_header(aps):
    """Basic credentials are a v2 feature: v1 reads the body only."""
    assert_token(aps, aps.v1(authorization=basic("someone", "else")), 1)


def test_only_post_is_routed(aps):
    assert aps.http.get(V2_PATH).status_code == 405
    assert aps.http.post("/authentication/v3/token").status_code == 404


# -- rate limit ------------------------------------------------------------------------------------------------
def test_429_after_500_calls_a_minute_then_served_after_the_clock_moves(aps):
    aps.exhaust_rate_limit()
    limited = aps.v2()
    body = assert_error(limited, 429)
    assert body["errorCode"]
    retry_after = limited.headers["Retry-After"]
    assert retry_after.isdigit() and 0 < int(retry_after) <= 60
    assert aps.v1().status_code == 429  # one limit per client across v1 and v2
    assert aps.v2(FORBIDDEN_ID, FORBIDDEN_SECRET).status_code == 403  # another client is not limited
    assert aps.control("clock", {"advance": int(retry_after)}).status_code == 200
    assert_token(aps, aps.v2(), 2)


def test_rate_limit_window_slides(aps):
    for _ in range(RATE_LIMIT_PER_MINUTE - 1):
        aps.v2(CID, "wrong", credentials="body")
    aps.control("clock", {"advance": 30})
    assert aps.v2().status_code == 200  # call 500 of the window
    assert aps.v2().status_code == 429  # call 501 within 60 s
    aps.control("clock", {"advance": 31})  # the first 499 calls left the window
    assert aps.v2().status_code == 200


def test_reset_forgets_the_rate_limit(aps):
    aps.exhaust_rate_limit()
    assert aps.v2().status_code == 429
    assert aps.control("reset").json() == {"reset": True}
    assert aps.v2().status_code == 200


def test_rate_limiter_forgets_idle_clients_so_a_long_lived_serve_stays_bounded():
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(clock, limit=2, window=60)
    for n in range(1000):
        assert limiter.hit(f"fuzzed-client-{n}") is None
    assert limiter.hit("busy") is None and limiter.hit("busy") is None
    clock.advance(59)
    assert limiter.hit("busy") is not None  # still limited: nothing inside the window is forgotten
    clock.advance(2)
    assert limiter.hit("busy") is None
    assert set(limiter.calls) == {"busy"}


# -- control plane and faults ----------------------------------------------------------------------------------
def test_info_reports_vendor_profile_clock_and_deviations(make_aps):
    aps = make_aps("lowercase-token-type", options={"v1_decommission": "2031-01-01"})
    info = aps.control("info").json()
    assert info["vendor"] == "autodesk" and info["profile"] == "lowercase-token-type"
    assert info["deviations"] == AutodeskSimulator.deviations
    assert info["options"]["v1_decommission"] == "2031-01-01"
    assert abs(info["now"] - dt.datetime.now(dt.UTC).timestamp()) < 5


def test_clock_only_moves_forward(aps):
    before = aps.control("info").json()["now"]
    assert aps.control("clock", {"advance": 3600}).json()["now"] >= before + 3600
    assert aps.control("clock", {"advance": -1}).status_code == 400
    assert aps.control("clock", {"forward": 1}).status_code == 400
    assert aps.control("reset").status_code == 200
    assert aps.control("info").json()["now"] < before + 60


def test_fault_injection_answers_the_next_calls_then_recovers(aps):
    assert aps.control("fault", {"status": 500, "count": 2}).json() == {"queued": [500, 500]}
    assert aps.control("info").status_code == 200  # the control plane is never faulted
    assert_error(aps.v2(), 500)
    assert_error(aps.v1(), 500)
    assert_token(aps, aps.v2(), 2)


@pytest.mark.parametrize("status", [502, 503, 429])
def test_fault_injection_any_status(aps, status):
    aps.control("fault", {"status": status})
    assert_error(aps.v2(), status)


def test_fault_injection_bad_request_and_reset(aps):
    assert aps.control("fault", {"count": 1}).status_code == 400
    aps.control("fault", {"status": 500, "count": 3})
    aps.control("reset")
    assert aps.v2().status_code == 200


def test_optional_scope_crash_answers_the_generic_500_to_every_request_without_scope(make_aps):
    aps = make_aps("optional-scope-crash")
    for response in (
        aps.v1(scope=None),
        aps.v2(scope=None),
        aps.v2(scope=None, credentials="body"),
        aps.v2(CID, "wrong", scope=None),
        aps.v2(scope=None, grant_type="password"),
        aps.post(V2_PATH, b""),
    ):
        assert assert_error(response, 500) == {
            "developerMessage": "Generic internal server error.",
            "errorCode": "AUTH-500",
            "moreInfo": "https://aps.autodesk.com/en/docs/oauth/v2/developers_guide/error_handling/",
        }
    assert_token(aps, aps.v1(), 1)
    assert_token(aps, aps.v2(scope=""), 2)
    assert_error(aps.v2(scope=None, content_type=None), 415)  # not a form: refused before the crash
    assert_error(aps.v2(CID, "wrong", scope="data:read"), 401)


def test_server_error_profile_answers_500_everywhere(make_aps):
    aps = make_aps("server-error")
    assert_error(aps.v1(), 500)
    assert_error(aps.v2(), 500)
    assert_error(aps.v2(content_type=None), 500)


# -- v1 decommission -------------------------------------------------------------------------------------------
def test_v1_is_served_by_default(aps):
    assert aps.v1().status_code == 200


def test_v1_decommission_option_gives_410(make_aps):
    aps = make_aps(options={"v1_decommission": V1_ANNOUNCED_REMOVAL})
    body = assert_error(aps.v1(), 410)
    assert V2_PATH in body["developerMessage"]
    assert_token(aps, aps.v2(), 2)  # the replacement works


def test_v1_decommission_status_404(make_aps):
    aps = make_aps(options={"v1_decommission": V1_ANNOUNCED_REMOVAL, "v1_removed_status": 404})
    assert_error(aps.v1(), 404)


def test_v1_decommission_option_as_strings_from_the_command_line(make_aps):
    aps = make_aps(options={"v1_decommission": "2024-04-30", "v1_removed_status": "404"})
    assert_error(aps.v1(), 404)


def test_v1_decommission_in_the_future_happens_when_the_virtual_clock_gets_there(make_aps):
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
    aps = make_aps(options={"v1_decommission": tomorrow})
    assert aps.v1().status_code == 200
    aps.control("clock", {"advance": 3 * 86_400})
    assert_error(aps.v1(), 410)
    aps.control("reset")
    assert aps.v1().status_code == 200


# -- construction ----------------------------------------------------------------------------------------------
def test_unknown_profile_raises():
    with pytest.raises(ValueError, match="unknown autodesk profile nope"):
        AutodeskSimulator(profile="nope")
    with pytest.raises(ValueError, match="nope"):
        AutodeskSimulator(profile="lowercase-token-type,nope")


def test_unknown_option_raises():
    with pytest.raises(ValueError, match="v1_decomission"):
        AutodeskSimulator(options={"v1_decomission": "2024-04-30"})


def test_profiles_combine_and_documented_is_the_empty_set():
    assert AutodeskSimulator.parse_profile("documented") == frozenset()
    assert AutodeskSimulator.parse_profile("lowercase-token-type, html-errors") == {
        "lowercase-token-type",
        "html-errors",
    }


def test_combined_profiles_apply_together(make_aps):
    aps = make_aps("lowercase-token-type,missing-cache-headers")
    response = aps.v2()
    assert response.json()["token_type"] == "bearer"
    assert "cache-control" not in response.headers


def test_settings_override_the_registered_client():
    simulator = AutodeskSimulator(settings={"client_id": "mine", "client_secret": "my-secret"})
    with TestClient(simulator.app()) as client:
        aps = Aps(simulator, client)
        assert aps.v2("mine", "my-secret").status_code == 200
        assert aps.v2().status_code == 401


@pytest.mark.parametrize("prefix", ["/aps", "aps/", "/a/b"])
def test_served_under_a_path_prefix(make_aps, prefix):
    aps = make_aps(prefix=prefix)
    mount = "/" + prefix.strip("/")
    response = aps.post(f"{mount}{V2_PATH}", [("grant_type", "client_credentials")], authorization=basic())
    assert response.status_code == 200
    assert aps.http.get(f"{mount}{CONTROL_PREFIX}/info").json()["vendor"] == "autodesk"
    assert aps.http.get(f"{mount}{KEYS_PATH}").status_code == 200
    assert aps.post(V2_PATH, [("grant_type", "client_credentials")], authorization=basic()).status_code == 404


# -- every deviation changes what the simulator says -----------------------------------------------------------
def _token_body(aps: Aps) -> dict[str, Any]:
    return aps.v2().json()


def _verifies(aps: Aps) -> bool:
    try:
        verify_jwt(_token_body(aps)["access_token"], aps.jwks())
    except Exception:
        return False
    return True


def _exp_minus_iat_minus_expires_in(aps: Aps) -> int:
    body = _token_body(aps)
    _, claims = decode_unverified(body["access_token"])
    return claims["exp"] - claims["iat"] - int(body["expires_in"])


def _after_limit(aps: Aps):
    aps.exhaust_rate_limit()
    return aps.v2()


def _429s_within_the_limit(aps: Aps) -> int:
    return [aps.v2(CID, "wrong-secret", credentials="body").status_code for _ in range(RATE_LIMIT_PER_MINUTE)].count(
        429
    )


def _after_the_minute(aps: Aps) -> tuple[int, int]:
    limited = _after_limit(aps).status_code
    aps.control("clock", {"advance": 61})
    return limited, aps.v2().status_code


def _status_of_an_injected_500(aps: Aps) -> int:
    assert aps.control("fault", {"status": 500}).status_code == 200
    return aps.v2().status_code


#: deviation -> (what to observe, what the deviation makes it): documented must observe something else
DEVIATION_PROBES: dict[str, tuple[Callable[[Aps], Any], Any]] = {
    "lowercase-token-type": (lambda aps: _token_body(aps)["token_type"], "bearer"),
    "expires-in-string": (lambda aps: aps.v1().json()["expires_in"], "1799"),
    "400-instead-of-415": (lambda aps: aps.v2(content_type=None).status_code, 400),
    "403-instead-of-401": (lambda aps: aps.v2(CID, "wrong").status_code, 403),
    "password-grant-accepted": (lambda aps: aps.v2(grant_type="password").status_code, 200),
    "v2-double-credentials-accepted": (lambda aps: aps.v2(credentials="both").status_code, 200),
    "access-token-renamed": (lambda aps: sorted(_token_body(aps)), ["expires_in", "token", "token_type"]),
    "exp-mismatch": (_exp_minus_iat_minus_expires_in, 600),
    "opaque-access-token": (lambda aps: (lambda t: (len(t), t.count(".")))(_token_body(aps)["access_token"]), (32, 0)),
    "missing-cache-headers": (
        lambda aps: (lambda r: (r.headers.get("cache-control"), r.headers.get("pragma")))(aps.v2()),
        (None, None),
    ),
    "no-rate-limit": (lambda aps: _after_limit(aps).status_code, 200),
    "429-without-retry-after": (
        lambda aps: (lambda r: (r.status_code, r.headers.get("retry-after")))(_after_limit(aps)),
        (429, None),
    ),
    "v2-basic-rejected": (
        lambda aps: (aps.v2(credentials="basic").status_code, aps.v2(credentials="body").status_code),
        (401, 200),
    ),
    "v2-extra-field": (
        lambda aps: (
            sorted(aps.v1().json()),
            sorted(aps.v2(scope="data:read bucket:read").json()),
            aps.v2(scope="data:read bucket:read").json().get("scope"),
        ),
        (
            ["access_token", "expires_in", "token_type"],
            ["access_token", "expires_in", "scope", "token_type"],
            "data:read bucket:read",
        ),
    ),
    "extra-response-field": (
        lambda aps: (aps.v1().json().get("scope"), aps.v2().json().get("scope")),
        ("data:read", "data:read"),
    ),
    "deprecation-headers": (
        lambda aps: (
            lambda r: (r.headers.get("deprecation"), r.headers.get("sunset"), aps.v2().headers.get("deprecation"))
        )(aps.v1()),
        ("true", "Tue, 30 Apr 2024 23:59:59 GMT", None),
    ),
    "v1-removed": (lambda aps: (aps.v1().status_code, aps.v2().status_code), (410, 200)),
    "jwt-bad-signature": (_verifies, False),
    "longer-expiry": (lambda aps: (aps.v1().json()["expires_in"], aps.v2().json()["expires_in"]), (7199, 7199)),
    "html-errors": (
        lambda aps: (lambda r: (r.status_code, r.headers["content-type"].split(";")[0]))(aps.v2(CID, "wrong")),
        (401, "text/html"),
    ),
    "server-error": (lambda aps: (aps.v1().status_code, aps.v2().status_code), (500, 500)),
    "echo-secret-in-errors": (
        lambda aps: (
            lambda r: ("it's <me>~" in r.text, "it&#x27;s &lt;me&gt;~" in r.text, "it's%20%3Cme%3E~" in r.text)
        )(aps.v2(CID, "it's <me>~")),
        (False, True, True),
    ),
    "optional-scope-crash": (
        lambda aps: (
            aps.v1(scope=None).status_code,
            aps.v2(scope=None).status_code,
            aps.v2(scope="").status_code,
            aps.v1().status_code,
        ),
        (500, 500, 200, 200),
    ),
    "form-encoded-token": (
        lambda aps: (lambda r: (r.headers["content-type"].split(";")[0], r.text.count("=")))(aps.v2()),
        (FORM, 3),
    ),
    "401-instead-of-400": (
        lambda aps: (aps.v1(CID, "").status_code, aps.v2(CID, "", credentials="body").status_code),
        (401, 401),
    ),
    "401-instead-of-403": (
        lambda aps: (
            aps.v1(FORBIDDEN_ID, FORBIDDEN_SECRET).status_code,
            aps.v2(FORBIDDEN_ID, FORBIDDEN_SECRET).status_code,
        ),
        (401, 401),
    ),
    "502-instead-of-500": (_status_of_an_injected_500, 502),
    "rate-limit-off-by-one": (_429s_within_the_limit, 1),
    "rate-limit-lockout": (_after_the_minute, (429, 403)),
    "v2-body-credentials-extra-field": (
        lambda aps: (sorted(aps.v2(credentials="basic").json()), aps.v2(credentials="body").json().get("client_id")),
        (["access_token", "expires_in", "token_type"], CID),
    ),
    "unknown-client-404": (
        lambda aps: (aps.v2("not-a-registered-client", "x").status_code, aps.v2(CID, "wrong").status_code),
        (404, 401),
    ),
    "json-string-errors": (
        lambda aps: aps.v2(CID, "wrong").json(),
        "The client_id and client_secret combination is not valid.",
    ),
    "token-stub": (
        lambda aps: (aps.v2("anyone", "anything").status_code, aps.v1(grant_type="password").status_code),
        (200, 200),
    ),
}


def test_every_deviation_has_a_probe():
    missing = sorted(set(AutodeskSimulator.deviations) - set(DEVIATION_PROBES))
    stale = sorted(set(DEVIATION_PROBES) - set(AutodeskSimulator.deviations))
    assert not missing, f"add a DEVIATION_PROBES entry for the new deviation(s): {missing}"
    assert not stale, f"DEVIATION_PROBES names deviations the simulator no longer has: {stale}"


@pytest.mark.parametrize("deviation", sorted(AutodeskSimulator.deviations))
def test_each_deviation_changes_what_the_simulator_says(make_aps, deviation):
    if deviation not in DEVIATION_PROBES:
        pytest.fail(f"no probe for deviation {deviation!r}: add one to DEVIATION_PROBES")
    observe, deviated = DEVIATION_PROBES[deviation]
    documented_value = observe(make_aps("documented"))
    deviated_value = observe(make_aps(deviation))
    assert deviated_value == deviated
    assert documented_value != deviated_value, f"{deviation} is indistinguishable from the documented profile"


@pytest.mark.parametrize("deviation", sorted(AutodeskSimulator.deviations))
def test_each_deviation_has_a_description(deviation):
    assert len(AutodeskSimulator.deviations[deviation]) > 10

"""The AxeoBIM simulator, driven directly (in-process ASGI): every documented behaviour of VENDORS.md §3 (step 1 the
client-credentials token, step 2 the Cerqual user token under the step-1 bearer), league/oauth2-server's wire format,
the virtual clock and reset, the options, and what each deviation profile changes."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from authcanary.simulators.axeobim import (
    ACCESS_DENIED,
    CLIENT_PATH,
    EXPIRES_IN,
    INVALID_REQUEST,
    REALM_KEY,
    USER_PATH,
    AxeobimSimulator,
    user_id,
)
from authcanary.simulators.framework import CONTROL_PREFIX, build_app
from authcanary.simulators.keys import public_jwk
from authcanary.tokens import decode_unverified
from strategies.axeobim import FORGERIES, forged

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette nudges towards httpx2
    from starlette.testclient import TestClient

DEFAULTS = AxeobimSimulator.default_settings()
CID, SECRET, EMAIL = DEFAULTS["client_id"], DEFAULTS["client_secret"], DEFAULTS["cerqual_email"]
FORM = "application/x-www-form-urlencoded"
REALM_JWKS = {"keys": [public_jwk(REALM_KEY)]}  # the simulator publishes none: the tests verify with the realm key


class Axeo:
    """A TestClient around one simulator, with the two documented calls."""

    def __init__(self, simulator: AxeobimSimulator, client: TestClient, mount: str = "") -> None:
        self.simulator, self.http, self.mount = simulator, client, mount

    def post(self, path: str, fields: list[tuple[str, str]] | bytes, headers: dict[str, str] | None = None):
        content = fields if isinstance(fields, bytes) else urlencode(fields)
        return self.http.post(self.mount + path, content=content, headers={"Content-Type": FORM, **(headers or {})})

    def client(
        self,
        client_id: str | None = CID,
        secret: str | None = SECRET,
        scope: str | None = None,
        grant="client_credentials",
    ):
        fields = [("grant_type", grant)] if grant is not None else []
        fields += [
            (name, value) for name, value in (("client_id", client_id), ("client_secret", secret)) if value is not None
        ]
        return self.post(CLIENT_PATH, fields + ([("scope", scope)] if scope is not None else []))

    def token(self, **kwargs) -> str:
        response = self.client(**kwargs)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def user(
        self, token: str | None, email: str | None = EMAIL, scope: str | None = None, grant: str | None = "cerqual"
    ):
        fields = [("grant_type", grant)] if grant is not None else []
        fields += [("email", email)] if email is not None else []
        fields += [("scope", scope)] if scope is not None else []
        return self.post(USER_PATH, fields, {"Authorization": f"Bearer {token}"} if token is not None else {})

    def control(self, name: str, body: dict[str, Any] | None = None):
        return self.http.post(f"{self.mount}{CONTROL_PREFIX}/{name}", json=body or {})


@pytest.fixture
def make_axeo() -> Iterator[Callable[..., Axeo]]:
    clients: list[TestClient] = []

    def make(
        profile: str = "documented",
        options: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        prefix: str | None = None,
    ) -> Axeo:
        simulator = AxeobimSimulator(profile=profile, options=options, settings=settings)
        app = simulator.app() if prefix is None else build_app({"axeobim": simulator}, prefix)
        client = TestClient(app, base_url="http://axeobim.sim", raise_server_exceptions=True)
        client.__enter__()
        clients.append(client)
        return Axeo(simulator, client, "" if prefix is None else "/" + prefix.strip("/"))

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def axeo(make_axeo) -> Axeo:
    return make_axeo()


def assert_token(response, sub: str, scopes: list[str], refresh: bool) -> dict[str, Any]:
    """A documented 200: JSON, Bearer, integer expires_in 3600, an RS256 JWT of the realm key (league's claims), a
    refresh token only for the user, never `state`; no caching."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert response.headers["cache-control"] == "no-store" and response.headers["pragma"] == "no-cache"
    body = response.json()
    assert list(body) == ["token_type", "expires_in", "access_token", *(["refresh_token"] if refresh else [])]
    assert body["token_type"] == "Bearer" and body["expires_in"] == EXPIRES_IN and type(body["expires_in"]) is int
    header, _ = decode_unverified(body["access_token"])
    assert header == {"typ": "JWT", "alg": "RS256"}
    claims = jwt.decode(body["access_token"], KeySet.import_key_set(REALM_JWKS), algorithms=["RS256"]).claims
    assert set(claims) == {"aud", "jti", "iat", "nbf", "exp", "sub", "scopes"}
    assert claims["aud"] == CID and claims["sub"] == sub and claims["scopes"] == scopes
    assert claims["iat"] == claims["nbf"] and abs(claims["exp"] - claims["iat"] - body["expires_in"]) < 1e-3
    assert len(claims["jti"]) == 80
    if refresh:
        assert body["refresh_token"].startswith("def50200") and len(body["refresh_token"]) > 100
    return body


def assert_error(response, status: int, error: str, hint: str | None = None) -> dict[str, Any]:
    """league's error body: error, error_description, hint when there is one, and message = error_description."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    assert body["message"] == body["error_description"] and body["error_description"]
    assert body.get("hint") == hint
    assert list(body) == ["error", "error_description", *(["hint"] if hint else []), "message"]
    return body


# -- step 1 ------------------------------------------------------------------------------------------------------
def test_client_token_is_a_realm_signed_jwt(axeo):
    assert_token(axeo.client(scope="administration"), "", ["administration"], refresh=False)


def test_client_scope_is_optional_and_defaults_to_administration(axeo):
    assert_token(axeo.client(), "", ["administration"], refresh=False)
    assert_token(axeo.client(scope=""), "", ["administration"], refresh=False)
    assert_token(axeo.client(scope="administration bcf:read"), "", ["administration", "bcf:read"], refresh=False)


@pytest.mark.parametrize("grant", [None, "", "password", "cerqual", "CLIENT_CREDENTIALS"])
def test_client_unsupported_grant_type_is_400(axeo, grant):
    body = assert_error(
        axeo.client(grant=grant), 400, "unsupported_grant_type", "Check that all required parameters have been provided"
    )
    assert body["error_description"] == "The authorization grant type is not supported by the authorization server."


def test_client_missing_client_id_is_400_with_the_documented_example(axeo):
    """The seed's own example: invalid_request, its description, hint "Check the `client_id` parameter"."""
    body = assert_error(axeo.client(client_id=None), 400, "invalid_request", "Check the `client_id` parameter")
    assert body["error_description"] == INVALID_REQUEST


@pytest.mark.parametrize("client_id, secret", [(CID, "wrong"), (CID, None), (CID, ""), ("unknown", SECRET)])
def test_client_wrong_credentials_are_401_invalid_client(axeo, client_id, secret):
    body = assert_error(axeo.client(client_id=client_id, secret=secret), 401, "invalid_client")
    assert body["error_description"] == "Client authentication failed"


def test_client_unknown_scope_is_400_invalid_scope(axeo):
    assert_error(axeo.client(scope="administration superuser"), 400, "invalid_scope", "Check the `superuser` scope")


@pytest.mark.parametrize("name", ["grant_type", "client_id", "client_secret", "scope"])
def test_a_repeated_parameter_is_400(axeo, name):
    fields = [
        ("grant_type", "client_credentials"),
        ("client_id", CID),
        ("client_secret", SECRET),
        ("scope", "administration"),
    ]
    value = dict(fields)[name]
    assert_error(
        axeo.post(CLIENT_PATH, [*fields, (name, value)]), 400, "invalid_request", f"Check the `{name}` parameter"
    )


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
def test_a_body_that_is_not_a_form_has_no_parameters(axeo, content_type):
    form = urlencode([("grant_type", "client_credentials"), ("client_id", CID), ("client_secret", SECRET)])
    headers = {"Content-Type": content_type} if content_type else {}
    response = axeo.http.post(CLIENT_PATH, content=form, headers=headers)
    assert_error(response, 400, "unsupported_grant_type", "Check that all required parameters have been provided")


def test_form_content_type_with_a_charset_is_a_form(axeo):
    form = urlencode([("grant_type", "client_credentials"), ("client_id", CID), ("client_secret", SECRET)])
    response = axeo.http.post(
        CLIENT_PATH, content=form, headers={"Content-Type": "Application/X-WWW-Form-Urlencoded; charset=UTF-8"}
    )
    assert response.status_code == 200


def test_a_body_that_is_not_utf8_is_400(axeo):
    response = axeo.post(CLIENT_PATH, b"grant_type=client_credentials&client_id=\xff")
    assert_error(response, 400, "invalid_request", "The request body is not valid UTF-8")


def test_only_post_is_routed(axeo):
    assert axeo.http.get(CLIENT_PATH).status_code == 405
    assert axeo.http.get(USER_PATH).status_code == 405


# -- step 2 ------------------------------------------------------------------------------------------------------
def test_user_token_for_the_cerqual_user(axeo):
    token = axeo.token()
    body = assert_token(axeo.user(token), user_id(EMAIL), ["bcf:read", "bcf:create", "bcf:write"], refresh=True)
    assert body["access_token"] != token
    assert user_id(EMAIL) == user_id(EMAIL.upper())  # stable per user, e-mail case-insensitive
    scoped = axeo.user(token, email=EMAIL.upper(), scope="bcf:read")
    assert_token(scoped, user_id(EMAIL), ["bcf:read"], refresh=True)


def test_a_user_token_as_bearer_is_what_league_accepts_too(axeo):
    """Any valid token of the realm is a bearer (league's resource server checks the JWT, not its kind)."""
    user_token = axeo.user(axeo.token()).json()["access_token"]
    assert axeo.user(user_token).status_code == 200


@pytest.mark.parametrize(
    "authorization, hint",
    [
        (None, 'Missing "Authorization" header'),
        ("Bearer", "The JWT string must have two dots"),
        ("Bearer not-a-token", "The JWT string must have two dots"),
        ("Basic dXNlcjpwYXNz", "The JWT string must have two dots"),
        ("Bearer a.b.c", "Error while decoding from JSON"),
    ],
)
def test_a_missing_or_malformed_bearer_is_401_access_denied(axeo, authorization, hint):
    headers = {"Authorization": authorization} if authorization else {}
    body = assert_error(
        axeo.post(USER_PATH, [("grant_type", "cerqual"), ("email", EMAIL)], headers), 401, "access_denied", hint
    )
    assert body["error_description"] == ACCESS_DENIED


@pytest.mark.parametrize("how", FORGERIES)
def test_a_forged_bearer_is_401(axeo, how):
    assert_error(axeo.user(forged(axeo.token(), how)), 401, "access_denied", "Access token could not be verified")


def test_an_expired_client_token_is_401_on_the_virtual_clock(axeo):
    token = axeo.token()
    axeo.control("clock", {"advance": EXPIRES_IN - 5})
    assert axeo.user(token).status_code == 200
    axeo.control("clock", {"advance": 10})
    assert_error(axeo.user(token), 401, "access_denied", "Access token is invalid")
    assert axeo.user(axeo.token()).status_code == 200  # re-authenticating helps


def test_a_reset_forgets_every_token(axeo):
    token = axeo.token()
    assert axeo.control("reset").status_code == 200
    assert_error(axeo.user(token), 401, "access_denied", "Access token has been revoked")


def test_a_token_of_another_simulator_process_key_is_refused(axeo):
    """A token signed by the realm key but unknown to this service (another simulator instance) is revoked."""
    other = AxeobimSimulator()
    with TestClient(other.app(), base_url="http://other.sim") as http:
        token = http.post(
            CLIENT_PATH, data={"grant_type": "client_credentials", "client_id": CID, "client_secret": SECRET}
        ).json()["access_token"]
    assert_error(axeo.user(token), 401, "access_denied", "Access token has been revoked")


@pytest.mark.parametrize(
    "fields, error, hint",
    [
        ([("email", EMAIL)], "unsupported_grant_type", "Check that all required parameters have been provided"),
        (
            [("grant_type", "client_credentials"), ("email", EMAIL)],
            "unsupported_grant_type",
            "Check that all required parameters have been provided",
        ),
        ([("grant_type", "cerqual")], "invalid_request", "Check the `email` parameter"),
        ([("grant_type", "cerqual"), ("email", "nobody@company.com")], "invalid_grant", None),
        (
            [("grant_type", "cerqual"), ("email", EMAIL), ("scope", "administration")],
            "invalid_scope",
            "Check the `administration` scope",
        ),
        (
            [("grant_type", "cerqual"), ("email", EMAIL), ("email", EMAIL)],
            "invalid_request",
            "Check the `email` parameter",
        ),
    ],
)
def test_a_malformed_request_with_a_valid_bearer_is_400(axeo, fields, error, hint):
    assert_error(axeo.post(USER_PATH, fields, {"Authorization": f"Bearer {axeo.token()}"}), 400, error, hint)


def test_the_bearer_is_judged_before_the_form(axeo):
    """League's resource server runs first: a bad bearer with a malformed form is 401, not 400."""
    assert_error(
        axeo.user("not-a-token", email=None, grant=None), 401, "access_denied", "The JWT string must have two dots"
    )


# -- control plane, options, settings ----------------------------------------------------------------------------
def test_info_and_the_injected_fault_body(axeo):
    info = axeo.http.get(f"{CONTROL_PREFIX}/info").json()
    assert info["vendor"] == "axeobim" and info["profile"] == "documented"
    assert info["options"]["access_lifetime"] == EXPIRES_IN and info["options"]["user_lifetime"] == EXPIRES_IN
    axeo.control("fault", {"status": 500})
    body = assert_error(axeo.client(), 500, "server_error")
    assert body["error_description"].endswith(": injected fault")
    assert axeo.client().status_code == 200


def test_lifetime_options(make_axeo):
    axeo = make_axeo(options={"access_lifetime": "60", "user_lifetime": 120})
    token = axeo.client().json()
    assert token["expires_in"] == 60
    assert axeo.user(token["access_token"]).json()["expires_in"] == 120
    axeo.control("clock", {"advance": 61})
    assert axeo.user(token["access_token"]).status_code == 401


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "soon", True, ""])
def test_bad_lifetime_options_are_value_errors_naming_the_option(value):
    with pytest.raises(ValueError, match="simulator option access_lifetime must be"):
        AxeobimSimulator(options={"access_lifetime": value})


def test_settings_override_the_registered_client_and_user(make_axeo):
    axeo = make_axeo(
        settings={"client_id": "mine", "client_secret": "my-secret-value", "cerqual_email": "me@cerqual.fr"}
    )
    assert axeo.client().status_code == 401
    token = axeo.token(client_id="mine", secret="my-secret-value")
    assert axeo.user(token, email="me@cerqual.fr").status_code == 200
    assert axeo.user(token).status_code == 400


@pytest.mark.parametrize("prefix", ["/system_aplus/api", "system_aplus/api/"])
def test_served_under_the_live_api_prefix(make_axeo, prefix):
    axeo = make_axeo(prefix=prefix)
    token = axeo.token()
    assert axeo.user(token).status_code == 200
    assert axeo.http.get(f"/system_aplus/api{CONTROL_PREFIX}/info").json()["vendor"] == "axeobim"
    assert axeo.http.post(CLIENT_PATH).status_code == 404


# -- every deviation changes what the simulator says -------------------------------------------------------------
def _user_body(axeo: Axeo) -> dict[str, Any]:
    return axeo.user(axeo.token()).json()


def _error_fields(axeo: Axeo) -> dict[str, Any]:
    return axeo.client(client_id=None).json()


def _lifetime_gap(axeo: Axeo) -> float:
    body = axeo.client().json()
    _, claims = decode_unverified(body["access_token"])
    return round(claims["exp"] - claims["iat"] - int(body["expires_in"]))


def _after_expiry(axeo: Axeo) -> int:
    token = axeo.token()
    axeo.control("clock", {"advance": EXPIRES_IN + 1})
    return axeo.user(token).status_code


#: deviation -> (what to observe, what the deviation makes it): documented must observe something else
DEVIATION_PROBES: dict[str, tuple[Callable[[Axeo], Any], Any]] = {
    "lowercase-token-type": (
        lambda a: (a.client().json()["token_type"], _user_body(a)["token_type"]),
        ("bearer", "bearer"),
    ),
    "expires-in-string": (lambda a: (a.client().json()["expires_in"], _user_body(a)["expires_in"]), ("3600", "3600")),
    "longer-expiry": (lambda a: (a.client().json()["expires_in"], _user_body(a)["expires_in"]), (7200, 7200)),
    "access-token-renamed": (lambda a: sorted(a.client().json()), ["expires_in", "token", "token_type"]),
    "null-refresh-token": (lambda a: _user_body(a)["refresh_token"], None),
    "state-in-answer": (lambda a: (a.client().json().get("state"), _user_body(a).get("state")), ("", "")),
    "missing-cache-headers": (
        lambda a: (lambda r: (r.headers.get("cache-control"), r.headers.get("pragma")))(a.client()),
        (None, None),
    ),
    "opaque-client-token": (
        lambda a: (lambda t: (len(t), t.count("."), a.user(t).status_code))(a.token()),
        (80, 0, 200),
    ),
    "exp-mismatch": (_lifetime_gap, 600),
    "echo-client-token": (lambda a: (lambda t: a.user(t).json()["access_token"] == t)(a.token()), True),
    "any-secret-accepted": (
        lambda a: (a.client(secret="wrong").status_code, a.client(secret=None).status_code),
        (200, 200),
    ),
    "scope-required": (
        lambda a: (
            a.client().status_code,
            a.user(a.token(scope="administration")).status_code,
            a.client(scope="administration").status_code,
        ),
        (400, 400, 200),
    ),
    "request-errors-401": (
        lambda a: (
            a.client(grant=None).status_code,
            a.client(client_id=None).status_code,
            a.user(a.token(), email=None).status_code,
        ),
        (401, 401, 401),
    ),
    "bearer-errors-400": (
        lambda a: (a.user(None).status_code, a.user("garbage").status_code, _after_expiry(a)),
        (400, 400, 400),
    ),
    "bearer-not-required": (lambda a: (a.user(None).status_code, a.user("garbage").status_code), (200, 401)),
    "expired-token-accepted": (_after_expiry, 200),
    "signature-not-verified": (lambda a: a.user(forged(a.token(), "foreign-key")).status_code, 200),
    "step2-wrong-key": (lambda a: (a.client().status_code, a.user(a.token()).status_code), (200, 401)),
    "grant-type-ignored": (
        lambda a: (a.user(a.token(), grant=None).status_code, a.user(a.token(), grant="x").status_code),
        (200, 200),
    ),
    "unknown-user-404": (
        lambda a: (
            a.user(a.token(), email="nobody@company.com").status_code,
            a.user(a.token(), email=None).status_code,
        ),
        (404, 404),
    ),
    "message-differs": (
        lambda a: (
            lambda b: (
                b["message"] == b["error_description"],
                b["message"].endswith("Hint: Check the `client_id` parameter"),
            )
        )(_error_fields(a)),
        (False, True),
    ),
    "no-message-field": (lambda a: sorted(_error_fields(a)), ["error", "error_description", "hint"]),
    "no-error-description": (lambda a: sorted(_error_fields(a)), ["error", "hint", "message"]),
    "html-errors": (
        lambda a: (lambda r: (r.status_code, r.headers["content-type"].split(";")[0]))(a.client(secret="wrong")),
        (401, "text/html"),
    ),
}


def test_every_deviation_has_a_probe():
    missing = sorted(set(AxeobimSimulator.deviations) - set(DEVIATION_PROBES))
    stale = sorted(set(DEVIATION_PROBES) - set(AxeobimSimulator.deviations))
    assert not missing, f"add a DEVIATION_PROBES entry for the new deviation(s): {missing}"
    assert not stale, f"DEVIATION_PROBES names deviations the simulator no longer has: {stale}"


@pytest.mark.parametrize("deviation", sorted(AxeobimSimulator.deviations))
def test_each_deviation_changes_what_the_simulator_says(make_axeo, deviation):
    observe, deviated = DEVIATION_PROBES[deviation]
    documented_value = observe(make_axeo("documented"))
    deviated_value = observe(make_axeo(deviation))
    assert deviated_value == deviated
    assert documented_value != deviated_value, f"{deviation} is indistinguishable from the documented profile"


@pytest.mark.parametrize("deviation", sorted(AxeobimSimulator.deviations))
def test_each_deviation_has_a_description(deviation):
    assert len(AxeobimSimulator.deviations[deviation]) > 10

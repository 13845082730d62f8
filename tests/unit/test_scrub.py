"""Unit tests of the Scrubber: every credential and token is replaced by a shape-keeping placeholder."""

from __future__ import annotations

import base64
import json
import secrets
import time
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import RSAKey
from vcr.request import Request

from authcanary.recording.scrub import ENCODED_PLACEHOLDER_RE, PLACEHOLDER_RE, Scrubber, classify_token

SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "canary-kid"}, private=True)


def rs256(claims: dict, kid: str | None = "canary-kid") -> str:
    header = {"alg": "RS256", **({"kid": kid} if kid else {})}
    return jwt.encode(header, claims, SIGNING_KEY)


def canary() -> str:
    return secrets.token_urlsafe(18)


def post(uri: str, body: bytes | None, **headers: str) -> Request:
    return Request("POST", uri, body, headers)


def response(body: bytes | None, content_type: str = "application/json", **headers: list[str]) -> dict:
    return {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": [content_type], **headers},
        "body": {"string": body},
    }


def json_body(recorded: dict) -> dict:
    return json.loads(recorded["body"]["string"])


# classify_token


def test_classify_jwt_reads_alg_kid_and_sorted_claim_names_only():
    token = rs256({"sub": "user@example.com", "aud": "aps", "exp": 2, "iat": 1, "scope": ["data:read"]})
    assert classify_token(token) == "jwt RS256 kid=canary-kid claims=[aud,exp,iat,scope,sub]"


def test_classify_jwt_without_kid_and_with_unreadable_payload():
    assert classify_token(rs256({"b": 1, "a": 2}, kid=None)) == "jwt RS256 claims=[a,b]"
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","kid":"k 1<x>"}').decode().rstrip("=")
    assert classify_token(f"{header}.bm90LWpzb24.c2ln") == "jwt HS256 kid=k_1_x_ claims=?"


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        ("0123456789abcdef0123456789ABCDEF", "hex32"),
        ("da39a3ee5e6b4b0d3255bfef95601890afd80709", "hex40"),
        ("3f1b2c4d-1111-4abc-8def-0123456789ab", "uuid4"),
        ("3f1b2c4d-1111-1abc-8def-0123456789ab", "uuid"),
        ("not.a.jwt", "opaque len=9"),
        ("abc", "opaque len=3"),
        ("eyJub3QiOiJhIGp3dCJ9.e30.", "opaque len=25"),  # header without alg
    ],
)
def test_classify_other_shapes(value, shape):
    assert classify_token(value) == shape


# requests


def test_form_credentials_are_secrets_and_non_secrets_stay():
    password, client_secret = canary(), canary()
    body = (
        f"grant_type=password&username=user%40example.com&password={quote_plus(password)}"
        f"&client_id=my-client&client_secret={quote_plus(client_secret)}&scope=data%3Aread"
    )
    recorded = Scrubber().before_record_request(
        post(
            "https://h/token",
            body.encode(),
            **{"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(body))},
        )
    )
    fields = dict(parse_qsl(recorded.body.decode(), strict_parsing=True))
    assert fields == {
        "grant_type": "password",
        "username": "user@example.com",
        "client_id": "my-client",
        "scope": "data:read",
        "password": f"<secret len={len(password)}>",
        "client_secret": f"<secret len={len(client_secret)}>",
    }
    assert recorded.headers["Content-Length"] == str(len(recorded.body))


def test_json_keys_are_matched_case_and_separator_insensitively_at_any_depth():
    tokens = {key: canary() for key in ("ClientSecret", "ACCESS_TOKEN", "rememberMeToken", "cross-token", "apiKey")}
    body = {"user": {"email": "user@example.com", "credentials": [tokens]}, "client_id": "cid", "n": 1.50}
    recorded = Scrubber().before_record_request(post("https://h/login", json.dumps(body).encode()))
    scrubbed = json.loads(recorded.body)
    creds = scrubbed["user"]["credentials"][0]
    assert creds["ClientSecret"].startswith("<secret len=") and creds["apiKey"].startswith("<secret len=")
    assert all(creds[key].startswith("<token#") for key in ("ACCESS_TOKEN", "rememberMeToken", "cross-token"))
    assert scrubbed["user"]["email"] == "user@example.com" and scrubbed["client_id"] == "cid"
    assert recorded.body.endswith(b'"n":1.5}')  # re-serialized compactly, numbers keep their source text


def test_json_keeps_duplicate_keys_order_and_number_text():
    body = b'{"token": "first-token-value", "a": 1.50e3, "token": "second-token-value", "b": [true, null]}'
    recorded = Scrubber().before_record_request(post("https://h/x", body, **{"Content-Type": "application/json"}))
    assert recorded.body == (
        b'{"token":"<token#1 opaque len=17>","a":1.50e3,"token":"<token#2 opaque len=18>","b":[true,null]}'
    )


def test_a_token_is_replaced_also_where_it_stands_before_its_token_key():
    token = canary()
    body = json.dumps({"previous": token, "access_token": token, "note": f"issued {token}"}).encode()
    recorded = Scrubber().before_record_request(post("https://h/x", body, **{"Content-Type": "application/json"}))
    scrubbed = json.loads(recorded.body)
    assert token not in recorded.body.decode()
    assert scrubbed["previous"] == scrubbed["access_token"] and scrubbed["access_token"].startswith("<token#1 ")
    assert scrubbed["note"] == f"issued {scrubbed['access_token']}"


def test_unchanged_bodies_are_kept_byte_for_byte():
    body = b'{ "client_id" : "cid",\n  "expires_in": 3600 }'
    assert Scrubber().before_record_request(post("https://h/x", body)).body == body


def test_query_string_tokens_and_codes_are_scrubbed_state_stays():
    uri = "https://h/callback?code=Sp1x&state=af0ifjsldkj&api_key=k3y-value-123&access_token=abcdefgh"
    recorded = Scrubber().before_record_request(Request("GET", uri, None, {}))
    query = dict(parse_qsl(urlsplit(recorded.uri).query))
    assert query == {
        "code": "<token#1 opaque len=4>",
        "state": "af0ifjsldkj",
        "api_key": "<secret len=13>",
        "access_token": "<token#2 opaque len=8>",
    }


def test_url_password_and_tokens_in_paths_and_fragments_are_scrubbed():
    token = rs256({"exp": 1})
    scrubber = Scrubber()
    recorded = scrubber.before_record_request(
        Request("GET", f"https://me:pa55word!@h/introspect/{token}#access_token=xyz12345", None, {})
    )
    parts = urlsplit(recorded.uri)
    assert parts.password == quote("<secret len=9>", safe="")
    assert parts.path == "/introspect/" + quote("<token#1 jwt RS256 kid=canary-kid claims=[exp]>", safe="")
    assert dict(parse_qsl(parts.fragment)) == {"access_token": "<token#2 opaque len=8>"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Basic " + base64.b64encode(b"client:s3cr3t-value").decode(), "Basic <basic>"),
        ("Bearer 0123456789abcdef0123456789abcdef", "Bearer <token#1 hex32>"),
        ("BimPlus 0123456789abcdef0123456789abcdef", "BimPlus <token#1 hex32>"),
        ("Custom 3f1b2c4d-1111-4abc-8def-0123456789ab", "Custom <token#1 uuid4>"),
        ("naked-token-without-scheme", "<token#1 opaque len=26>"),
    ],
)
def test_authorization_schemes(value, expected):
    recorded = Scrubber().before_record_request(Request("GET", "https://h/", None, {"Authorization": value}))
    assert recorded.headers["Authorization"] == expected


def test_api_key_token_and_cookie_headers():
    headers = {
        "x-api-key": "k" * 40,
        "X-Api-Token": "t" * 32,
        "Cookie": "a=1; sid=abcdef123456",
        "User-Agent": "authcanary",
    }
    recorded = Scrubber().before_record_request(Request("GET", "https://h/", None, headers))
    assert dict(recorded.headers) == {
        "x-api-key": "<secret len=40>",
        "X-Api-Token": "<token#1 opaque len=32>",
        "Cookie": "a=<token#2 opaque len=1>; sid=<token#3 opaque len=12>",
        "User-Agent": "authcanary",
    }


def test_basic_password_is_remembered_and_scrubbed_where_echoed():
    scrubber = Scrubber()
    scrubber.before_record_request(
        Request("POST", "https://h/t", None, {"Authorization": "Basic " + base64.b64encode(b"cid:echoed-pw1").decode()})
    )
    recorded = scrubber.before_record_response(response(b'{"detail": "bad secret echoed-pw1 for cid"}'))
    assert json_body(recorded) == {"detail": "bad secret <secret len=10> for cid"}


# responses and aliases


def test_token_from_response_gets_the_same_alias_in_later_requests():
    access, refresh = rs256({"aud": "a", "exp": 2, "iat": 1}), secrets.token_hex(16)
    scrubber = Scrubber()
    recorded = scrubber.before_record_response(
        response(
            json.dumps(
                {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": 3600}
            ).encode()
        )
    )
    jwt_alias = "<token#1 jwt RS256 kid=canary-kid claims=[aud,exp,iat]>"
    assert json_body(recorded) == {
        "access_token": jwt_alias,
        "refresh_token": "<token#2 hex32>",
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    later = scrubber.before_record_request(
        post(
            "https://h/t",
            f"grant_type=refresh_token&refresh_token={refresh}".encode(),
            Authorization=f"Bearer {access}",
        )
    )
    assert later.headers["Authorization"] == f"Bearer {jwt_alias}"
    assert dict(parse_qsl(later.body.decode()))["refresh_token"] == "<token#2 hex32>"


def test_alias_numbers_are_deterministic_across_runs():
    def run() -> list[str]:
        scrubber = Scrubber()
        first = scrubber.before_record_response(response(json.dumps({"access_token": secrets.token_hex(16)}).encode()))
        second = scrubber.before_record_request(
            Request("GET", "https://h/", None, {"Authorization": f"Bearer {secrets.token_hex(16)}"})
        )
        return [json_body(first)["access_token"], second.headers["Authorization"]]

    assert run() == run() == ["<token#1 hex32>", "Bearer <token#2 hex32>"]


def test_set_cookie_value_is_scrubbed_attributes_kept_and_content_length_fixed():
    recorded = Scrubber().before_record_response(
        response(
            b'{"id_token": "abcdefghijklmnop"}',
            **{"Set-Cookie": ["session=v4lue-123; Path=/; HttpOnly"], "Content-Length": ["33"]},
        )
    )
    assert recorded["headers"]["Set-Cookie"] == ["session=<token#1 opaque len=9>; Path=/; HttpOnly"]
    assert recorded["headers"]["Content-Length"] == [str(len(recorded["body"]["string"]))]


def test_error_codes_in_json_stay_random_codes_are_scrubbed():
    body = json.dumps(
        {"code": "invalid_grant", "status": {"code": 401}, "redirect": {"code": "SplxlOBeZQQYbYS6WxSbIA"}}
    ).encode()
    assert json_body(Scrubber().before_record_response(response(body))) == {
        "code": "invalid_grant",
        "status": {"code": 401},
        "redirect": {"code": "<token#1 opaque len=22>"},
    }


def test_location_header_query_is_scrubbed():
    recorded = Scrubber().before_record_response(response(None, **{"Location": ["https://app/cb?code=abc&state=s1"]}))
    assert recorded["headers"]["Location"] == ["https://app/cb?code=%3Ctoken%231+opaque+len%3D3%3E&state=s1"]


# known secrets, anywhere and in any encoding


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: s,
        lambda s: quote(s, safe=""),
        lambda s: quote_plus(s),
        lambda s: json.dumps(s)[1:-1],
        lambda s: base64.b64encode(s.encode()).decode(),
        lambda s: base64.b64encode(f"client-id:{s}".encode()).decode(),
    ],
    ids=["raw", "quote", "quote_plus", "json", "base64", "basic"],
)
def test_known_secret_is_replaced_in_free_text_in_any_encoding(encode):
    secret = canary() + "/+ é"
    text = f"error: the value {encode(secret)} was rejected"
    recorded = Scrubber([secret]).before_record_response(response(text.encode(), "text/plain"))
    kept = recorded["body"]["string"].decode()
    assert encode(secret) not in kept and secret not in kept
    assert PLACEHOLDER_RE.search(kept)


def test_known_secret_inside_binary_body_keeps_other_bytes():
    secret = canary()
    body = b"\xff\xfe\x00" + secret.encode() + b"\x00\x80tail"
    recorded = Scrubber([secret]).before_record_response(response(body, "application/octet-stream"))
    assert recorded["body"]["string"] == b"\xff\xfe\x00" + f"<secret len={len(secret)}>".encode() + b"\x00\x80tail"


def test_malformed_json_falls_back_to_patterns_on_raw_text():
    token, hex_token, secret = rs256({"exp": 1}), secrets.token_hex(16), canary()
    body = f'{{"access_token": "{hex_token}", "other": "{token}", "pw": "{secret}", "cut'.encode()
    kept = Scrubber([secret]).before_record_response(response(body))["body"]["string"].decode()
    assert hex_token not in kept and token not in kept and secret not in kept
    assert '"access_token": "<token#1 hex32>"' in kept
    assert '"other": "<token#2 jwt RS256 kid=canary-kid claims=[exp]>"' in kept


def test_raw_text_long_hex_and_key_values_are_scrubbed():
    hex_token = secrets.token_hex(20)
    body = f"access_token={canary()}\nsession {hex_token}\npassword: hunter2 and more".encode()
    kept = Scrubber().before_record_response(response(body, "text/plain"))["body"]["string"].decode()
    assert kept == ("access_token=<token#1 opaque len=24>\nsession <token#2 hex40>\npassword: <secret len=7> and more")


def test_huge_body_is_scrubbed_quickly():
    token = secrets.token_hex(16)
    body = json.dumps({"items": [{"id": i, "name": "x" * 50} for i in range(60_000)], "token": token}).encode()
    assert len(body) > 4_000_000
    started = time.monotonic()
    kept = Scrubber([canary()]).before_record_response(response(body))["body"]["string"]
    assert time.monotonic() - started < 20
    assert token.encode() not in kept


def test_deeply_nested_json_does_not_crash():
    secret = canary()
    body = ("[" * 5000 + f'{{"password": "{secret}"}}' + "]" * 5000).encode()
    kept = Scrubber([secret]).before_record_response(response(body))["body"]["string"]
    assert secret.encode() not in kept


def test_placeholder_text_is_never_rewritten():
    token = jwt.encode({"alg": "RS256", "kid": "x/token:abc123456789"}, {"password": 1}, SIGNING_KEY)
    kept = Scrubber(["RS256"]).before_record_response(response(f"see {token}".encode(), "text/plain"))
    assert kept["body"]["string"] == b"see <token#1 jwt RS256 kid=x/token:abc123456789 claims=[password]>"
    assert PLACEHOLDER_RE.search(kept["body"]["string"].decode())


def test_scrubbing_is_idempotent():
    access = rs256({"exp": 1})
    request = post(
        "https://h/t?code=abc",
        f"password=pw123456&refresh_token={access}".encode(),
        Authorization="Basic " + base64.b64encode(b"a:b").decode(),
        Cookie="sid=abc",
    )
    once = Scrubber().before_record_request(request)
    twice = Scrubber().before_record_request(once)
    assert (twice.uri, twice.body, dict(twice.headers)) == (once.uri, once.body, dict(once.headers))


def test_original_request_is_not_modified():
    request = post("https://h/t", b"password=pw123456", Authorization="Bearer abcdefgh")
    Scrubber().before_record_request(request)
    assert request.body == b"password=pw123456" and request.headers["Authorization"] == "Bearer abcdefgh"


def test_every_placeholder_kind_matches_the_grammar():
    token = rs256({"aud": "x"})
    scrubber = Scrubber(["known-secret-1"])
    kept = scrubber.before_record_response(
        response(
            json.dumps(
                {
                    "password": "pw",
                    "jwt": token,
                    "hex_token": "ab" * 16,
                    "uuid_token": "3f1b2c4d-1111-4abc-8def-0123456789ab",
                    "v1_token": "3f1b2c4d-1111-1abc-8def-0123456789ab",
                    "opaque_token": "x",
                    "echo": "known-secret-1",
                    "auth": "Basic " + base64.b64encode(b"u:known-secret-1").decode(),
                }
            ).encode()
        )
    )
    values = json_body(kept)
    assert values == {
        "password": "<secret len=2>",
        "jwt": "<token#1 jwt RS256 kid=canary-kid claims=[aud]>",
        "hex_token": "<token#2 hex32>",
        "uuid_token": "<token#3 uuid4>",
        "v1_token": "<token#4 uuid>",
        "opaque_token": "<token#5 opaque len=1>",
        "echo": "<secret len=14>",
        "auth": "Basic <basic>",
    }
    assert all(PLACEHOLDER_RE.search(value) for value in values.values())


# properties

SECRET_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=6, max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=SECRET_TEXT, key=st.sampled_from(["password", "client_secret", "x-api-key", "AccessToken"]))
def test_property_secret_never_survives_in_json_or_form(secret, key):
    template_json = json.dumps({"user": "u@example.com", key: "\0"})
    template_form = f"username=u%40example.com&{key}=\0"
    assume(secret.strip() == secret and secret not in template_json + template_form)
    scrubber = Scrubber()
    as_json = scrubber.before_record_request(
        post(
            "https://h/j",
            template_json.replace("\0", json.dumps(secret)[1:-1]).encode(),
            **{"Content-Type": "application/json"},
        )
    )
    as_form = scrubber.before_record_request(
        post(
            "https://h/f",
            template_form.replace("\0", quote_plus(secret)).encode(),
            **{"Content-Type": "application/x-www-form-urlencoded"},
        )
    )
    json.loads(as_json.body)
    parse_qsl(as_form.body.decode(), strict_parsing=True)
    for kept in (as_json.body.decode(), as_form.body.decode()):
        without_placeholders = ENCODED_PLACEHOLDER_RE.sub("", PLACEHOLDER_RE.sub("", kept))
        assert secret not in without_placeholders and quote_plus(secret) not in without_placeholders

"""Normalization of scrubbed vcrpy cassettes into steps (authcanary.drift.normalize)."""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path

import pytest
import yaml
from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import yamlserializer

from authcanary.drift import normalize as normalize_module
from authcanary.drift.normalize import (
    CHOSEN_HEADERS,
    CassetteError,
    Constants,
    classify_string,
    classify_value,
    load_cassette,
    normalize_cassette,
    normalize_folder,
    normalize_folders,
    path_template,
)

JWT_PLACEHOLDER = "<token#1 jwt RS256 kid=abc claims=[client_id,aud,exp]>"


def interaction(
    uri: str,
    method: str = "POST",
    body: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    json_body=None,
    text: str = "",
) -> dict:
    """One interaction description for :func:`write_cassette`."""
    return {
        "method": method,
        "uri": uri,
        "body": body,
        "status": status,
        "headers": headers or {},
        "text": json.dumps(json_body) if json_body is not None else text,
    }


def write_cassette(path: Path, interactions: list[dict]) -> Path:
    """Write a genuine vcrpy cassette (vcrpy's own serializer) and return its path."""
    requests = [Request(i["method"], i["uri"], i["body"], {"Authorization": "<basic>"}) for i in interactions]
    responses = [
        {
            "status": {"code": i["status"], "message": "OK"},
            "headers": {name: [value] for name, value in i["headers"].items()},
            "body": {"string": i["text"]},
        }
        for i in interactions
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(serialize({"requests": requests, "responses": responses}, yamlserializer))
    return path


def raw_jwt(header: dict, payload: dict) -> str:
    def part(document: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (JWT_PLACEHOLDER, "jwt(RS256;aud,client_id,exp)"),
        ("<jwt HS256 kid=… claims=[sub]>", "jwt(HS256;sub)"),
        ("<token#2 hex32>", "hex32"),
        ("<token#2 hex40>", "hex40"),
        ("<token#6 jwt none claims=?>", "jwt(none;?)"),
        ("<hex32>", "hex32"),
        ("<uuid4>", "uuid"),
        ("<token#3 uuid>", "uuid"),
        ("<basic>", "basic"),
        ("<opaque len=12>", "opaque"),
        ("<token#4 secret len=16>", "secret"),
        ("<token#5 weird>", "placeholder(weird)"),
        ("<html>", "string"),
        (raw_jwt({"alg": "RS256", "kid": "k"}, {"scope": "x", "aud": "y"}), "jwt(RS256;aud,scope)"),
        ("eyJhbGciOi.not-a.jwt", "string"),
        ("0f1e2d3c4b5a69788796a5b4c3d2e1f0", "hex32"),
        ("0F1E2D3C4B5A6978", "hex16"),
        ("7d3c1b0e-2f4a-4c6b-9d8e-1a2b3c4d5e6f", "uuid"),
        ("2024-04-30", "iso-8601"),
        ("2024-04-30T12:00:00.123+02:00", "iso-8601"),
        ("user@example.com", "email"),
        ("https://developer.api.autodesk.com/x", "url"),
        ("", "empty-string"),
        ("Bearer", "string"),
        ("1799", "string"),
    ],
)
def test_classify_string(text, expected):
    assert classify_string(text) == expected


@pytest.mark.parametrize(
    "token",
    [
        raw_jwt({"alg": "RS256", "kid": "k"}, {"scope": "x", "aud": "y"}),
        raw_jwt({"alg": "HS256"}, {}),
        "eyJhbGciOiJIUzI1NiJ9.bm90LWpzb24.c2ln",  # claims unreadable
        "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "0F1E2D3C4B5A6978",
        "7d3c1b0e-2f4a-4c6b-9d8e-1a2b3c4d5e6f",
        "7d3c1b0e-2f4a-1c6b-9d8e-1a2b3c4d5e6f",
    ],
)
def test_a_token_and_its_placeholder_have_one_shape(token):
    """Drift names a token's shape with the scrubber's classifier: the value and its placeholder classify alike."""
    from authcanary.recording.shapes import classify_token, token_shape

    assert classify_string(token) == classify_string(f"<token#1 {classify_token(token)}>")
    assert classify_string(token) == token_shape(token).format_class


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000, ("int", "epoch-s")),
        (1_700_000_000_123, ("int", "epoch-ms")),
        (3599, ("int", "int")),
        (1_700_000_000.5, ("number", "epoch-s")),
        (0.5, ("number", "number")),
        (True, ("bool", "bool")),
        (None, ("null", "null")),
        ("x", ("string", "string")),
    ],
)
def test_classify_value(value, expected):
    assert classify_value(value) == expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://h/authentication/v1/authenticate", "/authentication/v1/authenticate"),
        ("https://h/v2/projects/7d3c1b0e-2f4a-4c6b-9d8e-1a2b3c4d5e6f/teams/42", "/v2/projects/{id}/teams/{id}"),
        ("https://h/v2/objects/0f1e2d3c4b5a6978/x", "/v2/objects/{id}/x"),
        ("https://h/v2/tokens/%3Ctoken%231%20hex32%3E", "/v2/tokens/{id}"),
        ("https://h/v2/tokens/<token#1 hex32>/info", "/v2/tokens/{id}/info"),
        ("https://h/v2/tokens/%3Ctoken%231+opaque+len%3D9%3E", "/v2/tokens/{id}"),
        ("https://h/v2/tokeninfo?access_token=<token#1 hex32>&b=2&a=1&b=3", "/v2/tokeninfo?a&access_token&b"),
        ("https://h", "/"),
    ],
)
def test_path_template(uri, expected):
    assert path_template(uri) == expected


def test_step_keys_count_occurrences_per_signature(tmp_path):
    token = interaction("https://h/oauth/token", body="grant_type=client_credentials&scope=a")
    info = interaction("https://h/v2/authorize", method="GET")
    steps = normalize_cassette(write_cassette(tmp_path / "c.yaml", [token, info, token]), "kudo", "test_x")
    assert [s.key for s in steps] == [
        "kudo/test_x#POST /oauth/token [grant_type,scope]#0",
        "kudo/test_x#GET /v2/authorize#0",
        "kudo/test_x#POST /oauth/token [grant_type,scope]#1",
    ]
    inserted = normalize_cassette(write_cassette(tmp_path / "d.yaml", [info, token, info, token]), "kudo", "test_x")
    assert {s.key for s in steps} <= {s.key for s in inserted}


def test_request_json_body_keys_and_method_in_signature(tmp_path):
    body = json.dumps({"user_id": "<opaque len=9>", "password": "<secret len=8>", "application_id": "<uuid4>"})
    cassette = write_cassette(tmp_path / "c.yaml", [interaction("https://h/v2/authorize", body=body)])
    (step,) = normalize_cassette(cassette, "bimplus", "t")
    assert step.signature == "POST /v2/authorize [application_id,password,user_id]"
    assert (step.method, step.path) == ("POST", "/v2/authorize")


def test_chosen_headers_are_normalized(tmp_path):
    headers = {
        "Content-Type": "Application/JSON; Charset=UTF-8; boundary=x",
        "Cache-Control": "no-store, No-Cache",
        "Pragma": "no-cache",
        "Retry-After": "120",
        "WWW-Authenticate": 'Bearer realm="api", error="invalid_token", error_description="expired at 12:00"',
        "Deprecation": "@1714435200",
        "Sunset": "Tue, 30 Apr 2024 00:00:00 GMT",
        "Link": '<https://h/v2/token>; rel="successor-version"',
        "Date": "Mon, 01 Jan 2024 00:00:00 GMT",
        "X-Request-Id": "abc",
    }
    (step,) = normalize_cassette(
        write_cassette(tmp_path / "c.yaml", [interaction("https://h/t", headers=headers)]), "v", "t"
    )
    assert step.headers == {
        "content-type": "application/json; charset=utf-8",
        "cache-control": "no-cache, no-store",
        "pragma": "no-cache",
        "retry-after": "present (seconds)",
        "www-authenticate": "bearer (error=invalid_token, error_description, realm)",
        "deprecation": "@1714435200",
        "sunset": "Tue, 30 Apr 2024 00:00:00 GMT",
        "link": "rel=successor-version",
    }


def test_body_shape_tree(tmp_path):
    body = {
        "access_token": JWT_PLACEHOLDER,
        "expires_in": 3599,
        "expiration_time": 1_595_917_409,
        "user": {"id": "<uuid4>", "email": "a@b.example"},
        "teams": [{"id": 1, "name": "a"}, {"id": 2, "role": None}],
        "scopes": [],
        "a.b": True,
    }
    (step,) = normalize_cassette(
        write_cassette(tmp_path / "c.yaml", [interaction("https://h/t", json_body=body)]), "v", "t"
    )
    assert step.shape == {
        "$": ("object", "object"),
        "$.access_token": ("string", "jwt(RS256;aud,client_id,exp)"),
        "$.expires_in": ("int", "int"),
        "$.expiration_time": ("int", "epoch-s"),
        "$.user": ("object", "object"),
        "$.user.id": ("string", "uuid"),
        "$.user.email": ("string", "email"),
        "$.teams": ("array", "array"),
        "$.teams[]": ("object", "object"),
        "$.teams[].id": ("int", "int"),
        "$.teams[].name": ("string", "string"),
        "$.teams[].role": ("null", "null"),
        "$.scopes": ("array", "empty"),
        '$["a.b"]': ("bool", "bool"),
    }


@pytest.mark.parametrize(
    ("text", "content_type", "expected"),
    [
        ("Wrong token", "text/plain", ("text", "short")),
        ("{ Wrong token }", "application/json", ("text", "short")),
        ("<!DOCTYPE html><html><body>Gone</body></html>", "text/html", ("text", "html")),
        ("", "", ("text", "empty")),
        ("<token#1 uuid4>", "text/plain", ("text", "uuid")),
        ("x" * 500, "text/plain", ("text", "medium")),
        ('"just a json string"', "application/json", ("string", "string")),
    ],
)
def test_non_json_bodies(tmp_path, text, content_type, expected):
    cassette = write_cassette(
        tmp_path / "c.yaml", [interaction("https://h/t", headers={"Content-Type": content_type}, text=text)]
    )
    (step,) = normalize_cassette(cassette, "v", "t")
    assert step.shape == {"$": expected}


def test_values_kept_only_for_constants_and_stable_values(tmp_path):
    def token(expires_in: int, number: int) -> dict:
        return interaction(
            "https://h/oauth/token",
            body="grant_type=client_credentials",
            json_body={
                "token_type": "Bearer",
                "expires_in": expires_in,
                "access_token": f"<token#{number} hex32>",
                "issued_at": 1_700_000_000 + number,
                "scope": "data:read",
            },
        )

    write_cassette(tmp_path / "v" / "test_a.yaml", [token(3599, 1), token(3598, 2)])
    write_cassette(tmp_path / "v" / "test_b.yaml", [token(3599, 3)])
    write_cassette(
        tmp_path / "v" / "test_once.yaml",
        [interaction("https://h/other", json_body={"token_type": "Bearer", "kind": "x"})],
    )
    constants = {"POST /oauth/token": {"200": {"$.access_token": "ignored"}}, "GET /other": {"200": {"$.kind": "x"}}}
    steps = normalize_folder(tmp_path, constants)["v"]
    first = steps["v/test_a#POST /oauth/token [grant_type]#0"]
    # stable across 3 observations; expires_in varies; token and timestamp are volatile; the token is declared
    assert first.values == {"$.token_type": "Bearer", "$.scope": "data:read", "$.access_token": "<token#1 hex32>"}
    assert steps["v/test_once#POST /other#0"].values == {}  # seen once, and the constant is for GET


def test_constants_match_path_suffix_params_and_status_classes():
    constants = Constants(
        {
            "POST /oauth/authenticate": {"200": {"$.token_type": "Bearer"}, "4XX": {"$.error": "invalid_request"}},
            "GET /v2/{team_id}/projects": {"200": {"$.kind": "project"}},
        }
    )
    assert constants.lookup("POST", "/system_aplus/api/oauth/authenticate", 200) == {"$.token_type": "Bearer"}
    assert constants.lookup("POST", "/oauth/authenticate", 401) == {"$.error": "invalid_request"}
    assert constants.lookup("GET", "/oauth/authenticate", 200) == {}
    assert constants.lookup("POST", "/x/oauth/authenticated", 200) == {}
    assert constants.lookup("GET", "/v2/{id}/projects?a", 200) == {"$.kind": "project"}
    assert not Constants(None)


def test_fast_loader_matches_pyyaml(tmp_path):
    cassette = write_cassette(
        tmp_path / "c.yaml",
        [
            interaction(
                "https://h/a?x=1",
                body="a=1",
                headers={"Content-Type": "application/json", "X-Yes": "yes"},
                json_body={"n": 1, "s": 'it\'s "quoted"\nover lines ' * 10},
            ),
            interaction("https://h/b", method="GET", status=404, text="no"),
        ],
    )
    assert load_cassette(cassette) == yaml.load(cassette.read_text(), Loader=yaml.SafeLoader)["interactions"]


def test_unread_headers_are_skipped_without_changing_anything_else(tmp_path):
    noisy = {
        "Content-Type": "application/json",
        "X-Long": "policy 'self'; " * 20,
        "Set-Cookie": "a=b: - c",
        "X-Quoted": "it's: - 'quoted'\n  - not a header",
        "Deprecation": "true",
        "Link": "<https://h/v2>; rel=next",
    }
    cassette = write_cassette(
        tmp_path / "c.yaml",
        [
            interaction("https://h/a", headers=noisy, json_body={"a": 1}),
            interaction("https://h/b", headers=noisy, text="x"),
        ],
    )
    full, lean = load_cassette(cassette), load_cassette(cassette, only_headers=CHOSEN_HEADERS)
    assert "\n        policy" in cassette.read_text()  # a header value folded over several lines
    for whole, skipped in zip(full, lean, strict=True):
        assert skipped["response"]["headers"] == {
            name: value
            for name, value in whole["response"]["headers"].items()
            if name in ("Content-Type", "Deprecation", "Link")
        }
        for part in (whole, skipped):
            del part["response"]["headers"], part["request"]["headers"]
        assert skipped == whole


def test_skipping_headers_falls_back_to_the_file_as_written(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("""interactions:
- request:
    body: null
    headers: {}
    method: GET
    uri: https://h/x
  response:
    body:
      string: ''
    headers:
      X-Shared:
      - &shared text/plain
      Content-Type:
      - *shared
    status:
      code: 200
      message: OK
version: 1
""")
    (step,) = normalize_cassette(path, "v", "t")
    assert step.headers == {"content-type": "text/plain"}


def test_loader_handles_anchors_binary_and_vcrpy_tags(tmp_path):
    body = base64.b64encode(b"\xff\xfe binary").decode()
    text = f"""
interactions:
- request: &req
    body: !!python/str 'a=1'
    headers: {{}}
    method: POST
    uri: https://h/x
  response:
    body: {{string: !!binary "{body}"}}
    headers: {{}}
    status: {{code: 200, message: OK}}
    note: !!python/tuple [1, 2]
- request: *req
  response:
    body: {{string: '{{"a": 1}}'}}
    headers: {{}}
    status: {{code: 201, message: Created}}
version: 1
"""
    path = tmp_path / "c.yaml"
    path.write_text(text)
    first, second = load_cassette(path)
    assert second["request"] is first["request"]
    assert first["response"]["body"]["string"] == b"\xff\xfe binary"
    assert list(first["response"]["note"]) == [1, 2]
    steps = normalize_cassette(path, "v", "t")
    assert steps[0].shape == {"$": ("binary", "binary")}
    assert [s.key for s in steps] == ["v/t#POST /x [a]#0", "v/t#POST /x [a]#1"]


def test_loader_falls_back_to_pyyaml_for_merge_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("""
ok: &ok {code: 200, message: OK}
interactions:
- request: {body: null, headers: {}, method: GET, uri: 'https://h/x'}
  response: {body: {string: ''}, headers: {}, status: {<<: *ok, message: Fine}}
version: 1
""")
    (interaction_,) = load_cassette(path)
    assert interaction_["response"]["status"] == {"code": 200, "message": "Fine"}


GET = "interactions:\n- request: {method: GET, uri: 'https://h/'}\n"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("interactions: [\n  - {request: ", "not valid YAML"),
        ("", "file is empty"),
        ("- just\n- a list\n", "top level is a list"),
        (GET + "  response: {status: {code: 200}}\n", "no 'version' key: truncated"),
        (GET + "version: 2\n", "unsupported format version 2"),
        (GET + "version: 1\n", "interaction 0 needs 'request' and 'response' mappings"),
        (
            "interactions:\n- request: {method: GET}\n  response: {status: {code: 200}}\nversion: 1\n",
            "interaction 0: request.uri None is not an absolute URL",
        ),
        (GET + "  response: {status: {code: abc}}\nversion: 1\n", "interaction 0: response.status.code is missing"),
        (GET + "  response: {status: !!python/name:os.system }\nversion: 1\n", "not valid YAML (could not determine"),
        ("interactions: []\nversion: 1\n\x07\n", "control character at byte 28"),
    ],
)
def test_corrupt_cassette_names_the_file(tmp_path, content, problem):
    path = tmp_path / "bimplus" / "test_broken.yaml"
    path.parent.mkdir()
    path.write_text(content)
    with pytest.raises(CassetteError) as caught:
        normalize_folder(tmp_path)
    assert str(caught.value).startswith(f"cassette {path}: ")
    assert problem in str(caught.value)
    assert caught.value.path == path
    assert isinstance(caught.value, ValueError)


def test_unreadable_cassette_names_the_file(tmp_path):
    with pytest.raises(CassetteError, match="missing.yaml: cannot be read"):
        load_cassette(tmp_path / "missing.yaml")
    with pytest.raises(CassetteError, match="cannot be read"):
        load_cassette(tmp_path)


def test_one_cassette_error_for_recording_and_drift():
    from authcanary import recording
    from authcanary.recording import cassette

    assert CassetteError is recording.CassetteError is cassette.CassetteError
    assert load_cassette is recording.load_cassette is cassette.load_cassette
    assert issubclass(CassetteError, ValueError)


def test_header_values_edited_into_strings_are_refused_not_compared(tmp_path):
    path = write_cassette(tmp_path / "kudo" / "t.yaml", [interaction("https://h/a", headers={"X": "1"})])
    path.write_text(path.read_text().replace("X:\n      - '1'", "X: '1'"))
    with pytest.raises(CassetteError, match="response.headers must map names to lists of strings"):
        normalize_folder(tmp_path)


def test_folder_layout_vendor_filter_and_parallel_equivalence(tmp_path):
    for vendor in ("autodesk", "kudo"):
        for number in range(6):
            write_cassette(
                tmp_path / vendor / "nested" / f"test_{number}.yaml",
                [interaction(f"https://h/{vendor}/{number}x", json_body={"a": number, "b": "same"})] * 2,
            )
    (tmp_path / "empty_vendor").mkdir()
    (tmp_path / "kudo" / "notes.txt").write_text("not a cassette")
    serial = normalize_folder(tmp_path, workers=1)
    assert list(serial) == ["autodesk", "kudo"]
    assert "autodesk/nested/test_3#POST /autodesk/3x#1" in serial["autodesk"]
    assert list(normalize_folder(tmp_path, vendors=["kudo"])) == ["kudo"]
    parallel, again = normalize_folders([tmp_path, tmp_path], workers=2)
    assert parallel == serial == again


@pytest.mark.skipif(threading.active_count() > 1, reason="workers are only forked from a single-threaded process")
def test_parallel_normalization_hands_files_to_a_worker(tmp_path, monkeypatch):
    for number in range(8):
        write_cassette(tmp_path / "kudo" / f"test_{number}.yaml", [interaction(f"https://h/{number}", json_body={})])
    in_parent = []
    real = normalize_module.normalize_cassette
    monkeypatch.setattr(normalize_module, "normalize_cassette", lambda *args: in_parent.append(args) or real(*args))
    (steps,) = normalize_folders([tmp_path], workers=2)
    assert len(steps["kudo"]) == 8
    assert 0 < len(in_parent) < 8


def test_long_base64url_values_are_volatile_key_material():
    modulus = base64.urlsafe_b64encode(os.urandom(256)).decode().rstrip("=")
    assert classify_string(modulus) == "base64url"
    assert classify_string("x" * 40) == classify_string("A_CONSTANT_NAME_THAT_IS_VERY_LONG_") == "string"

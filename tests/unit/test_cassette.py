"""Recording through httpx transport wrappers (in-process ASGI and real HTTP), replay, and cassette validation."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
import uvicorn
import vcr
import yaml
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from authcanary.http import InProcessTransport
from authcanary.recording import (
    CassetteError,
    RecordingTransport,
    ReplayTransport,
    Scrubber,
    UnmatchedRequestError,
    load_cassette,
)
from authcanary.recording.scrub import PLACEHOLDER_RE

SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "sim-kid"}, private=True)
CLIENT_ID = "canary-client"


@dataclass
class Canary:
    """Random credentials per test, and every token the app issued, none of which may reach a cassette."""

    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    api_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    issued: list[str] = field(default_factory=list)

    @property
    def known(self) -> list[str]:
        return [self.client_secret, self.password, self.api_key]

    def forms(self) -> set[str]:
        """Every encoding of every secret that the recorder must never write."""
        values = [*self.known, *self.issued]
        basic = base64.b64encode(f"{CLIENT_ID}:{self.client_secret}".encode()).decode()
        return {basic} | {
            form
            for value in values
            for form in (
                value,
                quote(value, safe=""),
                quote_plus(value),
                base64.b64encode(value.encode()).decode().rstrip("="),
            )
        }


def make_app(canary: Canary) -> Starlette:
    """A tiny token API: client-credentials and password grants, a protected resource, echo and odd bodies."""
    counter = {"n": 0}

    async def token(request: Request) -> Response:
        form = await request.form()
        basic = base64.b64encode(f"{CLIENT_ID}:{canary.client_secret}".encode()).decode()
        if form.get("grant_type") == "password":
            ok = form.get("password") == canary.password and form.get("client_secret") == canary.client_secret
        else:
            ok = request.headers.get("authorization") == f"Basic {basic}"
        if not ok:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        now = int(time.time())
        access = jwt.encode(
            {"alg": "RS256", "kid": "sim-kid"},
            {"aud": "canary", "exp": now + 3600, "iat": now, "scope": "data:read"},
            SIGNING_KEY,
        )
        refresh, session = secrets.token_hex(16), secrets.token_urlsafe(24)
        canary.issued += [access, refresh, session]
        response = JSONResponse(
            {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": 3600}
        )
        response.set_cookie("session", session, httponly=True)
        return response

    async def me(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {canary.issued[-3]}":
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"email": "user@example.com", "api_key_seen": request.headers.get("x-api-key")})

    async def echo(request: Request) -> Response:
        """A careless vendor: reflects headers and body, secrets included."""
        return JSONResponse({"headers": dict(request.headers), "body": (await request.body()).decode()})

    async def counter_view(request: Request) -> Response:
        counter["n"] += 1
        return JSONResponse({"n": counter["n"]})

    async def introspect(request: Request) -> Response:
        return JSONResponse({"active": request.path_params["token"] in canary.issued})

    async def large(request: Request) -> Response:
        return PlainTextResponse("compressible line\n" * 500)

    async def binary(request: Request) -> Response:
        return Response(b"\x89PNG\xff\xfe\x00" + canary.password.encode() + b"\x00\x80", media_type="image/png")

    return Starlette(
        routes=[
            Route("/oauth/token", token, methods=["POST"]),
            Route("/me", me),
            Route("/echo", echo, methods=["POST"]),
            Route("/counter", counter_view),
            Route("/introspect/{token}", introspect),
            Route("/large", large),
            Route("/binary", binary),
        ],
        middleware=[Middleware(GZipMiddleware, minimum_size=500)],
    )


def exercise(client: httpx.Client, canary: Canary) -> dict[str, httpx.Response]:
    """The same conversation for every transport; returns the live responses by name."""
    responses = {
        "client_credentials": client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, canary.client_secret)
        ),
        "password": client.post(
            "/oauth/token",
            data={
                "grant_type": "password",
                "username": "user@example.com",
                "password": canary.password,
                "client_id": CLIENT_ID,
                "client_secret": canary.client_secret,
            },
        ),
    }
    access = responses["password"].json()["access_token"]
    responses["me"] = client.get("/me", headers={"Authorization": f"Bearer {access}", "x-api-key": canary.api_key})
    responses["echo"] = client.post(
        "/echo",
        json={"password": canary.password, "note": f"key={canary.api_key}"},
        headers={"x-api-key": canary.api_key},
        auth=(CLIENT_ID, canary.client_secret),
    )
    responses["introspect"] = client.get(f"/introspect/{access}")
    responses["counter1"] = client.get("/counter")
    responses["counter2"] = client.get("/counter")
    responses["large"] = client.get("/large")
    responses["binary"] = client.get("/binary")
    return responses


def assert_no_canary(path: Path, canary: Canary) -> None:
    data = path.read_bytes()
    leaked = [form for form in canary.forms() if form.encode() in data]
    assert not leaked, f"{len(leaked)} secret form(s) written to {path}"
    assert canary.issued, "the conversation issued no tokens, the check would be vacuous"


@contextlib.contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free port of 127.0.0.1 in a thread; yield its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def canary() -> Canary:
    return Canary()


@pytest.fixture
def block_network(monkeypatch):
    """Make every outgoing connection fail, and prove it does."""

    def refuse(*args, **kwargs):
        raise OSError("network access is blocked in this test")

    def apply() -> None:
        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket.socket, "connect_ex", refuse)
        monkeypatch.setattr(socket, "create_connection", refuse)
        with pytest.raises(httpx.ConnectError), httpx.Client() as client:
            client.get("http://127.0.0.1:9/")

    return apply


def record_in_process(path: Path, canary: Canary) -> dict[str, httpx.Response]:
    # the harness's in-process wire, wrapped as the session wraps it (vcrpy's patches never see an ASGI call)
    transport = RecordingTransport(InProcessTransport(make_app(canary)), path, Scrubber(canary.known))
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        return exercise(client, canary)


def record_over_http(path: Path, canary: Canary, app: Starlette | None = None) -> dict[str, httpx.Response]:
    with serve(app or make_app(canary)) as base_url:
        transport = RecordingTransport(httpx.HTTPTransport(), path, Scrubber(canary.known))
        with httpx.Client(transport=transport, base_url=base_url) as client:
            return exercise(client, canary)


# recording


@pytest.mark.parametrize("record", [record_in_process, record_over_http], ids=["testclient", "uvicorn"])
def test_recording_keeps_no_secret_and_gives_the_caller_real_responses(tmp_path, canary, record):
    path = tmp_path / "deep" / "dir" / "token.yaml"
    live = record(path, canary)
    assert live["me"].status_code == 200 and live["echo"].json()["body"]  # the app saw the real credentials
    assert live["password"].json()["access_token"] in canary.issued
    assert_no_canary(path, canary)
    assert [p.name for p in path.parent.iterdir()] == ["token.yaml"]  # no temporary file left behind
    interactions = load_cassette(path)
    assert len(interactions) == len(live)
    assert yaml.safe_load(path.read_text())["version"] == 1


def test_recorded_cassette_uses_aliases_consistently(tmp_path, canary):
    path = tmp_path / "c.yaml"
    record_in_process(path, canary)
    interactions = load_cassette(path)
    issued = json.loads(interactions[1]["response"]["body"]["string"])
    assert PLACEHOLDER_RE.fullmatch(issued["access_token"])
    assert (
        issued["access_token"].startswith("<token#")
        and " jwt RS256 kid=sim-kid claims=[aud,exp,iat,scope]>" in issued["access_token"]
    )
    assert issued["refresh_token"].endswith(" hex32>") and issued["token_type"] == "Bearer"
    me = interactions[2]["request"]
    assert me["headers"]["authorization"] == [f"Bearer {issued['access_token']}"]
    assert me["headers"]["x-api-key"] == [f"<secret len={len(canary.api_key)}>"]
    assert interactions[0]["request"]["headers"]["authorization"] == ["Basic <basic>"]
    password_form = interactions[1]["request"]["body"]
    assert f"password=%3Csecret+len%3D{len(canary.password)}%3E" in password_form
    assert f"client_id={CLIENT_ID}" in password_form and "username=user%40example.com" in password_form
    echoed = json.loads(interactions[3]["response"]["body"]["string"])
    assert echoed["headers"]["authorization"] == "Basic <basic>"
    assert quote(issued["access_token"], safe="") in interactions[4]["request"]["uri"]


def test_compressed_response_is_stored_as_text(tmp_path, canary):
    path = tmp_path / "c.yaml"
    live = record_over_http(path, canary)
    assert live["large"].headers["content-encoding"] == "gzip"
    assert live["large"].text == "compressible line\n" * 500
    recorded = load_cassette(path)[7]["response"]
    assert recorded["body"]["string"] == "compressible line\n" * 500
    assert "content-encoding" not in {name.lower() for name in recorded["headers"]}
    assert recorded["headers"]["content-length"] == [str(len("compressible line\n" * 500))]


def test_binary_body_is_scrubbed_and_round_trips(tmp_path, canary, block_network):
    path = tmp_path / "c.yaml"
    live = record_in_process(path, canary)
    assert_no_canary(path, canary)
    block_network()
    with httpx.Client(transport=ReplayTransport(path), base_url="https://elsewhere") as client:
        replayed = [client.request(r.request.method, r.request.url.path) for r in live.values()]
    assert [r.status_code for r in replayed] == [r.status_code for r in live.values()]
    assert (
        replayed[-1].content == b"\x89PNG\xff\xfe\x00" + f"<secret len={len(canary.password)}>".encode() + b"\x00\x80"
    )
    assert "!!binary" in path.read_text()


def test_empty_recording_writes_nothing(tmp_path):
    path = tmp_path / "never" / "c.yaml"
    transport = RecordingTransport(httpx.MockTransport(lambda request: httpx.Response(200)), path, Scrubber())
    transport.close()
    assert transport.save() is None and not path.parent.exists()


def test_save_writes_atomically_and_only_when_changed(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    transport = RecordingTransport(
        httpx.MockTransport(lambda request: httpx.Response(200, text="ok")), path, Scrubber()
    )
    with httpx.Client(transport=transport, base_url="https://h") as client:
        client.get("/one")
        assert transport.save() == path
        assert transport.save() is None
        before = path.read_bytes()
        client.get("/two")

        def fail(*args):
            raise OSError("disk full")

        monkeypatch.setattr(os, "replace", fail)
        with pytest.raises(OSError, match="disk full"):
            transport.save()
        assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["c.yaml"]
        monkeypatch.undo()
    assert len(load_cassette(path)) == 2


def test_inner_transport_errors_propagate_and_record_nothing(tmp_path):
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    path = tmp_path / "c.yaml"
    with (
        httpx.Client(
            transport=RecordingTransport(httpx.MockTransport(refuse), path, Scrubber()), base_url="https://h"
        ) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.get("/")
    assert not path.exists()


# replay


def test_replay_over_real_http_recording_with_network_impossible(tmp_path, canary, block_network):
    path = tmp_path / "c.yaml"
    live = record_over_http(path, canary)
    block_network()
    replay = ReplayTransport(path)
    with httpx.Client(transport=replay, base_url="http://other-host:1234") as client:
        token = client.post("/oauth/token", data={"grant_type": "client_credentials"})
        assert token.status_code == 200 and token.json()["refresh_token"].endswith(" hex32>")
        assert client.post("/oauth/token", data={"grant_type": "password"}).json()["token_type"] == "Bearer"
        assert client.get("/me").json()["email"] == "user@example.com"
        assert client.post("/echo").status_code == 200
        # the recorded path holds the alias of the token; any token matches it
        assert client.get("/introspect/some-other-token").json() == {"active": True}
        assert [client.get("/counter").json()["n"] for _ in range(2)] == [1, 2]  # recorded order
        assert client.get("/large").text == live["large"].text
        assert not replay.all_played
        client.get("/binary")
        assert replay.all_played
        with pytest.raises(UnmatchedRequestError, match=rf"cassette {path}: .*GET /counter.*unplayed: none"):
            client.get("/counter")


def test_replay_unknown_request_names_the_cassette_and_never_the_query(tmp_path):
    path = tmp_path / "c.yaml"
    with httpx.Client(
        transport=RecordingTransport(httpx.MockTransport(lambda r: httpx.Response(204)), path, Scrubber()),
        base_url="https://h",
    ) as client:
        client.get("/a")
    with httpx.Client(transport=ReplayTransport(path), base_url="https://h") as client:
        with pytest.raises(UnmatchedRequestError) as raised:
            client.post("/a?api_key=s3cr3t")
        with pytest.raises(UnmatchedRequestError):
            client.get("/b")
        assert client.get("/a?anything=1").status_code == 204
    assert str(path) in str(raised.value) and "s3cr3t" not in str(raised.value)
    assert "unplayed: GET /a" in str(raised.value)


def test_cassette_is_loadable_by_vcr_use_cassette(tmp_path, canary):
    path = tmp_path / "c.yaml"
    with serve(make_app(canary)) as base_url:
        with httpx.Client(
            transport=RecordingTransport(httpx.HTTPTransport(), path, Scrubber(canary.known)), base_url=base_url
        ) as client:
            client.get("/counter")
    # the server is gone: only vcrpy's own playback can answer
    with vcr.use_cassette(str(path), record_mode="none"), httpx.Client() as client:
        assert client.get(f"{base_url}/counter").json() == {"n": 1}


# cassette validation


def recorded_cassette(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    with httpx.Client(
        transport=RecordingTransport(
            httpx.MockTransport(lambda r: httpx.Response(200, json={"access_token": "abc", "n": 1})), path, Scrubber()
        ),
        base_url="https://h",
    ) as client:
        client.post("/token", data={"password": "pw"})
        client.get("/me")
    return path


def test_every_truncation_of_a_cassette_is_rejected(tmp_path):
    good = recorded_cassette(tmp_path)
    text = good.read_text()
    assert text.endswith("version: 1\n") and len(load_cassette(good)) == 2
    cut = tmp_path / "cut.yaml"
    for end in range(len(text) - 2):
        cut.write_text(text[:end])
        with pytest.raises(CassetteError) as raised:
            load_cassette(cut)
        assert str(cut) in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda text: "", "file is empty"),
        (lambda text: text.encode("utf-16"), "not UTF-8"),
        (lambda text: b"\x89PNG\r\n\x1a\n\x00\x00binary", "not UTF-8"),
        (lambda text: "interactions: [{{{", "not valid YAML"),
        (lambda text: text.replace("version: 1", "version: 2"), "unsupported format version 2"),
        (lambda text: "- a\n- b\n", "top level is a list"),
        (lambda text: "version: 1\ninteractions: {}\n", "'interactions' is missing or not a list"),
        (lambda text: "version: 1\ninteractions:\n- request: {}\n", "needs 'request' and 'response'"),
        (lambda text: text.replace("code: 200", "code: '200'", 1), "response.status.code"),
        (lambda text: text.replace("uri: https://h/token", "uri: /token", 1), "not an absolute URL"),
        (lambda text: text.replace("method: POST", "method: 5", 1), "request.method"),
        (lambda text: "version: 1\ninteractions:\n- !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ],
    ids=[
        "empty",
        "utf16",
        "binary",
        "not-yaml",
        "version",
        "list",
        "interactions",
        "shape",
        "status",
        "uri",
        "method",
        "unsafe-tag",
    ],
)
def test_invalid_cassettes_raise_cassette_error(tmp_path, edit, reason):
    text = recorded_cassette(tmp_path).read_text()
    broken = tmp_path / "broken.yaml"
    content = edit(text)
    broken.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(CassetteError, match=reason) as raised:
        load_cassette(broken)
    assert isinstance(raised.value, ValueError) and raised.value.path == broken
    assert str(raised.value).startswith(f"cassette {broken}: ")


def test_headers_edited_into_a_string_are_rejected(tmp_path):
    path = recorded_cassette(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["interactions"][0]["response"]["headers"] = {"Content-Type": "application/json"}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CassetteError, match="response.headers must map names to lists of strings"):
        load_cassette(path)


def test_missing_cassette_and_replay_of_a_broken_one(tmp_path):
    with pytest.raises(CassetteError, match="file not found"):
        load_cassette(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("version: 1\n")
    with pytest.raises(CassetteError, match="'interactions'"):
        ReplayTransport(tmp_path / "bad.yaml")


def test_the_format_version_is_vcrpys():
    from vcr.serialize import CASSETTE_FORMAT_VERSION

    from authcanary.recording.cassette_file import FORMAT_VERSION

    assert FORMAT_VERSION == CASSETTE_FORMAT_VERSION


def test_reading_only_some_headers_gives_the_same_interactions_otherwise(tmp_path):
    path = recorded_cassette(tmp_path)
    full, lean = load_cassette(path), load_cassette(path, only_headers=["Content-Type"])
    for whole, part in zip(full, lean, strict=True):
        assert part["response"]["headers"] == {
            k: v for k, v in whole["response"]["headers"].items() if k.lower() == "content-type"
        }
        assert all(k.lower() == "content-type" for k in part["request"]["headers"])
        for interaction in (whole, part):
            del interaction["request"]["headers"], interaction["response"]["headers"]
        assert part == whole


def test_corruption_in_a_header_that_is_not_read_is_still_rejected(tmp_path):
    path = recorded_cassette(tmp_path)
    text = path.read_text()
    assert "      content-length:\n" in text
    path.write_bytes(text.replace("      content-length:\n", "      content-length:\n      - \x1b\n", 1).encode())
    with pytest.raises(CassetteError, match="control character at byte"):
        load_cassette(path, only_headers=["content-type"])


@pytest.mark.parametrize(
    ("url", "base_path", "recorded"),
    [
        ("http://h:1/aps/authentication/v2/token?x=1", "/aps", "http://h:1/authentication/v2/token?x=1"),
        ("http://h:1/aps", "/aps/", "http://h:1/"),
        ("http://h:1/apsx/token", "/aps", "http://h:1/apsx/token"),  # only a whole segment is a prefix
        ("http://h:1/token", "", "http://h:1/token"),
    ],
)
def test_recordings_leave_out_the_base_path_of_the_target(url, base_path, recorded):
    from authcanary.recording.cassette import without_base_path

    assert without_base_path(httpx.URL(url), base_path) == recorded

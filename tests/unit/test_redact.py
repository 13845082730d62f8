"""Free text made safe to write (authcanary.redact) and curl reproductions (authcanary.repro)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from authcanary.redact import mask_secrets, redact_text
from authcanary.repro import curl_command


def b64url(document: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


JWT = f"{b64url({'alg': 'RS256', 'kid': 'k1'})}.{b64url({'sub': 'u', 'exp': 1})}.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
HEX32 = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"token {JWT} end", "token <jwt> end"),
        # an excerpt cut short after the header, or inside the claims: still a token, never shown
        (f"observed: {JWT[:40]}", "observed: <jwt>"),
        (f"{JWT.split('.')[0]}.{JWT.split('.')[1][:6]}…", "<jwt>…"),
        (f'"access_token": "{HEX32}"', '"access_token": "<hex32>"'),
        (f"BimPlus {HEX32}", "BimPlus <hex32>"),
        (f"x{HEX32}y", "x<hex32>y"),  # glued to letters: still a token
        (f"%22{HEX32}%22", "%<hex34>%22"),  # percent-encoded quotes around it: still caught (the run includes "22")
        ("a" * 40, "<hex40>"),
        ("0123456789abcdef", "0123456789abcdef"),  # 16 hex: ids and short hashes stay readable
        ("eyJ", "eyJ"),
        ("<token#1 hex32> and <secret len=8>", "<token#1 hex32> and <secret len=8>"),
    ],
)
def test_tokens_become_their_shape(text, expected):
    assert redact_text(text, {}) == expected


def test_secrets_become_variables_in_every_encoding():
    secret = "p@ss word/1"
    text = (
        f"raw {secret} form {secret.replace(' ', '+').replace('@', '%40').replace('/', '%2F')} "
        f"json {json.dumps(secret)} basic {base64.b64encode(secret.encode()).decode()}"
    )
    masked = mask_secrets(text, {secret: "BIMPLUS_PASSWORD"})
    assert "p@ss" not in masked and "cCBzc" not in masked
    assert masked.count("${BIMPLUS_PASSWORD}") == 4


def test_longer_secret_is_replaced_whole():
    assert mask_secrets("abc-long", {"abc": "SHORT", "abc-long": "LONG"}) == "${LONG}"


def test_curl_repro_uses_variables_for_secrets_and_user_for_basic():
    credentials = base64.b64encode(b"my-client:top-secret-1").decode()
    request = httpx.Request(
        "POST",
        "http://testserver/authentication/v2/token",
        headers={"Authorization": f"Basic {credentials}", "Content-Type": "application/x-www-form-urlencoded"},
        content=b"grant_type=client_credentials&password=hostile-pw-9",
    )
    command = curl_command(request, {"top-secret-1": "APS_CLIENT_SECRET"}, "http://127.0.0.1:8700")
    assert command.startswith("curl -i -X POST http://127.0.0.1:8700/authentication/v2/token")
    assert '-u "my-client:${APS_CLIENT_SECRET}"' in command
    assert "top-secret" not in command and "hostile-pw-9" not in command
    assert "password=%3Csecret+len%3D12%3E" in command


def test_curl_repro_leaves_out_what_the_transport_and_schemathesis_add():
    """A vendor needs none of them to reproduce the answer; schemathesis' correlation id is new for every case."""
    request = httpx.Request(
        "POST",
        "http://testserver/token",
        headers={"X-Schemathesis-TestCaseId": "Ab12Cd", "User-Agent": "schemathesis/4", "X-Kept": "yes"},
    )
    command = curl_command(request, {})
    assert "-H 'X-Kept: yes'" in command or "-H 'x-kept: yes'" in command
    assert "testcaseid" not in command.lower() and "user-agent" not in command.lower()


def test_curl_repro_of_credential_headers_never_shows_their_values():
    token = "2b7cfae2-5c3f-4a59-9f5e-0f3b5d8c6a11"
    request = httpx.Request(
        "GET",
        "http://kudo.sim/verify",
        headers={"x-api-key": "configured-key-123", "x-api-token": token, "X-Other-Key-Apikey": "wrong-key-456"},
    )
    command = curl_command(request, {"configured-key-123": "KUDO_API_KEY"}, "http://127.0.0.1:8700")
    assert '-H "x-api-key: ${KUDO_API_KEY}"' in command  # a configured secret: its variable
    assert '-H "x-api-token: ${X_API_TOKEN}"' in command  # an issued token: a variable the reader sets
    assert "-H 'x-other-key-apikey: authcanary-wrong-key'" in command  # another credential: a literal wrong key
    assert token not in command and "configured-key" not in command and "wrong-key-456" not in command


def test_curl_repro_of_undecodable_basic_credentials():
    request = httpx.Request("GET", "http://h/x", headers={"Authorization": "Basic %%%"})
    assert "Authorization: Basic <undecodable>" in curl_command(request, {})


@pytest.fixture
def echo_server():
    """A loopback HTTP server that keeps the Content-Type and the body of each request it is sent."""
    seen: list[tuple[str | None, bytes]] = []

    class Echo(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            seen.append((self.headers.get("Content-Type"), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(not shutil.which("curl") or not shutil.which("bash"), reason="needs curl and bash")
@pytest.mark.parametrize("secret", ["a&b+c%20d=e f", 'q"u`o$HOME\\te', "plain-secret-1"])
def test_a_curl_repro_run_by_a_shell_sends_the_same_form(echo_server, secret):
    url, seen = echo_server
    fields = [
        ("client_id", "my-client"),
        ("client_secret", secret),
        ("note", 'x $HOME `id` "q"'),
        ("grant_type", "client_credentials"),
        ("", "nameless"),
        ("scope", f"$HOME `id` {secret}!"),
    ]
    request = httpx.Request(
        "POST",
        "http://testserver/token",
        content=urlencode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    command = curl_command(request, {secret: "APS_CLIENT_SECRET"}, url)
    assert secret not in command
    subprocess.run(
        ["bash", "-c", command + " --silent --output /dev/null"],
        check=True,
        timeout=30,
        env={**os.environ, "APS_CLIENT_SECRET": secret},
    )
    assert parse_qsl(seen[0][1].decode(), keep_blank_values=True) == fields


def test_a_curl_repro_of_a_target_with_a_path_prefix_keeps_the_path_once():
    request = httpx.Request(
        "POST",
        "http://127.0.0.1:8700/autodesk/authentication/v2/token",
        content=b"a=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert " http://127.0.0.1:8700/autodesk/authentication/v2/token " in curl_command(request, {}) + " "
    embedded = httpx.Request("POST", "http://autodesk.sim/authentication/v2/token")
    assert "http://127.0.0.1:8700/authentication/v2/token" in curl_command(embedded, {}, "http://127.0.0.1:8700")


@pytest.mark.skipif(not shutil.which("curl") or not shutil.which("bash"), reason="needs curl and bash")
@pytest.mark.parametrize("content_type", [None, "application/json", "text/plain"])
def test_a_curl_repro_sends_the_content_type_the_check_sent_and_the_body_intact(echo_server, content_type):
    """A request without Content-Type is repeated without one (curl would add a form type), and a form body sent
    under another type keeps its secret whole."""
    url, seen = echo_server
    secret = "a&b+c%20d=e f-CNRY"
    fields = [("client_id", "my-client"), ("client_secret", secret), ("grant_type", "client_credentials")]
    headers = {"Content-Type": content_type} if content_type else {}
    request = httpx.Request("POST", "http://testserver/token", content=urlencode(fields).encode(), headers=headers)
    command = curl_command(request, {secret: "APS_CLIENT_SECRET"}, url)
    assert secret not in command and "<secret" not in command, command
    subprocess.run(
        ["bash", "-c", command + " --silent --output /dev/null"],
        check=True,
        timeout=30,
        env={**os.environ, "APS_CLIENT_SECRET": secret},
    )
    sent_type, body = seen[0]
    assert sent_type == content_type
    assert parse_qsl(body.decode(), keep_blank_values=True) == fields

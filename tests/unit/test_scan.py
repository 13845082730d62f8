"""The secret scanner: finds planted secrets in every run-folder format, and nothing in scrubbed output."""

from __future__ import annotations

import base64
import html
import json
import secrets
from pathlib import Path
from urllib.parse import quote_plus

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import RSAKey

from authcanary.recording import RecordingTransport, Scrubber, scan_paths
from authcanary.recording.scan import ENTROPY_THRESHOLD, shannon_entropy

SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "scan-kid"}, private=True)


def a_jwt() -> str:
    return jwt.encode({"alg": "RS256", "kid": "scan-kid"}, {"sub": "x", "exp": 1}, SIGNING_KEY)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def kinds(hits) -> list[tuple[str, int, str]]:
    return [(hit.file.name, hit.line, hit.kind) for hit in hits]


# each detector, in the formats of a run folder


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("c.yaml", 'interactions:\n- response:\n    body:\n      string: \'{{"id_token": "{}"}}\'\n'),
        ("summary.json", '{{\n  "schema": "authcanary.summary/1",\n  "repro": "curl -H \'X: {}\'"\n}}\n'),
        ("junit.xml", '<testsuite>\n<testcase name="t"><failure message="got {}"/></testcase>\n</testsuite>\n'),
        ("report.html", "<html>\n<body>\n<pre>{}</pre></body></html>\n"),
        ("report.md", "# Report\n\n| token | `{}` |\n"),
    ],
)
def test_jwt_is_found_in_every_format_and_never_shown(tmp_path, name, template):
    token = a_jwt()
    path = write(tmp_path, name, template.format(token))
    hits = scan_paths([tmp_path])
    expected_line = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if token in line)
    assert kinds(hits) == [(name, expected_line, "jwt")]
    assert token not in hits[0].excerpt and "[masked len=" in hits[0].excerpt
    assert token not in str(hits[0])


def test_every_registered_authorization_scheme_is_scanned(tmp_path):
    from authcanary.registry import VENDORS, authorization_schemes

    schemes = authorization_schemes()
    assert {"Bearer", "Token"} <= set(schemes) and "BimPlus" in VENDORS["bimplus"].auth_schemes
    assert {scheme for spec in VENDORS.values() for scheme in spec.auth_schemes} <= set(schemes)
    write(tmp_path, "c.txt", "".join(f"Authorization: {scheme} {secrets.token_hex(16)}\n" for scheme in schemes))
    assert kinds(scan_paths([tmp_path])) == [("c.txt", line, "bearer-token") for line in range(1, len(schemes) + 1)]


def test_basic_and_bearer_credentials(tmp_path):
    basic = base64.b64encode(b"client:" + secrets.token_urlsafe(12).encode()).decode()
    hexed = secrets.token_hex(16)
    write(
        tmp_path,
        "c.yaml",
        f"      authorization:\n      - Basic {basic}\n      - BimPlus {hexed}\n"
        "      - Basic <basic>\n      - Bearer <token#1 hex32>\n",
    )
    assert kinds(scan_paths([tmp_path])) == [("c.yaml", 2, "basic-credentials"), ("c.yaml", 3, "bearer-token")]


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: s,
        quote_plus,
        lambda s: json.dumps(s)[1:-1],
        html.escape,
        lambda s: base64.b64encode(f"client-id:{s}".encode()).decode(),
        lambda s: base64.b64encode(b"xy" + s.encode() + b"tail").decode(),
        lambda s: base64.urlsafe_b64encode(b"z" + s.encode()).decode(),
    ],
    ids=["raw", "url", "json", "html", "basic", "base64-offset2", "base64url-offset1"],
)
def test_known_secret_in_any_encoding(tmp_path, encode):
    secret = "pw:" + secrets.token_urlsafe(9) + "&<é>"
    write(tmp_path, "report.md", f"intro\nthe value is {encode(secret)} here\n")
    hits = scan_paths([tmp_path], known_secrets=[secret])
    assert ("report.md", 2, "known-secret") in kinds(hits)
    assert all(encode(secret) not in hit.excerpt for hit in hits)


def test_known_secret_inside_a_placeholder_is_still_reported(tmp_path):
    secret = secrets.token_urlsafe(12)
    write(tmp_path, "a.md", f"<token#1 jwt RS256 kid={secret} claims=[a]>\n")
    assert kinds(scan_paths([tmp_path], known_secrets=[secret])) == [("a.md", 1, "known-secret")]


def test_values_of_secret_and_token_keys(tmp_path):
    bimplus = secrets.token_hex(16)
    write(
        tmp_path,
        "c.yaml",
        "\n".join(
            [
                f'      string: \'{{"access_token": "{bimplus}", "token_type": "BimPlus"}}\'',
                "      body: grant_type=password&username=u%40x.com&password=Hunter2%21x",
                "      x-api-token:",
                f"      - {secrets.token_hex(16)}",
                "      x-api-key:",
                "      - '<secret len=12>'",
                "      api_key: ${KUDO_API_KEY}",
                '      "code": "invalid_grant"',
            ]
        )
        + "\n",
    )
    assert kinds(scan_paths([tmp_path])) == [
        ("c.yaml", 1, "credential-value"),
        ("c.yaml", 2, "credential-value"),
        ("c.yaml", 4, "credential-value"),
    ]


def test_high_entropy_strings_are_found_under_any_key(tmp_path):
    token = secrets.token_urlsafe(32)
    write(tmp_path, "drift.json", json.dumps({"key": "x", "current": token}, indent=2) + "\n")
    hits = scan_paths([tmp_path])
    assert kinds(hits) == [("drift.json", 3, "high-entropy")]
    assert token not in hits[0].excerpt


def test_excerpt_masks_every_secret_on_the_line(tmp_path):
    first, second = a_jwt(), secrets.token_urlsafe(40)
    write(tmp_path, "x.md", f"a {first} b {second} c\n")
    hits = scan_paths([tmp_path])
    assert [hit.kind for hit in hits] == ["jwt", "high-entropy"]
    assert all(first not in hit.excerpt and second not in hit.excerpt for hit in hits)


# what must not be reported


def test_scrubbed_recording_reports_nothing_and_unscrubbed_reports_everything(tmp_path):
    password, client_secret, api_key = (secrets.token_urlsafe(18) for _ in range(3))
    issued = {"access_token": a_jwt(), "refresh_token": secrets.token_hex(16), "id_token": a_jwt()}

    def vendor(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={**issued, "token_type": "Bearer", "expires_in": 3600, "kid": "3f1b2c4d-1111-4abc-8def-0123456789ab"},
            headers={"Set-Cookie": f"sid={secrets.token_urlsafe(32)}; Path=/"},
        )

    class Verbatim:
        """No scrubbing at all: what a naive recorder would write."""

        def before_record_request(self, request):
            return request

        def before_record_response(self, response):
            return response

    for folder, scrubber in (("scrubbed", Scrubber([password, client_secret, api_key])), ("raw", Verbatim())):
        transport = RecordingTransport(
            httpx.MockTransport(vendor), tmp_path / folder / "cassettes" / "v.yaml", scrubber
        )
        with httpx.Client(transport=transport, base_url="https://api.example.com") as client:
            client.post(
                "/oauth/token",
                data={
                    "grant_type": "password",
                    "username": "u@example.com",
                    "password": password,
                    "client_secret": client_secret,
                },
            )
            client.get(
                "/me",
                headers={"Authorization": f"Bearer {issued['access_token']}", "x-api-key": api_key},
                auth=("client", client_secret),
            )
            client.post("/refresh", json={"refresh_token": issued["refresh_token"]})
    known = [password, client_secret, api_key]
    assert scan_paths([tmp_path / "scrubbed"], known_secrets=known) == []
    found = {hit.kind for hit in scan_paths([tmp_path / "raw"], known_secrets=known)}
    assert found >= {"known-secret", "jwt", "credential-value"}
    assert {hit.kind for hit in scan_paths([tmp_path / "raw"])} >= {
        "jwt",
        "credential-value",
        "high-entropy",
        "basic-credentials",
    }


def test_placeholders_in_every_encoding_are_not_reported(tmp_path):
    kid = secrets.token_urlsafe(32)
    placeholder = f"<token#1 jwt RS256 kid={kid} claims=[aud,exp]>"
    write(tmp_path, "r.html", f"<td>{html.escape(placeholder)}</td>\n")
    write(tmp_path, "c.yaml", f"    body: access_token={quote_plus(placeholder)}&x=1\n    - Bearer {placeholder}\n")
    write(tmp_path, "s.json", json.dumps({"access_token": placeholder, "x": "<token#2 hex32>"}) + "\n")
    assert scan_paths([tmp_path]) == []


def test_ordinary_run_folder_content_is_not_reported(tmp_path):
    write(
        tmp_path,
        "junit.xml",
        "\n".join(
            [
                '<?xml version="1.0" encoding="utf-8"?>',
                '<testsuites><testsuite name="pytest" hostname="ci-runner-7" timestamp="2024-05-01T02:03:04.123456">',
                '<properties><property name="commit" value="da39a3ee5e6b4b0d3255bfef95601890afd80709"/></properties>',
                '<testcase classname="suites.autodesk.test_token" name="test_token_expiry_is_documented_value[v2]"'
                ' file="suites/autodesk/test_token.py" time="0.012"/>',
                '<testcase classname="tests.test_recording" name="test_recording_transport_writes_atomically_with_gzip"/>',
                "</testsuite></testsuites>",
            ]
        )
        + "\n",
    )
    write(
        tmp_path,
        "allure-results/3f1b2c4d-1111-4abc-8def-0123456789ab-result.json",
        json.dumps(
            {
                "uuid": "3f1b2c4d-1111-4abc-8def-0123456789ab",
                "historyId": "0cc175b9c0f1b6a831c399e269772661",
                "fullName": "suites.bimplus.test_legacy_tokens#test_remember_me_token_survives_logout_of_other_session",
                "labels": [{"name": "package", "value": "suites.bimplus.test_legacy_tokens"}],
            },
            indent=2,
        )
        + "\n",
    )
    write(
        tmp_path,
        "report.md",
        "\n".join(
            [
                "# authcanary run 2024-05-01T02:03:04Z (staging)",
                "See https://aps.autodesk.com/en/docs/oauth/v2/reference/http/gettoken-POST/ and "
                "https://github.com/example/authcanary/blob/da39a3ee5e6b4b0d3255bfef95601890afd80709/docs/DriftAndViolations.md",
                "| POST /authentication/v2/token | expires_in 3600 -> 1799 | breaking |",
                "token_type: Bearer; password: required; client_secret: ${APS_CLIENT_SECRET}",
                "Authorization header uses Bearer authentication with the access token.",
                '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==">',
            ]
        )
        + "\n",
    )
    write(
        tmp_path,
        "cassettes/bin.yaml",
        "      string: !!binary |\n        "
        + base64.b64encode(secrets.token_bytes(57)).decode()
        + "\n    headers: {}\n",
    )
    assert scan_paths([tmp_path]) == []


def test_version_control_folders_are_skipped_but_hidden_and_binary_files_are_not(tmp_path):
    (tmp_path / "image.png").write_bytes(b"\x89PNG\x00\x00" + a_jwt().encode())
    write(tmp_path, ".git/objects/x", a_jwt() + "\n")
    write(tmp_path, "visible.txt", a_jwt() + "\n")
    write(tmp_path, ".env", a_jwt() + "\n")
    write(tmp_path, ".config/app.txt", a_jwt() + "\n")
    assert sorted(kinds(scan_paths([tmp_path]))) == [
        (".env", 1, "jwt"),
        ("app.txt", 1, "jwt"),
        ("image.png", 1, "jwt"),
        ("visible.txt", 1, "jwt"),
    ]
    assert kinds(scan_paths([tmp_path / ".git" / "objects" / "x"])) == [("x", 1, "jwt")]  # named files are scanned


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan_paths([tmp_path / "missing"])


def test_entropy_threshold_separates_random_tokens_from_names():
    tokens = [secrets.token_urlsafe(24) for _ in range(2000)]
    assert sum(shannon_entropy(t) >= ENTROPY_THRESHOLD for t in tokens) / len(tokens) > 0.995
    names = [
        "test_recording_transport_writes_atomically",
        "testRecordingTransportAroundStarletteClient",
        "remember_me_token_survives_logout_of_other_session",
    ]
    assert all(shannon_entropy(name) < ENTROPY_THRESHOLD for name in names)


def test_random_tokens_are_reported_at_a_high_rate(tmp_path):
    tokens = [secrets.token_urlsafe(24) for _ in range(1000)] + [
        base64.b64encode(secrets.token_bytes(32)).decode() for _ in range(1000)
    ]
    write(tmp_path, "t.md", "\n".join(f"value {token} end" for token in tokens) + "\n")
    assert len(scan_paths([tmp_path])) / len(tokens) > 0.99


# public values: random-looking but not secret


@pytest.mark.parametrize(
    "template",
    [
        "    body: client_id={}&client_secret=%3Csecret+len%3D16%3E&grant_type=client_credentials\n",
        '      string: \'{{"keys":[{{"n":"{}","e":"AQAB","kty":"RSA","kid":"{}"}}]}}\'\n',
        '{{"user_id": 7, "audience": "{}"}}\n',
        # a JWK's certificate and its thumbprints, as Keycloak publishes them (RFC 7517 §4.7-4.9)
        '      string: \'{{"keys":[{{"kid":"k","kty":"RSA","x5c":["{}"],"x5t#S256":"{}"}}]}}\'\n',
    ],
)
def test_values_of_public_keys_are_not_secrets(tmp_path, template):
    public = secrets.token_urlsafe(32)
    write(tmp_path, "c.yaml", template.format(public, public))
    assert scan_paths([tmp_path]) == []


def test_a_known_secret_is_found_even_as_the_value_of_a_public_key(tmp_path):
    secret = secrets.token_urlsafe(32)
    write(tmp_path, "c.yaml", f"    body: client_id={secret}&grant_type=client_credentials\n")
    assert kinds(scan_paths([tmp_path], known_secrets=[secret])) == [("c.yaml", 1, "known-secret")]


def test_a_certificate_outside_a_jwk_is_still_reported(tmp_path):
    write(
        tmp_path, "c.json", f'{{"x5c": ["{secrets.token_urlsafe(48)}"], "x5t#S256": "{secrets.token_urlsafe(32)}"}}\n'
    )
    assert [hit.kind for hit in scan_paths([tmp_path])] == ["high-entropy", "high-entropy"]


def test_the_same_random_value_under_another_key_is_still_reported(tmp_path):
    write(tmp_path, "c.yaml", f"    body: note={secrets.token_urlsafe(32)}&grant_type=client_credentials\n")
    assert [hit.kind for hit in scan_paths([tmp_path])] == ["high-entropy"]


def test_base64_of_prose_is_data_but_base64_of_a_credential_is_not(tmp_path):
    prose = base64.b64encode(b"test_x:\n\n  - during generate phase (0.15 seconds):\n    - 15 passing").decode()
    write(tmp_path, "junit.xml", f'<property name="hypothesis-statistics-t" value="{prose}" />\n')
    assert scan_paths([tmp_path]) == []
    credential = base64.b64encode(f"client:{secrets.token_urlsafe(24)}".encode()).decode()
    write(tmp_path, "junit.xml", f'<property name="p" value="{credential}" />\n')
    assert [hit.kind for hit in scan_paths([tmp_path])] == ["high-entropy"]


@pytest.mark.parametrize("quote", ['"', "'", '\\"', "&#34;", ""])
def test_the_user_of_a_curl_repro_is_public_but_its_password_is_not(tmp_path, quote):
    client_id, secret = secrets.token_hex(8) + secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    write(tmp_path, "report.md", f"curl -X POST -u {quote}{client_id}:${{CLIENT_SECRET}}{quote} https://x/\n")
    assert scan_paths([tmp_path]) == []
    write(tmp_path, "report.md", f"curl -X POST -u {quote}{client_id}:{secret}{quote} https://x/\n")
    assert [hit.kind for hit in scan_paths([tmp_path])] == ["high-entropy"]


@pytest.mark.parametrize("quote", ["'", "&#39;", '"', "&quot;"])
def test_a_kid_quoted_in_an_error_message_is_public(tmp_path, quote):
    write(
        tmp_path, "report.html", f"<dd>invalid_key_id: No key for kid: {quote}{secrets.token_urlsafe(32)}{quote}</dd>\n"
    )
    assert scan_paths([tmp_path]) == []


@pytest.mark.parametrize("quote", ["'", "&#39;", "&apos;", '"', '\\"'])
def test_the_replay_blob_of_hypothesis_is_public(tmp_path, quote):
    # hypothesis prints it under CI (its "ci" profile); it encodes generated choices, not credentials
    blob = base64.b64encode(secrets.token_bytes(54)).decode()
    write(
        tmp_path,
        "junit.xml",
        f"adding @reproduce_failure({quote}6.170.15{quote}, b{quote}{blob}{quote}) as a decorator\n",
    )
    assert scan_paths([tmp_path]) == []
    write(tmp_path, "junit.xml", f"adding @something({quote}6.170.15{quote}, b{quote}{blob}{quote}) as a decorator\n")
    assert [hit.kind for hit in scan_paths([tmp_path])] == ["high-entropy"]


def test_an_empty_form_value_before_the_next_curl_option_is_not_a_secret(tmp_path):
    write(tmp_path, "report.md", 'curl --data-raw client_secret= --data-urlencode "client_id=${APS_CLIENT_ID}"\n')
    assert scan_paths([tmp_path]) == []
    write(tmp_path, "report.md", f"curl --data-raw client_secret= 7{secrets.token_urlsafe(12)} -i\n")
    assert [hit.kind for hit in scan_paths([tmp_path])] == ["credential-value"]


def test_known_public_identifiers_quoted_in_text_are_not_secrets(tmp_path):
    client_id, secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    write(tmp_path, "report.md", f"observed: client {client_id} is not authorized\n")
    assert [hit.kind for hit in scan_paths([tmp_path])] == ["high-entropy"]
    assert scan_paths([tmp_path], known_public=[client_id]) == []
    write(tmp_path, "report.md", f"observed: client {client_id} sent {secret}\n")
    assert [hit.kind for hit in scan_paths([tmp_path], [secret], [client_id])] == ["known-secret"]


# encodings, binaries, links and big files: nothing is skipped


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_text_in_other_unicode_encodings_is_decoded(tmp_path, encoding):
    """utf-16 and utf-32 write a byte-order mark; utf-16-le/-be have none: the NUL bytes tell."""
    token = a_jwt()
    (tmp_path / "report.txt").write_bytes(f'first line\nsecond\n"id_token": "{token}"\n'.encode(encoding))
    assert kinds(scan_paths([tmp_path])) == [("report.txt", 3, "jwt")]


def test_binary_files_are_scanned_for_printable_runs(tmp_path):
    secret = secrets.token_urlsafe(12)
    noise = bytes(range(256)) * 4
    (tmp_path / "core.dump").write_bytes(
        noise + b"\x00token=" + a_jwt().encode() + b"\x00\xff\n\x01" + noise + b"pw:" + secret.encode() + b"\x00"
    )
    assert kinds(scan_paths([tmp_path], known_secrets=[secret])) == [
        ("core.dump", 5, "jwt"),
        ("core.dump", 10, "known-secret"),
    ]  # lines: the newlines before the run, plus one


def test_links_to_files_and_folders_are_followed_once_and_a_loop_ends(tmp_path):
    outside = tmp_path / "outside"
    write(outside, "deep/leak.txt", a_jwt() + "\n")
    write(outside, "file.txt", "\n" + a_jwt() + "\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "linked-folder").symlink_to(outside / "deep")
    (run / "linked-file.txt").symlink_to(outside / "file.txt")
    (run / "loop").symlink_to(run)
    (run / "again").symlink_to(outside / "deep")  # the same folder twice: scanned once
    (run / "dangling").symlink_to(tmp_path / "missing")
    assert kinds(scan_paths([run])) == [("leak.txt", 1, "jwt"), ("linked-file.txt", 2, "jwt")]


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks and pieces of lines as small as the scanner allows, so tests cross many boundaries quickly."""
    from authcanary.recording import scan

    monkeypatch.setattr(scan, "CHUNK_SIZE", 4096)
    monkeypatch.setattr(scan, "OVERLAP", 1024)
    return 4096


@pytest.mark.parametrize("shift", [-700, -41, -1, 0, 1, 17, 900])
def test_a_secret_across_a_chunk_boundary_is_found_once(tmp_path, small_chunks, shift):
    token = a_jwt()
    lines = "".join(f"line {i} with ordinary words\n" for i in range(300))
    at = small_chunks - len(token) // 2 + shift  # inside the first chunk's end, or across it
    text = lines[:at].rsplit("\n", 1)[0] + "\n" + f"access_token: {token}\n" + lines
    (tmp_path / "lines.txt").write_text(text)
    number = text[: text.index(token)].count("\n") + 1
    assert kinds(scan_paths([tmp_path])) == [("lines.txt", number, "jwt")]


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_secrets_in_a_line_longer_than_a_chunk_are_each_found_once(tmp_path, small_chunks, binary):
    known = [secrets.token_urlsafe(300) for _ in range(20)]  # a known secret cut in two would not be found at all
    tokens = [token for pair in zip([a_jwt() for _ in known], known, strict=True) for token in pair]  # most of the line
    separator = " \x00 " if binary else " , "
    (tmp_path / "one-line.bin").write_text(
        "".join(f"{'x' * (97 + 13 * i)}{separator}{token}{separator}" for i, token in enumerate(tokens))
    )
    hits = scan_paths([tmp_path], known_secrets=known)
    assert kinds(hits) == [("one-line.bin", 1, "jwt"), ("one-line.bin", 1, "known-secret")] * len(known)
    assert all(token not in hit.excerpt for hit in hits for token in tokens)


def _peak_memory(scan) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        scan()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_file_is_scanned_in_bounded_memory(tmp_path, small_chunks):
    path = tmp_path / "big.txt"
    with path.open("w") as stream:
        for number in range(40_000):  # 1.5 MB: over 300 chunks
            stream.write(f"line {number} of ordinary text\n")
    assert _peak_memory(lambda: scan_paths([path])) < 400_000


@pytest.mark.slow
def test_a_100_mb_binary_is_scanned_in_about_a_chunk_of_memory(tmp_path):
    from authcanary.recording.scan import CHUNK_SIZE

    path = tmp_path / "huge.bin"
    with path.open("wb") as stream:
        stream.truncate(100_000_000)
        stream.seek(60_000_000)
        stream.write(b"Authorization: Bearer " + a_jwt().encode())
    hits: list = []
    assert _peak_memory(lambda: hits.extend(scan_paths([path]))) < 12 * CHUNK_SIZE
    assert kinds(hits) == [("huge.bin", 1, "jwt")]


# the prefilter: scanning only the lines it marks finds exactly what scanning every line finds


def _both_ways(path: Path, known=(), public=()) -> tuple[list, list]:
    from authcanary.recording.scan import _scan

    return _scan([path], known, public), _scan([path], known, public, fast=False)


_KNOWN = "pw:" + secrets.token_urlsafe(9) + "&<é>"
_BASIC = base64.b64encode(b"client:" + secrets.token_urlsafe(12).encode()).decode()
_FRAGMENTS = [
    # line ends, indentation and YAML structure (a !!binary block, a list under a secret key)
    *["\n"] * 8,
    "\r\n",
    "\r",
    "\x0c",
    "\u2028",
    "\x85",
    "  ",
    "    ",
    "\t",
    "\xa0",
    "- ",
    "string: !!binary |\n",
    "headers:\n",
    # keys, also with separators and letters that `key_name` drops or lower-cases to ASCII
    "access_token",
    "Client_Secret",
    "x-api-key",
    "pass_word",
    "API-KEY",
    "api\u212aey",
    "sess\u0130onid",
    "pass\u00e9word",
    # some likely neighbours
    "x-api-key:\n",
    "      - ",
    '"client_secret": "',
    "password=",
    "code",
    "token_type",
    "client_id",
    "kid",
    '"kty"',
    '"n"',
    # separators, quotes and values
    ": ",
    ":",
    "=",
    '"',
    "'",
    '\\"',
    "&quot;",
    "&#34;",
    " ",
    "<secret len=8>",
    "%3Csecret+len%3D8%3E",
    "%3Csecret",
    "<token#1 hex32>",
    "${X}",
    "$(x)",
    "*",
    "7Qx9Lm2Pz",
    secrets.token_hex(16),
    "3f1b2c4d-1111-4abc-8def-0123456789ab",
    "3f1b2c4d-1111-4abc-8def-0123456789ab" + "-0",
    secrets.token_urlsafe(30),
    base64.b64encode(secrets.token_bytes(45)).decode(),
    "==",
    "Bearer ",
    "Basic ",
    "BimPlus ",
    "Token\u3000",
    _BASIC,
    a_jwt(),
    "eyJhbGciOiJub25lIn0.e30.",
    "suites.autodesk.test_token",
    "data:image/png;base64,",
    "https://x.example/v1/",
    "curl -u ",
    "reproduce_failure('6.1', b'",
    _KNOWN,
    quote_plus(_KNOWN),
    "é",
    "the token endpoint ",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(st.sampled_from(_FRAGMENTS), max_size=400),
    encoding=st.sampled_from(["utf-8", "utf-8", "utf-16"]),
)
def test_property_the_prefilter_changes_no_finding(tmp_path_factory, parts, encoding):
    from authcanary.recording import scan

    path = tmp_path_factory.mktemp("prefilter") / "mix.txt"
    path.write_bytes("".join(parts).encode(encoding))
    chunk, overlap = scan.CHUNK_SIZE, scan.OVERLAP
    scan.CHUNK_SIZE, scan.OVERLAP = 1024, 256  # blocks, pieces of long lines and chunk boundaries, all in small files
    try:
        fast, every_line = _both_ways(path, known=[_KNOWN])
    finally:
        scan.CHUNK_SIZE, scan.OVERLAP = chunk, overlap
    assert fast == every_line


@pytest.mark.parametrize(
    "header",
    [
        b'{"alg":"HS256"}',
        b' \t\r\n{"alg":"HS256"}',
        b'\xef\xbb\xbf{"alg":"HS256"}',
        *(
            '{"alg":"HS256"}'.encode(encoding)
            for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be")
        ),
        '\n{"alg":"HS256"}'.encode("utf-32-le"),
    ],
    ids=["plain", "whitespace", "utf-8-bom", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be", "utf-32-le"],
)
def test_a_jwt_whose_header_json_reads_in_any_way_is_found(tmp_path, header):
    """The prefilter knows a header by the first character of its base64url: what json.loads accepts."""
    from authcanary.tokens import jwt_header

    token = base64.urlsafe_b64encode(header).decode().rstrip("=") + ".eyJzdWIiOiJ4In0.c2ln"
    assert jwt_header(token)
    write(tmp_path, "t.txt", f"intro\nsee {token} here\n")
    fast, every_line = _both_ways(tmp_path / "t.txt")
    assert kinds(fast) == kinds(every_line) == [("t.txt", 2, "jwt")]


@pytest.mark.parametrize(
    "key",
    ["password", "client_secret", "Client-Secret", "x-api-key", "API_KEY", "pwd", "private_key", "access_token",
     "refreshToken", "device_code", "client_assertion", "JSESSIONID", "p_a_s_s_w_o_r_d", "api\u212aey",
     "pass\u00e9word"],
)  # fmt: skip
@pytest.mark.parametrize(
    "template",
    ['{{"{key}": "{value}"}}', "{key}={value}&x=1", "{key}: {value}", "{key}:\n- {value}", "{key} = '{value}'"],
)
def test_every_secret_and_token_key_is_prefiltered(tmp_path, key, template):
    write(tmp_path, "k.yaml", "first: line\n" + template.format(key=key, value="Zq8" + secrets.token_hex(8)) + "\n")
    fast, every_line = _both_ways(tmp_path / "k.yaml")
    assert fast == every_line
    if key.isascii() or template == "{key}:\n- {value}":  # other keys are YAML keys only
        assert [hit.kind for hit in fast] == ["credential-value"]


@pytest.mark.parametrize("space", [" ", "\t", "\x1f", "\xa0", "\u1680", "\u2003", "\u202f", "\u205f", "\u3000"])
def test_a_scheme_and_its_credentials_apart_by_any_space_are_prefiltered(tmp_path, space):
    write(tmp_path, "h.txt", f"x\nAuthorization: Token{space}{secrets.token_hex(16)}\nBasic{space}{_BASIC}\n")
    fast, every_line = _both_ways(tmp_path / "h.txt")
    assert kinds(fast) == kinds(every_line) == [("h.txt", 2, "bearer-token"), ("h.txt", 3, "basic-credentials")]


def test_windows_line_ends_and_a_yaml_binary_block_keep_line_numbers(tmp_path):
    token = a_jwt()
    text = (
        "interactions:\n- response:\n    body:\n      string: !!binary |\n"
        + "".join(f"        {base64.b64encode(secrets.token_bytes(57)).decode()}\n" for _ in range(5))
        + f"    headers:\n      Authorization:\n      - Bearer {token}\n"
    )
    (tmp_path / "c.yaml").write_bytes(text.replace("\n", "\r\n").encode())
    fast, every_line = _both_ways(tmp_path / "c.yaml")
    assert kinds(fast) == kinds(every_line) == [("c.yaml", 12, "jwt")]


@pytest.mark.parametrize("end", ["\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_every_line_end_counts_as_str_splitlines_counts_it(tmp_path, end):
    text = f"one\ntwo{end}three{end}password: Zq8x7Lm2\n{a_jwt()}\n"
    write(tmp_path, "e.txt", text)
    fast, every_line = _both_ways(tmp_path / "e.txt")
    assert kinds(fast) == kinds(every_line) == [("e.txt", 4, "credential-value"), ("e.txt", 5, "jwt")]


def test_the_yaml_state_is_followed_from_line_to_line(tmp_path):
    blob = base64.b64encode(secrets.token_bytes(57)).decode()
    lines = [
        "interactions:",
        "  string: !!binary |",
        f"    {blob}",  # data
        f"  other: {secrets.token_urlsafe(32)}",  # as indented as the !!binary key: the block has ended
        "  again: !!binary",
        f"      {blob}",
        f"   {blob}",  # still deeper than the key
        "x-api-key: \t",  # a YAML key with nothing after it (but spaces): its values follow
        "- Zq8x7Lm2",
        "other: x",
        "api_key:\u3000",
        "  - Zq8x7Lm2",
        "  - <secret len=8>",
        "  - Zq8x7Lm2",
        "\xa0 - Zq8x7Lm2",  # indented by other spaces
        "other:",
        "- Zq8x7Lm2",  # not a secret's
    ]
    write(tmp_path, "s.yaml", "\n".join(lines) + "\n")
    fast, every_line = _both_ways(tmp_path / "s.yaml")
    assert kinds(fast) == kinds(every_line)
    assert [(line, kind) for _, line, kind in kinds(fast)] == [
        (4, "high-entropy"),
        (9, "credential-value"),
        (12, "credential-value"),
        (14, "credential-value"),
        (15, "credential-value"),
    ]


def test_a_long_digit_run_in_a_name_like_token_takes_no_exponential_time():
    from authcanary.recording.scan import _wordish

    # each of the 2**40 ways to cut the digits into numbers was tried once before
    assert not _wordish("build_" + "7" * 40 + "aB")
    assert _wordish("aes256gcm-v2_" + "7" * 40)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(
        st.sampled_from(
            [
                "pass",
                "word",
                "wd",
                "secret",
                "api",
                "Key",
                "private",
                "token",
                "code",
                "assertion",
                "session",
                "id",
                "p",
                "_",
                "-",
                "x",
                "S",
                "TOKEN",
                "\u212a",
                "é",
                "1",
            ]
        ),
        min_size=1,
        max_size=6,
    ),  # fmt: skip
    separator=st.sampled_from([": ", "=", '": "', '\\":\\"', "&quot;: &quot;", ":\n"]),
)
def test_property_every_key_that_key_kind_knows_is_prefiltered(pieces, separator):
    from authcanary.recording.scan import _KEY, _STATE, _Prefilter
    from authcanary.recording.scrub import key_kind

    key = "".join(pieces)
    data = f"first: line\nk{key}{separator}Zq8x7Lm2\n".encode()
    marks = _Prefilter(set()).marks(data)
    if key_kind("k" + key):
        assert marks.get(len("first: line\n"), 0) & (_STATE if separator.endswith("\n") else _KEY)


def test_every_name_and_ending_key_kind_knows_is_prefiltered():
    from authcanary.recording.scan import _KEY, _STATE, _Prefilter
    from authcanary.recording.scrub import _SECRET_NAMES, _SECRET_SUFFIXES, _TOKEN_NAMES, key_kind

    for word in {*_SECRET_SUFFIXES, *_SECRET_NAMES, *_TOKEN_NAMES, "token"}:
        for key in {word, word.upper(), "-".join(word), "x_" + word if key_kind("x" + word) else word}:
            assert key_kind(key)
            for separator, flag in ((": ", _KEY), ("=", _KEY), (":\n", _STATE)):
                marks = _Prefilter(set()).marks(f"{key}{separator}Zq8x7Lm2\n".encode())
                assert marks.get(0, 0) & flag, (key, separator)


def test_a_text_in_memory_is_scanned_as_the_file_it_would_be(tmp_path):
    """`scan_texts` (what a report checks before writing) finds what `scan_paths` finds in the same file."""
    from authcanary.recording.scan import scan_paths, scan_texts

    text = (
        "# digest\n\nAuthorization: Bearer "
        + "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVlLTEyMzQ1Ng"
        + "\nok\n"
    )
    (tmp_path / "digest.md").write_text(text, encoding="utf-8")
    on_disk = [(hit.line, hit.kind) for hit in scan_paths([tmp_path / "digest.md"])]
    in_memory = scan_texts({"digest.md": text})
    assert on_disk and [(hit.line, hit.kind) for hit in in_memory] == on_disk
    assert in_memory[0].file.name == "digest.md"
    assert scan_texts({"clean.md": "# nothing to see\n"}) == []

"""`authcanary serve` building blocks: which simulators, profiles, options and credentials it serves."""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from authcanary.errors import ConfigError
from authcanary.http import InProcessTransport
from authcanary.server import build_simulators
from authcanary.simulators.autodesk import AutodeskSimulator
from authcanary.simulators.framework import build_app
from conftest import (
    AUTHCANARY,
    ROOT,
    Served,
    _stop,
    _wait_until_up,
    cli_env,
    free_port,
    run_authcanary,
    write_loop_targets,
)

APS = AutodeskSimulator.default_settings()
V2 = "/authentication/v2/token"


def assert_one_line_error(result, *parts: str) -> None:
    """Exit 2 with `error: ...` naming each part and a `fix:` line, no traceback, no serving banner."""
    assert result.code == 2, result.output
    assert "Traceback" not in result.output and "simulator, profile" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("  fix: "), result.output
    for part in parts:
        assert part in result.output, (part, result.output)


def test_registered_credentials_can_be_given_as_options():
    client_id, client_secret = secrets.token_hex(16), secrets.token_urlsafe(16)
    simulators = build_simulators(
        "autodesk", "documented", [f"client_id={client_id}", f"client_secret={client_secret}"]
    )
    with httpx.Client(transport=InProcessTransport(build_app(simulators, "")), base_url="http://sim") as http:
        form = {
            "client_id": client_id,
            "client_secret": client_secret,
            "grant_type": "client_credentials",
            "scope": "data:read",
        }
        assert http.post("/authentication/v2/token", data=form).status_code == 200
        form["client_secret"] = "eUruM8HRyc7BAQ1e"  # the default secret no longer works
        assert http.post("/authentication/v2/token", data=form).status_code == 401


def test_with_all_vendors_each_takes_its_own_credentials():
    simulators = build_simulators("all", "documented", ["client_id=abc", "password=Pw-123456", "v1_removed_status=404"])
    assert simulators["autodesk"].settings["client_id"] == "abc" and "password" not in simulators["autodesk"].settings
    assert simulators["bimplus"].settings["password"] == "Pw-123456"


def test_unknown_keys_name_the_known_ones():
    with pytest.raises(ConfigError) as error:
        build_simulators("autodesk", "documented", ["bogus=1"])
    assert "bogus" in error.value.cause and "client_secret" in error.value.fix


@pytest.mark.slow
def test_one_default_serve_answers_the_shipped_local_target(served_simulator, tmp_path):
    """`authcanary serve` (every vendor) + `authcanary run --target local`: the README's loopback flow."""
    served = served_simulator("all")
    targets = (ROOT / "targets.toml").read_text().replace("127.0.0.1:8700", f"127.0.0.1:{served.port}")
    (tmp_path / "targets.toml").write_text(targets)
    result = run_authcanary(
        ["run", "--target", "local", "--targets", str(tmp_path / "targets.toml"), "--max-examples", "2"],
        tmp_path / "run",
    )
    assert result.code == 0, result.output[-3000:]
    for vendor in ("autodesk", "bimplus"):
        entry = result.summary["vendors"][vendor]
        assert entry["status"] == "ok" and entry["requests"] > 0, (vendor, entry)


def test_a_simulator_target_that_is_not_a_simulator_is_a_config_error(served_simulator, tmp_path):
    served = served_simulator("autodesk")
    targets = write_loop_targets(tmp_path / "targets.toml", f"http://127.0.0.1:{served.port}/not-here")
    result = run_authcanary(["run", "--targets", str(targets), "--target", "loop"], tmp_path / "run")
    assert result.code == 2, result.output[-3000:]
    assert "not as an authcanary autodesk simulator" in result.output and "fix:" in result.output
    assert served.requests_logged() == 0 and not (tmp_path / "run").exists()


def test_with_all_vendors_a_deviation_goes_to_the_vendor_that_has_it():
    simulators = build_simulators("all", "v1-removed", [])
    assert simulators["autodesk"].profile == "v1-removed" and simulators["bimplus"].profile == "documented"
    simulators = build_simulators("all", "v1-removed, bearer-token-type", [])
    assert simulators["autodesk"].profile == "v1-removed" and simulators["bimplus"].profile == "bearer-token-type"


def test_with_all_vendors_a_deviation_nobody_has_is_a_config_error():
    with pytest.raises(ConfigError) as error:
        build_simulators("all", "v1-removed,nope", [])
    assert "nope" in error.value.cause and "v1-removed" not in error.value.cause
    assert "authcanary profiles" in error.value.fix


def test_serve_all_with_one_vendors_deviation(served_simulator):
    served = served_simulator("all", "v1-removed")
    assert "autodesk simulator, profile v1-removed" in served.output()
    assert "bimplus simulator, profile documented" in served.output()
    for vendor, profile in (("autodesk", "v1-removed"), ("bimplus", "documented")):
        assert httpx.get(f"{served.vendor_url(vendor)}/__authcanary__/info").json()["profile"] == profile


def test_serve_on_a_port_in_use_exits_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_authcanary(["serve", "--host", "127.0.0.1", "--port", str(port)], cwd=tmp_path, timeout=30)
    assert_one_line_error(result, f"127.0.0.1:{port}", "pick another --port")


@pytest.mark.parametrize("host", ["no-such-host.invalid", "192.0.2.1"], ids=["unresolvable", "not-this-machine"])
def test_serve_on_a_host_it_cannot_bind_exits_2(tmp_path, host):
    result = run_authcanary(["serve", "--host", host, "--port", "0"], cwd=tmp_path, timeout=30)
    assert_one_line_error(result, f"{host}:0", "--host")


@pytest.mark.parametrize("port", ["-1", "65536"])
def test_serve_port_out_of_range_is_a_usage_error(tmp_path, port):
    result = run_authcanary(["serve", "--port", port], cwd=tmp_path, timeout=30)
    assert result.code == 2 and "Traceback" not in result.output and "--port" in result.output, result.output


# -- serving: options from a file and the environment, CORS, repeated slashes, disconnects -------------------------
@contextmanager
def serve_with(args: list[str], log_dir: Path, **env: str) -> Iterator[Served]:
    """`authcanary serve --vendor autodesk ARGS` on a free loopback port, with `env` added to its environment."""
    port = free_port()
    log = log_dir / f"serve-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(AUTHCANARY), "serve", "--vendor", "autodesk", "--port", str(port), *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=log_dir,
            env=cli_env(COLUMNS="240", **env),
        )
    served = Served("autodesk", "documented", "", port, process, log)
    try:
        assert _wait_until_up(served, 30), served.output()
        yield served
    finally:
        _stop(process)


def token(
    base_url: str,
    client_id: str = APS["client_id"],
    client_secret: str = APS["client_secret"],
    path: str = V2,
    **kwargs,
) -> httpx.Response:
    return httpx.post(
        base_url + path,
        data={"client_id": client_id, "client_secret": client_secret, "grant_type": "client_credentials"},
        **kwargs,
    )


def test_options_come_from_option_over_file_over_environment(tmp_path):
    (tmp_path / "serve.env").write_text(
        "# registered client\n\nclient_secret = from-file\nCLIENT_ID=file-id\n"
        "fault_retry_after=7\npassword=for-bimplus\n"
    )
    environ = {
        "AUTHCANARY_SERVE_CLIENT_SECRET": "from-env",
        "AUTHCANARY_SERVE_CLIENT_ID": "env-id",
        "AUTHCANARY_SERVE_LATENCY": "0.01",
        "AUTHCANARY_SERVE_FAULT_RETRY_AFTER": "3",
        "OTHER": "x",
    }
    simulator = build_simulators(
        "autodesk", "documented", ["client_id=cli-id"], options_file=tmp_path / "serve.env", environ=environ
    )["autodesk"]
    assert (simulator.settings["client_id"], simulator.settings["client_secret"]) == ("cli-id", "from-file")
    assert (simulator.conditions.latency, simulator.conditions.fault_retry_after) == (0.01, 7)
    only_env = build_simulators("autodesk", "documented", [], environ=environ)["autodesk"]
    assert only_env.settings["client_secret"] == "from-env"


@pytest.mark.parametrize(
    "content, line",
    [
        ("client_id=x\nclient_secrett={canary}\n", 2),
        ("# ok\n{canary}\n", 2),
        ("=the-{canary}\n", 1),
        ("client_secret={canary}\nclient_secret={canary}\n", 2),
    ],
)
def test_a_bad_options_file_line_is_named_never_its_value(tmp_path, content, line):
    canary = "canary-" + secrets.token_hex(8)
    path = tmp_path / "serve.env"
    path.write_text(content.format(canary=canary))
    with pytest.raises(ConfigError) as error:
        build_simulators("autodesk", "documented", [], options_file=path)
    assert f"{path}:{line}:" in error.value.cause and canary not in str(error.value)


def test_an_unknown_serve_variable_is_named_never_its_value():
    with pytest.raises(ConfigError) as error:
        build_simulators("all", "documented", [], environ={"AUTHCANARY_SERVE_CLIENT_SECRT": "canary-value"})
    assert "AUTHCANARY_SERVE_CLIENT_SECRT" in error.value.cause and "canary-value" not in str(error.value)
    assert "AUTHCANARY_SERVE_CLIENT_SECRET" in error.value.fix


def test_a_missing_options_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="options file"):
        build_simulators("autodesk", "documented", [], options_file=tmp_path / "nope.env")


def test_serve_takes_secrets_from_the_environment_and_a_file_and_never_prints_them(tmp_path):
    env_secret, file_secret = "env-canary-" + secrets.token_hex(8), "file-canary-" + secrets.token_hex(8)
    (tmp_path / "serve.env").write_text(f"client_id=loop-client\nclient_secret={file_secret}\n")
    with serve_with(
        ["--options-file", "serve.env"],
        tmp_path,
        AUTHCANARY_SERVE_CLIENT_SECRET=env_secret,
        AUTHCANARY_SERVE_CLIENT_ID="env-client",
    ) as served:
        assert token(served.base_url, "loop-client", file_secret).status_code == 200  # the file wins
        assert token(served.base_url, "env-client", env_secret).status_code == 401
        assert token(served.base_url, "loop-client", "wrong").status_code == 401
    assert served.requests_logged() == 3
    assert env_secret not in served.output() and file_secret not in served.output()


def test_serve_with_an_unknown_key_in_the_file_exits_2_without_the_value(tmp_path):
    canary = "canary-" + secrets.token_hex(8)
    (tmp_path / "serve.env").write_text(f"client_id=x\nclient_sekret={canary}\n")
    result = run_authcanary(["serve", "--port", "0", "--options-file", "serve.env"], cwd=tmp_path, timeout=30)
    assert_one_line_error(result, "serve.env:2", "client_sekret")
    assert canary not in result.output


def test_served_simulators_answer_cors_preflights(served_simulator):
    served = served_simulator("all")
    for path in ("/autodesk" + V2, "/bimplus/v2/authorize", "/bimplus/__authcanary__/reset"):
        answer = httpx.options(
            served.base_url + path,
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "*", (path, answer)
    answer = token(served.vendor_url("autodesk"), headers={"Origin": "http://localhost:3000"})
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "Retry-After" in answer.headers["access-control-expose-headers"]


def test_serve_cors_origin_restricts_the_origins(tmp_path):
    allowed = "http://localhost:3000"
    with serve_with(["--cors-origin", allowed, "--cors-origin", "https://app.example"], tmp_path) as served:
        for origin, status in ((allowed, 200), ("https://app.example", 200), ("https://evil.example", 400)):
            answer = httpx.options(
                served.base_url + V2, headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
            )
            assert answer.status_code == status, (origin, answer.text)
            assert answer.headers.get("access-control-allow-origin") == (origin if status == 200 else None)


def test_served_simulators_route_repeated_slashes_like_one(served_simulator):
    root = served_simulator("autodesk")
    assert token(root.root_url, path="//authentication/v2/token").status_code == 200
    mounted = served_simulator("all", prefix="/p")
    assert token(mounted.root_url, path="/p/autodesk//authentication/v2/token").status_code == 200
    assert token(mounted.root_url, path="//p//autodesk/authentication//v2/token").status_code == 200


def test_a_client_gone_mid_body_is_one_log_line_never_a_traceback(served_simulator):
    served = served_simulator("all")
    for path, media_type in (
        ("/autodesk/authentication/v2/token", "application/x-www-form-urlencoded"),
        ("/bimplus/v2/authorize", "application/json"),
        ("/bimplus/__authcanary__/clock", "-"),
    ):
        with socket.create_connection(("127.0.0.1", served.port)) as raw:
            raw.sendall(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {media_type}\r\n"
                "Content-Length: 1000\r\n\r\n0123456789".encode()
            )
        expected = f"POST {path} -> client disconnected"
        deadline = time.monotonic() + 10
        while expected not in served.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert served.output().count(expected) == 1, served.output()
    assert httpx.get(served.vendor_url("autodesk") + "/__authcanary__/info").status_code == 200
    time.sleep(0.2)  # anything logged late
    assert "Traceback" not in served.output() and "Exception" not in served.output(), served.output()

"""`authcanary serve` building blocks: which simulators, profiles, options and credentials it serves."""
from __future__ import annotations

import secrets
import socket

import httpx
import pytest

from authcanary.errors import ConfigError
from authcanary.http import InProcessTransport
from authcanary.server import build_simulators
from authcanary.simulators.framework import build_app

from conftest import ROOT, run_authcanary, write_loop_targets


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
    simulators = build_simulators("autodesk", "documented", [f"client_id={client_id}",
                                                             f"client_secret={client_secret}"])
    with httpx.Client(transport=InProcessTransport(build_app(simulators, "")), base_url="http://sim") as http:
        form = {"client_id": client_id, "client_secret": client_secret, "grant_type": "client_credentials",
                "scope": "data:read"}
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
    result = run_authcanary(["run", "--target", "local", "--targets", str(tmp_path / "targets.toml"),
                             "--max-examples", "2"], tmp_path / "run")
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

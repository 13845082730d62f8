"""`authcanary serve` building blocks: which simulators, profiles, options and credentials it serves."""
from __future__ import annotations

import secrets

import httpx
import pytest

from authcanary.errors import ConfigError
from authcanary.http import InProcessTransport
from authcanary.server import build_simulators
from authcanary.simulators.framework import build_app

from conftest import ROOT, run_authcanary, write_loop_targets


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

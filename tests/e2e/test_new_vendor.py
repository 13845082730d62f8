"""The seam holds: a throwaway vendor (a tiny simulator, a contract with its checks, one suite) added from outside the
engine, through the `authcanary.vendors` entry point, runs end to end; no engine module is touched."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from conftest import cli_env, run_authcanary

pytestmark = pytest.mark.slow  # two whole runs; the seam is also guarded by test_suite_surface.py

SIMULATOR = """
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authcanary.registry import Key, VendorSpec
from authcanary.simulators.framework import Simulator


class AcmeSimulator(Simulator):
    vendor = "acme"
    deviations = {"lowercase-token-type": "token_type is `bearer`", "token-500": "the token call answers 500"}

    @classmethod
    def default_settings(cls):
        return {"client_id": "acme-client", "client_secret": "acme-secret-0123"}

    def routes(self):
        return [Route("/token", self._token, methods=["POST"])]

    async def _token(self, request: Request):
        form = await request.form()
        if self.deviates("token-500"):
            return JSONResponse({"error": "server_error"}, status_code=500)
        if form.get("client_secret") != self.settings["client_secret"]:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        return JSONResponse({"token_type": "bearer" if self.deviates("lowercase-token-type") else "Bearer",
                             "expires_in": 3600, "access_token": "a" * 40})


SPEC = VendorSpec(name="acme", title="Acme token service (a test vendor)",
                  keys={"client_id": Key("client id", required=True),
                        "client_secret": Key("client secret", required=True, secret=True)},
                  simulator_path="acme_vendor:AcmeSimulator", example_base_url="https://api.acme.test")
"""
SUITE = """
from authcanary.suite import check_constants, reveal


def test_client_credentials_get_a_token(client, target, expect, contract):
    response = client.post("/token", data={"grant_type": "client_credentials",
                                           "client_id": target.settings["client_id"],
                                           "client_secret": reveal(target.settings["client_secret"])})
    if expect.status(response, 200, "acme.token.answered"):
        check_constants(expect, response, response.json(), contract)
"""
CHECKS = """
checks:
  acme.token.answered:
    title: valid client credentials get a token (200)
    source: "Acme API reference, POST /token"
    severity: breaking
    profiles: [token-500]
  acme.constant.token_type:
    title: token_type is exactly "Bearer"
    source: "RFC 6749 §5.1"
    severity: breaking
    profiles: [lowercase-token-type]
"""
OPENAPI = """
openapi: 3.1.0
info: {title: Acme, version: "1"}
paths:
  /token:
    post:
      responses:
        "200": {description: a token}
"""
SEMANTICS = """
endpoints:
  "POST /token":
    constants: {"200": {"$.token_type": "Bearer"}}
"""


def _project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A project root with the vendor's folder set, and an environment in which the vendor's package is installed."""
    site = tmp_path / "site"
    (site / "acme_vendor-0.1.dist-info").mkdir(parents=True)
    (site / "acme_vendor.py").write_text(textwrap.dedent(SIMULATOR))
    (site / "acme_vendor-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-vendor\nVersion: 0.1\n"
    )
    (site / "acme_vendor-0.1.dist-info" / "entry_points.txt").write_text(
        "[authcanary.vendors]\nacme = acme_vendor:SPEC\n"
    )
    root = tmp_path / "project"
    for path, text in {
        "contracts/acme/openapi.yaml": OPENAPI,
        "contracts/acme/semantics.yaml": SEMANTICS,
        "contracts/acme/checks.yaml": CHECKS,
        "suites/__init__.py": "",
        "suites/acme/__init__.py": "",
        "suites/acme/test_token.py": SUITE,
        "conftest.py": "",
        "targets.toml": "[targets.sim]\nembedded = true\n",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text))
    inherited = os.environ.get("PYTHONPATH")
    return root, cli_env(PYTHONPATH=os.pathsep.join(filter(None, [str(site), inherited])))


def test_a_vendor_added_from_outside_the_engine_runs_end_to_end(tmp_path):
    root, env = _project(tmp_path)
    documented = run_authcanary(["run", "--vendor", "acme"], tmp_path / "documented", cwd=root, env=env)
    assert documented.code == 0, documented.output[-3000:]
    assert documented.summary["vendors"]["acme"]["status"] == "ok"
    assert documented.summary["vendors"]["acme"]["checks"]["passed"] == 1

    deviating = run_authcanary(
        ["run", "--vendor", "acme", "--profile", "lowercase-token-type"], tmp_path / "deviating", cwd=root, env=env
    )
    assert deviating.code == 1, deviating.output[-3000:]
    assert [v["check_id"] for v in deviating.summary["vendors"]["acme"]["violations"]] == ["acme.constant.token_type"]

    listed = run_authcanary(["checks", "--vendor", "acme", "--json"], cwd=root, env=env)
    assert listed.code == 0 and "acme.token.answered" in listed.output and "RFC 6749" in listed.output

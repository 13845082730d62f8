"""The public surface for suite and strategy authors: everything `suites/<vendor>/` and `strategies/` may import
from the engine, and nothing else (tests/unit/test_suite_surface.py fails when a suite imports past it).

Fixtures the plugin gives every suite (by name): `vendor`, `target` (`VendorTarget`), `client` (an httpx client
bound to the target), `expect` (`Expect`), `sim` / `sim_or_none` (`SimulatorControl`), `clock` (`Clock`),
`contract` (`Contract`), `report` (`VendorFindings`: `add_deprecation(Deprecation)`,
`add_migration_step(MigrationStep)`, `add_note`), `login_probes` (`LoginProbes`), `max_examples`.
Checks are named: `expect.that(ok, "<vendor>.<area>.<name>", ...)` with the id declared in
`contracts/<vendor>/checks.yaml` (see docs/adding-a-vendor.md).
"""

from __future__ import annotations

from authcanary.checks.answers import (
    check_constants,
    check_expires_in,
    check_headers,
    check_schema,
    describe_statuses,
    refused,
    schema_errors,
)
from authcanary.checks.clock import Clock, Timed
from authcanary.checks.conformance import check_conformance
from authcanary.checks.fixtures import LoginProbes
from authcanary.checks.hostile import HostileRequest
from authcanary.checks.stateful import CheckedMachine, explore
from authcanary.contracts import Contract
from authcanary.credentials import Secret, reveal
from authcanary.findings import Deprecation, MigrationStep, VendorFindings
from authcanary.http import RAW
from authcanary.pytest.cases import contract_test
from authcanary.pytest.control import SimulatorControl
from authcanary.pytest.expectations import Expect
from authcanary.pytest.session import hypothesis_settings
from authcanary.recording.scrub import is_placeholder
from authcanary.targets import VendorTarget
from authcanary.tokens import decode_unverified, verify_jwt

__all__ = [
    "RAW",
    "CheckedMachine",
    "Clock",
    "Contract",
    "Deprecation",
    "Expect",
    "HostileRequest",
    "LoginProbes",
    "MigrationStep",
    "Secret",
    "SimulatorControl",
    "Timed",
    "VendorFindings",
    "VendorTarget",
    "check_conformance",
    "check_constants",
    "check_expires_in",
    "check_headers",
    "check_schema",
    "contract_test",
    "decode_unverified",
    "describe_statuses",
    "explore",
    "hypothesis_settings",
    "is_placeholder",
    "refused",
    "reveal",
    "schema_errors",
    "verify_jwt",
]

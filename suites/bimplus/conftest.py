"""Fixtures shared by the Bimplus suites: the legacy API and its checks, the configured users; the target's clock
(`clock`, `sim_or_none`) and the live-safety budget of failed logins (`login_probes`) come from the plugin."""

from __future__ import annotations

import httpx
import pytest

from authcanary.suite import Contract, Expect, VendorFindings, VendorTarget
from suites.bimplus.legacy import Account, LegacyApi, LegacyChecks, accounts


@pytest.fixture
def api(client: httpx.Client, target: VendorTarget) -> LegacyApi:
    return LegacyApi(client, target.settings)


@pytest.fixture
def checks(expect: Expect, contract: Contract, report: VendorFindings) -> LegacyChecks:
    return LegacyChecks(expect, contract, report)


@pytest.fixture
def users(target: VendorTarget) -> list[Account]:
    return accounts(target.settings)

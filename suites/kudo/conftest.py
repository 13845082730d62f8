"""Fixtures of the Kudo suites: the token service and its checks (helpers live in suites/kudo/api.py and checks.py);
the target's clock (`clock`, `sim_or_none`) comes from the plugin."""

from __future__ import annotations

import httpx
import pytest

from authcanary.suite import Contract, Expect, VendorTarget
from suites.kudo.api import KudoApi
from suites.kudo.checks import KudoChecks


@pytest.fixture
def api(client: httpx.Client, target: VendorTarget) -> KudoApi:
    return KudoApi(client, target.settings)


@pytest.fixture
def checks(expect: Expect, contract: Contract, target: VendorTarget) -> KudoChecks:
    return KudoChecks(expect, contract, target.settings["api_key"])

"""The template of a vendor's suites (docs/adding-a-vendor.md): copy this folder to `suites/<vendor>/`, rename
`acme`, and delete the `collect_ignore_glob` line below (it keeps the template itself from being collected).

conftest.py holds fixtures only; helpers live in the suite's own modules (api.py, checks.py)."""

from __future__ import annotations

import httpx
import pytest

from authcanary.suite import Contract, Expect, VendorTarget
from suites._template.api import AcmeApi
from suites._template.checks import AcmeChecks

collect_ignore_glob = ["test_*.py"]


@pytest.fixture
def api(client: httpx.Client, target: VendorTarget) -> AcmeApi:
    return AcmeApi(client, target.settings)


@pytest.fixture
def checks(expect: Expect, contract: Contract) -> AcmeChecks:
    return AcmeChecks(expect, contract)

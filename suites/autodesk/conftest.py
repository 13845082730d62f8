"""Fixtures of the Autodesk suites: the APS API and its checks (helpers live in suites/autodesk/api.py and
checks.py)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from authcanary.suite import Contract, Expect, VendorTarget
from suites.autodesk.api import ApsApi
from suites.autodesk.checks import ApsChecks


@pytest.fixture
def api(client: httpx.Client, target: VendorTarget) -> ApsApi:
    return ApsApi(client, target.settings)


@pytest.fixture
def checks(expect: Expect, contract: Contract, api: ApsApi) -> ApsChecks:
    """The checks verify a signature against the JWKS `api` publishes, fetched at the first signature to verify
    (once per test; never when no token needs it, e.g. a replayed recording's placeholder)."""
    return ApsChecks(expect, contract, api.published_keys)


@pytest.fixture
def v1_gone(api: ApsApi) -> Callable[[], int | None]:
    """`ApsApi.v1_removed`, asked lazily and at most once per test: for property tests, whose examples only sometimes
    touch v1 (one request, not one per example, and none when no example needs to know)."""
    answer: list[int | None] = []

    def probe() -> int | None:
        if not answer:
            answer.append(api.v1_removed())
        return answer[0]

    return probe

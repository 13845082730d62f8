"""Fixtures of the AxeoBIM suites: the two documented calls and their checks (helpers live in suites/axeobim/api.py
and checks.py)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from authcanary.suite import Contract, Expect, VendorTarget
from suites.axeobim.api import AxeobimApi
from suites.axeobim.checks import AxeobimChecks


@pytest.fixture
def api(client: httpx.Client, target: VendorTarget) -> AxeobimApi:
    return AxeobimApi(client, target.settings)


@pytest.fixture
def checks(expect: Expect, contract: Contract) -> AxeobimChecks:
    return AxeobimChecks(expect, contract)


@pytest.fixture
def client_token(api: AxeobimApi) -> Callable[[], str | None]:
    """A client token (step 1), asked for lazily and at most once per test: property tests whose examples need a
    valid bearer send one step-1 request, not one per example (None when step 1 gave no token)."""
    held: list[str | None] = []

    def token() -> str | None:
        if not held:
            held.append(api.fresh_client_token())
        return held[0]

    return token


@pytest.fixture
def valid_bearer(api: AxeobimApi) -> str:
    """A client token (step 1) for tests that need a valid bearer; skipped when step 1 gives none (the step-1 checks
    say why)."""
    token = api.fresh_client_token()
    if token is None:
        pytest.skip("step 1 gave no client token (judged by test_client_token)")
    return token

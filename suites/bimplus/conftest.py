"""Fixtures shared by the Bimplus suites: the legacy API and its checks, the configured users, and the OIDC provider
(`oidc`, `oidc_checks`: skipped, with a note in the report, when the target names none); the target's clock
(`clock`, `sim_or_none`) and the live-safety budget of failed logins (`login_probes`) come from the plugin."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from authcanary.suite import Contract, Expect, VendorFindings, VendorTarget
from suites.bimplus.legacy import Account, LegacyApi, LegacyChecks, accounts
from suites.bimplus.oidc import ISSUER_LABEL, NOT_CONFIGURED, OidcApi, OidcChecks, configured


@pytest.fixture
def api(client: httpx.Client, target: VendorTarget) -> LegacyApi:
    return LegacyApi(client, target.settings)


@pytest.fixture
def checks(expect: Expect, contract: Contract, report: VendorFindings) -> LegacyChecks:
    return LegacyChecks(expect, contract, report)


@pytest.fixture
def users(target: VendorTarget) -> list[Account]:
    return accounts(target.settings)


@pytest.fixture
def oidc(client: httpx.Client, target: VendorTarget, report: VendorFindings, expect: Expect) -> OidcApi:
    """The target's OIDC provider; the test is skipped (and the report says OIDC was not checked) without one."""
    if not configured(target.settings):
        report.add_note(NOT_CONFIGURED)
        pytest.skip(NOT_CONFIGURED)
    oidc = OidcApi(client, target.settings)
    expect.name_base(oidc.issuer, ISSUER_LABEL)
    return oidc


@pytest.fixture
def oidc_contract(contract: Contract) -> Contract:
    return contract.part("oidc")


class PublishedKeys:
    """The realm's published JWKS, fetched when a signature is first verified, and again after `forget` (a key
    rotation)."""

    def __init__(self, oidc: OidcApi) -> None:
        self.oidc = oidc
        self.fetched: list[dict[str, Any] | None] = []

    def __call__(self) -> dict[str, Any] | None:
        if not self.fetched:
            response = self.oidc.jwks()
            try:
                body = response.json() if response.status_code == 200 else None
            except ValueError:
                body = None
            self.fetched.append(body if isinstance(body, dict) and isinstance(body.get("keys"), list) else None)
        return self.fetched[0]

    def forget(self) -> None:
        self.fetched.clear()


@pytest.fixture
def published_keys(oidc: OidcApi) -> PublishedKeys:
    return PublishedKeys(oidc)


@pytest.fixture
def oidc_checks(
    expect: Expect, oidc_contract: Contract, target: VendorTarget, oidc: OidcApi, published_keys: PublishedKeys
) -> OidcChecks:
    return OidcChecks(expect, oidc_contract, target.settings, oidc.issuer, published_keys)

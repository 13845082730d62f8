"""The same user through both doors: the BIM+ API answers the same data to a legacy BimPlus token and to an OIDC
Bearer token, as long as the legacy service lives (VENDORS.md §2)."""

from __future__ import annotations

import pytest

from suites.bimplus.oidc import read_tokens

pytestmark = pytest.mark.scenario


def test_the_bim_api_answers_the_same_data_through_both_doors(api, oidc, expect, users):
    legacy_login = api.authorize(users[0])
    oidc_login = read_tokens(oidc.password_login(users[0].user, users[0].password))
    try:
        legacy_token = legacy_login.json().get("access_token") if legacy_login.status_code == 200 else None
    except ValueError:
        legacy_token = None
    if not legacy_token or oidc_login is None or oidc_login.access_token is None:
        pytest.skip("parity needs both a legacy and an OIDC login (the other suites report why one failed)")
    legacy, bearer = api.teams(legacy_token), oidc.teams(oidc_login.access_token)
    if legacy.status_code != 200 or bearer.status_code != 200:
        pytest.skip("parity needs GET /v2/teams to answer both tokens (the other suites report why it did not)")
    try:
        same = legacy.json() == bearer.json()
    except ValueError:
        same = False
    expect.that(
        same,
        "bimplus.migration.resource_parity",
        response=bearer,
        expected=f"the legacy token's answer: {expect.excerpt(legacy)}",
        observed=f"the OIDC token's answer: {expect.excerpt(bearer)}",
    )

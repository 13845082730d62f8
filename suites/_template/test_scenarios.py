"""Deterministic scenarios (recorded as cassettes, compared with the baseline): each documented flow once, each
optional parameter present and absent."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.scenario


@pytest.mark.parametrize("scope", ["read", None], ids=["scope", "no-scope"])
def test_client_credentials_get_a_token(api, checks, scope):
    checks.token(api.token(scope=scope))

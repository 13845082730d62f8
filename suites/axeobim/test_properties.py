"""Property-based checks: schemathesis over the OpenAPI contract, and hostile and valid requests from
strategies/axeobim.py.

Requests go through the suite's `client` (counted, budgeted, in-process or real HTTP alike); on a violation the
minimal example hypothesis found is what gets reported, with a curl reproduction.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.parameters import ParameterLocation

from authcanary.suite import (
    HostileRequest,
    Secret,
    check_conformance,
    contract_test,
    hypothesis_settings,
    refused,
    reveal,
)
from strategies.axeobim import (
    BEARER_KINDS,
    CLIENT,
    CLIENT_KINDS,
    USER_KINDS,
    bearer,
    bearer_problems,
    client_requests,
    user_requests,
    valid_client_requests,
    valid_user_requests,
)

VENDOR = "axeobim"
#: each schemathesis check is the declared check `axeobim.contract.<its function name>`
CHECKS = {
    check: f"{VENDOR}.contract.{check.__name__}"
    for check in (
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        negative_data_rejection,
    )
}

SETTINGS = hypothesis_settings(VENDOR)
#: each kind of hostile request gets an eighth of the target's examples (at least 2): every kind runs, also live
PER_KIND = settings(SETTINGS, max_examples=max(2, SETTINGS.max_examples // 8))
#: valid requests in every documented shape: a quarter of them
QUARTER = settings(SETTINGS, max_examples=max(2, SETTINGS.max_examples // 4))
#: schemathesis: a quarter of the examples per operation (its coverage phase adds the boundary cases)
CONTRACT = settings(SETTINGS, max_examples=max(3, SETTINGS.max_examples // 4))
schema = schemathesis.openapi.from_path(Path(__file__).parents[2] / "contracts" / VENDOR / "openapi.yaml")
schema.config.generation.update(max_examples=CONTRACT.max_examples, deterministic=True)


@contract_test(schema, CONTRACT)
def test_contract_conformance(case, client, target, expect, client_token):
    """Status code, content type and response schema conform to the contract; invalid requests are rejected.

    Random credentials only meet the refusals: where the generated request leaves a credential as a plain string
    (so the case stays what schemathesis made of it, valid or not), the target's own client, a valid bearer and, for
    some cases, the configured Cerqual user stand in, so the answers past authentication are judged too."""
    with expect.example():
        kwargs = case.as_transport_kwargs(base_url=str(client.base_url).rstrip("/"))
        headers, data = dict(kwargs.get("headers") or {}), kwargs.get("data")
        if isinstance(data, dict):
            data = dict(data)
            _credentials_stand_in(case, headers, data, target.settings, client_token)
        response = client.request(
            kwargs["method"],
            kwargs["url"],
            headers=headers,
            params=kwargs.get("params"),
            data=data,
            json=kwargs.get("json"),
        )
        check_conformance(expect, case, response, CHECKS, f"contracts/{VENDOR}/openapi.yaml")


def _credentials_stand_in(case, headers: dict[str, str], data: dict[str, Any], settings, client_token) -> None:
    """Put the target's credentials where the case has a string credential. A string is a valid value of every
    credential's schema (`type: string`), so a case stays positive or negative as generated; negative bodies always
    get the real credentials (their rejection must come from what is wrong in them), positive ones every other
    case (so the refusals of unknown clients and users are seen too)."""
    negative_body = case.meta is not None and case.meta.is_negative_at(ParameterLocation.BODY)
    if case.operation.path == CLIENT:
        client_id, secret = data.get("client_id"), data.get("client_secret")
        if isinstance(client_id, str) and isinstance(secret, str) and (negative_body or len(client_id) % 2 == 0):
            data["client_id"], data["client_secret"] = settings["client_id"], reveal(settings["client_secret"])
        return
    negative_header = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    if isinstance(headers.get("Authorization"), str) and not negative_header and (token := client_token()):
        headers.update(bearer(token))
    email = data.get("email")
    if isinstance(email, str) and (negative_body or len(email) % 2 == 0):
        data["email"] = settings["cerqual_email"]


@pytest.mark.parametrize("kind", CLIENT_KINDS)
@PER_KIND
@given(data=st.data())
def test_hostile_client_requests_are_refused_as_documented(kind, client, target, expect, checks, data):
    """Unsupported or missing grant types, a missing client_id, wrong credentials, repeated parameters, the form
    under another Content-Type: no token, and the status the documentation gives."""
    settings = target.settings
    hostile = data.draw(client_requests(kind, settings["client_id"], settings["client_secret"]), label="request")
    with expect.example():
        checks.refused(hostile.send(client), hostile.allowed, "axeobim.hostile.rejected", hostile.kind)


@pytest.mark.parametrize("kind", USER_KINDS)
@PER_KIND
@given(data=st.data())
def test_hostile_user_requests_with_a_valid_bearer_get_400(kind, client, target, expect, checks, valid_bearer, data):
    """With a valid client token, a malformed request is 400 (re-authenticating won't help), an unknown user 400 or
    401."""
    hostile = data.draw(user_requests(kind, valid_bearer, target.settings["cerqual_email"]), label="request")
    with expect.example():
        checks.refused(hostile.send(client), hostile.allowed, "axeobim.hostile.rejected", hostile.kind)


@pytest.mark.parametrize("kind", BEARER_KINDS)
@PER_KIND
@given(data=st.data())
def test_bad_bearers_get_401(kind, client, target, expect, checks, client_token, data):
    """A documented form under a missing, malformed or forged bearer (the harness signs forgeries itself): 401
    (re-authenticate)."""
    token = client_token() if kind == "forged" else None
    hostile = data.draw(bearer_problems(kind, token, target.settings["cerqual_email"]), label="request")
    with expect.example():
        checks.refused(hostile.send(client), hostile.allowed, "axeobim.hostile.rejected", hostile.kind)


@QUARTER
@given(data=st.data())
def test_valid_requests_get_a_token_in_every_documented_shape(client, target, expect, valid_bearer, data):
    """Each optional parameter present and absent (`scope`, on both steps), the fields in any order: a vendor that
    fails one documented shape is found, with the minimal shape."""
    settings = target.settings
    valid = data.draw(
        _valid_requests(
            settings["client_id"],
            settings["client_secret"],
            settings["scope"],
            valid_bearer,
            settings["cerqual_email"],
            settings["cerqual_scope"],
        ),
        label="request",
    )
    with expect.example():
        response = valid.send(client)
        refused(expect, response, valid.allowed, "axeobim.token.documented_shape", detail=valid.kind)


@lru_cache(maxsize=8)
def _valid_requests(
    client_id: str, client_secret: Secret | str, scope: str, token: str, email: str, user_scope: str
) -> st.SearchStrategy[HostileRequest]:
    """Both steps' valid requests, built once per test (not once per example)."""
    return st.one_of(
        valid_client_requests(client_id, client_secret, scope), valid_user_requests(token, email, user_scope)
    )

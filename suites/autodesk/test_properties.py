"""Property-based checks: schemathesis over the OpenAPI contract, and hostile requests from strategies/autodesk.py.

Requests go through the suite's `client` (counted, budgeted, in-process or real HTTP alike); on a violation the
minimal example hypothesis found is what gets reported, with a curl reproduction.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from authcanary.suite import check_conformance, contract_test, hypothesis_settings, refused
from strategies.autodesk import V1, V2, token_requests, valid_token_requests
from suites.autodesk.api import V1_REMOVED_SKIP

VENDOR = "autodesk"
#: each schemathesis check is the declared check `autodesk.contract.<its function name>`
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
schema = schemathesis.openapi.from_path(Path(__file__).parents[2] / "contracts" / VENDOR / "openapi.yaml")
schema.config.generation.update(max_examples=SETTINGS.max_examples, deterministic=True)


@contract_test(schema, SETTINGS)
def test_contract_conformance(case, client, expect, v1_gone):
    """Status code, content type and response schema conform to the contract; invalid requests are rejected.

    v1 (deprecated) is checked while it is served; once it answers 404/410 its operation is skipped: the removal is
    a deprecation finding (test_migration), not a contract violation."""
    if case.operation.path == V1 and (status := v1_gone()):
        pytest.skip(V1_REMOVED_SKIP.format(status=status))
    with expect.example():
        kwargs = case.as_transport_kwargs(base_url=str(client.base_url).rstrip("/"))
        if kwargs.get("cookies"):
            kwargs["headers"] = {
                **kwargs.get("headers", {}),
                "Cookie": "; ".join(f"{name}={value}" for name, value in kwargs["cookies"].items()),
            }
        response = client.request(
            kwargs["method"],
            kwargs["url"],
            headers=kwargs.get("headers"),
            params=kwargs.get("params"),
            data=kwargs.get("data"),
            json=kwargs.get("json"),
        )
        check_conformance(expect, case, response, CHECKS, f"contracts/{VENDOR}/openapi.yaml")


@SETTINGS
@given(data=st.data())
def test_hostile_requests_are_rejected_as_documented(client, target, expect, v1_gone, data):
    """Wrong content types, repeated parameters, unknown grants, empty/huge/unicode values, v2 double credentials.

    Sent to v1 and v2 while v1 is served, to v2 only once v1 answers 404/410 (reported under deprecations)."""
    paths = (V2,) if v1_gone() else (V1, V2)
    hostile = data.draw(
        token_requests(target.settings["client_id"], target.settings["client_secret"], paths=paths), label="request"
    )
    with expect.example():
        response = hostile.send(client)
        refused(expect, response, hostile.allowed, "autodesk.hostile.rejected", detail=hostile.kind)


@SETTINGS
@given(data=st.data())
def test_valid_requests_get_a_token_in_every_documented_shape(client, target, expect, contract, v1_gone, data):
    """Each optional parameter present and absent (`scope`), credentials in the body or a Basic header (v2), fields in
    any order: a vendor that crashes on one documented shape is found, with the minimal shape."""
    paths = (V2,) if v1_gone() else (V1, V2)
    valid = data.draw(
        valid_token_requests(target.settings["client_id"], target.settings["client_secret"], paths=paths),
        label="request",
    )
    with expect.example():
        response = valid.send(client)
        refused(expect, response, valid.allowed, "autodesk.token.documented_shape", detail=valid.kind)

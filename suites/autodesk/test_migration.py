"""Migration v1 -> v2: same answer for the same client, both credential placements, and v1's deprecation state."""
from __future__ import annotations

import pytest

from authcanary.suite import Deprecation
from suites.autodesk.aps import (
    ENDPOINT,
    check_error_response,
    check_token_response,
    keys_of,
    request_token,
    skip_if_v1_removed,
)

pytestmark = pytest.mark.scenario


def _shape(body: dict) -> dict[str, str]:
    return {key: type(value).__name__ for key, value in body.items()}


def test_v1_and_v2_answer_with_the_same_shape(client, target, expect, contract):
    skip_if_v1_removed(client, target)
    cid, secret = target.settings["client_id"], target.settings["client_secret"]
    v1 = request_token(client, 1, cid, secret)
    v2 = request_token(client, 2, cid, secret, credentials="basic")
    v1_body = check_token_response(expect, v1, 1, contract, keys_of(client))
    v2_body = check_token_response(expect, v2, 2, contract, keys_of(client))
    if v1_body is not None and v2_body is not None:
        expect.that(_shape(v1_body) == _shape(v2_body), "autodesk.migration.same_shape",
                    response=v2, expected=f"v1 shape {_shape(v1_body)}", observed=f"v2 shape {_shape(v2_body)}")


def test_v2_basic_header_and_body_credentials_are_equivalent(client, target, expect, contract):
    cid, secret = target.settings["client_id"], target.settings["client_secret"]
    header_answer = request_token(client, 2, cid, secret, credentials="basic")
    in_header = check_token_response(expect, header_answer, 2, contract, keys_of(client))
    body_answer = request_token(client, 2, cid, secret, credentials="body")
    in_body = check_token_response(expect, body_answer, 2, contract, keys_of(client))
    if in_header is not None and in_body is not None:
        expect.that(_shape(in_header) == _shape(in_body), "autodesk.migration.basic_equals_body",
                    response=body_answer, expected=f"shape {_shape(in_header)} (Basic header credentials)",
                    observed=f"shape {_shape(in_body)} (body credentials)")


def test_v2_credentials_in_header_and_body_get_400(client, target, expect, contract):
    response = request_token(client, 2, target.settings["client_id"], target.settings["client_secret"],
                             credentials="both")
    status = contract.endpoint(ENDPOINT[2]).get("both_credentials_status", 400)
    check_error_response(expect, response, status, "autodesk.v2.both_credentials_400")


def test_v1_deprecation_state(client, target, contract, report):
    """Reports whether v1 is still served past its announced removal; never fails the run by itself."""
    semantics = contract.endpoint(ENDPOINT[1])
    cid, secret = target.settings["client_id"], target.settings["client_secret"]
    v1 = request_token(client, 1, cid, secret)
    v2 = request_token(client, 2, cid, secret, credentials="basic")
    headers = [name for name in ("Deprecation", "Sunset") if name in v1.headers]
    if v1.status_code in (404, 410):
        observed = f"removed ({v1.status_code})"
    elif headers:
        observed = f"served ({v1.status_code}) with {' and '.join(headers)} header(s)"
    else:
        observed = f"served ({v1.status_code})"
    report.add_deprecation(Deprecation(endpoint=ENDPOINT[1], announced_removal=semantics["announced_removal"],
                                       observed=observed, replacement=semantics["replacement"],
                                       replacement_ok=v2.status_code == 200))

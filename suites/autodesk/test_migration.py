"""Migration v1 -> v2: same answer for the same client, both credential placements, and v1's deprecation state."""

from __future__ import annotations

import pytest

from authcanary.suite import Deprecation
from suites.autodesk.api import ENDPOINT

pytestmark = pytest.mark.scenario


def test_v1_and_v2_answer_with_the_same_shape(api, checks):
    api.skip_if_v1_removed()
    v1 = api.token(1)
    v2 = api.token(2, credentials="basic")
    v1_body = checks.token(v1, 1)
    v2_body = checks.token(v2, 2)
    checks.same_shape(
        v1_body, v2_body, v2, "autodesk.migration.same_shape", first_is="v1 shape {shape}", second_is="v2 shape {shape}"
    )


def test_v2_basic_header_and_body_credentials_are_equivalent(api, checks):
    header_answer = api.token(2, credentials="basic")
    in_header = checks.token(header_answer, 2)
    body_answer = api.token(2, credentials="body")
    in_body = checks.token(body_answer, 2)
    checks.same_shape(
        in_header,
        in_body,
        body_answer,
        "autodesk.migration.basic_equals_body",
        first_is="shape {shape} (Basic header credentials)",
        second_is="shape {shape} (body credentials)",
    )


def test_v2_credentials_in_header_and_body_get_400(api, checks, contract):
    status = contract.endpoint(ENDPOINT[2]).get("both_credentials_status", 400)
    checks.error(api.token(2, credentials="both"), status, "autodesk.v2.both_credentials_400")


def test_v1_deprecation_state(api, contract, report):
    """Reports whether v1 is still served past its announced removal; never fails the run by itself."""
    semantics = contract.endpoint(ENDPOINT[1])
    v1 = api.token(1)
    v2 = api.token(2, credentials="basic")
    headers = [name for name in ("Deprecation", "Sunset") if name in v1.headers]
    if v1.status_code in (404, 410):
        observed = f"removed ({v1.status_code})"
    elif headers:
        observed = f"served ({v1.status_code}) with {' and '.join(headers)} header(s)"
    else:
        observed = f"served ({v1.status_code})"
    report.add_deprecation(
        Deprecation(
            endpoint=ENDPOINT[1],
            announced_removal=semantics["announced_removal"],
            observed=observed,
            replacement=semantics["replacement"],
            replacement_ok=v2.status_code == 200,
        )
    )

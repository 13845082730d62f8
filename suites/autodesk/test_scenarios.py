"""Deterministic scenarios: the happy paths and one scenario per documented error status (recorded as cassettes)."""
from __future__ import annotations

import pytest

from authcanary.suite import RAW
from suites.autodesk.aps import check_error_response, check_token_response, keys_of, request_token, skip_if_v1_removed

pytestmark = pytest.mark.scenario


def test_v1_happy_path(client, target, expect, contract):
    skip_if_v1_removed(client, target)
    response = request_token(client, 1, target.settings["client_id"], target.settings["client_secret"],
                             scope=target.settings["scope"])
    check_token_response(expect, response, 1, contract, keys_of(client))


@pytest.mark.parametrize("credentials", ["basic", "body"])
def test_v2_happy_path(client, target, expect, contract, credentials):
    response = request_token(client, 2, target.settings["client_id"], target.settings["client_secret"],
                             scope=target.settings["scope"], credentials=credentials)
    check_token_response(expect, response, 2, contract, keys_of(client))


@pytest.mark.parametrize("version", [1, 2])
def test_happy_path_without_the_optional_scope(client, target, expect, contract, version):
    """`scope` is optional: a request without it is a documented shape, answered like any other."""
    if version == 1:
        skip_if_v1_removed(client, target)
    response = request_token(client, version, target.settings["client_id"], target.settings["client_secret"],
                             scope=None, credentials="body" if version == 1 else "basic")
    check_token_response(expect, response, version, contract, keys_of(client))


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("content_type", [None, "application/json"], ids=["missing", "json"])
def test_415_unsupported_media_type(client, target, expect, version, content_type):
    if version == 1:
        skip_if_v1_removed(client, target)
    response = request_token(client, version, target.settings["client_id"], target.settings["client_secret"],
                             content_type=content_type)
    check_error_response(expect, response, 415, "autodesk.errors.unsupported_media_type_415",
                         detail=f"Content-Type {content_type or 'missing'}")


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("grant_type", ["", "password", "authorization_code"], ids=["missing", "password", "code"])
def test_400_invalid_grant_type(client, target, expect, version, grant_type):
    if version == 1:
        skip_if_v1_removed(client, target)
    response = request_token(client, version, target.settings["client_id"], target.settings["client_secret"],
                             grant_type=grant_type)
    check_error_response(expect, response, 400, "autodesk.errors.invalid_grant_type_400",
                         detail=f"grant_type {grant_type!r}")


@pytest.mark.parametrize("version", [1, 2])
def test_400_missing_client_secret(client, target, expect, version):
    if version == 1:
        skip_if_v1_removed(client, target)
    response = request_token(client, version, target.settings["client_id"], "")
    check_error_response(expect, response, 400, "autodesk.errors.missing_parameter_400", detail="client_secret")


@pytest.mark.parametrize("version", [1, 2])
def test_401_bad_secret(client, target, expect, version):
    if version == 1:
        skip_if_v1_removed(client, target)
    response = request_token(client, version, target.settings["client_id"], "not-the-secret-0000",
                             credentials="body" if version == 1 else "basic")
    check_error_response(expect, response, 401, "autodesk.errors.invalid_client_401",
                         detail="credentials in the body" if version == 1 else "credentials in a Basic header")


@pytest.mark.parametrize("version", [1, 2])
def test_403_client_not_authorized(client, target, expect, version):
    forbidden_id, forbidden_secret = (target.settings.get("forbidden_client_id"),
                                      target.settings.get("forbidden_client_secret"))
    if not forbidden_id or not forbidden_secret:
        pytest.skip("set forbidden_client_id/forbidden_client_secret to check 403 on this target")
    if version == 1:
        skip_if_v1_removed(client, target)
    response = request_token(client, version, forbidden_id, forbidden_secret)
    check_error_response(expect, response, 403, "autodesk.errors.unauthorized_client_403")


def test_500_generic_error(client, target, expect, sim):
    sim.fault(500)
    # RAW: the injected 500 is the subject of this check, not a transient failure to retry
    response = request_token(client, 2, target.settings["client_id"], target.settings["client_secret"],
                             extensions={RAW: True})
    check_error_response(expect, response, 500, "autodesk.errors.server_error_500")

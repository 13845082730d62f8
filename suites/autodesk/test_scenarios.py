"""Deterministic scenarios: the happy paths and one scenario per documented error status (recorded as cassettes)."""

from __future__ import annotations

import pytest

from authcanary.suite import RAW

pytestmark = pytest.mark.scenario


def test_v1_happy_path(api, checks):
    api.skip_if_v1_removed()
    checks.token(api.token(1, scope=api.scope), 1)


@pytest.mark.parametrize("credentials", ["basic", "body"])
def test_v2_happy_path(api, checks, credentials):
    checks.token(api.token(2, scope=api.scope, credentials=credentials), 2)


@pytest.mark.parametrize("version", [1, 2])
def test_happy_path_without_the_optional_scope(api, checks, version):
    """`scope` is optional: a request without it is a documented shape, answered like any other."""
    if version == 1:
        api.skip_if_v1_removed()
    checks.token(api.token(version, scope=None, credentials="body" if version == 1 else "basic"), version)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("content_type", [None, "application/json"], ids=["missing", "json"])
def test_415_unsupported_media_type(api, checks, version, content_type):
    if version == 1:
        api.skip_if_v1_removed()
    checks.error(
        api.token(version, content_type=content_type),
        415,
        "autodesk.errors.unsupported_media_type_415",
        detail=f"Content-Type {content_type or 'missing'}",
    )


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("grant_type", ["", "password", "authorization_code"], ids=["missing", "password", "code"])
def test_400_invalid_grant_type(api, checks, version, grant_type):
    if version == 1:
        api.skip_if_v1_removed()
    checks.error(
        api.token(version, grant_type=grant_type),
        400,
        "autodesk.errors.invalid_grant_type_400",
        detail=f"grant_type {grant_type!r}",
    )


@pytest.mark.parametrize("version", [1, 2])
def test_400_missing_client_secret(api, checks, version):
    if version == 1:
        api.skip_if_v1_removed()
    checks.error(
        api.token(version, client_secret=""), 400, "autodesk.errors.missing_parameter_400", detail="client_secret"
    )


@pytest.mark.parametrize("version", [1, 2])
def test_401_bad_secret(api, checks, version):
    if version == 1:
        api.skip_if_v1_removed()
    response = api.token(version, client_secret="not-the-secret-0000", credentials="body" if version == 1 else "basic")
    checks.error(
        response,
        401,
        "autodesk.errors.invalid_client_401",
        detail="credentials in the body" if version == 1 else "credentials in a Basic header",
    )


@pytest.mark.parametrize("version", [1, 2])
def test_403_client_not_authorized(api, checks, version):
    if api.forbidden_client is None:
        pytest.skip("set forbidden_client_id/forbidden_client_secret to check 403 on this target")
    if version == 1:
        api.skip_if_v1_removed()
    forbidden_id, forbidden_secret = api.forbidden_client
    checks.error(
        api.token(version, client_id=forbidden_id, client_secret=forbidden_secret),
        403,
        "autodesk.errors.unauthorized_client_403",
    )


def test_500_generic_error(api, checks, sim):
    sim.fault(500)
    # RAW: the injected 500 is the subject of this check, not a transient failure to retry
    checks.error(api.token(2, extensions={RAW: True}), 500, "autodesk.errors.server_error_500")

"""Fixtures and helpers shared by the Autodesk suites."""
from __future__ import annotations

import httpx
import pytest

from authcanary.targets import VendorTarget
from suites.autodesk.aps import request_token


def v1_removed(client: httpx.Client, target: VendorTarget) -> int | None:
    """The status (404/410) when v1 is decommissioned, else None. One request."""
    response = request_token(client, 1, target.settings["client_id"], target.settings["client_secret"])
    return response.status_code if response.status_code in (404, 410) else None


def skip_if_v1_removed(client: httpx.Client, target: VendorTarget) -> None:
    status = v1_removed(client, target)
    if status:
        pytest.skip(f"v1 answers {status}: removed (reported under deprecations)")

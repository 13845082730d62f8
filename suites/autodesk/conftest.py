"""Fixtures and helpers shared by the Autodesk suites."""
from __future__ import annotations

from typing import Callable

import httpx
import pytest

from authcanary.targets import VendorTarget
from suites.autodesk.aps import request_token

#: why a v1 check is skipped once v1 is gone: the migration suite reports the removal under `deprecations`
V1_REMOVED_SKIP = "v1 answers {status}: removed (reported under deprecations)"


def v1_removed(client: httpx.Client, target: VendorTarget) -> int | None:
    """The status (404/410) when v1 is decommissioned, else None. One request."""
    response = request_token(client, 1, target.settings["client_id"], target.settings["client_secret"])
    return response.status_code if response.status_code in (404, 410) else None


def skip_if_v1_removed(client: httpx.Client, target: VendorTarget) -> None:
    status = v1_removed(client, target)
    if status:
        pytest.skip(V1_REMOVED_SKIP.format(status=status))


@pytest.fixture
def v1_gone(client: httpx.Client, target: VendorTarget) -> Callable[[], int | None]:
    """`v1_removed`, asked lazily and at most once per test: for property tests, whose examples only sometimes
    touch v1 (one request, not one per example, and none when no example needs to know)."""
    answer: list[int | None] = []

    def probe() -> int | None:
        if not answer:
            answer.append(v1_removed(client, target))
        return answer[0]

    return probe

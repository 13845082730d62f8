"""Fixtures of the Autodesk suites (helpers live in suites/autodesk/aps.py)."""
from __future__ import annotations

from typing import Callable

import httpx
import pytest

from authcanary.suite import VendorTarget
from suites.autodesk.aps import v1_removed


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

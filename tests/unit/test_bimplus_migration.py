"""What a legacy Bimplus answer says about its endpoint's removal (suites/bimplus/migration.py): the state shown in the
deprecation and migration-readiness tables, and whether a removal came before its announced date."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from suites.bimplus.migration import observed, removal_is_early


def answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


@pytest.mark.parametrize(
    "response, state",
    [
        (answer(200), "served (200)"),
        (answer(410), "removed (410)"),
        (answer(404, Sunset="Thu, 01 Jan 2026 00:00:00 GMT"), "removed (404)"),
        (
            answer(200, Deprecation="@1577836800", Sunset="Thu, 01 Jan 2026 00:00:00 GMT"),
            "served (200) with Deprecation and Sunset header(s): Deprecation 2020-01-01, Sunset 2026-01-01",
        ),
        (answer(200, Sunset="Wed, 01 Jan 2025 00:00:00 GMT"), "served (200) with Sunset header(s): Sunset 2025-01-01"),
        (
            answer(200, Deprecation="true"),  # the draft's boolean form, before RFC 9745 fixed a date
            "served (200) with Deprecation header(s): Deprecation unreadable 'true'",
        ),
    ],
)
def test_the_observed_state_reads_rfc9745_and_rfc8594_headers(response, state):
    assert observed(response) == state


@pytest.mark.parametrize(
    "announced, day, early",
    [
        ("2026", date(2025, 12, 31), True),
        ("2026", date(2026, 1, 1), False),
        ("2025-06", date(2025, 5, 31), True),
        ("2025-06", date(2025, 6, 1), False),
        ("2024-04-30", date(2024, 4, 29), True),
        ("2024-04-30", date(2024, 4, 30), False),
        ('announced without a date ("Will be removed")', date(2020, 1, 1), None),
        ("", date(2020, 1, 1), None),
    ],
)
def test_a_removal_is_early_before_the_first_day_its_announcement_names(announced, day, early):
    assert removal_is_early(announced, day) is early

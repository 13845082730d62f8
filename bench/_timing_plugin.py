"""pytest plugin used only by bench/bench_autodesk.py (`-p _timing_plugin`, with bench/ on PYTHONPATH).

Writes to $BENCH_TIMING_FILE, at the end of the session, the wall-clock times (time.time()) at which collection
started and the last test finished. The suite's "execution" time is that span: collection (loading the contract and
building schemathesis' coverage examples, which the schemathesis CLI does inside its own `running_time`) plus the
tests themselves — the same work the CLI's `running_time` covers, so neither side gets a shorter clock.
"""

from __future__ import annotations

import json
import os
import time

import pytest

_marks: dict[str, float] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    _marks["collection_start"] = time.time()


def pytest_collection_finish(session: pytest.Session) -> None:
    _marks["collection_end"] = time.time()


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session):
    try:
        return (yield)
    finally:
        _marks["tests_end"] = time.time()


def pytest_unconfigure(config: pytest.Config) -> None:
    path = os.environ.get("BENCH_TIMING_FILE")
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(_marks, handle)

"""The findings history: states across runs (new, open, resolved, flapping), what a run that did not observe a vendor
(or had no baseline) does to them, concurrent writers, and a damaged file set aside, never lost."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from authcanary.history import History, HistoryError, open_history

V1 = {"check_id": "kudo.generate.fresh_token", "check": "fresh", "endpoint": "POST /generate", "severity": "breaking"}
V2 = {"check_id": "kudo.generate.token_uuid", "check": "uuid", "endpoint": "POST /generate", "severity": "warning"}
V1_ID = "kudo.generate.fresh_token POST /generate"
D1 = {"key": "kudo/t.x#POST /generate#0", "kind": "status_changed", "path": "status", "severity": "breaking"}


def summary(day: int, *violations: dict[str, Any], status: str = "violations", drift=(), drift_checked=True,
            target: str = "staging", waived: bool = False) -> dict[str, Any]:  # fmt: skip
    entries = [dict(v) for v in violations]
    if waived:
        for entry in entries:
            entry["waiver"] = {"reason": "r", "ticket": "https://t/1", "expires": "2027-01-01", "expired": False}
    return {
        "target": target,
        "started": f"2026-11-{day:02d}T02:00:00+00:00",
        "finished": f"2026-11-{day:02d}T02:01:00+00:00",
        "exit_code": 1 if entries or drift else 0,
        "vendors": {
            "kudo": {
                "status": status if entries or drift else "ok",
                "violations": entries,
                "drift": [dict(d) for d in drift],
                "deprecations": [],
                "outages": [],
                "drift_checked": drift_checked,
            },
            "autodesk": {"status": "skipped", "violations": [], "drift": [], "deprecations": [], "outages": []},
        },
    }


@pytest.fixture
def history(tmp_path: Path):
    store = History(tmp_path / "history.sqlite")
    yield store
    store.close()


def recorded(history: History, run: dict[str, Any]) -> dict[str, Any]:
    history.record(run)
    return run["vendors"]["kudo"]


def test_new_then_open_then_resolved(history: History) -> None:
    assert recorded(history, summary(1))["resolved"] == []
    first = recorded(history, summary(2, V1))["violations"][0]
    assert (first["state"], first["runs_seen"], first["first_seen"][:10]) == ("new", 1, "2026-11-02")
    assert first["id"] == "kudo.generate.fresh_token POST /generate"
    second = recorded(history, summary(3, V1, V2))["violations"]
    assert [(v["state"], v["runs_seen"], v["first_seen"][:10]) for v in second] == [
        ("open", 2, "2026-11-02"),
        ("new", 1, "2026-11-03"),
    ]
    gone = recorded(history, summary(4, V2))
    assert [(r["id"], r["state"], r["runs_seen"], r["last_seen"][:10]) for r in gone["resolved"]] == [
        ("kudo.generate.fresh_token POST /generate", "resolved", 2, "2026-11-03")
    ]
    assert gone["violations"][0]["state"] == "open"


def test_the_run_gets_its_trend_and_previous_run(history: History) -> None:
    runs = [summary(day, V1) if day % 2 else summary(day) for day in range(1, 20)]
    for run in runs:
        history.record(run)
    last = runs[-1]["history"]
    assert last["previous_run"].startswith("2026-11-18")
    assert len(last["trend"]) == 14 and last["trend"][-1]["started"].startswith("2026-11-19")
    assert [t["exit_code"] for t in last["trend"][-3:]] == [1, 0, 1]
    assert [t["new"] for t in last["trend"][-3:]] == [1, 0, 1]
    assert [t["resolved"] for t in last["trend"][-3:]] == [0, 1, 0]


def test_a_finding_that_comes_back_is_new_again_and_flapping(history: History) -> None:
    recorded(history, summary(1, V1))
    recorded(history, summary(2))
    back = recorded(history, summary(3, V1))["violations"][0]
    assert back["state"] == "new" and back["flapping"] is True and back["runs_seen"] == 2
    assert back["first_seen"].startswith("2026-11-01")
    steady = recorded(history, summary(4, V1, V2))["violations"]
    assert [v["flapping"] for v in steady] == [True, False]  # V1 still came back within the window


def test_flapping_ends_when_the_window_has_passed(history: History) -> None:
    recorded(history, summary(1, V1))
    recorded(history, summary(2))
    for day in range(3, 14):
        last = recorded(history, summary(day, V1))["violations"][0]
    assert last["flapping"] is False


def test_a_run_that_did_not_observe_the_vendor_resolves_nothing(history: History) -> None:
    recorded(history, summary(1, V1))
    unreachable = summary(2)
    unreachable["vendors"]["kudo"]["status"] = "unreachable"
    assert recorded(history, unreachable).get("resolved") is None
    after = recorded(history, summary(3, V1))["violations"][0]
    assert after["state"] == "open" and after["runs_seen"] == 2


def test_drift_is_not_resolved_by_a_run_without_a_baseline(history: History) -> None:
    recorded(history, summary(1, drift=[D1], status="drift"))
    assert recorded(history, summary(2, drift_checked=False))["resolved"] == []
    assert [r["kind"] for r in recorded(history, summary(3))["resolved"]] == ["drift"]


def test_targets_have_their_own_timelines(history: History) -> None:
    recorded(history, summary(1, V1, target="staging"))
    other = recorded(history, summary(2, V1, target="prod"))["violations"][0]
    assert other["state"] == "new" and other["runs_seen"] == 1
    assert recorded(history, summary(3, target="prod"))["resolved"][0]["runs_seen"] == 1


def test_waived_findings_are_counted_and_queried(history: History) -> None:
    recorded(history, summary(1, V1))
    run = summary(2, V1, waived=True)
    history.record(run)
    assert run["history"]["trend"][-1]["waived"] == 1
    (timeline,) = history.findings(target="staging")
    assert (timeline["runs_seen"], timeline["runs_waived"], timeline["state"]) == (2, 1, "open")
    recorded(history, summary(3))
    assert history.findings(vendor="kudo")[0]["state"] == "resolved"
    assert history.findings(since="2026-11-03") == []
    assert [run["vendors"] for run in history.runs(since="2026-11-02")] == [["kudo"], ["kudo"]]


def test_nothing_a_vendor_sent_is_stored(history: History, tmp_path: Path) -> None:
    canary = "CANARY-observed-4f1d2c"
    run = summary(1, {**V1, "observed": canary, "repro": f"curl -H 'x: {canary}'", "expected": canary})
    history.record(run)
    history.close()
    assert canary.encode() not in (tmp_path / "history.sqlite").read_bytes()
    for wal in tmp_path.glob("history.sqlite-*"):
        assert canary.encode() not in wal.read_bytes()


def _record_many(path: str, worker: int) -> None:
    store = History(Path(path))
    try:
        for day in range(1, 11):
            run = summary(day, V1)
            run["started"] = f"2026-11-{day:02d}T02:00:{worker:02d}+00:00"
            store.record(run)
    finally:
        store.close()


def test_concurrent_runs_all_land(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    History(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_record_many, args=(str(path), n)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    store = History(path)
    try:
        assert len(store.runs()) == 40
        assert store.findings()[0]["runs_seen"] == 40
    finally:
        store.close()


@pytest.mark.parametrize(
    "damage",
    ["not a database", "another program's database", "a truncated history"],
)
def test_a_damaged_history_is_set_aside_and_a_new_one_started(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "history.sqlite"
    if damage == "not a database":
        path.write_bytes(b"this is not sqlite at all\n" * 100)
    elif damage == "another program's database":
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE photos (id INTEGER)")
        db.commit()
        db.close()
    else:
        store = History(path)
        for day in range(1, 30):
            store.record(summary(day, V1))
        store.close()
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] + b"\x00" * 4096 + data[len(data) // 2 + 4096 :])
    before = path.read_bytes()
    store, note = open_history(path)
    try:
        run = summary(1, V1)
        store.record(run)
    finally:
        store.close()
    assert note is not None and "set aside as history.sqlite.corrupt-" in note
    (aside,) = tmp_path.glob("history.sqlite.corrupt-*[0-9Z]")
    assert aside.read_bytes() == before  # kept byte for byte
    assert run["vendors"]["kudo"]["violations"][0]["state"] == "new"


def test_a_history_that_cannot_be_opened_is_an_error_not_set_aside(tmp_path: Path) -> None:
    folder = tmp_path / "history.sqlite"
    folder.mkdir()
    with pytest.raises(HistoryError):
        open_history(folder)
    assert folder.is_dir() and not list(tmp_path.glob("*corrupt*"))


def test_a_violation_whose_tests_did_not_pass_is_not_resolved_but_carried(history: History) -> None:
    seen = {**V1, "tests": ["suites/kudo/test_a.py::t1", "suites/kudo/test_a.py::t2"]}
    recorded(history, summary(1, seen))
    blocked = summary(2, V2)  # t1 and t2 failed on V2 this time: V1 was not checked again
    blocked["vendors"]["kudo"]["not_passed"] = ["suites/kudo/test_a.py::t1", "suites/kudo/test_a.py::t2"]
    entry = recorded(history, blocked)
    assert entry["resolved"] == []
    ((carried),) = entry["unchecked"]
    assert (carried["id"], carried["state"], carried["runs_seen"]) == (V1_ID, "open", 1)
    back = recorded(history, summary(3, seen))["violations"][0]
    assert (back["state"], back["runs_seen"], back["flapping"]) == ("open", 2, False)
    partly = summary(4)  # t1 passed: V1 was checked, and is gone
    partly["vendors"]["kudo"]["not_passed"] = ["suites/kudo/test_a.py::t2"]
    (resolved,) = recorded(history, partly)["resolved"]
    assert (resolved["id"], resolved["runs_seen"]) == (V1_ID, 2)
    assert "tests" not in resolved and "check_id" not in resolved
    (timeline,) = [t for t in history.findings() if t["id"] == V1_ID]
    assert timeline["runs_seen"] == 2 and timeline["state"] == "resolved"

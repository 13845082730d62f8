"""A simulated month of nightly runs (issue "findings over time"): 30 embedded Kudo runs on a virtual clock, one a day,
while the simulator's deviation profile and the waivers file change on given days. Each night must get the right
finding states, waiver outcome and exit code; the history of the month must be queryable (in under a second)."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest

from authcanary.history import History
from authcanary.runner import RunRequest, run
from tests.conftest import ROOT, run_authcanary

pytestmark = pytest.mark.slow

FINDING = "kudo.generate.fresh_token POST /generate"
DEVIATION = "token-reused"  # the simulator reuses tokens: kudo.generate.fresh_token must fire
INTRODUCED, WAIVED, WAIVER_EXPIRES, RENEWED, FIXED = 5, 8, 14, 18, 20


def waiver(expires: str) -> str:
    return f"""
[[waiver]]
vendor = "kudo"
check = "kudo.generate.fresh_token"
reason = "reported to the vendor, fix promised"
ticket = "https://tickets.example.com/KUDO-42"
expires = {expires}
"""


def night(day: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the month once; every test reads its nights."""
    base = tmp_path_factory.mktemp("month")
    waivers = base / "waivers.toml"
    waivers.write_text("# no waivers yet\n", encoding="utf-8")
    history = base / "history.sqlite"
    nights: dict[int, dict[str, Any]] = {}
    for day in range(1, 31):
        if day == WAIVED:
            waivers.write_text(waiver(f"2026-11-{WAIVER_EXPIRES}"), encoding="utf-8")
        if day == RENEWED:
            waivers.write_text(waiver("2026-12-31"), encoding="utf-8")
        out = base / f"night-{day:02d}"
        code = run(
            RunRequest(
                vendors=["kudo"],
                root=ROOT,
                targets_file=ROOT / "targets.toml",
                out=out,
                profile=DEVIATION if INTRODUCED <= day < FIXED else None,
                max_examples=5,
                history=history,
                waivers=waivers,
                clock=lambda day=day: night(day),
            )
        )
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        nights[day] = {"code": code, "summary": summary, "kudo": summary["vendors"]["kudo"]}
    return {"nights": nights, "history": history, "base": base}


def finding(entry: dict[str, Any]) -> dict[str, Any] | None:
    return next((v for v in entry["violations"] if v.get("id") == FINDING), None)


def test_exit_codes_follow_the_finding_and_its_waiver(month: dict[str, Any]) -> None:
    codes = {day: n["code"] for day, n in month["nights"].items()}
    expected = {day: 1 if (INTRODUCED <= day < WAIVED or WAIVER_EXPIRES < day < RENEWED) else 0 for day in range(1, 31)}
    assert codes == expected
    assert all(n["summary"]["exit_code"] == n["code"] for n in month["nights"].values())


def test_the_finding_is_new_then_open_until_fixed(month: dict[str, Any]) -> None:
    nights = month["nights"]
    for day in range(1, INTRODUCED):
        assert nights[day]["kudo"]["violations"] == []
    for day in range(INTRODUCED, FIXED):
        seen = finding(nights[day]["kudo"])
        assert seen is not None, f"day {day}"
        assert seen["state"] == ("new" if day == INTRODUCED else "open"), f"day {day}"
        assert seen["runs_seen"] == day - INTRODUCED + 1
        assert seen["first_seen"] == night(INTRODUCED).isoformat(timespec="seconds")
        assert seen["flapping"] is False
    for day in range(FIXED, 31):
        assert finding(nights[day]["kudo"]) is None


def test_the_fix_is_reported_resolved_once(month: dict[str, Any]) -> None:
    nights = month["nights"]
    (resolved,) = nights[FIXED]["kudo"]["resolved"]
    assert resolved["id"] == FINDING and resolved["state"] == "resolved"
    assert resolved["first_seen"] == night(INTRODUCED).isoformat(timespec="seconds")
    assert resolved["last_seen"] == night(FIXED - 1).isoformat(timespec="seconds")
    assert resolved["runs_seen"] == FIXED - INTRODUCED
    assert all(nights[day]["kudo"]["resolved"] == [] for day in range(1, 31) if day != FIXED)
    trend = nights[30]["summary"]["history"]["trend"]
    assert len(trend) == 14 and trend[-1]["started"] == night(30).isoformat(timespec="seconds")
    assert [t["resolved"] for t in nights[FIXED]["summary"]["history"]["trend"]][-1] == 1


def test_the_waiver_waives_then_expires_saying_so_then_goes_stale(month: dict[str, Any]) -> None:
    nights = month["nights"]
    for day in range(INTRODUCED, WAIVED):
        assert "waiver" not in finding(nights[day]["kudo"])
    for day in [*range(WAIVED, WAIVER_EXPIRES + 1), *range(RENEWED, FIXED)]:
        seen = finding(nights[day]["kudo"])
        assert seen["waiver"]["expired"] is False and seen["waiver"]["ticket"].endswith("KUDO-42"), f"day {day}"
        assert nights[day]["kudo"]["status"] == "ok" and nights[day]["kudo"]["waived"] == 1
    for day in range(WAIVER_EXPIRES + 1, RENEWED):
        entry = nights[day]["kudo"]
        assert finding(entry)["waiver"]["expired"] is True
        assert entry["status"] == "violations"
        assert [w["expires"] for w in nights[day]["summary"]["waivers"]["expired"]] == ["2026-11-14"]
        assert any("expired on 2026-11-14" in note for note in entry["notes"])
    for day in range(FIXED, 31):
        stale = nights[day]["summary"]["waivers"]["stale"]
        assert [w["check"] for w in stale] == ["kudo.generate.fresh_token"], f"day {day}"
    assert all(nights[day]["summary"]["waivers"]["stale"] == [] for day in range(WAIVED, FIXED))


def test_the_month_is_queryable_quickly(month: dict[str, Any]) -> None:
    store = History(month["history"])
    try:
        began = time.perf_counter()
        runs = store.runs(target="sim")
        (timeline,) = store.findings(target="sim", vendor="kudo")
        took = time.perf_counter() - began
    finally:
        store.close()
    assert len(runs) == 30 and [r["exit_code"] for r in runs] == [n["code"] for n in month["nights"].values()]
    assert timeline["runs_seen"] == FIXED - INTRODUCED and timeline["state"] == "resolved"
    assert timeline["runs_waived"] == (WAIVER_EXPIRES - WAIVED + 1) + (FIXED - RENEWED)
    assert took < 1.0, f"the history query took {took:.3f} s"


def test_the_history_command_prints_the_timeline(month: dict[str, Any]) -> None:
    history = str(month["history"])
    result = run_authcanary(["history", "--history", history, "--vendor", "kudo", "--since", "2026-11-10", "--json"])
    assert result.code == 0, result.output
    printed = json.loads(result.output)
    assert len(printed["runs"]) == 21
    (timeline,) = printed["findings"]
    assert timeline["id"] == FINDING and timeline["first_seen"].startswith("2026-11-10")  # --since cuts the timeline
    table = run_authcanary(["history", "--history", history], env=None)
    assert table.code == 0 and "resolved" in table.output and "findings (1)" in table.output

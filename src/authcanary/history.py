"""Findings over time (docs/interfaces.md "History"): every run of a target records its findings in a SQLite file
(default `reports/history.sqlite`), and each finding of a run is then `new`, `open` (first seen, runs seen) or, when
a finding of the previous run of that target is gone, `resolved`.

One file serves any number of targets and concurrent runs: a run records itself in one `BEGIN IMMEDIATE`
transaction (SQLite serialises writers; WAL lets readers go on). A file that is not a readable history is never
overwritten: it is set aside next to itself, a new history is started, and the run says so.

Only what identifies a finding is stored (its id, kind, severity, endpoint and title; for a violation its check id
and the tests that saw it): never an observed value, a repro or a note, so the file holds nothing a vendor sent and
nothing secret.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authcanary.drift import step_endpoint
from authcanary.findings import each_finding, finding_id
from authcanary.waivers import waived

__all__ = ["History", "HistoryError", "HistoryCorrupt", "open_history", "TREND_RUNS", "FLAP_WINDOW"]

SCHEMA_VERSION = "1"
#: what `History.record` adds to each finding of a summary
ANNOTATIONS = ("id", "state", "first_seen", "runs_seen", "flapping")
#: runs of a target in a report's trend strip (this one included)
TREND_RUNS = 14
#: a finding that was resolved and came back within this many runs of its vendor is `flapping`
FLAP_WINDOW = 10
#: vendor statuses of a run in which nothing about the vendor was observed: they neither open nor resolve findings
UNOBSERVED_STATUSES = ("skipped", "unreachable")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    exit_code INTEGER,
    run_dir TEXT,
    findings INTEGER NOT NULL DEFAULT 0,
    new INTEGER NOT NULL DEFAULT 0,
    resolved INTEGER NOT NULL DEFAULT 0,
    waived INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_by_target ON runs (target, started, id);
-- the vendors a run observed, and which kinds of finding it could see (drift needs a baseline)
CREATE TABLE IF NOT EXISTS observed (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    vendor TEXT NOT NULL,
    status TEXT NOT NULL,
    kinds TEXT NOT NULL,
    PRIMARY KEY (run_id, vendor)
);
CREATE TABLE IF NOT EXISTS findings (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    vendor TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    title TEXT NOT NULL,
    waived INTEGER NOT NULL,
    -- a violation's check id and the tests that saw it (JSON): whether a later run checked it again
    ref TEXT NOT NULL DEFAULT '',
    tests TEXT NOT NULL DEFAULT '[]',
    -- 1: carried over by a run whose tests for it did not pass (not re-checked), not seen by it
    unchecked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, vendor, id)
);
CREATE INDEX IF NOT EXISTS findings_by_id ON findings (vendor, id);
"""


class HistoryError(Exception):
    """The history file cannot be used now (locked past the timeout, read-only, cannot be opened)."""


class HistoryCorrupt(HistoryError):
    """The file is not a usable history (not a database, not ours, damaged): it is set aside, never overwritten."""


@dataclass(frozen=True)
class _Run:
    id: int
    started: str
    #: the kinds of finding the run could observe for the vendor (drift needs a baseline)
    kinds: frozenset[str] = frozenset()


def _title(kind: str, entry: dict[str, Any]) -> str:
    if kind == "violation":
        return str(entry.get("check", ""))
    if kind == "drift":
        return f"{entry.get('kind', '')} {entry.get('path', '')}".strip()
    if kind == "deprecation":
        return f"deprecated: {entry.get('endpoint', '')}"
    return f"outage: {entry.get('endpoint', '')} {entry.get('status', '')}".strip()


def _endpoint(kind: str, entry: dict[str, Any]) -> str:
    if kind == "drift":
        return step_endpoint(str(entry.get("key", "")))
    return str(entry.get("endpoint", ""))


def _public(gone: dict[str, Any]) -> dict[str, Any]:
    """A gone finding as summary.json shows it (without what only the history needs)."""
    return {key: value for key, value in gone.items() if key not in ("check_id", "tests")}


def _kinds_observed(entry: dict[str, Any]) -> set[str]:
    kinds = {"violation", "deprecation", "outage"}
    if entry.get("drift_checked"):
        kinds.add("drift")
    return kinds


class History:
    """An open history file. Use `open_history`, which sets a damaged file aside."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        """Open (or, unless `readonly`, create) the history at `path`. `readonly` changes nothing in the file, ever
        (for `authcanary history`): a file that is not a usable history is a HistoryCorrupt to report, not to mend."""
        self.path = path
        try:
            if readonly:
                self._db = sqlite3.connect(
                    f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60, isolation_level=None
                )
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(str(exc)) from None
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA busy_timeout = 60000")
            # look before writing anything: a file that is not ours is set aside exactly as it was
            check = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise HistoryCorrupt(f"damaged ({check})")
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "meta" not in tables:
                raise HistoryCorrupt(f"not an authcanary history (tables: {', '.join(sorted(tables))})")
            if readonly:
                if "meta" not in tables:
                    raise HistoryCorrupt("an empty database, not an authcanary history")
                self._check_version()
                return
            self._db.execute("PRAGMA journal_mode = WAL")
            with self._transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            self._check_version()
        except sqlite3.OperationalError as exc:  # locked, read-only: the file may be fine
            self._db.close()
            raise HistoryError(str(exc)) from None
        except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
            self._db.close()
            raise HistoryCorrupt(str(exc)) from None
        except HistoryError:
            self._db.close()
            raise

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            raise HistoryCorrupt("no schema version: not an authcanary history")
        if row[0] != SCHEMA_VERSION:
            raise HistoryError(f"history schema {row[0]} is not {SCHEMA_VERSION}: written by another authcanary")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")  # one writer at a time, across processes
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def amend_exit_code(self, target: str, started: str, run_dir: str, exit_code: int) -> None:
        """The exit code of a recorded run changed after it was recorded (its folder held a secret: exit 2). A run is
        named by its folder too: two runs of a target may start in the same second."""
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET exit_code = ? WHERE target = ? AND started = ? AND run_dir = ?",
                (exit_code, target, started, run_dir),
            )

    # -- recording a run --------------------------------------------------------------------------------------
    def record(self, summary: dict[str, Any], run_dir: str = "") -> None:
        """Record a finished run's summary and annotate it in place: each finding's `id`, `state` (`new`|`open`),
        `first_seen`, `runs_seen` and `flapping`; per vendor `resolved` (findings of the previous observed run of that
        target that this run no longer has); top-level `history` (path, previous run, trend)."""
        target, started = summary["target"], summary["started"]
        with self._transaction():
            previous = self._previous_run(target, started)
            counts = {"findings": 0, "new": 0, "resolved": 0, "waived": 0}
            rows: list[tuple[Any, ...]] = []
            observed: list[tuple[str, str, str]] = []
            for vendor, entry in summary["vendors"].items():
                if entry.get("status") in UNOBSERVED_STATUSES:
                    continue
                kinds = _kinds_observed(entry)
                observed.append((vendor, entry["status"], ",".join(sorted(kinds))))
                earlier = self._observed_runs(target, vendor, started)
                seen_now: set[str] = set()
                for kind, finding in each_finding(entry):
                    fid = finding_id(kind, finding)
                    if fid in seen_now:
                        continue
                    seen_now.add(fid)
                    self._annotate(finding, kind, target, vendor, started, earlier)
                    is_waived = waived(finding)
                    counts["findings"] += 1
                    counts["new"] += finding["state"] == "new"
                    counts["waived"] += is_waived
                    rows.append(
                        (
                            vendor,
                            fid,
                            kind,
                            finding.get("severity", "info"),
                            _endpoint(kind, finding),
                            _title(kind, finding),
                            int(is_waived),
                            str(finding.get("check_id", "")) if kind == "violation" else "",
                            json.dumps(sorted(finding.get("tests", []))) if kind == "violation" else "[]",
                            0,
                        )
                    )
                gone = self._gone(target, vendor, kinds, seen_now, earlier)
                not_passed = set(entry.get("not_passed", []))
                # a violation none of whose tests passed this time (they failed on something else, or were skipped)
                # was not checked again: it stays open, carried over, rather than being called resolved
                unchecked = [
                    g for g in gone if g["kind"] == "violation" and g["tests"] and set(g["tests"]) <= not_passed
                ]
                entry["resolved"] = [_public(g) for g in gone if g not in unchecked]
                if unchecked:
                    rows += [
                        (vendor, g["id"], g["kind"], g["severity"], g["endpoint"], g["title"], 0, g["check_id"],
                         json.dumps(g["tests"]), 1)
                        for g in unchecked
                    ]  # fmt: skip
                    entry["unchecked"] = [
                        {
                            **_public(g),
                            "check_id": g["check_id"],
                            "state": "open",
                            "note": "not checked again: its tests did not pass this time",
                        }  # fmt: skip
                        for g in unchecked
                    ]
                counts["resolved"] += len(entry["resolved"])
            cursor = self._db.execute(
                "INSERT INTO runs (target, started, finished, exit_code, run_dir, findings, new, resolved, waived) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (target, started, summary.get("finished"), summary.get("exit_code"), run_dir, *counts.values()),
            )
            run_id = cursor.lastrowid
            self._db.executemany("INSERT INTO observed VALUES (?, ?, ?, ?)", [(run_id, *o) for o in observed])
            self._db.executemany(
                "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [(run_id, *r) for r in rows]
            )
            summary["history"] = {
                "path": str(self.path),
                "previous_run": previous.started if previous else None,
                "trend": self.trend(target, TREND_RUNS),
            }

    def _previous_run(self, target: str, started: str) -> _Run | None:
        row = self._db.execute(
            "SELECT id, started FROM runs WHERE target = ? AND started <= ? ORDER BY started DESC, id DESC LIMIT 1",
            (target, started),
        ).fetchone()
        return _Run(row["id"], row["started"]) if row else None

    def _observed_runs(self, target: str, vendor: str, started: str) -> list[_Run]:
        """The latest earlier runs of `target` that observed `vendor`, latest first: enough of them for the flapping
        window of every kind (a run without a baseline did not observe drift)."""
        rows = self._db.execute(
            "SELECT runs.id, runs.started, observed.kinds FROM runs JOIN observed ON observed.run_id = runs.id "
            "WHERE runs.target = ? AND observed.vendor = ? AND runs.started <= ? "
            "ORDER BY runs.started DESC, runs.id DESC LIMIT ?",
            (target, vendor, started, 4 * FLAP_WINDOW),
        ).fetchall()
        return [_Run(row["id"], row["started"], frozenset(row["kinds"].split(","))) for row in rows]

    def _annotate(
        self, finding: dict[str, Any], kind: str, target: str, vendor: str, started: str, earlier: list[_Run]
    ) -> None:
        fid = finding_id(kind, finding)
        rows = self._db.execute(
            "SELECT runs.id, runs.started, findings.unchecked FROM findings JOIN runs ON runs.id = findings.run_id "
            "WHERE findings.vendor = ? AND findings.id = ? AND runs.target = ? AND runs.started <= ?",
            (vendor, fid, target, started),
        ).fetchall()
        seen_in = {row["id"]: row["started"] for row in rows}  # carried-over (unchecked) runs count as present
        earlier = [run for run in earlier if kind in run.kinds][: FLAP_WINDOW - 1]
        finding["id"] = fid
        finding["state"] = "open" if earlier and earlier[0].id in seen_in else "new"
        finding["first_seen"] = min([*seen_in.values(), started])
        finding["runs_seen"] = sum(1 for row in rows if not row["unchecked"]) + 1
        # the window's runs, latest first, this one included: present, absent, ..., present means it came back
        window = [True, *(run.id in seen_in for run in earlier)]
        changes = sum(1 for newer, older in zip(window, window[1:], strict=False) if newer != older)
        finding["flapping"] = changes >= 2

    def _gone(
        self, target: str, vendor: str, kinds: set[str], seen_now: set[str], earlier: list[_Run]
    ) -> list[dict[str, Any]]:
        """The findings of each kind this run observed that the previous run observing that kind had, and this one
        has not: resolved, unless (`record`) the tests that saw a violation did not pass this time."""
        gone = []
        for kind in sorted(kinds):
            last = next((run for run in earlier if kind in run.kinds), None)
            if last is None:
                continue
            for row in self._db.execute(
                "SELECT id, kind, severity, endpoint, title, ref, tests FROM findings "
                "WHERE run_id = ? AND vendor = ? AND kind = ? ORDER BY id",
                (last.id, vendor, kind),
            ):
                if row["id"] in seen_now:
                    continue
                first, runs = self._db.execute(
                    "SELECT MIN(runs.started), SUM(1 - findings.unchecked) FROM findings "
                    "JOIN runs ON runs.id = findings.run_id "
                    "WHERE findings.vendor = ? AND findings.id = ? AND runs.target = ?",
                    (vendor, row["id"], target),
                ).fetchone()
                tests = json.loads(row["tests"] or "[]")
                gone.append(
                    {
                        "id": row["id"],
                        "kind": row["kind"],
                        "severity": row["severity"],
                        "title": row["title"],
                        "endpoint": row["endpoint"],
                        "first_seen": first,
                        "last_seen": last.started,
                        "runs_seen": runs,
                        "state": "resolved",
                        "check_id": row["ref"],
                        "tests": tests,
                    }
                )
        return gone

    # -- reading ----------------------------------------------------------------------------------------------
    def trend(self, target: str, limit: int = TREND_RUNS) -> list[dict[str, Any]]:
        """The last `limit` runs of `target`, oldest first."""
        rows = self._db.execute(
            "SELECT started, exit_code, findings, new, resolved, waived FROM runs WHERE target = ? "
            "ORDER BY started DESC, id DESC LIMIT ?",
            (target, limit),
        ).fetchall()
        return [dict(row) for row in reversed(rows)]

    def runs(self, target: str | None = None, since: str | None = None) -> list[dict[str, Any]]:
        """Every run (of `target`, started on or after `since`), oldest first, with the vendors it observed."""
        where, params = _filters(target, since)
        runs = [
            dict(row)
            for row in self._db.execute(
                "SELECT id, target, started, finished, exit_code, run_dir, findings, new, resolved, waived "
                f"FROM runs{where} ORDER BY started, id",
                params,
            )
        ]
        vendors: dict[int, list[str]] = {}
        for row in self._db.execute("SELECT run_id, vendor FROM observed ORDER BY vendor"):
            vendors.setdefault(row["run_id"], []).append(row["vendor"])
        for run in runs:
            run["vendors"] = vendors.get(run.pop("id"), [])
        return runs

    def findings(
        self, target: str | None = None, vendor: str | None = None, since: str | None = None
    ) -> list[dict[str, Any]]:
        """Each finding's timeline per target and vendor, in order of first appearance: first and last seen, runs
        seen (and waived), its latest severity, and its state now (`open` if the latest run of that target that
        observed the vendor has it, else `resolved`)."""
        where, params = _filters(target, since)
        if vendor:
            where += (" AND" if where else " WHERE") + " findings.vendor = ?"
            params += (vendor,)
        timelines: dict[tuple[str, str, str], dict[str, Any]] = {}
        for row in self._db.execute(
            "SELECT runs.target, runs.started, findings.vendor, findings.id, findings.kind, findings.severity, "
            f"findings.endpoint, findings.title, findings.waived, findings.unchecked FROM findings "
            "JOIN runs ON runs.id = findings.run_id"
            f"{where} ORDER BY runs.started, runs.id",
            params,
        ):
            key = (row["target"], row["vendor"], row["id"])
            timeline = timelines.get(key)
            if timeline is None:
                timeline = timelines[key] = {
                    "target": row["target"],
                    "vendor": row["vendor"],
                    "id": row["id"],
                    "kind": row["kind"],
                    "endpoint": row["endpoint"],
                    "title": row["title"],
                    "first_seen": row["started"],
                    "runs_seen": 0,
                    "runs_waived": 0,
                }
            timeline.update(severity=row["severity"], last_seen=row["started"])
            timeline["runs_seen"] += 1 - row["unchecked"]
            timeline["runs_waived"] += row["waived"]
        latest = {
            (row["target"], row["vendor"]): row["started"]
            for row in self._db.execute(
                "SELECT runs.target, observed.vendor, MAX(runs.started) AS started FROM runs "
                "JOIN observed ON observed.run_id = runs.id GROUP BY runs.target, observed.vendor"
            )
        }
        for timeline in timelines.values():
            is_open = latest.get((timeline["target"], timeline["vendor"])) == timeline["last_seen"]
            timeline["state"] = "open" if is_open else "resolved"
        return list(timelines.values())


def _filters(target: str | None, since: str | None) -> tuple[str, tuple[str, ...]]:
    clauses, params = [], []
    if target:
        clauses.append("runs.target = ?")
        params.append(target)
    if since:
        clauses.append("runs.started >= ?")
        params.append(since)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def open_history(path: Path, now: dt.datetime | None = None) -> tuple[History, str | None]:
    """Open (or start) the history at `path`; a file that cannot be used is renamed to
    `<name>.corrupt-<UTC time>` (never deleted) and a new one started. Returns the history and, if a file was set
    aside, the note saying so."""
    try:
        return History(path), None
    except HistoryCorrupt as exc:
        stamp = f"{(now or dt.datetime.now(dt.UTC)):%Y%m%dT%H%M%SZ}"
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        path.rename(aside)
        for suffix in ("-wal", "-shm"):
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                companion.rename(aside.with_name(aside.name + suffix))
        note = f"{path} could not be read ({exc}): set aside as {aside.name}; a new history was started"
        return History(path), note

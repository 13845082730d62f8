"""`authcanary baseline accept`: the only writer of the baseline folder."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from authcanary import __version__
from authcanary.errors import ConfigError
from authcanary.recording.cassette import CassetteError, load_cassette, scenario_name
from authcanary.recording.scan import scan_paths
from authcanary.simulators.framework import DOCUMENTED
from authcanary.summary import EXIT_CONFIG, exit_code, interrupted, read_json, read_summary, vendor_entry


@dataclass(frozen=True)
class Accepted:
    """One vendor's new baseline, and the baseline cassettes kept for scenarios the run did not observe."""

    vendor: str
    kept: tuple[str, ...] = ()


def recordings_manifest(run_dir: Path) -> dict[str, dict[str, str]]:
    """Every file under `run_dir/cassettes/<vendor>/` (path relative to the vendor folder) and its "sha256:<hex>", per
    vendor: the `recordings` a run lists in summary.json, so `accept` takes exactly the cassettes the run wrote."""
    recorded = run_dir / "cassettes"
    if not recorded.is_dir():
        return {}
    return {
        folder.name: {
            name: _digest(path)
            for name, path in _vendor_files(folder).items()
            if path.is_file() and not path.is_symlink()
        }
        for folder in sorted(recorded.iterdir())
        if folder.is_dir()
    }


def accept(run_dir: Path, baseline: Path, only: list[str] | None = None) -> list[Accepted]:
    """Replace `baseline/<vendor>` by `run_dir/cassettes/<vendor>` for each vendor recorded in the run.

    Only a finished, uninterrupted run of the documented behaviour is accepted (it has summary.json: a killed run's
    recordings are incomplete; a simulator deviation profile is not the vendor), and only as the run left it: its
    summary.json, drift.json and cassettes must agree (see `_check_consistent`). Scenarios the run skipped (a live
    target's budget, simulator-only checks) keep their baseline cassettes. Every cassette is loaded and scanned for
    secrets first; any problem leaves the baseline untouched. Each vendor folder is swapped whole (see `_replace`),
    so a crash never leaves a half-written baseline folder."""
    recorded = run_dir / "cassettes"
    if run_dir.is_dir() and not (run_dir / "summary.json").is_file():
        raise ConfigError(
            f"{run_dir}: no summary.json, so the run did not finish (killed or crashed) and its "
            "recordings may be incomplete.",
            "Accept the folder of a finished `authcanary run`; the baseline was not changed.",
        )
    folders = sorted(p.name for p in recorded.iterdir() if p.is_dir()) if recorded.is_dir() else []
    if not folders:
        raise ConfigError(f"{recorded}: no recorded cassettes.", "Pass the folder of a finished `authcanary run`.")
    summary = _finished_run(run_dir)
    recordings, entries = _check_consistent(run_dir, summary, folders), summary["vendors"]
    vendors = sorted(set(folders) | {vendor for vendor, listed in recordings.items() if listed})
    if only:
        if missing := sorted(set(only) - set(vendors)):
            raise ConfigError(
                f"{recorded}: nothing recorded for {', '.join(missing)}.", f"Choose among: {', '.join(vendors)}."
            )
        vendors = sorted(set(only))
    _check_recordings(recorded, {vendor: recordings.get(vendor, {}) for vendor in vendors})
    statuses = {vendor: entry.get("status", "") for vendor, entry in entries.items()}
    if partial := [v for v in vendors if statuses.get(v) in _INCOMPLETE]:
        raise ConfigError(
            f"{run_dir}: {', '.join(f'{v} was {statuses[v]}' for v in partial)} in that run, so its "
            "recordings are incomplete.",
            "Accept the other vendors with --vendor, or re-run; the baseline was not changed.",
        )
    deviating = {
        v: entries[v]["simulator_profile"]
        for v in vendors
        if entries.get(v, {}).get("simulator_profile", DOCUMENTED) != DOCUMENTED
    }
    if deviating:
        raise ConfigError(
            f"{run_dir}: recorded from simulator profile(s) "
            f"{', '.join(f'{v}: {p}' for v, p in sorted(deviating.items()))}, not the documented "
            "behaviour.",
            "Accept a run of the vendor or of the documented simulator; the baseline was not changed.",
        )
    for path in sorted(p for vendor in vendors for p in (recorded / vendor).rglob("*.yaml")):
        try:
            load_cassette(path)
        except CassetteError as exc:
            raise ConfigError(f"{exc}.", "Re-run; the baseline was not changed.") from None
    hits = scan_paths([recorded / vendor for vendor in vendors])
    if hits:
        raise ConfigError(
            f"{hits[0].file}:{hits[0].line}: looks like a secret ({hits[0].kind}).",
            "Do not accept this run; the baseline was not changed.",
        )
    baseline.mkdir(parents=True, exist_ok=True)
    accepted = []
    for vendor in vendors:
        kept = _unobserved_in_baseline(baseline / vendor, entries.get(vendor, {}).get("unobserved", []))
        _replace(baseline, vendor, recorded / vendor, kept)
        accepted.append(Accepted(vendor, tuple(path.stem for path in kept)))
    return accepted


_INCOMPLETE = ("unreachable", "skipped")
_UNREADABLE_FIX = "Accept the folder of a finished `authcanary run`; the baseline was not changed."
#: what to do about a run folder that no longer agrees with itself (edited, or written into, after the run)
_TAMPERED_FIX = "Accept the run folder as the run left it, or re-run and accept that run; the baseline was not changed."


def _unobserved_in_baseline(folder: Path, unobserved: list[str]) -> list[Path]:
    """The baseline cassettes of scenarios (`<vendor>/<module>.<test>`) the run skipped, wholly or in part."""
    return sorted(path for scenario in unobserved if (path := folder / f"{scenario.partition('/')[2]}.yaml").is_file())


def _finished_run(run_dir: Path) -> dict[str, Any]:
    """The run's summary.json, once it shows a finished run of this version that did not end in exit 2."""
    path = run_dir / "summary.json"
    summary = read_summary(path, _UNREADABLE_FIX)
    entries = summary["vendors"]
    if interrupted(summary):
        raise ConfigError(
            f"{run_dir}: that run was interrupted (it did not finish), and interrupted runs are never "
            "a baseline: their recordings are partial.",
            "Re-run to the end and accept that run; the baseline was not changed.",
        )
    if summary.get("exit_code") == EXIT_CONFIG:
        raise ConfigError(
            f"{run_dir}: that run ended with exit 2 (a configuration error, or secrets found in its "
            "output), so its recordings are not trusted.",
            "Fix the cause and re-run; the baseline was not changed.",
        )
    if not any("recordings" in entry for entry in entries.values()):
        raise ConfigError(
            f"{path}: no `recordings` (the cassettes the run wrote, with their hashes): the run was "
            "made by an older authcanary, so its cassettes cannot be checked.",
            f"Re-run with this version (authcanary {__version__}) and accept that run; the baseline was not changed.",
        )
    return summary


def _status_mismatch(entries: dict[str, dict]) -> str:
    """The first vendor whose status is not what its checks, violations, error and drift make it, said as much."""
    for vendor, entry in sorted(entries.items()):
        try:
            status = vendor_entry({**entry, "unreachable": entry.get("error")}, entry["drift"], [])["status"]
        except (KeyError, TypeError, AttributeError) as exc:
            return f"{vendor}'s entry is incomplete ({type(exc).__name__}: {exc})"
        if status != entry.get("status"):
            return (
                f"{vendor} has status {entry.get('status')!r}, but its checks, violations and drift make it {status!r}"
            )
    return ""


def _check_consistent(run_dir: Path, summary: dict[str, Any], folders: list[str]) -> dict[str, dict[str, str]]:
    """Refuse a run folder whose cassette folders, drift.json and summary.json disagree; return each vendor's
    listed `recordings` (file name -> "sha256:<hex>")."""
    path, entries = run_dir / "summary.json", summary["vendors"]
    if unlisted := [vendor for vendor in folders if vendor not in entries]:
        raise ConfigError(
            f"{path}: no entry for {', '.join(unlisted)}, whose cassettes are in {run_dir / 'cassettes'}.",
            _TAMPERED_FIX,
        )
    if (status := _status_mismatch(entries)) or (code := exit_code(entries)) != summary.get("exit_code"):
        raise ConfigError(
            f"{path}: inconsistent: "
            + (status or f"exit_code {summary.get('exit_code')!r}, but the vendors' statuses make it {code}")
            + ".",
            _TAMPERED_FIX,
        )
    _check_drift_json(run_dir / "drift.json", entries)
    if missing := [name for name in ("report.html", "report.md", "junit.xml") if not (run_dir / name).is_file()]:
        raise ConfigError(
            f"{run_dir}: no {', '.join(missing)}: the run did not finish writing its outputs.",
            "Accept the folder of a finished `authcanary run`; the baseline was not changed.",
        )
    _check_unobserved(run_dir / "junit.xml", entries)
    recordings = {vendor: entry.get("recordings", {}) for vendor, entry in entries.items()}
    if bad := [vendor for vendor, listed in recordings.items() if not isinstance(listed, dict)]:
        raise ConfigError(f"{path}: the recordings of {', '.join(bad)} are not a list of file hashes.", _TAMPERED_FIX)
    return recordings


def _check_unobserved(junit: Path, entries: dict[str, dict]) -> None:
    """A scenario listed as unobserved (its baseline cassette is kept) was skipped in junit.xml, or lost
    interactions to an outage (`outage_scenarios`): an edited list would keep or drop baseline scenarios."""
    try:
        cases = ElementTree.parse(junit).getroot().iter("testcase")
    except (ElementTree.ParseError, OSError) as exc:
        raise ConfigError(f"{junit}: unreadable ({exc}).", _TAMPERED_FIX) from None
    skipped = {
        scenario_name(case.get("classname", "").rpartition(".")[2], case.get("name", ""))
        for case in cases
        if case.find("skipped") is not None
    }
    for vendor, entry in entries.items():
        explained = {s.partition("/")[2] for s in entry.get("outage_scenarios", [])} | skipped
        if stray := sorted(s for s in entry.get("unobserved", []) if s.partition("/")[2] not in explained):
            raise ConfigError(
                f"{junit.parent / 'summary.json'}: {vendor} lists as unobserved {', '.join(stray)}, "
                "which junit.xml shows as run.",
                _TAMPERED_FIX,
            )


def _check_drift_json(path: Path, entries: dict[str, dict]) -> None:
    """drift.json, when the run wrote one, holds the drift findings summary.json has for each vendor."""
    if not path.is_file():
        return
    document = read_json(path, _UNREADABLE_FIX)
    drift = document.get("vendors") if isinstance(document, dict) else None
    if not isinstance(drift, dict) or not all(isinstance(vendor, dict) for vendor in drift.values()):
        raise ConfigError(f"{path}: unreadable (no vendors).", _TAMPERED_FIX)
    if differ := sorted(
        vendor
        for vendor in entries.keys() | drift.keys()
        if entries.get(vendor, {}).get("drift", []) != drift.get(vendor, {}).get("findings", [])
    ):
        raise ConfigError(
            f"{path}: the drift of {', '.join(differ)} differs from summary.json's "
            "(`authcanary drift --out` into a run folder replaces its drift.json).",
            _TAMPERED_FIX,
        )


def _check_recordings(recorded: Path, listed: dict[str, dict[str, str]]) -> None:
    """Each vendor folder holds exactly the files summary.json lists for it, unchanged since the run wrote them."""
    problems = []
    for vendor, files in sorted(listed.items()):
        folder = recorded / vendor
        on_disk = _vendor_files(folder) if folder.is_dir() else {}
        problems += [
            f"{folder / name}: listed in summary.json, but missing" for name in sorted(files.keys() - on_disk.keys())
        ]
        problems += [
            f"{path}: not among the recordings summary.json lists"
            for name, path in sorted(on_disk.items())
            if name not in files
        ]
        for name in sorted(files.keys() & on_disk.keys()):
            path = on_disk[name]
            if path.is_symlink() or not path.is_file():
                problems.append(f"{path}: not a regular file (a run writes only cassette files)")
            elif _digest(path) != files[name]:
                problems.append(f"{path}: changed since the run wrote it (its sha256 is not the one in summary.json)")
    if problems:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise ConfigError(
            f"{recorded.parent}: the cassettes are not those the run recorded: {'; '.join(problems[:3])}{more}.",
            _TAMPERED_FIX,
        )


def _vendor_files(folder: Path) -> dict[str, Path]:
    """Everything in a vendor folder but its subfolders (links and special files too), by path relative to it."""
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_symlink() or not path.is_dir()
    }


def _digest(path: Path) -> str:
    with path.open("rb") as stream:
        return "sha256:" + hashlib.file_digest(stream, "sha256").hexdigest()


def _replace(baseline: Path, vendor: str, source: Path, kept: list[Path]) -> None:
    """Make `baseline/<vendor>` a copy of `source` plus the `kept` cassettes of the old baseline (they win over a
    partial recording of the same scenario); readers see the old folder or the new one, never a mix.

    The copy is staged in a hidden folder (the drift engine skips dot folders) and exchanged with the old one in
    one step where the system allows it (Linux renameat2); elsewhere by two renames, undone if the second fails.
    Leftovers of an accept killed earlier are cleaned up first; a failure leaves no staging folder behind."""
    target, retired = baseline / vendor, baseline / f".{vendor}.old"
    if retired.is_dir() and not target.exists():  # killed between the two renames: the old folder is complete
        retired.rename(target)
    shutil.rmtree(retired, ignore_errors=True)
    for stale in baseline.glob(f".{vendor}.new-*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{vendor}.new-", dir=baseline))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        for cassette in kept:
            shutil.copy2(cassette, staging / cassette.name)
        if not target.exists():
            staging.rename(target)
        elif not _exchange(staging, target):
            target.rename(retired)
            try:
                staging.rename(target)
            except BaseException:
                retired.rename(target)
                raise
            shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # after an exchange it holds the old baseline


def _exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths atomically (Linux renameat2 RENAME_EXCHANGE); False where that is unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), str(second))

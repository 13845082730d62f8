"""`authcanary baseline accept`: the only writer of the baseline folder."""
from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from authcanary.errors import ConfigError
from authcanary.recording.cassette import CassetteError, load_cassette
from authcanary.recording.scan import scan_paths
from authcanary.simulators.framework import DOCUMENTED


@dataclass(frozen=True)
class Accepted:
    """One vendor's new baseline, and the baseline cassettes kept for scenarios the run did not observe."""

    vendor: str
    kept: tuple[str, ...] = ()


def accept(run_dir: Path, baseline: Path, only: list[str] | None = None) -> list[Accepted]:
    """Replace `baseline/<vendor>` by `run_dir/cassettes/<vendor>` for each vendor recorded in the run.

    Only a finished run of the documented behaviour is accepted (it has summary.json: a killed run's recordings are
    incomplete; a simulator deviation profile is not the vendor). Scenarios the run skipped (a live target's budget,
    simulator-only checks) keep their baseline cassettes. Every cassette is loaded and scanned for secrets first;
    any problem leaves the baseline untouched. Each vendor folder is swapped whole (see `_replace`), so a crash never
    leaves a half-written baseline folder."""
    recorded = run_dir / "cassettes"
    if run_dir.is_dir() and not (run_dir / "summary.json").is_file():
        raise ConfigError(f"{run_dir}: no summary.json, so the run did not finish (killed or crashed) and its "
                          "recordings may be incomplete.", "Accept the folder of a finished `authcanary run`; the "
                          "baseline was not changed.")
    vendors = sorted(p.name for p in recorded.iterdir() if p.is_dir()) if recorded.is_dir() else []
    if not vendors:
        raise ConfigError(f"{recorded}: no recorded cassettes.", "Pass the folder of a finished `authcanary run`.")
    if only:
        if missing := sorted(set(only) - set(vendors)):
            raise ConfigError(f"{recorded}: nothing recorded for {', '.join(missing)}.",
                              f"Choose among: {', '.join(vendors)}.")
        vendors = sorted(set(only))
    entries, exit_code = _vendor_entries(run_dir)
    if exit_code == 2:
        raise ConfigError(f"{run_dir}: that run ended with exit 2 (a configuration error, or secrets found in its "
                          "output), so its recordings are not trusted.", "Fix the cause and re-run; the baseline "
                          "was not changed.")
    statuses = {vendor: entry.get("status", "") for vendor, entry in entries.items()}
    if partial := [v for v in vendors if statuses.get(v) in _INCOMPLETE]:
        raise ConfigError(f"{run_dir}: {', '.join(f'{v} was {statuses[v]}' for v in partial)} in that run, so its "
                          "recordings are incomplete.", "Accept the other vendors with --vendor, or re-run; the "
                          "baseline was not changed.")
    deviating = {v: entries[v]["simulator_profile"] for v in vendors
                 if entries.get(v, {}).get("simulator_profile", DOCUMENTED) != DOCUMENTED}
    if deviating:
        raise ConfigError(f"{run_dir}: recorded from simulator profile(s) "
                          f"{', '.join(f'{v}: {p}' for v, p in sorted(deviating.items()))}, not the documented "
                          "behaviour.", "Accept a run of the vendor or of the documented simulator; the baseline "
                          "was not changed.")
    for path in sorted(p for vendor in vendors for p in (recorded / vendor).rglob("*.yaml")):
        try:
            load_cassette(path)
        except CassetteError as exc:
            raise ConfigError(f"{exc}.", "Re-run; the baseline was not changed.") from None
    hits = scan_paths([recorded / vendor for vendor in vendors])
    if hits:
        raise ConfigError(f"{hits[0].file}:{hits[0].line}: looks like a secret ({hits[0].kind}).",
                          "Do not accept this run; the baseline was not changed.")
    baseline.mkdir(parents=True, exist_ok=True)
    accepted = []
    for vendor in vendors:
        kept = _unobserved_in_baseline(baseline / vendor, entries.get(vendor, {}).get("unobserved", []))
        _replace(baseline, vendor, recorded / vendor, kept)
        accepted.append(Accepted(vendor, tuple(path.stem for path in kept)))
    return accepted


_INCOMPLETE = ("unreachable", "skipped")


def _unobserved_in_baseline(folder: Path, unobserved: list[str]) -> list[Path]:
    """The baseline cassettes of scenarios (`<vendor>/<module>.<test>`) the run skipped, wholly or in part."""
    return sorted(path for scenario in unobserved
                  if (path := folder / f"{scenario.partition('/')[2]}.yaml").is_file())


def _vendor_entries(run_dir: Path) -> tuple[dict[str, dict], object]:
    """The run's summary.json: each vendor's entry, and the run's exit code."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        return ({vendor: dict(entry) for vendor, entry in summary.get("vendors", {}).items()},
                summary.get("exit_code"))
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise ConfigError(f"{run_dir / 'summary.json'}: unreadable ({exc}).",
                          "Accept the folder of a finished `authcanary run`; the baseline was not changed.") from None


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

"""`authcanary baseline accept`: the only writer of the baseline folder."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from authcanary.errors import ConfigError
from authcanary.recording.cassette import CassetteError, load_cassette
from authcanary.recording.scan import definite, scan_paths


def accept(run_dir: Path, baseline: Path) -> list[str]:
    """Replace `baseline/<vendor>` by `run_dir/cassettes/<vendor>` for each vendor recorded in the run.

    Every cassette is loaded and scanned for secrets first; any problem leaves the baseline untouched.
    Each vendor folder is swapped by rename, so a crash never leaves a half-written baseline folder."""
    recorded = run_dir / "cassettes"
    vendors = sorted(p.name for p in recorded.iterdir() if p.is_dir()) if recorded.is_dir() else []
    if not vendors:
        raise ConfigError(f"{recorded}: no recorded cassettes.", "Pass the folder of a finished `authcanary run`.")
    for path in sorted(recorded.rglob("*.yaml")):
        try:
            load_cassette(path)
        except CassetteError as exc:
            raise ConfigError(f"{exc}.", "Re-run; the baseline was not changed.") from None
    hits = definite(scan_paths([recorded]))
    if hits:
        raise ConfigError(f"{hits[0].file}:{hits[0].line}: looks like a secret ({hits[0].kind}).",
                          "Do not accept this run; the baseline was not changed.")
    baseline.mkdir(parents=True, exist_ok=True)
    for vendor in vendors:
        staging = Path(tempfile.mkdtemp(prefix=f".{vendor}.new-", dir=baseline))
        shutil.copytree(recorded / vendor, staging, dirs_exist_ok=True)
        target = baseline / vendor
        retired = baseline / f".{vendor}.old"
        shutil.rmtree(retired, ignore_errors=True)
        if target.exists():
            target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    return vendors

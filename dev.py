#!/usr/bin/env python3
"""Bootstrap and entry point for a fresh checkout; needs only Python 3.11+.

    python3 dev.py run [authcanary run options]   # run the harness (default: embedded simulators)
    python3 dev.py test [pytest options]          # run the harness's own tests
    python3 dev.py lint                           # ruff (lint, format check) and mypy, as .ci/run does
    python3 dev.py <any authcanary command ...>   # e.g. serve, drift, scan, baseline accept

Commands run in the caller's directory, so relative paths mean what the caller sees (`run` expects the checkout
root or a folder laid out like it). `test` runs in the checkout, where pytest's configuration and tests live;
its paths are relative to the checkout (e.g. `python3 dev.py test tests/unit/test_targets.py`).

On first use (and whenever requirements.lock changes) it creates `.venv/` and installs the locked,
hash-checked dependencies plus authcanary itself in editable mode. Nothing outside the checkout is touched.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".authcanary-lock.sha256"


def _venv_bin(name: str) -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    suffix = ".exe" if os.name == "nt" else ""
    return VENV / scripts / f"{name}{suffix}"


def _lock_digest() -> str:
    digest = hashlib.sha256(LOCK.read_bytes())
    digest.update((ROOT / "pyproject.toml").read_bytes())
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create or refresh `.venv` so it matches requirements.lock exactly."""
    if sys.version_info < (3, 11):
        sys.exit(f"authcanary needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    wanted = _lock_digest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted and _venv_bin("authcanary").exists():
        return
    print("dev.py: preparing .venv from requirements.lock (first run or lock changed) ...", file=sys.stderr)
    if not _venv_bin("python").exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    python = str(_venv_bin("python"))
    quiet = ["--quiet", "--disable-pip-version-check"]
    subprocess.run([python, "-m", "pip", "install", *quiet, "--require-hashes", "-r", str(LOCK)], check=True)
    subprocess.run(
        [python, "-m", "pip", "install", *quiet, "--no-deps", "--no-build-isolation", "-e", str(ROOT)], check=True
    )
    STAMP.write_text(wanted + "\n")


def lint() -> int:
    """The house rules (pyproject.toml): ruff's lint and format check over the code, mypy over the engine."""
    python = str(_venv_bin("python"))
    for command in (["-m", "ruff", "check", "."], ["-m", "ruff", "format", "--check", "."], ["-m", "mypy"]):
        code = subprocess.call([python, *command], cwd=ROOT)
        if code:
            return code
    return 0


def main(argv: list[str]) -> int:
    ensure_environment()
    if argv[:1] == ["test"]:
        return subprocess.call([str(_venv_bin("python")), "-m", "pytest", *argv[1:]], cwd=ROOT)
    if argv[:1] == ["lint"]:
        return lint()
    return subprocess.call([str(_venv_bin("authcanary")), *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

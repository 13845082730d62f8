"""Locked npm packages for the end-to-end tests (tests/e2e/<folder>/package.json and package-lock.json), installed
with `npm ci` once per lock into a cache outside the checkout, shared by concurrent test runs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PACKAGE_FILES = ("package.json", "package-lock.json")
#: outside the checkout (a clean clone stays clean), per user
NPM_ROOT = Path(tempfile.gettempdir()) / f"authcanary-tests-npm-{os.getuid()}"
INSTALLED = ".authcanary-installed"  # written once `npm ci` succeeded


def digest(*paths: Path) -> str:
    """A short hash of the files' contents (a cache key)."""
    hashed = hashlib.sha256()
    for path in paths:
        hashed.update(path.read_bytes())
    return hashed.hexdigest()[:16]


def installed(folder: Path, npm: str) -> Path:
    """The folder holding `folder`'s locked packages in node_modules/, installed if needed; skips the test when
    npm cannot install them (no registry reachable)."""
    target = NPM_ROOT / f"{folder.name}-{digest(*(folder / name for name in PACKAGE_FILES))}"
    if not (target / INSTALLED).is_file():
        shutil.rmtree(target, ignore_errors=True)  # an install that did not finish
        _npm_ci(npm, folder, target)
    return target


def _npm_ci(npm: str, folder: Path, target: Path) -> None:
    """`npm ci` of `folder`'s lock into `target` (staged, then renamed: concurrent runs do not see half an
    install)."""
    NPM_ROOT.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=NPM_ROOT))
    where = f"tests/e2e/{folder.name}"
    try:
        for name in PACKAGE_FILES:
            shutil.copyfile(folder / name, staging / name)
        command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
        try:
            done = subprocess.run(command, cwd=staging, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            pytest.skip(f"`npm ci` of {where} took over 300 s (no npm registry reachable?)")
        if done.returncode != 0:
            head = " | ".join((done.stderr or done.stdout).strip().splitlines()[:4])  # npm's error code and reason
            pytest.skip(f"`npm ci` of {where} failed (no npm registry reachable?): {head}")
        (staging / INSTALLED).write_text("ok\n", encoding="utf-8")
        try:
            staging.rename(target)
        except OSError:
            if not (target / INSTALLED).is_file():  # not another run's install
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)

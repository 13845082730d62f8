"""Fixtures and helpers shared by the harness's own tests.

- `free_port()`: a TCP port nobody listens on right now (loopback).
- `served_simulator(vendor, profile, prefix="")`: a factory fixture starting `authcanary serve` as a subprocess on a
  free loopback port; it waits for `/__authcanary__/info` and terminates the server after the test.
- `run_authcanary(args, out=...)`: the console script in a subprocess -> (exit code, summary.json or None, output).
- `write_loop_targets(path, base_url, ...)`: a targets file whose target `loop` points at a served simulator.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from authcanary.simulators.autodesk import AutodeskSimulator

ROOT = Path(__file__).resolve().parents[1]
#: the console script installed next to the interpreter running the tests (the project's venv)
AUTHCANARY = Path(sys.executable).with_name("authcanary")
CONTROL_INFO = "/__authcanary__/info"
#: examples per property test in the harness's own end-to-end runs: enough to find each deviation, and fast
FAST_EXAMPLES = "15"


def free_port() -> int:
    """A port free on 127.0.0.1 at the time of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    return free_port()


# -- authcanary serve ---------------------------------------------------------------------------------------------
@dataclass
class Served:
    """One `authcanary serve` subprocess."""

    vendor: str
    profile: str
    prefix: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """Root URL plus the path prefix (one vendor lives here; with `--vendor all` see `vendor_url`)."""
        prefix = "/" + self.prefix.strip("/") if self.prefix.strip("/") else ""
        return f"{self.root_url}{prefix}"

    def vendor_url(self, vendor: str) -> str:
        return f"{self.base_url}/{vendor}" if self.vendor == "all" else self.base_url

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def requests_logged(self) -> int:
        """Requests the server's access log shows (control-plane calls are not logged)."""
        return sum(1 for line in self.output().splitlines() if " -> " in line and "(" in line)


def _info_url(vendor: str, prefix: str, port: int) -> str:
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    mount = "/autodesk" if vendor == "all" else ""  # with --vendor all each vendor has its own control plane
    return f"http://127.0.0.1:{port}{prefix}{mount}{CONTROL_INFO}"


@contextmanager
def serve_simulator(
    vendor: str = "autodesk",
    profile: str = "documented",
    prefix: str = "",
    *,
    log_dir: Path,
    options: tuple[str, ...] = (),
    timeout: float = 30.0,
) -> Iterator[Served]:
    """Start `authcanary serve` on a free loopback port, wait until it answers, stop it afterwards."""
    last_error = ""
    for _attempt in range(3):  # a free port can be taken between free_port() and the bind: retry on a new one
        port = free_port()
        log = log_dir / f"serve-{vendor}-{profile.replace(',', '+')}-{port}.log"
        args = [
            str(AUTHCANARY),
            "serve",
            "--vendor",
            vendor,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--profile",
            profile,
        ]
        if prefix:
            args += ["--prefix", prefix]
        for option in options:
            args += ["--option", option]
        with log.open("wb") as sink:
            process = subprocess.Popen(
                args, stdout=sink, stderr=subprocess.STDOUT, cwd=log_dir, env=cli_env(COLUMNS="240")
            )  # one access-log line per request
        served = Served(vendor, profile, prefix, port, process, log)
        try:
            if _wait_until_up(served, timeout):
                yield served
                return
            last_error = served.output()
            if "address already in use" not in last_error.lower():
                break
        finally:
            _stop(process)
    pytest.fail(
        f"authcanary serve --vendor {vendor} --profile {profile} --prefix {prefix!r} did not come up:\n{last_error}",
        pytrace=False,
    )


def _wait_until_up(served: Served, timeout: float) -> bool:
    url = _info_url(served.vendor, served.prefix, served.port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def served_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Served]]:
    """Factory: `served_simulator("autodesk", "documented", prefix="/aps")` -> a running `authcanary serve`."""
    stack: list[Any] = []
    log_dir = tmp_path_factory.mktemp("serve")

    def start(
        vendor: str = "autodesk", profile: str = "documented", prefix: str = "", options: tuple[str, ...] = ()
    ) -> Served:
        manager = serve_simulator(vendor, profile, prefix, log_dir=log_dir, options=options)
        served = manager.__enter__()
        stack.append(manager)
        return served

    yield start
    while stack:
        stack.pop().__exit__(None, None, None)


# -- authcanary run -----------------------------------------------------------------------------------------------
class RunResult(NamedTuple):
    code: int
    summary: dict[str, Any] | None
    output: str


#: Bytecode of the CLI subprocesses, outside the checkout and the venv. Where bytecode writing is disabled
#: (PYTHONDONTWRITEBYTECODE), pytest re-does its assertion rewriting of every schemathesis module (~1.5 s) in each
#: `authcanary run`; a cache prefix keeps the end-to-end tests about a third faster without touching the venv.
PYCACHE_PREFIX = Path(tempfile.gettempdir()) / f"authcanary-tests-pycache-{os.getuid()}"
#: the cache folder (hypothesis' files, the contract tests' case store) of the `authcanary` processes the tests
#: start: one per test session, shared by its xdist workers, never the developer's ~/.cache (whose state would
#: decide whether a test's contract cases are generated or reused)
TEST_CACHE_HOME = Path(tempfile.gettempdir()) / (
    f"authcanary-tests-cache-{os.getuid()}-{os.environ.get('PYTEST_XDIST_TESTRUNUID') or os.getpid()}"
)


def _remove_old_test_caches(older_than: float = 24 * 3600) -> None:
    """Earlier sessions' cache folders (a session does not know when its last worker is done with its own)."""
    for folder in Path(tempfile.gettempdir()).glob(f"authcanary-tests-cache-{os.getuid()}-*"):
        try:
            if folder != TEST_CACHE_HOME and time.time() - folder.stat().st_mtime > older_than:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


_remove_old_test_caches()


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: no colours, no vendor credentials or CI settings from the caller's shell."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("APS_", "BIMPLUS_", "AXEOBIM_", "CERQUAL_", "KUDO_"))
        and key not in ("GITHUB_STEP_SUMMARY", "AUTHCANARY_SOURCE_URL")  # the harness's own CI job summary stays ours
    }
    env["NO_COLOR"] = "1"
    env["XDG_CACHE_HOME"] = str(TEST_CACHE_HOME)
    if env.pop("PYTHONDONTWRITEBYTECODE", None) is not None and "PYTHONPYCACHEPREFIX" not in env:
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE_PREFIX)
    env.update(extra)
    return env


def run_authcanary(
    args: list[str],
    out: Path | None = None,
    *,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    timeout: float = 300.0,
) -> RunResult:
    """`authcanary ARGS [--out OUT]` in a subprocess; returns (exit code, summary.json or None, stdout+stderr)."""
    command = [str(AUTHCANARY), *args]
    if out is not None:
        command += ["--out", str(out)]
        if args[:1] == ["run"] and not {"--history", "--no-history"} & set(args):
            # each test its own history, beside its run folder: never the checkout's reports/history.sqlite
            command += ["--history", str(out.parent / "history.sqlite")]
    completed = subprocess.run(
        command, cwd=cwd, env=env if env is not None else cli_env(), capture_output=True, text=True, timeout=timeout
    )
    summary = None
    if out is not None and (out / "summary.json").is_file():
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return RunResult(completed.returncode, summary, completed.stdout + completed.stderr)


def write_loop_targets(
    path: Path, base_url: str, *, simulator: bool = True, target: str = "loop", **extra: Any
) -> Path:
    """A targets file whose `[targets.<target>.autodesk]` points at `base_url` with the simulator's credentials."""
    settings: dict[str, Any] = {
        "base_url": base_url,
        "simulator": simulator,
        **AutodeskSimulator.default_settings(),
        **extra,
    }
    lines = [f"[targets.{target}.autodesk]"]
    for key, value in settings.items():
        lines.append(f"{key} = {_toml(value)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def listing(folder: Path) -> set[str]:
    """Every path under `folder` (relative), or an empty set when it does not exist."""
    if not folder.exists():
        return set()
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def files_containing(folder: Path, needles: list[str]) -> dict[str, list[str]]:
    """Relative path -> the needles found in its bytes, for every file under `folder`."""
    found: dict[str, list[str]] = {}
    encoded = [(needle, needle.encode()) for needle in needles if needle]
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            hits = [needle for needle, raw in encoded if raw in data]
            if hits:
                found[str(path.relative_to(folder))] = hits
    return found

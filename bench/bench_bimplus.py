"""Benchmark the Bimplus legacy suites (issue 4's measured targets).

    .venv/bin/python bench/bench_bimplus.py

Runs, from the checkout root, in one go:
1. `authcanary run --vendor bimplus` on the embedded target with default settings: its wall time (target < 30 s)
   and how many step sequences the stateful test explored (target >= 200; the suite reports it as a note);
2. the same against `authcanary serve --vendor all` on a free loopback port, through the `local` target's
   bimplus section of targets.toml (simulator = true): the requests it sent (target <= 150).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
AUTHCANARY = Path(sys.executable).with_name("authcanary")


def run(out: Path, *args: str) -> tuple[float, dict]:
    """`authcanary run --vendor bimplus`: (wall seconds, the bimplus entry of summary.json)."""
    started = time.perf_counter()
    process = subprocess.run(
        [str(AUTHCANARY), "run", "--vendor", "bimplus", "--out", str(out), "--no-history", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    summary = out / "summary.json"
    if not summary.exists():
        sys.exit(f"authcanary run failed (exit {process.returncode}):\n{process.stdout[-2000:]}{process.stderr}")
    return elapsed, json.loads(summary.read_text())["vendors"]["bimplus"]


def sequences(entry: dict) -> int:
    for note in entry["notes"]:
        match = re.match(r"stateful token lifecycle: (\d+) step sequences explored", note)
        if match:
            return int(match.group(1))
    sys.exit(f"no stateful note in {entry['notes']}")


def loopback_targets(folder: Path, port: int) -> Path:
    """targets.toml's `local` bimplus section, pointed at `port`."""
    section = tomllib.loads((ROOT / "targets.toml").read_text())["targets"]["local"]["bimplus"]
    section["base_url"] = re.sub(r":\d+/", f":{port}/", section["base_url"])
    lines = ["[targets.local.bimplus]", *(f"{key} = {json.dumps(value)}" for key, value in section.items())]
    path = folder / "targets.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def serve_all(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [str(AUTHCANARY), "serve", "--vendor", "all", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/bimplus/__authcanary__/info", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.terminate()
    sys.exit("authcanary serve did not come up")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        embedded_time, embedded = run(folder / "embedded")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = serve_all(port)
        try:
            loopback_time, loopback = run(
                folder / "loopback", "--target", "local", "--targets", str(loopback_targets(folder, port))
            )
        finally:
            server.terminate()
            server.wait()
    explored = sequences(embedded)
    print(f"{'measure':<52}{'value':>10}  target")
    print(
        f"{'stateful step sequences (embedded, default run)':<52}{explored:>10}  >= 200 "
        f"{'ok' if explored >= 200 else 'MISSED'}"
    )
    print(
        f"{'wall time, authcanary run --vendor bimplus (embedded)':<52}{embedded_time:>9.1f}s  < 30 s "
        f"{'ok' if embedded_time < 30 else 'MISSED'}"
    )
    print(
        f"{'requests sent, loopback target (local)':<52}{loopback['requests']:>10}  <= 150 "
        f"{'ok' if loopback['requests'] <= 150 else 'MISSED'}"
    )
    print(
        f"(embedded: {embedded['status']}, {embedded['requests']} requests; loopback: {loopback['status']}, "
        f"{loopback_time:.1f} s)"
    )


if __name__ == "__main__":
    main()

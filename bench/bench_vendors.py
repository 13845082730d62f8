"""Benchmark every vendor together (issue 11's measured targets).

    .venv/bin/python bench/bench_vendors.py

Runs, from the checkout root, in one go:
1. `authcanary run` of all vendors on the embedded target (`sim`), default settings: its wall time (target < 20 s on
   the 2-core reference machine), and each vendor's share of the test time (from junit.xml);
2. the `local` target of targets.toml against `authcanary serve --vendor all` on a free loopback port, once as a
   simulator (`simulator = true`) and once as a live target would be run (`simulator = false`: no time travel, live
   budgets and examples): the requests each vendor was sent (target <= 150 per vendor on the live run).
Each measure is printed with its ratio to the target (below 1.00 meets it).
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
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from bench_bimplus import serve_all

ROOT = Path(__file__).resolve().parents[1]
AUTHCANARY = Path(sys.executable).with_name("authcanary")
EMBEDDED_TARGET_S = 20.0
LIVE_REQUESTS = 150


def run(out: Path, *args: str) -> tuple[float, dict]:
    """`authcanary run ARGS`: (wall seconds, summary.json)."""
    started = time.perf_counter()
    process = subprocess.run(
        [str(AUTHCANARY), "run", "--out", str(out), "--no-history", *args], cwd=ROOT, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    summary = out / "summary.json"
    if not summary.exists():
        sys.exit(f"authcanary run failed (exit {process.returncode}):\n{process.stdout[-2000:]}{process.stderr}")
    return elapsed, json.loads(summary.read_text())


def test_seconds(out: Path) -> dict[str, float]:
    """Per vendor, the seconds its tests took (junit.xml: suites.<vendor>.<module>)."""
    seconds: dict[str, float] = {}
    for case in ElementTree.parse(out / "junit.xml").getroot().iter("testcase"):
        vendor = case.get("classname", "").split(".")[1:2]
        if vendor:
            seconds[vendor[0]] = seconds.get(vendor[0], 0.0) + float(case.get("time", 0))
    return seconds


def local_targets(folder: Path, port: int, simulator: bool) -> Path:
    """targets.toml's `local` target, pointed at `port`, as a simulator or as a live target."""
    local = tomllib.loads((ROOT / "targets.toml").read_text())["targets"]["local"]
    lines = []
    for vendor, section in local.items():
        section = {**section, "base_url": re.sub(r":\d+/", f":{port}/", section["base_url"]), "simulator": simulator}
        if not simulator:
            section.pop("max_examples", None)  # a live target's own (small) default
            section["rate_limit_per_minute"] = 60000  # pacing is not what is measured here
        lines += [f"[targets.local.{vendor}]", *(f"{key} = {json.dumps(value)}" for key, value in section.items())]
    path = folder / f"targets-{'sim' if simulator else 'live'}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        embedded_time, embedded = run(folder / "embedded")
        shares = test_seconds(folder / "embedded")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = serve_all(port)
        try:
            loopback = {
                mode: run(folder / mode, "--target", "local", "--targets", str(local_targets(folder, port, sim)))[1]
                for mode, sim in (("simulated", True), ("live", False))
            }
        finally:
            server.terminate()
            server.wait()
    print(f"{'measure':<58}{'value':>10}  {'target':>8}  ratio")
    print(
        f"{'wall time, authcanary run (embedded, all vendors)':<58}{embedded_time:>9.1f}s  "
        f"{'< 20 s':>8}  {embedded_time / EMBEDDED_TARGET_S:.2f}"
    )
    for vendor, entry in embedded["vendors"].items():
        print(f"{'  test seconds, ' + vendor:<58}{shares.get(vendor, 0.0):>9.1f}s  {'':>8}  ({entry['status']})")
    for vendor, entry in loopback["live"]["vendors"].items():
        requests = entry["requests"]
        print(
            f"{'requests, live loopback run, ' + vendor:<58}{requests:>10}  {'<= 150':>8}  "
            f"{requests / LIVE_REQUESTS:.2f} ({entry['status']})"
        )
    simulated = ", ".join(f"{v} {e['requests']}" for v, e in loopback["simulated"]["vendors"].items())
    print(f"(loopback as a simulator, requests: {simulated})")


if __name__ == "__main__":
    main()

"""Issue 13's measures in one run, as one table with ratios against each target (below 1.00 meets it).

    .venv/bin/python bench/bench_speed.py [--skip-live]

1. Embedded run of all vendors (`authcanary run`, target `sim`), one process (the default) and one worker per
   CPU: wall time, CPU time and peak memory. Peak memory is sampled over the whole process tree every
   20 ms (`/proc`), so for a parallel run it is what the workers hold together, not one worker's share.
   Targets: under 10 s wall and under 250 MB peak.
2. Live loopback: `authcanary serve --vendor all`, targeted as a live vendor would be (`simulator = false`: live
   budgets, examples and each vendor's documented pace), each vendor alone and all vendors in parallel
   (`--workers 4`). Target: the parallel run takes at most 1.25x the slowest vendor alone. The sum of the vendors
   alone is what a one-process run of them all costs.
3. The property suites' execution time per request next to schemathesis' CLI on the same cases
   (bench/bench_properties.py), `scan` of a 100 MB file (bench/bench_scan.py) and drift throughput
   (bench/bench_drift.py), each run as it runs alone; their tables follow.

The hypothesis cache (`~/.cache/authcanary/hypothesis`, with the contract tests' case store) is warmed by a first,
unmeasured run, as on any machine after its first run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

from bench_bimplus import serve_all

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
AUTHCANARY = Path(sys.executable).with_name("authcanary")
VENDORS = ("autodesk", "axeobim", "bimplus", "kudo")
EMBEDDED_S, EMBEDDED_MB, PARALLEL_RATIO = 10.0, 250.0, 1.25


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and all its descendants, in MB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo += [int(child) for child in children.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


def run(out: Path, *args: str) -> dict[str, float]:
    """`authcanary run ARGS --out OUT`: wall seconds, CPU seconds and peak memory (MB) of the whole tree."""
    before = os.times()
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(AUTHCANARY), "run", "--out", str(out), "--no-history", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_mb(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    after = os.times()
    if not (out / "summary.json").exists():
        sys.exit(f"authcanary run {' '.join(args)} failed (exit {process.returncode}):\n{stderr.decode()[-2000:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"wall": wall, "cpu": cpu, "peak": peak, "exit": process.returncode}


def live_targets(folder: Path, port: int) -> Path:
    """targets.toml's `local` target on `port`, as a live target: documented pace, live budgets and examples."""
    local = tomllib.loads((ROOT / "targets.toml").read_text())["targets"]["local"]
    lines = []
    for vendor, section in local.items():
        section = {**section, "base_url": re.sub(r":\d+/", f":{port}/", section["base_url"]), "simulator": False}
        section.pop("max_examples", None)  # a live target's own (small) default
        lines += [f"[targets.live.{vendor}]", *(f"{key} = {json.dumps(value)}" for key, value in section.items())]
    path = folder / "targets-live.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def row(measure: str, value: str, target: str = "", ratio: float | None = None) -> None:
    verdict = "" if ratio is None else f"{ratio:.2f} {'MET' if ratio <= 1 else 'MISSED'}"
    print(f"{measure:<62}{value:>12}  {target:>10}  {verdict}")


def embedded(folder: Path) -> None:
    run(folder / "warm-up", "--vendor", "kudo")  # builds hypothesis' cache once, as a first run on a machine does
    one = run(folder / "embedded-1", "--workers", "1")
    cores = os.cpu_count() or 2
    parallel = run(folder / "embedded-n", "--workers", str(cores))
    for name, measured in (("one process (the default)", one), (f"{cores} workers", parallel)):
        row(
            f"embedded, all vendors, {name}: wall", f"{measured['wall']:.1f} s", "< 10 s", measured["wall"] / EMBEDDED_S
        )
        row(f"embedded, all vendors, {name}: CPU", f"{measured['cpu']:.1f} s")
        row(
            f"embedded, all vendors, {name}: peak memory",
            f"{measured['peak']:.0f} MB",
            "< 250 MB",
            measured["peak"] / EMBEDDED_MB,
        )
    row("embedded: one process / parallel, wall", f"{one['wall'] / parallel['wall']:.2f}x")


def live(folder: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = serve_all(port)
    try:
        targets = live_targets(folder, port)
        common = ("--target", "live", "--targets", str(targets))
        alone = {v: run(folder / f"live-{v}", *common, "--vendor", v, "--workers", "1") for v in VENDORS}
        parallel = run(folder / "live-parallel", *common, "--workers", str(len(VENDORS)))
    finally:
        server.terminate()
        server.wait()
    for vendor, measured in alone.items():
        row(f"live loopback, {vendor} alone: wall", f"{measured['wall']:.1f} s")
    slowest = max(measured["wall"] for measured in alone.values())
    sequential = sum(measured["wall"] for measured in alone.values())
    row("live loopback, all vendors one after the other (sum): wall", f"{sequential:.1f} s")
    row(
        "live loopback, all vendors in parallel: wall",
        f"{parallel['wall']:.1f} s",
        f"<= {PARALLEL_RATIO * slowest:.0f} s",
        parallel["wall"] / (PARALLEL_RATIO * slowest),
    )
    row("live loopback: sequential / parallel, wall", f"{sequential / parallel['wall']:.2f}x")


def other_benches() -> None:
    for script in ("bench_properties.py", "bench_scan.py", "bench_drift.py"):
        if not (BENCH / script).exists():
            print(f"\n({script} is missing)")
            continue
        print(f"\n--- {script} ---", flush=True)
        subprocess.run([sys.executable, str(BENCH / script)], cwd=ROOT, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-live", action="store_true", help="skip the live loopback runs (minutes)")
    parser.add_argument("--skip-others", action="store_true", help="skip the property, scan and drift benches")
    options = parser.parse_args()
    print(f"{'measure':<62}{'value':>12}  {'target':>10}  ratio", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        embedded(Path(tmp))
        if not options.skip_live:
            live(Path(tmp))
    if not options.skip_others:
        other_benches()


if __name__ == "__main__":
    main()

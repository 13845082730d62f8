"""Benchmark the Autodesk suites (run by hand, not a test).

    .venv/bin/python bench/bench_autodesk.py [--examples 60] [--repeat 3]

Prints, in one run:
  (a) the wall time of `authcanary run --target sim --vendor autodesk --out <tmp>` (target < 20 s);
  (b) requests/s of the property suite (suites/autodesk/test_properties.py) against the in-process simulator,
      next to schemathesis' own CLI over the same contract against `authcanary serve --vendor autodesk`
      (target: the suite sends >= 2x the requests per second).

Request counts: the suite's come from findings.json (every request its guarded client sent); schemathesis' from its
JSON report (`test_cases.generated`), cross-checked with the server's access log (the CLI adds one probe request).
Rates are given twice: per wall-clock second of the whole process (what a user waits for, start-up included) and
per second of test execution (pytest's call phases from junit.xml; schemathesis' own `running_time`).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
AUTHCANARY = BIN / "authcanary"
SCHEMATHESIS = BIN / "schemathesis"
CHECKS = "status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection"


@dataclass
class Sample:
    wall: float
    engine: float
    requests: int
    note: str = ""

    @property
    def wall_rate(self) -> float:
        return self.requests / self.wall

    @property
    def engine_rate(self) -> float:
        return self.requests / self.engine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1"}


# -- (a) a full run ----------------------------------------------------------------------------------------------
def full_run(work: Path) -> tuple[float, int, dict]:
    out = work / "full-run"
    started = time.perf_counter()
    completed = subprocess.run([str(AUTHCANARY), "run", "--target", "sim", "--vendor", "autodesk", "--out", str(out)],
                               cwd=ROOT, env=env(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    if completed.returncode != 0:
        print(completed.stdout[-2000:], completed.stderr[-2000:], sep="\n", file=sys.stderr)
    return wall, completed.returncode, summary.get("vendors", {}).get("autodesk", {})


# -- (b) the property suite, in-process simulator ----------------------------------------------------------------
def property_suite(work: Path, examples: int, index: int) -> Sample:
    out = work / f"props-{index}"
    junit = work / f"props-{index}.xml"
    command = [sys.executable, "-m", "pytest", "suites/autodesk/test_properties.py", "--target", "sim",
               "--authcanary-out", str(out), "--max-examples", str(examples), "-o", "addopts=", "-p",
               "no:cacheprovider", "-q", "--junitxml", str(junit), "-W", "ignore::DeprecationWarning"]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=env(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"property suite failed (exit {completed.returncode}):\n{completed.stdout[-3000:]}")
    findings = json.loads((out / "findings.json").read_text())["vendors"]["autodesk"]
    engine = sum(float(case.get("time", 0)) for case in ET.parse(junit).getroot().iter("testcase"))
    return Sample(wall, engine, findings["requests"], f"{findings['checks']['passed']} tests passed")


# -- (b') schemathesis' CLI against `authcanary serve` -----------------------------------------------------------
class Server:
    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.log = work / f"serve-{self.port}.log"
        self.sink = self.log.open("wb")
        self.process = subprocess.Popen([str(AUTHCANARY), "serve", "--vendor", "autodesk", "--port", str(self.port)],
                                        stdout=self.sink, stderr=subprocess.STDOUT, env=env(), cwd=work)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/__authcanary__/info", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit(f"authcanary serve did not start:\n{self.log.read_text()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logged_requests(self) -> int:
        self.sink.flush()
        return sum(1 for line in self.log.read_text(errors="replace").splitlines() if " -> " in line)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.sink.close()


def schemathesis_cli(work: Path, examples: int, index: int) -> Sample:
    server = Server(work)
    try:
        reports = work / f"st-{index}"
        before = server.logged_requests()
        command = [str(SCHEMATHESIS), "run", str(ROOT / "contracts/autodesk/openapi.yaml"), "--url", server.url,
                   "--checks", CHECKS, "--max-examples", str(examples), "--mode", "all", "--generation-deterministic",
                   "--workers", "1", "--phases", "fuzzing", "--report", "json", "--report-dir", str(reports),
                   "--no-color"]
        started = time.perf_counter()
        completed = subprocess.run(command, cwd=work, env=env(), capture_output=True, text=True)
        wall = time.perf_counter() - started
        time.sleep(0.2)  # let the access log catch up
        logged = server.logged_requests() - before
    finally:
        server.stop()
    [report_path] = list(reports.glob("*.json"))
    report = json.loads(report_path.read_text())
    generated = report["test_cases"]["generated"]
    # The CLI probes the server once before testing; the access log confirms generated + probe.
    requests = generated + 1
    note = f"generated {generated}, server log {logged}" + ("" if logged == requests else "  (MISMATCH)")
    if completed.returncode not in (0, 1):
        note += f"  (schemathesis exit {completed.returncode})"
    return Sample(wall, float(report["running_time"]), requests, note)


def median(samples: list[Sample], attribute: str) -> float:
    return statistics.median(getattr(sample, attribute) for sample in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=60, help="examples per property test / per API operation")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of (b); medians are printed")
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-autodesk-") as tmp:
        work = Path(tmp)
        wall, code, autodesk = full_run(work)
        suite = [property_suite(work, args.examples, i) for i in range(args.repeat)]
        cli = [schemathesis_cli(work, args.examples, i) for i in range(args.repeat)]

    print()
    print(f"(a) authcanary run --target sim --vendor autodesk    (2 cores: {os.cpu_count()} CPUs)")
    print(f"    wall {wall:6.2f} s   exit {code}   status {autodesk.get('status')}   requests "
          f"{autodesk.get('requests')}   checks {autodesk.get('checks')}   target < 20 s: "
          f"{'OK' if wall < 20 and code == 0 else 'MISSED'}")
    print()
    print(f"(b) property requests per second, --max-examples {args.examples}, median of {args.repeat}")
    header = f"    {'runner':58} {'requests':>8} {'wall s':>7} {'req/s':>7} {'exec s':>7} {'req/s':>7}"
    print(header)
    print("    " + "-" * (len(header) - 4))
    rows = [("pytest suites/autodesk/test_properties.py (in-process)", suite),
            ("schemathesis run (CLI, loopback HTTP to authcanary serve)", cli)]
    for name, samples in rows:
        print(f"    {name:58} {int(median(samples, 'requests')):>8} {median(samples, 'wall'):>7.2f} "
              f"{median(samples, 'wall_rate'):>7.1f} {median(samples, 'engine'):>7.2f} "
              f"{median(samples, 'engine_rate'):>7.1f}")
    for name, samples in rows:
        print(f"      {name.split(' (')[0]}: " + "; ".join(sample.note for sample in samples))
    wall_ratio = median(suite, "wall_rate") / median(cli, "wall_rate")
    engine_ratio = median(suite, "engine_rate") / median(cli, "engine_rate")
    print()
    print(f"    ratio suite / schemathesis CLI: {wall_ratio:.2f}x per wall second, {engine_ratio:.2f}x per second of "
          f"test execution   (target >= 2x: {'OK' if min(wall_ratio, engine_ratio) >= 2 else 'MISSED'})")
    print(f"\n    bench total {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()

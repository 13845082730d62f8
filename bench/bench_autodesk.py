"""Benchmark the Autodesk suites (run by hand, not a test).

    .venv/bin/python bench/bench_autodesk.py [--examples 60] [--repeat 5] [--plugins runner|autoload]
                                             [--cli-phases coverage,fuzzing]

Prints, in one run:
  (a) the wall time of `authcanary run --target sim --vendor autodesk --out <tmp>` (target < 20 s);
  (b) requests/s of the property suite (suites/autodesk/test_properties.py) against the in-process simulator,
      next to schemathesis' own CLI over the same contract against `authcanary serve --vendor autodesk`
      (target: the suite sends >= 2x the requests per second).

What is compared, so that neither side is favoured:
  * The suite runs twice per repetition: whole (the contract test over both operations + the hostile-request test),
    and `-k test_contract_conformance` alone, which sends exactly the cases the CLI sends: `schema.parametrize()`
    runs schemathesis' coverage cases (as hypothesis explicit examples) and then max_examples fuzzed cases per
    operation, i.e. the CLI's `--phases coverage,fuzzing`. Same contract, same four checks, same mode (positive and
    negative), same --max-examples, deterministic generation, one worker.
  * Requests: the suite's come from findings.json (every request its guarded client handed to the simulator); the
    CLI's from the server's access log (generated cases + its one probe), cross-checked with its JSON report.
  * Three clocks: wall seconds of the whole process (what a user waits for, start-up included); CPU seconds (the
    process, plus for the CLI the `authcanary serve` process that answers it: the suite's simulator runs inside
    the suite's process) — robust when other processes compete for this 2-core machine; and execution seconds:
    schemathesis' own `running_time` for the CLI, and for the suite the same span (collection, which loads the
    contract and builds the coverage cases, through the last test; measured by bench/_timing_plugin.py).
  * The suite is started with the pytest plugin arguments `authcanary run` uses (authcanary.runner.PLUGIN_ARGS,
    when the runner defines them; `--plugins autoload` measures a bare `pytest` invocation instead).
  * Repetitions interleave the runners, so load from other processes hits them alike; medians are printed, with
    how much CPU other processes took while the bench ran.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
AUTHCANARY = BIN / "authcanary"
SCHEMATHESIS = BIN / "schemathesis"
CHECKS = "status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    wall: float
    cpu: float
    engine: float
    requests: int
    note: str = ""

    @property
    def wall_rate(self) -> float:
        return self.requests / self.wall

    @property
    def cpu_rate(self) -> float:
        return self.requests / self.cpu

    @property
    def engine_rate(self) -> float:
        return self.requests / self.engine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", **extra}


def children_cpu() -> float:
    """CPU seconds of this process' finished (and waited-for) children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores; hypervisor steal included)."""
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


def timed(command: list[str], **kwargs) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run `command`; returns (completed, wall seconds, CPU seconds of that child)."""
    cpu_before = children_cpu()
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, **kwargs)
    return completed, time.perf_counter() - started, children_cpu() - cpu_before


def suite_plugin_args(mode: str) -> tuple[list[str], str]:
    """The pytest plugin arguments of `authcanary run` (so the suite is measured as a run executes it)."""
    if mode == "autoload":
        return [], "autoloaded (a bare `pytest` invocation)"
    from authcanary import runner

    args = list(getattr(runner, "PLUGIN_ARGS", []))
    return args, (
        " ".join(args) + "  (authcanary.runner.PLUGIN_ARGS)"
        if args
        else "autoloaded (authcanary.runner defines no PLUGIN_ARGS)"
    )


# -- (a) a full run ----------------------------------------------------------------------------------------------
def full_run(work: Path) -> tuple[float, float, int, dict]:
    out = work / "full-run"
    completed, wall, cpu = timed(
        [str(AUTHCANARY), "run", "--target", "sim", "--vendor", "autodesk", "--out", str(out), "--no-history"],
        cwd=ROOT,
        env=env(),
    )
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    if completed.returncode != 0:
        print(completed.stdout[-2000:], completed.stderr[-2000:], sep="\n", file=sys.stderr)
    return wall, cpu, completed.returncode, summary.get("vendors", {}).get("autodesk", {})


# -- (b) the property suite, in-process simulator ----------------------------------------------------------------
def property_suite(work: Path, examples: int, name: str, plugin_args: list[str], select: str | None) -> Sample:
    out = work / name
    timing = work / f"{name}.timing.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "suites/autodesk/test_properties.py",
        "--target",
        "sim",
        "--authcanary-out",
        str(out),
        "--max-examples",
        str(examples),
        "-o",
        "addopts=",
        "-p",
        "no:cacheprovider",
        "-q",
        "-W",
        "ignore::DeprecationWarning",
        *plugin_args,
        "-p",
        "_timing_plugin",
    ]
    if select:
        command += ["-k", select]
    python_path = os.pathsep.join(filter(None, [str(BENCH), os.environ.get("PYTHONPATH")]))
    completed, wall, cpu = timed(command, cwd=ROOT, env=env(PYTHONPATH=python_path, BENCH_TIMING_FILE=str(timing)))
    if completed.returncode != 0:
        raise SystemExit(
            f"property suite failed (exit {completed.returncode}):\n{completed.stdout[-3000:]}"
            f"\n{completed.stderr[-2000:]}"
        )
    findings = json.loads((out / "findings.json").read_text())["vendors"]["autodesk"]
    marks = json.loads(timing.read_text())
    engine = marks["tests_end"] - marks["collection_start"]
    return Sample(wall, cpu, engine, findings["requests"], f"{findings['checks']['passed']} passed")


# -- (b') schemathesis' CLI against `authcanary serve` -----------------------------------------------------------
class Server:
    """`authcanary serve --vendor V` on a free loopback port; counts the requests its access log shows."""

    def __init__(self, work: Path, vendor: str = "autodesk") -> None:
        self.port = free_port()
        self.log = work / f"serve-{vendor}-{self.port}.log"
        self.sink = self.log.open("wb")
        self.process = subprocess.Popen(
            [str(AUTHCANARY), "serve", "--vendor", vendor, "--port", str(self.port)],
            stdout=self.sink,
            stderr=subprocess.STDOUT,
            env=env(),
            cwd=work,
        )
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

    def cpu(self) -> float:
        return process_cpu(self.process.pid)

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


def schemathesis_cli(work: Path, examples: int, index: int, phases: str) -> Sample:
    server = Server(work)
    try:
        reports = work / f"st-{index}"
        before, server_cpu = server.logged_requests(), server.cpu()
        command = [
            str(SCHEMATHESIS),
            "run",
            str(ROOT / "contracts/autodesk/openapi.yaml"),
            "--url",
            server.url,
            "--checks",
            CHECKS,
            "--max-examples",
            str(examples),
            "--mode",
            "all",
            "--generation-deterministic",
            "--workers",
            "1",
            "--phases",
            phases,
            "--report",
            "json",
            "--report-dir",
            str(reports),
            "--no-color",
        ]
        completed, wall, cpu = timed(command, cwd=work, env=env())
        time.sleep(0.2)  # let the access log catch up
        logged = server.logged_requests() - before
        cpu += server.cpu() - server_cpu  # the simulator's work: the suite's is inside the suite's own process
    finally:
        server.stop()
    [report_path] = list(reports.glob("*.json"))
    report = json.loads(report_path.read_text())
    generated = report["test_cases"]["generated"]
    # Every request that reached the simulator counts: the generated cases plus the CLI's one probe request.
    note = f"generated {generated}, server log {logged}" + ("" if logged == generated + 1 else "  (MISMATCH)")
    if completed.returncode not in (0, 1):
        note += f"  (schemathesis exit {completed.returncode})"
    return Sample(wall, cpu, float(report["running_time"]), logged, note)


def median(samples: list[Sample], attribute: str) -> float:
    return statistics.median(getattr(sample, attribute) for sample in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=60, help="examples per property test / per API operation")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of (b); medians are printed")
    parser.add_argument(
        "--plugins",
        choices=["runner", "autoload"],
        default="runner",
        help="start the suite with authcanary run's pytest plugin arguments (default) or autoload "
        "every installed pytest plugin, as a bare `pytest` does",
    )
    parser.add_argument(
        "--cli-phases",
        default="coverage,fuzzing",
        help="schemathesis CLI phases (default: coverage,fuzzing = what schema.parametrize() runs)",
    )
    args = parser.parse_args()
    plugin_args, plugin_note = suite_plugin_args(args.plugins)
    began, busy_before, ours_before = time.perf_counter(), machine_busy(), children_cpu() + own_cpu()
    load_before = os.getloadavg()[0]
    runners = {
        "suite": (
            "pytest test_properties.py, whole suite (in-process)",
            lambda work, i: property_suite(work, args.examples, f"props-{i}", plugin_args, None),
        ),
        "contract": (
            "pytest test_properties.py -k test_contract_conformance",
            lambda work, i: property_suite(
                work, args.examples, f"contract-{i}", plugin_args, "test_contract_conformance"
            ),
        ),
        "cli": (
            f"schemathesis run --phases {args.cli_phases} (HTTP to serve)",
            lambda work, i: schemathesis_cli(work, args.examples, i, args.cli_phases),
        ),
    }
    samples: dict[str, list[Sample]] = {key: [] for key in runners}
    with tempfile.TemporaryDirectory(prefix="bench-autodesk-") as tmp:
        work = Path(tmp)
        wall, cpu, code, autodesk = full_run(work)
        for index in range(args.repeat):  # interleaved: load from other processes hits every runner alike
            for key, (_, run) in runners.items():
                samples[key].append(run(work, index))
    elapsed = time.perf_counter() - began
    others = max(0.0, (machine_busy() - busy_before) - (children_cpu() + own_cpu() - ours_before))
    cores = os.cpu_count() or 1

    print()
    print(f"(a) authcanary run --target sim --vendor autodesk    ({cores} CPUs)")
    print(
        f"    wall {wall:6.2f} s   CPU {cpu:6.2f} s   exit {code}   status {autodesk.get('status')}   requests "
        f"{autodesk.get('requests')}   checks {autodesk.get('checks')}   target < 20 s: "
        f"{'OK' if wall < 20 and code == 0 else 'MISSED'}"
    )
    print()
    print(f"(b) property requests per second, --max-examples {args.examples}, median of {args.repeat}")
    print(f"    suite's pytest plugins: {plugin_note}")
    header = (
        f"    {'runner':60} {'requests':>8} {'wall s':>7} {'req/s':>7} {'CPU s':>7} {'req/s':>7} "
        f"{'exec s':>7} {'req/s':>7}"
    )
    print(header)
    print("    " + "-" * (len(header) - 4))
    for key, (name, _) in runners.items():
        rows = samples[key]
        print(
            f"    {name:60} {int(median(rows, 'requests')):>8} {median(rows, 'wall'):>7.2f} "
            f"{median(rows, 'wall_rate'):>7.1f} {median(rows, 'cpu'):>7.2f} {median(rows, 'cpu_rate'):>7.1f} "
            f"{median(rows, 'engine'):>7.2f} {median(rows, 'engine_rate'):>7.1f}"
        )
    for key in runners:
        print(f"      {key}: " + "; ".join(sample.note for sample in samples[key]))
    print(
        "      exec = schemathesis' running_time; for pytest, collection (contract loaded, coverage cases built) "
        "through the last test"
    )
    print()
    cli = samples["cli"]
    verdicts = []
    same = "same cases" if args.cli_phases == "coverage,fuzzing" else "NOT the CLI's cases"
    for key, label in (("suite", "whole suite"), ("contract", f"contract test ({same})")):
        ratios = [median(samples[key], rate) / median(cli, rate) for rate in ("wall_rate", "cpu_rate", "engine_rate")]
        verdicts.append(ratios)
        print(
            f"    ratio {label:36} / CLI: {ratios[0]:.2f}x per wall second, {ratios[1]:.2f}x per CPU second, "
            f"{ratios[2]:.2f}x per second of execution"
        )
    wall_ratio, cpu_ratio, _ = verdicts[0]
    print(
        f"    target (whole suite >= 2x the CLI, per wall and per CPU second): "
        f"{'OK' if min(wall_ratio, cpu_ratio) >= 2 else 'MISSED'}"
    )
    per_request = {key: 1000 * median(samples[key], "engine") / median(samples[key], "requests") for key in runners}
    print("    execution per request: " + ", ".join(f"{key} {value:.1f} ms" for key, value in per_request.items()))
    print()
    share = others / (elapsed * cores)
    print(
        f"    bench total {elapsed:.1f} s; other processes (or the host) took {others:.1f} CPU s ({share:.0%} of the "
        f"machine; load average {load_before:.1f} -> {os.getloadavg()[0]:.1f})"
        + ("  -- busy machine: wall rates are unreliable, compare per CPU second" if share > 0.1 else "")
    )


if __name__ == "__main__":
    main()

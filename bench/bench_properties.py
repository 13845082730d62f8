"""Benchmark the property suites: execution time per request, in-process, next to schemathesis on the same contracts
(run by hand, not a test; issue 13 "Property suite": at most 2 ms of execution per request).

    .venv/bin/python bench/bench_properties.py [--repeat 3] [--vendor V ...] [--examples N] [--no-cli] [--no-api]

Prints, in one run (repetitions interleaved, medians):
  (a) the property suites of every vendor (suites/*/test_properties.py, suites/bimplus/test_oidc_properties.py) on the
      embedded target, in one pytest process started as `authcanary run` starts it (authcanary.runner.PLUGIN_ARGS):
      requests (findings.json: every request the guarded clients sent) and execution per request, with the verdict
      against the 2 ms target; the contract tests reuse the cases the warm-up stored (authcanary.pytest.cases: as
      every embedded run after the first does), and the same suites with `--authcanary-fresh-cases` (a first run,
      every case generated) are printed below it;
  (b) per contract, the same cases three ways: the suite's schemathesis test alone (`-k test_contract_conformance`;
      its cases reused, and generated in the "fresh" column),
      schemathesis' CLI (`schemathesis run`, this venv's) against `authcanary serve --vendor V` on loopback, and
      schemathesis' Python API (its engine) against the simulator's ASGI app in-process. The CLI and the API get the
      settings the suite's test used (read from its `schema` by the plugin below: max examples, phases, operations,
      security parameters) and its checks; a contract no suite test covers (kudo, the Bimplus legacy API) runs with
      the target's max_examples and the four conformance checks, next to that vendor's whole property suite.

Clocks. "Execution" is what schemathesis' CLI reports as its `running_time`: from the start of generation (for
pytest: collection, where `schema.parametrize()` builds the coverage cases) to the last answer checked; start-up
(interpreter, imports, pytest plugins) is outside both. The plugin in this file (`-p bench_properties`) imports
schemathesis' OpenAPI modules at configure time, as the CLI does before its clock starts, and records wall and CPU
time from the start of collection to the end of the last test. CPU time of that span is the robust figure on a
shared machine (the suite runs single-threaded, so it equals wall time when nothing else runs); both are printed and
the verdict uses CPU. The CLI's figure is its running_time (wall; its answers come from another process, the
simulator under `authcanary serve`), the API's its running_time and the CPU time of its process over the run.
Hypothesis' storage is warmed up first (not measured): its Unicode tables cost ~1 s of CPU to build in an empty
storage directory (`authcanary run` keeps them in ~/.cache/authcanary/hypothesis), and the warm-up run fills the case
store with the measured runs' settings.

Profiling (what the lean engine was cut from; files and plugin arguments as in (a)):

    .venv/bin/python -m cProfile -o /tmp/p.prof -m pytest suites/autodesk/test_properties.py \\
        suites/axeobim/test_properties.py suites/bimplus/test_properties.py suites/bimplus/test_oidc_properties.py \\
        suites/kudo/test_properties.py --target sim -o addopts= -p no:cacheprovider -q --disable-plugin-autoload \\
        -p authcanary.pytest.plugin -p _hypothesis_pytestplugin -p schemathesis.pytest.plugin
    .venv/bin/python -c "import pstats; pstats.Stats('/tmp/p.prof').sort_stats('cumulative').print_stats(60)"

  and the flame graph (py-spy: `python3 -m venv /tmp/tools && /tmp/tools/bin/pip install py-spy`):

    /tmp/tools/bin/py-spy record -r 500 -o /tmp/properties.svg -- .venv/bin/python -m pytest <the same arguments>
    /tmp/tools/bin/py-spy record -r 500 -f raw -o /tmp/properties.folded -- ...   (collapsed stacks, to grep)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bench_autodesk import Server

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TARGET_MS = 2.0
VENDORS = ("autodesk", "axeobim", "bimplus", "kudo")
PROPERTY_FILES = {
    "autodesk": ["suites/autodesk/test_properties.py"],
    "axeobim": ["suites/axeobim/test_properties.py"],
    "bimplus": ["suites/bimplus/test_properties.py", "suites/bimplus/test_oidc_properties.py"],
    "kudo": ["suites/kudo/test_properties.py"],
}
#: contracts and the suite test that runs schemathesis over them (None: no suite test; the CLI runs it alone)
CONTRACTS = {
    "contracts/autodesk/openapi.yaml": ("autodesk", "suites/autodesk/test_properties.py"),
    "contracts/axeobim/openapi.yaml": ("axeobim", "suites/axeobim/test_properties.py"),
    "contracts/bimplus/oidc/openapi.yaml": ("bimplus", "suites/bimplus/test_oidc_properties.py"),
    "contracts/bimplus/openapi.yaml": ("bimplus", None),
    "contracts/kudo/openapi.yaml": ("kudo", None),
}
#: where a contract's paths live under `authcanary serve --vendor V` (and the simulator's app): the OIDC realm
#: under its issuer, as targets.toml's `oidc_issuer` says
BASE_PATHS = {"contracts/bimplus/oidc/openapi.yaml": "/realms/bimplus"}
CONFORMANCE = [
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
]
TIMING_ENV = "BENCH_PROPERTIES_TIMING"


# -- the pytest plugin (`-p bench_properties`, bench/ on PYTHONPATH) -------------------------------------------------
_marks: dict[str, Any] = {"vendors": {}, "contracts": {}}


def _now() -> list[float]:
    return [time.perf_counter(), time.process_time()]


def pytest_configure(config: pytest.Config) -> None:
    # start-up, outside the clock as it is outside the CLI's: the modules `schemathesis.openapi.from_path` imports
    import schemathesis.specs.openapi.schemas  # noqa: F401


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    _marks["collection_start"] = _now()


def pytest_collection_finish(session: pytest.Session) -> None:
    _marks["collection_end"] = _now()
    for item in session.items:
        schema = getattr(getattr(item, "module", None), "schema", None)
        if schema is None or "test_contract_conformance" not in item.name:
            continue
        checks = getattr(item.module, "CHECKS", {})
        contract = str(Path(str(item.module.__file__)).parents[2])
        location = str(schema.location).removeprefix("file://")
        entry = _marks["contracts"].setdefault(
            os.path.relpath(location, contract),
            {
                "file": os.path.relpath(str(item.module.__file__), contract),
                "max_examples": schema.config.generation.max_examples,
                "security_parameters": schema.config.generation.with_security_parameters,
                "phases": [p for p in ("examples", "coverage", "fuzzing") if getattr(schema.config.phases, p).enabled],
                "checks": [check.__name__ for check in checks],
                "operations": [],
            },
        )
        entry["operations"].append(item.name.partition("[")[2].rstrip("]"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    started = _now()
    try:
        return (yield)
    finally:
        parts = Path(str(item.path)).parts
        vendor = parts[parts.index("suites") + 1] if "suites" in parts else "?"
        totals = _marks["vendors"].setdefault(vendor, [0.0, 0.0])
        ended = _now()
        totals[0] += ended[0] - started[0]
        totals[1] += ended[1] - started[1]


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session):
    try:
        return (yield)
    finally:
        _marks["tests_end"] = _now()


def pytest_unconfigure(config: pytest.Config) -> None:
    path = os.environ.get(TIMING_ENV)
    if path and "tests_end" in _marks:
        Path(path).write_text(json.dumps(_marks), encoding="utf-8")


# -- measuring -------------------------------------------------------------------------------------------------------
@dataclass
class Sample:
    requests: int
    wall: float  # execution seconds (wall)
    cpu: float | None = None  # execution seconds (CPU), when known
    note: str = ""
    vendors: dict[str, Any] = field(default_factory=dict)  # suite runs: vendor -> (requests, test wall, test CPU)
    contracts: dict[str, Any] = field(default_factory=dict)


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", **extra}


def plugin_args() -> list[str]:
    from authcanary import runner

    return list(getattr(runner, "PLUGIN_ARGS", []))


def run_suite(
    work: Path, name: str, files: list[str], examples: int | None, select: str | None = None, fresh: bool = False
) -> Sample:
    """The property suites `files` in one pytest process, with this file's plugin; `fresh`: the contract tests
    generate their cases (`--authcanary-fresh-cases`), else they reuse what the case store has."""
    out, timing = work / name, work / f"{name}.json"
    command = [sys.executable, "-m", "pytest", *files, "--target", "sim", "--authcanary-out", str(out)]
    command += ["-o", "addopts=", "-p", "no:cacheprovider", "-q", "-W", "ignore::DeprecationWarning"]
    command += [*plugin_args(), "-p", "bench_properties"]
    command += ["--max-examples", str(examples)] if examples else []
    command += ["-k", select] if select else []
    command += ["--authcanary-fresh-cases"] if fresh else []
    python_path = os.pathsep.join(filter(None, [str(BENCH), os.environ.get("PYTHONPATH")]))
    completed = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env(PYTHONPATH=python_path, **{TIMING_ENV: str(timing)}, HYPOTHESIS_STORAGE_DIRECTORY=str(work / "hyp")),
    )
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(files)} failed (exit {completed.returncode}):\n{completed.stdout[-3000:]}")
    found = json.loads((out / "findings.json").read_text())["vendors"]
    marks = json.loads(timing.read_text())
    start, end = marks["collection_start"], marks["tests_end"]
    vendors = {
        vendor: (found[vendor]["requests"], *marks["vendors"].get(vendor, [0.0, 0.0]))
        for vendor in found
        if found[vendor].get("requests")
    }
    passed = sum(entry["checks"]["passed"] for entry in found.values())
    return Sample(
        sum(entry[0] for entry in vendors.values()),
        end[0] - start[0],
        end[1] - start[1],
        f"{passed} passed, collection {marks['collection_end'][0] - start[0]:.2f} s",
        vendors,
        marks["contracts"],
    )


@dataclass(frozen=True)
class Cases:
    """What schemathesis generates for one contract: the suite test's settings, or the defaults of (b)."""

    contract: str
    vendor: str
    max_examples: int
    phases: list[str]
    checks: list[str]
    operations: list[str] | None = None  # None: every operation
    security_parameters: bool = True


def cli_run(work: Path, cases: Cases, index: int) -> Sample:
    server = Server(work, cases.vendor)
    try:
        reports = work / f"st-{Path(cases.contract).parent.name}-{index}"
        before = server.logged_requests()
        command = [str(BIN / "schemathesis"), "run", str(ROOT / cases.contract)]
        command += ["--url", server.url + BASE_PATHS.get(cases.contract, ""), "--checks", ",".join(cases.checks)]
        command += ["--max-examples", str(cases.max_examples), "--mode", "all", "--generation-deterministic"]
        command += ["--workers", "1", "--phases", ",".join(cases.phases), "--report", "json"]
        command += ["--report-dir", str(reports), "--no-color"]
        command += ["--generation-with-security-parameters", str(cases.security_parameters).lower()]
        for operation in cases.operations or []:
            command += ["--include-name", operation]
        completed = subprocess.run(command, cwd=work, capture_output=True, text=True, env=env())
        time.sleep(0.2)  # let the access log catch up
        logged = server.logged_requests() - before
    finally:
        server.stop()
    reports_found = list(reports.glob("*.json"))
    if not reports_found:
        raise SystemExit(f"schemathesis run wrote no report (exit {completed.returncode}):\n{completed.stdout[-3000:]}")
    report = json.loads(reports_found[0].read_text())
    generated = report["test_cases"]["generated"]
    note = f"generated {generated}, server log {logged}"
    if completed.returncode not in (0, 1):
        note += f" (exit {completed.returncode})"
    return Sample(logged, float(report["running_time"]), None, note)


def api_run(work: Path, cases: Cases) -> Sample:
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--api-worker", json.dumps(cases.__dict__)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env(HYPOTHESIS_STORAGE_DIRECTORY=str(work / "hyp")),
    )
    if completed.returncode != 0:
        raise SystemExit(f"schemathesis' Python API run failed:\n{completed.stderr[-3000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return Sample(result["requests"], result["running_time"], result["cpu"], f"{result['requests']} requests")


def api_worker(spec: str) -> None:
    """Child process of `api_run`: schemathesis' engine over one contract against the simulator's ASGI app."""
    import schemathesis
    from schemathesis import engine
    from schemathesis.engine import events

    from authcanary.credentials import reveal
    from authcanary.registry import VENDORS as REGISTRY
    from authcanary.targets import load_target

    cases = Cases(**json.loads(spec))
    target = load_target(ROOT / "targets.toml", "sim").vendors[cases.vendor]
    simulator = REGISTRY[cases.vendor].simulator_class()(
        profile=target.profile,
        options=target.settings.get("options"),
        settings={key: reveal(value) for key, value in target.settings.items()},
    )
    app, requests = simulator.app(), [0]

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            requests[0] += 1
        await app(scope, receive, send)

    schema = schemathesis.openapi.from_path(ROOT / cases.contract)
    if cases.operations:
        schema = schema.include(name=cases.operations)
    schema.app = counted
    schema.config.update(base_url="http://localhost" + BASE_PATHS.get(cases.contract, ""))
    schema.config.generation.update(
        max_examples=cases.max_examples, deterministic=True, with_security_parameters=cases.security_parameters
    )
    schema.config.phases.update(phases=cases.phases)
    schema.config.checks.update(included_check_names=cases.checks)
    cpu, running = time.process_time(), None
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.EngineFinished):
            running = event.running_time
    print(json.dumps({"requests": requests[0], "running_time": running, "cpu": time.process_time() - cpu}))


def contract_cases(suite: Sample, examples: int | None, vendors: list[str]) -> list[Cases]:
    """Each contract's cases: the settings its suite test used (from the plugin), or the defaults of (b)."""
    from authcanary.targets import load_target

    target = load_target(ROOT / "targets.toml", "sim")
    found = []
    for contract, (vendor, test_file) in CONTRACTS.items():
        if vendor not in vendors:
            continue
        used = suite.contracts.get(contract)
        if test_file is not None and used is None:
            raise SystemExit(f"{test_file}: its contract test did not run; did the suite change?")
        if used:
            found.append(
                Cases(
                    contract,
                    vendor,
                    used["max_examples"],
                    used["phases"],
                    used["checks"],
                    used["operations"],
                    used["security_parameters"],
                )
            )
        else:
            found.append(
                Cases(
                    contract,
                    vendor,
                    examples or target.vendors[vendor].settings["max_examples"],
                    ["coverage", "fuzzing"],
                    CONFORMANCE,
                )
            )
    return found


def median(samples: list[Sample], attribute: str) -> float:
    return statistics.median(getattr(sample, attribute) for sample in samples)


def per_request(samples: list[Sample], attribute: str) -> float:
    """Milliseconds per request of the median run (medians of seconds and of requests)."""
    return 1000 * median(samples, attribute) / max(1.0, median(samples, "requests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (interleaved); medians are printed")
    parser.add_argument("--vendor", action="append", choices=VENDORS, help="only these vendors (default: all)")
    parser.add_argument("--examples", type=int, default=None, help="--max-examples for the suites (default: target)")
    parser.add_argument("--no-cli", action="store_true", help="skip schemathesis' CLI")
    parser.add_argument("--no-api", action="store_true", help="skip schemathesis' Python API")
    parser.add_argument("--api-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.api_worker:
        api_worker(args.api_worker)
        return
    vendors = args.vendor or list(VENDORS)
    files = [file for vendor in vendors for file in PROPERTY_FILES[vendor]]
    began, load = time.perf_counter(), os.getloadavg()[0]
    suites: list[Sample] = []
    fresh_suites: list[Sample] = []  # the same, with every contract test's cases generated (a first run)
    contract_runs: dict[str, dict[str, list[Sample]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-properties-") as tmp:
        work = Path(tmp)
        # warm-up, not measured: hypothesis' storage (its Unicode tables, ~1 s of CPU, and the constants it reads
        # from our sources) and the case store are filled once, as in a developer's checkout after its first run
        run_suite(work, "warm-up", files, args.examples)
        cases: list[Cases] = []
        for index in range(args.repeat):
            suites.append(run_suite(work, f"suites-{index}", files, args.examples))
            fresh_suites.append(run_suite(work, f"suites-fresh-{index}", files, args.examples, fresh=True))
            if not cases:
                cases = contract_cases(suites[0], args.examples, vendors)
            for case in cases:
                runs = contract_runs.setdefault(case.contract, {"suite": [], "fresh": [], "cli": [], "api": []})
                test_file = CONTRACTS[case.contract][1]
                if test_file is not None:
                    for fresh in (False, True):
                        runs["fresh" if fresh else "suite"].append(
                            run_suite(
                                work,
                                f"contract-{Path(case.contract).parent.name}-{index}-{fresh}",
                                [test_file],
                                args.examples,
                                "test_contract_conformance",
                                fresh,
                            )
                        )
                if not args.no_cli:
                    runs["cli"].append(cli_run(work, case, index))
                if not args.no_api:
                    runs["api"].append(api_run(work, case))
    elapsed = time.perf_counter() - began

    print()
    print(f"(a) property suites, in-process (embedded target), one pytest process, median of {args.repeat}")
    print(f"    {' '.join(files)}")
    print(f"    {'vendor':<10} {'requests':>8} {'tests ms/req':>13} {'(CPU)':>7}")
    for vendor in vendors:
        rows = [sample.vendors[vendor] for sample in suites if vendor in sample.vendors]
        if rows:
            requests = statistics.median(row[0] for row in rows)
            wall, cpu = (1000 * statistics.median(row[i] for row in rows) / requests for i in (1, 2))
            print(f"    {vendor:<10} {int(requests):>8} {wall:>13.2f} {cpu:>7.2f}")
    wall_ms, cpu_ms = per_request(suites, "wall"), per_request(suites, "cpu")
    verdict = "MET" if cpu_ms <= TARGET_MS else "MISSED"
    print(
        f"    all: {int(median(suites, 'requests'))} requests, execution {median(suites, 'wall'):.2f} s wall / "
        f"{median(suites, 'cpu'):.2f} s CPU (collection through the last test)"
    )
    target = f"target <= {TARGET_MS:.0f} ms: {verdict}"
    print(f"    execution per request: {wall_ms:.2f} ms wall, {cpu_ms:.2f} ms CPU   {target}")
    print("      runs: " + "; ".join(sample.note for sample in suites))
    fresh_wall, fresh_cpu = per_request(fresh_suites, "wall"), per_request(fresh_suites, "cpu")
    print(
        f"    a first run (every contract test generates its cases, --authcanary-fresh-cases): {fresh_wall:.2f} ms"
        f" wall, {fresh_cpu:.2f} ms CPU per request ({cpu_ms / fresh_cpu:.2f} of it once the cases are stored)"
    )
    print()
    print("(b) the same cases: the suite's contract test alone (cases reused; fresh: generated), schemathesis' CLI")
    print("    (HTTP to serve), its Python API")
    print(
        f"    {'contract':<36} {'max ex':>6} {'ours req':>8} {'ms/req':>7} {'fresh':>6} {'CLI req':>7} {'ms/req':>7} "
        f"{'ratio':>6} {'API req':>7} {'ms/req':>7} {'ratio':>6}"
    )
    for case in cases:
        runs = contract_runs[case.contract]
        if runs["suite"]:
            ours, ours_requests = per_request(runs["suite"], "wall"), int(median(runs["suite"], "requests"))
        else:  # no suite test over this contract: the vendor's whole property suite
            rows = [sample.vendors[case.vendor] for sample in suites if case.vendor in sample.vendors]
            ours_requests = int(statistics.median(row[0] for row in rows))
            ours = 1000 * statistics.median(row[1] for row in rows) / ours_requests
        fresh = f"{per_request(runs['fresh'], 'wall'):>6.2f}" if runs["fresh"] else f"{'-':>6}"
        line = f"    {case.contract:<36} {case.max_examples:>6} {ours_requests:>8} {ours:>7.2f} {fresh}"
        for key in ("cli", "api"):
            if runs[key]:
                theirs = per_request(runs[key], "wall")
                line += f" {int(median(runs[key], 'requests')):>7} {theirs:>7.2f} {theirs / ours:>5.2f}x"
            else:
                line += f" {'-':>7} {'-':>7} {'-':>6}"
        print(line + ("" if runs["suite"] else "   (no suite test: ours = the vendor's property suite)"))
    print(
        "      ratio = their ms per request / ours (above 1: ours is faster); ours and the API: wall execution;"
        " the CLI: its running_time"
    )
    for case in cases:
        notes = contract_runs[case.contract]["cli"]
        if notes:
            print(f"      CLI {case.contract}: " + "; ".join(sample.note for sample in notes))
    print()
    print(
        f"    bench total {elapsed:.0f} s; load average {load:.1f} -> {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs" + ("  (busy machine: trust the CPU figures)" if os.getloadavg()[0] > 1.0 else "")
    )


if __name__ == "__main__":
    main()

"""`authcanary run`: one run of the suites against a target, written to a run folder (docs/architecture.md "Flow of
one run")."""

from __future__ import annotations

import _thread
import datetime as dt
import json
import os
import signal
import sqlite3
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from authcanary import __version__
from authcanary.baseline import recordings_manifest
from authcanary.catalog import load_catalog
from authcanary.contracts import contract_constants, contract_deprecated_fields
from authcanary.drift import DriftResult, compare, write_drift_report
from authcanary.errors import ConfigError
from authcanary.files import write_atomically
from authcanary.findings import each_finding, finding_id
from authcanary.history import UNOBSERVED_STATUSES, History, HistoryError, open_history
from authcanary.pytest.workers import read_findings
from authcanary.recording.scan import scan_paths
from authcanary.registry import VENDORS, example_vendor
from authcanary.simulators.profiles import split_profile
from authcanary.summary import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    FAIL_ON,
    NOT_CONFIGURED_NOTE,
    NOT_SELECTED_NOTE,
    SCHEMA,
    exit_code,
    fail_policy,
    vendor_entry,
    vendor_status,
)
from authcanary.targets import Target, load_target, load_targets_file
from authcanary.waivers import Waiver, apply_waivers, load_waivers, waived

#: The pytest plugins a run needs, loaded explicitly instead of autoloading every installed pytest11 entry point.
#: With autoload, pytest marks every module of every plugin *distribution* for assertion rewriting -- all of
#: hypothesis and schemathesis (~400 modules) -- and re-parses and recompiles them at each start whenever it cannot
#: cache the result (PYTHONDONTWRITEBYTECODE, read-only site-packages): ~3.5 s of CPU per run. `-p` marks only the
#: named module, so the suites' own tests and conftests keep their assertion rewriting.
PLUGIN_ARGS = [
    "--disable-plugin-autoload",
    "-p",
    "authcanary.pytest.plugin",
    "-p",
    "_hypothesis_pytestplugin",
    "-p",
    "schemathesis.pytest.plugin",
    "-p",
    "allure_pytest.plugin",
]


#: the baseline a project starts without: its absence is a note (first run), any other missing baseline an error
DEFAULT_BASELINE = Path("cassettes")
DEFAULT_HISTORY = Path("reports/history.sqlite")
DEFAULT_WAIVERS = Path("waivers.toml")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class RunRequest:
    """What the user asked `authcanary run` for."""

    target: str = "sim"
    targets_file: Path = Path("targets.toml")
    vendors: list[str] = field(default_factory=list)
    baseline: Path = DEFAULT_BASELINE
    out: Path | None = None
    profile: str | None = None
    max_examples: int | None = None
    root: Path = field(default_factory=Path.cwd)
    mode: str = "live"  # "live": send requests and record; "replay": answer the scenarios from the baseline
    #: the findings history (SQLite), relative to `root`; None: no history
    history: Path | None = DEFAULT_HISTORY
    #: the waivers file, relative to `root`; only the default may be missing
    waivers: Path = DEFAULT_WAIVERS
    #: `--fail-on`: the least severe violation or drift that fails the run; None: the default policy
    fail_on: str | None = None
    #: `--workers`: processes the vendors are spread over (one vendor's tests all on one); None: one per vendor on
    #: a live target, one on an embedded target
    workers: int | None = None
    #: `--allure-history`: the previous generated Allure report, whose history/ the run's allure-results/ carries on
    allure_history: Path | None = None
    #: `--fresh-cases`: the contract tests generate their cases even where the case store has them
    fresh_cases: bool = False
    #: the clock of the run's times (started, default folder name, waiver expiry, announced dates); tests move it
    clock: Callable[[], dt.datetime] = _utc_now


MODES = ("live", "replay")


def prepare(request: RunRequest) -> tuple[Target, Path]:
    """Validate everything that can be validated before a single request is sent; returns (target, run folder)."""
    suites = request.root / "suites"
    if not suites.is_dir():
        raise ConfigError(f"{suites}: no suites folder here.", "Run authcanary from the root of your checkout.")
    target = load_target(request.targets_file, request.target)
    if not target.vendors:
        raise ConfigError(
            f"{request.targets_file}: target '{target.name}' has no vendor section: nothing to test.",
            f"Add a section such as [targets.{target.name}.{example_vendor().name}] "
            f"(vendors: {', '.join(sorted(VENDORS))}).",
        )
    for vendor in request.vendors:
        if vendor not in VENDORS:
            raise ConfigError(f"unknown vendor '{vendor}'.", f"Use one of: {', '.join(sorted(VENDORS))}.")
        if vendor not in target.vendors:
            raise ConfigError(
                f"{request.targets_file}: target '{target.name}' has no {vendor} section, so "
                f"--vendor {vendor} would test nothing.",
                f"Add [targets.{target.name}.{vendor}] or choose among: {', '.join(sorted(target.vendors)) or 'none'}.",
            )
    if request.history is not None and (request.root / request.history).is_dir():
        raise ConfigError(
            f"--history {request.history}: a folder, not a history file.", "Give a file, e.g. reports/history.sqlite."
        )
    if request.allure_history is not None:
        from authcanary.reporting.allure import allure_history_folder

        allure_history_folder(request.allure_history)
    if request.mode not in MODES:
        raise ConfigError(f"unknown mode '{request.mode}'.", f"Use one of: {', '.join(MODES)}.")
    if request.mode == "replay" and request.profile:
        raise ConfigError(
            "--profile has no effect with --mode replay: the answers come from the baseline.", "Drop --profile."
        )
    if request.profile and not target.embedded:
        raise ConfigError(
            f"--profile needs an embedded target; '{target.name}' is live.",
            "Drop --profile, or serve a profile with `authcanary serve --profile` and point a target at it.",
        )
    if request.profile:  # each deviation goes to the vendors that define it, as `authcanary serve` does
        split_profile(request.profile, sorted(request.vendors or target.vendors))
    check_baseline(request, request.vendors or sorted(target.vendors))
    if request.mode == "live":
        check_simulator_targets(target, request)
    if request.fail_on is not None and request.fail_on not in FAIL_ON:
        raise ConfigError(f"--fail-on {request.fail_on}: unknown level.", f"Use one of: {', '.join(FAIL_ON)}.")
    run_dir = request.out or request.root / "reports" / f"{request.clock():%Y%m%dT%H%M%SZ}-{target.name}"
    if _inside(run_dir, baseline_folder(request)):
        raise ConfigError(
            f"--out {run_dir}: inside the baseline folder {request.baseline}.",
            "Write runs elsewhere (the default is reports/); the baseline only changes through "
            "`authcanary baseline accept`.",
        )
    if request.out is None:
        return target, run_dir  # the default folder is made unique when it is claimed (`claim_run_folder`)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: not a folder.", "Give --out a new or empty folder.")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(f"{run_dir}: the run folder already has files.", "Choose an empty or new --out folder.")
    return target, run_dir


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve() == folder.resolve() or folder.resolve() in path.resolve().parents


def claim_run_folder(run_dir: Path, exclusive: bool) -> Path:
    """Create the run folder. `exclusive` (the default folder): never one another run already has; two runs started
    in the same second get `<name>`, `<name>-2`, ... (mkdir is atomic, so two processes cannot both win)."""
    candidate, n = run_dir, 1
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=not exclusive)
            return candidate
        except FileExistsError:
            n += 1
            candidate = run_dir.with_name(f"{run_dir.name}-{n}")
        except OSError as exc:
            raise ConfigError(
                f"{candidate}: cannot create the run folder ({exc.strerror}).", "Give --out a folder you can write to."
            ) from None


class Interrupted:
    """SIGINT during the test run: remembered, and raised as KeyboardInterrupt so pytest stops. Code under test may
    swallow one KeyboardInterrupt (a library's broad `except`, an event loop); so until the run is over it is raised
    again every `REPEAT` seconds (`_thread.interrupt_main`): an interrupt always stops the run. A second Ctrl-C gets
    Python's default handling."""

    REPEAT = 1.0

    def __init__(self) -> None:
        self.seen = False
        self._over = threading.Event()

    def _insist(self) -> None:
        while not self._over.wait(self.REPEAT):
            _thread.interrupt_main()  # does nothing once SIGINT is ignored (while the interrupted run is written)

    @contextmanager
    def watching(self) -> Iterator[None]:
        def handler(signum: int, frame: Any) -> None:
            self.seen = True
            signal.signal(signal.SIGINT, signal.default_int_handler)
            threading.Thread(target=self._insist, name="authcanary-interrupt", daemon=True).start()
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            self.over()
            signal.signal(signal.SIGINT, previous)

    def over(self) -> None:
        """The interrupted work has stopped: no more repeated interrupts."""
        self._over.set()


def run(request: RunRequest) -> int:
    """Run the suites, write summary.json, junit.xml, allure-results/ and the reports; return the exit code.

    Ctrl-C (SIGINT) at any moment, in the tests or while the outputs are written, ends the run with 130 and a
    summary.json marked `interrupted` (`finish_interrupted`)."""
    target, run_dir = prepare(request)
    waivers = load_run_waivers(request)
    run_dir = claim_run_folder(run_dir, exclusive=request.out is None)
    started = request.clock()
    interrupted = Interrupted()
    findings: dict[str, Any] | None = None
    with interrupted.watching():
        try:
            try:
                pytest_exit = _run_pytest(request, target, run_dir)
            except Exception:
                if not interrupted.seen:
                    raise
                # pytest itself can fail while it reports an interrupt (a traceback frame without a line number)
                pytest_exit = pytest.ExitCode.INTERRUPTED
            if interrupted.seen or pytest_exit == pytest.ExitCode.INTERRUPTED:
                interrupted.over()
                raise KeyboardInterrupt
            if pytest_exit in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR):
                print(
                    f"authcanary: the test run stopped early (pytest exit {int(pytest_exit)}); see above.",
                    file=sys.stderr,
                )
                report_leaks(run_dir, target)  # what it wrote so far stays behind
                return EXIT_CONFIG
            findings = read_findings(run_dir)
            return _write_outcome(request, target, run_dir, started, findings, waivers)
        except KeyboardInterrupt:
            pass
    return finish_interrupted(request, target, run_dir, started, findings)


def _run_pytest(request: RunRequest, target: Target, run_dir: Path) -> int | pytest.ExitCode:
    args = [
        str(request.root / "suites"),
        "--rootdir",
        str(request.root),
        "-o",
        "addopts=",
        "-p",
        "no:cacheprovider",
        *PLUGIN_ARGS,
        "--target",
        target.name,
        "--targets",
        str(request.targets_file.resolve()),
        "--authcanary-out",
        str(run_dir),
        "--junitxml",
        str(run_dir / "junit.xml"),
        "--alluredir",
        str(run_dir / "allure-results"),
        "-W",
        "ignore::DeprecationWarning",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        "--tb=line",
    ]
    for vendor in request.vendors:
        args += ["--vendor", vendor]
    if request.profile:
        args += ["--sim-profile", request.profile]
    if request.max_examples:
        args += ["--max-examples", str(request.max_examples)]
    if request.mode == "replay":
        args += ["--replay", str(baseline_folder(request))]
    if request.fresh_cases:
        args += ["--authcanary-fresh-cases"]
    workers = worker_count(request, target)
    if workers > 1:
        args += ["-p", "xdist.plugin", "-n", str(workers)]
    from hypothesis.configuration import set_hypothesis_home_dir

    cache = hypothesis_cache()
    if cache is not None:
        set_hypothesis_home_dir(cache)
        return pytest.main(args)
    with tempfile.TemporaryDirectory(prefix="authcanary-hypothesis-") as hypothesis_home:
        set_hypothesis_home_dir(hypothesis_home)
        return pytest.main(args)


def hypothesis_cache() -> Path | None:
    """Where hypothesis keeps its caches for runs: `$XDG_CACHE_HOME/authcanary/hypothesis` (default
    `~/.cache/...`), never ./.hypothesis in the checkout. Its unicode character map costs ~1.5 s and ~200 MB of
    peak memory to build, so a fresh folder per run would pay that every time (and every xdist worker too). None
    when no cache folder can be made: the run then uses a temporary one."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = base / "authcanary" / "hypothesis"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def worker_count(request: RunRequest, target: Target) -> int:
    """How many processes run the vendors: `--workers`, else one per vendor on a live target (they mostly wait on
    each vendor's pace, so they overlap well) and one on an embedded target (all CPU: extra workers cost their start
    and memory, and a vendor never spreads over workers); never more than there are vendors."""
    vendors = len(request.vendors or target.vendors)
    wanted = request.workers if request.workers is not None else (1 if target.embedded else vendors)
    return max(1, min(wanted, vendors))


def _write_outcome(
    request: RunRequest,
    target: Target,
    run_dir: Path,
    started: dt.datetime,
    findings: dict[str, Any],
    waivers: list[Waiver] | None = None,
) -> int:
    """Drift, summary.json (waivers applied, history recorded), the reports and the secret scan of a finished test
    run; returns the exit code."""
    from authcanary.reporting.junit import mark_accepted_failures
    from authcanary.reporting.step_summary import append_step_summary

    drift: dict[str, list[dict[str, Any]]]
    if request.mode == "replay":
        drift, drift_notes = {}, replay_notes(request, sorted(findings))
    else:
        drift, drift_notes = compare_with_baseline(request, run_dir, findings)
    summary = build_summary(
        target, request, started, request.clock(), findings, drift, drift_notes, recordings_manifest(run_dir), waivers
    )
    record_history(request, summary, run_dir)
    mark_accepted_failures(run_dir / "junit.xml", summary)  # junit agrees with the verdict (waivers, --fail-on)
    write_run_outputs(run_dir, summary, request.allure_history)
    leaked = report_leaks(run_dir, target)
    if leaked:
        summary["exit_code"] = EXIT_CONFIG  # CI reading summary.json must see the failure too
        write_summary(run_dir, summary)
        amend_history_exit_code(request, summary, run_dir)
    append_step_summary(summary, run_dir)  # the CI job summary (GITHUB_STEP_SUMMARY) gets the final verdict
    if leaked:
        return EXIT_CONFIG
    print_outcome(summary, run_dir)
    if all(entry["status"] == "skipped" for entry in summary["vendors"].values()):
        print("authcanary: no check ran (every test was skipped); the notes in the report say why.", file=sys.stderr)
    return int(summary["exit_code"])


def finish_interrupted(
    request: RunRequest, target: Target, run_dir: Path, started: dt.datetime, findings: dict[str, Any] | None = None
) -> int:
    """Write what an interrupted run found so far, marked `interrupted` (never a baseline, drift not compared),
    whatever the run had written before; returns 130. A further Ctrl-C waits until this is written."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        findings = read_findings(run_dir) if findings is None else findings
        summary = build_summary(
            target,
            request,
            started,
            request.clock(),
            findings,
            {},
            {vendor: ["the run was interrupted: these results are partial"] for vendor in findings},
        )
        summary["interrupted"] = True
        summary["exit_code"] = EXIT_INTERRUPTED
        write_run_outputs(run_dir, summary, request.allure_history)
        report_leaks(run_dir, target)
    finally:
        signal.signal(signal.SIGINT, previous)
    print(f"\nauthcanary: interrupted; partial results in {run_dir} (exit {EXIT_INTERRUPTED})", file=sys.stderr)
    return EXIT_INTERRUPTED


def report_leaks(run_dir: Path, target: Target) -> bool:
    """Scan the run folder for secrets (the target's and any token-shaped value); say where, never what."""
    leaks = scan_paths([run_dir], target.secret_values(), target.public_values())
    for hit in leaks:
        print(
            f"authcanary: SECRET FOUND in run output {hit.file}:{hit.line} ({hit.kind}): {hit.excerpt}", file=sys.stderr
        )
    if leaks:
        print(
            f"authcanary: the run folder {run_dir} contains secrets (see above): treat them as leaked, delete "
            f"the folder, and report the leak as an authcanary bug.",
            file=sys.stderr,
        )
    return bool(leaks)


def print_outcome(summary: dict[str, Any], run_dir: Path) -> None:
    """The few lines a person (or a CI log) needs after a run: each vendor's status, where the report is."""
    print()
    for vendor, entry in summary["vendors"].items():
        checks = entry["checks"]
        print(
            f"authcanary: {vendor:<10} {entry['status']:<12} {checks['passed']} passed, {checks['failed']} failed, "
            f"{checks['skipped']} skipped; {len(entry['violations'])} violation(s), {len(entry['drift'])} drift, "
            f"{entry['requests']} request(s){_lifecycle(entry)}"
        )
    for waiver in summary.get("waivers", {}).get("expired", []):
        print(f"authcanary: waiver EXPIRED on {waiver['expires']}: {_waiver_name(waiver)} ({waiver['ticket']})")
    for waiver in summary.get("waivers", {}).get("stale", []):
        print(f"authcanary: stale waiver (matched nothing; remove it?): {_waiver_name(waiver)} ({waiver['ticket']})")
    print(f"authcanary: exit {summary['exit_code']}; report: {run_dir / 'report.html'} (also report.md, summary.json)")


def _lifecycle(entry: dict[str, Any]) -> str:
    """`; 1 new, 2 resolved, 1 waived` (the history and waiver counts that are not zero)."""
    counts = {
        "new": sum(finding.get("state") == "new" for _, finding in each_finding(entry)),
        "resolved": len(entry.get("resolved", [])),
        "waived": entry.get("waived", 0),
    }
    shown = [f"{count} {name}" for name, count in counts.items() if count]
    return f"; {', '.join(shown)}" if shown else ""


def _waiver_name(waiver: dict[str, Any]) -> str:
    return f"{waiver['vendor']} {waiver['check'] or waiver['drift']}"


def baseline_folder(request: RunRequest) -> Path:
    return request.baseline if request.baseline.is_absolute() else request.root / request.baseline


def check_simulator_targets(target: Target, request: RunRequest) -> None:
    """A live vendor marked `simulator = true` must be an authcanary simulator: its control plane answers.

    An unreachable one is left to the run (an outage, exit 3); one that answers otherwise is a config error."""
    import httpx

    from authcanary.simulators.framework import CONTROL_PREFIX

    for vendor, vendor_target in sorted(target.vendors.items()):
        if vendor_target.embedded or not vendor_target.simulated or (request.vendors and vendor not in request.vendors):
            continue
        url = f"{vendor_target.base_url}{CONTROL_PREFIX}/info"
        try:
            response = httpx.get(url, timeout=vendor_target.settings.get("timeout", 15))
        except httpx.HTTPError:
            continue
        try:
            is_simulator = response.status_code == 200 and response.json().get("vendor") == vendor
        except (ValueError, AttributeError):
            is_simulator = False
        if not is_simulator:
            raise ConfigError(
                f"{request.targets_file}: targets.{target.name}.{vendor} says simulator = true, but "
                f"GET {url} answered {response.status_code}, not as an authcanary {vendor} simulator.",
                f"Point base_url at `authcanary serve` (with --vendor all: .../{vendor}), or remove "
                "`simulator = true` for a real vendor.",
            )


def check_baseline(request: RunRequest, vendors: list[str]) -> None:
    """A baseline that is not there (but for a project's first run), or a damaged baseline cassette, is a
    ConfigError before the run starts, not a crash or a silent "no drift" after it."""
    from authcanary.drift.normalize import normalize_folder

    folder = baseline_folder(request)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            f"--baseline {request.baseline}: not a folder.",
            "Give the folder of the accepted cassettes (<dir>/<vendor>/*.yaml), e.g. cassettes.",
        )
    if not folder.exists() and (request.baseline != DEFAULT_BASELINE or request.mode == "replay"):
        raise ConfigError(
            f"--baseline {request.baseline}: no such folder.",
            "Check the path; a new baseline is made with `authcanary baseline accept RUN_DIR`.",
        )
    if request.mode == "replay" and not any((folder / vendor).is_dir() for vendor in vendors):
        raise ConfigError(
            f"--baseline {request.baseline}: no recordings of {', '.join(vendors)} to replay.",
            "Replay needs an accepted baseline: run live once, then `authcanary baseline accept`.",
        )
    try:
        normalize_folder(folder, vendors=vendors, workers=1)
    except ValueError as exc:  # the normalizer's CassetteError names the file
        raise ConfigError(
            f"baseline: {exc}",
            "Restore the baseline from git (`git checkout -- "
            f"{request.baseline}`) or accept a new one with `authcanary baseline accept`.",
        ) from None


def replay_notes(request: RunRequest, vendors: list[str]) -> dict[str, list[str]]:
    """What a replay run did (and did not) check, per vendor."""
    baseline = baseline_folder(request)
    return {
        vendor: [
            f"replayed offline from {baseline / vendor}: scenario answers checked against the current "
            "contracts; property suites and drift not run"
        ]
        if (baseline / vendor).is_dir()
        else [f"no baseline in {baseline / vendor}: nothing to replay"]
        for vendor in vendors
    }


def compare_with_baseline(
    request: RunRequest, run_dir: Path, findings: dict[str, Any]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[str]]]:
    """Drift of this run's cassettes against the accepted baseline, per vendor, plus notes (no baseline...).

    An endpoint the run observed removed on or after its announced removal date is the documented deprecation
    path, not a regression: the drift it causes is reported as info until a new baseline is accepted."""
    vendors = sorted(findings)
    recorded = run_dir / "cassettes"
    notes: dict[str, list[str]] = {vendor: [] for vendor in vendors}
    if not recorded.is_dir():
        return {}, notes
    baseline = baseline_folder(request)
    constants = contract_constants(request.root / "contracts", vendors)
    result = compare(baseline, recorded, constants=constants, vendors=vendors)
    for vendor, explained in explain_expected_drift(result, findings, request.clock().date().isoformat()).items():
        notes[vendor] += explained
    for vendor, explained in explain_deprecated_fields(result, request.root / "contracts", vendors).items():
        notes[vendor] += explained
    write_drift_report(result, run_dir)
    for vendor in result.no_baseline:
        notes.setdefault(vendor, []).append(
            f"no baseline in {baseline}/{vendor}: drift not checked (accept one with `authcanary baseline accept "
            f"RUN_DIR`)"
        )
    return {vendor: result.findings(vendor) for vendor in result.vendors}, notes


def explain_deprecated_fields(result: DriftResult, contracts_dir: Path, vendors: list[str]) -> dict[str, list[str]]:
    """Make info of a deprecated field's disappearance (contracts' `deprecated_fields`): the vendor announced it kept
    the field only for backward compatibility, so its removal is the announced path, not a regression."""
    notes: dict[str, list[str]] = {}
    for vendor, fields in contract_deprecated_fields(contracts_dir, vendors).items():
        for path, spec in fields.items():
            note = (
                f"{path} was removed: deprecated in favour of {spec.get('replacement', 'another field')} "
                f"(removal {spec.get('announced_removal', 'announced')}); expected drift"
            )
            if result.expect_field_removal(vendor, path, spec.get("endpoints", []), note):
                notes.setdefault(vendor, []).append(note)
    return notes


def explain_expected_drift(result: DriftResult, findings: dict[str, Any], day: str) -> dict[str, list[str]]:
    """Make info of the drift a run explains itself, and say so per vendor: an endpoint it observed removed on or
    after its announced removal date `day` (the documented deprecation path, until a new baseline is accepted), and
    the missing steps of scenarios it skipped (`unobserved`). `findings`: per vendor, the plugin's findings or the
    run's summary.json entry."""
    notes: dict[str, list[str]] = {}
    for vendor, entry in findings.items():
        notes[vendor] = []
        for deprecation in entry.get("deprecations", []):
            announced = deprecation.get("announced_removal") or ""
            if str(deprecation.get("observed", "")).startswith("removed") and announced and announced <= day:
                note = (
                    f"{deprecation['endpoint']} was removed as announced ({announced}): expected drift; "
                    "accept a new baseline once the migration is reviewed"
                )
                if result.expect_removal(vendor, deprecation["endpoint"], note):
                    notes[vendor].append(note)
        lost = set(entry.get("outage_scenarios", []))
        if result.downgrade(vendor, lost, "an interaction of this scenario was lost to an outage"):
            # a lost step shifts the numbering of the steps after it: nothing of such a scenario is breaking drift
            notes[vendor].append(
                f"{len(lost)} recorded scenario(s) lost interactions to outages: their drift is not breaking"
            )
        skipped = set(entry.get("unobserved", [])) - lost
        if result.downgrade(vendor, skipped, "not observed: the test was skipped in this run", ("step_missing",)):
            notes[vendor].append(
                f"{len(skipped)} recorded scenario(s) skipped in this run: their missing steps are not drift"
            )
    return notes


def build_summary(
    target: Target,
    request: RunRequest,
    started: dt.datetime,
    finished: dt.datetime,
    findings: dict[str, Any],
    drift: dict[str, list[dict[str, Any]]] | None = None,
    drift_notes: dict[str, list[str]] | None = None,
    recordings: dict[str, dict[str, str]] | None = None,
    waivers: list[Waiver] | None = None,
) -> dict[str, Any]:
    """summary.json of a run; `recordings` (`baseline.recordings_manifest`) lists each vendor's cassettes with their
    hashes, so `baseline accept` takes exactly what the run wrote. The vendors' statuses follow `--fail-on` and the
    `waivers` (None: no waivers file)."""
    policy = fail_policy(request.fail_on)
    vendors = {}
    for vendor in sorted(VENDORS):
        notes = []
        if vendor not in target.vendors:
            notes.append(NOT_CONFIGURED_NOTE.format(target=target.name))
        elif request.vendors and vendor not in request.vendors:
            notes.append(NOT_SELECTED_NOTE)
        notes += (drift_notes or {}).get(vendor, [])
        vendors[vendor] = vendor_entry(findings.get(vendor), (drift or {}).get(vendor, []), notes, policy)
        vendors[vendor]["drift_checked"] = vendor in (drift or {})  # compared with a baseline (not replay, has one)
        vendors[vendor]["recordings"] = (recordings or {}).get(vendor, {})
        configured = target.vendors.get(vendor)
        vendors[vendor]["base_url"] = configured.base_url if configured and not configured.embedded else None
    describe_checks(vendors, request.root / "contracts")
    summary: dict[str, Any] = {
        "schema": SCHEMA,
        "harness_version": __version__,
        "target": target.name,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "mode": request.mode,
        "baseline": str(baseline_folder(request)),
        "fail_on": request.fail_on,
        "exit_code": 0,
        "vendors": vendors,
    }
    if waivers is not None:
        ran = {vendor for vendor, entry in vendors.items() if entry["status"] not in UNOBSERVED_STATUSES}
        waivers_file = request.root / request.waivers
        outcome = apply_waivers(waivers, target.name, started.date(), vendors, str(waivers_file), ran)
        for entry in vendors.values():
            entry["status"] = vendor_status(entry, policy)
            entry["waived"] = sum(waived(finding) for _, finding in each_finding(entry))
            for kind, finding in each_finding(entry):
                if (waiver := finding.get("waiver")) and waiver["expired"]:
                    entry["notes"].append(
                        f"waiver for {finding_id(kind, finding)} expired on {waiver['expires']} ({waiver['ticket']}): "
                        "the finding fails the run again"
                    )
        summary["waivers"] = outcome.as_dict()
    summary["exit_code"] = exit_code(vendors)
    return summary


def describe_checks(vendors: dict[str, dict[str, Any]], contracts_dir: Path) -> None:
    """Give each violation its check's documented `source` and a link to the check's declaration (`source_url`:
    under `$AUTHCANARY_SOURCE_URL` when set, e.g. a repository's blob URL in CI, else the local file)."""
    base = os.environ.get("AUTHCANARY_SOURCE_URL", "").rstrip("/")
    for vendor, entry in vendors.items():
        if not entry["violations"]:
            continue
        try:
            catalog = load_catalog(contracts_dir, vendor)
        except ConfigError:
            continue  # the run already said what is wrong with the declarations
        for violation in entry["violations"]:
            try:
                spec = catalog.check(violation.get("check_id", ""))
            except LookupError:
                continue
            violation["source"] = spec.source
            violation["vendor_source"] = catalog.public_source(spec.source)  # as the vendor names its documents
            if spec.line:
                violation["check_file"] = f"contracts/{vendor}/checks.yaml"
                violation["check_line"] = spec.line
                where = (
                    f"{base}/{violation['check_file']}"
                    if base
                    else (contracts_dir / vendor / "checks.yaml").resolve().as_uri()
                )
                violation["source_url"] = f"{where}#L{spec.line}"


def load_run_waivers(request: RunRequest) -> list[Waiver] | None:
    """The run's waivers, validated before any request is sent (a bad file is exit 2); None when the default file
    does not exist (a missing `--waivers FILE` is an error)."""
    path = request.root / request.waivers
    if not path.exists():
        if request.waivers != DEFAULT_WAIVERS:
            raise ConfigError(f"--waivers {request.waivers}: no such file.", "Check the path, or drop --waivers.")
        return None
    vendors = sorted(VENDORS)
    check_ids = {vendor: set(load_catalog(request.root / "contracts", vendor).checks) for vendor in vendors}
    waivers = load_waivers(path, check_ids)
    targets = set(load_targets_file(request.targets_file).get("targets", {}))
    for waiver in waivers:
        if waiver.target and waiver.target not in targets:
            raise ConfigError(
                f"{path}: the waiver of {waiver.check or waiver.drift} names target '{waiver.target}', which "
                f"{request.targets_file} does not have, so it could never match.",
                f"Use one of: {', '.join(sorted(targets))}, or drop `target`.",
            )
    return waivers


def keep_waivers_of_unchecked(summary: dict[str, Any]) -> None:
    """A waiver of a finding the run could not check again (its tests failed on something else, or were skipped; the
    history carries it over as `unchecked`) is not stale: the vendor may well not have fixed it."""
    outcome = summary.get("waivers")
    if not outcome or not outcome["stale"]:
        return
    unchecked = [
        (vendor, finding) for vendor, entry in summary["vendors"].items() for finding in entry.get("unchecked", [])
    ]
    outcome["stale"] = [
        waiver
        for waiver in outcome["stale"]
        if not any(
            Waiver.from_dict(waiver).matches(summary["target"], vendor, "violation", finding)
            for vendor, finding in unchecked
        )
    ]


def record_history(request: RunRequest, summary: dict[str, Any], run_dir: Path) -> None:
    """Record the run in its history and annotate summary.json with each finding's state (`history.History`). A
    history that cannot be used never costs the run: a damaged file is set aside (and a new one started), a locked
    or unwritable one is skipped; either way summary.json's `history.error` and stderr say so."""
    if request.history is None:
        return
    path = request.root / request.history
    if request.mode == "replay":
        return  # a replay checks the baseline's answers again: nothing about the vendor today (docs: not recorded)
    try:
        history, note = open_history(path, request.clock())
    except (HistoryError, OSError) as exc:
        summary["history"] = {"path": str(path), "error": f"history not recorded ({exc})"}
        print(f"authcanary: warning: {summary['history']['error']}: {path}", file=sys.stderr)
        return
    try:
        history.record(summary, str(run_dir))
    except sqlite3.Error as exc:
        summary["history"] = {"path": str(path), "error": f"history not recorded ({exc})"}
    finally:
        history.close()
    keep_waivers_of_unchecked(summary)
    if note:
        summary["history"]["error"] = note
    if error := summary["history"].get("error"):
        print(f"authcanary: warning: {error}", file=sys.stderr)


def amend_history_exit_code(request: RunRequest, summary: dict[str, Any], run_dir: Path) -> None:
    """The history keeps the exit code the run ended with, also when the secret scan changed it after recording."""
    if request.history is None or "previous_run" not in summary.get("history", {}):
        return  # not recorded
    try:
        history = History(request.root / request.history)
    except (HistoryError, OSError, sqlite3.Error):
        return  # recorded moments ago: a file gone bad since only keeps the earlier code
    try:
        history.amend_exit_code(summary["target"], summary["started"], str(run_dir), int(summary["exit_code"]))
    except sqlite3.Error:
        pass
    finally:
        history.close()


def write_run_outputs(run_dir: Path, summary: dict[str, Any], allure_history: Path | None = None) -> None:
    """summary.json, the reports and the Allure extras (`allure_history`: the previous report, `--allure-history`)."""
    from authcanary.reporting import write_reports
    from authcanary.reporting.allure import write_allure_results

    write_summary(run_dir, summary)
    write_reports(run_dir, summary)
    write_allure_results(run_dir, summary, allure_history)


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    write_atomically(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")

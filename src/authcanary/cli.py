"""The `authcanary` command line (docs/interfaces.md "Command line"). Exit codes: 0 compliant, 1 violations or breaking
drift, 2 usage or configuration error, 3 target unreachable."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from authcanary import __version__
from authcanary.errors import ConfigError
from authcanary.registry import VENDORS
from authcanary.summary import EXIT_INTERRUPTED

app = typer.Typer(
    name="authcanary",
    help="Compliance, migration and drift checks for AEC authentication and token APIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
baseline_app = typer.Typer(help="Manage the accepted baseline cassettes.", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")
err = Console(stderr=True)
out = Console()
VENDOR_NAMES = ", ".join(sorted(VENDORS))
EXIT_CODES = (
    "Exit codes: 0 compliant and no breaking drift; 1 violations or breaking drift; "
    "2 usage or configuration error; 3 target unreachable; 130 interrupted (partial results)."
)


def _print_version(value: bool) -> None:
    if value:
        out.print(f"authcanary {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _app(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Options before any command (--version)."""


@app.command(epilog=EXIT_CODES)
def run(
    target: Annotated[str, typer.Option(help="Target name in the targets file.")] = "sim",
    targets: Annotated[Path, typer.Option(help="Targets file (TOML).")] = Path("targets.toml"),
    vendor: Annotated[
        list[str] | None,
        typer.Option(help=f"Only this vendor (repeatable): {VENDOR_NAMES}.", show_default="every vendor of the target"),
    ] = None,
    baseline: Annotated[Path, typer.Option(help="Accepted baseline cassettes to compare with.")] = Path("cassettes"),
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder.", show_default="reports/<UTC time>-<target>/")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            help="Embedded target only: simulator profile (documented or deviations joined with `,`; see "
            "`authcanary profiles`).",
            show_default="the target's profile",
        ),
    ] = None,
    max_examples: Annotated[
        int | None,
        typer.Option(help="Hypothesis examples per property test.", min=1, show_default="the target's max_examples"),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            help="`live`: send requests, record and compare with the baseline; `replay`: no network at all, the "
            "scenario suites are answered from the baseline cassettes and checked against the current contracts."
        ),
    ] = "live",
    history: Annotated[
        Path,
        typer.Option(
            help="Findings history (SQLite): each finding is then new, open (first seen, runs seen) or resolved "
            "since the previous run of the target. Safe for concurrent runs."
        ),
    ] = Path("reports/history.sqlite"),
    no_history: Annotated[bool, typer.Option("--no-history", help="Neither read nor record a history.")] = False,
    waivers: Annotated[
        Path,
        typer.Option(
            help="Waivers file: known findings (check id or drift key, reason, ticket, expires) that are reported "
            "but do not fail the run until they expire.",
            show_default="waivers.toml, if it exists",
        ),
    ] = Path("waivers.toml"),
    fail_on: Annotated[
        str | None,
        typer.Option(
            help="The least severe finding that fails the run (exit 1): breaking, warning or info, for violations "
            "and drift alike.",
            show_default="violations of warning or worse, breaking drift",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Processes to run the vendors in (pytest-xdist): each vendor's tests all run in one, at its own "
            "pace and budget, while vendors run side by side. 1: one process.",
            min=1,
            show_default="live target: one per vendor; embedded: 1",
        ),
    ] = None,
    fresh_cases: Annotated[
        bool,
        typer.Option(
            "--fresh-cases",
            help="Generate the contract tests' cases even where they are stored. An embedded run reuses the cases "
            "an earlier run with the same contract, settings and libraries generated (generation is deterministic: "
            "they are the same); a live run always generates them.",
        ),
    ] = False,
    allure_history: Annotated[
        Path | None,
        typer.Option(
            "--allure-history",
            metavar="DIR",
            help="The previous generated Allure report (or its history/ folder): its history is carried into this "
            "run's allure-results/, so `allure generate` continues its trends. An empty DIR: no report kept yet.",
            show_default="none",
        ),
    ] = None,
) -> None:
    """Run every suite for TARGET and write the run folder.

    The run folder holds summary.json, junit.xml, allure-results/, report.html and report.md."""
    from authcanary.runner import RunRequest
    from authcanary.runner import run as run_suites

    if no_history and history != Path("reports/history.sqlite"):
        raise ConfigError("--no-history and --history contradict each other.", "Give one of them.")

    request = RunRequest(
        target=target,
        targets_file=targets,
        vendors=vendor or [],
        baseline=baseline,
        out=out_dir,
        profile=profile,
        max_examples=max_examples,
        mode=mode,
        history=None if no_history else history,
        waivers=waivers,
        fail_on=fail_on,
        allure_history=allure_history,
        workers=workers,
        fresh_cases=fresh_cases,
    )
    code = run_suites(request)
    raise typer.Exit(code)


@app.command()
def serve(
    vendor: Annotated[str, typer.Option(help=f"`all` or one vendor: {VENDOR_NAMES}.")] = "all",
    host: Annotated[str, typer.Option(help="Interface to bind (keep it on loopback).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).", min=0, max=65535)] = 8700,
    profile: Annotated[
        str,
        typer.Option(
            help="`documented` or deviations joined with `,` (see `authcanary profiles`); with `--vendor all` each "
            "deviation goes to the vendor that has it."
        ),
    ] = "documented",
    prefix: Annotated[str, typer.Option(help="Serve under this path prefix, e.g. /api.", show_default="the root")] = "",
    option: Annotated[
        list[str] | None,
        typer.Option(
            help="Simulator option or registered credential KEY=VALUE (repeatable), e.g. v1_decommission=2024-04-30, "
            "fault_rate=0.1, latency=0.2, client_id=..., password=... (overrides --options-file and the "
            "environment).",
            show_default="none",
        ),
    ] = None,
    options_file: Annotated[
        Path | None,
        typer.Option(
            help="File of KEY=VALUE lines (# comments allowed) with the same keys as --option, so secrets stay out of "
            "the process list; overrides AUTHCANARY_SERVE_<KEY> variables.",
            show_default="none",
        ),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="Origin browsers may call the simulators from, e.g. http://localhost:3000 (repeatable).",
            show_default="any origin",
        ),
    ] = None,
) -> None:
    """Serve the simulators over real HTTP, for people and for other programs' tests.

    With `--vendor all` each vendor lives under /<vendor>; one vendor lives at the root (or --prefix).

    Options and registered credentials: --option KEY=VALUE, over --options-file, over environment variables
    AUTHCANARY_SERVE_<KEY> (KEY upper-cased, e.g. AUTHCANARY_SERVE_CLIENT_SECRET). Every vendor takes the
    operational options fault_rate (0..1 of the requests answered with a fault), fault_status (e.g. 503,500),
    fault_retry_after (seconds; 0: no header), fault_seed and latency (seconds before each answer).

    Control plane, under each simulator's base URL (printed at start):
    GET  <base>/__authcanary__/info: vendor, profile, virtual time;
    POST <base>/__authcanary__/clock {"advance": 3600}: move the virtual clock forward (seconds);
    POST <base>/__authcanary__/fault {"status": 500, "count": 1}: answer the next requests with that status;
    POST <base>/__authcanary__/reset: forget every token, counter, fault and clock jump."""
    from authcanary.server import serve as serve_simulators

    serve_simulators(
        vendor,
        host,
        port,
        profile,
        prefix,
        option or [],
        log=err,
        options_file=options_file,
        cors_origins=cors_origin or ["*"],
    )


@app.command()
def profiles(
    vendor: Annotated[
        str | None, typer.Option(help=f"Only this vendor: {VENDOR_NAMES}.", show_default="every vendor")
    ] = None,
) -> None:
    """List the simulator profiles: `documented` and each deviation a check must catch."""
    names = [vendor] if vendor else sorted(VENDORS)
    for name in names:
        if name not in VENDORS:
            raise ConfigError(f"unknown vendor '{name}'.", f"Use one of: {', '.join(sorted(VENDORS))}.")
        simulator = VENDORS[name].simulator_class()
        table = Table(title=f"{name} simulator profiles", title_justify="left")
        table.add_column("profile")
        table.add_column("what it changes")
        table.add_row("documented", "behaves as the vendor documented")
        for deviation, description in simulator.deviations.items():
            table.add_row(deviation, description)
        out.print(table)


@app.command("checks")
def list_checks(
    vendor: Annotated[
        str | None, typer.Option(help=f"Only this vendor: {VENDOR_NAMES}.", show_default="every vendor")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    contracts: Annotated[Path, typer.Option(help="Contracts folder (checks.yaml per vendor).")] = Path("contracts"),
) -> None:
    """List the named checks: id, title, the documented source it comes from, severity, and the simulator deviation
    profiles that prove it fires (declared in contracts/<vendor>/checks.yaml)."""
    import json

    from authcanary.catalog import load_catalog

    names = [vendor] if vendor else sorted(VENDORS)
    if unknown := [name for name in names if name not in VENDORS]:
        raise ConfigError(f"unknown vendor '{unknown[0]}'.", f"Use one of: {', '.join(sorted(VENDORS))}.")
    catalogs = [load_catalog(contracts, name) for name in names]
    if as_json:
        out.print_json(json.dumps({c.vendor: [spec.as_dict() for spec in c.checks.values()] for c in catalogs}))
        return
    for catalog in catalogs:
        table = Table(title=f"{catalog.vendor} checks", title_justify="left")
        for column in ("id", "title", "source", "severity", "profiles"):
            table.add_column(column, overflow="fold")
        for spec in catalog.checks.values():
            # Text, not markup: a source may hold brackets ("[RFC 6749]")
            table.add_row(
                *(Text(cell) for cell in (spec.id, spec.title, spec.source, spec.severity, ", ".join(spec.profiles)))
            )
        out.print(table)


@app.command()
def drift(
    baseline: Annotated[Path, typer.Argument(help="Baseline cassettes folder (<dir>/<vendor>/*.yaml).")],
    current: Annotated[Path, typer.Argument(help="Current cassettes: a run folder or its cassettes/ folder.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Where drift.json and drift.md go.", show_default="the current folder")
    ] = None,
    contracts: Annotated[Path, typer.Option(help="Contracts folder: the constant values to compare.")] = Path(
        "contracts"
    ),
) -> None:
    """Compare two sets of recordings; exit 1 on breaking drift. Given a run folder, drift the run explained itself
    (an announced removal it observed, scenarios it skipped) is info, exactly as in `authcanary run`.

    Exit 2 if CURRENT holds no recordings (a vendor folder without cassettes), or if --out is inside BASELINE."""
    import json

    from authcanary.contracts import contract_constants
    from authcanary.drift import compare, write_drift_report
    from authcanary.drift.normalize import vendor_cassettes
    from authcanary.recording.cassette import CassetteError
    from authcanary.runner import explain_deprecated_fields, explain_expected_drift

    record_fix = (
        "Drift compares recordings: pass the folder of a live `authcanary run` that recorded its scenarios "
        "(a replay run records nothing), or a cassettes folder of <vendor>/*.yaml."
    )
    out_folder = out_dir or Path.cwd()
    if out_folder.resolve().is_relative_to(baseline.resolve()):
        raise ConfigError(
            f"{out_folder}: inside the baseline folder {baseline}, where drift.json and drift.md must not go.",
            "Pass --out DIR outside it (the default is the current folder); the "
            "baseline only changes through `authcanary baseline accept`.",
        )
    run_dir = current if (current / "cassettes").is_dir() or (current / "summary.json").is_file() else None
    current = current / "cassettes" if run_dir else current
    if run_dir and not vendor_cassettes(current):
        raise ConfigError(f"{run_dir}: the run recorded no cassettes, so there is nothing to compare.", record_fix)
    vendors_in: dict[Path, set[str]] = {}
    for folder in (baseline, current):
        if not folder.is_dir():
            raise ConfigError(f"{folder}: not a folder.", "Pass a cassettes folder or a run folder.")
        vendors_in[folder] = {p.name for p in folder.iterdir() if p.is_dir() and p.name in VENDORS}
        if not vendors_in[folder]:
            raise ConfigError(
                f"{folder}: no vendor folder ({', '.join(sorted(VENDORS))}) in it.",
                "Pass the folder that holds <vendor>/*.yaml (e.g. cassettes), or a run folder.",
            )
    if empty := sorted(vendors_in[current] - vendor_cassettes(current).keys()):
        raise ConfigError(f"{current}: no recordings (<vendor>/*.yaml) of {', '.join(empty)} in it.", record_fix)
    compared = sorted(vendors_in[baseline] & vendors_in[current])
    if not compared:
        raise ConfigError(
            f"nothing to compare: {baseline} has {', '.join(sorted(vendors_in[baseline]))}, "
            f"{current} has {', '.join(sorted(vendors_in[current]))}.",
            "Compare the same vendors.",
        )
    if not contracts.is_dir():
        err.print(
            f"warning: {contracts}: no contracts folder here, so constant values are not compared (use --contracts).",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    try:
        result = compare(baseline, current, constants=contract_constants(contracts, compared))
    except (CassetteError, ValueError) as exc:
        raise ConfigError(f"{exc}", "Restore the cassette from git or re-record it.") from None
    if run_dir and (run_dir / "summary.json").is_file():
        try:
            summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
            day = str(summary.get("started", ""))[:10]
            entries = {v: e for v, e in summary.get("vendors", {}).items() if v in compared and isinstance(e, dict)}
        except (ValueError, AttributeError) as exc:
            raise ConfigError(
                f"{run_dir / 'summary.json'}: unreadable ({exc}).",
                "Pass the folder of a finished `authcanary run`, or its cassettes/ folder.",
            ) from None
        if day:
            explain_expected_drift(result, entries, day)
    explain_deprecated_fields(result, contracts, compared)
    json_path, md_path = write_drift_report(result, out_folder)
    out.print(md_path.read_text(encoding="utf-8"), highlight=False, markup=False)
    raise typer.Exit(1 if result.breaking else 0)


@app.command()
def scan(paths: Annotated[list[Path], typer.Argument(help="Files or folders (cassettes, run folders).")]) -> None:
    """Find secrets (JWTs, Basic credentials, high-entropy strings) in files; exit 1 if any."""
    from authcanary.recording.scan import scan_paths

    try:
        hits = scan_paths(paths)
    except OSError as exc:
        raise ConfigError(f"{exc}.".removeprefix("scan: "), "Pass existing, readable files or folders.") from None
    for hit in hits:
        out.print(
            f"{hit.file}:{hit.line}: {hit.kind}: {hit.excerpt}", highlight=False, markup=False, soft_wrap=True
        )  # one hit, one line, however narrow the terminal
    out.print(f"{len(hits)} secret(s) found" if hits else "no secrets found", highlight=False)
    raise typer.Exit(1 if hits else 0)


@app.command(epilog=EXIT_CODES)
def merge(
    run_dirs: Annotated[
        list[Path], typer.Argument(metavar="RUN_DIR", help="Run folders of one target, e.g. one per vendor.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="The merged run folder; must be new or empty.")],
    targets: Annotated[
        Path | None,
        typer.Option(
            help="Also scan for the target's credentials (read from the environment, as `run` does).",
            show_default="token-shaped values only",
        ),
    ] = None,
) -> None:
    """Merge the run folders of a per-vendor CI matrix (`authcanary run --vendor V` each) into one run folder:
    summary.json, junit.xml, allure-results/, cassettes/, drift.json and the reports.

    Each vendor comes from the run that ran it; two runs of one vendor, other targets, or an unfinished run: exit 2."""
    from authcanary.merge import merge_runs
    from authcanary.runner import print_outcome

    summary = merge_runs(run_dirs, out_dir, targets)
    print_outcome(summary, out_dir)
    raise typer.Exit(int(summary["exit_code"]))


@app.command("history")
def history_command(
    history: Annotated[Path, typer.Option(help="Findings history (SQLite) written by `authcanary run`.")] = Path(
        "reports/history.sqlite"
    ),
    target: Annotated[str | None, typer.Option(help="Only this target.", show_default="every target")] = None,
    vendor: Annotated[
        str | None, typer.Option(help=f"Only this vendor: {VENDOR_NAMES}.", show_default="every vendor")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only runs started on or after this date (YYYY-MM-DD).", show_default="all")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Print the findings timeline: the runs (exit code; new, resolved and waived findings) and each finding (first
    and last seen, runs seen, open or resolved)."""
    import datetime as dt
    import json

    from authcanary.history import History, HistoryCorrupt, HistoryError

    if vendor is not None and vendor not in VENDORS:
        raise ConfigError(f"unknown vendor '{vendor}'.", f"Use one of: {', '.join(sorted(VENDORS))}.")
    if since is not None:
        try:
            dt.date.fromisoformat(since)
        except ValueError:
            raise ConfigError(f"--since {since}: not a date.", "Write it as YYYY-MM-DD, e.g. 2026-11-01.") from None
    if not history.is_file():
        raise ConfigError(
            f"{history}: no history here.",
            "`authcanary run` records one (default reports/history.sqlite); pass --history PATH for another.",
        )
    try:
        store = History(history, readonly=True)  # a viewer changes nothing: setting a damaged file aside is `run`'s
    except HistoryCorrupt as exc:
        raise ConfigError(
            f"{history}: not a usable authcanary history ({exc}).",
            "Check --history; the next `authcanary run` with this file sets it aside and starts a new history.",
        ) from None
    except HistoryError as exc:
        raise ConfigError(f"{history}: cannot read the history ({exc}).", "Retry when no run holds it.") from None
    try:
        runs = store.runs(target, since)
        findings = store.findings(target, vendor, since)
        known = sorted({run["target"] for run in store.runs()}) if target and not runs else []
    finally:
        store.close()
    if vendor:
        runs = [run for run in runs if vendor in run["vendors"]]
    if target and not runs:
        err.print(
            f"note: no runs of target '{target}' in {history}; its targets: {', '.join(known) or 'none'}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if as_json:
        out.print_json(json.dumps({"runs": runs, "findings": findings}))
        return
    table = Table(title=f"runs ({len(runs)})", title_justify="left")
    for column in ("started", "target", "exit", "vendors", "findings", "new", "resolved", "waived"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            Text(_when(run["started"])),
            *(Text(str(run[key])) for key in ("target", "exit_code")),
            Text(", ".join(run["vendors"])),
            *(Text(str(run[key])) for key in ("findings", "new", "resolved", "waived")),
        )
    out.print(table)
    table = Table(title=f"findings ({len(findings)})", title_justify="left")
    several_targets = len({finding["target"] for finding in findings}) > 1
    for column in ("target", "vendor", "finding", "first seen", "last seen", "runs", "waived", "now"):
        if column != "target" or several_targets:
            table.add_column(column, overflow="fold")
    for finding in findings:
        cells = [finding["vendor"], f"{finding['id']} [{finding['severity']}]", _when(finding["first_seen"])]
        cells += [_when(finding["last_seen"]), str(finding["runs_seen"]), str(finding["runs_waived"]), finding["state"]]
        table.add_row(*(Text(cell) for cell in ([finding["target"]] if several_targets else []) + cells))
    out.print(table)


def _when(iso: str) -> str:
    """`2026-11-30 02:00` of an ISO time (UTC in every summary)."""
    return iso[:16].replace("T", " ")


@baseline_app.command("accept")
def baseline_accept(
    run_dir: Annotated[Path, typer.Argument(help="A run folder whose cassettes become the baseline.")],
    baseline: Annotated[Path, typer.Option(help="Baseline folder to update.")] = Path("cassettes"),
    vendor: Annotated[
        list[str] | None,
        typer.Option(
            help=f"Only this vendor (repeatable): {VENDOR_NAMES}.", show_default="every vendor recorded in the run"
        ),
    ] = None,
) -> None:
    """Make RUN_DIR's recordings the accepted baseline of the vendors in that run (and of nothing else)."""
    from authcanary.baseline import accept

    for accepted in accept(run_dir, baseline, vendor):
        out.print(f"accepted {accepted.vendor}: {baseline / accepted.vendor}", highlight=False, markup=False)
        if accepted.kept:
            out.print(
                f"  kept {len(accepted.kept)} baseline cassette(s) of scenarios the run skipped: "
                f"{', '.join(accepted.kept)}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )


report_app = typer.Typer(help="Write documents from a finished run folder.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("vendor")
def report_vendor(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (it holds summary.json).")],
    vendor: Annotated[str, typer.Option(help="The vendor the report is for (one that ran in RUN_DIR).")],
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="X.html or X.md: writes X.html and X.md; a folder: the default names in it; any other name gets "
            ".html and .md appended.",
            show_default="RUN_DIR/vendor-report-<V>.html and .md",
        ),
    ] = None,
) -> None:
    """Write a regression report to send to VENDOR: each finding with its documented source, what was observed,
    since when, a curl reproduction (credentials as shell variables) and the environment; nothing internal (no
    other vendor, no waiver, no notes, no secrets).

    Exit 2 if RUN_DIR has no readable summary.json, VENDOR did not run in it, or --out is inside a cassettes folder."""
    from authcanary.reporting.vendor import write_vendor_report

    for path in write_vendor_report(run_dir, vendor, out_file):
        out.print(str(path), highlight=False, markup=False, soft_wrap=True)


def main() -> None:
    """Console entry point: configuration errors become one line with the fix, and exit 2."""
    try:
        sys.exit(app(standalone_mode=False) or 0)
    except ConfigError as exc:
        err.print(Text.assemble(("error:", "bold red"), f" {exc.cause}"), highlight=False, soft_wrap=True)
        if exc.fix:
            err.print(f"  fix: {exc.fix}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode (typer bundles click)
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(2)
        raise

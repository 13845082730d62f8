"""The command line end to end (console script in a subprocess): bad input gives exit 2 with one `error:` line and
a `fix:` line and writes nothing; an unreachable base_url gives exit 3, never a violation; help works."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from authcanary import __version__, cli
from authcanary.errors import ConfigError
from authcanary.registry import VENDORS
from authcanary.simulators.autodesk import AutodeskSimulator
from conftest import FAST_EXAMPLES, ROOT, cli_env, closed_port, listing, run_authcanary, write_loop_targets

LIVE = """
[targets.live.autodesk]
base_url = "http://127.0.0.1:9"
client_id = "literal-id"
client_secret = "literal-secret"
"""


@pytest.fixture(scope="module")
def reports_before() -> set[str]:
    return listing(ROOT / "reports")


def assert_config_error(result, out: Path, *cause_parts: str, reports_before: set[str] | None = None) -> str:
    """Exit 2, `error: <cause>` on one line then `  fix: ...`, no traceback, and nothing written."""
    assert result.code == 2, result.output
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [index for index, line in enumerate(lines) if line.startswith("error: ")]
    assert len(errors) == 1, f"expected one `error:` line:\n{result.output}"
    cause = lines[errors[0]]
    assert errors[0] + 1 < len(lines) and lines[errors[0] + 1].strip().startswith("fix: "), result.output
    for part in cause_parts:
        assert part in cause, f"{part!r} not in {cause!r}"
    assert not out.exists(), f"bad input created the run folder: {listing(out)}"
    assert result.summary is None
    if reports_before is not None:
        assert listing(ROOT / "reports") == reports_before, "bad input wrote into reports/"
    return cause


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "targets.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- exit 2: configuration and usage errors --------------------------------------------------------------------
def test_unknown_target(tmp_path, reports_before):
    out = tmp_path / "run"
    result = run_authcanary(["run", "--target", "nope"], out)
    assert_config_error(result, out, "unknown target 'nope'", "sim", reports_before=reports_before)


def test_unknown_vendor(tmp_path, reports_before):
    out = tmp_path / "run"
    result = run_authcanary(["run", "--vendor", "autodeskk"], out)
    assert_config_error(result, out, "unknown vendor 'autodeskk'", reports_before=reports_before)
    assert "autodesk, axeobim, bimplus, kudo" in result.output


def test_malformed_toml(tmp_path, reports_before):
    out = tmp_path / "run"
    path = write(tmp_path, "[targets.live.autodesk\nbase_url = 1\n")
    result = run_authcanary(["run", "--targets", str(path), "--target", "live"], out)
    assert_config_error(result, out, str(path), "not valid TOML", reports_before=reports_before)


def test_unknown_key(tmp_path, reports_before):
    out = tmp_path / "run"
    path = write(tmp_path, LIVE + 'clientsecret = "typo"\n')
    result = run_authcanary(["run", "--targets", str(path), "--target", "live"], out)
    assert_config_error(result, out, str(path), "targets.live.autodesk.clientsecret", reports_before=reports_before)


def test_missing_variable(tmp_path, reports_before):
    out = tmp_path / "run"
    path = write(tmp_path, LIVE.replace('"literal-secret"', '"${AUTHCANARY_TEST_UNSET_SECRET}"'))
    result = run_authcanary(["run", "--targets", str(path), "--target", "live"], out)
    cause = assert_config_error(
        result,
        out,
        str(path),
        "targets.live.autodesk.client_secret",
        "AUTHCANARY_TEST_UNSET_SECRET",
        reports_before=reports_before,
    )
    assert "export AUTHCANARY_TEST_UNSET_SECRET" in result.output
    assert cause


def test_missing_variable_of_the_shipped_staging_target(tmp_path, reports_before):
    out = tmp_path / "run"
    result = run_authcanary(["run", "--target", "staging"], out)
    assert_config_error(result, out, "targets.toml", "APS_CLIENT_ID", reports_before=reports_before)


def test_bad_url(tmp_path, reports_before):
    out = tmp_path / "run"
    path = write(tmp_path, LIVE.replace("http://127.0.0.1:9", "127.0.0.1:8700"))
    result = run_authcanary(["run", "--targets", str(path), "--target", "live"], out)
    assert_config_error(result, out, "targets.live.autodesk.base_url", reports_before=reports_before)


def test_missing_targets_file(tmp_path, reports_before):
    out = tmp_path / "run"
    result = run_authcanary(["run", "--targets", str(tmp_path / "absent.toml")], out)
    assert_config_error(result, out, "targets file not found", reports_before=reports_before)


def test_profile_on_a_live_target(tmp_path, reports_before):
    out = tmp_path / "run"
    path = write(tmp_path, LIVE)
    result = run_authcanary(
        ["run", "--targets", str(path), "--target", "live", "--profile", "lowercase-token-type"], out
    )
    assert_config_error(result, out, "--profile needs an embedded target", "'live'", reports_before=reports_before)


def test_profile_on_the_shipped_local_target(tmp_path, reports_before):
    out = tmp_path / "run"
    result = run_authcanary(["run", "--target", "local", "--profile", "lowercase-token-type"], out)
    assert_config_error(result, out, "--profile needs an embedded target", reports_before=reports_before)


def test_unknown_profile(tmp_path, reports_before):
    out = tmp_path / "run"
    result = run_authcanary(["run", "--vendor", "autodesk", "--profile", "lowercase-token-typo"], out)
    assert_config_error(
        result, out, "unknown autodesk profile lowercase-token-typo", "documented", reports_before=reports_before
    )
    assert "authcanary profiles" in result.output


def test_non_empty_out_folder(tmp_path, reports_before):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run_authcanary(["run", "--vendor", "autodesk"], out)
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    assert "error: " in result.output and "already has files" in result.output and "fix: " in result.output
    assert listing(out) == {"keep.txt"} and (out / "keep.txt").read_text() == "mine"
    assert listing(ROOT / "reports") == reports_before


def test_unknown_profile_in_the_targets_file(tmp_path, reports_before):
    out = tmp_path / "run"
    path = write(tmp_path, '[targets.s]\nembedded = true\n[targets.s.autodesk]\nprofile = "nope"\n')
    result = run_authcanary(["run", "--targets", str(path), "--target", "s"], out)
    assert_config_error(
        result,
        out,
        str(path),
        "targets.s.autodesk.profile",
        "unknown autodesk profile nope",
        reports_before=reports_before,
    )
    assert "authcanary profiles" in result.output


def test_unknown_option_in_the_targets_file(tmp_path, reports_before):
    out = tmp_path / "run"
    path = write(
        tmp_path, '[targets.s]\nembedded = true\n[targets.s.autodesk]\noptions = { v1_decomission = "2024-04-30" }\n'
    )
    result = run_authcanary(["run", "--targets", str(path), "--target", "s"], out)
    assert_config_error(
        result, out, str(path), "targets.s.autodesk.options.v1_decomission", reports_before=reports_before
    )
    assert "v1_decommission" in result.output  # the fix lists the known options


@pytest.mark.parametrize(
    "args",
    [["run", "--bogus"], ["run", "--max-examples", "0"], ["frobnicate"], []],
    ids=["unknown-option", "bad-value", "unknown-command", "no-arguments"],
)
def test_usage_errors_exit_2_without_traceback(tmp_path, args):
    result = run_authcanary(args)
    assert result.code == 2, result.output
    assert "Traceback" not in result.output


def test_serve_bad_input_exits_2(tmp_path):
    for args, cause in [
        (["serve", "--vendor", "nope"], "unknown vendor 'nope'"),
        (["serve", "--vendor", "autodesk", "--profile", "nope"], "unknown autodesk profile nope"),
        (["serve", "--vendor", "autodesk", "--option", "bogus=1"], "bogus"),
        (["serve", "--vendor", "autodesk", "--option", "novalue"], "KEY=VALUE"),
    ]:
        result = run_authcanary(args, cwd=tmp_path)
        assert result.code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert "error: " in result.output and cause in result.output and "fix: " in result.output, result.output
    assert listing(tmp_path) == set()


def test_scan_of_a_missing_path_exits_2(tmp_path):
    result = run_authcanary(["scan", str(tmp_path / "absent")])
    assert_config_error(result, tmp_path / "run", str(tmp_path / "absent"), "does not exist")


def test_config_error_text_is_printed_verbatim(monkeypatch, capsys):
    """Square brackets in a cause or fix are text, not rich markup."""

    def fail(**_: object) -> None:
        raise ConfigError("t.toml: [targets.x] is wrong.", "Put it under [targets.x.autodesk].")

    monkeypatch.setattr(cli, "app", fail)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["error: t.toml: [targets.x] is wrong.", "  fix: Put it under [targets.x.autodesk]."]


def test_profiles_unknown_vendor_exits_2():
    result = run_authcanary(["profiles", "--vendor", "nope"])
    assert result.code == 2 and "error: unknown vendor 'nope'" in result.output and "Traceback" not in result.output


# -- exit 0: help and listings ---------------------------------------------------------------------------------
def test_version():
    result = run_authcanary(["--version"])
    assert result.code == 0 and result.output.strip() == f"authcanary {__version__}", result.output


@pytest.mark.parametrize(
    "args", [["--help"], ["run", "--help"], ["serve", "--help"], ["profiles", "--help"], ["baseline", "--help"]]
)
def test_help_exits_0(args):
    result = run_authcanary(args)
    assert result.code == 0, result.output
    assert "Usage" in result.output and "Traceback" not in result.output


def test_run_help_documents_the_options():
    output = run_authcanary(["run", "--help"]).output
    for option in ("--target", "--targets", "--vendor", "--baseline", "--out", "--profile", "--max-examples"):
        assert option in output


def test_run_help_documents_the_exit_codes():
    output = " ".join(run_authcanary(["run", "--help"], env=cli_env(COLUMNS="200")).output.split())
    for code in (
        "0 compliant",
        "1 violations or breaking drift",
        "2 usage or configuration error",
        "3 target unreachable",
    ):
        assert code in output


@pytest.mark.parametrize("command", [["run"], ["serve"], ["profiles"], ["baseline", "accept"]])
def test_vendor_options_list_the_vendors(command):
    output = run_authcanary([*command, "--help"], env=cli_env(COLUMNS="200")).output
    assert ", ".join(sorted(VENDORS)) in output


def test_serve_help_documents_the_options():
    output = run_authcanary(["serve", "--help"], env=cli_env(COLUMNS="200")).output
    for option in ("--vendor", "--host", "--port", "--profile", "--prefix", "--option"):
        assert option in output
    assert "[default: (the root)]" in output
    for endpoint in (
        "GET  <base>/__authcanary__/info",
        'clock {"advance": 3600}',
        'fault {"status": 500, "count": 1}',
        "POST <base>/__authcanary__/reset",
    ):
        assert endpoint in output


def test_profiles_lists_every_autodesk_deviation():
    result = run_authcanary(["profiles", "--vendor", "autodesk"], env=None)
    assert result.code == 0, result.output
    for name in ["documented", *AutodeskSimulator.deviations]:
        assert name in result.output, name


def test_profiles_of_all_vendors():
    result = run_authcanary(["profiles"])
    assert result.code == 0 and "autodesk simulator profiles" in result.output


# -- exit 3: unreachable ---------------------------------------------------------------------------------------
def _unreachable_run(tmp_path: Path, simulator: bool):
    port = closed_port()
    targets = write_loop_targets(tmp_path / "targets.toml", f"http://127.0.0.1:{port}", simulator=simulator)
    out = tmp_path / "run"
    result = run_authcanary(
        ["run", "--targets", str(targets), "--target", "loop", "--max-examples", FAST_EXAMPLES], out
    )
    return result, out, port


def _assert_unreachable(result, out: Path, port: int) -> None:
    assert result.code == 3, result.output
    summary = result.summary
    assert summary is not None and summary["exit_code"] == 3
    autodesk = summary["vendors"]["autodesk"]
    assert autodesk["status"] == "unreachable"
    assert autodesk["violations"] == []
    assert autodesk["checks"]["failed"] == 0
    assert "ConnectError" in autodesk["error"] and str(port) in autodesk["error"]
    assert summary["vendors"]["bimplus"]["status"] == "skipped"
    assert (out / "junit.xml").is_file() and (out / "report.md").is_file()


def test_unreachable_live_base_url_exits_3(tmp_path, reports_before):
    result, out, port = _unreachable_run(tmp_path, simulator=False)
    _assert_unreachable(result, out, port)
    assert listing(ROOT / "reports") == reports_before


def test_unreachable_simulator_base_url_exits_3(tmp_path):
    """`simulator = true`: the control plane (reset before each test) meets the outage first; still exit 3."""
    result, out, port = _unreachable_run(tmp_path, simulator=True)
    _assert_unreachable(result, out, port)
    assert result.summary["vendors"]["autodesk"]["checks"]["passed"] == 0


# -- nothing written outside --out -----------------------------------------------------------------------------
def test_a_run_writes_nothing_outside_its_out_folder(tmp_path):
    """A private copy of the checkout, so nothing else running in the real one can write there meanwhile."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("suites", "strategies", "contracts", "cassettes"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, checkout / name, ignore=ignore)
    for name in ("conftest.py", "targets.toml", "pyproject.toml"):
        shutil.copy2(ROOT / name, checkout / name)
    before = listing(checkout)
    out = tmp_path / "run"
    result = run_authcanary(["run", "--vendor", "autodesk", "--max-examples", "5"], out, cwd=checkout)
    assert result.code == 0, result.output
    assert (out / "summary.json").is_file()
    assert sorted(listing(checkout) - before) == []


# -- dev.py ------------------------------------------------------------------------------------------------------
def _dev_main(monkeypatch, argv: list[str]) -> dict:
    """dev.main(argv) with the environment check skipped; returns how it called the subprocess."""
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    calls = []
    monkeypatch.setattr(dev, "ensure_environment", lambda: None)
    monkeypatch.setattr(dev, "subprocess", SimpleNamespace(call=lambda command, **kw: calls.append((command, kw))))
    dev.main(argv)
    [(command, kwargs)] = calls
    return {"command": command, "cwd": kwargs.get("cwd")}


def test_dev_py_runs_commands_where_the_caller_is(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    call = _dev_main(monkeypatch, ["run", "--out", "myrun"])
    assert call["cwd"] is None and call["command"][1:] == ["run", "--out", "myrun"]


def test_dev_py_test_runs_in_the_checkout(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    call = _dev_main(monkeypatch, ["test", "-q"])
    assert call["cwd"] == ROOT and call["command"][1:] == ["-m", "pytest", "-q"]


def test_drift_between_folders_without_vendor_recordings_is_a_config_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_authcanary(["drift", str(empty), str(ROOT / "cassettes"), "--out", str(tmp_path)])
    assert result.code == 2 and "no vendor folder" in result.output, result.output
    # an easy slip: a vendor's folder instead of the folder that holds the vendors
    result = run_authcanary(
        ["drift", str(ROOT / "cassettes"), str(ROOT / "cassettes" / "autodesk"), "--out", str(tmp_path)]
    )
    assert result.code == 2 and "no vendor folder" in result.output, result.output
    only_bimplus = tmp_path / "only-bimplus"
    shutil.copytree(ROOT / "cassettes" / "bimplus", only_bimplus / "bimplus")
    autodesk = tmp_path / "only-autodesk"
    shutil.copytree(ROOT / "cassettes" / "autodesk", autodesk / "autodesk")
    result = run_authcanary(["drift", str(only_bimplus), str(autodesk), "--out", str(tmp_path)])
    assert result.code == 2 and "nothing to compare" in result.output, result.output
    assert not (tmp_path / "drift.json").exists()


@pytest.mark.parametrize(
    ("args", "waivers", "cause"),
    [
        (["--fail-on", "critical"], None, "--fail-on critical"),
        (["--waivers", "missing-waivers.toml"], None, "no such file"),
        ([], "[[waiver]]\nvendor = 'kudo'\n", "missing reason, ticket, expires"),
        (
            [],
            "[[waiver]]\nvendor='kudo'\ncheck='kudo.x.y'\nreason='r'\nticket='https://t/1'\nexpires=2027-01-01\n",
            "could never match",
        ),
    ],
)
def test_bad_waivers_and_fail_on_are_exit_2_before_the_run(tmp_path, args, waivers, cause):
    if waivers is not None:
        (tmp_path / "waivers.toml").write_text(waivers)
        args = [*args, "--waivers", str(tmp_path / "waivers.toml")]
    result = run_authcanary(["run", "--vendor", "kudo", *args], tmp_path / "run")
    assert_config_error(result, tmp_path / "run", cause)


def test_history_of_a_missing_file_is_exit_2(tmp_path):
    result = run_authcanary(["history", "--history", str(tmp_path / "none.sqlite")])
    assert_config_error(result, tmp_path / "run", "no history here")
    result = run_authcanary(["history", "--history", str(tmp_path / "none.sqlite"), "--since", "yesterday"])
    assert_config_error(result, tmp_path / "run", "--since yesterday")

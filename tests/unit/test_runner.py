"""The runner's own guarantees, checked in-process with the test session replaced by a stand-in."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from authcanary import runner
from authcanary.errors import ConfigError
from authcanary.history import History
from authcanary.runner import RunRequest
from authcanary.summary import EXIT_CONFIG, EXIT_INTERRUPTED

ROOT = Path(__file__).resolve().parents[2]


def one_passed_check(run_dir: Path) -> None:
    """What the plugin writes after a session in which one Autodesk check passed."""
    findings = {
        "checks": {"passed": 1, "failed": 0, "skipped": 0},
        "requests": 1,
        "violations": [],
        "deprecations": [],
        "ambiguities": [],
        "notes": [],
        "unreachable": None,
    }
    (run_dir / "findings.json").write_text(json.dumps({"vendors": {"autodesk": findings}}))


def run_with_session(
    monkeypatch, tmp_path: Path, session, exit_code: int = pytest.ExitCode.OK, **request: object
) -> tuple[int, Path]:
    """`authcanary run --vendor autodesk` where `session(run_dir)` stands in for the pytest session."""

    def fake_main(args: list[str]) -> int:
        session(Path(args[args.index("--authcanary-out") + 1]))
        return exit_code

    monkeypatch.setattr(runner.pytest, "main", fake_main)
    out = tmp_path / "run"
    (tmp_path / "empty-baseline").mkdir(exist_ok=True)
    code = runner.run(
        RunRequest(
            vendors=["autodesk"],
            out=out,
            root=ROOT,
            targets_file=ROOT / "targets.toml",
            baseline=tmp_path / "empty-baseline",
            **{"history": tmp_path / "history.sqlite", **request},  # type: ignore[arg-type]
        )
    )
    return code, out


def test_a_run_whose_folder_holds_a_secret_exits_2_and_says_so(monkeypatch, tmp_path, capsys):
    leaked = f"Bearer {secrets.token_urlsafe(32)}"

    def leaky_session(run_dir: Path) -> None:
        one_passed_check(run_dir)
        (run_dir / "allure-results").mkdir()
        (run_dir / "allure-results" / "x-result.json").write_text(json.dumps({"parameters": [leaked]}))

    code, out = run_with_session(monkeypatch, tmp_path, leaky_session)
    assert code == EXIT_CONFIG
    assert json.loads((out / "summary.json").read_text())["exit_code"] == EXIT_CONFIG
    stderr = capsys.readouterr().err
    assert "x-result.json" in stderr and "contains secrets" in stderr
    assert leaked.split()[1] not in stderr
    [run] = History(tmp_path / "history.sqlite", readonly=True).runs()
    assert run["exit_code"] == EXIT_CONFIG, "the history keeps the exit code the run ended with"


def test_a_clean_run_folder_keeps_its_exit_code(monkeypatch, tmp_path):
    code, out = run_with_session(monkeypatch, tmp_path, one_passed_check)
    assert code == json.loads((out / "summary.json").read_text())["exit_code"] == 0


def test_a_run_in_which_no_check_ran_is_not_compliant(monkeypatch, tmp_path, capsys):
    code, out = run_with_session(monkeypatch, tmp_path, lambda run_dir: None)
    assert code == json.loads((out / "summary.json").read_text())["exit_code"] == EXIT_CONFIG
    assert "no check ran" in capsys.readouterr().err


def config_error(tmp_path: Path, **request) -> ConfigError:
    with pytest.raises(ConfigError) as error:
        runner.prepare(RunRequest(**{"vendors": ["autodesk"], "root": ROOT, "out": tmp_path / "run", **request}))
    assert not (tmp_path / "run").exists() or (tmp_path / "run").is_file()
    return error.value


def test_a_target_without_vendor_sections_is_a_config_error(tmp_path):
    targets = tmp_path / "targets.toml"
    targets.write_text("[targets.empty]\n")
    error = config_error(tmp_path, target="empty", targets_file=targets, vendors=[])
    assert "nothing to test" in error.cause and "[targets.empty.autodesk]" in error.fix


def test_a_baseline_that_is_not_there_is_a_config_error_but_for_the_default_one(tmp_path):
    assert "no such folder" in config_error(tmp_path, baseline=tmp_path / "typo").cause
    (tmp_path / "file").write_text("x")
    assert "not a folder" in config_error(tmp_path, baseline=tmp_path / "file").cause
    assert "no such folder" in config_error(tmp_path, baseline=tmp_path / "typo", mode="replay").cause
    (tmp_path / "other-vendor" / "bimplus").mkdir(parents=True)
    assert "to replay" in config_error(tmp_path, baseline=tmp_path / "other-vendor", mode="replay").cause
    # a project's first run has no baseline yet: a note in the report, not an error
    project = tmp_path / "project"
    (project / "suites").mkdir(parents=True)
    runner.prepare(
        RunRequest(vendors=["autodesk"], root=project, out=tmp_path / "run", targets_file=ROOT / "targets.toml")
    )


def test_an_out_that_is_a_file_is_a_config_error(tmp_path):
    (tmp_path / "run").write_text("x")
    assert "not a folder" in config_error(tmp_path).cause


def test_selecting_a_vendor_the_target_lacks_is_a_config_error(tmp_path):
    from authcanary.errors import ConfigError

    targets = tmp_path / "targets.toml"
    targets.write_text(
        '[targets.only_aps.autodesk]\nbase_url = "http://127.0.0.1:9"\nclient_id = "a"\nclient_secret = "b"\n'
    )
    with pytest.raises(ConfigError) as error:
        runner.prepare(
            RunRequest(target="only_aps", targets_file=targets, vendors=["bimplus"], root=ROOT, out=tmp_path / "run")
        )
    assert "no bimplus section" in error.value.cause and "[targets.only_aps.bimplus]" in error.value.fix
    assert not (tmp_path / "run").exists()


def test_profile_and_replay_do_not_mix(tmp_path):
    from authcanary.errors import ConfigError

    with pytest.raises(ConfigError, match="--mode replay"):
        runner.prepare(
            RunRequest(
                vendors=["autodesk"], root=ROOT, mode="replay", profile="lowercase-token-type", out=tmp_path / "run"
            )
        )


def test_an_interrupted_run_still_says_what_it_leaked(monkeypatch, tmp_path, capsys):
    leaked = f"Bearer {secrets.token_urlsafe(32)}"
    code, out = run_with_session(
        monkeypatch,
        tmp_path,
        lambda run_dir: (run_dir / "junit.xml").write_text(leaked),
        exit_code=pytest.ExitCode.INTERRUPTED,
    )
    # an interrupt is exit 130 with a partial summary that says so (issue 8), and the leak is still reported
    summary = json.loads((out / "summary.json").read_text())
    assert code == EXIT_INTERRUPTED and summary["interrupted"] is True and summary["exit_code"] == EXIT_INTERRUPTED
    stderr = capsys.readouterr().err
    assert "interrupted" in stderr and "junit.xml" in stderr and "contains secrets" in stderr
    assert leaked.split()[1] not in stderr


def test_default_run_folders_are_unique_even_within_one_second(tmp_path):
    first = runner.claim_run_folder(tmp_path / "20261130T120000Z-sim", exclusive=True)
    second = runner.claim_run_folder(tmp_path / "20261130T120000Z-sim", exclusive=True)
    assert first != second and second.name == "20261130T120000Z-sim-2" and first.is_dir() and second.is_dir()


def test_an_out_inside_the_baseline_is_refused(tmp_path):
    from authcanary.errors import ConfigError

    (tmp_path / "base" / "autodesk").mkdir(parents=True)
    with pytest.raises(ConfigError, match="inside the baseline"):
        runner.prepare(
            RunRequest(vendors=["autodesk"], root=ROOT, baseline=tmp_path / "base", out=tmp_path / "base" / "run")
        )


def one_violation(run_dir: Path) -> None:
    """What the plugin writes after a session in which one Autodesk check failed with a breaking violation."""
    violation = {
        "check": "the token type is Bearer",
        "endpoint": "POST /authentication/v2/token",
        "expected": "Bearer",
        "observed": "bearer",
        "severity": "breaking",
        "repro": "",
        "tests": ["suites/autodesk/test_x.py::test_y"],
        "check_id": "autodesk.constant.token_type",
    }
    findings = {
        "checks": {"passed": 1, "failed": 1, "skipped": 0},
        "requests": 2,
        "violations": [violation],
        "deprecations": [],
        "ambiguities": [],
        "notes": [],
        "unreachable": None,
    }
    (run_dir / "findings.json").write_text(json.dumps({"vendors": {"autodesk": findings}}))


def test_a_damaged_history_is_set_aside_and_the_run_completes_saying_so(monkeypatch, tmp_path, capsys):
    history = tmp_path / "history.sqlite"
    history.write_bytes(b"\x00garbage, not a database" * 64)
    code, out = run_with_session(monkeypatch, tmp_path, one_violation)
    summary = json.loads((out / "summary.json").read_text())
    assert code == 1 and summary["exit_code"] == 1
    assert "set aside as history.sqlite.corrupt-" in summary["history"]["error"]
    assert "set aside" in capsys.readouterr().err
    (aside,) = tmp_path.glob("history.sqlite.corrupt-*")
    assert aside.read_bytes() == b"\x00garbage, not a database" * 64
    assert summary["vendors"]["autodesk"]["violations"][0]["state"] == "new"  # the new history has this run
    assert "set aside" in (out / "report.md").read_text()


def test_a_history_that_cannot_be_written_costs_the_run_nothing(monkeypatch, tmp_path, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    code, out = run_with_session(monkeypatch, tmp_path, one_passed_check, history=tmp_path / "a-file" / "h.sqlite")
    summary = json.loads((out / "summary.json").read_text())
    assert code == 0 and "history not recorded" in summary["history"]["error"]
    assert "history not recorded" in capsys.readouterr().err


def test_no_history_records_nothing(monkeypatch, tmp_path):
    code, out = run_with_session(monkeypatch, tmp_path, one_passed_check, history=None)
    assert code == 0 and "history" not in json.loads((out / "summary.json").read_text())
    assert not (tmp_path / "history.sqlite").exists()


def test_a_waived_violation_passes_the_run_and_the_summary_says_why(monkeypatch, tmp_path, capsys):
    waivers = tmp_path / "waivers.toml"
    waivers.write_text(
        '[[waiver]]\nvendor = "autodesk"\ncheck = "autodesk.constant.token_type"\nreason = "known"\n'
        'ticket = "https://tickets.example.com/APS-1"\nexpires = 2999-12-31\n'
        '[[waiver]]\nvendor = "autodesk"\ncheck = "autodesk.token.expires_in_example"\nreason = "fixed?"\n'
        'ticket = "https://tickets.example.com/APS-2"\nexpires = 2999-12-31\n'
    )
    code, out = run_with_session(monkeypatch, tmp_path, one_violation, waivers=waivers)
    summary = json.loads((out / "summary.json").read_text())
    autodesk = summary["vendors"]["autodesk"]
    assert code == 0 and summary["exit_code"] == 0 and autodesk["status"] == "ok" and autodesk["waived"] == 1
    assert autodesk["violations"][0]["waiver"]["ticket"] == "https://tickets.example.com/APS-1"
    assert [w["check"] for w in summary["waivers"]["stale"]] == ["autodesk.token.expires_in_example"]
    assert "stale waiver" in capsys.readouterr().out


def test_fail_on_breaking_lets_a_warning_pass(monkeypatch, tmp_path):
    def warning(run_dir: Path) -> None:
        one_violation(run_dir)
        findings = json.loads((run_dir / "findings.json").read_text())
        findings["vendors"]["autodesk"]["violations"][0]["severity"] = "warning"
        (run_dir / "findings.json").write_text(json.dumps(findings))

    code, out = run_with_session(monkeypatch, tmp_path, warning)
    assert code == 1
    (tmp_path / "again").mkdir()
    code, out = run_with_session(monkeypatch, tmp_path / "again", warning, fail_on="breaking")
    summary = json.loads((out / "summary.json").read_text())
    assert code == 0 and summary["fail_on"] == "breaking" and summary["vendors"]["autodesk"]["status"] == "ok"


TYPO_TARGET = (
    '[[waiver]]\nvendor = "kudo"\ncheck = "kudo.generate.fresh_token"\nreason = "r"\n'
    'ticket = "https://t.example.com/1"\nexpires = 2999-01-01\ntarget = "stagingg"\n'
)


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("unknown fail-on", "--fail-on critical"),
        ("missing waivers file", "no such file"),
        ("waiver of a target the targets file lacks", "target 'stagingg'"),
        ("history that is a folder", "a folder, not a history file"),
    ],
)
def test_bad_policy_input_is_a_config_error_before_anything_runs(monkeypatch, tmp_path, case, says):
    request_: dict[str, object] = {
        "unknown fail-on": {"fail_on": "critical"},
        "missing waivers file": {"waivers": tmp_path / "no-such-waivers.toml"},
        "waiver of a target the targets file lacks": {"waivers": tmp_path / "waivers.toml"},
        "history that is a folder": {"history": tmp_path / "history"},
    }[case]
    (tmp_path / "waivers.toml").write_text(TYPO_TARGET)
    (tmp_path / "history").mkdir()
    monkeypatch.setattr(runner.pytest, "main", lambda args: pytest.fail("the suites ran despite the bad input"))
    with pytest.raises(ConfigError, match=says):
        runner.run(RunRequest(vendors=["autodesk"], root=ROOT, out=tmp_path / "run", **request_))  # type: ignore[arg-type]
    assert not (tmp_path / "run").exists()


def test_violations_name_their_documented_source_and_declaration(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTHCANARY_SOURCE_URL", "https://github.com/acme/checks/blob/abc123/")
    code, out = run_with_session(monkeypatch, tmp_path, one_violation)
    summary = json.loads((out / "summary.json").read_text())
    (violation,) = summary["vendors"]["autodesk"]["violations"]
    assert violation["source"] and violation["check_file"] == "contracts/autodesk/checks.yaml"
    line = (ROOT / "contracts/autodesk/checks.yaml").read_text().splitlines()[violation["check_line"] - 1]
    assert line.strip() == "autodesk.constant.token_type:"
    assert violation["source_url"] == (
        f"https://github.com/acme/checks/blob/abc123/contracts/autodesk/checks.yaml#L{violation['check_line']}"
    )
    assert summary["harness_version"] and summary["vendors"]["autodesk"]["base_url"] is None  # embedded


def test_a_waiver_of_a_finding_that_could_not_be_checked_again_is_not_stale(monkeypatch, tmp_path):
    waivers = tmp_path / "waivers.toml"
    waivers.write_text(
        '[[waiver]]\nvendor = "autodesk"\ncheck = "autodesk.constant.token_type"\nreason = "known"\n'
        'ticket = "https://tickets.example.com/APS-1"\nexpires = 2999-12-31\n'
    )

    def blocked(run_dir: Path) -> None:  # the test that saw the violation failed on something else
        one_passed_check(run_dir)
        findings = json.loads((run_dir / "findings.json").read_text())
        findings["vendors"]["autodesk"]["checks"]["failed"] = 1
        findings["vendors"]["autodesk"]["not_passed"] = ["suites/autodesk/test_x.py::test_y"]
        (run_dir / "findings.json").write_text(json.dumps(findings))

    history = tmp_path / "shared-history.sqlite"
    run_with_session(monkeypatch, tmp_path, one_violation, waivers=waivers, history=history)
    (tmp_path / "second").mkdir()
    _, out = run_with_session(monkeypatch, tmp_path / "second", blocked, waivers=waivers, history=history)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["waivers"]["stale"] == []
    assert summary["vendors"]["autodesk"]["unchecked"][0]["check_id"] == "autodesk.constant.token_type"

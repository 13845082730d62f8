"""`merge_runs`: the run folders of a per-vendor matrix become one run folder (each vendor from the run that ran it),
and every input that cannot be merged is exit 2 before anything is written."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from authcanary.errors import ConfigError
from authcanary.merge import merge_runs
from authcanary.registry import VENDORS
from authcanary.summary import SCHEMA

STARTED = {"kudo": "2026-11-30T02:00:05+00:00", "axeobim": "2026-11-30T02:00:01+00:00"}
FINISHED = {"kudo": "2026-11-30T02:03:00+00:00", "axeobim": "2026-11-30T02:05:30+00:00"}


@pytest.fixture(autouse=True)
def _no_job_summary(monkeypatch):
    """These merges must not append to the job summary of a GitHub Actions job running the tests."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def entry(status: str = "ok", **extra: Any) -> dict[str, Any]:
    checks = {"passed": 0 if status == "skipped" else 5, "failed": 0, "skipped": 0}
    return {
        "status": status,
        "checks": checks,
        "requests": 3,
        "retries": 0,
        "outages": [],
        "violations": [],
        "drift": [],
        "deprecations": [],
        "migration": [],
        "ambiguities": [],
        "notes": [],
        "drift_checked": status != "skipped",
        "recordings": {},
        **extra,
    }


VIOLATION = {
    "check": "fresh token per call",
    "check_id": "kudo.generate.fresh_token",
    "endpoint": "POST /generate",
    "expected": "a new token",
    "observed": "the same token",
    "severity": "breaking",
    "repro": "curl ...",
    "tests": ["suites/kudo/test_scenarios.py::test_fresh"],
}


def make_run(
    root: Path,
    vendor: str,
    vendor_entry: dict[str, Any] | None = None,
    *,
    target: str = "staging",
    name: str | None = None,
    **top: Any,
) -> Path:
    """A finished run folder of `authcanary run --vendor VENDOR` as the runner writes it (summary.json lists every
    vendor; the others are skipped with the runner's note), with junit.xml, allure-results/, cassettes/, drift.json."""
    run = root / (name or f"run-{vendor}")
    vendors = {
        other: entry("skipped", notes=["not selected with --vendor: skipped"]) for other in VENDORS if other != vendor
    }
    vendors[vendor] = vendor_entry or entry()
    summary = {
        "schema": SCHEMA,
        "target": target,
        "started": STARTED.get(vendor, "2026-11-30T02:00:00+00:00"),
        "finished": FINISHED.get(vendor, "2026-11-30T02:01:00+00:00"),
        "mode": "live",
        "baseline": "/checkout/cassettes",
        "exit_code": 1 if vendors[vendor]["status"] == "violations" else 0,
        **top,
        "vendors": vendors,
    }
    (run / "allure-results").mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (run / "junit.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
        f'<testsuite name="pytest" errors="0" failures="0" skipped="1" tests="3" time="1.5">'
        f'<testcase classname="suites.{vendor}.test_scenarios" name="test_a" time="0.5"/>'
        "</testsuite></testsuites>",
        encoding="utf-8",
    )
    (run / "allure-results" / f"{uuid.uuid4()}-result.json").write_text(json.dumps({"name": vendor}), "utf-8")
    (run / "allure-results" / "history").mkdir()
    (run / "allure-results" / "history" / "history.json").write_text(json.dumps({f"{vendor}-id": {}}), "utf-8")
    (run / "allure-results" / "history" / "note.txt").write_text(f"{vendor}\n", "utf-8")
    (run / "allure-results" / "shared.properties").write_text(f"target=staging\n{vendor}.base_url=u\n", "utf-8")
    (run / "cassettes" / vendor).mkdir(parents=True)
    (run / "cassettes" / vendor / "test_scenarios.test_a.yaml").write_text("interactions: []\n", "utf-8")
    drift = {
        "schema": "authcanary.drift/1",
        "baseline": "/checkout/cassettes",
        "current": str(run / "cassettes"),
        "breaking": False,
        "vendors": {
            vendor: {
                "status": "clean",
                "counts": {"breaking": 0, "warning": 0, "info": 0},
                "steps": {"baseline": 4, "current": 4},
                "findings": vendors[vendor]["drift"],
                "stable_value_changes": [],
            }
        },
        "no_baseline": [],
        "not_recorded": [],
    }
    (run / "drift.json").write_text(json.dumps(drift), encoding="utf-8")
    return run


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_matrix_becomes_one_run_folder(tmp_path):
    kudo = make_run(tmp_path, "kudo", entry("violations", violations=[VIOLATION]))
    axeobim = make_run(tmp_path, "axeobim")
    out = tmp_path / "merged"

    summary = merge_runs([kudo, axeobim], out)

    assert summary == read(out / "summary.json")
    assert summary["vendors"]["kudo"]["violations"] == [VIOLATION]
    assert summary["vendors"]["axeobim"]["status"] == "ok"
    assert summary["vendors"]["autodesk"]["notes"] == ["not selected with --vendor: skipped"]
    assert summary["exit_code"] == 1  # recomputed from the statuses
    assert (summary["started"], summary["finished"]) == (STARTED["axeobim"], FINISHED["axeobim"])
    assert [(m["run"], m["vendors"]) for m in summary["merged_from"]] == [
        (str(kudo), ["kudo"]),
        (str(axeobim), ["axeobim"]),
    ]
    assert "merged by `authcanary merge` from 2 run folder(s)" in summary["notes"][0]

    junit = ElementTree.parse(out / "junit.xml").getroot()
    assert junit.tag == "testsuites"
    assert [s.get("name") for s in junit.iter("testsuite")] == ["pytest [kudo]", "pytest [axeobim]"]
    assert (junit.get("tests"), junit.get("skipped"), junit.get("time")) == ("6", "2", "3.000")

    allure = sorted(p.name for p in (out / "allure-results").iterdir())
    assert len([name for name in allure if name.endswith("-result.json")]) == 2
    # a name several runs share is written once: JSON objects and .properties merged, anything else the first's
    assert read(out / "allure-results" / "history" / "history.json") == {"kudo-id": {}, "axeobim-id": {}}
    properties = (out / "allure-results" / "shared.properties").read_text(encoding="utf-8").splitlines()
    assert properties == ["target=staging", "kudo.base_url=u", "axeobim.base_url=u"]
    assert (out / "allure-results" / "history" / "note.txt").read_text(encoding="utf-8") == "kudo\n"
    assert f"allure-results/history/note.txt differs between the runs: the one of {kudo} is kept" in summary["notes"]
    assert (out / "allure-results" / "environment.properties").is_file()  # the merged run's own, from its summary

    assert sorted(p.name for p in (out / "cassettes").iterdir()) == ["axeobim", "kudo"]
    drift = read(out / "drift.json")
    assert sorted(drift["vendors"]) == ["axeobim", "kudo"]
    assert drift["current"] == str(out / "cassettes")
    assert (out / "drift.md").is_file()
    assert "kudo.generate.fresh_token" in (out / "report.md").read_text(encoding="utf-8")
    assert (out / "report.html").is_file()


def test_a_vendor_nobody_ran_keeps_its_skipped_entry_and_a_merged_folder_merges_again(tmp_path):
    first = merge_runs([make_run(tmp_path, "kudo")], tmp_path / "m1")
    assert first["exit_code"] == 0
    again = merge_runs([tmp_path / "m1", make_run(tmp_path, "autodesk")], tmp_path / "m2")
    assert [m["vendors"] for m in again["merged_from"]] == [["kudo"], ["autodesk"]]
    assert again["vendors"]["bimplus"]["status"] == "skipped"
    assert sorted(p.name for p in (tmp_path / "m2" / "cassettes").iterdir()) == ["autodesk", "kudo"]


def test_two_runs_of_one_vendor_are_refused_and_named(tmp_path):
    one = make_run(tmp_path, "kudo", name="a")
    two = make_run(tmp_path, "kudo", name="b")
    with pytest.raises(ConfigError) as caught:
        merge_runs([one, two], tmp_path / "out")
    assert "kudo" in caught.value.cause and str(one) in caught.value.cause and str(two) in caught.value.cause
    assert "leave one of the two out" in caught.value.fix
    assert not (tmp_path / "out").exists()


def test_runs_of_different_targets_are_refused(tmp_path):
    runs = [make_run(tmp_path, "kudo"), make_run(tmp_path, "axeobim", target="local")]
    with pytest.raises(ConfigError, match="different targets"):
        merge_runs(runs, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("damage", "cause"),
    [
        (lambda run: (run / "summary.json").unlink(), "no summary.json, so that run did not finish"),
        (lambda run: (run / "summary.json").write_text("{", "utf-8"), "summary.json: unreadable"),
        (lambda run: (run / "summary.json").write_text('{"vendors": 3}', "utf-8"), "no vendor entries"),
        (lambda run: (run / "junit.xml").write_text("<testsuites>", "utf-8"), "junit.xml: unreadable"),
        (lambda run: (run / "junit.xml").unlink(), "junit.xml: unreadable"),
        (lambda run: (run / "drift.json").write_text("[]", "utf-8"), "drift.json: unreadable"),
    ],
)
def test_an_unfinished_or_unreadable_run_is_refused_with_the_fix(tmp_path, damage, cause):
    good, bad = make_run(tmp_path, "axeobim"), make_run(tmp_path, "kudo")
    damage(bad)
    with pytest.raises(ConfigError) as caught:
        merge_runs([good, bad], tmp_path / "out")
    assert cause in caught.value.cause and str(bad) in caught.value.cause
    assert "Re-run that job" in caught.value.fix
    assert not (tmp_path / "out").exists()


def test_an_interrupted_run_is_refused(tmp_path):
    run = make_run(tmp_path, "kudo", interrupted=True)
    with pytest.raises(ConfigError, match="interrupted"):
        merge_runs([run], tmp_path / "out")


def test_the_out_folder_must_be_new_or_empty_and_not_an_input(tmp_path):
    run = make_run(tmp_path, "kudo")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x", "utf-8")
    for out, cause in ((tmp_path / "full", "already has files"), (run / "merged", "inside the run folder")):
        with pytest.raises(ConfigError, match=cause):
            merge_runs([run], out)
    with pytest.raises(ConfigError, match="given twice"):
        merge_runs([run, tmp_path / "." / run.name], tmp_path / "out")
    with pytest.raises(ConfigError, match="not a folder"):
        merge_runs([tmp_path / "nope"], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    assert merge_runs([run], tmp_path / "empty")["exit_code"] == 0


def test_top_level_values_are_kept_when_the_runs_agree_and_said_when_they_differ(tmp_path):
    runs = [
        make_run(tmp_path, "kudo", harness_version="0.1.0", fail_on="warning"),
        make_run(tmp_path, "axeobim", harness_version="0.1.0", fail_on=None),
    ]
    summary = merge_runs(runs, tmp_path / "out")
    assert summary["harness_version"] == "0.1.0"
    assert "fail_on" not in summary
    assert any("the runs differ in `fail_on`" in note for note in summary["notes"])


def test_the_history_trend_is_kept_run_by_run(tmp_path):
    def history(previous: str | None, trend: list[tuple[str, int, int]], **extra: Any) -> dict[str, Any]:
        points = [
            {"started": s, "exit_code": code, "findings": n, "new": n, "resolved": 0, "waived": 1}
            for s, code, n in trend
        ]
        return {"path": "reports/h.sqlite", "previous_run": previous, "trend": points, **extra}

    kudo = make_run(
        tmp_path,
        "kudo",
        history=history(
            "2026-11-29T02:00:05+00:00",
            [
                ("2026-11-28T02:00:05+00:00", 0, 0),
                ("2026-11-29T02:00:05+00:00", 1, 2),
                ("2026-11-30T02:00:05+00:00", 1, 1),
            ],
        ),
    )
    axeobim = make_run(
        tmp_path,
        "axeobim",
        history=history(
            "2026-11-29T02:00:01+00:00",
            [("2026-11-29T02:00:01+00:00", 3, 0), ("2026-11-30T02:00:01+00:00", 0, 0)],
            error="set aside",
        ),
    )
    merged = merge_runs([kudo, axeobim], tmp_path / "out")["history"]
    assert merged["path"] == "reports/h.sqlite"
    assert merged["previous_run"] == "2026-11-29T02:00:05+00:00"
    assert merged["trend"] == [
        {"started": "2026-11-28T02:00:05+00:00", "exit_code": 0, "findings": 0, "new": 0, "resolved": 0, "waived": 1},
        {"started": "2026-11-29T02:00:01+00:00", "exit_code": 1, "findings": 2, "new": 2, "resolved": 0, "waived": 2},
        {"started": "2026-11-30T02:00:01+00:00", "exit_code": 1, "findings": 1, "new": 1, "resolved": 0, "waived": 2},
    ]
    assert merged["error"] == f"{axeobim}: set aside"


def test_a_waiver_is_stale_only_where_its_vendor_ran(tmp_path):
    def waiver(vendor: str, check: str) -> dict[str, Any]:
        return {"vendor": vendor, "check": check, "endpoint": "", "drift": "", "target": "", "reason": "r",
                "ticket": "https://t", "expires": "2026-12-31"}  # fmt: skip

    kudo_waiver, axeobim_waiver = waiver("kudo", "kudo.x"), waiver("axeobim", "axeobim.y")
    expired = waiver("kudo", "kudo.z")
    # each run finds the other vendor's waiver stale: it did not run that vendor; only kudo's run judges kudo's
    kudo = make_run(tmp_path, "kudo", waivers={"path": "w.toml", "stale": [axeobim_waiver], "expired": [expired]})
    axeobim = make_run(
        tmp_path, "axeobim", waivers={"path": "w.toml", "stale": [kudo_waiver, axeobim_waiver], "expired": []}
    )
    merged = merge_runs([kudo, axeobim], tmp_path / "out")["waivers"]
    assert merged == {"path": "w.toml", "stale": [axeobim_waiver], "expired": [expired]}


def test_a_secret_in_an_input_makes_the_merge_exit_2(tmp_path, capsys):
    run = make_run(tmp_path, "kudo")
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    (run / "cassettes" / "kudo" / "test_scenarios.test_a.yaml").write_text(f"token: {jwt}\n", "utf-8")
    summary = merge_runs([run], tmp_path / "out")
    assert summary["exit_code"] == 2 == read(tmp_path / "out" / "summary.json")["exit_code"]
    assert "SECRET FOUND" in capsys.readouterr().err


def test_an_input_that_ended_in_exit_2_for_a_secret_keeps_the_merge_at_2(tmp_path):
    run = make_run(tmp_path, "kudo")
    summary = read(run / "summary.json")
    (run / "summary.json").write_text(json.dumps({**summary, "exit_code": 2}), encoding="utf-8")
    merged = merge_runs([run, make_run(tmp_path, "axeobim")], tmp_path / "out")
    assert merged["exit_code"] == 2
    assert any("ended with exit 2" in note for note in merged["notes"])


def test_the_merge_appends_its_job_summary(tmp_path, monkeypatch):
    step_summary = tmp_path / "step.md"
    step_summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    merge_runs([make_run(tmp_path, "kudo", entry("violations", violations=[VIOLATION]))], tmp_path / "out")
    text = step_summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n")
    assert "Not compliant" in text and "kudo.generate.fresh\\_token" not in text  # a code span, not escaped text
    assert "`kudo.generate.fresh_token`" in text


def test_with_the_targets_file_the_scan_knows_the_targets_credentials(tmp_path, capsys, monkeypatch):
    targets = tmp_path / "targets.toml"
    targets.write_text(
        '[targets.staging.kudo]\nbase_url = "https://kudo.example"\napi_key = "${KUDO_API_KEY}"\n', encoding="utf-8"
    )
    run = make_run(tmp_path, "kudo")
    with pytest.raises(ConfigError, match="KUDO_API_KEY"):  # as `run` says it, before anything is written
        merge_runs([run], tmp_path / "out", targets)
    assert not (tmp_path / "out").exists()

    monkeypatch.setenv("KUDO_API_KEY", "short-key")  # too short and plain for the token-shaped detectors
    (run / "cassettes" / "kudo" / "test_scenarios.test_a.yaml").write_text("x-api-key: [short-key]\n", "utf-8")
    assert merge_runs([run], tmp_path / "plain")["exit_code"] == 0
    assert merge_runs([run], tmp_path / "out", targets)["exit_code"] == 2
    assert "(known-secret)" in capsys.readouterr().err

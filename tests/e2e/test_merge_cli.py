"""CI integration end to end: `authcanary merge` on the run folders of a per-vendor matrix (the console script), the
job summary each step appends to GITHUB_STEP_SUMMARY, and the example nightly workflow in examples/."""

from __future__ import annotations

import fnmatch
import json
import re
from xml.etree import ElementTree

import pytest
import yaml

from authcanary.registry import VENDORS
from conftest import FAST_EXAMPLES, ROOT, cli_env, run_authcanary

WORKFLOW = ROOT / "examples" / "github-actions" / "authcanary-nightly.yml"


def assert_exit_2_with_fix(result, *cause_parts: str) -> None:
    assert result.code == 2, result.output
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    cause = next(index for index, line in enumerate(lines) if line.startswith("error: "))
    assert lines[cause + 1].strip().startswith("fix: "), result.output
    for part in cause_parts:
        assert part in lines[cause], result.output


def test_merge_refuses_a_folder_that_is_no_finished_run(tmp_path):
    (tmp_path / "killed").mkdir()
    result = run_authcanary(["merge", str(tmp_path / "killed")], tmp_path / "merged")
    assert_exit_2_with_fix(result, "no summary.json, so that run did not finish")
    assert not (tmp_path / "merged").exists()

    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    summary = {"schema": "authcanary.summary/1", "target": "sim", "interrupted": True, "exit_code": 130, "vendors": {}}
    (interrupted / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    result = run_authcanary(["merge", str(interrupted)], tmp_path / "merged")
    assert_exit_2_with_fix(result, "that run was interrupted")
    assert not (tmp_path / "merged").exists()


@pytest.mark.slow
def test_a_matrix_of_two_vendors_merges_into_one_acceptable_run_folder(tmp_path):
    step_summary = tmp_path / "step_summary.md"
    env = cli_env(GITHUB_STEP_SUMMARY=str(step_summary))
    runs = {}
    for vendor in ("kudo", "axeobim"):
        runs[vendor] = tmp_path / f"run-{vendor}"
        args = ["run", "--vendor", vendor, "--max-examples", FAST_EXAMPLES, "--history"]
        result = run_authcanary([*args, str(tmp_path / f"history-{vendor}.sqlite")], runs[vendor], env=env)
        assert result.code == 0, result.output
    assert step_summary.read_text(encoding="utf-8").count("### \u2705 authcanary: Compliant on `sim`") == 2

    merged = tmp_path / "merged"
    result = run_authcanary(["merge", str(runs["kudo"]), str(runs["axeobim"])], merged, env=env)
    assert result.code == 0, result.output
    assert f"authcanary: exit 0; report: {merged / 'report.html'}" in result.output
    summary = json.loads((merged / "summary.json").read_text(encoding="utf-8"))
    assert {vendor: entry["status"] for vendor, entry in summary["vendors"].items()} == {
        "autodesk": "skipped",
        "axeobim": "ok",
        "bimplus": "skipped",
        "kudo": "ok",
    }
    assert [run["vendors"] for run in summary["merged_from"]] == [["kudo"], ["axeobim"]]
    assert len(summary["history"]["trend"]) == 1
    suites = [suite.get("name") for suite in ElementTree.parse(merged / "junit.xml").getroot().iter("testsuite")]
    assert suites == ["pytest [kudo]", "pytest [axeobim]"]
    digests = step_summary.read_text(encoding="utf-8")
    assert digests.count("### ") == 3 and f"`{merged / 'report.html'}`" in digests
    # the merged folder is a run folder in its own right: baseline accept takes it as it takes a run's
    accepted = run_authcanary(["baseline", "accept", str(merged), "--baseline", str(tmp_path / "baseline")])
    assert accepted.code == 0, accepted.output
    assert sorted(p.name for p in (tmp_path / "baseline").iterdir()) == ["axeobim", "kudo"]

    again = run_authcanary(["merge", str(runs["kudo"]), str(merged)], tmp_path / "twice", env=env)
    assert_exit_2_with_fix(again, "ran kudo")


def staging_variables() -> set[str]:
    """The ${VAR} names of every [targets.staging.*] section of targets.toml, commented-out ones included."""
    names, in_staging = set(), False
    for line in (ROOT / "targets.toml").read_text(encoding="utf-8").splitlines():
        if header := re.match(r"#?\s*\[targets\.([^.\]]+)", line.strip()):
            in_staging = header.group(1) == "staging"
        elif in_staging:
            names |= set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", line))
    return names


def test_the_nightly_workflow_is_ready_to_copy():
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]  # every night
    assert "workflow_dispatch" in triggers
    assert workflow["env"]["AUTHCANARY_SOURCE_URL"] == (
        "${{ github.server_url }}/${{ github.repository }}/blob/${{ github.sha }}"
    )

    run = workflow["jobs"]["run"]
    assert run["strategy"]["matrix"]["vendor"] == ["autodesk", "bimplus", "axeobim", "kudo"]
    assert set(run["strategy"]["matrix"]["vendor"]) == set(VENDORS)
    assert run["strategy"]["fail-fast"] is False
    secrets = {name for name, value in run["env"].items() if value == f"${{{{ secrets.{name} }}}}"}
    assert secrets == staging_variables() and "KUDO_API_KEY" in secrets
    steps = run["steps"]
    uses = [step.get("uses", "") for step in steps]
    assert all(re.fullmatch(r"[\w-]+/[\w/-]+@v\d+", use) for use in uses if use)  # pinned by major version
    command = next(step["run"] for step in steps if "dev.py run" in step.get("run", ""))
    assert re.search(r'python3 dev\.py run --target staging --vendor "\$VENDOR" \\\s+--out "reports/run-\$VENDOR" '
                     r'--history "reports/history-\$VENDOR\.sqlite"', command)  # fmt: skip
    assert run["env"]["VENDOR"] == "${{ matrix.vendor }}"
    assert "exit $code" in command  # the run's exit code is the job's
    restore = next(step for step in steps if step.get("uses", "").startswith("actions/cache/restore@"))
    save = next(step for step in steps if step.get("uses", "").startswith("actions/cache/save@"))
    assert restore["with"]["path"] == save["with"]["path"] == "reports/history-${{ matrix.vendor }}.sqlite"
    assert "${{ github.run_id }}" in restore["with"]["key"] and restore["with"]["key"] == save["with"]["key"]
    assert restore["with"]["restore-keys"].strip() == "authcanary-history-${{ matrix.vendor }}-"
    assert save["if"].startswith("always()")  # the history is kept on the nights with findings too
    uploads = [step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@")]
    upload, set_aside = uploads
    assert upload["if"] == set_aside["if"] == "always()"
    # one path only: upload-artifact roots an artifact of several paths at their common folder (reports/), and
    # merge would then find run-<vendor>/summary.json instead of summary.json at the artifact's root
    assert upload["with"]["path"] == "reports/run-${{ matrix.vendor }}/"
    assert set_aside["with"]["path"] == "reports/history-${{ matrix.vendor }}.sqlite.corrupt-*"
    assert set_aside["with"]["if-no-files-found"] == "ignore"

    merge = workflow["jobs"]["merge"]
    assert merge["needs"] == "run" and "cancelled()" in merge["if"]
    merge_steps = merge["steps"]
    download = next(step for step in merge_steps if step.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"]["pattern"] == upload["with"]["name"].replace("${{ matrix.vendor }}", "*")
    assert not fnmatch.fnmatch(set_aside["with"]["name"], download["with"]["pattern"]), "merge gets run folders only"
    assert any("python3 dev.py merge" in step.get("run", "") for step in merge_steps)
    final = next(step for step in merge_steps if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert final["if"] == "always()" and final["with"]["path"] == "reports/merged/"

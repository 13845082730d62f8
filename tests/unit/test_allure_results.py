"""The Allure extras of a run folder (`authcanary.reporting.allure`): categories that sort our real failure messages,
environment.properties without credentials, executor.json, results for drift/deprecations/outages, links and waivers
on the tests' results, and the previous report's history carried over."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from authcanary.errors import ConfigError
from authcanary.findings import Violation
from authcanary.recording.scan import scan_paths
from authcanary.reporting.allure import (
    CATEGORIES,
    allure_history_folder,
    copy_allure_history,
    environment,
    executor,
    finding_results,
    properties_text,
    public_url,
    rfc_links,
    violation_labels,
    write_allure_results,
)

CANARY_SECRET = "sk_live_Zx81Qw0pLm3Nv7Rt5Yb2Kc9Hd4Jf6Gs"  # what a leaked key would look like
DRIFT_KEY = "kudo/test_scenarios.test_fresh#POST /generate [file,userId]#0"
VIOLATION_ID = "kudo.generate.fresh_token POST /generate"

#: failure messages as allure-pytest writes them in a real run (`authcanary run --vendor kudo --profile ...`)
CONTRACT_VIOLATION = (
    "authcanary.pytest.expectations.ContractViolation: 1 contract violation(s):\n- [kudo.generate.fresh_token] every "
    "generate call gets a new token, also for the same parameters (generate): expected a token not issued before; "
    "observed the token of an earlier call, again [sequence: generate -> t1; generate]\nFailing test case: <state "
    "machine>\nstate = TokenMachine()"
)
UNREACHABLE_SKIP = (
    "Skipped: kudo unreachable: 5 interactions in a row lost to outages (5xx or 429 answers; last: POST /generate "
    "answered 500 after 2 retries)"
)
UNREACHABLE_IN_CALL = (
    "authcanary.errors.TargetUnreachable: kudo: 5 interactions in a row lost to outages (5xx or 429 answers; last: "
    "POST /generate answered 500 after 2 retries)\nFailing test case: test_generate_then_verify(\n    api=,\n)"
)
LOST = "authcanary.pytest.expectations.LostToOutage: lost to an outage: POST /generate answered 503"
BUDGET = "authcanary.http.BudgetExhausted: kudo: request budget of 200 spent"
UNEXPECTED = "AssertionError: assert 'x' == 'y'"
UNEXPECTED_BROKEN = "KeyError: 'token'"


def category_of(status: str, message: str) -> list[str]:
    """The categories Allure 2 puts a result in: each whose statuses and whole-message regex (DOTALL) match."""
    return [
        category["name"]
        for category in CATEGORIES
        if status in category["matchedStatuses"]
        and re.fullmatch(category["messageRegex"], message, flags=re.DOTALL) is not None
    ]


def summary(**extra: Any) -> dict[str, Any]:
    """A summary.json with one Kudo violation, drift of each severity, a deprecation and an outage (i12-spec shape)."""
    kudo = {
        "status": "violations",
        "checks": {"passed": 3, "failed": 1, "skipped": 1},
        "base_url": f"https://kudo-user:{CANARY_SECRET}@kudo.example.com:8443/api?api_key={CANARY_SECRET}#frag",
        "simulator_profile": "token-reused",
        "violations": [
            {
                "check": "every generate call gets a new token",
                "endpoint": "POST /generate",
                "expected": "a token not issued before",
                "observed": "the token of an earlier call",
                "severity": "breaking",
                "repro": "curl ...",
                "tests": ["suites/kudo/test_scenarios.py::test_fresh"],
                "check_id": "kudo.generate.fresh_token",
                "source": "seed 003 §Generate token endpoint; RFC 9562 §6.9 (unguessable uuids)",
                "check_file": "contracts/kudo/checks.yaml",
                "check_line": 24,
                "source_url": "https://github.com/acme/canary/blob/main/contracts/kudo/checks.yaml#L24",
                "id": VIOLATION_ID,
                "state": "new",
            }
        ],
        "drift": [
            {
                "key": DRIFT_KEY,
                "kind": "field_removed",
                "path": "$.expiration_time",
                "baseline": "int epoch-s",
                "current": "(absent)",
                "severity": "breaking",
            },
            {
                "key": DRIFT_KEY,
                "kind": "field_added",
                "path": "$.scope",
                "baseline": "(absent)",
                "current": "string",
                "severity": "warning",
                "id": f"drift {DRIFT_KEY} field_added $.scope",
            },
        ],
        "deprecations": [
            {
                "endpoint": "POST /v1/token",
                "announced_removal": "2026-06-30",
                "observed": "served (200) with Deprecation and Sunset header(s)",
                "replacement": "POST /v2/token",
                "replacement_ok": True,
            }
        ],
        "outages": [{"endpoint": "POST /generate", "status": 503, "count": 2}],
    }
    skipped = {"status": "skipped", "checks": {"passed": 0, "failed": 0, "skipped": 0}, "notes": ["not selected"]}
    return {
        "schema": "authcanary.summary/1",
        "harness_version": "9.9.9",
        "target": "staging",
        "started": "2026-11-30T02:00:00+00:00",
        "finished": "2026-11-30T02:03:00+00:00",
        "mode": "live",
        "fail_on": None,
        "exit_code": 1,
        "vendors": {"kudo": kudo, "autodesk": skipped},
        **extra,
    }


def a_result(labels: list[tuple[str, str]], status: str = "failed", message: str = CONTRACT_VIOLATION) -> dict:
    return {
        "uuid": "11111111-2222-4333-8444-555555555555",
        "name": "test_fresh",
        "status": status,
        "statusDetails": {"message": message, "trace": "E   ..."},
        "labels": [{"name": name, "value": value} for name, value in labels],
    }


# -- categories -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "category"),
    [
        ("failed", CONTRACT_VIOLATION, "Contract violations"),
        ("failed", f"[waived] {VIOLATION_ID}: known (https://t/1, until 2026-12-31)\n{CONTRACT_VIOLATION}", "Known"),
        ("failed", f"[waiver expired] {VIOLATION_ID}: x (https://t/1, until 2026-01-01)\n{CONTRACT_VIOLATION}", "Cont"),
        ("skipped", UNREACHABLE_SKIP, "Outages"),
        ("skipped", UNREACHABLE_IN_CALL, "Outages"),
        ("broken", UNREACHABLE_IN_CALL, "Outages"),
        ("skipped", LOST, "Outages"),
        ("skipped", "Outage: POST /generate answered 503 (2 interaction(s) lost); ...", "Outages"),
        ("skipped", BUDGET, "Request budget"),
        ("failed", "Drift (breaking): field_removed at $.x: baseline int -> current (absent)", "Drift"),
        ("passed", "Drift (warning): field_added at $.y: baseline (absent) -> current string", "Drift"),
        ("passed", "Deprecation: POST /v1: announced removal 2026-06; observed served (200); replacement x", "Depr"),
        ("failed", UNEXPECTED, "Unexpected failures"),
        ("broken", UNEXPECTED_BROKEN, "Unexpected failures"),
    ],
)
def test_each_real_failure_message_falls_into_exactly_its_category(status, message, category):
    matched = category_of(status, message)
    assert len(matched) == 1 and matched[0].startswith(category), matched


def test_skips_that_are_not_outages_and_passing_tests_have_no_category():
    assert category_of("skipped", "Skipped: kudo is not configured for target 'staging'") == []
    assert category_of("passed", "") == []


# -- labels of the tests -----------------------------------------------------------------------------------------------


def test_a_test_is_labelled_with_its_endpoints_checks_finding_ids_and_worst_severity():
    violations = [
        Violation("a", "POST /generate", "x", "y", severity="info", check_id="kudo.generate.token_uuid"),
        Violation("b", "POST /generate", "x", "y", severity="breaking", check_id="kudo.generate.fresh_token"),
        Violation("c", "", "x", "y", severity="warning", check_id="kudo.suite.unexpected_failure"),
    ]
    assert violation_labels(violations) == [
        ("feature", "POST /generate"),
        ("story", "kudo.generate.token_uuid"),
        ("finding", "kudo.generate.token_uuid POST /generate"),
        ("story", "kudo.generate.fresh_token"),
        ("finding", VIOLATION_ID),
        ("story", "kudo.suite.unexpected_failure"),
        ("finding", "kudo.suite.unexpected_failure"),
        ("severity", "critical"),
    ]
    info = [Violation("a", "GET /x", "x", "y", severity="info", check_id="kudo.a.b")]
    assert ("severity", "minor") in violation_labels(info)
    assert violation_labels([]) == []


def test_rfc_references_become_rfc_editor_links():
    assert rfc_links("seed 003 §Generate; RFC 9562 §6.9 (uuids); RFC 6749 §5.2, RFC 7009, RFC 9562 §6.9") == [
        ("RFC 9562 §6.9", "https://www.rfc-editor.org/rfc/rfc9562#section-6.9"),
        ("RFC 6749 §5.2", "https://www.rfc-editor.org/rfc/rfc6749#section-5.2"),
        ("RFC 7009", "https://www.rfc-editor.org/rfc/rfc7009"),
    ]
    assert rfc_links("VENDORS.md §4 Generate") == []


# -- environment.properties and executor.json --------------------------------------------------------------------------


def test_the_environment_names_target_mode_version_and_vendors_that_ran_without_credentials():
    env = environment(summary(fail_on="warning"))
    assert env == {
        "target": "staging",
        "mode": "live",
        "harness_version": "9.9.9",
        "started": "2026-11-30T02:00:00+00:00",
        "fail_on": "warning",
        "kudo.base_url": "https://kudo.example.com:8443/api",
        "kudo.simulator_profile": "token-reused",
    }
    assert not any(key.startswith("autodesk") for key in env)  # not selected: not part of the environment


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("https://user:pw@host.example/api?key=1#x", "https://host.example/api"),
        ("http://127.0.0.1:8700", "http://127.0.0.1:8700"),
        ("http://[::1]:8700/kudo", "http://[::1]:8700/kudo"),
        ("ftp://host/x", ""),
        ("not a url", ""),
        (None, ""),
        ("http://host:notaport/", ""),
    ],
)
def test_a_public_url_keeps_scheme_host_port_and_path_only(url, public):
    assert public_url(url) == public


def test_properties_are_escaped_as_java_reads_them():
    text = properties_text({"a key": "x=y: #1 ! \\ ", "k": " lead\nnext", "u": "café ☕"})
    assert text == "a\\ key=x\\=y\\: \\#1 \\! \\\\ \n" + "k=\\ lead\\nnext\n" + "u=caf\\u00e9 \\u2615\n"
    assert text.isascii()


def test_without_github_the_executor_is_local_and_counts_builds_on_from_the_previous_report():
    info = executor(summary(), {}, previous_build=6)
    assert info == {
        "name": "authcanary",
        "type": "local",
        "reportName": "authcanary staging (kudo)",
        "buildName": "authcanary run 2026-11-30T02:00:00+00:00",
        "buildOrder": 7,
    }
    assert executor(summary(), {})["buildOrder"] == 1


def test_on_github_actions_the_executor_links_the_workflow_run():
    environ = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/canary",
        "GITHUB_RUN_ID": "9876543210",
        "GITHUB_RUN_NUMBER": "42",
        "GITHUB_WORKFLOW": "authcanary nightly",
    }
    info = executor(summary(), environ, previous_build=6)
    assert info["type"] == "github"
    assert info["buildUrl"] == "https://github.com/acme/canary/actions/runs/9876543210"
    assert info["url"] == "https://github.com/acme/canary"
    assert info["buildName"] == "authcanary nightly #42"
    assert info["buildOrder"] == 42
    bare = executor(summary(), {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/canary", "GITHUB_RUN_ID": "5"})
    assert bare["buildName"] == "acme/canary #5" and bare["buildOrder"] == 1


# -- results of drift, deprecations and outages ------------------------------------------------------------------------


def by_name(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {result["name"].split(" (")[0]: result for result in results}


def labels_of(result: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for label in result["labels"]:
        found.setdefault(label["name"], []).append(label["value"])
    return found


def test_drift_deprecations_and_outages_get_results_failing_as_the_run_policy_says():
    results = by_name(finding_results(summary()))
    assert set(results) == {
        "drift: field_removed $.expiration_time",
        "drift: field_added $.scope",
        "deprecation: POST /v1/token",
        "outage: POST /generate answered 503",
    }
    removed, added = results["drift: field_removed $.expiration_time"], results["drift: field_added $.scope"]
    assert removed["status"] == "failed" and added["status"] == "passed"  # default policy: breaking drift fails
    assert removed["statusDetails"]["message"].startswith("Drift (breaking): field_removed at $.expiration_time")
    assert labels_of(removed) == {
        "epic": ["kudo"],
        "feature": ["POST /generate"],
        "story": ["drift field_removed"],
        "severity": ["critical"],
        "finding": [f"drift {DRIFT_KEY} field_removed $.expiration_time"],
        "parentSuite": ["authcanary findings"],
        "suite": ["kudo"],
        "subSuite": ["drift"],
        "tag": ["drift"],
    }
    assert results["deprecation: POST /v1/token"]["status"] == "passed"
    assert "replacement POST /v2/token (working)" in results["deprecation: POST /v1/token"]["statusDetails"]["message"]
    outage = results["outage: POST /generate answered 503"]
    assert outage["status"] == "skipped" and outage["statusDetails"]["message"].startswith("Outage: POST /generate")
    for result in results.values():  # each lands in its category
        assert len(category_of(result["status"], result["statusDetails"]["message"])) == 1
    stricter = by_name(finding_results(summary(fail_on="warning")))
    assert stricter["drift: field_added $.scope"]["status"] == "failed"


def test_a_finding_keeps_its_history_id_from_run_to_run_but_each_run_has_its_own_result():
    first = by_name(finding_results(summary()))
    later = by_name(finding_results(summary(started="2026-12-01T02:00:00+00:00", finished="2026-12-01T02:03:00+00:00")))
    for name, result in first.items():
        assert later[name]["historyId"] == result["historyId"]
        assert later[name]["uuid"] != result["uuid"]
    assert len({result["historyId"] for result in first.values()}) == len(first)


def test_a_waived_finding_says_so_links_its_ticket_and_is_a_known_issue():
    data = summary()
    waiver = {"reason": "vendor ticket open", "ticket": "https://vendor.example/JIRA-12", "expires": "2026-12-31"}
    data["vendors"]["kudo"]["drift"][0]["waiver"] = {**waiver, "expired": False}
    data["vendors"]["kudo"]["deprecations"][0]["waiver"] = {**waiver, "ticket": "JIRA-12", "expired": True}
    results = by_name(finding_results(data))
    waived = results["drift: field_removed $.expiration_time"]
    assert waived["statusDetails"]["message"].startswith(
        f"[waived] drift {DRIFT_KEY} field_removed $.expiration_time: vendor ticket open "
        "(https://vendor.example/JIRA-12, until 2026-12-31)\nDrift (breaking)"
    )
    assert waived["statusDetails"]["known"] is True
    assert waived["links"] == [{"name": waived["links"][0]["url"], "url": waiver["ticket"], "type": "issue"}]
    assert category_of(waived["status"], waived["statusDetails"]["message"]) == ["Known issues (waived)"]
    expired = results["deprecation: POST /v1/token"]
    assert expired["statusDetails"]["message"].startswith("[waiver expired] deprecation POST /v1/token")
    assert expired["links"] == []  # a ticket that is not a URL is no link
    assert category_of(expired["status"], expired["statusDetails"]["message"]) == ["Deprecations"]


def test_an_old_or_empty_summary_writes_what_it_can(tmp_path):
    write_allure_results(tmp_path, {})
    results = tmp_path / "allure-results"
    assert json.loads((results / "categories.json").read_text()) == CATEGORIES
    assert "harness_version=" in (results / "environment.properties").read_text()
    old = summary()
    for entry in old["vendors"].values():
        for key in ("base_url", "simulator_profile", "drift", "outages"):
            entry.pop(key, None)
    old["vendors"]["kudo"]["violations"][0] = {
        k: v for k, v in old["vendors"]["kudo"]["violations"][0].items() if k not in ("id", "source", "source_url")
    }
    write_allure_results(tmp_path, old)
    assert len(list(results.glob("authcanary-finding-*-result.json"))) == 1  # the deprecation


# -- the tests' own results --------------------------------------------------------------------------------------------


def write_results(run_dir: Path, *results: dict[str, Any]) -> list[Path]:
    folder = run_dir / "allure-results"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, result in enumerate(results):
        path = folder / f"0000000{index}-aaaa-4bbb-8ccc-dddddddddddd-result.json"
        path.write_text(json.dumps(result))
        paths.append(path)
    return paths


def test_a_test_that_found_a_violation_links_its_rfc_and_the_check_declaration(tmp_path):
    violating, passing = write_results(
        tmp_path,
        a_result([("epic", "kudo"), ("finding", VIOLATION_ID), ("story", "kudo.generate.fresh_token")]),
        a_result([("epic", "kudo")], status="passed", message=""),
    )
    before = passing.read_text()
    write_allure_results(tmp_path, summary())
    result = json.loads(violating.read_text())
    assert result["links"] == [
        {"name": "RFC 9562 §6.9", "url": "https://www.rfc-editor.org/rfc/rfc9562#section-6.9", "type": "link"},
        {
            "name": "declaration of kudo.generate.fresh_token",
            "url": "https://github.com/acme/canary/blob/main/contracts/kudo/checks.yaml#L24",
            "type": "link",
        },
    ]
    assert result["statusDetails"]["message"] == CONTRACT_VIOLATION
    assert passing.read_text() == before


def test_a_test_whose_violations_are_all_waived_is_a_known_issue_and_says_why(tmp_path):
    data = summary()
    waiver = {"reason": "ticket filed", "ticket": "https://vendor.example/JIRA-12", "expires": "2026-12-31"}
    data["vendors"]["kudo"]["violations"][0]["waiver"] = {**waiver, "expired": False}
    (path,) = write_results(tmp_path, a_result([("finding", VIOLATION_ID)]))
    write_allure_results(tmp_path, data)
    write_allure_results(tmp_path, data)  # again (a merge rewrites a run's outputs): nothing doubles
    result = json.loads(path.read_text())
    message = result["statusDetails"]["message"]
    assert message == (
        f"[waived] {VIOLATION_ID}: ticket filed (https://vendor.example/JIRA-12, until 2026-12-31)\n{CONTRACT_VIOLATION}"
    )
    assert result["statusDetails"]["known"] is True
    assert {"name": waiver["ticket"], "url": waiver["ticket"], "type": "issue"} in result["links"]
    assert len(result["links"]) == 3
    assert category_of(result["status"], message) == ["Known issues (waived)"]
    assert len(list((tmp_path / "allure-results").glob("authcanary-finding-*-result.json"))) == 4


def test_a_test_with_an_expired_waiver_or_an_unwaived_violation_is_still_a_violation(tmp_path):
    data = summary()
    expired = {"reason": "r", "ticket": "https://t.example/1", "expires": "2026-01-01", "expired": True}
    data["vendors"]["kudo"]["violations"][0]["waiver"] = expired
    other = dict(data["vendors"]["kudo"]["violations"][0], check_id="kudo.generate.token_uuid", id="kudo.other")
    other["waiver"] = {**expired, "expired": False}
    data["vendors"]["kudo"]["violations"].append(other)
    expired_path, mixed_path = write_results(
        tmp_path, a_result([("finding", VIOLATION_ID)]), a_result([("finding", "kudo.other"), ("finding", "x")])
    )
    write_allure_results(tmp_path, data)
    message = json.loads(expired_path.read_text())["statusDetails"]["message"]
    assert message.startswith(f"[waiver expired] {VIOLATION_ID}: r")
    assert category_of("failed", message) == ["Contract violations"]
    unwaived = copy.deepcopy(data)
    unwaived["vendors"]["kudo"]["violations"][0].pop("waiver")
    (path,) = write_results(tmp_path / "2", a_result([("finding", VIOLATION_ID), ("finding", "kudo.other")]))
    write_allure_results(tmp_path / "2", unwaived)
    assert json.loads(path.read_text())["statusDetails"]["message"] == CONTRACT_VIOLATION


def test_nothing_written_holds_a_credential_of_the_base_url(tmp_path):
    write_allure_results(tmp_path, summary())
    assert CANARY_SECRET not in "".join(p.read_text() for p in (tmp_path / "allure-results").iterdir())
    assert scan_paths([tmp_path], known_secrets=[CANARY_SECRET]) == []


# -- history -----------------------------------------------------------------------------------------------------------


def generated_report(folder: Path, build_order: int = 3) -> Path:
    (folder / "history").mkdir(parents=True)
    (folder / "index.html").write_text("<html></html>")
    trend = [{"buildOrder": build_order, "data": {"failed": 1, "passed": 2}}, {"buildOrder": 1, "data": {}}]
    (folder / "history" / "history-trend.json").write_text(json.dumps(trend))
    (folder / "history" / "history.json").write_text("{}")
    return folder


def test_the_previous_reports_history_is_carried_and_counts_the_build_on(tmp_path):
    report = generated_report(tmp_path / "allure-report")
    assert allure_history_folder(report) == report / "history"
    assert allure_history_folder(report / "history") == report / "history"
    assert copy_allure_history(report, tmp_path / "results") == 2
    run_dir = tmp_path / "run"
    write_allure_results(run_dir, summary(), report)
    history = run_dir / "allure-results" / "history"
    assert sorted(p.name for p in history.iterdir()) == ["history-trend.json", "history.json"]
    assert json.loads((run_dir / "allure-results" / "executor.json").read_text())["buildOrder"] == 4


def test_an_empty_history_folder_is_a_first_run(tmp_path):
    (tmp_path / "kept").mkdir()
    assert allure_history_folder(tmp_path / "kept") is None
    assert copy_allure_history(tmp_path / "kept", tmp_path / "results") == 0
    write_allure_results(tmp_path / "run", summary(), tmp_path / "kept")
    assert not (tmp_path / "run" / "allure-results" / "history").exists()


def test_a_history_that_is_not_a_previous_report_is_a_config_error_with_the_fix(tmp_path):
    with pytest.raises(ConfigError) as missing:
        allure_history_folder(tmp_path / "nope")
    assert missing.value.exit_code == 2
    assert "no such folder" in missing.value.cause and "allure generate" in missing.value.fix
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        allure_history_folder(tmp_path / "file")
    results = tmp_path / "allure-results"
    results.mkdir()
    (results / "x-result.json").write_text("{}")
    with pytest.raises(ConfigError, match="a results folder, not a generated report"):
        allure_history_folder(results)


def test_a_history_gone_by_the_end_of_the_run_costs_only_the_trend(tmp_path, capsys):
    write_allure_results(tmp_path, summary(), tmp_path / "vanished")
    assert "the Allure history was not carried over" in capsys.readouterr().err
    assert (tmp_path / "allure-results" / "categories.json").is_file()

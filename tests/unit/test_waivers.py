"""Waivers: validation of waivers.toml (exit 2 with the fix), matching, expiry and stale waivers, and what they do
to a vendor's status and the run's exit code (with `--fail-on`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from authcanary.errors import ConfigError
from authcanary.summary import exit_code, fail_policy, vendor_entry, vendor_status
from authcanary.waivers import apply_waivers, load_waivers, waived

CHECKS = {"kudo": {"kudo.generate.fresh_token", "kudo.generate.token_uuid"}, "autodesk": {"autodesk.token.expiry"}}
GOOD = """
[[waiver]]
vendor = "kudo"
check = "kudo.generate.fresh_token"
reason = "Graebert confirmed; fix planned for 2027.1"
ticket = "https://support.example.com/T-1"
expires = 2026-12-31
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.toml"
    path.write_text(text, encoding="utf-8")
    return path


def violation(check_id: str = "kudo.generate.fresh_token", severity: str = "breaking", test: str = "t1") -> dict:
    return {
        "check": "fresh",
        "endpoint": "POST /generate",
        "expected": "",
        "observed": "",
        "severity": severity,
        "repro": "",
        "tests": [test],
        "check_id": check_id,
    }


def findings(violations: list[dict[str, Any]], failed: int | None = None) -> dict[str, Any]:
    failing = sum(v["severity"] != "info" for v in violations)
    return {
        "checks": {"passed": 5, "failed": failing if failed is None else failed, "skipped": 0},
        "requests": 10,
        "violations": violations,
        "deprecations": [],
        "ambiguities": [],
    }


def test_a_good_file_loads(tmp_path: Path) -> None:
    (waiver,) = load_waivers(write(tmp_path, GOOD), CHECKS)
    assert waiver.vendor == "kudo" and waiver.check == "kudo.generate.fresh_token"
    assert waiver.expires == dt.date(2026, 12, 31)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[[waiver]\n", "not valid TOML"),
        ("[waiver]\nvendor = 'kudo'\n", "array of tables"),
        ("extra = 1\n" + GOOD, "unknown top-level key"),
        (GOOD.replace("reason = ", "because = "), "unknown key(s) because"),
        (GOOD.replace('reason = "Graebert confirmed; fix planned for 2027.1"\n', ""), "missing reason"),
        (GOOD.replace("expires = 2026-12-31", ""), "missing expires"),
        (GOOD.replace('vendor = "kudo"', 'vendor = "acme"'), "unknown vendor 'acme'"),
        (GOOD.replace("kudo.generate.fresh_token", "kudo.generate.fresh_tokn"), "could never match"),
        (GOOD.replace('check = "kudo.generate.fresh_token"', ""), "exactly one of `check`"),
        (GOOD + 'drift = "kudo/x#POST /generate#0"\n', "exactly one of `check`"),
        (GOOD.replace("https://support.example.com/T-1", "T-1"), "not an http(s) URL"),
        (GOOD.replace("2026-12-31", '"31.12.2026"'), "expires must be a date"),
        (GOOD.replace("2026-12-31", "2026-12-31T10:00:00"), "expires must be a date"),
        (GOOD + 'path = "$.token"\n', "`path` narrows a drift waiver only"),
        (GOOD.replace('vendor = "kudo"', "vendor = 3"), "vendor must be a string"),
    ],
)
def test_a_bad_file_is_a_config_error_with_the_fix(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_waivers(write(tmp_path, text), CHECKS)
    assert says in caught.value.cause
    assert caught.value.fix and caught.value.exit_code == 2
    assert "waivers.toml" in caught.value.cause


def test_a_quoted_date_is_a_date(tmp_path: Path) -> None:
    (waiver,) = load_waivers(write(tmp_path, GOOD.replace("2026-12-31", '"2026-12-31"')), CHECKS)
    assert waiver.expires == dt.date(2026, 12, 31)


def apply(text: str, tmp_path: Path, vendors: dict[str, Any], day: str = "2026-12-01", target: str = "staging"):
    waivers = load_waivers(write(tmp_path, text), CHECKS)
    ran = {name for name, entry in vendors.items() if entry["status"] not in ("skipped", "unreachable")}
    outcome = apply_waivers(waivers, target, dt.date.fromisoformat(day), vendors, "waivers.toml", ran)
    for entry in vendors.values():
        entry["status"] = vendor_status(entry)
    return outcome


def test_a_waived_violation_is_reported_but_does_not_fail(tmp_path: Path) -> None:
    vendors = {"kudo": vendor_entry(findings([violation()]), [], [])}
    assert vendors["kudo"]["status"] == "violations"
    outcome = apply(GOOD, tmp_path, vendors)
    (finding,) = vendors["kudo"]["violations"]
    assert finding["waiver"] == {
        "reason": "Graebert confirmed; fix planned for 2027.1",
        "ticket": "https://support.example.com/T-1",
        "expires": "2026-12-31",
        "expired": False,
    }
    assert waived(finding)
    assert vendors["kudo"]["status"] == "ok" and exit_code(vendors) == 0
    assert outcome.stale == [] and outcome.expired == []


def test_the_last_day_still_waives_and_the_next_day_fails_saying_so(tmp_path: Path) -> None:
    for day, status, expired in (("2026-12-31", "ok", []), ("2027-01-01", "violations", ["kudo.generate.fresh_token"])):
        vendors = {"kudo": vendor_entry(findings([violation()]), [], [])}
        outcome = apply(GOOD, tmp_path, vendors, day=day)
        assert vendors["kudo"]["status"] == status
        assert [w.check for w in outcome.expired] == expired
        assert vendors["kudo"]["violations"][0]["waiver"]["expired"] is bool(expired)


def test_only_the_waived_finding_is_waived(tmp_path: Path) -> None:
    vendors = {"kudo": vendor_entry(findings([violation(), violation("kudo.generate.token_uuid", test="t2")]), [], [])}
    apply(GOOD, tmp_path, vendors)
    assert vendors["kudo"]["status"] == "violations"  # the uuid violation is not waived
    assert [waived(v) for v in vendors["kudo"]["violations"]] == [True, False]


def test_a_waiver_that_matched_nothing_is_stale_but_not_for_a_vendor_that_did_not_run(tmp_path: Path) -> None:
    clean = vendor_entry(findings([]), [], [])
    outcome = apply(GOOD, tmp_path, {"kudo": clean})
    assert [w.check for w in outcome.stale] == ["kudo.generate.fresh_token"]
    skipped = vendor_entry(None, [], ["not selected with --vendor: skipped"])
    assert apply(GOOD, tmp_path, {"kudo": skipped}).stale == []


def test_target_and_endpoint_narrow_a_waiver(tmp_path: Path) -> None:
    narrowed = GOOD + 'target = "staging"\nendpoint = "POST /generate"\n'
    vendors = {"kudo": vendor_entry(findings([violation()]), [], [])}
    apply(narrowed, tmp_path, vendors, target="prod")
    assert vendors["kudo"]["status"] == "violations"
    vendors = {"kudo": vendor_entry(findings([violation()]), [], [])}
    apply(narrowed.replace("POST /generate", "GET /x"), tmp_path, vendors)
    assert vendors["kudo"]["status"] == "violations"
    vendors = {"kudo": vendor_entry(findings([violation()]), [], [])}
    apply(narrowed, tmp_path, vendors)
    assert vendors["kudo"]["status"] == "ok"


def test_a_drift_waiver_waives_breaking_drift(tmp_path: Path) -> None:
    key = "kudo/test_scenarios.test_x#POST /generate#0"
    drift = [{"key": key, "kind": "status_changed", "path": "status", "baseline": "200", "current": "403",
              "severity": "breaking"}]  # fmt: skip
    vendors = {"kudo": vendor_entry(findings([]), drift, [])}
    assert vendors["kudo"]["status"] == "drift"
    text = GOOD.replace('check = "kudo.generate.fresh_token"', f'drift = "{key}"\npath = "status"')
    apply(text, tmp_path, vendors)
    assert vendors["kudo"]["status"] == "ok"


def test_a_failed_test_that_no_violation_explains_still_fails_when_the_rest_is_waived(tmp_path: Path) -> None:
    # two failed tests, one of them by the waived violation: the other (a setup error) is a finding of its own
    vendors = {"kudo": vendor_entry(findings([violation()], failed=2), [], [])}
    apply(GOOD, tmp_path, vendors)
    assert vendors["kudo"]["status"] == "violations"


@pytest.mark.parametrize(
    ("fail_on", "violation_severity", "drift_severity", "status"),
    [
        (None, "warning", "info", "violations"),
        (None, "info", "warning", "ok"),
        (None, "info", "breaking", "drift"),
        ("breaking", "warning", "warning", "ok"),
        ("breaking", "breaking", "info", "violations"),
        ("warning", "info", "warning", "drift"),
        ("info", "info", None, "violations"),
        ("info", None, "info", "drift"),
    ],
)
def test_fail_on(fail_on: str | None, violation_severity: str | None, drift_severity: str | None, status: str) -> None:
    violations = [violation(severity=violation_severity)] if violation_severity else []
    drift = (
        [{"key": "k#GET /x#0", "kind": "value_changed", "path": "$.a", "severity": drift_severity}]
        if drift_severity
        else []
    )
    entry = vendor_entry(findings(violations), drift, [], fail_policy(fail_on))
    assert entry["status"] == status


def test_an_unknown_fail_on_level_is_refused() -> None:
    with pytest.raises(ValueError, match="breaking, warning, info"):
        fail_policy("critical")


def test_the_example_waivers_file_is_valid() -> None:
    from authcanary.catalog import load_catalog

    root = Path(__file__).resolve().parents[2]
    check_ids = {vendor: set(load_catalog(root / "contracts", vendor).checks) for vendor in ("kudo", "autodesk")}
    waivers = load_waivers(root / "examples" / "waivers.toml", check_ids)
    assert [w.vendor for w in waivers] == ["kudo", "autodesk"] and waivers[1].drift


def test_a_drift_pattern_waives_one_change_in_every_recorded_step(tmp_path: Path) -> None:
    def item(test: str, path: str) -> dict:
        key = f"kudo/test_scenarios.{test}#POST /generate#0"
        return {"key": key, "kind": "header_changed", "path": path, "baseline": "no-store", "current": "(absent)",
                "severity": "breaking"}  # fmt: skip

    drift = [item("test_a", "header:cache-control"), item("test_b", "header:cache-control"), item("test_b", "$.token")]
    vendors = {"kudo": vendor_entry(findings([]), drift, [])}
    text = GOOD.replace('check = "kudo.generate.fresh_token"', 'drift = "kudo/*#POST /generate*"\npath = "header:*"')
    apply(text, tmp_path, vendors)
    assert [waived(d) for d in vendors["kudo"]["drift"]] == [True, True, False]
    assert vendors["kudo"]["status"] == "drift"  # $.token is not waived

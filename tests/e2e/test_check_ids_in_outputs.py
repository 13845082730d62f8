"""A violation's check id reaches every output people and tools read: summary.json, junit.xml (a property of the
test), allure-results (a label), report.md and report.html."""

from __future__ import annotations

import json

from conftest import run_authcanary


def test_the_check_id_is_in_every_output(tmp_path):
    out = tmp_path / "run"
    result = run_authcanary(
        ["run", "--vendor", "autodesk", "--profile", "lowercase-token-type", "--max-examples", "3"], out
    )
    assert result.code == 1, result.output[-3000:]
    check_id = "autodesk.constant.token_type"
    assert check_id in {v["check_id"] for v in result.summary["vendors"]["autodesk"]["violations"]}
    assert f'name="check_id" value="{check_id}"' in (out / "junit.xml").read_text()
    labels = [
        label
        for path in (out / "allure-results").glob("*-result.json")
        for label in json.loads(path.read_text()).get("labels", [])
    ]
    assert {"name": "check_id", "value": check_id} in labels
    assert check_id in (out / "report.md").read_text() and check_id in (out / "report.html").read_text()

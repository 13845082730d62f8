"""Drift engine and drift report (authcanary.drift.engine / .report) on synthetic cassette folders."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

import pytest
from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import yamlserializer

from authcanary.drift import CassetteError, compare, write_drift_report

APS_TOKEN = "autodesk/test_two_legged#POST /authentication/v2/token [grant_type,scope]"
BIMPLUS_AUTHORIZE = "bimplus/test_authorize#POST /v2/authorize [application_id,password,user_id]#0"
KUDO_GENERATE = "kudo/test_generate#POST /generate [file,userId]#0"
JWT = "jwt RS256 kid=k{} claims=[aud,client_id,exp,iat,jti,scope]"


def interaction(
    uri: str,
    method: str = "POST",
    body: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    json_body=None,
    text: str = "",
) -> dict:
    """One interaction; ``json_body`` is serialized when the cassette is written."""
    return {
        "method": method,
        "uri": uri,
        "body": body,
        "status": status,
        "headers": headers or {},
        "json": json_body,
        "text": text,
    }


def recording(seed: int) -> dict[str, dict[str, list[dict]]]:
    """The same behaviour every time; tokens, ids, timestamps, lifetimes and list lengths depend on ``seed``."""
    rng = random.Random(seed)
    counter = iter(range(1, 1000))

    def token(shape: str) -> str:
        return f"<token#{next(counter)} {shape}>"

    def uuid4() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def headers(**extra: str) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "Cache-Control": "no-cache, no-store",
            "Pragma": "no-cache",
            "Date": f"Mon, 0{rng.randrange(1, 9)} Jan 2024 10:00:00 GMT",
            "X-Request-Id": uuid4(),
            "Content-Length": str(rng.randrange(90, 400)),
            **extra,
        }

    def aps_token() -> dict:
        return interaction(
            "https://developer.api.autodesk.com/authentication/v2/token",
            body="grant_type=client_credentials&scope=data%3Aread",
            headers=headers(),
            json_body={
                "access_token": token(JWT.format(rng.randrange(3))),
                "token_type": "Bearer",
                "expires_in": 3599 - rng.randrange(3),
            },
        )

    now = 1_700_000_000 + rng.randrange(10**6)
    return {
        "autodesk": {
            "test_two_legged": [aps_token(), aps_token()],
            "test_bad_secret": [
                interaction(
                    "https://developer.api.autodesk.com/authentication/v2/token",
                    body="grant_type=client_credentials",
                    status=401,
                    headers=headers(**{"WWW-Authenticate": 'Basic realm="aps"'}),
                    json_body={
                        "developerMessage": "The client_id specified does not have access to the api product",
                        "errorCode": "AUTH-001",
                        "more info": "https://aps.autodesk.com/en/docs/oauth/v2",
                    },
                )
            ],
        },
        "bimplus": {
            "test_authorize": [
                interaction(
                    "https://api-stage.bimplus.net/v2/authorize",
                    headers=headers(),
                    body=json.dumps(
                        {"user_id": "<opaque len=17>", "password": "<secret len=12>", "application_id": uuid4()}
                    ),
                    json_body={
                        "access_token": token("hex32"),
                        "expires_in": 7199 - rng.randrange(5),
                        "client_id": uuid4(),
                        "token_type": "BimPlus",
                        "user": {"id": uuid4(), "created": f"2019-04-0{rng.randrange(1, 9)}T10:00:00Z"},
                    },
                ),
                interaction(
                    "https://api-stage.bimplus.net/v2/authorize",
                    method="GET",
                    headers=headers(),
                    json_body={"user_id": uuid4(), "audience": uuid4(), "expires_in": rng.randrange(1, 7200)},
                ),
            ],
            "test_projects": [
                interaction(
                    f"https://api-stage.bimplus.net/v2/{uuid4()}/projects?page={rng.randrange(9)}",
                    method="GET",
                    headers=headers(),
                    json_body=[{"id": uuid4(), "name": f"P{rng.randrange(99)}"} for _ in range(rng.randrange(0, 4))],
                )
            ],
        },
        "kudo": {
            "test_generate": [
                interaction(
                    "https://tokens.kudo.graebert.com/generate",
                    headers=headers(),
                    body=json.dumps({"file": f"{uuid4()}.dwg", "userId": uuid4()}),
                    json_body={"token": uuid4(), "expiration_time": now + 3600},
                ),
                interaction(
                    "https://tokens.kudo.graebert.com/verify",
                    method="GET",
                    status=403,
                    headers={"Content-Type": "text/plain"},
                    text="Wrong token",
                ),
            ],
        },
    }


def write(root: Path, recorded: dict[str, dict[str, list[dict]]]) -> Path:
    """Write ``{vendor: {test id: [interaction]}}`` as genuine vcrpy cassettes under ``root``."""
    for vendor, cassettes in recorded.items():
        for test_id, interactions in cassettes.items():
            requests = [Request(i["method"], i["uri"], i["body"], {"Authorization": "<basic>"}) for i in interactions]
            responses = [
                {
                    "status": {"code": i["status"], "message": "X"},
                    "headers": {name: [value] for name, value in i["headers"].items()},
                    "body": {"string": json.dumps(i["json"]) if i["json"] is not None else i["text"]},
                }
                for i in interactions
            ]
            path = root / vendor / f"{test_id}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(serialize({"requests": requests, "responses": responses}, yamlserializer))
    return root


def drift(tmp_path: Path, baseline: dict, current: dict, **options):
    return compare(write(tmp_path / "baseline", baseline), write(tmp_path / "current", current), **options)


def all_findings(result) -> list[dict]:
    return [finding for vendor in result.vendors.values() for finding in vendor.findings]


def finding(key, kind, path, baseline, current, severity) -> dict:
    return {"key": key, "kind": kind, "path": path, "baseline": baseline, "current": current, "severity": severity}


def test_recordings_differing_only_in_volatile_values_give_no_drift(tmp_path):
    first, second = recording(1), recording(2)
    first["bimplus"]["test_projects"][0]["json"] = []  # list length is data, not drift
    second["bimplus"]["test_projects"][0]["json"] = [{"id": str(uuid.uuid4()), "name": "P"}] * 2
    result = drift(tmp_path, first, second)
    assert all_findings(result) == []
    assert sorted(result.vendors) == ["autodesk", "bimplus", "kudo"]
    assert result.no_baseline == result.not_recorded == []
    assert not result.breaking


def _set(test_id_path, value):
    def mutate(recorded):
        *where, last = test_id_path
        target = recorded
        for part in where:
            target = target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value(target[last]) if callable(value) else value

    return mutate


_DELETE = object()
APS = ("autodesk", "test_two_legged", 0)
BIMPLUS = ("bimplus", "test_authorize", 0)

MUTATIONS = {
    "status_changed": (
        _set(("autodesk", "test_bad_secret", 0, "status"), 403),
        finding(
            "autodesk/test_bad_secret#POST /authentication/v2/token [grant_type]#0",
            "status_changed",
            "status",
            "401",
            "403",
            "breaking",
        ),
    ),
    "field_removed": (
        _set((*APS, "json", "token_type"), _DELETE),
        finding(f"{APS_TOKEN}#0", "field_removed", "$.token_type", 'string = "Bearer"', "(absent)", "breaking"),
    ),
    "field_added": (
        _set((*APS, "json", "refresh_token"), "<token#9 opaque len=40>"),
        finding(f"{APS_TOKEN}#0", "field_added", "$.refresh_token", "(absent)", "string opaque", "info"),
    ),
    "type_changed": (
        _set((*APS, "json", "expires_in"), str),
        finding(f"{APS_TOKEN}#0", "type_changed", "$.expires_in", "int", "string", "breaking"),
    ),
    "format_changed hex32 -> jwt": (
        _set((*BIMPLUS, "json", "access_token"), f"<token#1 {JWT.format(1)}>"),
        finding(
            BIMPLUS_AUTHORIZE,
            "format_changed",
            "$.access_token",
            "string hex32",
            "string jwt(RS256;aud,client_id,exp,iat,jti,scope)",
            "warning",
        ),
    ),
    "format_changed epoch-s -> epoch-ms": (
        _set(("kudo", "test_generate", 0, "json", "expiration_time"), lambda seconds: seconds * 1000),
        finding(KUDO_GENERATE, "format_changed", "$.expiration_time", "int epoch-s", "int epoch-ms", "warning"),
    ),
    "format_changed jwt claims lost": (
        _set((*APS, "json", "access_token"), "<token#1 jwt RS256 kid=k1 claims=[aud,exp]>"),
        finding(
            f"{APS_TOKEN}#0",
            "format_changed",
            "$.access_token",
            "string jwt(RS256;aud,client_id,exp,iat,jti,scope)",
            "string jwt(RS256;aud,exp)",
            "breaking",  # a client reading client_id, iat, jti or scope breaks
        ),
    ),
    "format_changed jwt claims gained": (
        _set((*APS, "json", "access_token"), "<token#1 jwt RS256 kid=k9 claims=[aud,client_id,exp,iat,jti,scope,sid]>"),
        finding(
            f"{APS_TOKEN}#0",
            "format_changed",
            "$.access_token",
            "string jwt(RS256;aud,client_id,exp,iat,jti,scope)",
            "string jwt(RS256;aud,client_id,exp,iat,jti,scope,sid)",
            "info",  # a new kid is volatile; a new claim is news, not a break
        ),
    ),
    "format_changed jwt algorithm": (
        _set((*APS, "json", "access_token"), "<token#1 jwt PS256 kid=k1 claims=[aud,client_id,exp,iat,jti,scope]>"),
        finding(
            f"{APS_TOKEN}#0",
            "format_changed",
            "$.access_token",
            "string jwt(RS256;aud,client_id,exp,iat,jti,scope)",
            "string jwt(PS256;aud,client_id,exp,iat,jti,scope)",
            "warning",
        ),
    ),
    "header_changed deprecation appears": (
        _set((*BIMPLUS, "headers", "Deprecation"), "@1735689600"),
        finding(BIMPLUS_AUTHORIZE, "header_changed", "header:deprecation", "(absent)", "@1735689600", "warning"),
    ),
    "header_changed content type": (
        _set(("kudo", "test_generate", 1, "headers", "Content-Type"), "application/json"),
        finding(
            "kudo/test_generate#GET /verify#0",
            "header_changed",
            "header:content-type",
            "text/plain",
            "application/json",
            "warning",
        ),
    ),
    "nested object removed once": (
        _set((*BIMPLUS, "json", "user"), _DELETE),
        finding(BIMPLUS_AUTHORIZE, "field_removed", "$.user", "object", "(absent)", "breaking"),
    ),
    "text body became json": (
        _set(("kudo", "test_generate", 1, "json"), {"error": "Wrong token"}),
        finding("kudo/test_generate#GET /verify#0", "type_changed", "$", "text short", "object", "breaking"),
    ),
    "step_missing": (
        _set(("autodesk", "test_two_legged", 1), _DELETE),
        finding(
            f"{APS_TOKEN}#1",
            "step_missing",
            "",
            "POST /authentication/v2/token [grant_type,scope] -> 200",
            "(absent)",
            "breaking",
        ),
    ),
    "step_added": (
        lambda recorded: recorded["kudo"]["test_generate"].append(
            interaction("https://tokens.kudo.graebert.com/verify", method="GET", json_body={"file": "x.dwg"})
        ),
        finding("kudo/test_generate#GET /verify#1", "step_added", "", "(absent)", "GET /verify -> 200", "info"),
    ),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_each_kind_fires_on_exactly_that_difference(tmp_path, name):
    mutate, expected = MUTATIONS[name]
    current = recording(2)
    mutate(current)
    result = drift(tmp_path, recording(1), current)
    assert all_findings(result) == [expected]
    assert result.breaking == (expected["severity"] == "breaking")


def test_value_changed_only_for_declared_constants(tmp_path):
    current = recording(2)
    for step in current["autodesk"]["test_two_legged"]:
        step["json"]["token_type"] = "bearer"
    without = drift(tmp_path / "a", recording(1), current)
    assert all_findings(without) == []
    notes = without.vendors["autodesk"].stable_value_changes
    assert notes == [
        {"key": f"{APS_TOKEN}#{k}", "path": "$.token_type", "baseline": '"Bearer"', "current": '"bearer"'}
        for k in (0, 1)
    ]
    constants = {"POST /authentication/v2/token": {"200": {"$.token_type": "Bearer"}}}
    declared = drift(tmp_path / "b", recording(1), current, constants=constants)
    assert all_findings(declared) == [
        finding(f"{APS_TOKEN}#{k}", "value_changed", "$.token_type", '"Bearer"', '"bearer"', "breaking") for k in (0, 1)
    ]


def test_constant_observed_once_is_still_compared(tmp_path):
    current = recording(2)
    current["bimplus"]["test_authorize"][0]["json"]["token_type"] = "Bearer"
    constants = {"POST /v2/authorize": {"2XX": {"$.token_type": "BimPlus"}}}
    result = drift(tmp_path, recording(1), current, constants=constants)
    assert all_findings(result) == [
        finding(BIMPLUS_AUTHORIZE, "value_changed", "$.token_type", '"BimPlus"', '"Bearer"', "breaking")
    ]


def test_no_baseline_and_not_recorded_vendors_are_reported(tmp_path):
    baseline, current = recording(1), recording(2)
    del baseline["kudo"]
    del current["bimplus"]
    result = drift(tmp_path, baseline, current)
    assert list(result.vendors) == ["autodesk"]
    assert result.no_baseline == ["kudo"]
    assert result.not_recorded == ["bimplus"]
    assert result.findings("kudo") == []


def test_missing_baseline_folder_means_no_baseline_and_missing_current_is_an_error(tmp_path):
    current = write(tmp_path / "current", recording(2))
    result = compare(tmp_path / "nowhere", current)
    assert result.vendors == {}
    assert result.no_baseline == ["autodesk", "bimplus", "kudo"]
    with pytest.raises(FileNotFoundError):
        compare(current, tmp_path / "nowhere")


def test_vendor_filter(tmp_path):
    current = recording(2)
    current["autodesk"]["test_bad_secret"][0]["status"] = 500
    result = drift(tmp_path, recording(1), current, vendors=["kudo", "bimplus", "nowhere"])
    assert list(result.vendors) == ["bimplus", "kudo"]
    assert all_findings(result) == []
    assert result.not_recorded == ["nowhere"]


SAME_ACCESS_TOKEN = ("format_changed jwt claims gained", "format_changed jwt algorithm")


def test_output_is_deterministic_and_ordered_by_severity(tmp_path):
    current = recording(2)
    # one mutation per field: the other JWT mutations change the access token the "claims lost" one changes
    applied = [name for name in MUTATIONS if name not in ("step_missing", *SAME_ACCESS_TOKEN)]
    for name in applied:
        MUTATIONS[name][0](current)
    baseline = write(tmp_path / "baseline", recording(1))
    written = write(tmp_path / "current", current)
    first = compare(baseline, written, workers=1)
    second = compare(baseline, written, workers=2)
    assert first == second
    for vendor in first.vendors.values():
        ranks = [("breaking", "warning", "info").index(f["severity"]) for f in vendor.findings]
        assert ranks == sorted(ranks)
    assert len(all_findings(first)) == len(applied)  # one finding each


def test_corrupt_current_cassette_raises_naming_the_file(tmp_path):
    baseline = write(tmp_path / "baseline", recording(1))
    current = write(tmp_path / "current", recording(2))
    broken = current / "kudo" / "test_generate.yaml"
    broken.write_text(broken.read_text()[:200] + "\n  - [unbalanced")
    with pytest.raises(CassetteError, match=str(broken)):
        compare(baseline, current)


def test_drift_report_files(tmp_path):
    baseline, current = recording(1), recording(2)
    for step in baseline["autodesk"]["test_two_legged"]:
        step["json"]["scope"] = "data:read | x"  # stable: shown in the finding
    current["autodesk"]["test_bad_secret"][0]["status"] = 403
    current["bimplus"]["test_authorize"][0]["json"]["note"] = "n"
    del baseline["kudo"]
    result = drift(tmp_path, baseline, current)
    json_path, md_path = write_drift_report(result, tmp_path / "run")
    document = json.loads(json_path.read_text())
    assert document["schema"] == "authcanary.drift/1"
    assert document["breaking"] is True
    assert document["no_baseline"] == ["kudo"]
    assert document["not_recorded"] == []
    autodesk = document["vendors"]["autodesk"]
    assert autodesk["status"] == "breaking"
    assert autodesk["counts"] == {"breaking": 3, "warning": 0, "info": 0}
    assert autodesk["steps"] == {"baseline": 3, "current": 3}
    assert autodesk["findings"] == result.findings("autodesk")
    assert document["vendors"]["bimplus"]["status"] == "info"

    markdown = md_path.read_text()
    assert "**3 breaking, 0 warning, 1 info** across 2 compared vendor(s)" in markdown
    assert "## autodesk" in markdown and "## bimplus" in markdown
    assert "| Severity | Kind | Step | Path | Baseline | Current |" in markdown
    assert (
        "| breaking | status_changed | `autodesk/test_bad_secret#POST /authentication/v2/token [grant_type]#0` "
        "| `status` | `401` | `403` |"
    ) in markdown
    assert '| `$.scope` | `string = "data:read \\| x"` | `(absent)` |' in markdown
    assert "**No baseline** (nothing compared, not a pass): kudo." in markdown
    assert "## kudo\n\nNo baseline: this vendor's recordings were not compared." in markdown


def test_clean_report_says_no_drift(tmp_path):
    result = drift(tmp_path, recording(1), recording(2))
    _, md_path = write_drift_report(result, tmp_path / "run")
    markdown = md_path.read_text()
    assert "**0 breaking, 0 warning, 0 info** across 3 compared vendor(s)." in markdown
    assert "## kudo\n\nNo drift: 2 step(s) match the baseline." in markdown
    assert "No baseline" not in markdown


def test_an_announced_removal_turns_the_drift_of_the_scenarios_it_touches_into_info(tmp_path):
    current = recording(2)
    current["autodesk"]["test_bad_secret"][0]["status"] = 410  # the endpoint is gone in both scenarios...
    current["autodesk"]["test_two_legged"][0]["status"] = 410
    current["bimplus"]["test_authorize"][1]["status"] = 500  # ...and another vendor changed too
    result = drift(tmp_path, recording(1), current)
    assert {f["severity"] for f in all_findings(result)} == {"breaking"}
    note = "v2 removed as announced"
    assert result.expect_removal("autodesk", "POST /authentication/v1/authenticate", note) == 0  # not touched
    assert result.expect_removal("autodesk", "POST /authentication/v2/token", note) >= 2
    assert {f["severity"] for f in result.findings("autodesk")} == {"info"}
    assert all(f["note"] == note for f in result.findings("autodesk"))
    assert [f["severity"] for f in result.findings("bimplus")] == ["breaking"] and result.breaking


def test_a_deprecated_field_gone_as_announced_is_info_and_nothing_else_is(tmp_path):
    current = recording(2)
    _set((*APS, "json", "token_type"), _DELETE)(current)  # the deprecated field, on its documented endpoint
    _set((*APS, "json", "expires_in"), _DELETE)(current)  # another field on the same answer
    result = drift(tmp_path, recording(1), current)
    note = "token_type deprecated"
    endpoints = ["POST /authentication/v1/authenticate"]  # another endpoint: not this one's finding
    assert result.expect_field_removal("autodesk", "$.token_type", endpoints, note) == 0
    assert result.expect_field_removal("autodesk", "$.token_type", ["GET /authentication/v2/token"], note) == 0
    assert result.expect_field_removal("autodesk", "$.token_type", ["POST /2/token"], note) == 0  # not a segment
    # a recorded path may carry the target's prefix before the documented one (/system_aplus/api/oauth/...)
    assert result.expect_field_removal("autodesk", "$.token_type", ["POST /v2/token"], note) == 1
    by_path = {f["path"]: f for f in result.findings("autodesk")}
    assert by_path["$.token_type"]["severity"] == "info" and by_path["$.token_type"]["note"] == note
    assert by_path["$.expires_in"]["severity"] == "breaking" and result.breaking


def test_skipped_scenarios_lose_only_their_missing_steps_as_drift(tmp_path):
    current = recording(2)
    del current["autodesk"]["test_two_legged"][1]  # the test stopped early (a skip)...
    current["autodesk"]["test_two_legged"][0]["status"] = 500  # ...after a real change
    result = drift(tmp_path, recording(1), current)
    assert result.downgrade("autodesk", {"autodesk/test_two_legged"}, "skipped", ("step_missing",)) == 1
    assert sorted((f["kind"], f["severity"]) for f in result.findings("autodesk")) == [
        ("status_changed", "breaking"),
        ("step_missing", "info"),
    ]


def test_drift_markdown_escapes_vendor_values_as_the_run_report_does(tmp_path):
    """drift.md goes through the run report's Markdown escaping: a value with backticks, pipes or a newline cannot
    break out of its code span or its table row."""
    from authcanary.drift import DriftResult, VendorDrift
    from authcanary.reporting.render import md_code

    hostile = "a`b | c\n## heading"
    item = {
        "key": "v/t#GET /x#0",
        "kind": "value_changed",
        "path": "$.x",
        "baseline": hostile,
        "current": "",
        "severity": "breaking",
    }
    result = DriftResult("base", "cur", {"v": VendorDrift("v", [item], 1, 1)}, [], [])
    _, md_path = write_drift_report(result, tmp_path)
    row = next(line for line in md_path.read_text().splitlines() if line.startswith("| breaking"))
    assert f"| {md_code(hostile)} | {md_code('')} |" in row
    assert "\n## heading" not in md_path.read_text()


def test_a_drift_keys_endpoint_is_its_request_line():
    """What history, reports, Allure and the CI digest name a drift finding by (authcanary.drift.step_endpoint)."""
    from authcanary.drift import step_endpoint

    key = "autodesk/test_scenarios.test_v1_happy_path#POST /authentication/v1/authenticate?x=1 [client_id]#2"
    assert step_endpoint(key) == "POST /authentication/v1/authenticate?x=1"
    assert step_endpoint("autodesk/test_x#GET /teams#1") == "GET /teams"
    assert step_endpoint("no signature") == ""

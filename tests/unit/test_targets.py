"""targets.py: loading and validating targets.toml (docs/interfaces.md "Targets file")."""

from __future__ import annotations

from pathlib import Path

import pytest

from authcanary.errors import ConfigError
from authcanary.registry import COMMON_KEYS, EMBEDDED_KEYS, VENDORS
from authcanary.simulators.autodesk import AutodeskSimulator
from authcanary.targets import load_target, load_targets_file
from conftest import ROOT

AUTODESK_LIVE = """
[targets.t.autodesk]
base_url = "https://developer.api.autodesk.com"
client_id = "literal-id"
client_secret = "literal-secret"
"""


def write(tmp_path: Path, text: str, name: str = "targets.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path, target: str = "t", environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_target(path, target, environ=environ or {})
    error = info.value
    assert error.exit_code == 2
    assert "\n" not in error.cause, "the cause is one line"
    assert error.fix, "every configuration error says what to do"
    return error


# -- interpolation ---------------------------------------------------------------------------------------------
def test_interpolates_variables_from_the_given_environment(tmp_path):
    path = write(
        tmp_path,
        """
[targets.t.autodesk]
base_url = "https://${HOST}/"
client_id = "${APS_CLIENT_ID}"
client_secret = "${APS_CLIENT_SECRET}"
scope = "data:read ${EXTRA_SCOPE}"
""",
    )
    target = load_target(
        path,
        "t",
        environ={
            "HOST": "developer.api.autodesk.com",
            "APS_CLIENT_ID": "cid",
            "APS_CLIENT_SECRET": "s3cr3t",
            "EXTRA_SCOPE": "bucket:read",
        },
    )
    settings = target.vendors["autodesk"].settings
    assert settings["base_url"] == "https://developer.api.autodesk.com"  # trailing slash dropped
    assert settings["client_id"] == "cid"
    assert settings["client_secret"] == "s3cr3t"
    assert settings["scope"] == "data:read bucket:read"
    assert target.name == "t" and not target.embedded and target.source == path


def test_reads_os_environ_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("AC_TEST_SECRET", "from-the-env")
    path = write(tmp_path, AUTODESK_LIVE.replace('"literal-secret"', '"${AC_TEST_SECRET}"'))
    assert load_target(path, "t").vendors["autodesk"].settings["client_secret"] == "from-the-env"


def test_double_dollar_is_a_literal_dollar(tmp_path):
    path = write(tmp_path, AUTODESK_LIVE.replace('"literal-secret"', '"pa$$word-$${NOT_A_VAR}-${V}"'))
    settings = load_target(path, "t", environ={"V": "v"}).vendors["autodesk"].settings
    assert settings["client_secret"] == "pa$word-${NOT_A_VAR}-v"


def test_a_value_from_the_environment_is_not_interpolated_again(tmp_path):
    path = write(tmp_path, AUTODESK_LIVE.replace('"literal-secret"', '"${V}"'))
    settings = load_target(path, "t", environ={"V": "${OTHER}$$"}).vendors["autodesk"].settings
    assert settings["client_secret"] == "${OTHER}$$"


def test_missing_variable_names_file_target_key_and_variable(tmp_path):
    path = write(tmp_path, AUTODESK_LIVE.replace('"literal-secret"', '"${APS_CLIENT_SECRET_UNSET}"'))
    error = config_error(path)
    assert str(path) in error.cause
    assert "targets.t.autodesk.client_secret" in error.cause
    assert "APS_CLIENT_SECRET_UNSET" in error.cause
    assert "export APS_CLIENT_SECRET_UNSET" in error.fix


def test_an_empty_variable_is_a_configuration_error_not_a_vendor_violation(tmp_path):
    path = write(tmp_path, AUTODESK_LIVE.replace('"literal-secret"', '"${APS_CLIENT_SECRET}"'))
    error = config_error(path, environ={"APS_CLIENT_SECRET": ""})
    assert "APS_CLIENT_SECRET" in error.cause and "empty" in error.cause
    assert "targets.t.autodesk.client_secret" in error.cause


@pytest.mark.parametrize("value", ["${NOT CLOSED", "${A B}", "$APS_CLIENT_SECRET", "x-${}-y", "${1ABC}"])
def test_a_malformed_variable_reference_is_a_configuration_error(tmp_path, value):
    path = write(tmp_path, AUTODESK_LIVE.replace('"literal-secret"', f'"{value}"'))
    error = config_error(path, environ={"APS_CLIENT_SECRET": "s"})
    assert "malformed variable reference" in error.cause and "targets.t.autodesk.client_secret" in error.cause


def test_a_dollar_inside_a_literal_value_is_kept(tmp_path):
    path = write(tmp_path, AUTODESK_LIVE.replace('"literal-secret"', '"pa$word{1}$"'))
    assert load_target(path, "t", environ={}).vendors["autodesk"].settings["client_secret"] == "pa$word{1}$"


def test_missing_variable_in_another_target_does_not_matter(tmp_path):
    path = write(
        tmp_path,
        AUTODESK_LIVE
        + """
[targets.other.autodesk]
base_url = "https://x.example"
client_id = "${UNSET_ID}"
client_secret = "${UNSET_SECRET}"
""",
    )
    assert load_target(path, "t", environ={}).vendors["autodesk"].settings["client_id"] == "literal-id"


def test_literal_values_need_no_environment(tmp_path):
    target = load_target(write(tmp_path, AUTODESK_LIVE), "t", environ={})
    settings = target.vendors["autodesk"].settings
    assert (settings["client_id"], settings["client_secret"]) == ("literal-id", "literal-secret")
    assert target.vendors["autodesk"].secret_env == {}


# -- documented defaults ---------------------------------------------------------------------------------------
def test_live_vendor_section_gets_the_documented_defaults(tmp_path):
    vendor = load_target(write(tmp_path, AUTODESK_LIVE), "t", environ={}).vendors["autodesk"]
    for key, meta in COMMON_KEYS.items():
        if meta.default is not None:
            assert vendor.settings[key] == meta.default, key
    assert vendor.settings["scope"] == VENDORS["autodesk"].keys["scope"].default
    assert not vendor.embedded and not vendor.simulated
    assert vendor.base_url == "https://developer.api.autodesk.com"
    assert vendor.profile == "documented"
    assert "forbidden_client_id" not in vendor.settings


def test_simulator_flag_marks_a_live_target_as_simulated(tmp_path):
    path = write(
        tmp_path,
        AUTODESK_LIVE.replace(
            'base_url = "https://developer.api.autodesk.com"', 'base_url = "http://127.0.0.1:8700"\nsimulator = true'
        ),
    )
    vendor = load_target(path, "t", environ={}).vendors["autodesk"]
    assert vendor.simulated and not vendor.embedded


# -- unknown keys ----------------------------------------------------------------------------------------------
def test_unknown_top_level_key(tmp_path):
    error = config_error(write(tmp_path, AUTODESK_LIVE + "\n[target.typo]\nembedded = true\n"))
    assert "unknown top-level key 'target'" in error.cause
    assert "[targets.NAME]" in error.fix


def test_unknown_key_in_a_target(tmp_path):
    error = config_error(write(tmp_path, '[targets.t]\nbase_url = "https://x.example"\n'))
    assert "unknown key 'targets.t.base_url'" in error.cause
    assert "autodesk" in error.fix and "bimplus" in error.fix


def test_unknown_vendor_section(tmp_path):
    error = config_error(write(tmp_path, AUTODESK_LIVE + '\n[targets.t.autodesc]\nbase_url = "https://x.example"\n'))
    assert "unknown key 'targets.t.autodesc'" in error.cause


def test_unknown_key_in_a_vendor_section(tmp_path):
    error = config_error(write(tmp_path, AUTODESK_LIVE + 'clientsecret = "typo"\n'))
    assert str(tmp_path / "targets.toml") in error.cause
    assert "unknown key 'targets.t.autodesk.clientsecret'" in error.cause
    assert "client_secret" in error.fix  # lists the allowed keys


def test_unknown_key_in_an_embedded_target(tmp_path):
    error = config_error(write(tmp_path, '[targets.t]\nembedded = true\nbase_url = "https://x.example"\n'))
    assert "targets.t.base_url" in error.cause


def test_unknown_key_in_an_embedded_vendor_section(tmp_path):
    error = config_error(write(tmp_path, "[targets.t]\nembedded = true\n[targets.t.autodesk]\nrequest_budget = 5\n"))
    assert "targets.t.autodesk.request_budget" in error.cause


def test_live_only_keys_are_rejected_on_embedded_and_embedded_only_keys_on_live(tmp_path):
    error = config_error(write(tmp_path, AUTODESK_LIVE + 'profile = "lowercase-token-type"\n'))
    assert "targets.t.autodesk.profile" in error.cause


# -- bad values ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url", ["developer.api.autodesk.com", "ftp://developer.api.autodesk.com", "https://", "http:///path", ""]
)
def test_bad_url(tmp_path, url):
    error = config_error(write(tmp_path, AUTODESK_LIVE.replace("https://developer.api.autodesk.com", url)))
    assert "targets.t.autodesk.base_url" in error.cause
    assert "http(s) URL" in error.cause
    assert "https://" in error.fix
    assert VENDORS["autodesk"].example_base_url in error.fix  # the vendor's own example (registry)


def test_bad_url_from_the_environment(tmp_path):
    path = write(tmp_path, AUTODESK_LIVE.replace("https://developer.api.autodesk.com", "${APS_URL}"))
    assert "targets.t.autodesk.base_url" in config_error(path, environ={"APS_URL": "localhost:8700"}).cause


def test_url_with_a_path_prefix_is_kept(tmp_path):
    path = write(tmp_path, AUTODESK_LIVE.replace("https://developer.api.autodesk.com", "http://127.0.0.1:8700/aps/"))
    assert load_target(path, "t", environ={}).vendors["autodesk"].base_url == "http://127.0.0.1:8700/aps"


def test_missing_required_key(tmp_path):
    error = config_error(write(tmp_path, AUTODESK_LIVE.replace('client_secret = "literal-secret"\n', "")))
    assert "targets.t.autodesk.client_secret is missing" in error.cause
    assert "client_secret = ..." in error.fix


@pytest.mark.parametrize(
    "line, key",
    [
        ('request_budget = "many"', "request_budget"),  # string that is not an int
        ("request_budget = true", "request_budget"),  # a bool is not an int
        ("request_budget = 2.5", "request_budget"),
        ('simulator = "perhaps"', "simulator"),
        ("simulator = 1", "simulator"),  # an int is not a bool
        ("scope = 12", "scope"),
        ('timeout = "soon"', "timeout"),
        ("max_examples = [1]", "max_examples"),
    ],
)
def test_wrong_types(tmp_path, line, key):
    error = config_error(write(tmp_path, AUTODESK_LIVE + line + "\n"))
    assert f"targets.t.autodesk.{key} must be a" in error.cause


@pytest.mark.parametrize(
    "line, key, value",
    [
        ('request_budget = "${N}"', "request_budget", 12),
        ("request_budget = 12", "request_budget", 12),
        ('simulator = "${FLAG}"', "simulator", True),
        ("simulator = false", "simulator", False),
        ('timeout = "${T}"', "timeout", 2.5),
        ("timeout = 2.5", "timeout", 2.5),
    ],
)
def test_typed_values_literal_or_interpolated(tmp_path, line, key, value):
    path = write(tmp_path, AUTODESK_LIVE + line + "\n")
    settings = load_target(path, "t", environ={"N": "12", "FLAG": "yes", "T": "2.5"}).vendors["autodesk"].settings
    assert settings[key] == value and type(settings[key]) is type(value)


def test_an_integer_is_a_valid_float(tmp_path):
    settings = load_target(write(tmp_path, AUTODESK_LIVE + "timeout = 5\n"), "t", environ={}).vendors["autodesk"]
    assert settings.settings["timeout"] == 5.0 and type(settings.settings["timeout"]) is float


@pytest.mark.parametrize("value", ["true", "false"])
def test_a_bool_is_not_a_float(tmp_path, value):
    error = config_error(write(tmp_path, AUTODESK_LIVE + f"timeout = {value}\n"))
    assert "targets.t.autodesk.timeout must be a float" in error.cause


def test_embedded_must_be_a_boolean(tmp_path):
    assert "embedded must be true or false" in config_error(write(tmp_path, '[targets.t]\nembedded = "yes"\n')).cause


def test_a_target_must_be_a_table(tmp_path):
    assert "must be a table" in config_error(write(tmp_path, "[targets]\nt = 1\n")).cause


# -- file level ------------------------------------------------------------------------------------------------
def test_malformed_toml_names_the_file(tmp_path):
    path = write(tmp_path, "[targets.t\nembedded = true\n")
    error = config_error(path)
    assert str(path) in error.cause and "not valid TOML" in error.cause


def test_missing_file(tmp_path):
    error = config_error(tmp_path / "nope.toml")
    assert "targets file not found" in error.cause and "--targets" in error.fix


@pytest.mark.parametrize("text", ["", "title = 'x'\n", "[targets]\n"])
def test_no_targets(tmp_path, text):
    with pytest.raises(ConfigError) as info:
        load_targets_file(write(tmp_path, text))
    assert "targets" in info.value.cause


def test_unknown_target_lists_the_known_ones(tmp_path):
    error = config_error(write(tmp_path, AUTODESK_LIVE + "\n[targets.sim]\nembedded = true\n"), target="staging")
    assert "unknown target 'staging'" in error.cause
    assert "sim, t" in error.cause
    assert "--target" in error.fix


# -- embedded targets ------------------------------------------------------------------------------------------
def test_embedded_target_gets_every_vendor_with_simulator_defaults(tmp_path):
    target = load_target(write(tmp_path, "[targets.sim]\nembedded = true\n"), "sim", environ={})
    assert target.embedded
    assert set(target.vendors) == set(VENDORS)
    autodesk = target.vendors["autodesk"]
    assert autodesk.embedded and autodesk.simulated and autodesk.base_url is None
    for key, value in AutodeskSimulator.default_settings().items():
        assert autodesk.settings[key] == value, key
    assert autodesk.settings["max_examples"] == EMBEDDED_KEYS["max_examples"].default
    assert autodesk.profile == "documented"
    assert set(autodesk.secret_values) == {
        AutodeskSimulator.default_settings()["client_secret"],
        AutodeskSimulator.default_settings()["forbidden_client_secret"],
    }


def test_target_level_profile_applies_to_every_embedded_vendor(tmp_path):
    having = sorted(n for n, spec in VENDORS.items() if "expires-in-string" in spec.simulator_class().deviations)
    assert len(having) >= 2  # autodesk, bimplus, axeobim
    sections = "".join(f"[targets.s.{name}]\n" for name in having)
    path = write(tmp_path, f'[targets.s]\nembedded = true\nprofile = "expires-in-string"\n{sections}')
    target = load_target(path, "s", environ={})
    assert sorted(target.vendors) == having
    assert {vendor.profile for vendor in target.vendors.values()} == {"expires-in-string"}


def test_target_level_profile_a_vendor_does_not_know_is_a_config_error(tmp_path):
    """Like `authcanary run --profile P`: a profile for every vendor must be a profile of every vendor."""
    error = config_error(
        write(tmp_path, '[targets.s]\nembedded = true\nprofile = "lowercase-token-type"\n'), target="s"
    )
    assert str(tmp_path / "targets.toml") in error.cause
    assert "targets.s.profile" in error.cause and "unknown bimplus profile lowercase-token-type" in error.cause
    assert "[targets.s.bimplus]" in error.fix and "authcanary profiles" in error.fix


def test_target_level_profile_is_not_checked_against_a_vendor_with_its_own(tmp_path):
    path = write(
        tmp_path,
        '[targets.s]\nembedded = true\nprofile = "lowercase-token-type"\n'
        '[targets.s.autodesk]\n[targets.s.bimplus]\nprofile = "bearer-token-type"\n',
    )
    target = load_target(path, "s", environ={})
    assert target.vendors["autodesk"].profile == "lowercase-token-type"
    assert target.vendors["bimplus"].profile == "bearer-token-type"


def test_per_vendor_profile_on_an_embedded_target(tmp_path):
    path = write(
        tmp_path,
        """
[targets.s]
embedded = true
profile = "documented"
[targets.s.autodesk]
profile = "exp-mismatch,html-errors"
options = { v1_decommission = "2030-01-01" }
max_examples = 7
""",
    )
    target = load_target(path, "s", environ={})
    autodesk = target.vendors["autodesk"]
    assert autodesk.profile == "exp-mismatch,html-errors"
    assert autodesk.settings["options"] == {"v1_decommission": "2030-01-01"}
    assert autodesk.settings["max_examples"] == 7
    assert autodesk.settings["client_id"] == AutodeskSimulator.default_settings()["client_id"]
    assert set(target.vendors) == {"autodesk"}  # a listed vendor section limits the embedded target to it


def test_embedded_credentials_can_be_overridden(tmp_path):
    path = write(tmp_path, '[targets.s]\nembedded = true\n[targets.s.autodesk]\nclient_secret = "${S}"\n')
    autodesk = load_target(path, "s", environ={"S": "other-secret"}).vendors["autodesk"]
    assert autodesk.settings["client_secret"] == "other-secret"
    assert autodesk.secret_env == {"other-secret": "S"}
    assert "other-secret" in autodesk.secret_values


@pytest.mark.parametrize("profile", ["nope", "documented,nope", "lowercase-token-type,bearer-token-type"])
def test_unknown_embedded_profile_is_a_config_error(tmp_path, profile):
    error = config_error(
        write(tmp_path, f'[targets.s]\nembedded = true\n[targets.s.autodesk]\nprofile = "{profile}"\n'), target="s"
    )
    assert str(tmp_path / "targets.toml") in error.cause
    assert "targets.s.autodesk.profile" in error.cause
    assert "unknown autodesk profile" in error.cause and profile.split(",")[-1] in error.cause
    assert "authcanary profiles --vendor autodesk" in error.fix


def test_unknown_embedded_profile_from_the_environment(tmp_path):
    path = write(tmp_path, '[targets.s]\nembedded = true\n[targets.s.autodesk]\nprofile = "${P}"\n')
    assert "unknown autodesk profile typo" in config_error(path, target="s", environ={"P": "typo"}).cause
    assert load_target(path, "s", environ={"P": "html-errors"}).vendors["autodesk"].profile == "html-errors"


def test_unknown_embedded_option_is_a_config_error(tmp_path):
    error = config_error(
        write(
            tmp_path,
            '[targets.s]\nembedded = true\n[targets.s.autodesk]\noptions = { v1_decomission = "2024-04-30" }\n',
        ),
        target="s",
    )
    assert str(tmp_path / "targets.toml") in error.cause
    assert "targets.s.autodesk.options.v1_decomission" in error.cause
    assert "v1_decommission" in error.fix  # the known options, so the typo is obvious


@pytest.mark.parametrize("value", ['"v1_decommission=2024-04-30"', '""', "3"])
def test_options_must_be_a_table(tmp_path, value):
    error = config_error(
        write(tmp_path, f"[targets.s]\nembedded = true\n[targets.s.autodesk]\noptions = {value}\n"), target="s"
    )
    assert "targets.s.autodesk.options must be a table" in error.cause


# -- absent vendors, secrets -----------------------------------------------------------------------------------
def test_absent_vendor_section_means_the_vendor_is_skipped(tmp_path):
    target = load_target(write(tmp_path, AUTODESK_LIVE), "t", environ={})
    assert set(target.vendors) == {"autodesk"}
    assert "bimplus" not in target.vendors


def test_secret_values_and_their_environment_variables(tmp_path):
    path = write(
        tmp_path,
        """
[targets.t.autodesk]
base_url = "https://developer.api.autodesk.com"
client_id = "${APS_CLIENT_ID}"
client_secret = "${APS_CLIENT_SECRET}"
forbidden_client_id = "fid"
forbidden_client_secret = "literal-forbidden-secret"
""",
    )
    target = load_target(path, "t", environ={"APS_CLIENT_ID": "cid", "APS_CLIENT_SECRET": "env-secret"})
    autodesk = target.vendors["autodesk"]
    assert set(autodesk.secret_values) == {"env-secret", "literal-forbidden-secret"}
    assert "cid" not in autodesk.secret_values  # a client id is not a secret
    assert autodesk.secret_env == {"env-secret": "APS_CLIENT_SECRET"}
    assert target.secret_values() == {"env-secret", "literal-forbidden-secret"}


def test_secret_values_across_vendors(tmp_path):
    path = write(
        tmp_path,
        AUTODESK_LIVE
        + """
[targets.t.bimplus]
base_url = "https://api-stage.bimplus.net"
user = "u@example.com"
password = "${BP_PASSWORD}"
application_id = "app"
""",
    )
    target = load_target(path, "t", environ={"BP_PASSWORD": "bp-pass"})
    assert target.secret_values() == {"literal-secret", "bp-pass"}
    assert target.vendors["bimplus"].secret_env == {"bp-pass": "BP_PASSWORD"}


# -- the shipped targets.toml ----------------------------------------------------------------------------------
def test_the_shipped_targets_file_loads():
    path = ROOT / "targets.toml"
    assert load_target(path, "sim", environ={}).embedded
    local = load_target(path, "local", environ={})
    assert (
        local.vendors["autodesk"].simulated and local.vendors["autodesk"].base_url == "http://127.0.0.1:8700/autodesk"
    )
    staging = load_target(path, "staging", environ={"APS_CLIENT_ID": "i", "APS_CLIENT_SECRET": "s"})
    assert staging.vendors["autodesk"].settings["client_secret"] == "s"
    with pytest.raises(ConfigError) as info:
        load_target(path, "staging", environ={})
    assert "APS_CLIENT_ID" in info.value.cause


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("request_budget = -5", "request_budget"),
        ("request_budget = 0", "request_budget"),
        ("rate_limit_per_minute = 0", "rate_limit_per_minute"),
        ('max_examples = "${N}"', "max_examples"),
        ("timeout = 0", "timeout"),
    ],
)
def test_numbers_that_would_disable_the_run_are_configuration_errors(tmp_path, line, key):
    path = write(tmp_path, AUTODESK_LIVE + line + "\n")
    error = config_error(path, environ={"N": "-1"})
    assert f"targets.t.autodesk.{key}" in error.cause and "at least" in error.cause


def test_a_secret_of_the_wrong_type_is_not_printed(tmp_path):
    path = write(tmp_path, AUTODESK_LIVE.replace('"literal-secret"', "73194628"))
    error = config_error(path)
    assert "73194628" not in error.cause + error.fix and "must be a" in error.cause


# -- secrets never enter a repr (issue 8 §2) ----------------------------------------------------------------------
def test_secrets_are_masked_in_every_printed_form_of_a_target(tmp_path):
    """hypothesis prints a failing example's arguments with its own pretty printer (dataclass fields, not repr)."""
    from hypothesis.vendor.pretty import pretty

    from authcanary.checks.hostile import HostileRequest
    from authcanary.credentials import reveal

    canary = "Canary-Secret-7f3e9a"
    path = tmp_path / "targets.toml"
    path.write_text('[targets.t.autodesk]\nbase_url = "https://h"\nclient_id = "cid"\nclient_secret = "${S}"\n')
    target = load_target(path, "t", {"S": canary})
    vendor = target.vendors["autodesk"]
    hostile = HostileRequest("k", "POST", "/t", {"Authorization": canary}, canary.encode(), frozenset({400}))
    for shown in (
        repr(target),
        str(vendor),
        f"{vendor.settings['client_secret']}",
        pretty(target),
        pretty(vendor),
        pretty(vendor.settings),
        pretty(hostile),
    ):
        assert canary not in shown, shown
    assert reveal(vendor.settings["client_secret"]) == canary and vendor.secret_values == (canary,)


@pytest.mark.parametrize(
    "url",
    [
        "https://me:CNRYpw9@h/aps",
        "http://u:CNRYsl/ash@127.0.0.1:8721/autodesk",
        "http://u:CNRY#frag@h",
        "http://u:CNRY?q@h",
        "http://u:CNRY[6@h",
        "http:/\\u:CNRYbs@127.0.0.1",
        "http//u:CNRYnoc@h",
    ],
)
def test_credentials_inside_a_base_url_are_a_config_error_that_does_not_print_them(tmp_path, url):
    """Also when the password breaks URL parsing (`/`, `#`, `?`, `[`) or the URL is malformed around it."""
    path = tmp_path / "targets.toml"
    path.write_text('[targets.t.autodesk]\nbase_url = "${BU}"\nclient_id = "c"\nclient_secret = "s"\n')
    with pytest.raises(ConfigError) as error:
        load_target(path, "t", {"BU": url})
    assert "credentials" in error.value.cause and "CNRY" not in str(error.value)


def test_a_literal_secret_that_looks_like_a_variable_is_not_printed(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text('[targets.t.autodesk]\nbase_url = "https://h"\nclient_id = "c"\nclient_secret = "$CNRYWHOLE"\n')
    with pytest.raises(ConfigError) as error:
        load_target(path, "t", {})
    assert "malformed variable" in error.value.cause and "CNRY" not in str(error.value)


def test_an_empty_required_secret_is_a_config_error(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text('[targets.t.autodesk]\nbase_url = "https://h"\nclient_id = "c"\nclient_secret = ""\n')
    with pytest.raises(ConfigError, match="client_secret is empty"):
        load_target(path, "t", {})


# -- vendor capabilities (registry) ----------------------------------------------------------------------------
def test_failed_logins_are_bounded_by_the_registered_key_and_its_default():
    bimplus = VENDORS["bimplus"]
    key = bimplus.failed_logins_key
    assert key in bimplus.keys and bimplus.keys[key].default >= 1
    assert bimplus.failed_logins_allowed({}) == bimplus.keys[key].default
    assert bimplus.failed_logins_allowed({key: 1}) == 1
    # a vendor that declares no such key may cause no failed login on a live target
    assert VENDORS["autodesk"].failed_logins_key is None and VENDORS["autodesk"].failed_logins_allowed({}) == 0


def test_a_failed_logins_key_must_be_a_declared_number():
    from authcanary.registry import VendorSpec

    with pytest.raises(ValueError, match="failed_logins_key"):
        VendorSpec("v", "V", {}, "m:C", failed_logins_key="missing")


def test_every_vendor_has_an_example_base_url():
    for name, spec in VENDORS.items():
        assert spec.example_base_url.startswith("https://"), name


# -- Bimplus OIDC keys ------------------------------------------------------------------------------------------
BIMPLUS_LIVE = """
[targets.t.bimplus]
base_url = "https://api-stage.bimplus.net"
user = "u@example.com"
password = "pw-literal"
application_id = "app"
"""


def test_oidc_keys_default_and_issuer_forms(tmp_path):
    plain = load_target(write(tmp_path, BIMPLUS_LIVE), "t", environ={}).vendors["bimplus"].settings
    assert "oidc_issuer" not in plain and plain["oidc_refresh_rotation"] is True
    assert plain["oidc_scope"] == "openid profile email"
    for issuer, kept in (
        ("https://login.example.com/realms/bimplus/", "https://login.example.com/realms/bimplus"),
        ("/realms/bimplus", "/realms/bimplus"),
    ):
        text = BIMPLUS_LIVE + f'oidc_issuer = "{issuer}"\noidc_client_id = "harness"\noidc_refresh_rotation = false\n'
        settings = load_target(write(tmp_path, text), "t", environ={}).vendors["bimplus"].settings
        assert settings["oidc_issuer"] == kept and settings["oidc_refresh_rotation"] is False


@pytest.mark.parametrize(
    "issuer, fragment",
    [
        ("login.example.com/realms/x", "is not an http(s) URL"),
        ("https://u:p@login.example.com/realms/x", "has credentials in it"),
        ("//login.example.com/realms/x", "is not an http(s) URL"),
    ],
)
def test_a_bad_oidc_issuer_is_a_configuration_error(tmp_path, issuer, fragment):
    text = BIMPLUS_LIVE + f'oidc_issuer = "{issuer}"\noidc_client_id = "harness"\n'
    with pytest.raises(ConfigError) as caught:
        load_target(write(tmp_path, text), "t", environ={})
    assert "targets.t.bimplus.oidc_issuer" in caught.value.cause and fragment in caught.value.cause
    assert "u:p" not in str(caught.value.cause) + str(caught.value.fix)


def test_an_oidc_issuer_needs_a_client_id(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_target(write(tmp_path, BIMPLUS_LIVE + 'oidc_issuer = "/realms/bimplus"\n'), "t", environ={})
    assert "oidc_issuer is set but oidc_client_id is not" in caught.value.cause
    assert "oidc_client_id = ..." in caught.value.fix

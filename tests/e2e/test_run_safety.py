"""What a run may never do (issue 3, item 7): leak a credential, or damage the accepted baseline.

- Random canary credentials (Autodesk client secrets, Bimplus passwords) never appear in any file of a run folder:
  raw, base64 (also as Basic `id:secret`), URL-encoded, JSON-, HTML- or shell-escaped.
- A truncated, corrupted or hand-edited cassette, in the baseline or in the run folder, makes `authcanary drift`,
  `authcanary baseline accept` and `authcanary run` stop with exit 2 and an error naming the file; the baseline
  stays byte-for-byte as it was.
- `authcanary run` killed midway (SIGKILL, SIGINT, SIGTERM) leaves the baseline intact, and its partial recordings
  cannot be accepted.
- `authcanary baseline accept` replaces a vendor's folder whole: failing or killed at any point, the baseline holds
  the old folder or the new one, never a mix, never nothing.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import string
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

import authcanary.baseline as baseline_module
from authcanary.recording.cassette import load_cassette
from authcanary.summary import EXIT_INTERRUPTED
from conftest import AUTHCANARY, ROOT, RunResult, cli_env, run_authcanary

# -- canary credentials -----------------------------------------------------------------------------------------
ALNUM = string.ascii_letters + string.digits
#: a random core of a canary secret: letters and digits pass unchanged through every escaping (URL, JSON, HTML,
#: shell, Markdown), so finding one finds the secret whatever was done to it
CORE = re.compile(r"[A-Za-z0-9]{16,}")


def _core() -> str:
    return "".join(secrets.choice(ALNUM) for _ in range(16))


def canary_secret() -> str:
    """Two random cores around the characters that URL, JSON, HTML and shell quoting each escape differently."""
    return f"{_core()}/+= é\"\\&%3A'<{_core()}"


@dataclass(frozen=True)
class Canary:
    """The random credentials of one run: secrets (must never be written) and the ids they belong to."""

    autodesk: dict[str, str]
    bimplus: dict[str, str]

    @classmethod
    def new(cls) -> Canary:
        return cls(
            autodesk={
                "client_id": secrets.token_hex(16),
                "client_secret": canary_secret(),
                "forbidden_client_id": secrets.token_hex(16),
                "forbidden_client_secret": canary_secret(),
            },
            bimplus={
                "user": f"canary-{secrets.token_hex(4)}@example.com",
                "password": canary_secret(),
                "application_id": secrets.token_hex(16).upper(),
                "second_user": f"canary-{secrets.token_hex(4)}@example.com",
                "second_password": canary_secret(),
            },
        )

    def secrets(self) -> dict[str, str]:
        """Name -> secret value (client ids and user names are identifiers, recorded on purpose)."""
        return {
            "autodesk client_secret": self.autodesk["client_secret"],
            "autodesk forbidden_client_secret": self.autodesk["forbidden_client_secret"],
            "bimplus password": self.bimplus["password"],
            "bimplus second_password": self.bimplus["second_password"],
        }

    def basic_pairs(self) -> dict[str, str]:
        return {
            "autodesk Basic": f"{self.autodesk['client_id']}:{self.autodesk['client_secret']}",
            "autodesk forbidden Basic": f"{self.autodesk['forbidden_client_id']}:"
            f"{self.autodesk['forbidden_client_secret']}",
        }

    def write_targets(self, path: Path) -> Path:
        """An embedded target whose simulators register these credentials, with deviations that make checks fail
        (violations carry curl reproductions and hypothesis examples: the likeliest place for a leak)."""
        profiles = {
            "autodesk": "expires-in-string,v2-basic-rejected,echo-secret-in-errors",
            "bimplus": "expires-in-string",
        }
        # faults injected mid-test (property tests included): retried, lost, rejected examples all print things
        faults = 'options = { fault_rate = 0.1, fault_status = "503,500", fault_retry_after = 0 }'
        lines = ["[targets.canary]", "embedded = true"]
        for vendor, settings in (("autodesk", self.autodesk), ("bimplus", self.bimplus)):
            lines += [
                "",
                f"[targets.canary.{vendor}]",
                f"profile = {json.dumps(profiles[vendor])}",
                faults,
                "retry_budget = 100000",
            ]
            lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]  # JSON strings are TOML
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def _b64_forms(value: str) -> dict[str, bytes]:
    raw = value.encode()
    return {"base64": base64.b64encode(raw).rstrip(b"="), "base64url": base64.urlsafe_b64encode(raw).rstrip(b"=")}


def plain_forms(canary: Canary) -> dict[str, bytes]:
    """Raw and base64 forms of every secret, and the Basic `id:secret` form."""
    forms = {}
    for name, value in canary.secrets().items():
        forms[f"{name} raw"] = value.encode()
        forms.update({f"{name} {kind}": encoded for kind, encoded in _b64_forms(value).items()})
    for name, pair in canary.basic_pairs().items():
        forms.update({f"{name} {kind}": encoded for kind, encoded in _b64_forms(pair).items()})
    return forms


#: encodings named in a failure message (the random cores find any of them, and their combinations, anyway)
ENCODINGS: dict[str, Callable[[str], str]] = {
    "URL-encoded": lambda value: quote(value, safe=""),
    "form-encoded": quote_plus,
    "JSON-escaped": lambda value: json.dumps(value, ensure_ascii=False)[1:-1],
    "JSON-escaped (ASCII)": lambda value: json.dumps(value)[1:-1],
    "HTML-escaped": html.escape,
    "shell-quoted": shlex.quote,
}


def encoded_forms(canary: Canary) -> dict[str, bytes]:
    """Each random core of every secret, and the whole secret in each named encoding."""
    forms = {}
    for name, value in canary.secrets().items():
        forms.update({f"{name} {kind}": encode(value).encode() for kind, encode in ENCODINGS.items()})
        forms.update({f"{name} core {core}": core.encode() for core in CORE.findall(value)})
    return forms


def leaks(folder: Path, forms: dict[str, bytes]) -> dict[str, list[str]]:
    """Form name -> files (relative) under `folder` whose bytes contain it."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            for name, needle in forms.items():
                if needle in data:
                    found.setdefault(name, []).append(str(path.relative_to(folder)))
    return found


@dataclass
class CanaryRun:
    canary: Canary
    out: Path
    result: RunResult

    def vendor(self, name: str) -> dict[str, Any]:
        assert self.result.summary is not None, f"no summary.json:\n{self.result.output[-3000:]}"
        return self.result.summary["vendors"][name]


@pytest.fixture(scope="module")
def canary_run(tmp_path_factory: pytest.TempPathFactory) -> CanaryRun:
    """One run of both vendors with random credentials; its cassettes also serve as the baseline below."""
    base = tmp_path_factory.mktemp("canary")
    canary = Canary.new()
    targets = canary.write_targets(base / "targets.toml")
    out = base / "run"
    (base / "none").mkdir()  # an empty baseline: nothing to compare with
    result = run_authcanary(
        [
            "run",
            "--targets",
            str(targets),
            "--target",
            "canary",
            "--baseline",
            str(base / "none"),
            "--max-examples",
            "5",
        ],
        out,
        env=cli_env(XDG_CACHE_HOME=str(base / "cache")),  # hypothesis' files and the case store, to be searched
    )
    return CanaryRun(canary, out, result)


def test_leak_detector_finds_every_form(tmp_path):
    """The leak assertions below can fail: each form, planted in a file, is found."""
    canary = Canary.new()
    raw = {value.encode() for value in canary.secrets().values()}
    assert not raw & set(encoded_forms(canary).values()), "the canary secrets must need escaping in every syntax"
    assert all(len(CORE.findall(value)) == 2 for value in canary.secrets().values())
    forms = {**plain_forms(canary), **encoded_forms(canary)}
    for index, needle in enumerate(forms.values()):
        (tmp_path / f"{index}.txt").write_bytes(b"before " + needle + b" after")
    assert set(leaks(tmp_path, forms)) == set(forms)
    secret = canary.secrets()["bimplus password"]
    (tmp_path / "nested.txt").write_text(json.dumps(shlex.quote(json.dumps({"password": secret}))))
    assert {name for name, files in leaks(tmp_path, encoded_forms(canary)).items() if "nested.txt" in files} == {
        f"bimplus password core {core}" for core in CORE.findall(secret)
    }, "a core is found through any escaping"
    assert not leaks(tmp_path, {"other": canary_secret().encode()})


def test_canary_credentials_were_used_and_scrubbed(canary_run):
    """The leak tests are not vacuous: the secrets went out, checks ran, and what was written holds placeholders."""
    for name in ("autodesk", "bimplus"):
        vendor = canary_run.vendor(name)
        assert vendor["requests"] > 20 and vendor["checks"]["passed"] > 5, (name, vendor["checks"])
        assert vendor["violations"], f"{name}: the deviation profile makes checks fail"
    repros = " ".join(v["repro"] for v in canary_run.vendor("autodesk")["violations"])
    assert "${AUTODESK_CLIENT_SECRET}" in repros
    cassettes = b"".join(path.read_bytes() for path in (canary_run.out / "cassettes").rglob("*.yaml"))
    assert b"Basic <basic>" in cassettes
    assert b"<secret len=" in cassettes


def test_canary_secrets_never_appear_raw_or_base64(canary_run):
    assert (canary_run.out / "summary.json").is_file(), canary_run.result.output[-3000:]
    found = leaks(canary_run.out, plain_forms(canary_run.canary))
    assert not found, f"canary secrets written to the run folder: {found}"


def test_no_canary_secret_reaches_stdout_or_stderr(canary_run):
    """What a CI log keeps: pytest's and hypothesis' output (failing examples, flaky retries) and authcanary's."""
    for vendor in ("autodesk", "bimplus"):
        assert canary_run.vendor(vendor)["retries"] > 0, f"{vendor}: the injected faults were retried"
    output = canary_run.result.output.encode()
    found = [
        name
        for name, form in {**plain_forms(canary_run.canary), **encoded_forms(canary_run.canary)}.items()
        if form in output
    ]
    assert not found, f"canary secrets printed: {found}"


def test_no_canary_secret_reaches_the_cache(canary_run):
    """What a run keeps beyond its folder: hypothesis' files and the contract tests' stored cases (generated data,
    the credentials put into the request only)."""
    cache = canary_run.out.parent / "cache" / "authcanary"
    assert list(cache.rglob("cases/*.pickle")), "the contract tests stored their cases"
    found = leaks(cache, {**plain_forms(canary_run.canary), **encoded_forms(canary_run.canary)})
    assert not found, f"canary secrets written to the cache: {found}"


def test_no_part_of_a_canary_secret_appears_in_any_encoding(canary_run):
    assert (canary_run.out / "summary.json").is_file(), canary_run.result.output[-3000:]
    found = leaks(canary_run.out, encoded_forms(canary_run.canary))
    assert not found, f"canary secrets written to the run folder: {found}"


# -- damaged cassettes --------------------------------------------------------------------------------------------
def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder`, hidden ones included: file -> bytes, folder -> None."""
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
        for path in sorted(folder.rglob("*"))
    }


def visible(tree: dict[str, bytes | None]) -> dict[str, bytes | None]:
    return {name: data for name, data in tree.items() if not any(part.startswith(".") for part in Path(name).parts)}


def _replace_once(pattern: bytes, replacement: bytes) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        edited, count = re.subn(pattern, replacement, data, count=1, flags=re.MULTILINE)
        assert count == 1, f"pattern {pattern!r} not found: the damage was not applied"
        return edited

    return edit


#: damage -> how to apply it to a cassette's bytes
DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "truncated in the middle": lambda data: data[: len(data) // 2],
    "truncated before its last line": lambda data: data[: data.rindex(b"version:")],
    "corrupted bytes": lambda data: data[:200] + b"\x00\xff\xfe\x80garbage" + data[210:],
    "hand-edited: merge conflict": lambda data: b"<<<<<<< HEAD\n" + data + b"=======\n" + data + b">>>>>>> theirs\n",
    "hand-edited: status code as text": _replace_once(rb"^(\s+code:) \d+$", rb"\1 forbidden"),
    "hand-edited: headers made a string": _replace_once(
        rb"^(  response:\n(?:    .*\n)*?)    headers:\n", rb"\1    headers: see below\n    headers_old:\n"
    ),
    "hand-edited: python tag": lambda data: data.replace(
        b"version: 1", b"version: !!python/object/apply:os.system ['touch PWNED']"
    ),
}
FEW_DAMAGES = ["truncated in the middle", "corrupted bytes", "hand-edited: headers made a string"]


@pytest.fixture
def baseline(canary_run, tmp_path) -> Path:
    """A baseline folder (both vendors) copied from the canary run's cassettes."""
    recorded = canary_run.out / "cassettes"
    assert (recorded / "autodesk").is_dir() and (recorded / "bimplus").is_dir(), canary_run.result.output[-3000:]
    return Path(shutil.copytree(recorded, tmp_path / "baseline"))


def damage(folder: Path, how: str) -> Path:
    """Damage one Autodesk cassette under `folder` (a cassettes folder); returns its path."""
    path = sorted((folder / "autodesk").glob("*.yaml"))[0]
    path.write_bytes(DAMAGES[how](path.read_bytes()))
    return path


def assert_config_error(result: RunResult, damaged: Path) -> None:
    assert result.code == 2, result.output
    assert "error:" in result.output and str(damaged) in result.output.replace("\n", ""), result.output
    assert "Traceback" not in result.output, result.output


@pytest.mark.parametrize("how", sorted(DAMAGES))
def test_drift_with_a_damaged_baseline_cassette_exits_2(baseline, canary_run, tmp_path, how):
    damaged = damage(baseline, how)
    before = snapshot(baseline)
    result = run_authcanary(
        ["drift", str(baseline), str(canary_run.out), "--out", str(tmp_path / "report")], cwd=tmp_path
    )
    assert_config_error(result, damaged)
    assert snapshot(baseline) == before
    assert not (tmp_path / "report" / "drift.json").exists()
    assert not (tmp_path / "PWNED").exists(), "a YAML tag in a cassette ran a command"


@pytest.mark.parametrize("how", FEW_DAMAGES)
def test_drift_with_a_damaged_run_cassette_exits_2(baseline, canary_run, tmp_path, how):
    run_dir = Path(shutil.copytree(canary_run.out, tmp_path / "run"))
    damaged = damage(run_dir / "cassettes", how)
    before = snapshot(baseline)
    result = run_authcanary(["drift", str(baseline), str(run_dir), "--out", str(tmp_path / "report")])
    assert_config_error(result, damaged)
    assert snapshot(baseline) == before


@pytest.mark.parametrize("how", FEW_DAMAGES)
def test_accept_of_a_run_with_a_damaged_cassette_exits_2(baseline, canary_run, tmp_path, how):
    run_dir = Path(shutil.copytree(canary_run.out, tmp_path / "run"))
    damaged = damage(run_dir / "cassettes", how)  # as recorded: summary.json lists the damaged cassette
    for vendor in ("autodesk", "bimplus"):
        _edit_summary(run_dir, vendor, simulator_profile="documented")  # the canary run uses deviations
    before = snapshot(baseline)
    result = run_authcanary(["baseline", "accept", str(run_dir), "--baseline", str(baseline)])
    assert_config_error(result, damaged)
    assert snapshot(baseline) == before


def test_run_with_a_damaged_baseline_cassette_exits_2_before_sending_anything(baseline, tmp_path):
    damaged = damage(baseline, "truncated in the middle")
    before = snapshot(baseline)
    result = run_authcanary(
        ["run", "--target", "sim", "--vendor", "autodesk", "--max-examples", "1", "--baseline", str(baseline)],
        tmp_path / "run",
    )
    assert snapshot(baseline) == before
    assert_config_error(result, damaged)
    assert not (tmp_path / "run").exists()


def signal_the_run(
    args: list[str], run_dir: Path, log: Path, sig: signal.Signals, delay: float = 0.0
) -> tuple[int, str]:
    """Start `authcanary run` of the embedded Autodesk with `args`, send `sig` `delay` s after its first cassette
    is written; returns (exit code, output)."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(AUTHCANARY), "run", "--target", "sim", "--vendor", "autodesk", *args, "--out", str(run_dir)]
            + ["--history", str(run_dir.parent / "history.sqlite")],
            cwd=ROOT,
            env=cli_env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while not any((run_dir / "cassettes").rglob("*.yaml")):
            assert process.poll() is None, f"the run ended before it recorded anything:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no cassette after 120 s"
            time.sleep(0.02)
        time.sleep(delay)
        assert process.poll() is None, "the run finished before it could be signalled"
        process.send_signal(sig)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return code, log.read_text(encoding="utf-8", errors="replace")


# -- a run killed midway ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sig",
    [
        signal.SIGKILL,
        pytest.param(signal.SIGINT, marks=pytest.mark.slow),
        pytest.param(signal.SIGTERM, marks=pytest.mark.slow),
    ],
    ids=lambda sig: sig.name,
)
def test_run_killed_midway_leaves_the_baseline_intact(baseline, tmp_path, sig):
    before = snapshot(baseline)
    run_dir = tmp_path / "run"
    code, output = signal_the_run(["--baseline", str(baseline)], run_dir, tmp_path / "run.log", sig)
    assert code == (EXIT_INTERRUPTED if sig == signal.SIGINT else -sig), output[-3000:]
    assert snapshot(baseline) == before, "the killed run changed the baseline"
    if sig == signal.SIGINT:  # Ctrl-C: partial results, saying so (issue 8)
        assert json.loads((run_dir / "summary.json").read_text())["interrupted"] is True
    else:
        assert not (run_dir / "summary.json").exists(), "a killed run must not look finished"
    for cassette in (run_dir / "cassettes").rglob("*.yaml"):
        load_cassette(cassette)  # written atomically: complete or absent
    accepted = run_authcanary(["baseline", "accept", str(run_dir), "--baseline", str(baseline)])
    assert accepted.code == 2 and "did not finish" in accepted.output, accepted.output
    assert snapshot(baseline) == before, "the partial recordings of a killed run were accepted"


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 1.5, 4.0])
def test_ctrl_c_always_stops_the_run_with_130_and_an_interrupted_summary(tmp_path, delay):
    """Wherever it lands (scenarios, deep inside hypothesis' property tests, shrinking), SIGINT ends the run with 130,
    never 0 or 2, and the folder says `interrupted`."""
    run_dir = tmp_path / "run"
    code, output = signal_the_run(["--max-examples", "5000"], run_dir, tmp_path / "run.log", signal.SIGINT, delay)
    assert code == EXIT_INTERRUPTED, output[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["exit_code"] == EXIT_INTERRUPTED
    assert "interrupted" in (run_dir / "report.md").read_text()


# -- baseline accept: all or nothing ------------------------------------------------------------------------------
@pytest.fixture
def new_run(canary_run, tmp_path) -> Path:
    """A finished run folder that recorded only Autodesk, one scenario fewer than the baseline, one changed."""
    run_dir = tmp_path / "new-run"
    shutil.copytree(canary_run.out / "cassettes" / "autodesk", run_dir / "cassettes" / "autodesk")
    for name in ("summary.json", "report.html", "report.md", "junit.xml"):
        shutil.copy2(canary_run.out / name, run_dir / name)
    cassettes = sorted((run_dir / "cassettes" / "autodesk").glob("*.yaml"))
    cassettes[0].unlink()
    cassettes[1].write_bytes(cassettes[1].read_bytes().replace(b"message: OK", b"message: Fine"))
    _edit_summary(run_dir, "autodesk", simulator_profile="documented")  # the canary run uses deviations
    return run_dir


def test_accept_replaces_only_the_vendors_of_the_run(baseline, new_run):
    before = snapshot(baseline)
    result = run_authcanary(["baseline", "accept", str(new_run), "--baseline", str(baseline)])
    assert result.code == 0, result.output
    after = snapshot(baseline)
    assert not any(name.startswith(".") for name in after), "accept left hidden staging folders behind"
    assert {k: v for k, v in after.items() if k.startswith("bimplus")} == {
        k: v for k, v in before.items() if k.startswith("bimplus")
    }
    assert snapshot(baseline / "autodesk") == snapshot(new_run / "cassettes" / "autodesk")


def _edit_summary(run_dir: Path, vendor: str, **entry) -> None:
    """Change a vendor's summary entry; the `recordings` of every vendor become the cassettes now in the folder, as
    if the run had recorded them."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    summary["vendors"][vendor].update(entry)
    manifest = baseline_module.recordings_manifest(run_dir)
    for name, vendor_entry in summary["vendors"].items():
        vendor_entry["recordings"] = manifest.get(name, {})
    (run_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")


def test_accept_keeps_the_baseline_cassettes_of_scenarios_the_run_skipped(baseline, new_run):
    """A live run skips simulator-only scenarios and may spend its budget: accepting it must not lose them."""
    (skipped,) = {p.name for p in (baseline / "autodesk").glob("*.yaml")} - {
        p.name for p in (new_run / "cassettes" / "autodesk").glob("*.yaml")
    }
    kept = (baseline / "autodesk" / skipped).read_bytes()
    _edit_summary(new_run, "autodesk", unobserved=[f"autodesk/{Path(skipped).stem}"])
    module, _, name = Path(skipped).stem.partition(".")  # what junit.xml of a run that skipped it says
    junit = (new_run / "junit.xml").read_text(encoding="utf-8")  # (vendors the target left out are skipped too)
    case = f'<testcase classname="suites.autodesk.{module}" name="{name}"><skipped message="live target"/></testcase>'
    (new_run / "junit.xml").write_text(junit.replace("</testsuite>", case + "</testsuite>", 1), encoding="utf-8")
    result = run_authcanary(["baseline", "accept", str(new_run), "--baseline", str(baseline)])
    assert result.code == 0, result.output
    assert (baseline / "autodesk" / skipped).read_bytes() == kept
    assert "kept 1" in result.output and Path(skipped).stem in result.output


def test_accept_refuses_a_run_that_ended_with_exit_2(baseline, new_run):
    before = snapshot(baseline)
    summary = json.loads((new_run / "summary.json").read_text(encoding="utf-8"))
    (new_run / "summary.json").write_text(json.dumps({**summary, "exit_code": 2}), encoding="utf-8")
    result = run_authcanary(["baseline", "accept", str(new_run), "--baseline", str(baseline)])
    assert result.code == 2 and "exit 2" in result.output, result.output
    assert snapshot(baseline) == before


def test_accept_refuses_a_run_of_a_deviation_profile(baseline, new_run):
    before = snapshot(baseline)
    _edit_summary(new_run, "autodesk", simulator_profile="lowercase-token-type")
    result = run_authcanary(["baseline", "accept", str(new_run), "--baseline", str(baseline)])
    assert result.code == 2 and "lowercase-token-type" in result.output, result.output
    assert snapshot(baseline) == before


def _fail_copy_after(count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.copytree

    def copytree(src, dst, **options):
        copied: list[str] = []

        def copy(source, destination):
            if len(copied) == count:
                raise OSError(28, "No space left on device (injected)")
            copied.append(source)
            return shutil.copy2(source, destination)

        return real(src, dst, copy_function=copy, **options)

    monkeypatch.setattr(shutil, "copytree", copytree)


def _fail_exchange(monkeypatch: pytest.MonkeyPatch) -> None:
    def exchange(first, second):
        raise OSError(5, "Input/output error (injected)")

    monkeypatch.setattr(baseline_module, "_exchange", exchange)


def _fail_second_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    """The portable path (no atomic exchange): the staging folder cannot be moved in after the old one moved out."""
    monkeypatch.setattr(baseline_module, "_exchange", lambda first, second: False)
    real = Path.rename

    def rename(self, target):
        if self.name.startswith(".autodesk.new-"):
            raise OSError(13, "Permission denied (injected)")
        return real(self, target)

    monkeypatch.setattr(Path, "rename", rename)


FAILURES = {
    "copy fails midway": lambda mp: _fail_copy_after(3, mp),
    "exchange fails": _fail_exchange,
    "second rename fails": _fail_second_rename,
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_accept_failing_midway_leaves_the_baseline_untouched(baseline, new_run, monkeypatch, failure):
    before = snapshot(baseline)
    FAILURES[failure](monkeypatch)
    with pytest.raises(OSError, match="injected"):
        baseline_module.accept(new_run, baseline)
    assert snapshot(baseline) == before


def test_accept_restores_a_baseline_left_between_two_renames(baseline, new_run, monkeypatch):
    """An accept killed between moving the old folder out and the new one in left `.autodesk.old` alone: the next
    accept puts it back before anything else, so a failure then still leaves the old baseline."""
    before = snapshot(baseline)
    (baseline / "autodesk").rename(baseline / ".autodesk.old")
    (baseline / ".autodesk.new-stale").mkdir()
    _fail_copy_after(0, monkeypatch)
    with pytest.raises(OSError, match="injected"):
        baseline_module.accept(new_run, baseline)
    assert snapshot(baseline) == before


KILL_ACCEPT = """
import os, shutil, signal, sys
import authcanary.baseline as baseline
from authcanary.cli import main

point = sys.argv.pop(1)
die = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
if point == "during the copy":
    real_copytree, copied = shutil.copytree, []
    def copy(source, destination):
        if len(copied) == 3:
            die()
        copied.append(source)
        return shutil.copy2(source, destination)
    shutil.copytree = lambda src, dst, **options: real_copytree(src, dst, copy_function=copy, **options)
elif point == "before the exchange":
    baseline._exchange = die
elif point == "after the exchange":
    real_exchange = baseline._exchange
    baseline._exchange = lambda first, second: real_exchange(first, second) and die()
sys.argv[0] = "authcanary"
main()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the atomic exchange is Linux only (renameat2)")
@pytest.mark.parametrize("point", ["during the copy", "before the exchange", "after the exchange"])
def test_accept_killed_midway_leaves_the_old_or_the_new_baseline(baseline, new_run, tmp_path, point):
    old, new = snapshot(baseline / "autodesk"), snapshot(new_run / "cassettes" / "autodesk")
    bimplus = snapshot(baseline / "bimplus")
    killed = subprocess.run(
        [sys.executable, "-c", KILL_ACCEPT, point, "baseline", "accept", str(new_run), "--baseline", str(baseline)],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert snapshot(baseline / "autodesk") == (new if point == "after the exchange" else old)
    assert snapshot(baseline / "bimplus") == bimplus
    readers = run_authcanary(["drift", str(baseline), str(baseline), "--out", str(tmp_path / "report")])
    assert readers.code == 0 and "No drift" in readers.output, readers.output
    again = run_authcanary(["baseline", "accept", str(new_run), "--baseline", str(baseline)])
    assert again.code == 0, again.output
    assert snapshot(baseline / "autodesk") == new
    assert not [name for name in os.listdir(baseline) if name.startswith(".")], "leftovers of the killed accept"

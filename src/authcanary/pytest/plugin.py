"""The pytest plugin (entry point `authcanary`): options, markers, and the run's session object.

Options: `--target NAME` (default `sim`), `--targets FILE`, `--vendor V` (repeatable), `--sim-profile P`,
`--max-examples N`, `--authcanary-out DIR` (where `findings.json` and cassettes go), `--replay BASELINE`,
`--authcanary-fresh-cases` (authcanary.pytest.cases: contract tests generate their cases, not reuse stored ones).
Markers: one per vendor (added automatically to tests under `suites/<vendor>/`) and `scenario` (deterministic
request sequences, recorded as cassettes). The hooks live on `CanarySession` (authcanary.pytest.session), registered
here as a plugin object; the fixtures in authcanary.pytest.fixtures and authcanary.checks.fixtures.
"""

from __future__ import annotations

from typing import Any

import pytest

from authcanary.pytest.session import SESSION, CanarySession
from authcanary.registry import VENDORS

pytest_plugins = ["authcanary.pytest.fixtures", "authcanary.pytest.cases", "authcanary.checks.fixtures"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("authcanary", "authcanary: run suites against a target")
    group.addoption("--target", default="sim", help="target name in the targets file (default: sim)")
    group.addoption("--targets", default="targets.toml", help="targets file (default: ./targets.toml)")
    group.addoption("--vendor", action="append", default=[], help="only this vendor (repeatable)")
    group.addoption(
        "--sim-profile",
        default=None,
        help="embedded target only: simulator profile for every vendor (documented or a deviation)",
    )
    group.addoption("--max-examples", type=int, default=None, help="hypothesis examples per property test")
    group.addoption("--authcanary-out", default=None, help="run folder: findings.json and cassettes/ go here")
    group.addoption(
        "--replay",
        default=None,
        metavar="BASELINE",
        help="offline: answer scenario requests from BASELINE/<vendor>/*.yaml; nothing is sent",
    )


def pytest_configure(config: pytest.Config) -> None:
    hypothesis_home = getattr(config, "workerinput", {}).get("authcanary_hypothesis_home")
    if hypothesis_home:
        from hypothesis.configuration import set_hypothesis_home_dir

        set_hypothesis_home_dir(hypothesis_home)
    for name, spec in VENDORS.items():
        config.addinivalue_line("markers", f"{name}: checks of {spec.title}")
    config.addinivalue_line("markers", "scenario: a deterministic request sequence, recorded as a cassette")
    session = config.stash[SESSION] = CanarySession(config)
    session.register_hypothesis_profiles()
    config.pluginmanager.register(session, "authcanary-session")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """On pytest-xdist, one vendor's tests all run on one worker (authcanary.pytest.workers)."""
    from authcanary.pytest.workers import VendorScheduling

    return VendorScheduling(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Workers keep hypothesis' files where the controller keeps them (a run: ~/.cache/authcanary/hypothesis, never
    ./.hypothesis), and with them the contract tests' case store."""
    from hypothesis.configuration import storage_directory

    node.workerinput["authcanary_hypothesis_home"] = str(storage_directory(intent_to_write=False).home_directory)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION, None)
    if session is not None:
        config.pluginmanager.unregister(session)
        del config.stash[SESSION]

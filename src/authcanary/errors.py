"""Errors that end a command with a documented exit code (docs/interfaces.md: 2 usage/config, 3 unreachable)."""

from __future__ import annotations


class ConfigError(Exception):
    """A usage or configuration problem: the CLI prints the one-line cause and the fix, then exits 2."""

    exit_code = 2

    def __init__(self, cause: str, fix: str = "") -> None:
        self.cause = cause
        self.fix = fix
        super().__init__(f"{cause} {fix}".strip())


class TargetUnreachable(Exception):
    """The vendor endpoint could not be reached (connection refused, timeout, 5xx storm): an outage, never a
    violation."""

    def __init__(self, vendor: str, cause: str) -> None:
        self.vendor = vendor
        self.cause = cause
        super().__init__(f"{vendor}: {cause}")

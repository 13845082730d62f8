"""Vendor-agnostic building blocks of the suites' checks (the suites in `suites/<vendor>/` say what to check).

- `answers`: a documented answer: status sets as people read them, contract constants, the OpenAPI body schema;
- `clock`: the target's time as a suite sees it (wall time plus a simulator's virtual jumps);
- `hostile`: a hostile request and the statuses the documentation allows for it (what strategies draw);
- `stateful`: hypothesis state machines whose every step is checked and whose violations name their sequence;
- `fixtures`: pytest fixtures built on them (`sim_or_none`, `clock`, `login_probes`), which the plugin gives every
  suite.
"""

from authcanary.checks.answers import (
    check_constants,
    check_expires_in,
    check_headers,
    check_schema,
    describe_statuses,
    refused,
    schema_errors,
)
from authcanary.checks.clock import Clock, Timed
from authcanary.checks.fixtures import LoginProbes
from authcanary.checks.hostile import HostileRequest

__all__ = [
    "Clock",
    "HostileRequest",
    "LoginProbes",
    "Timed",
    "check_constants",
    "check_expires_in",
    "check_headers",
    "check_schema",
    "describe_statuses",
    "refused",
    "schema_errors",
]

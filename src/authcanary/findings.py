"""What a run finds about each vendor, in the shape of summary.json's vendor entries (docs/interfaces.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from authcanary.http import LostInteraction


#: every severity a violation may have (summary.json), most serious first
SEVERITIES = ("breaking", "warning", "info")
#: violations of these severities fail their check and the run (exit 1); `info` ones (e.g. a token lifetime that
#: differs from a documented *example*) are reported in summary.json and fail nothing
FAILING_SEVERITIES = frozenset({"breaking", "warning"})


def severity_rank(severity: object) -> int:
    """Where a severity sorts, worst first; anything unknown after `info`."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


@dataclass
class Violation:
    #: what the check holds the vendor to (the declared title, and what this occurrence was about)
    check: str
    endpoint: str
    expected: str
    observed: str
    severity: str = "breaking"
    repro: str = ""
    #: the tests that saw it (one violation, however many tests observe it)
    tests: list[str] = field(default_factory=list)
    #: the declared check (`contracts/<vendor>/checks.yaml`): a violation's identity is its check id and endpoint
    check_id: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"violation severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}")

    @property
    def identity(self) -> tuple[str, str]:
        """What makes two observations one finding: the check and the endpoint (history and waivers key on it)."""
        return (self.check_id or self.check, self.endpoint)

    @property
    def fails(self) -> bool:
        """Whether this violation fails its check (and so the run): `breaking` and `warning` do, `info` does not."""
        return self.severity in FAILING_SEVERITIES


@dataclass
class Deprecation:
    endpoint: str
    announced_removal: str
    observed: str
    replacement: str
    replacement_ok: bool | None


@dataclass(frozen=True)
class MigrationStep:
    """One legacy capability on its way to the replacement the vendor documented (e.g. Bimplus legacy tokens to
    Keycloak OIDC): the legacy endpoint's state against its announced removal, and whether the replacement works.

    A capability with no documented replacement (`gap`) is reported, never a failure; no step fails the run by
    itself (a replacement that breaks its contract is a violation of its own check)."""

    #: what a client does with the legacy API, e.g. `authorize`, `token info`, `remember-me`, `logout`
    capability: str
    legacy_endpoint: str
    #: as announced: a date, a month (`2025-06`) or a year (`2026`); "" if none was announced
    announced_removal: str
    #: e.g. `served (200)`, `served (200) with Deprecation and Sunset header(s)`, `removed (410)`
    legacy_observed: str
    #: e.g. `POST {issuer}/protocol/openid-connect/token (password grant)`; "" if none is documented
    replacement: str
    #: whether the replacement was observed working; None: not checked
    replacement_ok: bool | None
    #: no documented replacement (e.g. the Bimplus cross token): a migration gap, reported, not a failure
    gap: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        if not self.capability:
            raise ValueError("a migration step names its capability")
        if not (self.replacement_ok is None or isinstance(self.replacement_ok, bool)):
            raise TypeError(f"replacement_ok must be True, False or None, got {self.replacement_ok!r}")
        if not isinstance(self.gap, bool):
            raise TypeError(f"gap must be True or False, got {self.gap!r}")

    @property
    def ready(self) -> bool:
        """Whether a client can move this capability today: a documented replacement, observed working."""
        return not self.gap and self.replacement_ok is True


@dataclass
class Ambiguity:
    where: str
    text: str


@dataclass
class VendorFindings:
    """Everything one vendor contributes to summary.json, except drift (added by the drift engine)."""

    checks: dict[str, int] = field(default_factory=lambda: {"passed": 0, "failed": 0, "skipped": 0})
    requests: int = 0
    #: requests sent again after a transient failure (429, 503, 5xx), counted in `requests`
    retries: int = 0
    #: interactions lost to outages, grouped (`outage_counts`): never violations, never drift
    outages: list[dict[str, Any]] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    deprecations: list[Deprecation] = field(default_factory=list)
    #: migration readiness, one step per legacy capability (`add_migration_step`)
    migration: list[MigrationStep] = field(default_factory=list)
    ambiguities: list[Ambiguity] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unreachable: str | None = None
    #: recorded scenarios (cassette ids `<vendor>/<module>.<test>`) that were skipped, wholly or in part: their
    #: missing steps were not observed, which is not drift
    unobserved: list[str] = field(default_factory=list)
    #: recorded scenarios that lost interactions to outages (also `unobserved`): none of their drift is breaking
    outage_scenarios: list[str] = field(default_factory=list)
    #: the simulator's profile (`documented` or deviations), embedded or served; None on a real vendor
    simulator_profile: str | None = None
    #: the tests (node ids) that failed or were skipped: what they check was not (wholly) checked this run
    not_passed: list[str] = field(default_factory=list)

    def add_violation(self, violation: Violation, test: str = "") -> None:
        """Record a violation seen by `test` (a node id); the same one (check id and endpoint) seen again only gains
        the test's name."""
        key = violation.identity
        index = next((i for i, v in enumerate(self.violations) if v.identity == key), None)
        if index is None:
            self.violations.append(replace(violation, tests=[]))
            index = len(self.violations) - 1
        elif SEVERITIES.index(violation.severity) < SEVERITIES.index(self.violations[index].severity):
            # the same finding seen more severely (a lifetime the contract rates per value): the worse one stands
            self.violations[index] = replace(violation, tests=self.violations[index].tests)
        known = self.violations[index]
        if test and test not in known.tests:
            known.tests.append(test)

    def add_deprecation(self, deprecation: Deprecation) -> None:
        self.deprecations = [d for d in self.deprecations if d.endpoint != deprecation.endpoint]
        self.deprecations.append(deprecation)

    def add_migration_step(self, step: MigrationStep) -> None:
        """Record a capability's migration step; a later one for the same capability replaces the earlier one (in
        its place)."""
        for index, known in enumerate(self.migration):
            if known.capability == step.capability:
                self.migration[index] = step
                return
        self.migration.append(step)

    def add_note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def as_dict(self) -> dict[str, Any]:
        return {
            "checks": dict(self.checks),
            "requests": self.requests,
            "retries": self.retries,
            "outages": list(self.outages),
            "violations": [asdict(v) for v in self.violations],
            "deprecations": [asdict(d) for d in self.deprecations],
            "migration": [asdict(step) for step in self.migration],
            "ambiguities": [asdict(a) for a in self.ambiguities],
            "notes": list(self.notes),
            "unreachable": self.unreachable,
            "unobserved": sorted(set(self.unobserved)),
            "outage_scenarios": sorted(set(self.outage_scenarios)),
            "simulator_profile": self.simulator_profile,
            "not_passed": sorted(set(self.not_passed)),
        }


def outage_counts(lost: Iterable[LostInteraction]) -> list[dict[str, Any]]:
    """Lost interactions grouped as summary.json lists them: `{"endpoint", "status", "count"}`, most first."""
    counts = Counter((interaction.endpoint, interaction.status) for interaction in lost)
    return [
        {"endpoint": endpoint, "status": status, "count": count} for (endpoint, status), count in counts.most_common()
    ]


#: the kinds of finding a run reports per vendor (summary.json lists), in the order reports show them
FINDING_KINDS = ("violation", "drift", "deprecation", "outage")
_LISTS = {"violation": "violations", "drift": "drift", "deprecation": "deprecations", "outage": "outages"}


def finding_id(kind: str, entry: dict[str, Any]) -> str:
    """A finding's identity across runs (summary.json `id`; history and waivers key on it): a violation is its check
    and endpoint, a drift item its step key, kind and path, a deprecation its endpoint, an outage its endpoint and
    status. Nothing volatile (no values, no times) is part of it."""
    if kind == "violation":
        parts = [entry.get("check_id") or entry.get("check", ""), entry.get("endpoint", "")]
    elif kind == "drift":
        parts = ["drift", entry.get("key", ""), entry.get("kind", ""), entry.get("path", "")]
    elif kind == "deprecation":
        parts = ["deprecation", entry.get("endpoint", "")]
    elif kind == "outage":
        parts = ["outage", entry.get("endpoint", ""), str(entry.get("status", ""))]
    else:
        raise ValueError(f"unknown finding kind {kind!r}; one of {', '.join(FINDING_KINDS)}")
    return " ".join(str(part) for part in parts if part != "")


def each_finding(vendor_entry: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind, entry) of every finding in a summary.json vendor entry, in FINDING_KINDS order."""
    for kind in FINDING_KINDS:
        for entry in vendor_entry.get(_LISTS[kind]) or []:
            if isinstance(entry, dict):
                yield kind, entry

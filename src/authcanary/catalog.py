"""The named checks of a vendor (`contracts/<vendor>/checks.yaml`): what each check holds the vendor to, where the
documentation says so, how serious a breach is, and which simulator deviation profiles prove that it fires. For
example:

    checks:
      acme.token.token_type_bearer:
        title: token_type is exactly "Bearer"
        source: "Acme API reference, Response"             # or an RFC section, e.g. "RFC 6749 §5.1"
        severity: breaking                                   # breaking | warning | info
        profiles: [lowercase-token-type]                     # deviations that make it fire
    other_profiles:                                          # deviations proven by another kind of finding
      v1-removed: {deprecation: "removed (410)"}             # a deprecation whose `observed` starts so
      server-error: {outage: true}                           # the vendor is unreachable, never a violation

Suites call checks by id (for example `expect.that(ok, "acme.token.token_type_bearer", ...)`); a violation carries
the id, the title and the declared severity. The ids are stable: history and waivers key on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from authcanary.contracts import load_yaml
from authcanary.errors import ConfigError
from authcanary.findings import SEVERITIES

#: `<vendor>.<area>.<name>`, lower case
CHECK_ID = re.compile(r"^[a-z0-9-]+\.[a-z0-9_]+\.[a-z0-9_]+$")
#: a check's declaration line in checks.yaml: `  <id>:`
_DECLARATION = re.compile(r"^\s+([a-z0-9-]+\.[a-z0-9_]+\.[a-z0-9_]+):")
#: the check of a failure no declared check recorded (an unexpected exception in a suite)
UNEXPECTED = "suite.unexpected_failure"


class UndeclaredCheck(LookupError):
    """A suite named a check its vendor's checks.yaml does not declare."""


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    source: str
    severity: str
    profiles: tuple[str, ...] = ()
    #: the line of its declaration in contracts/<vendor>/checks.yaml (reports link to it); 0: not declared there
    line: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "source": self.source,
            "severity": self.severity,
            "profiles": list(self.profiles),
        }


@dataclass(frozen=True)
class Catalog:
    """One vendor's declared checks."""

    vendor: str
    checks: dict[str, CheckSpec]
    #: deviation -> how it is proven without a violation: {"deprecation": "<observed prefix>"} or {"outage": True}
    other_profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the project's short name of a source (`seed 003`, `VENDORS.md §4`) -> the vendor's own document title
    public_sources: dict[str, str] = field(default_factory=dict)

    def public_source(self, source: str) -> str:
        """`source` as the vendor knows its documents (for a report sent to the vendor)."""
        for short in sorted(self.public_sources, key=len, reverse=True):
            source = source.replace(short, self.public_sources[short])
        return source

    def check(self, check_id: str) -> CheckSpec:
        """The declaration of `check_id`; the engine's own `<vendor>.suite.unexpected_failure` is always declared."""
        if check_id == f"{self.vendor}.{UNEXPECTED}":
            return CheckSpec(
                check_id,
                "the check ran to its end (an unexpected error in the suite)",
                "authcanary: every check either passes or records a violation",
                "breaking",
            )
        try:
            return self.checks[check_id]
        except KeyError:
            raise UndeclaredCheck(
                f"check {check_id!r} is not declared in contracts/{self.vendor}/checks.yaml "
                "(declare it there: title, source, severity, profiles)"
            ) from None

    def proving(self, profile: str) -> list[CheckSpec]:
        """The checks that deviation `profile` must make fire."""
        return [spec for spec in self.checks.values() if profile in spec.profiles]


def load_catalog(contracts_dir: Path, vendor: str) -> Catalog:
    """Load and validate `contracts/<vendor>/checks.yaml`; a broken file is a ConfigError naming the entry."""
    return _load(contracts_dir.resolve(), vendor)


@cache
def _load(contracts_dir: Path, vendor: str) -> Catalog:
    path = contracts_dir / vendor / "checks.yaml"
    try:
        text = path.read_text(encoding="utf-8")
        document = load_yaml(text)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: the vendor's check declarations are missing.", f"Restore contracts/{vendor}/checks.yaml from git."
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}).", "Fix the file.") from None
    if not isinstance(document, dict) or not isinstance(document.get("checks"), dict):
        raise ConfigError(f"{path}: expected a mapping with a `checks` mapping.", "See docs/adding-a-vendor.md.")
    checks = {check_id: _spec(path, vendor, check_id, entry) for check_id, entry in document["checks"].items()}
    lines = {m.group(1): n for n, line in enumerate(text.splitlines(), 1) if (m := _DECLARATION.match(line))}
    checks = {check_id: replace(spec, line=lines.get(check_id, 0)) for check_id, spec in checks.items()}
    other = document.get("other_profiles") or {}
    if not isinstance(other, dict) or not all(
        isinstance(v, dict) and ({"deprecation", "outage"} & set(v)) for v in other.values()
    ):
        raise ConfigError(
            f"{path}: other_profiles must map a profile to {{deprecation: ...}} or {{outage: true}}.", "Fix the file."
        )
    public = document.get("public_sources") or {}
    if not isinstance(public, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in public.items()):
        raise ConfigError(f"{path}: public_sources must map a short source name to a title.", "Fix the file.")
    return Catalog(vendor=vendor, checks=checks, other_profiles=dict(other), public_sources=dict(public))


def _spec(path: Path, vendor: str, check_id: Any, entry: Any) -> CheckSpec:
    where = f"{path}: check {check_id!r}"
    if not isinstance(check_id, str) or not CHECK_ID.match(check_id) or not check_id.startswith(f"{vendor}."):
        raise ConfigError(f"{where}: an id is `{vendor}.<area>.<name>` in lower case.", "Rename it.")
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping (title, source, severity, profiles).", "Fix the entry.")
    missing = [key for key in ("title", "source", "severity") if not entry.get(key)]
    if missing:
        raise ConfigError(
            f"{where}: {', '.join(missing)} missing.",
            "Every check says what it holds the vendor to and where the documentation (or an RFC) says so.",
        )
    if entry["severity"] not in SEVERITIES:
        raise ConfigError(f"{where}: severity {entry['severity']!r}.", f"Use one of: {', '.join(SEVERITIES)}.")
    profiles = entry.get("profiles") or []
    if not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles):
        raise ConfigError(f"{where}: profiles must be a list of deviation names.", "Fix the entry.")
    return CheckSpec(check_id, str(entry["title"]), str(entry["source"]), entry["severity"], tuple(profiles))

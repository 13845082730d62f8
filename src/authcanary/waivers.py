"""Waivers (`waivers.toml`, docs/interfaces.md "Waivers"): a known finding, with a reason, a ticket and an expiry date,
that is still reported but does not fail the run.

```toml
[[waiver]]
vendor = "kudo"
check = "kudo.generate.fresh_token"   # a check id, or: drift = "<drift key or pattern>", e.g. "kudo/*#POST /generate*"
endpoint = "POST /generate"            # optional: only on this endpoint (check waivers); path = "$.x" for drift
target = "staging"                     # optional: only on this target
reason = "Graebert confirmed the bug, fix planned for 2027.1"
ticket = "https://support.example.com/T-1234"
expires = 2026-12-31                   # the last day it waives; after it the finding fails again, saying so
```
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authcanary.errors import ConfigError
from authcanary.registry import VENDORS

__all__ = ["Waiver", "WaiverOutcome", "load_waivers", "apply_waivers"]

_KEYS = {"vendor", "check", "drift", "endpoint", "path", "target", "reason", "ticket", "expires"}
_EXAMPLE = (
    '[[waiver]] vendor = "kudo", check = "kudo.generate.fresh_token", reason = "...", '
    'ticket = "https://...", expires = 2026-12-31'
)


@dataclass(frozen=True)
class Waiver:
    vendor: str
    reason: str
    ticket: str
    expires: dt.date
    check: str = ""
    drift: str = ""
    endpoint: str = ""
    path: str = ""
    target: str = ""

    def matches(self, target: str, vendor: str, kind: str, entry: dict[str, Any]) -> bool:
        """Whether this waiver is about that finding (`kind`, summary.json `entry`) of `vendor` on `target`."""
        if vendor != self.vendor or (self.target and target != self.target):
            return False
        if self.check:
            return (
                kind == "violation"
                and entry.get("check_id") == self.check
                and (not self.endpoint or entry.get("endpoint") == self.endpoint)
            )
        # drift comes one item per recorded step: a pattern (`*#POST /generate*`) waives one change everywhere
        return (
            kind == "drift"
            and fnmatchcase(str(entry.get("key", "")), self.drift)
            and (not self.path or fnmatchcase(str(entry.get("path", "")), self.path))
        )

    def expired_on(self, day: dt.date) -> bool:
        """`expires` is the last day the waiver holds."""
        return day > self.expires

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "expires": self.expires.isoformat()}

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> Waiver:
        """The waiver `as_dict` wrote (summary.json `waivers`)."""
        return cls(**{**entry, "expires": dt.date.fromisoformat(entry["expires"])})


@dataclass
class WaiverOutcome:
    """What the waivers did in one run: summary.json's top-level `waivers`."""

    path: str
    #: waivers that matched no finding of this run (the finding was fixed, or the waiver is wrong): remove them
    stale: list[Waiver]
    #: waivers past `expires` that matched a finding: that finding fails the run again
    expired: list[Waiver]

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "stale": [w.as_dict() for w in self.stale],
            "expired": [w.as_dict() for w in self.expired],
        }


def load_waivers(path: Path, check_ids: dict[str, set[str]] | None = None) -> list[Waiver]:
    """The waivers in `path`, validated; a bad file is a ConfigError (exit 2) naming the entry and the fix.

    `check_ids`: per vendor, the declared check ids; a waiver of an undeclared check (a typo) would never match."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the waivers file ({exc.strerror}).", "Check --waivers.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}).", f"Each waiver is a table: {_EXAMPLE}.") from None
    if unknown := sorted(set(document) - {"waiver"}):
        raise ConfigError(
            f"{path}: unknown top-level key(s) {', '.join(unknown)}.", f"Write [[waiver]] tables only: {_EXAMPLE}."
        )
    entries = document.get("waiver", [])
    if not isinstance(entries, list):
        raise ConfigError(
            f"{path}: `waiver` must be an array of tables.", f"Write [[waiver]], not [waiver]: {_EXAMPLE}."
        )
    return [_waiver(path, n, entry, check_ids) for n, entry in enumerate(entries, start=1)]


def _waiver(path: Path, n: int, entry: Any, check_ids: dict[str, set[str]] | None) -> Waiver:
    where = f"{path}: waiver #{n}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: not a table.", f"Write it as [[waiver]] with keys: {_EXAMPLE}.")
    if unknown := sorted(set(entry) - _KEYS):
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}.", f"Known keys: {', '.join(sorted(_KEYS))}.")
    if bad := [key for key, value in entry.items() if key != "expires" and not isinstance(value, str)]:
        raise ConfigError(f"{where}: {bad[0]} must be a string.", f'Quote it: {bad[0]} = "...".')
    missing = [key for key in ("vendor", "reason", "ticket", "expires") if not entry.get(key)]
    if missing:
        raise ConfigError(
            f"{where}: missing {', '.join(missing)}.",
            "Every waiver says whose finding it is, why, where it is tracked and until when: " + _EXAMPLE + ".",
        )
    vendor = entry["vendor"]
    if vendor not in VENDORS:
        raise ConfigError(f"{where}: unknown vendor {vendor!r}.", f"Use one of: {', '.join(sorted(VENDORS))}.")
    if bool(entry.get("check")) == bool(entry.get("drift")):
        raise ConfigError(
            f"{where}: give exactly one of `check` (a check id) or `drift` (a drift key).",
            "Copy the check id or the drift key of the finding from summary.json or the report.",
        )
    if entry.get("path") and not entry.get("drift"):
        raise ConfigError(f"{where}: `path` narrows a drift waiver only.", "Use `endpoint` with `check`.")
    if entry.get("endpoint") and not entry.get("check"):
        raise ConfigError(f"{where}: `endpoint` narrows a check waiver only.", "Use `path` with `drift`.")
    check = entry.get("check", "")
    known = (check_ids or {}).get(vendor)
    if check and known is not None and check not in known:
        raise ConfigError(
            f"{where}: {vendor} has no check {check!r}, so the waiver could never match.",
            f"Use a declared check id (`authcanary checks --vendor {vendor}`).",
        )
    ticket = entry["ticket"]
    if urlsplit(ticket).scheme not in ("http", "https") or not urlsplit(ticket).netloc:
        raise ConfigError(f"{where}: ticket {ticket!r} is not an http(s) URL.", "Link the issue that tracks it.")
    expires = entry["expires"]
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            expires = None
    if isinstance(expires, dt.datetime) or not isinstance(expires, dt.date):
        raise ConfigError(f"{where}: expires must be a date.", "Write it as expires = 2026-12-31 (YYYY-MM-DD).")
    return Waiver(
        vendor=vendor,
        reason=entry["reason"],
        ticket=ticket,
        expires=expires,
        check=check,
        drift=entry.get("drift", ""),
        endpoint=entry.get("endpoint", ""),
        path=entry.get("path", ""),
        target=entry.get("target", ""),
    )


def apply_waivers(
    waivers: list[Waiver],
    target: str,
    day: dt.date,
    vendors: dict[str, dict[str, Any]],
    path: str,
    ran: set[str],
) -> WaiverOutcome:
    """Mark each finding (violations and drift of summary.json vendor entries, before their status is decided) that a
    waiver covers with `waiver` {reason, ticket, expires, expired}. `ran`: the vendors this run checked; a waiver of
    a vendor that did not run is neither used nor stale."""
    used: set[Waiver] = set()
    expired: list[Waiver] = []
    for vendor, entry in vendors.items():
        for kind, key in (("violation", "violations"), ("drift", "drift")):
            for finding in entry.get(key) or []:
                waiver = next((w for w in waivers if w.matches(target, vendor, kind, finding)), None)
                if waiver is None:
                    continue
                used.add(waiver)
                is_expired = waiver.expired_on(day)
                if is_expired and waiver not in expired:
                    expired.append(waiver)
                finding["waiver"] = {
                    "reason": waiver.reason,
                    "ticket": waiver.ticket,
                    "expires": waiver.expires.isoformat(),
                    "expired": is_expired,
                }
    stale = [w for w in waivers if w not in used and w.vendor in ran and (not w.target or w.target == target)]
    return WaiverOutcome(path=path, stale=stale, expired=expired)


def waived(finding: dict[str, Any]) -> bool:
    """Whether a (non-expired) waiver covers this summary.json finding."""
    waiver = finding.get("waiver")
    return isinstance(waiver, dict) and not waiver.get("expired")

"""The migration legacy -> OIDC: what a legacy answer says about its endpoint's removal (status, RFC 9745
`Deprecation` and RFC 8594 `Sunset` headers), and whether each legacy capability's OIDC replacement works.

The capabilities and their replacements are data: contracts/bimplus/oidc/semantics.yaml `migration`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime

import httpx

from suites.bimplus.oidc import OidcApi, read_tokens

REMOVED = (404, 410)


def _header_date(name: str, value: str) -> str:
    """A Deprecation (`@<unix seconds>`, RFC 9745 §2.1) or Sunset (an HTTP date, RFC 8594 §3) value as a day."""
    try:
        if name == "Deprecation" and re.fullmatch(r"@-?\d+", value.strip()):
            return datetime.fromtimestamp(int(value.strip()[1:]), UTC).date().isoformat()
        return parsedate_to_datetime(value).date().isoformat()
    except (ValueError, TypeError, OverflowError):
        return f"unreadable {value!r}"


def observed(response: httpx.Response) -> str:
    """What a legacy answer says of its endpoint: `removed (410)`, `served (200)`, or `served (200) with Deprecation
    and Sunset header(s): Deprecation 2020-01-01, Sunset 2026-01-01`."""
    if response.status_code in REMOVED:
        return f"removed ({response.status_code})"
    names = [name for name in ("Deprecation", "Sunset") if name in response.headers]
    if not names:
        return f"served ({response.status_code})"
    dates = ", ".join(f"{name} {_header_date(name, response.headers[name])}" for name in names)
    return f"served ({response.status_code}) with {' and '.join(names)} header(s): {dates}"


def removal_is_early(announced: str, day: date) -> bool | None:
    """Whether a removal seen on `day` comes before its announced removal (`2026`, `2025-06` or a date: the removal is
    due from the first day it names). None when nothing was announced with a date."""
    match = re.match(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$", announced.strip())
    if not match:
        return None
    year, month, dom = int(match[1]), int(match[2] or 1), int(match[3] or 1)
    return day < date(year, month, dom)


@dataclass
class Replacements:
    """Whether each OIDC replacement was observed working for one user (None: not observed)."""

    password_grant: bool | None = None
    introspection_or_userinfo: bool | None = None
    refresh: bool | None = None
    logout: bool | None = None

    def for_capability(self, capability: str) -> bool | None:
        return {
            "authorize (password login)": self.password_grant,
            "token info": self.introspection_or_userinfo,
            "remember-me login": self.refresh,
            "logout": self.logout,
        }.get(capability)


def try_replacements(oidc: OidcApi, user: str, password: object) -> Replacements:
    """Walk the OIDC replacements of the legacy capabilities once, as a migrating client would: log in with the
    password grant and use the token on the BIM+ API, read the token (introspection, else userinfo), refresh, log
    out. Only whether each step worked is kept; the OIDC suites judge the answers in detail."""
    found = Replacements()
    tokens = read_tokens(oidc.password_login(user, password))  # type: ignore[arg-type]
    if tokens is None or tokens.access_token is None:
        found.password_grant = False
        return found
    found.password_grant = oidc.teams(tokens.access_token).status_code == 200
    if oidc.confidential:
        introspection = oidc.introspect(tokens.access_token)
        found.introspection_or_userinfo = introspection.status_code == 200 and _active(introspection)
    else:
        found.introspection_or_userinfo = oidc.userinfo(tokens.access_token).status_code == 200
    if tokens.refresh_token is None:
        found.refresh = found.logout = False
        return found
    refreshed = read_tokens(oidc.refresh(tokens.refresh_token))
    found.refresh = refreshed is not None and refreshed.access_token is not None
    session = refreshed.refresh_token if refreshed is not None and refreshed.refresh_token else tokens.refresh_token
    found.logout = oidc.logout(session).status_code in (200, 204) and oidc.refresh(session).status_code == 400
    return found


def _active(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("active") is True

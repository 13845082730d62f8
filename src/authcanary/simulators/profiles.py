"""Profiles across vendors: a profile names deviations of several vendors at once (`lowercase-token-type,
reusable-cross-token`); each vendor's simulator takes the ones it defines."""

from __future__ import annotations

from authcanary.errors import ConfigError
from authcanary.registry import VENDORS
from authcanary.simulators.framework import DOCUMENTED


def split_profile(profile: str, names: list[str]) -> dict[str, str]:
    """Vendor -> its part of `profile` (deviations joined by commas): each deviation goes to the vendors that
    define it, the others are served `documented`. A deviation no vendor defines is a ConfigError."""
    deviations = {name: VENDORS[name].simulator_class().deviations for name in names}
    wanted = [d for d in (part.strip() for part in profile.split(",")) if d and d != DOCUMENTED]
    if unknown := [d for d in wanted if not any(d in defined for defined in deviations.values())]:
        if len(names) == 1:
            known = ", ".join([DOCUMENTED, *sorted(deviations[names[0]])])
            cause = f"unknown {names[0]} profile {', '.join(unknown)}; known: {known}."
        else:
            cause = f"unknown profile {', '.join(unknown)}: no vendor of {', '.join(names)} has it."
        raise ConfigError(
            cause,
            f"Use documented or deviations of {' or '.join(names)} (several joined with `,`); "
            "`authcanary profiles` lists them.",
        )
    return {name: ",".join(d for d in wanted if d in defined) or DOCUMENTED for name, defined in deviations.items()}

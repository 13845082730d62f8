"""Load and validate targets.toml (docs/interfaces.md "Targets file"): `${VAR}` interpolation, clear errors, exit 2."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from authcanary.credentials import MaskedRepr, Secret
from authcanary.errors import ConfigError
from authcanary.registry import EMBEDDED_KEYS, VENDORS, Key, vendor_spec

if TYPE_CHECKING:
    from authcanary.simulators.framework import Simulator

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$")
# what was meant as a variable but is not one: `${` without a valid name and `}`, or a whole value like `$NAME`
_MALFORMED_VAR = re.compile(r"\$\{|^\$[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, repr=False)
class VendorTarget(MaskedRepr):
    """One vendor of one target, fully resolved (no `${VAR}` left). The values of secret keys are `Secret`s."""

    vendor: str
    embedded: bool
    settings: dict[str, Any]
    secret_env: dict[str, str] = field(default_factory=dict)  # secret value -> env var it came from

    def __repr__(self) -> str:  # never the secret values (secret_env has them as keys)
        return f"VendorTarget(vendor={self.vendor!r}, embedded={self.embedded!r}, settings={self.settings!r})"

    @property
    def secret_values(self) -> tuple[str, ...]:
        """The values of the configured secrets, for the scrubber and the scanner."""
        return tuple(value.reveal() for value in self.settings.values() if isinstance(value, Secret) and value)

    @property
    def base_url(self) -> str | None:
        return self.settings.get("base_url")

    @property
    def simulated(self) -> bool:
        """True when the far end is an authcanary simulator (time travel and fault injection allowed)."""
        return self.embedded or bool(self.settings.get("simulator"))

    @property
    def profile(self) -> str:
        return self.settings.get("profile", "documented")


@dataclass(frozen=True)
class Target(MaskedRepr):
    name: str
    embedded: bool
    vendors: dict[str, VendorTarget]
    source: Path

    def secret_values(self) -> set[str]:
        return {value for vendor in self.vendors.values() for value in vendor.secret_values}

    def public_values(self) -> set[str]:
        """The configured values the registry does not mark secret (client and application ids, users, URLs): a
        vendor may quote them back, and they are public however random they look."""
        return {
            value
            for name, vendor in self.vendors.items()
            for key, value in vendor.settings.items()
            if isinstance(value, str) and value and key not in vendor_spec(name).secret_keys
        }


def load_targets_file(path: Path) -> dict[str, Any]:
    """Parse the TOML file; a missing or malformed file is a ConfigError naming it."""
    if not path.is_file():
        raise ConfigError(
            f"{path}: targets file not found.", "Run from your authcanary checkout or pass --targets FILE."
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: not valid TOML ({exc}).",
            "Fix the syntax; see the examples in targets.toml and docs/interfaces.md.",
        ) from exc
    targets = data.get("targets")
    unknown_top = sorted(set(data) - {"targets"})
    if unknown_top:
        raise ConfigError(
            f"{path}: unknown top-level key '{unknown_top[0]}'.", "Put every target under [targets.NAME]."
        )
    if not isinstance(targets, dict) or not targets:
        raise ConfigError(f"{path}: no [targets.NAME] section.", "Add at least `[targets.sim]` with `embedded = true`.")
    return targets


def load_target(path: Path, name: str, environ: dict[str, str] | None = None) -> Target:
    """Resolve target `name` from the targets file: validate keys, interpolate `${VAR}` from `environ`."""
    environ = dict(os.environ) if environ is None else environ
    targets = load_targets_file(path)
    if name not in targets:
        known = ", ".join(sorted(targets))
        raise ConfigError(f"{path}: unknown target '{name}' (known: {known}).", "Pass --target with one of them.")
    raw = targets[name]
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: [targets.{name}] must be a table.", "See the examples in targets.toml and docs/interfaces.md."
        )
    embedded = raw.get("embedded", False)
    if not isinstance(embedded, bool):
        raise ConfigError(f"{path}: targets.{name}.embedded must be true or false.", "Write `embedded = true`.")
    target_keys = {"embedded", "profile"} if embedded else set()
    sections = {key: value for key, value in raw.items() if key not in target_keys}
    for key, value in sections.items():
        if key not in VENDORS or not isinstance(value, dict):
            allowed = ", ".join(sorted(target_keys | set(VENDORS)))
            raise ConfigError(
                f"{path}: unknown key 'targets.{name}.{key}'.", f"Allowed here: {allowed} (vendor sections are tables)."
            )
    if embedded and not sections:
        sections = {vendor: {} for vendor in VENDORS}
    vendors = {}
    for vendor, section in sections.items():
        if embedded and "profile" in raw and "profile" not in section:
            # a target-level profile applies to every vendor that does not set its own; name it where it was written
            section = {**section, "profile": raw["profile"]}
            vendors[vendor] = _vendor_target(
                path, name, vendor, section, embedded, environ, profile_key=f"targets.{name}.profile"
            )
        else:
            vendors[vendor] = _vendor_target(path, name, vendor, section, embedded, environ)
    return Target(name=name, embedded=embedded, vendors=vendors, source=path)


def _vendor_target(
    path: Path,
    target: str,
    vendor: str,
    section: dict[str, Any],
    embedded: bool,
    environ: dict[str, str],
    profile_key: str | None = None,
) -> VendorTarget:
    spec = vendor_spec(vendor)
    allowed: dict[str, Key] = {**EMBEDDED_KEYS, **spec.keys} if embedded else spec.all_keys
    where = f"targets.{target}.{vendor}"
    for key in section:
        if key not in allowed:
            raise ConfigError(
                f"{path}: unknown key '{where}.{key}'.", f"Allowed keys for {vendor}: {', '.join(sorted(allowed))}."
            )
    settings: dict[str, Any] = {}
    secret_env: dict[str, str] = {}
    if embedded:
        # Credentials the embedded simulator registers unless the section overrides them.
        settings.update(spec.simulator_class().default_settings())
    for key, meta in allowed.items():
        if key in section:
            value = section[key]
            if isinstance(value, str):
                value, env_name = _interpolate(value, environ, path, f"{where}.{key}", secret=meta.secret)
                if meta.secret and env_name:
                    secret_env[value] = env_name
                if meta.required and meta.secret and not value:  # (an empty URL gets the URL message below)
                    raise ConfigError(f"{path}: {where}.{key} is empty.", f"Give it a value ({meta.help}).")
                value = _coerce(value, meta, path, f"{where}.{key}")
            else:
                value = _check_type(value, meta, path, f"{where}.{key}")
            settings[key] = value
        elif key not in settings:
            if meta.required and not embedded:
                raise ConfigError(f"{path}: {where}.{key} is missing.", f"Add `{key} = ...` ({meta.help}).")
            if meta.default is not None:
                settings[key] = meta.default
    if embedded:
        _check_simulator_settings(spec.simulator_class(), settings, path, where, profile_key or f"{where}.profile")
    else:
        _check_url(settings["base_url"], path, f"{where}.base_url", spec.example_base_url)
        settings["base_url"] = settings["base_url"].rstrip("/")
    for key, meta in allowed.items():
        if meta.url and settings.get(key):
            _check_url_or_path(settings[key], path, f"{where}.{key}")
            settings[key] = settings[key].rstrip("/")
    for key, needed in spec.requires.items():
        if settings.get(key) and (missing := [name for name in needed if not settings.get(name)]):
            raise ConfigError(
                f"{path}: {where}.{key} is set but {', '.join(missing)} is not.",
                f"Add {' and '.join(f'`{name} = ...` ({allowed[name].help})' for name in missing)}, or remove {key}.",
            )
    for key in spec.secret_keys & set(settings):
        settings[key] = Secret(str(settings[key]))
    return VendorTarget(vendor=vendor, embedded=embedded, settings=settings, secret_env=secret_env)


def _interpolate(
    value: str, environ: dict[str, str], path: Path, where: str, *, secret: bool = False
) -> tuple[str, str | None]:
    """Replace `${VAR}` by the environment value (`$$` is a literal `$`); returns the last variable used."""
    used: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        if name not in environ:
            raise ConfigError(
                f"{path}: {where} needs environment variable {name}, which is not set.",
                f"Export it (export {name}=...) or write the value literally.",
            )
        if not environ[name]:
            # CI systems pass a secret they do not have as an empty string: the run must not blame the vendor
            raise ConfigError(
                f"{path}: {where} needs environment variable {name}, which is set but empty.",
                f"Give {name} a value (in CI: check the secret is defined for this job).",
            )
        used.append(name)
        return environ[name]

    if malformed := _MALFORMED_VAR.search(_VAR.sub("", value)):
        near = "" if secret else f" near {malformed.group(0)!r}"  # a secret is never printed, even a wrong one
        raise ConfigError(
            f"{path}: {where} has a malformed variable reference{near}.",
            "Write ${NAME} (letters, digits, _), or $$ for a literal $.",
        )
    return _VAR.sub(replace, value), (used[-1] if used else None)


def _check_type(value: Any, meta: Key, path: Path, where: str) -> Any:
    """A literal TOML value of the key's type; a TOML integer is a valid float (`timeout = 5`), a bool is neither."""
    if isinstance(value, bool) and meta.kind is not bool:
        pass  # True is an int to Python, never to a targets file
    elif meta.kind in (int, float) and isinstance(value, (int, float)) and value < meta.minimum:
        raise ConfigError(
            f"{path}: {where} must be at least {meta.minimum:g}, got {value!r}.", f"Fix the value ({meta.help})."
        )
    elif (
        meta.kind in (int, float)
        and isinstance(value, (int, float))
        and meta.maximum is not None
        and value > meta.maximum
    ):
        raise ConfigError(
            f"{path}: {where} must be at most {meta.maximum:g}, got {value!r}.", f"Fix the value ({meta.help})."
        )
    elif meta.kind is float and isinstance(value, int):
        return float(value)
    elif isinstance(value, meta.kind):
        return value
    shown = _article(type(value).__name__) if meta.secret else repr(value)  # never print a secret, even a wrong one
    raise ConfigError(
        f"{path}: {where} must be {_article(_kind_name(meta))}, got {shown}.", f"Fix the value ({meta.help})."
    )


def _article(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _kind_name(meta: Key) -> str:
    return "table" if meta.kind is dict else meta.kind.__name__


def _check_simulator_settings(
    simulator: type[Simulator], settings: dict[str, Any], path: Path, where: str, profile_key: str
) -> None:
    """An embedded vendor's `profile` and `options` must be ones its simulator knows (else every test would fail
    later, one by one): the same check as `authcanary run --profile`."""
    try:
        simulator.parse_profile(settings["profile"])
    except ValueError as exc:
        raise ConfigError(
            f"{path}: {profile_key}: {exc}.",
            f"Use `documented` or deviations of {simulator.vendor} (several joined with `,`); "
            f"`authcanary profiles --vendor {simulator.vendor}` lists them."
            + (
                f" A target-level profile applies to every vendor: set `profile` in [{where}] instead."
                if profile_key != f"{where}.profile"
                else ""
            ),
        ) from None
    unknown = sorted(set(settings.get("options") or {}) - set(simulator.option_defaults))
    if unknown:
        known = ", ".join(sorted(simulator.option_defaults)) or "none"
        raise ConfigError(
            f"{path}: unknown key '{where}.options.{unknown[0]}' (simulator option).",
            f"Known {simulator.vendor} simulator options: {known}.",
        )


def _coerce(value: str, meta: Key, path: Path, where: str) -> Any:
    if meta.kind is str:
        return value
    try:
        if meta.kind not in (bool, int, float):
            raise ValueError(value)  # a table is written as a table, never as a string
        if meta.kind is bool:
            if value.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(value)
            return value.lower() in {"true", "1", "yes"}
        return _check_type(meta.kind(value), meta, path, where)
    except ValueError:
        raise ConfigError(
            f"{path}: {where} must be {_article(_kind_name(meta))}, got {value!r}.", f"Fix the value ({meta.help})."
        ) from None


def _check_url_or_path(url: str, path: Path, where: str) -> None:
    """A URL key that may also be a path under base_url (`/realms/bimplus`)."""
    if url.startswith("/") and "@" not in url and not url.startswith("//"):
        return
    _check_url(url, path, where, "https://login.example.com/realms/bimplus (or a path under base_url: /realms/bimplus)")


def _check_url(url: str, path: Path, where: str, example: str) -> None:
    if "@" in url:
        # user:password@host would be sent and shown in every report and repro; a password holding `/`, `#`, `?` or
        # `[` breaks URL parsing itself, so the URL is never printed once it has an `@`
        raise ConfigError(
            f"{path}: {where} has credentials in it (a user:password@ part, or an @ in the URL).",
            "Remove them from the URL; give credentials with the vendor's own keys (client_id, "
            "client_secret, user, password ...), from ${VARIABLES}.",
        )
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            f"{path}: {where} is not an http(s) URL: {url!r}.",
            "Write the full root URL" + (f", e.g. {example}." if example else "."),
        )

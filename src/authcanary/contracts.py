"""Contracts: what a vendor documented, as data (`contracts/<vendor>/openapi.yaml` + `semantics.yaml`).

OpenAPI holds paths, statuses, fields and types; `semantics.yaml` holds what OpenAPI cannot say:

    endpoints:
      "POST /authentication/v1/authenticate":
        announced_removal: "2024-04-30"          # deprecation facts
        replacement: "POST /authentication/v2/token"
        expires_in: [1799]                       # documented token lifetimes (seconds)
        rate_limit: {calls: 500, per_seconds: 60}
        constants: {"200": {"$.token_type": "Bearer"}}   # JSON paths the docs fix to one value
        headers: {"200": {"Cache-Control": "no-cache, no-store", "Pragma": "no-cache"}}
    deprecated_fields:                           # kept "for backward compatibility": gone is an announced removal
      "$.message": {endpoints: ["POST /oauth/authenticate"], replacement: "$.error_description",
                    announced_removal: "announced without a date"}
    ambiguities:                                 # where the docs contradict themselves: reported every run
      - {where: "...", text: "..."}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from authcanary.errors import ConfigError
from authcanary.findings import Ambiguity


@dataclass(frozen=True)
class Contract:
    vendor: str
    folder: Path
    openapi: dict[str, Any]
    semantics: dict[str, Any]

    @property
    def openapi_path(self) -> Path:
        return self.folder / "openapi.yaml"

    def part(self, name: str) -> Contract:
        """The vendor's second contract in the subfolder `name`: an API it documents under another base URL (the
        Bimplus OIDC provider under its issuer). Its checks keep the vendor's ids (`bimplus.schema.<schema>`)."""
        return _load_folder(self.folder / name, self.vendor)

    def endpoint(self, key: str) -> dict[str, Any]:
        """Semantics of `"METHOD /path"`; empty when the contract says nothing more than OpenAPI."""
        return self.semantics.get("endpoints", {}).get(key, {})

    def parts(self) -> list[Contract]:
        """The vendor's second contracts (`part`): each subfolder holding an openapi.yaml."""
        return [self.part(sub.name) for sub in sorted(self.folder.iterdir()) if (sub / "openapi.yaml").is_file()]

    def ambiguities(self) -> list[Ambiguity]:
        """Where the vendor's documentation contradicts itself, its second contracts' included."""
        own = [Ambiguity(where=item["where"], text=item["text"]) for item in self.semantics.get("ambiguities", [])]
        return own + [ambiguity for part in self.parts() for ambiguity in part.ambiguities()]

    def constants(self) -> dict[str, dict[str, dict[str, Any]]]:
        """`{"METHOD /path": {"status": {json path: value}}}` for the drift engine."""
        return {
            key: spec["constants"] for key, spec in self.semantics.get("endpoints", {}).items() if spec.get("constants")
        }


def load_contract(contracts_dir: Path, vendor: str) -> Contract:
    """Load and sanity-check one vendor's contract folder; a broken contract is a ConfigError."""
    return _load(contracts_dir.resolve(), vendor)


def contract_constants(contracts_dir: Path, vendors: Iterable[str]) -> dict[str, Any]:
    """The declared constants of these vendors' contracts, merged (what drift compares by value)."""
    constants: dict[str, Any] = {}
    for vendor in vendors:
        if (contracts_dir / vendor).is_dir():
            constants.update(load_contract(contracts_dir, vendor).constants())
    return constants


def _load(contracts_dir: Path, vendor: str) -> Contract:
    return _load_folder(contracts_dir / vendor, vendor)


def contract_deprecated_fields(contracts_dir: Path, vendors: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per vendor, the fields its contract says are kept only for backward compatibility (semantics.yaml
    `deprecated_fields`: JSON path -> endpoints, replacement, announced_removal): their disappearance is an announced
    removal, not a regression."""
    found: dict[str, dict[str, Any]] = {}
    for vendor in vendors:
        if (contracts_dir / vendor).is_dir():
            fields = load_contract(contracts_dir, vendor).semantics.get("deprecated_fields") or {}
            if fields:
                found[vendor] = dict(fields)
    return found


#: libyaml's safe loader when PyYAML was built with it (same documents, ~10x faster than the pure-Python one)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """`yaml.safe_load`, with libyaml when available: what the contract files (and checks.yaml) are read with."""
    return yaml.load(text, Loader=_SAFE_LOADER)


@cache
def _load_folder(folder: Path, vendor: str) -> Contract:
    documents = {}
    for name in ("openapi.yaml", "semantics.yaml"):
        path = folder / name
        try:
            documents[name] = load_yaml(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            where = f"{folder.parent.name}/{folder.name}/"
            raise ConfigError(f"{path}: contract file missing.", f"Restore {where} from git.") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc}).", "Fix the contract file.") from None
        if not isinstance(documents[name], dict):
            raise ConfigError(f"{path}: expected a mapping at the top.", "Fix the contract file.")
    openapi = documents["openapi.yaml"]
    if not str(openapi.get("openapi", "")).startswith("3.1"):
        raise ConfigError(f"{folder / 'openapi.yaml'}: expected OpenAPI 3.1.", "Set `openapi: 3.1.0`.")
    return Contract(vendor=vendor, folder=folder, openapi=openapi, semantics=documents["semantics.yaml"])

"""The list of vendors the harness knows: the one engine module allowed to name them (docs/architecture.md).

Adding a vendor means adding a `VendorSpec` here, plus its contract folder, simulator, strategies and suites.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from authcanary.simulators.framework import Simulator


@dataclass(frozen=True)
class Key:
    """One key of a vendor section in targets.toml."""

    help: str
    required: bool = False
    secret: bool = False
    kind: type = str
    default: Any = None
    #: numbers: the smallest value that makes sense (a budget of 0 would skip every check)
    minimum: float = 1
    #: numbers: the largest value that makes sense (None: no limit)
    maximum: float | None = None


# The transient-failure policy (authcanary.http.RetryPolicy), for live and embedded targets alike.
TRANSIENT_KEYS: dict[str, Key] = {
    "retries": Key("times one request is re-sent after 429, 503 or another 5xx (after Retry-After)", kind=int,
                   default=2, minimum=0),
    "retry_budget": Key("most retries per run for this vendor (each is a request of request_budget)", kind=int,
                        default=50, minimum=0),
    "outage_threshold": Key("share of interactions lost to outages (0-1) above which the vendor counts as "
                            "unreachable (exit 3); at least 3 must be lost", kind=float, default=0.05, minimum=0,
                            maximum=1),
}

# Keys every live vendor section understands, with their documented defaults.
COMMON_KEYS: dict[str, Key] = {
    "base_url": Key("root URL of the vendor API (http or https), e.g. https://developer.api.autodesk.com",
                    required=True),
    "simulator": Key("true when base_url is an `authcanary serve` simulator: enables time travel, fault "
                     "injection and rate-limit probes; request_budget and rate_limit_per_minute do not apply", kind=bool, default=False),
    "request_budget": Key("most requests the run may send to this vendor", kind=int, default=300),
    "rate_limit_per_minute": Key("most requests per minute the harness sends", kind=int, default=120),
    "timeout": Key("seconds before a request counts as a timeout", kind=float, default=15.0, minimum=0.1),
    "max_examples": Key("hypothesis examples per property test on this target", kind=int, default=10),
    **TRANSIENT_KEYS,
}

# Keys an embedded (in-process simulator) vendor section understands.
EMBEDDED_KEYS: dict[str, Key] = {
    "profile": Key("simulator profile: `documented` or a deviation name (several joined with `,`)",
                   default="documented"),
    "options": Key("simulator options table, e.g. { v1_decommission = \"2024-04-30\" }", kind=dict, default=None),
    "max_examples": Key("hypothesis examples per property test on this target", kind=int, default=60),
    **TRANSIENT_KEYS,
}


@dataclass(frozen=True)
class VendorSpec:
    """What the engine needs to know about a vendor, without knowing the vendor."""

    name: str
    title: str
    keys: dict[str, Key]
    simulator_path: str  # "module:Class"

    @property
    def all_keys(self) -> dict[str, Key]:
        return {**COMMON_KEYS, **self.keys}

    @property
    def secret_keys(self) -> set[str]:
        return {name for name, key in self.all_keys.items() if key.secret}

    def simulator_class(self) -> type["Simulator"]:
        module, _, cls = self.simulator_path.partition(":")
        return getattr(importlib.import_module(module), cls)


VENDORS: dict[str, VendorSpec] = {
    spec.name: spec
    for spec in (
        VendorSpec(
            name="autodesk",
            title="Autodesk Platform Services authentication (v1 and v2)",
            keys={
                "client_id": Key("APS app client id", required=True),
                "client_secret": Key("APS app client secret", required=True, secret=True),
                "scope": Key("space-separated scopes to request", default="data:read"),
                "forbidden_client_id": Key("a registered client NOT authorized for the endpoint (enables the 403 "
                                           "scenario)"),
                "forbidden_client_secret": Key("secret of forbidden_client_id", secret=True),
            },
            simulator_path="authcanary.simulators.autodesk:AutodeskSimulator",
        ),
        VendorSpec(
            name="bimplus",
            title="Allplan Bimplus authorization (legacy BimPlus tokens, moving to OIDC)",
            keys={
                "user": Key("Bimplus portal user (e-mail) the legacy authorize call logs in", required=True),
                "password": Key("password of `user`", required=True, secret=True),
                "application_id": Key("application id from the Bimplus team (mandatory since 2017-10-19)",
                                      required=True),
                "oidc_issuer": Key("OIDC (Keycloak) issuer URL; discovery at "
                                   "{issuer}/.well-known/openid-configuration"),
                "oidc_client_id": Key("OIDC client id"),
                "oidc_client_secret": Key("OIDC client secret (absent for a public client)", secret=True),
                "second_user": Key("a second user (e-mail): proves a logout ends only its own user's tokens"),
                "second_password": Key("password of `second_user`", secret=True),
                "logout_path": Key("path of the legacy logout (DELETE; the documentation gives none)",
                                   default="/v2/authorize"),
                "teams_path": Key("a protected BIM+ resource the suites probe with tokens", default="/v2/teams"),
                "wrong_password_probes": Key("most failed logins per run against the configured users on a live "
                                             "target (accounts lock)", kind=int, default=3, minimum=0),
            },
            simulator_path="authcanary.simulators.bimplus:BimplusSimulator",
        ),
    )
}


def vendor_spec(name: str) -> VendorSpec:
    """The spec of a known vendor; raises KeyError for an unknown one (callers turn it into a ConfigError)."""
    return VENDORS[name]

"""The list of vendors the harness knows: the one engine module allowed to name them (docs/architecture.md).

Adding a vendor means adding a `VendorSpec` here, or in another package through the `authcanary.vendors` entry
point, plus its contract folder, simulator, strategies and suites (docs/adding-a-vendor.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
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
    #: an http(s) URL, or a path resolved against base_url; checked like base_url (no credentials in it)
    url: bool = False


# The transient-failure policy (authcanary.http.RetryPolicy), for live and embedded targets alike.
TRANSIENT_KEYS: dict[str, Key] = {
    "retries": Key(
        "times one request is re-sent after 429, 503 or another 5xx (after Retry-After)", kind=int, default=2, minimum=0
    ),
    "retry_budget": Key(
        "most retries per run for this vendor (each is a request of request_budget); default 50 on a "
        "shared live target, unlimited on a simulator",
        kind=int,
        minimum=0,
    ),
    "outage_threshold": Key(
        "share of interactions lost to outages (0-1) above which the vendor counts as "
        "unreachable (exit 3); at least 3 must be lost",
        kind=float,
        default=0.05,
        minimum=0,
        maximum=1,
    ),
}

# Keys every live vendor section understands, with their documented defaults.
COMMON_KEYS: dict[str, Key] = {
    "base_url": Key(
        "root URL of the vendor API (http or https), e.g. https://developer.api.autodesk.com", required=True
    ),
    "simulator": Key(
        "true when base_url is an `authcanary serve` simulator: enables time travel, fault "
        "injection and rate-limit probes; request_budget and rate_limit_per_minute do not apply",
        kind=bool,
        default=False,
    ),
    "request_budget": Key("most requests the run may send to this vendor", kind=int, default=300),
    "rate_limit_per_minute": Key("most requests per minute the harness sends", kind=int, default=120),
    "timeout": Key("seconds before a request counts as a timeout", kind=float, default=15.0, minimum=0.1),
    "max_examples": Key("hypothesis examples per property test on this target", kind=int, default=10),
    **TRANSIENT_KEYS,
}

# Keys an embedded (in-process simulator) vendor section understands.
EMBEDDED_KEYS: dict[str, Key] = {
    "profile": Key(
        "simulator profile: `documented` or a deviation name (several joined with `,`)", default="documented"
    ),
    "options": Key('simulator options table, e.g. { v1_decommission = "2024-04-30" }', kind=dict, default=None),
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
    #: a root URL of the vendor's API, shown in messages and help as an example
    example_base_url: str = ""
    #: HTTP authorization schemes the vendor's tokens travel under besides `Bearer` and `Basic`
    #: (`Authorization: SCHEME <token>`): the secret scanner looks for tokens after them too
    auth_schemes: tuple[str, ...] = ()
    #: the key of its section that bounds the failed logins a run may cause on a live target (accounts lock); the
    #: key's default is the bound when the section does not say. None: the vendor has no such key, and a live run
    #: may cause no failed login at all
    failed_logins_key: str | None = None
    #: key -> the keys that must be set when it is (e.g. an OIDC issuer needs a client id)
    requires: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.failed_logins_key is not None and self.all_keys.get(self.failed_logins_key, Key("")).kind is not int:
            raise ValueError(f"{self.name}: failed_logins_key {self.failed_logins_key!r} is not an int key")

    @property
    def all_keys(self) -> dict[str, Key]:
        return {**COMMON_KEYS, **self.keys}

    def failed_logins_allowed(self, settings: dict[str, Any]) -> int:
        """The failed logins a run may cause on a live target with these settings (see `failed_logins_key`)."""
        if self.failed_logins_key is None:
            return 0
        return settings.get(self.failed_logins_key, self.all_keys[self.failed_logins_key].default)

    @property
    def secret_keys(self) -> set[str]:
        return {name for name, key in self.all_keys.items() if key.secret}

    def simulator_class(self) -> type[Simulator]:
        module, _, cls = self.simulator_path.partition(":")
        return getattr(importlib.import_module(module), cls)


#: entry point group through which another package adds a vendor (the entry point names a `VendorSpec`), so a new
#: vendor needs no edit of the engine: `[project.entry-points."authcanary.vendors"] acme = "acme_vendor:SPEC"`
VENDOR_ENTRY_POINTS = "authcanary.vendors"


def _added_vendors() -> list[VendorSpec]:
    """The vendors installed packages add (`VENDOR_ENTRY_POINTS`); a broken entry point fails loudly, naming it."""
    specs = []
    for entry_point in entry_points(group=VENDOR_ENTRY_POINTS):
        spec = entry_point.load()
        if not isinstance(spec, VendorSpec):
            raise TypeError(
                f"entry point {entry_point.name} = {entry_point.value} ({VENDOR_ENTRY_POINTS}) is not a VendorSpec"
            )
        specs.append(spec)
    return specs


BUILT_IN: tuple[VendorSpec, ...] = (
    VendorSpec(
        name="autodesk",
        title="Autodesk Platform Services authentication (v1 and v2)",
        keys={
            "client_id": Key("APS app client id", required=True),
            "client_secret": Key("APS app client secret", required=True, secret=True),
            "scope": Key("space-separated scopes to request", default="data:read"),
            "forbidden_client_id": Key(
                "a registered client NOT authorized for the endpoint (enables the 403 scenario)"
            ),
            "forbidden_client_secret": Key("secret of forbidden_client_id", secret=True),
        },
        simulator_path="authcanary.simulators.autodesk:AutodeskSimulator",
        example_base_url="https://developer.api.autodesk.com",
    ),
    VendorSpec(
        name="bimplus",
        title="Allplan Bimplus authorization (legacy BimPlus tokens, moving to OIDC)",
        keys={
            "user": Key("Bimplus portal user (e-mail) the legacy authorize call logs in", required=True),
            "password": Key("password of `user`", required=True, secret=True),
            "application_id": Key("application id from the Bimplus team (mandatory since 2017-10-19)", required=True),
            "oidc_issuer": Key(
                "OIDC (Keycloak) issuer URL, `{host}/realms/{realm}`, or a path under base_url; discovery at "
                "{issuer}/.well-known/openid-configuration. Absent: the OIDC suites are skipped (the report says so)",
                url=True,
            ),
            "oidc_client_id": Key("OIDC client id (needed with oidc_issuer)"),
            "oidc_client_secret": Key(
                "OIDC client secret (absent for a public client: introspection is then not checked)", secret=True
            ),
            "oidc_scope": Key("scope the OIDC logins ask for", default="openid profile email"),
            "oidc_audience": Key(
                "audience the BIM+ API expects in access tokens (`aud`); absent: `aud` is only checked to be present"
            ),
            "oidc_refresh_rotation": Key(
                "the realm rotates refresh tokens (a used one is refused, Keycloak 'Revoke Refresh Token')",
                kind=bool,
                default=True,
            ),
            "second_user": Key("a second user (e-mail): proves a logout ends only its own user's tokens"),
            "second_password": Key("password of `second_user`", secret=True),
            "logout_path": Key(
                "path of the legacy logout (DELETE; the documentation gives none)", default="/v2/authorize"
            ),
            "teams_path": Key("a protected BIM+ resource the suites probe with tokens", default="/v2/teams"),
            "wrong_password_probes": Key(
                "most failed logins per run against the configured users on a live target (accounts lock)",
                kind=int,
                default=3,
                minimum=0,
            ),
        },
        simulator_path="authcanary.simulators.bimplus:BimplusSimulator",
        example_base_url="https://api-stage.bimplus.net",
        auth_schemes=("BimPlus",),  # `Authorization: BimPlus <token>`, the legacy tokens' scheme
        failed_logins_key="wrong_password_probes",
        requires={"oidc_issuer": ("oidc_client_id",)},
    ),
    VendorSpec(
        name="axeobim",
        title="AxeoBIM (Axxone) client-credentials token, then the Cerqual user token",
        keys={
            "client_id": Key("AxeoBIM API client id", required=True),
            "client_secret": Key("AxeoBIM API client secret", required=True, secret=True),
            "cerqual_email": Key("e-mail of the Cerqual user the second step authenticates", required=True),
            "scope": Key("scope of the client-credentials token (step 1)", default="administration"),
            "cerqual_scope": Key("scope of the Cerqual user token (step 2)", default="bcf:read bcf:create bcf:write"),
        },
        simulator_path="authcanary.simulators.axeobim:AxeobimSimulator",
        example_base_url="https://app.axxone.fr/system_aplus/api",
    ),
    VendorSpec(
        name="kudo",
        title="Graebert ARES Kudo session token service",
        keys={
            "api_key": Key("partner API key (sent as x-api-key)", required=True, secret=True),
        },
        simulator_path="authcanary.simulators.kudo:KudoSimulator",
        example_base_url="https://tokens.kudo.graebert.com",
    ),
)
VENDORS: dict[str, VendorSpec] = {spec.name: spec for spec in (*BUILT_IN, *_added_vendors())}


def vendor_spec(name: str) -> VendorSpec:
    """The spec of a known vendor; raises KeyError for an unknown one (callers turn it into a ConfigError)."""
    return VENDORS[name]


def authorization_schemes() -> tuple[str, ...]:
    """Every HTTP authorization scheme a bearer token travels under: `Bearer`, `Token` and those of each vendor."""
    schemes = ("Bearer", "Token", *(scheme for spec in VENDORS.values() for scheme in spec.auth_schemes))
    return tuple(dict.fromkeys(schemes))


def example_vendor() -> VendorSpec:
    """The vendor messages and help take their examples from (the first one)."""
    return next(iter(VENDORS.values()))

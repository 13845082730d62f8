"""Every vendor's named checks (contracts/<vendor>/checks.yaml) against its simulator and its suites: each check
names a deviation that makes it fire (so it is known to be able to fail), each deviation proves a check or is
proven otherwise, no declaration names a deviation the simulator lacks, the file holds no duplicate and each check
says where it is documented, and the suites name exactly the declared checks. The profile tests
(tests/e2e/test_<vendor>_profiles.py) prove that each named deviation does make its checks fire."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from authcanary.catalog import Catalog, load_catalog
from authcanary.contracts import Contract, load_contract
from authcanary.registry import VENDORS

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
#: where each vendor's checks must say they come from: its section of VENDORS.md (docs/vendors.md), its seed, or an RFC
DOCUMENTED_IN = {
    "autodesk": ("VENDORS.md §1", "seed 002", "RFC"),
    "bimplus": ("VENDORS.md §2", "seed 001", "RFC"),
    "axeobim": ("VENDORS.md §3", "seed 000", "RFC"),
    "kudo": ("VENDORS.md §4", "seed 003"),
}


def catalog(vendor: str) -> Catalog:
    return load_catalog(CONTRACTS, vendor)


def deviations(vendor: str) -> set[str]:
    return set(VENDORS[vendor].simulator_class().deviations)


def test_every_vendor_says_where_its_checks_are_documented():
    assert set(DOCUMENTED_IN) == set(VENDORS)


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_every_declared_check_has_a_profile_that_makes_it_fire(vendor):
    without = [spec.id for spec in catalog(vendor).checks.values() if not spec.profiles]
    assert not without, (
        f"{without} name no deviation that makes them fire: add one to their `profiles` in "
        f"contracts/{vendor}/checks.yaml (or a deviation to the simulator that breaks exactly that check)"
    )


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_every_deviation_proves_a_check_or_is_proven_otherwise_not_both(vendor):
    checks = catalog(vendor)
    proving = {profile for spec in checks.checks.values() for profile in spec.profiles}
    missing = sorted(deviations(vendor) - proving - set(checks.other_profiles))
    assert not missing, (
        f"say what `authcanary run` must report for the deviation(s) {missing}: list each in the `profiles` of the "
        "check(s) it breaks, or under `other_profiles` (deprecation, outage or drift)"
    )
    both = sorted(proving & set(checks.other_profiles))
    assert not both, f"{both}: a deviation proves checks or is proven otherwise, not both"


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_every_profile_named_is_a_deviation_of_the_simulator(vendor):
    checks, known = catalog(vendor), deviations(vendor)
    named = {f"{spec.id} profiles": set(spec.profiles) for spec in checks.checks.values()}
    named["other_profiles"] = set(checks.other_profiles)
    unknown = {where: sorted(names - known) for where, names in named.items() if names - known}
    assert not unknown, f"not deviations of the simulator (see `authcanary profiles --vendor {vendor}`): {unknown}"


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_declarations_are_unique_and_say_where_they_are_documented(vendor):
    """The YAML has no duplicate ids (yaml keeps the last silently), and each check has a title and a source."""
    text = (CONTRACTS / vendor / "checks.yaml").read_text(encoding="utf-8")
    checks = catalog(vendor)
    ids = re.findall(rf"^  ({vendor}\.[a-z0-9_.]+):", text, flags=re.MULTILINE)
    assert len(ids) == len(set(ids)) == len(checks.checks)
    assert set(yaml.safe_load(text)) <= {"checks", "other_profiles", "public_sources"}
    for spec in checks.checks.values():
        assert spec.id.startswith(f"{vendor}.") and spec.title and spec.source, spec.id
        assert any(where in spec.source for where in DOCUMENTED_IN[vendor]), (spec.id, spec.source)


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_the_suites_name_exactly_the_declared_checks(vendor):
    """The ids the vendor's suites and strategies name, plus those the engine names from the contract
    (`<vendor>.constant.<field>`, `<vendor>.schema.<schema>` for a schema the suites check a body against, and
    `<vendor>.contract.<schemathesis check>` for a check its property tests run), are exactly the declared ones."""
    files = [*sorted((ROOT / "suites" / vendor).glob("*.py")), *sorted((ROOT / "strategies").glob(f"{vendor}*.py"))]
    sources = "\n".join(path.read_text(encoding="utf-8") for path in files)
    literal = set(re.findall(rf"""["']({vendor}\.[a-z0-9_]+\.[a-z0-9_]+)["']""", sources))
    contract = load_contract(CONTRACTS, vendor)
    parts: list[Contract] = [contract, *contract.parts()]
    constants = {
        f"{vendor}.constant.{path.removeprefix('$.').lower()}"
        for part in parts
        for endpoint in part.semantics.get("endpoints", {}).values()
        for fields in endpoint.get("constants", {}).values()
        for path in fields
    }
    schemas = {
        f"{vendor}.schema.{name.lower()}"
        for part in parts
        for name in part.openapi.get("components", {}).get("schemas", {})
        if f'"{name}"' in sources
    }
    properties = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "suites" / vendor).glob("test_*prop*"))
    schemathesis = {
        check_id
        for check_id in catalog(vendor).checks
        if check_id.startswith(f"{vendor}.contract.") and re.search(rf"\b{check_id.split('.')[2]}\b", properties)
    }
    declared = set(catalog(vendor).checks)
    assert literal - declared == set(), "named but not declared"
    assert declared - literal - constants - schemas - schemathesis == set(), "declared but named nowhere"

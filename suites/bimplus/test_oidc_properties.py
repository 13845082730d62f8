"""Property-based checks of the Bimplus OIDC provider (a Keycloak realm): schemathesis over the form endpoints of
contracts/bimplus/oidc/openapi.yaml, hostile token, introspection and revocation requests from
strategies/bimplus_oidc.py, and valid token requests in every documented shape.

Requests go to the issuer (targets `oidc_issuer`, possibly another host than the BIM+ API) through the suite's
`client`: counted, budgeted, paced. Each hostile kind gets its own share of the target's examples, so every kind runs
on a live target too. No request counts as a failed login of a configured account on a live target (wrong passwords
go to unknown users there; on a simulator they spend the run's unlimited failed-login budget). Skipped without an
OIDC provider (the `oidc` fixture) and in replay mode (only recorded scenarios are replayed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.checks import content_type_conformance

from authcanary.suite import VendorTarget, check_conformance, contract_test, hypothesis_settings, refused, reveal
from strategies.bimplus_oidc import KINDS, Realm, basic, hostile_requests, valid_token_requests
from suites.bimplus.oidc import KEYCLOAK_PATHS, OidcApi

VENDOR = "bimplus"
CONTRACT = Path(__file__).parents[2] / "contracts" / VENDOR / "oidc" / "openapi.yaml"
#: each schemathesis check, and the declared check it reports as (contracts/bimplus/checks.yaml)
CHECKS = {
    content_type_conformance: "bimplus.contract.content_type_conformance",
}
#: the endpoints that answer an OAuth error body (RFC 6749 §5.2), as the contract names them
ERROR_STATUSES = (400, 401)

SETTINGS = hypothesis_settings(VENDOR)
PER_KIND = settings(SETTINGS, max_examples=max(2, SETTINGS.max_examples // 4))
# the form endpoints only (token, introspection, revocation, logout): the others take no input to vary
schema = schemathesis.openapi.from_path(CONTRACT).include(method="POST")
schema.config.generation.update(max_examples=PER_KIND.max_examples, deterministic=True, with_security_parameters=False)
schema.config.phases.update(phases=["examples", "fuzzing"])  # no coverage phase: dozens of extra requests per operation


def realm(oidc: OidcApi, target: VendorTarget) -> Realm:
    """What the strategies build on: the endpoints under the issuer (the contract's paths), the harness's client and
    the first configured user."""
    settings = target.settings
    return Realm(
        token=oidc.issuer + KEYCLOAK_PATHS["token_endpoint"],
        introspection=oidc.issuer + KEYCLOAK_PATHS["introspection_endpoint"],
        revocation=oidc.issuer + KEYCLOAK_PATHS["revocation_endpoint"],
        client_id=oidc.harness.client_id,
        client_secret=oidc.harness.secret,
        user=settings["user"],
        password=settings["password"],
        scope=oidc.scope,
    )


@contract_test(schema, PER_KIND)
def test_contract_conformance(case, oidc, client, expect):
    """The realm's answers to any request the contract describes have the content types it documents (RFC 6749 §5.2
    JSON errors, JSON introspection answers). Operations the contract secures with the client's HTTP Basic
    credentials get the harness's (a public client sends none: the realm refuses it)."""
    with expect.example():
        kwargs = case.as_transport_kwargs(base_url=oidc.issuer)
        headers = dict(kwargs.get("headers") or {})
        if oidc.confidential and any(True for _ in case.operation.security.iter_parameters()):
            headers.update(basic(oidc.harness.client_id, reveal(oidc.harness.secret)))
        response = client.request(
            kwargs["method"], kwargs["url"], headers=headers, params=kwargs.get("params"), content=_form(kwargs)
        )
        check_conformance(expect, case, response, CHECKS, "contracts/bimplus/oidc/openapi.yaml")


@pytest.mark.parametrize("kind", KINDS)
@PER_KIND
@given(data=st.data())
def test_hostile_requests_are_refused_as_documented(
    kind, oidc, oidc_checks, target, client, expect, login_probes, data
):
    """Wrong content types and JSON bodies, a missing or unknown grant_type, repeated parameters, client credentials
    in the header and the body, malformed or wrong client authentication, empty/huge/unicode values, bad user
    credentials, unauthenticated introspection, unknown tokens and token type hints: each gets a status RFC 6749 §5.2,
    RFC 7662 or RFC 7009 (and the contract) allow, its errors are RFC 6749 §5.2 JSON, and an introspection answer
    for a token the realm did not issue says active false."""
    # a wrong password for the configured user only where no account can lock (a simulator): on a live target the
    # run's few failed logins are left to the scenarios that need them
    lockout_risk_ok = target.simulated and login_probes.available()
    strategy = hostile_requests(kind, realm(oidc, target), lockout_risk_ok)
    if strategy is None:
        pytest.skip(f"{kind}: needs a confidential client (targets oidc_client_secret)")
    hostile = data.draw(strategy, label="request")
    with expect.example():
        if hostile.risks_lockout:
            login_probes.spend()
        response = hostile.send(client)
        if not refused(expect, response, hostile.allowed, "bimplus.oidc.hostile_refused", detail=hostile.kind):
            return
        if response.status_code in ERROR_STATUSES:
            oidc_checks.error_body(response, hostile.kind)
        elif response.status_code == 200 and hostile.inactive:
            oidc_checks.inactive(response, "bimplus.oidc.hostile_refused", hostile.kind)


@settings(SETTINGS, max_examples=max(2, SETTINGS.max_examples // 4))
@given(data=st.data())
def test_valid_token_requests_get_tokens_in_every_documented_shape(oidc, target, client, expect, data):
    """The password grant (and client_credentials for a confidential client) with the client in a Basic header or in
    the body (RFC 6749 §2.3.1), scope absent or any subset of the configured scopes, the fields in any order: each
    gets a token (200). A realm that fails one documented shape is found, with the minimal shape."""
    valid = data.draw(valid_token_requests(realm(oidc, target)), label="request")
    with expect.example():
        refused(expect, valid.send(client), valid.allowed, "bimplus.answers.status_200", detail=valid.kind)


def _form(kwargs: dict[str, Any]) -> bytes | None:
    """The generated form body, encoded as schemathesis' requests transport would (lists repeat a field; other
    values are sent as their JSON text); lone surrogates are sent as they are (a realm must refuse non-UTF-8)."""
    data = kwargs.get("data")
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8", "surrogatepass")
    pairs = []
    for name, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                pairs.append((str(name), item if isinstance(item, str) else json.dumps(item)))
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode("ascii")

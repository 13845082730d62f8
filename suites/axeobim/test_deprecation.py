"""The deprecated error field `message` ("Old name for error_description field. Still present for
backward-compatibility.", seed 000): whether each endpoint's 400 and 401 answers still send it. Reported under
deprecations, never failing: its disappearance is the announced removal (contracts/axeobim/semantics.yaml
`deprecated_fields`), while `message` differing from error_description is a violation of its own check."""

from __future__ import annotations

import pytest

from authcanary.suite import Deprecation

pytestmark = pytest.mark.scenario


def test_message_field_deprecation_state(api, checks, contract, report):
    bad_client = contract.endpoint("POST /oauth/authenticate")["statuses"]["bad_client"]
    checks.refused(api.client_token_without("client_id"), 400, "axeobim.request.malformed_400", "client_id missing")
    checks.refused(
        api.client_token(client_secret="not-the-secret-0000"),
        bad_client,
        "axeobim.client.bad_credentials_refused",
        "wrong client_secret",
    )
    checks.refused(api.user_token(None), 401, "axeobim.bearer.missing_401")
    token = api.fresh_client_token()
    if token is not None:
        checks.refused(api.user_token(token, send_email=False), 400, "axeobim.request.malformed_400", "email missing")
    for path, spec in contract.semantics["deprecated_fields"].items():
        field, replacement = path.removeprefix("$."), spec["replacement"].removeprefix("$.")
        for endpoint in spec["endpoints"]:
            bodies = checks.error_bodies.get(endpoint, [])
            if not bodies:
                report.add_note(f"{endpoint}: no JSON error answer observed, the state of `{field}` is unknown")
                continue
            sent = sum(field in body for body in bodies)
            if sent == len(bodies):
                observed = f"error field `{field}` still sent (old name of {replacement})"
            elif sent == 0:
                observed = (
                    f"error field `{field}` no longer sent (removed as announced; {replacement} carries the text)"
                )
            else:
                observed = f"error field `{field}` sent in {sent} of {len(bodies)} error answers only"
            report.add_deprecation(
                Deprecation(
                    endpoint=endpoint,
                    announced_removal=spec["announced_removal"],
                    observed=observed,
                    replacement=replacement,
                    replacement_ok=all(isinstance(body.get(replacement), str) and body[replacement] for body in bodies),
                )
            )

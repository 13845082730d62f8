"""Checks of one answer against the contract: its status, its constants (semantics.yaml) and its body schema
(openapi.yaml). Violations are recorded through the test's `expect`; each check returns whether it held."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import httpx
import jsonschema_rs

from authcanary.contracts import Contract

if TYPE_CHECKING:
    from authcanary.pytest.expectations import Expect


def describe_statuses(statuses: Collection[int]) -> str:
    """`4xx`, `200 or 4xx`, `401`: a status set as a person reads it (a whole class is written as one)."""
    statuses = set(statuses)
    classes = [f"{hundred // 100}xx" for hundred in (400, 500) if set(range(hundred, hundred + 100)) <= statuses]
    singles = sorted(s for s in statuses if not any(c[0] == str(s // 100) for c in classes))
    return " or ".join([*map(str, singles), *classes])


def refused(expect: Expect, response: httpx.Response, allowed: Collection[int], check: str, detail: str = "") -> bool:
    """`response` has one of the `allowed` statuses (`check`: a declared check id)."""
    ok = response.status_code in allowed
    return expect.that(
        ok,
        check,
        response=response,
        detail=detail,
        expected=f"status {describe_statuses(allowed)}",
        observed="" if ok else f"status {response.status_code}: {expect.excerpt(response)}",  # (costly: on failure)
    )


def check_constants(
    expect: Expect,
    response: httpx.Response,
    body: dict[str, Any],
    contract: Contract,
    *,
    status: int = 200,
    absent_ok: bool = False,
) -> None:
    """Each top-level field the contract fixes to one value (semantics.yaml `constants`) has that value: the check
    `<vendor>.constant.<field>`, declared in the vendor's checks.yaml.

    ``absent_ok``: a missing field is not this check's business (a schema check covers presence)."""
    endpoint = expect.endpoint(response.request)
    for path, value in contract.endpoint(endpoint).get("constants", {}).get(str(status), {}).items():
        field = path.removeprefix("$.")
        if absent_ok and field not in body:
            continue
        expect.that(
            body.get(field) == value,
            f"{contract.vendor}.constant.{_name(field)}",
            response=response,
            expected=f"{field} = {value!r}",
            observed=f"{field} = {body.get(field)!r}",
        )


_VALIDATORS: dict[tuple[str, str], jsonschema_rs.Draft202012Validator] = {}


def check_headers(
    expect: Expect, response: httpx.Response, required: dict[str, Collection[str]], check: str, detail: str = ""
) -> bool:
    """Each header in `required` carries the listed directives (e.g. `cache-control: no-store`; a header's
    comma-separated directives in any order and case): the check `check`, once per header."""
    held = True
    for name, directives in required.items():
        present = {part.strip().lower() for part in response.headers.get(name, "").split(",")}
        held &= expect.that(
            {directive.lower() for directive in directives} <= present,
            check,
            response=response,
            detail=f"{detail}: {name}" if detail else name,
            expected=f"{name}: {', '.join(directives)}",
            observed=f"{name}: {response.headers.get(name, '(absent)')}",
        )
    return held


def check_expires_in(
    expect: Expect,
    response: httpx.Response,
    body: dict[str, Any],
    lifetime: dict[str, Any],
    integer_check: str,
    example_check: str,
) -> int | None:
    """`expires_in` is a positive integer (`integer_check`; returned, else None) and, when the contract documents
    examples (`lifetime`: semantics' `expires_in`), one of them (`example_check`, weighing the contract's
    `on_mismatch`: a lifetime other than a documented example may be only info)."""
    expires_in = body.get("expires_in")
    if not expect.that(
        isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0,
        integer_check,
        response=response,
        expected="expires_in: int > 0",
        observed=f"expires_in = {expires_in!r}",
    ):
        return None
    if lifetime.get("examples") and expires_in not in lifetime["examples"]:
        expect.that(
            False,
            example_check,
            response=response,
            expected=f"expires_in in {lifetime['examples']}",
            observed=f"expires_in = {expires_in}",
            severity=lifetime.get("on_mismatch"),
        )
    return expires_in


def schema_errors(contract: Contract, schema: str, document: Any) -> list[str]:
    """Where and how `document` breaks `#/components/schemas/<schema>` of the contract's OpenAPI 3.1 (whose schemas
    are JSON Schema 2020-12, formats included); empty when it conforms."""
    key = (str(contract.folder), schema)
    if key not in _VALIDATORS:
        wrapper = {"$ref": f"#/components/schemas/{schema}", "components": contract.openapi["components"]}
        _VALIDATORS[key] = jsonschema_rs.Draft202012Validator(wrapper, validate_formats=True)
    return [
        f"{'/'.join(map(str, error.instance_path)) or '(body)'}: {error.message}"
        for error in _VALIDATORS[key].iter_errors(document)
    ]


def check_schema(
    expect: Expect, response: httpx.Response, body: Any, contract: Contract, schema: str, *, status: int = 200
) -> bool:
    """The answer's JSON `body` matches the contract's schema `schema`: the check `<vendor>.schema.<schema>`,
    declared in the vendor's checks.yaml."""
    errors = schema_errors(contract, schema, body)
    return expect.that(
        not errors,
        f"{contract.vendor}.schema.{_name(schema)}",
        response=response,
        detail=f"status {status}",
        expected=f"openapi.yaml #/components/schemas/{schema}",
        observed="; ".join(errors[:3]),
    )


def _name(text: str) -> str:
    """The part of a check id made of a contract's name: `token_type`, `RememberMeToken` -> `remembermetoken`."""
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")

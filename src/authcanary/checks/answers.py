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

"""Hypothesis strategies for the Graebert ARES Kudo token service (seed 003, VENDORS.md §4,
contracts/kudo/semantics.yaml): editor parameters in every JSON shape the documentation allows ("all URL parameters
as JSON body": any names, any JSON values), and hostile generate and verify requests, each with the statuses the
documentation allows for it.

Keys never appear in what hypothesis prints: the partner key stays a `Secret` until a request is built, and a
`HostileRequest`'s repr names only its kind.

The public strategy builders are cached (`lru_cache`): a test draws from them once per example, and a strategy
built once is validated by hypothesis once, not once per example."""

from __future__ import annotations

import json
import string
import uuid
from functools import lru_cache
from typing import Any

from hypothesis import strategies as st

from authcanary.suite import HostileRequest, Secret, reveal

GENERATE = "/generate"
VERIFY = "/verify"
JSON = "application/json"
FORBIDDEN = frozenset({403})  # semantics.yaml errors.status: every documented error
#: the documented examples of editor parameters (seed 003: "Example to open a file from S3", the verify answer)
DOCUMENTED_EXAMPLES: list[dict[str, Any]] = [
    {"file": "test.dwg", "userId": "123"},
    {"auth": "appId", "userId": "userId", "file": "fileId", "server": "server"},
]
#: the names the documentation shows; parameters are drawn with these and any other names
DOCUMENTED_NAMES = ("file", "userId", "server", "auth")

# -- editor parameters ------------------------------------------------------------------------------------------
_names = st.one_of(st.sampled_from(DOCUMENTED_NAMES), st.text(max_size=8))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),  # exact in every JSON implementation (RFC 8259 §6)
    st.integers(-(10**30), 10**30),  # beyond double precision too (kudo.verify.large_numbers_kept, info)
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),  # any unicode, the empty string included
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(_names, children, max_size=3)),
    max_leaves=8,
)


@lru_cache(maxsize=64)
def editor_parameters() -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object of editor parameters: the documented examples, string parameters as editor URLs carry them, and
    any JSON values (unicode, nesting, numbers, empty values), the empty object included."""
    strings = st.dictionaries(st.sampled_from(DOCUMENTED_NAMES), st.text(max_size=12), max_size=4)
    return st.one_of(
        st.sampled_from(DOCUMENTED_EXAMPLES),
        strings,
        st.dictionaries(_names, _values, max_size=5),
    )


# -- hostile requests -------------------------------------------------------------------------------------------
_ascii = string.ascii_letters + string.digits + "-._~+/="
_garbage = st.text(alphabet=_ascii, min_size=1, max_size=64)
_huge = st.integers(4_000, 9_000).map(lambda n: "A" * n)


def _generate(kind: str, headers: dict[str, str], body: bytes, allowed: frozenset[int]) -> HostileRequest:
    return HostileRequest(kind, "POST", GENERATE, {"Content-Type": JSON, **headers}, body, allowed)


def _verify(kind: str, headers: dict[str, str], allowed: frozenset[int] = FORBIDDEN) -> HostileRequest:
    return HostileRequest(kind, "GET", VERIFY, {"Content-Type": JSON, **headers}, b"", allowed)


def _example_body() -> bytes:
    return json.dumps(DOCUMENTED_EXAMPLES[0]).encode()


def _wrong_keys(key: Secret | str) -> st.SearchStrategy[HostileRequest]:
    """Another partner's key, or the configured one altered: a character changed, cut short, extended, in other
    case, as a prefix of garbage. 403 each (seed 003: "its unique for each partner")."""
    value = reveal(key)

    def changed(index: int) -> str:
        index %= len(value)
        return value[:index] + ("A" if value[index] != "A" else "B") + value[index + 1 :]

    variants = st.one_of(
        _garbage.map(lambda other: ("another key", other)),
        st.integers(0, 10_000).map(lambda index: ("the key with one character changed", changed(index))),
        st.just(("the key cut short", value[:-1])),
        st.just(("the key extended", value + "0")),
        st.just(("the key in other case", value.swapcase())),
        _garbage.map(lambda tail: ("the key followed by more", f"{value}{tail}")),
    )
    return variants.filter(lambda pair: pair[1] != value and pair[1].strip() == pair[1] and pair[1]).map(
        lambda pair: _generate(f"wrong key ({pair[0]})", {"x-api-key": pair[1]}, _example_body(), FORBIDDEN)
    )


def _missing_key(key: Secret | str) -> st.SearchStrategy[HostileRequest]:
    """No x-api-key; the key in another header is no key either. 403 each."""
    value = reveal(key)
    elsewhere = st.sampled_from(
        [
            ("no x-api-key", {}),
            ("the key as a Bearer token", {"Authorization": f"Bearer {value}"}),
            ("the key in x-api-token", {"x-api-token": value}),
            ("the key in api-key", {"api-key": value}),
            ("an empty x-api-key", {"x-api-key": ""}),
        ]
    )
    return elsewhere.map(lambda pair: _generate(f"missing key ({pair[0]})", pair[1], _example_body(), FORBIDDEN))


def _bad_bodies(key: Secret | str, allowed: frozenset[int]) -> st.SearchStrategy[HostileRequest]:
    """The right key, but a body that is not a JSON object of parameters: never a token (semantics.yaml
    errors.bad_body_statuses)."""
    not_objects = st.one_of(
        st.lists(st.text(max_size=5), max_size=3).map(lambda items: ("a JSON array", json.dumps(items))),
        st.text(max_size=10).map(lambda text: ("a JSON string", json.dumps(text))),
        st.integers().map(lambda number: ("a JSON number", json.dumps(number))),
        st.sampled_from([("JSON null", "null"), ("JSON true", "true")]),
        st.sampled_from(
            [
                ("not JSON", "file=test.dwg&userId=123"),
                ("truncated JSON", '{"file": "test.dwg", '),
                ("NaN", '{"userId": NaN}'),
                ("an empty body", ""),
            ]
        ),
    )
    return not_objects.map(
        lambda pair: _generate(f"body {pair[0]}", {"x-api-key": reveal(key)}, pair[1].encode(), allowed)
    )


def _unknown_tokens(key: Secret | str) -> st.SearchStrategy[HostileRequest]:
    """Verify with a token the service never issued: a random uuid, garbage, a huge one, the partner key. 403."""
    return st.one_of(
        st.uuids(version=4).map(lambda value: ("an unknown uuid", str(value))),
        st.uuids(version=4).map(lambda value: ("an unknown uuid in upper case", str(value).upper())),
        _garbage.map(lambda value: ("garbage", value)),
        st.just(("the nil uuid", str(uuid.UUID(int=0)))),
        st.just(("the partner key", reveal(key))),
        _huge.map(lambda value: ("a huge token", value)),
    ).map(
        lambda pair: _verify(
            f"unknown token ({pair[0]})",
            {"x-api-token": pair[1]},
            FORBIDDEN | ({413, 431} if pair[0] == "a huge token" else frozenset()),
        )
    )


def _missing_token(key: Secret | str) -> st.SearchStrategy[HostileRequest]:
    """Verify without a token; the partner key is no token. 403."""
    value = reveal(key)
    return st.sampled_from(
        [
            ("no x-api-token", {}),
            ("an empty x-api-token", {"x-api-token": ""}),
            ("only the partner key", {"x-api-key": value}),
            ("a Bearer token instead", {"Authorization": f"Bearer {uuid.UUID(int=1)}"}),
        ]
    ).map(lambda pair: _verify(f"missing token ({pair[0]})", pair[1]))


KINDS = ["wrong key", "missing key", "bad body", "unknown token", "missing token"]


@lru_cache(maxsize=64)
def hostile_requests(kind: str, key: Secret | str, bad_body_statuses: frozenset[int]) -> st.SearchStrategy:
    """Hostile requests of one kind (see KINDS) around the target's partner key."""
    if kind == "wrong key":
        return _wrong_keys(key)
    if kind == "missing key":
        return _missing_key(key)
    if kind == "bad body":
        return _bad_bodies(key, bad_body_statuses)
    if kind == "unknown token":
        return _unknown_tokens(key)
    if kind == "missing token":
        return _missing_token(key)
    raise ValueError(f"unknown kind of hostile request {kind!r}; known: {', '.join(KINDS)}")

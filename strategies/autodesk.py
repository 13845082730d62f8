"""Hypothesis strategies for Autodesk APS token requests: valid ones and hostile ones, each with the
statuses the documentation allows for it (seed 002, VENDORS.md §1).

The public strategy builders are cached (`lru_cache`): a test draws from them once per example, and a strategy
built once is validated by hypothesis once, not once per example."""

from __future__ import annotations

import base64
from functools import lru_cache
from urllib.parse import urlencode

from hypothesis import strategies as st

from authcanary.suite import HostileRequest, Secret, reveal

V1 = "/authentication/v1/authenticate"
V2 = "/authentication/v2/token"
FORM = "application/x-www-form-urlencoded"
SCOPES = ["data:read", "data:write", "data:create", "bucket:read", "bucket:create", "viewables:read"]


def basic(client_id: str, client_secret: Secret | str) -> str:
    """The Basic Authorization header (the secret revealed here, where the request is built)."""
    return "Basic " + base64.b64encode(f"{client_id}:{reveal(client_secret)}".encode()).decode()


def _text(min_size: int = 1, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=min_size, max_size=max_size)


hostile_values = st.one_of(
    st.just(""),
    _text(),
    st.text(alphabet="é漢字🔑\u200b\u202e", min_size=1, max_size=20),  # unicode, zero-width, bidi override
    st.integers(2_000, 20_000).map(lambda n: "A" * n),  # huge
)
unknown_grant_types = st.one_of(
    st.sampled_from(
        [
            "password",
            "authorization_code",
            "refresh_token",
            "implicit",
            "CLIENT_CREDENTIALS",
            "client_credentials ",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
        ]
    ),
    _text().filter(lambda g: g != "client_credentials"),
)
wrong_content_types = st.sampled_from(
    [
        None,
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/x-www-form-urlencodedx",
    ]
)


@lru_cache(maxsize=64)
def token_requests(
    client_id: str, client_secret: Secret | str, paths: tuple[str, ...] = (V1, V2)
) -> st.SearchStrategy[HostileRequest]:
    """Hostile requests for a client with valid credentials; every one must be rejected as documented.

    `paths`: the token endpoints to aim at (v2 only once v1 is decommissioned); v2-only kinds need V2 among them."""
    if not paths or set(paths) - {V1, V2}:
        raise ValueError(f"paths must be among {V1} and {V2}, got {paths!r}")
    versions = st.sampled_from(list(paths))

    def form(
        path: str,
        fields: list[tuple[str, str]],
        allowed: set[int],
        kind: str,
        content_type: str | None = FORM,
        headers: dict[str, str] | None = None,
    ) -> HostileRequest:
        all_headers = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
        return HostileRequest(kind, "POST", path, all_headers, urlencode(fields).encode(), frozenset(allowed))

    valid = [("client_id", client_id), ("client_secret", reveal(client_secret)), ("grant_type", "client_credentials")]

    wrong_content_type = st.builds(
        lambda path, ctype, as_json: HostileRequest(
            "wrong or missing content type",
            "POST",
            path,
            {"Content-Type": ctype} if ctype else {},
            (b'{"client_id": "%s"}' % client_id.encode()) if as_json else urlencode(valid).encode(),
            frozenset({415}),
        ),
        versions,
        wrong_content_types,
        st.booleans(),
    )
    repeated = st.builds(
        lambda path, name, value: form(path, [*valid, (name, value)], {400}, f"repeated parameter {name}"),
        versions,
        st.sampled_from(["client_id", "client_secret", "grant_type"]),
        hostile_values,
    )
    unknown_grant = st.builds(
        lambda path, grant: form(path, [valid[0], valid[1], ("grant_type", grant)], {400}, "unknown grant type"),
        versions,
        unknown_grant_types,
    )
    bad_credential_value = st.builds(
        # an empty value is a missing parameter (400); any other wrong value is an invalid pair (401)
        lambda path, field, value: form(
            path,
            [(k, value if k == field else v) for k, v in valid],
            {400} if value == "" else {401},
            f"hostile {field}",
        ),
        versions,
        st.sampled_from(["client_id", "client_secret"]),
        hostile_values,
    )
    both_places = st.builds(
        lambda scope: form(
            V2,
            [*valid, ("scope", scope)],
            {400},
            "v2 credentials in header and body",
            headers={"Authorization": basic(client_id, client_secret)},
        ),
        st.sampled_from(SCOPES),
    )
    kinds = [wrong_content_type, repeated, unknown_grant, bad_credential_value]
    return st.one_of(*kinds, both_places) if V2 in paths else st.one_of(*kinds)


@lru_cache(maxsize=64)
def valid_token_requests(
    client_id: str, client_secret: Secret | str, paths: tuple[str, ...] = (V1, V2)
) -> st.SearchStrategy[HostileRequest]:
    """Valid requests in every documented shape (each must get a token): credentials in the body or, on v2, in a
    Basic header; the optional `scope` absent or a list of scopes; the fields in any order."""

    def build(path: str, in_header: bool, scope: str | None, order: list[int]) -> HostileRequest:
        fields = [("grant_type", "client_credentials")]
        if not in_header:
            fields += [("client_id", client_id), ("client_secret", reveal(client_secret))]
        if scope is not None:
            fields.append(("scope", scope))
        fields = [fields[i] for i in order if i < len(fields)]
        headers = {"Content-Type": FORM, **({"Authorization": basic(client_id, client_secret)} if in_header else {})}
        shape = f"{'Basic header' if in_header else 'body'} credentials, {'no scope' if scope is None else 'scope'}"
        return HostileRequest(
            f"valid request ({shape})", "POST", path, headers, urlencode(fields).encode(), frozenset({200})
        )

    shapes = {
        path: st.builds(
            build,
            st.just(path),
            st.booleans() if path == V2 else st.just(False),
            st.none() | scope_strings(),
            st.permutations(range(4)),
        )
        for path in paths
    }
    return st.sampled_from(list(paths)).flatmap(shapes.__getitem__)


def scope_strings() -> st.SearchStrategy[str]:
    """Valid scope lists, space separated."""
    return st.lists(st.sampled_from(SCOPES), min_size=1, max_size=4, unique=True).map(" ".join)

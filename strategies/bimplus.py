"""Hypothesis strategies for the Bimplus legacy authorization service: hostile authorize and cross-authorize
requests and hostile Authorization headers, each with the statuses the documentation allows (seed 001,
VENDORS.md §2, contracts/bimplus/semantics.yaml).

Requests that could count as a failed login for a configured account say so (`risks_lockout`); given
`lockout_risk_ok=False` the strategies produce none of them, so a live account is never locked.

The public strategy builders are cached (`lru_cache`): a test draws from them once per example, and a strategy
built once is validated by hypothesis once, not once per example."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hypothesis import strategies as st

from authcanary.suite import HostileRequest as BaseHostileRequest
from authcanary.suite import Secret, reveal

AUTHORIZE = "/v2/authorize"
CROSS_TOKEN = "/v2/cross-token"
CROSS_AUTHORIZE = "/v2/cross-authorize"
JSON = "application/json"
CLIENT_ERRORS = frozenset(range(400, 500))
BAD_CREDENTIALS = frozenset({401})  # semantics.yaml bad_credentials_status
DEAD_TOKEN = frozenset({401})  # semantics.yaml tokens.dead_status
DOCUMENTED_FIELDS = frozenset(
    {
        "user_id",
        "password",
        "client_id",
        "application_id",
        "remember_me",
        "remember_me_token",
        "remeber_me_token",
        "cross_token",
        "team_id",
        "project_id",
    }
)


@dataclass(frozen=True)
class Login:
    """The credentials hostile requests are built around (the target's first configured user); the password stays a
    `Secret` (masked wherever hypothesis prints it) until a request body is built."""

    user: str
    password: Secret
    application_id: str


@dataclass(frozen=True, repr=False)
class HostileRequest(BaseHostileRequest):
    """A hostile Bimplus request: what the documentation allows for it, and whether a 200 must honour a remember_me
    sent as a string."""

    remember_me: bool | None = None  # remember_me sent as a string: a 200 must honour this value


def bimplus_auth(token: str) -> dict[str, str]:
    """The legacy Authorization header."""
    return {"Authorization": f"BimPlus {token}"}


def _json_post(
    kind: str,
    path: str,
    body: dict[str, Any],
    allowed: frozenset[int],
    login: Login | None = None,
    content_type: str | None = JSON,
    remember_me: bool | None = None,
) -> HostileRequest:
    risks_lockout = (
        login is not None
        and isinstance(body.get("user_id"), str)
        and body["user_id"].lower() == login.user.lower()
        and body.get("password") != reveal(login.password)
    )
    return HostileRequest(
        kind,
        "POST",
        path,
        {"Content-Type": content_type} if content_type else {},
        json.dumps(body).encode(),
        allowed,
        risks_lockout,
        remember_me,
    )


def _valid(login: Login) -> dict[str, Any]:
    return {"user_id": login.user, "password": reveal(login.password), "application_id": login.application_id}


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
# Values no JSON binder turns into a string: an array or an object where the table says `string`.
_not_a_string = st.one_of(st.lists(_scalars, max_size=3), st.dictionaries(st.text(max_size=5), _scalars, max_size=3))
_hex32 = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
_huge = st.integers(2_000, 20_000).map(lambda n: "A" * n)
# Plain text strategies where a regex would do: hypothesis' regex strategies are several times slower to draw from.
_unknown_users = st.text(alphabet=string.ascii_lowercase, min_size=3, max_size=12).map(lambda n: f"{n}@unknown.invalid")


def _identifiers(rest: str, min_rest: int, max_rest: int) -> st.SearchStrategy[str]:
    """`[a-z][<rest>]{min_rest,max_rest}`: a lower-case letter, then characters of `rest`."""
    return st.tuples(
        st.sampled_from(string.ascii_lowercase), st.text(alphabet=rest, min_size=min_rest, max_size=max_rest)
    ).map("".join)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# Look-alikes of an e-mail: NFKC folds the first two back onto the original, the others stay distinct.
_LOOK_ALIKES = {
    "fullwidth": _fullwidth,
    "fullwidth first letter": lambda e: _fullwidth(e[0]) + e[1:],
    "cyrillic e/o/a": lambda e: e.translate(str.maketrans({"e": "\u0435", "o": "\u043e", "a": "\u0430"})),
    "zero-width space": lambda e: e.replace("@", "\u200b@"),
    "combining accent": lambda e: e[0] + "\u0301" + e[1:],
    "no-break space": lambda e: e + "\u00a0",
}


@lru_cache(maxsize=64)
def hostile_requests(kind: str, login: Login, lockout_risk_ok: bool) -> st.SearchStrategy[HostileRequest]:
    """Hostile requests of one kind (see KINDS) for the target's configured login."""
    return _KINDS[kind](login, lockout_risk_ok)


def _wrong_password(login: Login, lockout_risk_ok: bool) -> st.SearchStrategy[HostileRequest]:
    if lockout_risk_ok:
        passwords = st.text(st.characters(codec="utf-8"), min_size=1, max_size=30).filter(
            lambda p: p != reveal(login.password)
        )
        return passwords.map(
            lambda p: _json_post("wrong password", AUTHORIZE, {**_valid(login), "password": p}, BAD_CREDENTIALS, login)
        )
    return _unknown_users.map(
        lambda user: _json_post("unknown user", AUTHORIZE, {**_valid(login), "user_id": user}, BAD_CREDENTIALS, login)
    )


def _missing_field(login: Login, lockout_risk_ok: bool) -> st.SearchStrategy[HostileRequest]:
    fields = ["application_id", "user_id", *(["password"] if lockout_risk_ok else [])]
    password_login = st.sampled_from(fields).map(
        lambda field: _json_post(
            f"missing {field}", AUTHORIZE, {k: v for k, v in _valid(login).items() if k != field}, CLIENT_ERRORS, login
        )
    )
    remember_me_login = _hex32.map(
        lambda token: _json_post(
            "remember-me login without client_id",
            AUTHORIZE,
            {"remember_me": True, "remember_me_token": token, "application_id": login.application_id},
            CLIENT_ERRORS,
        )
    )
    return st.one_of(password_login, remember_me_login)


def _mistyped_field(login: Login, lockout_risk_ok: bool) -> st.SearchStrategy[HostileRequest]:
    fields = ["application_id", "client_id", "user_id", *(["password"] if lockout_risk_ok else [])]
    string_fields = st.builds(
        lambda field, value: _json_post(
            f"mistyped {field}", AUTHORIZE, {**_valid(login), field: value}, CLIENT_ERRORS, login
        ),
        st.sampled_from(fields),
        _not_a_string,
    )
    remember_me = st.one_of(st.sampled_from(["maybe", "yes", "1", ""]), _not_a_string).map(
        lambda value: _json_post(
            "mistyped remember_me", AUTHORIZE, {**_valid(login), "remember_me": value}, CLIENT_ERRORS, login
        )
    )
    return st.one_of(string_fields, remember_me)


def _extra_fields(login: Login, lockout_risk_ok: bool) -> st.SearchStrategy[HostileRequest]:
    names = _identifiers(string.ascii_lowercase + string.digits + "_", 0, 15).filter(
        lambda n: n not in DOCUMENTED_FIELDS
    )
    extras = st.dictionaries(names, st.one_of(_scalars, _not_a_string, _huge), min_size=1, max_size=3)
    # Undocumented fields may be ignored (200) or refused (400/422); never anything else.
    return extras.map(
        lambda extra: _json_post(
            "extra fields", AUTHORIZE, {**_valid(login), **extra}, frozenset({200, 400, 422}), login
        )
    )


def _wrong_content_type(login: Login, lockout_risk_ok: bool) -> st.SearchStrategy[HostileRequest]:
    content_types = st.sampled_from(
        [
            "text/plain",
            None,
            "application/xml",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
        ]
    )
    return st.builds(
        lambda path, content_type: _json_post(
            f"Content-Type {content_type or 'missing'}",
            path,
            _valid(login) if path == AUTHORIZE else {"cross_token": "0" * 32},
            CLIENT_ERRORS,
            login,
            content_type,
        ),
        st.sampled_from([AUTHORIZE, CROSS_AUTHORIZE]),
        content_types,
    )


def _huge_value(login: Login, lockout_risk_ok: bool) -> st.SearchStrategy[HostileRequest]:
    fields = ["user_id", *(["password"] if lockout_risk_ok else [])]
    return st.builds(
        lambda field, value: _json_post(
            f"huge {field}", AUTHORIZE, {**_valid(login), field: value}, CLIENT_ERRORS, login
        ),
        st.sampled_from(fields),
        _huge,
    )


def _unicode_email(login: Login, lockout_risk_ok: bool) -> st.SearchStrategy[HostileRequest]:
    look_alike = st.sampled_from(list(_LOOK_ALIKES)).map(
        lambda name: (f"look-alike e-mail ({name})", _LOOK_ALIKES[name](login.user))
    )
    unicode_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=20)
    arbitrary = st.builds(lambda local, domain: ("unicode e-mail", f"{local}@{domain}"), unicode_text, unicode_text)
    return (
        st.one_of(look_alike, arbitrary)
        .filter(lambda pair: pair[1] != login.user)
        .map(lambda pair: _json_post(pair[0], AUTHORIZE, {**_valid(login), "user_id": pair[1]}, CLIENT_ERRORS, login))
    )


def _remember_me_string(login: Login, lockout_risk_ok: bool) -> st.SearchStrategy[HostileRequest]:
    # The tables say bool, the examples send "true": honoured like the bool, or refused with a 4xx.
    return st.sampled_from(["true", "false", "True", "FALSE"]).map(
        lambda value: _json_post(
            f"remember_me as the string {value!r}",
            AUTHORIZE,
            {**_valid(login), "remember_me": value},
            CLIENT_ERRORS | {200},
            login,
            remember_me=value.lower() == "true",
        )
    )


def _hostile_cross_authorize(login: Login, lockout_risk_ok: bool) -> st.SearchStrategy[HostileRequest]:
    def post(kind: str, body: dict[str, Any], allowed: frozenset[int] = CLIENT_ERRORS) -> HostileRequest:
        return _json_post(kind, CROSS_AUTHORIZE, {**body, "application_id": login.application_id}, allowed)

    return st.one_of(
        _hex32.map(lambda token: post("unknown cross token", {"cross_token": token}, DEAD_TOKEN)),
        st.just(post("missing cross_token", {})),
        _not_a_string.map(lambda value: post("mistyped cross_token", {"cross_token": value})),
        _huge.map(lambda value: post("huge cross_token", {"cross_token": value})),
    )


_KINDS = {
    "wrong password": _wrong_password,  # first: it gets the live failed-login budget before the others
    "missing field": _missing_field,
    "mistyped field": _mistyped_field,
    "extra fields": _extra_fields,
    "wrong content type": _wrong_content_type,
    "huge value": _huge_value,
    "unicode e-mail": _unicode_email,
    "remember_me as string": _remember_me_string,
    "hostile cross-authorize": _hostile_cross_authorize,
}
KINDS = list(_KINDS)

_garbage = st.text(alphabet=string.ascii_letters + string.digits + "-._~+/=", min_size=1, max_size=64)


@lru_cache(maxsize=64)
def malformed_authorizations(paths: tuple[tuple[str, str], ...]) -> st.SearchStrategy[HostileRequest]:
    """Token-protected calls (method, path) with a missing, malformed or unknown token: 401 everywhere."""
    headers = st.one_of(
        st.just(("no Authorization header", {}, DEAD_TOKEN)),
        _hex32.map(lambda token: ("unknown token", bimplus_auth(token), DEAD_TOKEN)),
        st.just(("scheme without token", {"Authorization": "BimPlus"}, DEAD_TOKEN)),
        _hex32.map(lambda token: ("Bearer scheme", {"Authorization": f"Bearer {token}"}, DEAD_TOKEN)),
        _garbage.map(lambda token: ("garbage token", bimplus_auth(token), DEAD_TOKEN)),
        _garbage.map(lambda value: ("Basic credentials", {"Authorization": f"Basic {value}"}, DEAD_TOKEN)),
        _huge.map(lambda token: ("huge token", bimplus_auth(token), frozenset({400, 401, 413, 431}))),
    )
    return st.builds(
        lambda call, header: HostileRequest(header[0], call[0], call[1], header[1], b"", header[2]),
        st.sampled_from(paths),
        headers,
    )

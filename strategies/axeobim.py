"""Hypothesis strategies for the AxeoBIM token calls (seed 000, VENDORS.md §3): valid requests in every documented
shape and hostile ones, each a `HostileRequest` that knows the statuses the documentation allows for it.

Step 1 is `POST /oauth/authenticate` (form: grant_type client_credentials, client_id, client_secret, scope); step 2
`POST /cerqual/authenticate_user` with `Authorization: Bearer <step-1 token>` (form: grant_type cerqual, email,
scope). A missing, bad, forged or expired bearer is 401 ("re-authenticate"); a malformed request is 400
("re-authenticating won't help"); a wrong client or an unknown user is 400 or 401 (contracts/axeobim/semantics.yaml,
ambiguities).

The public strategy builders are cached (`lru_cache`): a test draws from them once per example, and a strategy
built once is validated by hypothesis once, not once per example."""

from __future__ import annotations

import base64
import json
import secrets
import string
from functools import cache, lru_cache
from urllib.parse import urlencode

from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from authcanary.suite import HostileRequest, Secret, decode_unverified, reveal

CLIENT = "/oauth/authenticate"
USER = "/cerqual/authenticate_user"
FORM = "application/x-www-form-urlencoded"
CLIENT_GRANT = "client_credentials"
USER_GRANT = "cerqual"
MALFORMED = frozenset({400})  # "Bad OAuth request ... re-authenticating the user won't help"
BAD_BEARER = frozenset({401})  # "Bad or expired token ... re-authenticate the user"
WRONG_CLIENT = frozenset({400, 401})  # "wrong consumer key" (400) or invalid_client (401): an ambiguity
UNKNOWN_USER = frozenset({400, 401})  # not documented: an ambiguity
NOT_A_FORM = frozenset({400, 415})  # the form parameters are missing whatever the server makes of the body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _text(min_size: int = 1, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=min_size, max_size=max_size)


hostile_values = st.one_of(
    st.just(""),
    _text(),
    st.text(alphabet="é漢字🔑\u200b\u202e", min_size=1, max_size=20),  # unicode, zero-width, bidi override
    st.integers(2_000, 20_000).map(lambda n: "A" * n),  # huge
)


def _grant_types(documented: str) -> st.SearchStrategy[str | None]:
    """A grant_type that is not `documented` (None: the parameter left out)."""
    return st.one_of(
        st.none(),
        st.sampled_from(
            [
                "",
                "password",
                "authorization_code",
                "refresh_token",
                "implicit",
                CLIENT_GRANT if documented == USER_GRANT else USER_GRANT,
                documented.upper(),
                f"{documented} ",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
            ]
        ),
        _text().filter(lambda grant: grant != documented),
    )


def _request(
    kind: str,
    path: str,
    fields: list[tuple[str, str]],
    allowed: frozenset[int],
    *,
    headers: dict[str, str] | None = None,
    content_type: str = FORM,
) -> HostileRequest:
    return HostileRequest(
        kind, "POST", path, {"Content-Type": content_type, **(headers or {})}, urlencode(fields).encode(), allowed
    )


# -- step 1 ----------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def client_requests(kind: str, client_id: str, client_secret: Secret | str) -> st.SearchStrategy[HostileRequest]:
    """Hostile client-credentials requests of one kind (`CLIENT_KINDS`) for a client with valid credentials: every
    one is refused as documented."""
    valid = [("grant_type", CLIENT_GRANT), ("client_id", client_id), ("client_secret", reveal(client_secret))]

    def without(name: str) -> list[tuple[str, str]]:
        return [(key, value) for key, value in valid if key != name]

    def wrong(name: str) -> st.SearchStrategy[HostileRequest]:
        return hostile_values.filter(lambda value: value not in (client_id, reveal(client_secret))).map(
            lambda value: _request(
                f"wrong {name}", CLIENT, [(key, value if key == name else v) for key, v in valid], WRONG_CLIENT
            )
        )

    if kind == "unsupported grant_type":
        return _grant_types(CLIENT_GRANT).map(
            lambda grant: _request(
                "unsupported or missing grant_type",
                CLIENT,
                without("grant_type") + ([("grant_type", grant)] if grant is not None else []),
                MALFORMED,
            )
        )
    if kind == "missing client_id":
        return st.just(_request("missing client_id", CLIENT, without("client_id"), MALFORMED))
    if kind in ("wrong client_id", "wrong client_secret"):
        return wrong(kind.removeprefix("wrong "))
    if kind == "repeated parameter":
        return st.builds(
            # the hostile copy comes last: a service that keeps the last value refuses it too
            lambda name, value: _request(
                f"repeated {name}", CLIENT, [*valid, (name, value)], MALFORMED if name == "grant_type" else WRONG_CLIENT
            ),
            st.sampled_from(["grant_type", "client_id", "client_secret"]),
            hostile_values,
        )
    if kind == "not a form":
        return st.sampled_from(["text/plain", "application/xml"]).map(
            lambda content_type: _request(
                "form fields under another Content-Type", CLIENT, valid, NOT_A_FORM, content_type=content_type
            )
        )
    raise ValueError(f"unknown kind {kind!r}; known: {', '.join(CLIENT_KINDS)}")


CLIENT_KINDS = [
    "unsupported grant_type",
    "missing client_id",
    "wrong client_id",
    "wrong client_secret",
    "repeated parameter",
    "not a form",
]


@lru_cache(maxsize=64)
def valid_client_requests(client_id: str, client_secret: Secret | str, scope: str) -> st.SearchStrategy[HostileRequest]:
    """Valid client-credentials requests in every documented shape: the optional `scope` absent or the configured
    one, the fields in any order. Each must get a token."""

    def build(with_scope: bool, order: list[int]) -> HostileRequest:
        fields = [("grant_type", CLIENT_GRANT), ("client_id", client_id), ("client_secret", reveal(client_secret))]
        if with_scope:
            fields.append(("scope", scope))
        fields = [fields[i] for i in order if i < len(fields)]
        shape = "scope" if with_scope else "no scope"
        return _request(f"valid client request ({shape})", CLIENT, fields, frozenset({200}))

    return st.builds(build, st.booleans(), st.permutations(range(4)))


# -- step 2 ----------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def user_requests(kind: str, token: str, email: str) -> st.SearchStrategy[HostileRequest]:
    """Hostile user-token requests of one kind (`USER_KINDS`) sent with a valid client token `token`: malformed forms
    get 400, an e-mail that is no Cerqual user 400 or 401."""
    headers = bearer(token)
    valid = [("grant_type", USER_GRANT), ("email", email)]
    others = hostile_values.filter(lambda value: value.lower() != email.lower())

    def form(kind: str, fields: list[tuple[str, str]], allowed: frozenset[int], **kwargs) -> HostileRequest:
        return _request(kind, USER, fields, allowed, headers=headers, **kwargs)

    if kind == "unsupported grant_type":
        return _grant_types(USER_GRANT).map(
            lambda grant: form(
                "unsupported or missing grant_type",
                [("email", email)] + ([("grant_type", grant)] if grant is not None else []),
                MALFORMED,
            )
        )
    if kind == "missing email":
        return st.just(form("missing email", [("grant_type", USER_GRANT)], MALFORMED))
    if kind == "unknown user":
        return st.one_of(st.emails().filter(lambda value: value.lower() != email.lower()), others).map(
            lambda value: form("an e-mail that is no Cerqual user", [*valid[:1], ("email", value)], UNKNOWN_USER)
        )
    if kind == "repeated parameter":
        return st.builds(
            lambda name, value: form(
                f"repeated {name}",
                [*valid, (name, value)],
                MALFORMED if name == "grant_type" else MALFORMED | UNKNOWN_USER,
            ),
            st.sampled_from(["grant_type", "email"]),
            others,
        )
    if kind == "not a form":
        return st.sampled_from(["text/plain", "application/xml"]).map(
            lambda content_type: form(
                "form fields under another Content-Type", valid, NOT_A_FORM, content_type=content_type
            )
        )
    raise ValueError(f"unknown kind {kind!r}; known: {', '.join(USER_KINDS)}")


USER_KINDS = ["unsupported grant_type", "missing email", "unknown user", "repeated parameter", "not a form"]


@lru_cache(maxsize=64)
def valid_user_requests(token: str, email: str, scope: str) -> st.SearchStrategy[HostileRequest]:
    """Valid user-token requests in every documented shape: the optional `scope` absent, the configured one or a
    part of it, the fields in any order. Each must get a token."""
    scopes = scope.split()

    def build(chosen: list[str] | None, order: list[int]) -> HostileRequest:
        fields = [("grant_type", USER_GRANT), ("email", email)]
        if chosen is not None:
            fields.append(("scope", " ".join(chosen)))
        fields = [fields[i] for i in order if i < len(fields)]
        shape = "no scope" if chosen is None else f"{len(chosen)} scope(s)"
        return _request(f"valid user request ({shape})", USER, fields, frozenset({200}), headers=bearer(token))

    parts = st.lists(st.sampled_from(scopes), min_size=1, max_size=len(scopes), unique=True) if scopes else st.none()
    return st.builds(build, st.none() | parts, st.permutations(range(3)))


# -- bad bearers -----------------------------------------------------------------------------------------------------
@cache
def foreign_key() -> RSAKey:
    """An RSA key of the harness's own: a token it signs is signed by "another key" for the vendor."""
    key = RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return key


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def forgeable(token: str | None) -> bool:
    """Whether `token` is a JWT whose claims a forgery can copy."""
    try:
        decode_unverified(token or "")
    except ValueError:
        return False
    return True


def forged(token: str, how: str) -> str:
    """`token`'s own claims under a signature that is not the vendor's: `foreign-key` (RS256 by the harness's key),
    `unsigned` (alg none), `hs256` (HMAC with a secret of the harness's) or `tampered` (the vendor's signature over
    other claims)."""
    header, claims = decode_unverified(token)
    if how == "foreign-key":
        return jwt.encode({"typ": "JWT", "alg": "RS256"}, claims, foreign_key())
    if how == "unsigned":
        return f"{_b64({'typ': 'JWT', 'alg': 'none'})}.{_b64(claims)}."
    if how == "hs256":
        secret = OctKey.import_key(secrets.token_bytes(32))
        return jwt.encode({"typ": "JWT", "alg": "HS256"}, claims, secret, algorithms=["HS256"])
    if how == "tampered":
        signature = token.rsplit(".", 1)[1]
        return f"{_b64(header)}.{_b64({**claims, 'scopes': ['administration', 'superuser']})}.{signature}"
    raise ValueError(f"unknown forgery {how!r}")


FORGERIES = ("foreign-key", "unsigned", "hs256", "tampered")


@lru_cache(maxsize=64)
def bearer_problems(kind: str, token: str | None, email: str) -> st.SearchStrategy[HostileRequest]:
    """A documented user-token form under a missing, malformed or forged bearer (`BEARER_KINDS`): 401 every time. The
    forgeries copy the claims of `token`, a genuine client token (without one, or when it is no JWT, that kind is the
    missing header)."""
    fields = [("grant_type", USER_GRANT), ("email", email)]

    def form(kind: str, headers: dict[str, str], allowed: frozenset[int] = BAD_BEARER) -> HostileRequest:
        return _request(kind, USER, fields, allowed, headers=headers)

    garbage = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=60)
    if kind == "missing" or (kind == "forged" and not forgeable(token)):
        return st.just(form("no Authorization header", {}))
    if kind == "garbage":
        return st.one_of(
            garbage.map(lambda value: form("garbage bearer", bearer(value))),
            st.just(form("JWT-shaped garbage", bearer("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"))),
        )
    if kind == "another scheme":
        return garbage.map(
            lambda value: form("Basic credentials instead of a bearer", {"Authorization": f"Basic {value}"})
        )
    if kind == "huge":
        return st.integers(4_000, 8_000).map(
            lambda n: form("huge bearer", bearer("A" * n), frozenset({400, 401, 413, 431}))
        )
    if kind == "forged":
        assert token is not None  # forgeable
        return st.sampled_from(FORGERIES).map(lambda how: form(f"bearer {how}", bearer(forged(token, how))))
    raise ValueError(f"unknown kind {kind!r}; known: {', '.join(BEARER_KINDS)}")


BEARER_KINDS = ["missing", "garbage", "another scheme", "huge", "forged"]

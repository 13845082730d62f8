"""Hypothesis strategies for the Bimplus OIDC provider (a Keycloak realm): hostile token, introspection and revocation
requests, each with the statuses RFC 6749 §5.2, RFC 7662, RFC 7009 and contracts/bimplus/oidc/ allow for it, and
valid token requests in every documented shape.

Every request carries the configured user's right password, or an unknown user's: a request that could count as a
failed login for the configured account says so (`risks_lockout`), and with `lockout_risk_ok=False` none is made, so a
live account is never locked. Endpoint URLs are absolute (under the issuer, which may be another host than the BIM+
API); secrets stay `Secret` until a request is built.

The public strategy builders are cached (`lru_cache`): a test draws from them once per example, and a strategy
built once is validated by hypothesis once, not once per example."""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from authcanary.suite import HostileRequest, Secret, reveal

FORM = "application/x-www-form-urlencoded"
GRANTS = frozenset({"password", "client_credentials", "refresh_token"})  # what the contract documents
HINTS = ("access_token", "refresh_token")  # RFC 7009 §2.1, RFC 7662 §2.1
HUGE = frozenset({413})  # a body over the server's limit (RFC 9110 §15.5.14) is refused as such, not judged
INVALID_REQUEST = frozenset({400})  # RFC 6749 §5.2 invalid_request, invalid_grant, unsupported_grant_type
BAD_CLIENT = frozenset({401})  # RFC 6749 §5.2: invalid_client after an Authorization header attempt MUST be 401
CLIENT_REFUSED = frozenset({400, 401})  # invalid_client otherwise: 401, or 400 (RFC 6749 §5.2)
NOT_A_FORM = frozenset({400, 401, 415})  # invalid_request, invalid_client (unreadable body) or 415 (RFC 9110)


@dataclass(frozen=True, repr=False)
class OidcRequest(HostileRequest):
    """A request to the realm and what the documentation allows for it."""

    #: a 200 answer must be an introspection answer saying `active: false` (RFC 7662 §2.2)
    inactive: bool = False


@dataclass(frozen=True)
class Realm:
    """What the requests are built around: the realm's endpoints, the harness's client (no secret: a public client)
    and the target's first user."""

    token: str
    introspection: str
    revocation: str
    client_id: str
    client_secret: Secret | None
    user: str
    password: Secret
    scope: str

    @property
    def confidential(self) -> bool:
        return self.client_secret is not None


def basic(client_id: str, secret: str) -> dict[str, str]:
    """HTTP Basic client authentication, each part form-encoded first (RFC 6749 §2.3.1)."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def _authenticated(
    realm: Realm, fields: list[tuple[str, str]], in_header: bool
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """`fields` with the harness's client authentication: a Basic header, or client_id (and client_secret) in the body
    (a public client always sends only its client_id)."""
    if realm.client_secret is not None and in_header:
        return fields, basic(realm.client_id, reveal(realm.client_secret))
    body = [("client_id", realm.client_id)]
    if realm.client_secret is not None:
        body.append(("client_secret", reveal(realm.client_secret)))
    return [*fields, *body], {}


def _request(
    kind: str,
    url: str,
    fields: list[tuple[str, str]],
    allowed: frozenset[int],
    headers: dict[str, str] | None = None,
    *,
    content_type: str | None = FORM,
    risks_lockout: bool = False,
    inactive: bool = False,
) -> OidcRequest:
    all_headers = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    huge = any(len(value) > 1000 for _, value in fields)
    return OidcRequest(
        kind,
        "POST",
        url,
        all_headers,
        urlencode(fields).encode(),
        allowed | HUGE if huge else allowed,
        risks_lockout,
        inactive,
    )


def _login(realm: Realm, user: str | None = None, password: str | None = None) -> list[tuple[str, str]]:
    """A password grant: the configured user and password unless told otherwise."""
    return [
        ("grant_type", "password"),
        ("username", realm.user if user is None else user),
        ("password", reveal(realm.password) if password is None else password),
        ("scope", realm.scope),
    ]


def _text(min_size: int = 1, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=min_size, max_size=max_size)


_huge = st.integers(2_000, 20_000).map(lambda n: "A" * n)
#: an empty, unicode (zero-width, bidi override), arbitrary or huge value
hostile_values = st.one_of(
    st.just(""),
    st.text(alphabet="é漢字🔑\u200b\u202e", min_size=1, max_size=20),
    _text(),
    _huge,
)
# Plain text strategies where a regex would do: hypothesis' regex strategies are several times slower to draw from.
_unknown_users = st.text(alphabet=string.ascii_lowercase, min_size=3, max_size=12).map(lambda n: f"{n}@unknown.invalid")
#: `[a-z][a-z0-9-]{2,20}`: a client id of the usual shape
_client_ids = st.tuples(
    st.sampled_from(string.ascii_lowercase),
    st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=2, max_size=20),
).map("".join)
_hex = st.text(alphabet="0123456789abcdef", min_size=32, max_size=40)
_b64url = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=4, max_size=40)


def _segment(document: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


# Tokens no realm issued: garbage, a JWT signed by nobody we know, an unsigned JWT (alg none), empty, huge.
_foreign_jwts = st.builds(
    lambda sub, signature: ".".join(
        [
            _segment({"alg": "RS256", "typ": "JWT", "kid": "not-a-realm-key"}),
            _segment({"sub": sub, "exp": 4_102_444_800, "iat": 1_700_000_000, "typ": "Bearer", "scope": "openid"}),
            signature,
        ]
    ),
    st.uuids().map(str),
    _b64url,
)
_unsigned_jwts = st.uuids().map(
    lambda sub: ".".join(
        [_segment({"alg": "none", "typ": "JWT"}), _segment({"sub": str(sub), "exp": 4_102_444_800}), ""]
    )
)
unknown_tokens = st.one_of(_hex, _foreign_jwts, _unsigned_jwts, _text(), st.just(""), _huge)


def _wrong(value: str) -> Callable[[str], bool]:
    return lambda other: other != value


# -- the token endpoint ---------------------------------------------------------------------------------------------
def _token(
    realm: Realm,
    kind: str,
    fields: list[tuple[str, str]],
    allowed: frozenset[int],
    in_header: bool = True,
    risks_lockout: bool = False,
) -> OidcRequest:
    """A token request of `fields`, the harness's client authenticated."""
    fields, headers = _authenticated(realm, fields, in_header)
    return _request(kind, realm.token, fields, allowed, headers, risks_lockout=risks_lockout)


def _bad_user_credentials(realm: Realm, lockout_risk_ok: bool) -> st.SearchStrategy[OidcRequest]:
    """RFC 6749 §5.2 invalid_grant (400; Keycloak before 2x answered 401): an unknown user, or, within the failed-login
    budget, the configured user with a wrong password."""
    unknown = st.builds(
        lambda user, password, in_header: _token(
            realm, "unknown user", _login(realm, user, password), INVALID_REQUEST, in_header
        ),
        _unknown_users,
        st.none() | _text(),  # None: the configured password
        st.booleans(),
    )
    if not lockout_risk_ok:
        return unknown
    wrong = st.builds(
        lambda password, in_header: _token(
            realm, "wrong password", _login(realm, password=password), INVALID_REQUEST, in_header, risks_lockout=True
        ),
        hostile_values.filter(lambda password: password != reveal(realm.password)),
        st.booleans(),
    )
    return st.one_of(wrong, unknown)


def _bad_client(realm: Realm, lockout_risk_ok: bool) -> st.SearchStrategy[OidcRequest]:
    """invalid_client: 401 after an Authorization header attempt (RFC 6749 §5.2), 400 or 401 otherwise. The user's
    credentials are right: the client is refused before (and whatever) the user is checked."""

    def secret() -> str:
        return reveal(realm.client_secret) if realm.client_secret is not None else ""

    def header(kind: str, client_id: str, client_secret: str | None = None) -> OidcRequest:
        credentials = basic(client_id, secret() or "x" if client_secret is None else client_secret)
        return _request(kind, realm.token, _login(realm), BAD_CLIENT, credentials)

    def body(kind: str, client_id: str, client_secret: str | None = None) -> OidcRequest:
        fields = [*_login(realm), ("client_id", client_id)]
        if client_secret is not None:
            fields.append(("client_secret", client_secret))
        return _request(kind, realm.token, fields, CLIENT_REFUSED)

    other_clients = _client_ids.filter(_wrong(realm.client_id))
    cases = [other_clients.map(lambda client_id: header("unknown client in a Basic header", client_id))]
    if realm.client_secret is not None:
        cases.append(
            hostile_values.filter(lambda wrong: wrong != secret()).map(
                lambda wrong: header("wrong client secret in a Basic header", realm.client_id, wrong)
            )
        )
    cases.append(
        st.sampled_from(
            [
                ("Basic header without credentials", "Basic"),
                ("Basic header not base64", "Basic !!not-base64!!"),
                ("Basic header without a colon", "Basic " + base64.b64encode(realm.client_id.encode()).decode()),
                ("Basic header of empty credentials", "Basic " + base64.b64encode(b":").decode()),
            ]
        ).map(lambda case: _request(case[0], realm.token, _login(realm), CLIENT_REFUSED, {"Authorization": case[1]}))
    )
    cases.append(
        hostile_values.filter(_wrong(realm.client_id)).map(
            lambda client_id: body("unknown client_id in the body", client_id, secret())
        )
    )
    if realm.client_secret is not None:
        cases += [
            hostile_values.filter(lambda wrong: wrong != secret()).map(
                lambda wrong: body("wrong client_secret in the body", realm.client_id, wrong)
            ),
            st.builds(lambda: body("confidential client without its secret", realm.client_id)),
        ]
    return st.one_of(*cases)


def _not_a_form(realm: Realm, lockout_risk_ok: bool) -> st.SearchStrategy[OidcRequest]:
    """The endpoints read application/x-www-form-urlencoded only (RFC 6749 §4.3.2, RFC 7662 §2.1, RFC 7009 §2.1):
    a JSON body or another Content-Type is refused (an introspection may also find no token: active false)."""
    content_types = st.sampled_from(
        [
            "application/json",
            "text/plain",
            None,
            "application/xml",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencodedx",
        ]
    )
    endpoints = st.sampled_from(["token", "introspection", "revocation"])

    def build(endpoint: str, content_type: str | None, in_header: bool, token: str) -> OidcRequest:
        url, allowed, inactive = realm.token, NOT_A_FORM, False
        fields = _login(realm)
        if endpoint != "token":
            url = realm.introspection if endpoint == "introspection" else realm.revocation
            fields = [("token", token)]
            inactive = endpoint == "introspection"
            allowed = NOT_A_FORM | {200} if inactive else NOT_A_FORM
        fields, headers = _authenticated(realm, fields, in_header)
        as_json = content_type == "application/json"
        request = _request(
            f"{endpoint}: " + ("JSON body" if as_json else f"Content-Type {content_type or 'missing'}"),
            url,
            fields,
            allowed,
            headers,
            content_type=content_type,
            inactive=inactive,
        )
        if not as_json:
            return request
        return OidcRequest(
            request.kind, "POST", url, request.headers, json.dumps(dict(fields)).encode(), allowed, False, inactive
        )

    return st.builds(build, endpoints, content_types, st.booleans(), _hex)


def _grant_type(realm: Realm, lockout_risk_ok: bool) -> st.SearchStrategy[OidcRequest]:
    """A missing grant_type (invalid_request) or one the realm does not offer (unsupported_grant_type): 400."""
    login = _login(realm)

    def build(grant: str | None, in_header: bool) -> OidcRequest:
        fields = [(name, value) for name, value in login if name != "grant_type"]
        if grant is not None:
            fields.insert(0, ("grant_type", grant))
        fields, headers = _authenticated(realm, fields, in_header)
        kind = "missing grant_type" if grant is None else "empty grant_type" if grant == "" else "unknown grant_type"
        return _request(kind, realm.token, fields, INVALID_REQUEST, headers)

    grants = st.one_of(
        st.none(),
        st.sampled_from(
            [
                "",
                "PASSWORD",
                "Password",
                "password ",
                " password",
                "password\u200b",
                "implicit",
                "token",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "urn:ietf:params:oauth:grant-type:saml2-bearer",
            ]
        ),
        _text().filter(lambda grant: grant not in GRANTS and grant.strip() != "authorization_code"),
    )
    return st.builds(build, grants, st.booleans())


def _repeated(realm: Realm, lockout_risk_ok: bool) -> st.SearchStrategy[OidcRequest]:
    """RFC 6749 §3.2: parameters MUST NOT be included more than once; §5.2 invalid_request (400), as Keycloak does.
    Credentials are repeated with the same value only (a second, wrong password could count as a failed login)."""

    def build(name: str, value: str | None, in_header: bool) -> OidcRequest:
        fields, headers = _authenticated(realm, _login(realm), in_header and name not in ("client_id", "client_secret"))
        original = dict(fields)[name]
        repeated = original if value is None or name in ("username", "password", "client_secret") else value
        same = "same value" if repeated == original else "another value"
        return _request(f"repeated {name} ({same})", realm.token, [*fields, (name, repeated)], INVALID_REQUEST, headers)

    names = ["grant_type", "scope", "username", "password", "client_id"]
    if realm.client_secret is not None:
        names.append("client_secret")
    return st.builds(build, st.sampled_from(names), st.none() | hostile_values, st.booleans())


def _header_and_body(realm: Realm, lockout_risk_ok: bool) -> st.SearchStrategy[OidcRequest] | None:
    """Client credentials in a Basic header and in the body. RFC 6749 §2.3 forbids more than one method and §5.2 names
    it invalid_request (400); Keycloak reads the header and takes the same credentials in the body (200). A body that
    names another client is refused (400 or 401)."""
    if realm.client_secret is None:
        return None

    def secret() -> str:
        return reveal(realm.client_secret) if realm.client_secret is not None else ""

    def both(kind: str, allowed: frozenset[int], client_id: str, client_secret: str | None = None) -> OidcRequest:
        fields = [
            *_login(realm),
            ("client_id", client_id),
            ("client_secret", secret() if client_secret is None else client_secret),
        ]
        return _request(kind, realm.token, fields, allowed, basic(realm.client_id, secret()))

    return st.one_of(
        st.builds(lambda: both("client in the header and the body", frozenset({200, 400}), realm.client_id)),
        hostile_values.filter(lambda wrong: wrong != secret()).map(
            lambda wrong: both(
                "client in the header, another secret in the body", frozenset({200, 400, 401}), realm.client_id, wrong
            )
        ),
        hostile_values.filter(lambda other: other not in ("", realm.client_id)).map(
            lambda other: both("client in the header, another client_id in the body", CLIENT_REFUSED, other)
        ),
    )


def _hostile_value(realm: Realm, lockout_risk_ok: bool) -> st.SearchStrategy[OidcRequest]:
    """An empty, unicode, arbitrary or huge value where the realm expects a user name, scope, client or refresh token.
    The password stays right (an unknown user's login is no failed login of the configured account)."""

    def secret() -> str:
        return reveal(realm.client_secret) if realm.client_secret is not None else ""

    def build(field: str, value: str, in_header: bool) -> OidcRequest:
        if field == "username":
            return _token(realm, "hostile username", _login(realm, user=value), INVALID_REQUEST, in_header)
        if field == "scope":
            # RFC 6749 §3.3: the server may ignore scopes it does not know (200) or refuse them (invalid_scope, 400)
            fields = [*_login(realm)[:3], ("scope", value)]
            return _token(realm, "hostile scope", fields, frozenset({200, 400}), in_header)
        if field == "refresh_token":
            fields = [("grant_type", "refresh_token"), ("refresh_token", value)]
            return _token(realm, "hostile refresh_token", fields, INVALID_REQUEST, in_header)
        client = {"client_id": realm.client_id, "client_secret": secret(), field: value}
        fields = [*_login(realm), ("client_id", client["client_id"])]
        if realm.client_secret is not None:
            fields.append(("client_secret", client["client_secret"]))
        return _request(f"hostile {field}", realm.token, fields, CLIENT_REFUSED)

    def hostile(case: tuple[str, str, bool]) -> bool:
        field, value, _ = case
        if field == "username":  # Keycloak trims and lower-cases it: the configured user's name is a login
            return value.strip().lower() != realm.user.strip().lower()
        return field not in ("client_id", "client_secret") or value not in (realm.client_id, secret())

    fields = ["username", "scope", "refresh_token", "client_id", *(["client_secret"] if realm.confidential else [])]
    return st.tuples(st.sampled_from(fields), hostile_values, st.booleans()).filter(hostile).map(lambda c: build(*c))


# -- introspection and revocation -----------------------------------------------------------------------------------
def _introspection_unauthenticated(realm: Realm, lockout_risk_ok: bool) -> st.SearchStrategy[OidcRequest]:
    """RFC 7662 §2.1: the endpoint MUST require authorization; contracts/bimplus/oidc: 401."""
    secret = reveal(realm.client_secret) if realm.client_secret is not None else "x"
    cases: list[st.SearchStrategy[tuple[str, list[tuple[str, str]], dict[str, str]]]] = [
        st.just(("no client authentication", [], {})),
        _hex.map(lambda wrong: ("unknown client in a Basic header", [], basic(f"no-such-{wrong[:8]}", secret))),
    ]
    if realm.client_secret is not None:
        cases += [
            st.just(("client_id without its secret", [("client_id", realm.client_id)], {})),
            hostile_values.filter(_wrong(secret)).map(
                lambda wrong: ("wrong client secret in a Basic header", [], basic(realm.client_id, wrong))
            ),
        ]
    return st.builds(
        lambda case, token: _request(
            f"introspection: {case[0]}", realm.introspection, [("token", token), *case[1]], BAD_CLIENT, case[2]
        ),
        st.one_of(*cases),
        _hex,
    )


def _hint(realm: Realm) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(HINTS), st.sampled_from(["id_token", "Access_Token", "jwt"]), _text())


def _introspection_unknown(realm: Realm, lockout_risk_ok: bool) -> st.SearchStrategy[OidcRequest] | None:
    """RFC 7662 §2.2: a token the realm did not issue (or a malformed one) is `active: false` (200). A missing token
    is invalid_request (400); a hint the server does not know may be ignored (200) or refused (400)."""
    if realm.client_secret is None:
        return None

    def build(token: str, hint: str | None, in_header: bool) -> OidcRequest:
        fields = [("token", token), *([("token_type_hint", hint)] if hint is not None else [])]
        fields, headers = _authenticated(realm, fields, in_header)
        allowed = frozenset({200}) if token and (hint is None or hint in HINTS) else frozenset({200, 400})
        kind = "introspection: " + ("empty token" if not token else "a token the realm did not issue")
        if hint is not None and hint not in HINTS:
            kind += " (unknown token_type_hint)"
        return _request(kind, realm.introspection, fields, allowed, headers, inactive=True)

    return st.builds(build, unknown_tokens, _hint(realm), st.booleans())


def _revocation_unknown(realm: Realm, lockout_risk_ok: bool) -> st.SearchStrategy[OidcRequest]:
    """RFC 7009 §2.2: invalid tokens do not cause an error (200); an empty token is invalid_request (400); an invalid
    hint is ignored (§2.1) or refused as unsupported_token_type (400, as Keycloak does)."""

    def build(token: str, hint: str | None, in_header: bool) -> OidcRequest:
        fields = [("token", token), *([("token_type_hint", hint)] if hint is not None else [])]
        fields, headers = _authenticated(realm, fields, in_header)
        unknown_hint = hint is not None and hint not in HINTS
        allowed = INVALID_REQUEST if not token else frozenset({200, 400}) if unknown_hint else frozenset({200})
        kind = "revocation: " + ("empty token" if not token else "a token the realm did not issue")
        if unknown_hint:
            kind += " (unknown token_type_hint)"
        return _request(kind, realm.revocation, fields, allowed, headers)

    return st.builds(build, unknown_tokens, _hint(realm), st.booleans())


def _revocation_bad_client(realm: Realm, lockout_risk_ok: bool) -> st.SearchStrategy[OidcRequest]:
    """RFC 7009 §2.1: the client authenticates as at the token endpoint; invalid_client as RFC 6749 §5.2 says."""
    secret = reveal(realm.client_secret) if realm.client_secret is not None else "x"
    cases = [
        _hex.map(
            lambda wrong: ("unknown client in a Basic header", [], basic(f"no-such-{wrong[:8]}", secret), BAD_CLIENT)
        ),
        st.just(("unknown client_id in the body", [("client_id", "no-such-client")], {}, CLIENT_REFUSED)),
    ]
    if realm.client_secret is not None:
        cases += [
            hostile_values.filter(_wrong(secret)).map(
                lambda wrong: ("wrong client secret in a Basic header", [], basic(realm.client_id, wrong), BAD_CLIENT)
            ),
            st.just(("no client authentication", [], {}, CLIENT_REFUSED)),
        ]
    return st.builds(
        lambda case, token: _request(
            f"revocation: {case[0]}", realm.revocation, [("token", token), *case[1]], case[3], case[2]
        ),
        st.one_of(*cases),
        _hex,
    )


_KINDS: dict[str, Callable[[Realm, bool], st.SearchStrategy[OidcRequest] | None]] = {
    "bad user credentials": _bad_user_credentials,  # first: it gets the live failed-login budget before the others
    "bad client authentication": _bad_client,
    "not a form": _not_a_form,
    "missing or unknown grant_type": _grant_type,
    "repeated parameter": _repeated,
    "client in header and body": _header_and_body,
    "hostile value": _hostile_value,
    "introspection without client authentication": _introspection_unauthenticated,
    "introspection of an unknown token": _introspection_unknown,
    "revocation of an unknown token": _revocation_unknown,
    "revocation with bad client authentication": _revocation_bad_client,
}
KINDS = list(_KINDS)


@lru_cache(maxsize=64)
def hostile_requests(kind: str, realm: Realm, lockout_risk_ok: bool) -> st.SearchStrategy[OidcRequest] | None:
    """Hostile requests of one kind (see KINDS) for the realm; None where the kind does not apply (a public client
    has no secret to send twice and cannot introspect)."""
    return _KINDS[kind](realm, lockout_risk_ok)


# -- valid requests -------------------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def valid_token_requests(realm: Realm) -> st.SearchStrategy[OidcRequest]:
    """Token requests in every documented shape, each due a token (200): the password grant (and client_credentials
    for a confidential client), the client in a Basic header or in the body, `scope` absent or any subset of the
    configured scopes, the fields in any order."""
    scopes = realm.scope.split()
    grants = ["password", *(["client_credentials"] if realm.client_secret is not None else [])]

    def build(grant: str, in_header: bool, scope: list[str] | None, order: list[int]) -> OidcRequest:
        fields = _login(realm)[:3] if grant == "password" else [("grant_type", grant)]
        if scope is not None:
            fields.append(("scope", " ".join(scope)))
        fields, headers = _authenticated(realm, fields, in_header)
        fields = [fields[i] for i in order if i < len(fields)]
        shape = f"{'Basic header' if headers else 'body'} client, {'no scope' if scope is None else 'scope'}"
        return _request(f"{grant} grant ({shape})", realm.token, fields, frozenset({200}), headers)

    return st.builds(
        build,
        st.sampled_from(grants),
        st.booleans() if realm.client_secret is not None else st.just(False),
        st.none() | st.lists(st.sampled_from(scopes), min_size=1, unique=True) if scopes else st.none(),
        st.permutations(range(6)),
    )

"""The placeholder grammar and the shapes of tokens: the one vocabulary the scrubber writes into cassettes and drift
normalisation reads back (no vcrpy here: reading a cassette must not import it). Placeholder grammar::

    <secret len=N>       a credential the user supplies: password, client secret, api key, known secret
    <basic>              HTTP Basic credentials (base64 of user:password)
    <token#N SHAPE>      a token; N numbers distinct values per Scrubber (= per cassette) by first appearance
    SHAPE := jwt ALG[ kid=KID] claims=[NAME,...]    claim names sorted, never values; claims=? if unreadable
           | hexN | uuid4 | uuid | opaque len=N

Placeholders are plain strings: they stay valid JSON string values, and are percent-encoded inside form
bodies, query strings and URL paths.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from authcanary.tokens import jwt_claims, jwt_header

_NAME = r"[A-Za-z0-9._:+/=-]+"
_SHAPE = rf"jwt {_NAME}(?: kid={_NAME})? claims=(?:\[[A-Za-z0-9._:+/=,-]*\]|\?)|hex\d+|uuid4?|opaque len=\d+"
PLACEHOLDER_BODY = rf"secret len=\d+|basic|token#\d+ (?:{_SHAPE})"
#: a placeholder as written into headers and JSON
PLACEHOLDER_RE = re.compile(f"<(?:{PLACEHOLDER_BODY})>")


def is_placeholder(text: str) -> bool:
    """Whether `text` is a placeholder the scrubber wrote (a replayed recording holds these, never values)."""
    return bool(PLACEHOLDER_RE.fullmatch(text))


_HEX_RE = re.compile(r"[0-9a-fA-F]{16,}")
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-([0-9a-fA-F])[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SAFE_CHARS_RE = re.compile(r"[^A-Za-z0-9._:+/=-]")

#: the kinds of `TokenShape`: the SHAPE words of the placeholder grammar, plus the credentials' placeholders
SHAPE_KINDS = ("jwt", "hex", "uuid4", "uuid", "opaque", "basic", "secret")


class TokenShape(NamedTuple):
    """The shape of a token (or of a credential's placeholder): the one vocabulary of shapes. The scrubber writes it
    into placeholders (`label`); drift compares it, without what differs from one token to the next
    (`format_class`)."""

    #: one of SHAPE_KINDS; another word only when read from a placeholder this version does not know
    kind: str
    #: jwt: the header's alg and kid
    alg: str | None = None
    kid: str | None = None
    #: jwt: the sorted claim names, or None when the claims are unreadable (`claims=?`)
    claims: tuple[str, ...] | None = ()
    #: hex: the number of digits; opaque and secret: the length
    length: int | None = None

    @property
    def label(self) -> str:
        """The SHAPE of the placeholder grammar: ``jwt RS256 kid=k claims=[aud,exp]``, ``hex32``, ``opaque len=9``."""
        if self.kind == "jwt":
            label = f"jwt {self.alg}" + (f" kid={self.kid}" if self.kid is not None else "")
            return label + (" claims=?" if self.claims is None else f" claims=[{','.join(self.claims)}]")
        if self.kind == "hex":
            return f"hex{'' if self.length is None else self.length}"
        if self.kind in ("opaque", "secret"):
            return f"{self.kind} len={self.length}"
        return self.kind

    @property
    def format_class(self) -> str:
        """The shape as drift compares it: what stays the same from one token to the next (no kid, no length of an
        opaque token): ``jwt(RS256;aud,exp)``, ``jwt(RS256;?)``, ``hex32``, ``uuid``, ``opaque``, ``basic``,
        ``secret``; ``placeholder(WORD)`` for an unknown kind."""
        if self.kind == "jwt":
            return f"jwt({self.alg};{'?' if self.claims is None else ','.join(self.claims)})"
        if self.kind == "hex":
            return f"hex{'' if self.length is None else self.length}"
        if self.kind in ("uuid4", "uuid"):
            return "uuid"
        if self.kind in SHAPE_KINDS:
            return self.kind
        return f"placeholder({self.kind})"


def token_shape(value: str) -> TokenShape:
    """The shape of a token: a JWT (its header and claims are decoded to read alg, kid and claim names; signatures
    are not verified), hex (16 or more digits), a uuid (uuid4 or another version), else opaque."""
    header = jwt_header(value)
    if header is not None:
        kid = header.get("kid")
        claims = jwt_claims(value)
        return TokenShape(
            "jwt",
            _safe(header["alg"]),
            _safe(str(kid)) if isinstance(kid, (str, int)) and str(kid) else None,
            None if claims is None else tuple(sorted({_safe(str(k)) for k in claims})),
        )
    if _HEX_RE.fullmatch(value):
        return TokenShape("hex", length=len(value))
    uuid = _UUID_RE.fullmatch(value)
    if uuid:
        return TokenShape("uuid4" if uuid.group(1) == "4" else "uuid")
    return TokenShape("opaque", length=len(value))


def classify_token(value: str) -> str:
    """Shape label of a token (`TokenShape.label`): ``jwt ALG kid=KID claims=[...]``, ``hexN``, ``uuid4``, ``uuid``
    or ``opaque len=N``."""
    return token_shape(value).label


# Read leniently: also what redaction of free text writes (`<hex32>`, `<jwt>`) and older or hand-written forms.
_LOOSE_PLACEHOLDER_RE = re.compile(r"<(token#\d+ )?([a-z][a-z0-9]*)(?: ([^<>]*))?>\Z")
_CLAIMS_RE = re.compile(r"claims=(?:\[([^\]]*)\]|\?)")
_LEN_RE = re.compile(r"len=(\d+)")


def placeholder_shape(text: str) -> TokenShape | None:
    """The shape a placeholder (``<token#1 hex32>``, ``<secret len=8>``, ``<uuid4>``) names, or None if `text` is
    not one. A numbered placeholder of an unknown kind keeps its word as the kind."""
    match = _LOOSE_PLACEHOLDER_RE.match(text)
    if match is None:
        return None
    numbered, word, rest = match.groups()
    rest = rest or ""
    if word == "jwt":
        words = rest.split()
        alg = words[0] if words and not words[0].startswith(("kid=", "claims=")) else None
        kid = next((w[4:] for w in words if w.startswith("kid=")), None)
        claims = _CLAIMS_RE.search(rest)
        names = (
            None
            if claims and claims.group(1) is None
            else tuple(sorted(name.strip() for name in (claims.group(1).split(",") if claims else ()) if name.strip()))
        )
        return TokenShape("jwt", alg, kid, names)
    if word.startswith("hex") and word[3:].isdigit():
        return TokenShape("hex", length=int(word[3:]))
    if word in SHAPE_KINDS:
        length = _LEN_RE.search(rest)
        return TokenShape(word, length=int(length.group(1)) if length else None)
    return TokenShape(word) if numbered else None


def _safe(text: str) -> str:
    """Text from a token header reduced to characters the placeholder grammar allows."""
    return _SAFE_CHARS_RE.sub("_", text)[:64] or "_"

"""Looking inside tokens a vendor issued: unverified JWT decoding and verification against a JWKS.

The one JWT decoder of the harness: the scrubber (a token's shape), drift normalisation and the suites all read
tokens through it.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

_B64URL_SEGMENT_RE = re.compile(r"[A-Za-z0-9_-]+")


def b64url_json(segment: str) -> Any:
    """The JSON value a base64url segment (padding optional) encodes; ValueError if it encodes none."""
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except RecursionError:
        raise ValueError("nested too deeply") from None


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a compact JWS without checking the signature; ValueError if it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError(f"not a JWT: {len(parts)} dot-separated parts instead of 3")
    try:
        header, claims = (b64url_json(part) for part in parts[:2])
    except ValueError as exc:  # also binascii.Error and UnicodeDecodeError
        raise ValueError(f"not a JWT: header or claims are not base64url JSON ({exc})") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("not a JWT: header or claims are not JSON objects")
    return header, claims


def jwt_header(token: str) -> dict[str, Any] | None:
    """The JSON header of a compact JWS (three base64url segments, the last possibly empty, and a header naming
    its `alg`), or None if `token` is not one. The claims need not be readable."""
    parts = token.split(".")
    if len(parts) != 3 or not all(_B64URL_SEGMENT_RE.fullmatch(p) for p in parts[:2]):
        return None
    if parts[2] and not _B64URL_SEGMENT_RE.fullmatch(parts[2]):
        return None
    try:
        header = b64url_json(parts[0])
    except ValueError:
        return None
    if isinstance(header, dict) and isinstance(header.get("alg"), str) and header["alg"]:
        return header
    return None


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a compact JWS without checking anything, or None if they are not a base64url JSON object."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = b64url_json(parts[1])
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def verify_jwt(token: str, jwks: dict[str, Any], algorithms: tuple[str, ...] = ("RS256",)) -> dict[str, Any]:
    """Claims of `token` after verifying its signature with `jwks`; raises joserfc errors otherwise."""
    from joserfc import jwt
    from joserfc.jwk import KeySet

    # joserfc types the key set as its KeySetSerialization TypedDict; a JWKS parsed from JSON is a plain dict, and
    # import_key_set validates it at runtime.
    key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    return dict(jwt.decode(token, key_set, algorithms=list(algorithms)).claims)

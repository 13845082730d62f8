"""Looking inside tokens a vendor issued: unverified JWT decoding and verification against a JWKS."""
from __future__ import annotations

import base64
import json
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a compact JWS without checking the signature; ValueError if it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError(f"not a JWT: {len(parts)} dot-separated parts instead of 3")
    try:
        header, claims = (json.loads(_b64url(part)) for part in parts[:2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a JWT: header or claims are not base64url JSON ({exc})") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("not a JWT: header or claims are not JSON objects")
    return header, claims


def verify_jwt(token: str, jwks: dict[str, Any], algorithms: tuple[str, ...] = ("RS256",)) -> dict[str, Any]:
    """Claims of `token` after verifying its signature with `jwks`; raises joserfc errors otherwise."""
    return dict(jwt.decode(token, KeySet.import_key_set(jwks), algorithms=list(algorithms)).claims)


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

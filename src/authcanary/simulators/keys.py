"""Signing keys of the simulators: real RS256 JWTs, verifiable with the published JWKS."""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

_KEYS: dict[str, RSAKey] = {}


def signing_key(name: str = "published") -> RSAKey:
    """One RSA key per name and process (2048-bit generation is slow). Only `published` is in the JWKS;
    `rogue` signs tokens that must fail verification."""
    if name not in _KEYS:
        key = RSAKey.generate_key(2048, private=True)
        key.ensure_kid()
        _KEYS[name] = key
    return _KEYS[name]


def sign_jwt(claims: dict[str, Any], key_name: str = "published") -> str:
    """Sign `claims` RS256 with the named process key; the header carries its `kid`."""
    key = signing_key(key_name)
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)


def public_jwks() -> dict[str, Any]:
    """The JWKS that verifies every token `sign_jwt` issued in this process."""
    key = signing_key()
    return {"keys": [key.as_dict(private=False, use="sig", alg="RS256")]}

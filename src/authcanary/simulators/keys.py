"""Signing keys of the simulators: real RS256 and HS512 JWTs, verifiable with the published JWKS.

Keys are made once per name and process (2048-bit RSA generation is slow), so a simulator that resets or rotates
back to a name gets the same key again.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

_KEYS: dict[str, RSAKey] = {}
_SECRETS: dict[str, OctKey] = {}
_CERTIFICATES: dict[str, dict[str, Any]] = {}
HMAC_ALGORITHM = "HS512"


def signing_key(name: str = "published") -> RSAKey:
    """One RSA key per name and process. Only `published` is in the Autodesk JWKS; `rogue` signs tokens that must
    fail verification."""
    if name not in _KEYS:
        key = RSAKey.generate_key(2048, private=True)
        key.ensure_kid()
        _KEYS[name] = key
    return _KEYS[name]


def key_id(name: str) -> str:
    """The kid of a named key (its RFC 7638 thumbprint)."""
    kid = signing_key(name).kid
    assert kid is not None  # set by signing_key
    return kid


def hmac_key(name: str) -> OctKey:
    """One 512-bit secret per name and process, with a uuid kid (as Keycloak's `hmac-generated` key)."""
    if name not in _SECRETS:
        _SECRETS[name] = OctKey.generate_key(512, parameters={"kid": str(uuid.uuid4())})
    return _SECRETS[name]


def sign_jwt(claims: dict[str, Any], key_name: str = "published", kid: str | None = None) -> str:
    """Sign `claims` RS256 with the named process key; the header carries its `kid` unless `kid` says otherwise."""
    key = signing_key(key_name)
    return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": kid or key.kid}, claims, key)


def sign_hs512(claims: dict[str, Any], secret_name: str) -> str:
    """Sign `claims` HS512 with the named process secret; the header carries its `kid`."""
    key = hmac_key(secret_name)
    return jwt.encode({"alg": HMAC_ALGORITHM, "typ": "JWT", "kid": key.kid}, claims, key, algorithms=[HMAC_ALGORITHM])


def public_jwk(name: str) -> dict[str, Any]:
    """The public JWK of a named key: `kty`, `kid`, `use: sig`, `alg: RS256`, `n`, `e`."""
    return dict(signing_key(name).as_dict(private=False, use="sig", alg="RS256"))


def certified_jwk(name: str, subject: str) -> dict[str, Any]:
    """The public JWK of a named key as Keycloak publishes it: also its self-signed certificate (`x5c`, base64 DER,
    RFC 7517 §4.7) and the certificate's SHA-1 and SHA-256 thumbprints (`x5t`, `x5t#S256`, base64url)."""
    if name not in _CERTIFICATES:
        der = _self_signed(signing_key(name), subject)
        _CERTIFICATES[name] = {
            "x5c": [base64.b64encode(der).decode()],
            "x5t": _b64url(hashlib.sha1(der).digest()),  # noqa: S324 - RFC 7517 §4.8 defines x5t as SHA-1
            "x5t#S256": _b64url(hashlib.sha256(der).digest()),
        }
    return {**public_jwk(name), **_CERTIFICATES[name]}


def _self_signed(key: RSAKey, subject: str) -> bytes:
    """A self-signed X.509 certificate (DER) for `key`, `CN=subject`, valid ten years as Keycloak's realm keys."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    private = key.private_key
    assert private is not None  # signing_key makes private keys
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(private, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def public_jwks() -> dict[str, Any]:
    """The JWKS that verifies every token `sign_jwt` issued in this process with the `published` key."""
    return {"keys": [public_jwk("published")]}

"""Make free text safe to write: secrets become `${NAME}`, tokens become their shape (never their value)."""
from __future__ import annotations

import re

# A JWT, also when a truncated excerpt cut it short after its header or claims.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}")
_HEX32 = re.compile(r"(?<![0-9A-Fa-f])[0-9a-fA-F]{32}(?![0-9A-Fa-f])")


def redact_text(text: str, secrets: dict[str, str]) -> str:
    """Replace each secret value (value -> variable name) by `${NAME}`, JWTs by `<jwt>`, 32-hex tokens by `<hex32>`."""
    for value in sorted(secrets, key=len, reverse=True):
        if value:
            text = text.replace(value, "${" + secrets[value] + "}")
    text = _JWT.sub("<jwt>", text)
    return _HEX32.sub("<hex32>", text)

"""Make free text safe to write: secrets become `${NAME}`, tokens become their shape (never their value)."""
from __future__ import annotations

import re

from authcanary.recording.scrub import encoded_forms

# A JWT, also when a truncated excerpt cut it short after its header or claims.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}")
_HEX32 = re.compile(r"(?<![0-9A-Fa-f])[0-9a-fA-F]{32}(?![0-9A-Fa-f])")


def mask_secrets(text: str, secrets: dict[str, str]) -> str:
    """Replace each secret value (value -> variable name) by `${NAME}`, in every form it travels in: raw,
    percent- or form-encoded, JSON-escaped, base64."""
    forms = {form: name for value, name in secrets.items() if value for form in encoded_forms(value)}
    # Longest first, so a secret that contains another is replaced whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "${" + forms[form] + "}")
    return text


def redact_text(text: str, secrets: dict[str, str]) -> str:
    """:func:`mask_secrets`, then JWTs become `<jwt>` and 32-hex tokens `<hex32>`."""
    text = _JWT.sub("<jwt>", mask_secrets(text, secrets))
    return _HEX32.sub("<hex32>", text)

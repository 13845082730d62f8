"""Make free text safe to write: secrets become `${NAME}`, tokens become their shape (never their value)."""

from __future__ import annotations

import re
from functools import lru_cache

from authcanary.recording.scrub import HEX_TOKEN, encoded_forms
from authcanary.recording.shapes import classify_token

# A JWT, also when a truncated excerpt cut it short after its header or claims: unlike the scrubber's JWT_RE, which
# must decode a whole token to name its shape, this needs only the `eyJ` every JSON header starts with.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}")
# A hex token (the scrubber's HEX_TOKEN). Free text is redacted more eagerly than a recording is scrubbed: the run
# need only end where the hex digits do, so a token glued to a word or to a percent-encoding still goes.
_HEX = re.compile(rf"(?<![0-9A-Fa-f]){HEX_TOKEN}(?![0-9A-Fa-f])")


def mask_secrets(text: str, secrets: dict[str, str]) -> str:
    """Replace each secret value (value -> variable name) by `${NAME}`, in every form it travels in: raw,
    percent- or form-encoded, JSON-escaped, base64."""
    for form, variable in _replacements(tuple(secrets.items())):
        if form in text:
            text = text.replace(form, variable)
    return text


@lru_cache(maxsize=64)
def _replacements(secrets: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """(form, `${NAME}`) of every form of every secret, longest first, so a secret that contains another is replaced
    whole. (Cached: a run masks the same secrets in every text it writes.)"""
    forms = {form: name for value, name in secrets if value for form in encoded_forms(value)}
    return tuple((form, "${" + forms[form] + "}") for form in sorted(forms, key=len, reverse=True))


def redact_text(text: str, secrets: dict[str, str]) -> str:
    """:func:`mask_secrets`, then JWTs become `<jwt>` and hex tokens their shape (`<hex32>`)."""
    text = _JWT.sub("<jwt>", mask_secrets(text, secrets))
    return _HEX.sub(lambda match: f"<{classify_token(match.group(0))}>", text)

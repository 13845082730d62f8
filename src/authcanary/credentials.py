"""HTTP credentials as they travel: Basic `user:password`, shared by the scrubber, the scanner and curl repros."""
from __future__ import annotations

import base64
import binascii


def decode_basic(credentials: str) -> tuple[str, str] | None:
    """(user, password) of HTTP Basic credentials (strict base64 of UTF-8 ``user:password``, without the
    ``Basic`` scheme), else None."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None

"""Credentials: held masked (`Secret`) until a request is built, and as they travel (Basic `user:password`, shared by
the scrubber, the scanner and curl repros)."""

from __future__ import annotations

import base64
import binascii
from typing import Any


def decode_basic(credentials: str) -> tuple[str, str] | None:
    """(user, password) of HTTP Basic credentials (strict base64 of UTF-8 ``user:password``, without the
    ``Basic`` scheme), else None."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


class MaskedRepr:
    """For objects that hold credentials: hypothesis prints a failing example's arguments with its own pretty
    printer, which lists a dataclass's fields and ignores its `__repr__`; this makes it use the repr."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


class Secret(MaskedRepr):
    """A configured credential (a password, a client secret, an api key). Its `repr` and `str` are masked, so it can
    sit in settings, fixtures and strategies that hypothesis, pytest or a log may print; `reveal()` it only where a
    request is built."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        """Equal to the same secret, and to its value (a comparison reveals nothing that is printed)."""
        return reveal(other) == self._value if isinstance(other, (Secret, str)) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def reveal(value: Any) -> Any:
    """The value of a `Secret`; any other value as it is."""
    return value.reveal() if isinstance(value, Secret) else value

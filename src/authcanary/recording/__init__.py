"""Vendor-agnostic recording: scrubbed vcrpy cassettes over any httpx transport, and a secret scanner.

The names below are imported on first use: reading a cassette (`authcanary.recording.cassette_file`, used by the
drift normalizer) must not pay for importing vcrpy.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {
    "CassetteError": "cassette_file",
    "load_cassette": "cassette_file",
    "RecordingTransport": "cassette",
    "ReplayTransport": "cassette",
    "UnmatchedRequestError": "cassette",
    "SecretHit": "scan",
    "scan_paths": "scan",
    "Scrubber": "scrub",
    "classify_token": "scrub",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)

"""Vendor-agnostic recording: scrubbed vcrpy cassettes over any httpx transport, and a secret scanner."""
from authcanary.recording.cassette import (
    CassetteError,
    RecordingTransport,
    ReplayTransport,
    UnmatchedRequestError,
    load_cassette,
)
from authcanary.recording.scan import SecretHit, scan_paths
from authcanary.recording.scrub import Scrubber, classify_token

__all__ = [
    "CassetteError",
    "RecordingTransport",
    "ReplayTransport",
    "Scrubber",
    "SecretHit",
    "UnmatchedRequestError",
    "classify_token",
    "load_cassette",
    "scan_paths",
]

"""curl reproductions of a request, with every secret replaced by a shell variable (never the value)."""
from __future__ import annotations

import shlex

import httpx

from authcanary.credentials import decode_basic
from authcanary.recording.scrub import Scrubber
from authcanary.redact import mask_secrets

_SKIPPED_HEADERS = {"host", "content-length", "accept-encoding", "connection", "user-agent", "accept"}


def curl_command(request: httpx.Request, secrets: dict[str, str], base_url: str | None = None) -> str:
    """A copy-pasteable curl for `request`; each value in `secrets` is replaced by `$NAME` (value -> NAME).

    `base_url` replaces the request's scheme and host (an in-process simulator has no real host)."""
    url = str(request.url)
    if base_url:
        url = base_url.rstrip("/") + request.url.raw_path.decode("ascii")
    parts = ["curl", "-i", "-X", request.method, mask_secrets(url, secrets)]
    for name, value in request.headers.items():
        if name.lower() in _SKIPPED_HEADERS:
            continue
        if name.lower() == "authorization":
            parts += _authorization(value, secrets)
            continue
        parts += ["-H", mask_secrets(f"{name}: {value}", secrets)]
    body = request.content.decode("utf-8", "replace") if request.content else ""
    if body:
        # Known secrets become variables; any other credential (a generated hostile password) a placeholder.
        body = Scrubber().scrub_body_text(mask_secrets(body, secrets), request.headers.get("content-type", ""))
        parts += ["--data-raw", body]
    return " ".join(_quote(part) for part in parts)


def _authorization(value: str, secrets: dict[str, str]) -> list[str]:
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() == "basic":
        decoded = decode_basic(credentials)
        if decoded is None:
            return ["-H", f"Authorization: {scheme} <undecodable>"]
        return ["-u", mask_secrets(":".join(decoded), secrets)]
    return ["-H", mask_secrets(f"Authorization: {value}", secrets)]


def _quote(part: str) -> str:
    # Double quotes where a $VAR must expand; shlex single quotes elsewhere.
    if "${" in part:
        return '"' + part.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`") + '"'
    return shlex.quote(part)

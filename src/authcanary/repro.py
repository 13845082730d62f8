"""curl reproductions of a request, with every secret replaced by a shell variable (never the value)."""

from __future__ import annotations

import re
import shlex
from urllib.parse import unquote_plus

import httpx

from authcanary.credentials import decode_basic
from authcanary.recording.scrub import SHELL_VARIABLE_RE, Scrubber, key_kind
from authcanary.redact import mask_secrets

FORM = "application/x-www-form-urlencoded"
#: what the transport adds, and schemathesis' correlation id (random for every case): nothing the vendor answers to
_SKIPPED_HEADERS = {
    "host",
    "content-length",
    "accept-encoding",
    "connection",
    "user-agent",
    "accept",
    "x-schemathesis-testcaseid",
}


#: what a repro sends for a credential the check made up (a wrong or near-miss key): any wrong key reproduces it
WRONG_CREDENTIAL = "authcanary-wrong-key"


def curl_command(request: httpx.Request, secrets: dict[str, str], origin: str | None = None) -> str:
    """A copy-pasteable curl for `request`; each value in `secrets` is replaced by `$NAME` (value -> NAME).

    `origin` (`scheme://host:port`) replaces the request's own (an in-process simulator has no real host); the
    request's path is kept whole, so a target whose base URL has a path is not given its prefix twice."""
    url = str(request.url)
    if origin:
        origin_url = httpx.URL(origin)
        url = str(request.url.copy_with(scheme=origin_url.scheme, host=origin_url.host, port=origin_url.port))
    parts = ["curl", "-i", "-X", request.method, mask_secrets(url, secrets)]
    for name, value in request.headers.items():
        if name.lower() in _SKIPPED_HEADERS:
            continue
        if name.lower() == "authorization":
            parts += _authorization(value, secrets)
            continue
        parts += ["-H", f"{name}: {_credential_header(name, mask_secrets(value, secrets))}"]
    body = request.content.decode("utf-8", "replace") if request.content else ""
    if body:
        if "content-type" not in request.headers:
            parts += ["-H", "Content-Type:"]  # curl adds a form Content-Type to a body: send none, as the check did
        # Known secrets become variables; any other credential (a generated hostile password) a placeholder. What
        # the body is decides how (a form sent under a JSON Content-Type is still a form), not what the header says.
        as_form = _looks_like_form(body)
        body = Scrubber().scrub_body_text(
            mask_secrets(body, secrets), FORM if as_form else request.headers.get("content-type", "")
        )
        parts += _form_data(body) if as_form else ["--data-raw", body]
    return " ".join(_quote(part) for part in parts)


def _credential_header(name: str, value: str) -> str:
    """A header that carries a credential (`x-api-key`, `x-api-token` ...): a configured secret is already a
    `${VAR}`; an issued token becomes one named after the header (`${X_API_TOKEN}`: the reader sets it to a fresh
    token), any other credential (a wrong key a check sent) a literal wrong key that still reproduces the check (the
    value sent may be a near miss of the real key, so it is never shown). Other headers are kept as they are."""
    kind = key_kind(name)
    if kind is None or SHELL_VARIABLE_RE.fullmatch(value.strip()):
        return value
    if kind == "token":
        return "${" + re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") + "}"
    return WRONG_CREDENTIAL


def _looks_like_form(body: str) -> bool:
    """`name=value&...` rather than JSON or free text."""
    return not body.lstrip().startswith(("{", "[", '"')) and all("=" in pair for pair in body.split("&") if pair)


def _form_data(body: str) -> list[str]:
    """curl arguments sending a form body: as is, but a field holding a `${VAR}` goes by `--data-urlencode`, so a
    secret with `&`, `+` or `%` in it arrives as the one value it is (curl joins the pieces with `&`)."""
    parts: list[str] = []
    raw: list[str] = []  # fields sent as they are, up to the next field with a variable
    for field in body.split("&"):
        name, equals, value = field.partition("=")
        if name and equals and SHELL_VARIABLE_RE.search(value):  # (curl reads `=value` as a value without a name)
            if raw:
                parts += ["--data-raw", "&".join(raw)]
                raw = []
            # only the text around the variables was form-encoded
            value = "".join(piece if variable else unquote_plus(piece) for variable, piece in _pieces(value))
            parts += ["--data-urlencode", f"{name}={value}"]
        else:
            raw.append(field)
    return parts + (["--data-raw", "&".join(raw)] if raw else [])


def _authorization(value: str, secrets: dict[str, str]) -> list[str]:
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() == "basic":
        decoded = decode_basic(credentials)
        if decoded is None:
            return ["-H", f"Authorization: {scheme} <undecodable>"]
        return ["-u", mask_secrets(":".join(decoded), secrets)]
    return ["-H", mask_secrets(f"Authorization: {value}", secrets)]


def _pieces(text: str) -> list[tuple[bool, str]]:
    """`text` cut into (is a `${VAR}`, piece) in order."""
    pieces, start = [], 0
    for match in SHELL_VARIABLE_RE.finditer(text):
        pieces += [(False, text[start : match.start()]), (True, match.group(0))]
        start = match.end()
    return [*pieces, (False, text[start:])]


def _quote(part: str) -> str:
    # Double quotes where a ${VAR} must expand, every other character literal; shlex single quotes elsewhere.
    if not SHELL_VARIABLE_RE.search(part):
        return shlex.quote(part)
    return (
        '"'
        + "".join(piece if variable else re.sub(r'([\\"`$])', r"\\\1", piece) for variable, piece in _pieces(part))
        + '"'
    )

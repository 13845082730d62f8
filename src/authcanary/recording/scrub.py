"""Scrubbing of recorded HTTP interactions: no credential or token survives into a cassette.

Every secret is replaced, before anything is kept, by a placeholder that keeps its shape, so a
format change is still drift while the value never reaches disk (docs/architecture.md). The placeholder grammar
and the shapes of tokens are `authcanary.recording.shapes`.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import cast
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit, urlunsplit

from vcr.request import Request

from authcanary.credentials import decode_basic

# is_placeholder and PLACEHOLDER_RE are also imported from here
from authcanary.recording.shapes import PLACEHOLDER_RE, classify_token, is_placeholder  # noqa: F401
from authcanary.tokens import jwt_header

#: a placeholder as written into form bodies, query strings and paths (percent-encoded, `+` or `%20` for spaces)
ENCODED_PLACEHOLDER_RE = re.compile(r"(?i:%3C(?:secret|basic|token%23)[A-Za-z0-9%+._~-]*?%3E)")
#: `${NAME}`: how a curl repro refers to a secret; a reference, not a value
SHELL_VARIABLE_RE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_ANY_PLACEHOLDER = f"{PLACEHOLDER_RE.pattern}|{ENCODED_PLACEHOLDER_RE.pattern}"

#: 32 or more hex digits: a hex token (a random 128-bit token has 32; longer ones are hashes used as tokens)
HEX_TOKEN = "[0-9a-fA-F]{32,}"
JWT_RE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*(?![A-Za-z0-9_-])")
_LONG_HEX_RE = re.compile(rf"(?<![0-9A-Za-z]){HEX_TOKEN}(?![0-9A-Za-z])")


def base64_run_re(min_length: int) -> re.Pattern[str]:
    """A whole run of ``min_length`` or more characters of the base64 and base64url alphabets, with its padding."""
    return re.compile(rf"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{{{min_length},}}={{0,2}}(?![A-Za-z0-9+/_=-])")


_BASE64_RUN_RE = base64_run_re(8)
_URLISH_RE = re.compile(r"(?:https?://|/)\S*", re.IGNORECASE)
_FORM_RE = re.compile(r"[^=&\s]+=[^&\s]*(?:&[^=&\s]+=[^&\s]*)*")

# `key: value`, `key=value`, `"key": "value"` in free text; the quote styles cover JSON (also JSON inside a
# JSON string), single quotes and HTML-escaped quotes. Only the key and separator are matched here so
# that an uninteresting key (`https:`) never swallows the text that follows it.
_KEY_SEP_RE = re.compile(
    r"""(?<![A-Za-z0-9_-])(?P<key>[A-Za-z][A-Za-z0-9_-]*)(?:\\?["']|&quot;|&\#34;|&\#39;)?[ \t]*[:=][ \t]*""",
    re.VERBOSE,
)
_VALUE_RE = re.compile(
    r"""\\"(?P<escaped>[^"\\\r\n]*)\\"
      | "(?P<double>(?:[^"\\\r\n]|\\.)*)"
      | '(?P<single>[^'\r\n]*)'
      | (?:&quot;|&\#34;|&\#39;)(?P<html>[^&\r\n]*?)(?:&quot;|&\#34;|&\#39;)
      | (?P<bare>[^\s"'&,;<>{}\[\]()\\]++)(?!\()""",
    re.VERBOSE,
)

_SECRET_SUFFIXES = ("password", "passwd", "secret", "apikey")
_SECRET_NAMES = frozenset({"pwd", "privatekey"})
_TOKEN_NAMES = frozenset(
    {
        "code",
        "assertion",
        "clientassertion",
        "devicecode",
        "usercode",
        "authcode",
        "authorizationcode",
        "sessionid",
        "jsessionid",
    }
)
# `code` is also an error code in JSON error bodies; outside forms and query strings only random-looking
# values are treated as authorization codes.
_AMBIGUOUS_NAMES = frozenset({"code"})
# Discovered values shorter than this are replaced where found but not searched for elsewhere:
# a short value would match innocent text everywhere.
_MIN_ECHO_LEN = 6


def key_name(name: str) -> str:
    """A key as compared: lower case without separators (``client_secret``, ``clientSecret``, ``Client-Secret``)."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def key_kind(name: str) -> str | None:
    """'secret' for a user-supplied credential key, 'token' for an issued token key, None otherwise.

    Case and separators are ignored (`key_name`).
    """
    norm = key_name(name)
    if norm in _SECRET_NAMES or norm.endswith(_SECRET_SUFFIXES):
        return "secret"
    if norm in _TOKEN_NAMES or norm.endswith("token"):
        return "token"
    return None


def iter_key_values(text: str, kind_of: Callable[[str], str | None] = key_kind) -> Iterator[tuple[str, int, int]]:
    """Yield (key, start, end) for every value written as ``key: value`` or ``key=value`` whose key ``kind_of``
    classifies (by default: secret and token keys)."""
    for match in _KEY_SEP_RE.finditer(text):
        if kind_of(match["key"]) is None:
            continue
        value = _VALUE_RE.match(text, match.end())
        if value:
            group = value.lastgroup
            assert group is not None  # every alternative of _VALUE_RE ends in a named group
            yield match["key"], value.start(group), value.end(group)


def _looks_random(value: str) -> bool:
    return (
        len(value) >= 12
        and not any(c.isspace() for c in value)
        and (any(c.isdigit() for c in value) and any(c.isalpha() for c in value))
    )


def _is_placeholder(value: str) -> bool:
    return bool(PLACEHOLDER_RE.fullmatch(value) or ENCODED_PLACEHOLDER_RE.fullmatch(value))


@lru_cache(maxsize=1024)
def encoded_forms(value: str) -> frozenset[str]:
    """The forms in which a value is found in HTTP traffic and in what is written of it: raw, URL-encoded (Python,
    JavaScript and Java styles), JSON-escaped, HTML-escaped, Python-quoted, base64. (Cached: the same secrets are
    looked for in every request and answer of a run.)"""
    raw = value.encode("utf-8")
    encoded = {
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        quote(value, safe="~()*!'"),
        quote(value, safe="").replace("~", "%7E"),
        quote_plus(value, safe="").replace("~", "%7E"),
    }
    escaped = json.dumps(value)[1:-1]
    html_escaped = html.escape(value)
    forms = {
        value,
        escaped,
        escaped.replace("/", "\\/"),
        json.dumps(value, ensure_ascii=False)[1:-1],
        raw.decode("latin-1"),
        html_escaped,
        html_escaped.replace("&#x27;", "&#39;"),
        html.escape(value, quote=False),
        value.replace("\\", "\\\\").replace("'", "\\'"),  # inside a repr() that chose single quotes
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    forms |= encoded | {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), e) for e in encoded}
    # one form inside another: an HTML-escaped echo in a JSON error body, a URL-encoded one in an HTML page
    forms |= {
        wrapped
        for form in list(forms)
        for wrapped in (json.dumps(form)[1:-1], html.escape(form), json.dumps(form, ensure_ascii=False)[1:-1])
    }
    return frozenset(f for f in forms if f)


class _Pairs(list):
    """A JSON object as its list of (key, value) pairs, so duplicate keys and order survive scrubbing."""


class _Number(str):
    """A JSON number kept as its source text, so scrubbing never reformats numbers."""


def _dump_json(node: object) -> str:
    if isinstance(node, _Pairs):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_dump_json(v)}" for k, v in node) + "}"
    if isinstance(node, list):
        return "[" + ",".join(_dump_json(item) for item in node) + "]"
    if isinstance(node, _Number):
        return str(node)
    return json.dumps(node, ensure_ascii=False)


def _protected(pattern: str) -> re.Pattern[str]:
    """``pattern``, or a placeholder, whichever starts first: placeholders are never rewritten."""
    return re.compile(f"(?P<_ph>{_ANY_PLACEHOLDER})|{pattern}")


_PLACEHOLDER_SPAN_RE = re.compile(_ANY_PLACEHOLDER)
_JWT_OUTSIDE = _protected(JWT_RE.pattern)
_LONG_HEX_OUTSIDE = _protected(_LONG_HEX_RE.pattern)
_BASE64_RUN_OUTSIDE = _protected(_BASE64_RUN_RE.pattern)


def _sub(pattern: re.Pattern[str], replace: Callable[[str], str], text: str) -> str:
    return pattern.sub(lambda m: m.group(0) if m["_ph"] else replace(m.group(0)), text)


class Scrubber:
    """Replaces credentials and tokens in vcrpy requests and responses; one instance per cassette.

    ``before_record_request`` and ``before_record_response`` are vcrpy's hooks of the same names.
    ``known_secrets`` (the target's passwords, client secrets, api keys) are also replaced wherever they
    occur, raw, URL-encoded, JSON-escaped or base64-encoded (as in Basic credentials).
    """

    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        self._secrets: dict[str, str] = {}  # credential value -> placeholder
        self._aliases: dict[str, str] = {}  # token value -> placeholder
        self._echoes: dict[str, str] = {}  # every searched-for form of a value -> placeholder
        self._echo_re: re.Pattern[str] | None = None
        for secret in known_secrets:
            if secret:
                self._remember_secret(secret, always_echo=True)

    # vcrpy hooks

    def before_record_request(self, request: Request) -> Request:
        """A scrubbed copy of a vcrpy request (URI, headers, body); the original is left untouched."""
        uri = self._scrub_url(request.uri)
        headers = {name: self._scrub_header(name, value) for name, value in request.headers.items()}
        body = _body_bytes(request.body)
        scrubbed = self._scrub_body(body, _content_type(headers))
        if scrubbed != body:
            _fix_content_length(headers, scrubbed, lambda length: length)
        return Request(request.method, uri, scrubbed, headers)

    def before_record_response(self, response: dict) -> dict:
        """A scrubbed copy of a vcrpy response dict (headers, body and any other text fields)."""
        headers = {
            name: [self._scrub_header(name, value) for value in (values if isinstance(values, list) else [values])]
            for name, values in (response.get("headers") or {}).items()
        }
        body = dict(response.get("body") or {})
        original = body.get("string")
        body["string"] = self._scrub_body(original, _content_type(headers))
        if body["string"] != original:
            _fix_content_length(headers, body["string"], lambda length: [length])
        extra = {
            k: self._scrub_free(v)
            for k, v in response.items()
            if k not in ("status", "headers", "body") and isinstance(v, str)
        }
        return {**response, **extra, "headers": headers, "body": body}

    def scrub_body_text(self, text: str, content_type: str) -> str:
        """A request or response body (JSON, form or raw text) with every secret and token replaced."""
        return self._scrub_body_text(text, content_type)

    # placeholders and memory of values

    def _placeholder(self, kind: str, value: str) -> str:
        if not value or _is_placeholder(value) or SHELL_VARIABLE_RE.fullmatch(value):
            return value
        if value in self._secrets:
            return self._secrets[value]
        if kind == "secret":
            return self._remember_secret(value)
        return self._alias(value)

    def _remember_secret(self, value: str, always_echo: bool = False) -> str:
        placeholder = self._secrets.setdefault(value, f"<secret len={len(value)}>")
        if always_echo or len(value) >= _MIN_ECHO_LEN:
            self._echo(value, placeholder)
        return placeholder

    def _alias(self, value: str) -> str:
        if value not in self._aliases:
            self._aliases[value] = f"<token#{len(self._aliases) + 1} {classify_token(value)}>"
            if len(value) >= _MIN_ECHO_LEN:
                self._echo(value, self._aliases[value])
        return self._aliases[value]

    def _echo(self, value: str, placeholder: str) -> None:
        for form in encoded_forms(value):
            self._echoes.setdefault(form, placeholder)
        self._echo_re = None

    # free text

    def _scrub_free(self, text: str) -> str:
        """Scrub a value without a known key: a URL by its parts, anything else as text."""
        if _URLISH_RE.fullmatch(text):
            return self._scrub_url(text)
        return self._scrub_text(text)

    def _scrub_text(self, text: str, raw_body: bool = False) -> str:
        """Replace known values, then JWTs, values of secret keys and base64 carrying a secret; in a raw body
        (no structure to tell ids from tokens) also long hex strings. New aliases are numbered left to right."""
        if not text:
            return text
        if self._echoes:
            if self._echo_re is None:
                forms = sorted(self._echoes, key=len, reverse=True)
                self._echo_re = _protected("|".join(map(re.escape, forms)))
            text = _sub(self._echo_re, self._echoes.__getitem__, text)
        found: list[tuple[int, int, int, str]] = []  # start, end, precedence, kind
        placeholders = [m.span() for m in _PLACEHOLDER_SPAN_RE.finditer(text)]
        for key, start, end in iter_key_values(text):
            kind = self._value_kind(key, text[start:end], trusted_key=False)
            inside = any(p_start < end and start < p_end for p_start, p_end in placeholders)
            if kind and not inside and not _is_placeholder(unquote_plus(text[start:end])):
                found.append((start, end, 0, kind))
        found += [
            (*m.span(), 1, "token") for m in _JWT_OUTSIDE.finditer(text) if not m["_ph"] and jwt_header(m.group(0))
        ]
        if self._secrets:
            found += [
                (*m.span(), 2, "base64")
                for m in _BASE64_RUN_OUTSIDE.finditer(text)
                if not m["_ph"] and self._base64_secret(m.group(0))
            ]
        if raw_body:
            found += [(*m.span(), 3, "token") for m in _LONG_HEX_OUTSIDE.finditer(text) if not m["_ph"]]
        pieces: list[str] = []
        last = 0
        for start, end, _, kind in sorted(found, key=lambda f: (f[0], f[2])):
            if start >= last:
                value = text[start:end]
                replacement = self._base64_secret(value) if kind == "base64" else self._placeholder(kind, value)
                assert replacement is not None  # a base64 run is in `found` only when _base64_secret replaces it
                pieces += [text[last:start], replacement]
                last = end
        return "".join(pieces) + text[last:]

    def _base64_secret(self, run: str) -> str | None:
        """The placeholder for a base64 run that decodes to text containing a credential, else None."""
        try:
            decoded = base64.b64decode(run.translate(str.maketrans("-_", "+/")) + "=" * (-len(run) % 4))
        except (binascii.Error, ValueError):
            return None
        for secret, placeholder in self._secrets.items():
            if secret.encode("utf-8") in decoded:
                return "<basic>" if b":" in decoded else placeholder
        return None

    def _value_kind(self, key: str, value: object, trusted_key: bool) -> str | None:
        """The kind of a key's value; an ambiguous key (``code``) counts only in forms and query strings
        (``trusted_key``) or when its value looks random."""
        kind = key_kind(key)
        if kind and not trusted_key and key_name(key) in _AMBIGUOUS_NAMES:
            return kind if isinstance(value, str) and _looks_random(value) else None
        return kind

    # structured parts

    def _scrub_url(self, uri: str) -> str:
        try:
            parts = urlsplit(uri)
        except ValueError:
            return self._scrub_text(uri)
        netloc = parts.netloc
        userinfo, at, hostport = netloc.rpartition("@")
        if at and ":" in userinfo:
            user, _, password = userinfo.partition(":")
            netloc = f"{user}:{quote(self._placeholder('secret', unquote(password)), safe='')}@{hostport}"
        path = "/".join(self._scrub_url_segment(segment) for segment in parts.path.split("/"))
        query = self._scrub_form(parts.query, trusted_keys=True)
        fragment = (
            self._scrub_form(parts.fragment, trusted_keys=True)
            if "=" in parts.fragment
            else self._scrub_url_segment(parts.fragment)
        )
        scrubbed = (parts.scheme, netloc, path, query, fragment)
        return uri if scrubbed == tuple(parts) else urlunsplit(scrubbed)

    def _scrub_url_segment(self, segment: str) -> str:
        value = unquote(segment)
        scrubbed = self._scrub_text(value)
        return segment if scrubbed == value else quote(scrubbed, safe="")

    def _scrub_form(self, text: str, trusted_keys: bool = True) -> str:
        """Scrub ``k=v&k=v``; only changed pairs are re-encoded, so the rest stays byte for byte."""
        pairs = []
        for pair in text.split("&"):
            raw_key, eq, raw_value = pair.partition("=")
            key, value = unquote_plus(raw_key), unquote_plus(raw_value)
            kind = self._value_kind(key, value, trusted_key=trusted_keys)
            new_key = self._scrub_text(key)
            new_value = self._placeholder(kind, value) if kind else self._scrub_free(value)
            if new_key != key:
                raw_key = quote_plus(new_key)
            if new_value != value:
                raw_value = quote_plus(new_value)
            pairs.append(f"{raw_key}{eq}{raw_value}")
        return "&".join(pairs)

    def scrub_header(self, name: str, value: str) -> str:
        """A request or response header's value with every credential replaced by its placeholder."""
        return self._scrub_header(name, value)

    def _scrub_header(self, name: str, value: str) -> str:
        lowered = name.lower()
        if lowered in ("authorization", "proxy-authorization"):
            return self._scrub_authorization(value)
        if lowered == "cookie":
            return "; ".join(self._scrub_cookie(pair.strip()) for pair in value.split(";"))
        if lowered == "set-cookie":
            first, sep, attributes = value.partition(";")
            return self._scrub_cookie(first) + sep + self._scrub_text(attributes)
        kind = key_kind(name)
        if kind:
            return self._placeholder(kind, value.strip())
        return self._scrub_free(value)

    def _scrub_authorization(self, value: str) -> str:
        scheme, _, credentials = value.strip().partition(" ")
        credentials = credentials.strip()
        if not credentials:
            return self._placeholder("token", scheme)
        if scheme.lower() == "basic":
            if not _is_placeholder(credentials):
                self._remember_basic(credentials)
            return f"{scheme} <basic>"
        return f"{scheme} {self._placeholder('token', credentials)}"

    def _remember_basic(self, credentials: str) -> None:
        decoded = decode_basic(credentials)
        if decoded and decoded[1]:
            self._remember_secret(decoded[1])
        self._echo(credentials, "<basic>")

    def _scrub_cookie(self, pair: str) -> str:
        name, eq, value = pair.partition("=")
        if not eq:
            return self._placeholder("token", name.strip())
        return f"{name}={self._placeholder('token', value.strip())}"

    def _scrub_body(self, body: bytes | str | None, content_type: str) -> bytes | str | None:
        if not body:
            return body
        if isinstance(body, str):
            return self._scrub_body_text(body, content_type)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            # Binary: latin-1 maps bytes 1:1, so secrets are found and everything else is kept as is.
            return self._scrub_text(body.decode("latin-1"), raw_body=True).encode("latin-1")
        scrubbed = self._scrub_body_text(text, content_type)
        return body if scrubbed == text else scrubbed.encode("utf-8")

    def _scrub_body_text(self, text: str, content_type: str) -> str:
        content_type = content_type.lower()
        if "json" in content_type or text.lstrip()[:1] in ("{", "["):
            scrubbed = self._scrub_json(text)
            if scrubbed is not None:
                return scrubbed
        if "x-www-form-urlencoded" in content_type or ("json" not in content_type and _FORM_RE.fullmatch(text)):
            return self._scrub_form(text)
        return self._scrub_text(text, raw_body=True)

    def _scrub_json(self, text: str) -> str | None:
        """The scrubbed JSON document, the original text if nothing changed, or None if it is not JSON."""
        try:
            parsed = json.loads(
                text, object_pairs_hook=_Pairs, parse_int=_Number, parse_float=_Number, parse_constant=_Number
            )
            # twice: the first pass learns the tokens under token keys, so the second also replaces a copy of one
            # that stands earlier under a key of no known kind ({"previous": t, "access_token": t})
            self._scrub_json_node(parsed, None)
            scrubbed = self._scrub_json_node(parsed, None)
        except (ValueError, RecursionError):
            return None
        return text if scrubbed == parsed else _dump_json(scrubbed)

    def _scrub_json_node(self, node: object, kind: str | None) -> object:
        if isinstance(node, _Pairs):
            return _Pairs(
                (self._scrub_text(key), self._scrub_json_node(value, kind or self._value_kind(key, value, False)))
                for key, value in node
            )
        if isinstance(node, list):
            return [self._scrub_json_node(item, kind) for item in node]
        if isinstance(node, _Number):
            return self._placeholder(kind, str(node)) if kind else node
        if isinstance(node, str):
            return self._placeholder(kind, node) if kind else self._scrub_free(node)
        return node


def _body_bytes(body: object) -> bytes | None:
    """A vcrpy request body (bytes, str, file-like or iterator of chunks) as bytes."""
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        return body.read()
    chunks = cast("Iterable[object]", body)  # what is left is an iterator of chunks
    return b"".join(chunk if isinstance(chunk, bytes) else str(chunk).encode("utf-8") for chunk in chunks)


def _content_type(headers: dict) -> str:
    for name, value in headers.items():
        if name.lower() == "content-type":
            return (value[0] if isinstance(value, list) and value else value) or ""
    return ""


def _fix_content_length(headers: dict, body: bytes | str | None, wrap: Callable[[str], object]) -> None:
    length = len(body.encode("utf-8") if isinstance(body, str) else body or b"")
    for name in headers:
        if name.lower() == "content-length":
            headers[name] = wrap(str(length))

"""Reading vcrpy YAML cassette files: the one `CassetteError`, a fast safe loader, and the validation.

Both the recorder's replay (`authcanary.recording.cassette`) and the drift normalizer read cassettes through
`load_cassette`, so a file is either usable everywhere or rejected everywhere with the same reason. This module
imports neither vcrpy nor httpx: the normalizer (and its forked workers) stays quick to import.

Speed: parsing is the bulk of the cost of reading a cassette. Documents are built straight from libyaml's parser
events (~3x faster than PyYAML's constructor-based loader, same result; anything unusual falls back to the safe
loader), and a reader that needs only some response headers (``only_headers``) has the others cut from the text
before parsing: real responses carry many headers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

try:
    from yaml._yaml import CParser as _CParser
except ImportError:  # PyYAML built without libyaml: the pure-Python loader still works, only slower
    _CParser = None

__all__ = ["FORMAT_VERSION", "CassetteError", "load_cassette"]

#: the cassette format version vcrpy writes and reads (``vcr.serialize.CASSETTE_FORMAT_VERSION``)
FORMAT_VERSION = 1


class CassetteError(ValueError):
    """A cassette file that cannot be used: missing, truncated, corrupted, not YAML, wrong version or shape.

    A ValueError, so callers that handle bad input generally also handle a bad cassette."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = " ".join(reason.split())
        super().__init__(f"cassette {self.path}: {self.reason}")


def load_cassette(path: Path | str, *, only_headers: Iterable[str] | None = None) -> list[dict]:
    """The interactions of a vcrpy YAML cassette as serialized (``{"request": {...}, "response": {...}}``).

    With ``only_headers`` (names, any case), request and response headers with other names may be left out
    (faster: for readers that look at a few headers only). Raises `CassetteError` naming the file for anything that
    is not a complete, valid cassette.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CassetteError(path, "cannot be read (file not found)") from None
    except OSError as error:
        raise CassetteError(path, f"cannot be read ({error.strerror or error})") from None
    if not data.strip():
        raise CassetteError(path, "file is empty")
    # Before parsing: a fast parse never sees the header lines it cuts, so corruption there must be caught here.
    _check_text(path, data)
    document = None
    if only_headers is not None:
        try:
            document = _parse(_without_headers_but(data, frozenset(only_headers)))
        except yaml.YAMLError:
            pass  # report, or recover from, the file as written
    if document is None:
        try:
            document = _parse(data)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            problem = getattr(error, "problem", None) or type(error).__name__
            raise CassetteError(path, f"not valid YAML ({problem}{where}): truncated or corrupted?") from None
    return _interactions(path, document)


# -- validation ---------------------------------------------------------------------------------------------------


def _interactions(path: Path, document: object) -> list[dict]:
    """The interactions of a parsed cassette; raises `CassetteError` for anything the recorder never writes (a hand
    edit or corruption): without this check such a cassette would not fail, it would be compared as drift."""
    if not isinstance(document, dict):
        raise CassetteError(
            path, f"top level is a {type(document).__name__}, expected a mapping with 'version' and 'interactions'"
        )
    if "version" not in document:
        # yaml.dump sorts keys, so `version` is the last line: its absence usually means truncation.
        raise CassetteError(path, "no 'version' key: truncated or not a vcrpy cassette")
    if document["version"] != FORMAT_VERSION:
        raise CassetteError(path, f"unsupported format version {document['version']!r} (expected {FORMAT_VERSION})")
    interactions = document.get("interactions")
    if not isinstance(interactions, list):
        raise CassetteError(path, "'interactions' is missing or not a list")
    for index, interaction in enumerate(interactions):
        problem = _invalid(interaction)
        if problem:
            raise CassetteError(path, f"interaction {index}{problem}")
    return interactions


_TEXT_OR_NONE = (str, bytes, type(None))


def _invalid(interaction: object) -> str | None:
    """What is wrong with one interaction (to follow ``interaction N``), or None."""
    if not isinstance(interaction, dict):
        return " is not a mapping"
    request, response = interaction.get("request"), interaction.get("response")
    if not isinstance(request, dict) or not isinstance(response, dict):
        return " needs 'request' and 'response' mappings"
    if not isinstance(request.get("method"), str) or not request["method"]:
        return ": request.method is missing or not a string"
    if not _absolute_url(request.get("uri")):
        return f": request.uri {request.get('uri')!r} is not an absolute URL"
    if not isinstance(request.get("body"), _TEXT_OR_NONE):
        return ": request.body is not text"
    status = response.get("status")
    code = status.get("code") if isinstance(status, dict) else None
    if not isinstance(status, dict) or type(code) is not int or not 100 <= code <= 599:
        return ": response.status.code is missing or not an HTTP status"
    if not isinstance(status.get("message", ""), (str, type(None))):
        return ": response.status.message is not text"
    body = response.get("body")
    if not isinstance(body, dict) or not isinstance(body.get("string"), _TEXT_OR_NONE):
        return ": response.body.string is missing or not text"
    for part, headers in (("request", request.get("headers")), ("response", response.get("headers"))):
        if not _valid_headers(headers):
            return f": {part}.headers must map names to lists of strings"
    return None


@lru_cache(maxsize=4096)
def _absolute_url_text(uri: str) -> bool:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return bool(parts.scheme and parts.netloc)


def _absolute_url(uri: object) -> bool:
    return isinstance(uri, str) and _absolute_url_text(uri)


def _valid_headers(headers: object) -> bool:
    return isinstance(headers, dict) and all(
        isinstance(name, str) and isinstance(values, list) and all(isinstance(value, str) for value in values)
        for name, values in headers.items()
    )


# -- the text ------------------------------------------------------------------------------------------------------

#: characters YAML never allows in a document (C0 controls but tab/LF/CR, DEL, C1 controls but NEL): vcrpy
#: escapes them, so in a cassette they mean corruption
_NOT_YAML_TEXT = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x84\x86-\x9f]")
_YAML_ASCII = b"\t\n\r" + bytes(range(0x20, 0x7F))


def _check_text(path: Path, data: bytes) -> None:
    """Raise for bytes no cassette can hold. Printable ASCII, nearly all of a cassette, is skipped at C speed."""
    rest = data.translate(None, _YAML_ASCII)
    if not rest:
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CassetteError(path, f"not UTF-8 text (byte {error.start}): corrupted") from None
    if _NOT_YAML_TEXT.search(rest):
        bad = _NOT_YAML_TEXT.search(data)
        raise CassetteError(path, f"control character at byte {bad.start() if bad else '?'}: corrupted")


# vcrpy's layout: "    headers:" (request or response), then "      Name:" and "      - value" lines, values folded
# onto lines indented 8+. Entries of other headers are cut before parsing; any other layout is parsed as it is.
_HEADERS_BLOCK = re.compile(rb"^    headers:\n((?:      .*\n)+)", re.M)


@lru_cache(maxsize=8)
def _other_header(names: frozenset[str]) -> re.Pattern[bytes]:
    kept = b"|".join(re.escape(name.encode("ascii")) for name in sorted(names))
    return re.compile(
        rb"^      (?!(?:" + kept + rb"):\n)[A-Za-z0-9_-]+:\n(?:      - .*\n(?:        .*\n)*)+", re.M | re.I
    )


def _without_headers_but(data: bytes, names: frozenset[str]) -> bytes:
    other = _other_header(names)

    def kept(block: re.Match[bytes]) -> bytes:
        entries = other.sub(b"", block.group(1))
        return b"    headers:\n" + entries if entries else b"    headers: {}\n"

    return _HEADERS_BLOCK.sub(kept, data)


# -- parsing -------------------------------------------------------------------------------------------------------

if TYPE_CHECKING:
    from yaml import SafeLoader as _BaseSafeLoader
else:  # the C loader when libyaml is there
    _BaseSafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SafeCassetteLoader(_BaseSafeLoader):
    """Safe loader that also reads the harmless python/str and python/tuple tags older vcrpy wrote."""


_SafeCassetteLoader.add_constructor("tag:yaml.org,2002:python/str", SafeConstructor.construct_scalar)
_SafeCassetteLoader.add_constructor("tag:yaml.org,2002:python/unicode", SafeConstructor.construct_scalar)
_SafeCassetteLoader.add_constructor(
    "tag:yaml.org,2002:python/tuple", lambda loader, node: tuple(loader.construct_sequence(node))
)


class _NeedsFullLoader(Exception):
    """The fast event loader met a YAML feature it leaves to the full loader."""


_SCALARS = SafeConstructor()
_PLAIN_RESOLVERS = {
    first: tuple(resolvers) for first, resolvers in Resolver.yaml_implicit_resolvers.items() if first is not None
}
_NUMERIC = frozenset("-+.0123456789")  # other implicit non-strings (bool, null, merge, value) are < 6 chars
_SCALAR_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:binary",
}
_TEXT_TAGS = {"tag:yaml.org,2002:str", "tag:yaml.org,2002:python/str", "tag:yaml.org,2002:python/unicode", "!"}
_COLLECTION_TAGS = {None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:python/tuple"}
_NO_KEY = object()


def _scalar(event: ScalarEvent) -> Any:
    """Construct a tagged or maybe-not-a-string scalar exactly as the safe loader would (YAML 1.1 rules)."""
    tag, value = event.tag, event.value
    if tag is None:
        if not event.implicit[0]:
            return value
        for resolved, regexp in _PLAIN_RESOLVERS.get(value[:1], ()):
            if regexp.match(value):
                tag = resolved
                break
        else:
            return value
    if tag in _TEXT_TAGS:
        return value
    if tag not in _SCALAR_TAGS:
        raise _NeedsFullLoader(tag)
    return _SCALARS.yaml_constructors[tag](_SCALARS, ScalarNode(tag, value))


def _load_events(data: bytes) -> Any:
    """Build the document from libyaml parser events."""
    parser = _CParser(data)
    anchors: dict[str, Any] = {}
    stack: list[tuple[Any, Any]] = []
    container: Any = None
    key: Any = None
    root: Any = None
    documents = 0
    try:
        while True:
            event = parser.get_event()
            kind = type(event)
            if kind is ScalarEvent:
                value = event.value
                if event.tag is not None or (
                    event.implicit[0] and value[:1] in _PLAIN_RESOLVERS and (len(value) < 6 or value[0] in _NUMERIC)
                ):
                    value = _scalar(event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.tag not in _COLLECTION_TAGS:
                    raise _NeedsFullLoader(event.tag)
                value = {} if kind is MappingStartEvent else []
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                container, key = stack.pop()
                continue
            elif kind is AliasEvent:
                if event.anchor not in anchors:
                    raise _NeedsFullLoader("undefined alias")
                value = anchors[event.anchor]
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _NeedsFullLoader("several documents")
                continue
            elif kind is StreamEndEvent:
                return root
            elif kind is StreamStartEvent or kind is DocumentEndEvent:
                continue
            else:
                raise _NeedsFullLoader(kind.__name__)

            if kind is not AliasEvent and event.anchor is not None:
                anchors[event.anchor] = value
            if container is None:
                root = value
            elif type(container) is list:
                container.append(value)
            elif key is _NO_KEY:
                if type(value) is dict or type(value) is list:
                    raise _NeedsFullLoader("collection used as a mapping key")
                key = value
            else:
                container[key] = value
                key = _NO_KEY
            if kind is MappingStartEvent or kind is SequenceStartEvent:
                stack.append((container, key))
                container, key = value, _NO_KEY
    finally:
        parser.dispose()


def _parse(data: bytes) -> Any:
    try:
        if _CParser is None:
            raise _NeedsFullLoader("libyaml unavailable")
        return _load_events(data)
    except _NeedsFullLoader:
        return yaml.load(data, Loader=_SafeCassetteLoader)  # noqa: S506 - a safe loader subclass

"""Normalize scrubbed vcrpy cassettes into comparable, vendor-agnostic steps.

A cassette folder is laid out as ``<dir>/<vendor>/<test id>.yaml``. Every recorded interaction becomes a
:class:`Step`:

* ``key`` is ``"<vendor>/<test id>#<signature>#<k>"``. The signature is ``METHOD /path/{id}?qkeys [bodykeys]``:
  the path template (segments that are uuids, hex of 16+ chars, digits, jwts or scrub placeholders become
  ``{id}``; the host is left out so sim and staging recordings compare), the sorted query keys without values,
  and the sorted top-level keys of a form or JSON request body. ``k`` counts earlier interactions with the same
  signature in the same cassette, so a step inserted elsewhere does not shift the keys of the others.
* the observation: status code, a few normalized response headers (:data:`CHOSEN_HEADERS`) and the body
  *shape*: JSON path (``$``, ``$.a.b``, ``$.items[]``) -> ``(type, format class)``.

Values are kept only where they can mean something (see :func:`normalize_folder`): for paths the contract
declares constant, and for *stable* values. Everything else (tokens, ids, timestamps, lifetimes) is compared by
shape only: volatile is not drift.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from authcanary.recording.cassette_file import CassetteError, load_cassette
from authcanary.recording.shapes import placeholder_shape, token_shape

__all__ = [
    "CHOSEN_HEADERS",
    "CassetteError",
    "Constants",
    "Step",
    "as_constants",
    "classify_string",
    "classify_value",
    "load_cassette",
    "normalize_cassette",
    "normalize_folder",
    "normalize_folders",
    "is_volatile_format",
    "path_template",
    "vendor_cassettes",
]

CASSETTE_SUFFIXES = (".yaml", ".yml")


# --------------------------------------------------------------------------------------------------
# Format classes
# --------------------------------------------------------------------------------------------------

#: long runs of the base64url alphabet: key material (a JWK's n, kid), nonces, opaque ids. Random by nature.
_BASE64URL = re.compile(r"[A-Za-z0-9_-]{32,}\Z")
_ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?)?\Z")
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+\Z")
#: Format classes whose values are volatile by nature: never kept, and ``{id}`` when they are a path segment.
VOLATILE_PREFIXES = (
    "hex",
    "uuid",
    "jwt(",
    "basic",
    "opaque",
    "secret",
    "placeholder(",
    "epoch-",
    "iso-8601",
    "base64url",
)
#: Format classes whose values may be kept when stable (see :func:`normalize_folder`).
KEEPABLE_FORMATS = frozenset({"string", "url", "int", "number", "bool", "null", "empty-string"})


@lru_cache(maxsize=16384)
def classify_string(text: str) -> str:
    """Format class of a string. Tokens are classified by the scrubber's vocabulary
    (:class:`~authcanary.recording.shapes.TokenShape`, its ``format_class``): jwt(ALG;claims), hexN, uuid; and so
    are scrub placeholders, which classify like the value they hide (``<token#1 hex32>`` is hex32; also basic,
    opaque, secret). Other strings: iso-8601, email, url, base64url (>= 32 characters of that alphabet, mixed case),
    empty-string or string."""
    if not text:
        return "empty-string"
    first = text[0]
    if first == "<" and text[-1] == ">":
        shape = placeholder_shape(text)
        return shape.format_class if shape else "string"
    shape = token_shape(text)
    if shape.kind != "opaque":
        return shape.format_class
    size = len(text)
    if first.isdigit() and size >= 10 and _ISO_8601.match(text):
        return "iso-8601"
    if first == "h" and (text.startswith("https://") or text.startswith("http://")):
        return "url"
    if "@" in text and _EMAIL.match(text):
        return "email"
    if size >= 32 and _BASE64URL.match(text) and not (text.islower() or text.isupper()):
        return "base64url"
    return "string"


class _Shapes(dict):
    """Interned ``(type, format)`` tuples: fewer objects, and pickling results from workers stays cheap."""

    def __missing__(self, shape: tuple[str, str]) -> tuple[str, str]:
        self[shape] = shape
        return shape


_SHAPES = _Shapes()


def _number_format(value: float, default: str) -> str:
    magnitude = abs(value)
    if 1e9 <= magnitude < 1e10:
        return "epoch-s"
    if 1e12 <= magnitude < 1e13:
        return "epoch-ms"
    return default


def classify_value(value: Any) -> tuple[str, str]:
    """``(type, format class)`` of a JSON scalar: int/number carry epoch-s or epoch-ms, strings see
    :func:`classify_string`; objects and arrays are handled by the shape walk."""
    kind = type(value)
    if kind is str:
        return _SHAPES["string", classify_string(value)]
    if kind is bool:
        return _SHAPES["bool", "bool"]
    if kind is int:
        return _SHAPES["int", _number_format(value, "int")]
    if kind is float:
        return _SHAPES["number", _number_format(value, "number")]
    if value is None:
        return _SHAPES["null", "null"]
    return _SHAPES[kind.__name__, kind.__name__]


def is_volatile_format(fmt: str) -> bool:
    """True for format classes whose values differ every run (tokens, ids, timestamps)."""
    return fmt.startswith(VOLATILE_PREFIXES)


# --------------------------------------------------------------------------------------------------
# Request signature
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _segment_template(segment: str) -> str:
    if not segment:
        return segment
    text = unquote(segment)
    if text.isdigit() or (text[0] == "<" and text[-1] == ">") or is_volatile_format(classify_string(text)):
        return "{id}"
    return segment


@lru_cache(maxsize=8192)
def path_template(uri: str) -> str:
    """``/v2/projects/<uuid>/x?b=1&a=2`` -> ``/v2/projects/{id}/x?a&b`` (no host, no query values)."""
    parts = urlsplit(uri, allow_fragments=False)  # requests carry no fragment; raw placeholders hold "#"
    template = "/".join(_segment_template(segment) for segment in parts.path.split("/")) or "/"
    if parts.query:
        keys = sorted({key for key, _ in parse_qsl(parts.query, keep_blank_values=True)})
        template += "?" + "&".join(keys)
    return template


@lru_cache(maxsize=4096)
def _body_keys(body: str | bytes) -> tuple[str, ...]:
    """Sorted top-level keys of a JSON object or form-encoded request body."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            return ()
    body = body.strip()
    if body[:1] == "{":
        try:
            document = json.loads(body)
        except ValueError:
            return ()
        return tuple(sorted(document)) if isinstance(document, dict) else ()
    if "=" in body:
        return tuple(sorted({key for key, _ in parse_qsl(body, keep_blank_values=True)}))
    return ()


def _signature(method: str, template: str, body_keys: tuple[str, ...]) -> str:
    signature = f"{method} {template} [{','.join(body_keys)}]" if body_keys else f"{method} {template}"
    return signature.replace("#", "%23")


# --------------------------------------------------------------------------------------------------
# Response headers
# --------------------------------------------------------------------------------------------------

_CHALLENGE_PARAM = re.compile(r"([A-Za-z0-9_-]+)\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^,\s]*)")
_LINK_REL = re.compile(r"rel\s*=\s*\"?([^\";,]+)")


def _content_type(value: str) -> str:
    media, *params = value.lower().split(";")
    charset = [p.strip().replace('"', "").replace(" ", "") for p in params if p.strip().startswith("charset")]
    return "; ".join([media.strip(), *charset])


def _www_authenticate(value: str) -> str:
    scheme = value.strip().split(" ", 1)[0].lower()
    params = sorted(
        "error=" + raw.strip('"') if name.lower() == "error" else name.lower()
        for name, raw in _CHALLENGE_PARAM.findall(value)
    )
    return f"{scheme} ({', '.join(params)})" if params else scheme


def _retry_after(value: str) -> str:
    return "present (seconds)" if value.strip().isdigit() else "present (http-date)"


def _link(value: str) -> str:
    rels = sorted({rel for found in _LINK_REL.findall(value) for rel in found.lower().split()})
    return f"rel={','.join(rels)}" if rels else "present"


_HEADER_NORMALIZERS = {
    "content-type": _content_type,
    "cache-control": lambda v: ", ".join(sorted(d.strip().lower() for d in v.split(",") if d.strip())),
    "pragma": lambda v: v.strip().lower(),
    "www-authenticate": _www_authenticate,
    "retry-after": _retry_after,
    "deprecation": str.strip,
    "sunset": str.strip,
    "link": _link,
}
#: Response headers kept in a step (lower-case names); all other headers are ignored.
CHOSEN_HEADERS = tuple(_HEADER_NORMALIZERS)


@lru_cache(maxsize=1024)
def _chosen_name(name: Any) -> str | None:
    lowered = str(name).lower()
    return lowered if lowered in _HEADER_NORMALIZERS else None


@lru_cache(maxsize=4096)
def _header_value(name: str, text: str) -> str:
    return _HEADER_NORMALIZERS[name](text)


def _chosen_headers(headers: dict[str, list[str]]) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for name, values in headers.items():
        lowered = _chosen_name(name)
        if lowered is not None:
            chosen[lowered] = _header_value(lowered, ", ".join(values))
    return chosen


# --------------------------------------------------------------------------------------------------
# Body shape
# --------------------------------------------------------------------------------------------------

_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_\-]+\Z")
_MIXED = object()  # several values at one array element path: not a keepable value


@lru_cache(maxsize=4096)
def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if _SIMPLE_KEY.match(key) else f"{path}[{json.dumps(key)}]"


def _merge(old: tuple[str, str], new: tuple[str, str]) -> tuple[str, str]:
    """Shape of an array element path seen with different shapes in different elements."""
    if old[0] == new[0] == "array":
        return _ARRAY
    kinds = sorted(set(old[0].split("|")) | set(new[0].split("|")))
    formats = sorted(set(old[1].split("|")) | set(new[1].split("|")))
    return _SHAPES["|".join(kinds), "|".join(formats)]


_OBJECT = _SHAPES["object", "object"]
_ARRAY = _SHAPES["array", "array"]
_EMPTY_ARRAY = _SHAPES["array", "empty"]


class _ShapeWalk:
    """Flattens one JSON document into ``path -> (type, format)`` and the candidate values."""

    __slots__ = ("shape", "values", "declared")

    def __init__(self, declared: Mapping[str, Any]):
        self.shape: dict[str, tuple[str, str]] = {}
        self.values: dict[str, Any] = {}
        self.declared = declared

    def put(self, path: str, shape: tuple[str, str], in_array: bool) -> None:
        if in_array and path in self.shape and self.shape[path] != shape:
            self.shape[path] = _merge(self.shape[path], shape)
        else:
            self.shape[path] = shape

    def walk(self, value: Any, path: str, in_array: bool = False) -> None:
        kind = type(value)
        if kind is dict:
            self.put(path, _OBJECT, in_array)
            for key, item in value.items():
                self.walk(item, _child(path, key), in_array)
        elif kind is list:
            if not value:
                if not (in_array and path in self.shape):
                    self.shape[path] = _EMPTY_ARRAY
                return
            self.put(path, _ARRAY, in_array)
            element = path + "[]"
            for item in value:
                self.walk(item, element, True)
        else:
            shape = classify_value(value)
            self.put(path, shape, in_array)
            if shape[1] in KEEPABLE_FORMATS or path in self.declared:
                if in_array and path in self.values and not _same(self.values[path], value):
                    value = _MIXED
                self.values[path] = value


def _text_format(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        return "empty"
    head = stripped[:200].lower()
    if head.startswith("<!doctype html") or "<html" in head:
        return "html"
    fmt = classify_string(stripped)
    if fmt != "string":
        return fmt
    if len(stripped) < 80:
        return "short"
    return "medium" if len(stripped) < 1024 else "long"


def _body_observation(body: Any, content_type: str, declared: Mapping[str, Any]) -> _ShapeWalk:
    walk = _ShapeWalk(declared)
    text = body.get("string") if isinstance(body, dict) else body
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            walk.shape["$"] = _SHAPES["binary", "binary"]
            return walk
    if text is None:
        text = ""
    elif not isinstance(text, str):
        text = str(text)
    stripped = text.strip()
    if stripped[:1] in ("{", "[", '"') or (stripped and "json" in content_type):
        try:
            document = json.loads(stripped)
        except ValueError:
            pass
        else:
            walk.walk(document, "$")
            return walk
    walk.shape["$"] = _SHAPES["text", _text_format(text)]
    if 0 < len(stripped) <= 200:
        walk.values["$"] = stripped
    return walk


# --------------------------------------------------------------------------------------------------
# Contract constants
# --------------------------------------------------------------------------------------------------

_TEMPLATE_PARAM = re.compile(r"\\\{[^/]*?\\\}")


class Constants:
    """Contract constants ``{"METHOD /path/{x}": {"200": {"$.json.path": value}}}`` indexed for lookup.

    A contract path matches a recorded path template that ends with it (recordings keep the base URL's path
    prefix); ``{param}`` matches any one segment. Status keys are exact (``"200"``) or a class (``"2XX"``).
    """

    def __init__(self, mapping: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None):
        self._entries = []
        for endpoint, by_status in (mapping or {}).items():
            method, _, template = endpoint.strip().partition(" ")
            template = template.strip().split("?", 1)[0].rstrip("/")
            body = _TEMPLATE_PARAM.sub("[^/]+", re.escape(template))
            pattern = re.compile(r"(?:/[^?]*)?" + body + r"/?" if body else r"/?")
            statuses = {str(status).upper(): dict(paths) for status, paths in by_status.items()}
            self._entries.append((method.upper(), pattern, statuses))
        self._cache: dict[tuple[str, str, int], dict[str, Any]] = {}

    def __bool__(self) -> bool:
        return bool(self._entries)

    def lookup(self, method: str, template: str, status: int) -> dict[str, Any]:
        """Declared ``{json path: value}`` for one method, recorded path template and status."""
        cache_key = (method, template, status)
        found = self._cache.get(cache_key)
        if found is None:
            found = {}
            path = template.split("?", 1)[0]
            for entry_method, pattern, statuses in self._entries:
                if entry_method == method and pattern.fullmatch(path):
                    found.update(statuses.get(f"{status // 100}XX", {}))
                    found.update(statuses.get(str(status), {}))
            self._cache[cache_key] = found
        return found


def as_constants(constants: Constants | Mapping | None) -> Constants:
    """Accept either a :class:`Constants` or the raw contract mapping."""
    return constants if isinstance(constants, Constants) else Constants(constants)


# --------------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------------


class Step(NamedTuple):
    """One normalized interaction: its stable key, what was asked and the shape of what came back."""

    key: str
    signature: str
    method: str
    path: str
    status: int
    headers: dict[str, str]
    shape: dict[str, tuple[str, str]]
    values: dict[str, Any]


def normalize_cassette(
    path: str | Path, vendor: str, test_id: str, constants: Constants | Mapping | None = None
) -> list[Step]:
    """Normalize every interaction of one cassette. ``values`` still holds every keepable candidate here;
    :func:`normalize_folder` prunes it to constants and stable values."""
    constants = as_constants(constants)
    steps: list[Step] = []
    occurrences: dict[str, int] = {}
    for interaction in load_cassette(path, only_headers=CHOSEN_HEADERS):  # validated: the fields have their types
        request, response = interaction["request"], interaction["response"]
        method = request["method"].upper()
        template = path_template(request["uri"])
        status = response["status"]["code"]
        body = request.get("body")
        body_keys = _body_keys(body) if isinstance(body, (str, bytes)) else ()
        signature = sys.intern(_signature(method, template, body_keys))
        k = occurrences.get(signature, 0)
        occurrences[signature] = k + 1
        headers = _chosen_headers(response["headers"])
        observed = _body_observation(
            response.get("body"), headers.get("content-type", ""), constants.lookup(method, template, status)
        )
        steps.append(
            Step(
                f"{vendor}/{test_id.replace('#', '%23')}#{signature}#{k}",
                signature,
                sys.intern(method),
                sys.intern(template),
                status,
                headers,
                observed.shape,
                observed.values,
            )
        )
    return steps


def vendor_cassettes(folder: str | Path, vendors: Iterable[str] | None = None) -> dict[str, list[tuple[str, Path]]]:
    """``{vendor: [(test id, file), ...]}`` for ``<folder>/<vendor>/**/<test id>.yaml``, sorted; vendors
    without any cassette are left out."""
    folder = Path(folder)
    wanted = set(vendors) if vendors is not None else None
    found: dict[str, list[tuple[str, Path]]] = {}
    if not folder.is_dir():
        return found
    for vendor_dir in sorted(folder.iterdir()):
        if not vendor_dir.is_dir() or vendor_dir.name.startswith("."):
            continue
        if wanted is not None and vendor_dir.name not in wanted:
            continue
        files = sorted(
            (file.relative_to(vendor_dir).with_suffix("").as_posix(), file)
            for file in vendor_dir.rglob("*")
            if file.suffix in CASSETTE_SUFFIXES and file.is_file()
        )
        if files:
            found[vendor_dir.name] = files
    return found


def normalize_folder(
    folder: str | Path,
    constants: Constants | Mapping | None = None,
    vendors: Iterable[str] | None = None,
    workers: int | None = None,
) -> dict[str, dict[str, Step]]:
    """Normalize a cassette folder into ``{vendor: {step key: Step}}`` (``workers``: :func:`normalize_folders`).

    Value-keeping rule: a step keeps the value at a JSON path when the contract declares that path constant
    for its endpoint and status, or when the value is *stable*: within this folder and vendor, the same
    signature + status + path was observed at least twice, always with this one value, and its format class
    is not volatile (strings, urls, numbers, booleans, null; never tokens, ids, emails or timestamps).
    Stable values are context for reports; only declared constants can produce ``value_changed``.
    """
    return normalize_folders([folder], constants, vendors, workers)[0]


def normalize_folders(
    folders: Sequence[str | Path],
    constants: Constants | Mapping | None = None,
    vendors: Iterable[str] | None = None,
    workers: int | None = None,
) -> list[dict[str, dict[str, Step]]]:
    """Normalize several cassette folders at once (one :func:`normalize_folder` result per folder).

    Parsing YAML dominates the cost, so large inputs are spread over worker processes: ``workers=None``
    picks one per available CPU once there are more than ``PARALLEL_MIN_BYTES`` of cassettes, ``1`` forces
    serial work. Workers are forked, so this only happens on Linux and in a single-threaded process.
    """
    constants = as_constants(constants)
    vendors = list(vendors) if vendors is not None else None
    jobs = [
        (index, vendor, test_id, file)
        for index, folder in enumerate(folders)
        for vendor, files in vendor_cassettes(folder, vendors).items()
        for test_id, file in files
    ]
    grouped: dict[tuple[int, str], list[Step]] = {}
    for (index, vendor, _, _), steps in zip(jobs, _normalize_jobs(jobs, constants, workers), strict=True):
        grouped.setdefault((index, vendor), []).extend(steps)
    normalized: list[dict[str, dict[str, Step]]] = [{} for _ in folders]
    for (index, vendor), steps in grouped.items():
        _keep_stable_values(steps, constants)
        normalized[index][vendor] = {step.key: step for step in steps}
    return normalized


PARALLEL_MIN_BYTES = 4_000_000
_MAX_WORKERS = 8


def _normalize_serial(jobs: Sequence[tuple[int, str, str, Path]], constants: Constants) -> list[list[Step]]:
    return [normalize_cassette(file, vendor, test_id, constants) for _, vendor, test_id, file in jobs]


def _worker_count(sizes: Sequence[int], requested: int | None) -> int:
    if requested is not None:
        wanted = requested
    else:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        wanted = min(cpus, _MAX_WORKERS) if sum(sizes) >= PARALLEL_MIN_BYTES else 1
    can_fork = sys.platform.startswith("linux") and threading.active_count() == 1
    return max(1, min(wanted, len(sizes))) if can_fork else 1


def _normalize_jobs(
    jobs: Sequence[tuple[int, str, str, Path]], constants: Constants, workers: int | None
) -> list[list[Step]]:
    """Steps of every job, in job order; the largest files are dealt out first to balance the workers."""
    sizes = [file.stat().st_size for _, _, _, file in jobs]
    workers = _worker_count(sizes, workers)
    if workers == 1:
        return _normalize_serial(jobs, constants)
    shares: list[list[int]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for position in sorted(range(len(jobs)), key=sizes.__getitem__, reverse=True):
        lightest = loads.index(min(loads))
        shares[lightest].append(position)
        loads[lightest] += sizes[position]
    results: list[list[Step]] = [[] for _ in jobs]
    try:
        with ProcessPoolExecutor(max_workers=workers - 1, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [
                (share, pool.submit(_normalize_serial, [jobs[p] for p in share], constants)) for share in shares[1:]
            ]
            for position, steps in zip(
                shares[0], _normalize_serial([jobs[p] for p in shares[0]], constants), strict=True
            ):
                results[position] = steps
            for share, future in futures:
                for position, steps in zip(share, future.result(), strict=True):
                    results[position] = steps
    except (OSError, BrokenProcessPool):  # no process could be forked, or a worker died: do it here
        return _normalize_serial(jobs, constants)
    return results


def _keep_stable_values(steps: list[Step], constants: Constants) -> None:
    """Prune each step's candidate values to declared constants and folder-stable values (in place)."""
    seen: dict[tuple[str, int, str], tuple[Any, int]] = {}
    for step in steps:
        for path, value in step.values.items():
            group = (step.signature, step.status, path)
            previous = seen.get(group)
            if previous is None:
                seen[group] = (value, 1)
            elif previous[0] is not _MIXED and _same(previous[0], value):
                seen[group] = (value, previous[1] + 1)
            else:
                seen[group] = (_MIXED, 0)
    for step in steps:
        if not step.values:
            continue
        declared = constants.lookup(step.method, step.path, step.status)
        for path in list(step.values):
            _, count = seen[(step.signature, step.status, path)]
            if step.values[path] is _MIXED or (path not in declared and count < 2):
                del step.values[path]


def _same(a: Any, b: Any) -> bool:
    """Equality that tells 1 from True and 1 from 1.0."""
    return type(a) is type(b) and a == b

"""Secret scanner for cassettes and run folders (``authcanary scan``): the check that nothing leaked.

Files are read in chunks, line by line: UTF-8, or UTF-16/32 as a byte-order mark or the NUL bytes of UTF-16 say; any
other file with a NUL byte is binary, and its printable runs are scanned (like ``strings``). Links to files and folders
are followed, each file and folder once. Every line is searched for:

- ``known-secret``: a given credential, raw, URL-encoded, JSON- or HTML-escaped, or base64-encoded at any
  byte alignment (so also inside ``Basic`` credentials);
- ``jwt``: three base64url segments whose first decodes to a JSON header with ``alg``;
- ``basic-credentials``: ``Basic <base64>`` decoding to ``user:password``;
- ``bearer-token``: a token-shaped value after ``Bearer``, ``Token`` or an authorization scheme a vendor
  declares in the registry (e.g. ``BimPlus``);
- ``credential-value``: a value of a secret or token key (``"password": ...``, ``access_token=...``, a YAML
  header list under ``x-api-key:``), including a bare 32-hex token;
- ``high-entropy``: a base64-alphabet run of >= 32 characters with Shannon entropy >= 4.0 bits/char.

The user part of ``curl -u "user:..."`` and values of public keys (``client_id``, ``application_id``, ``audience``,
a JWK's ``kid``, ``n``, ``e``, ``x``, ``y``, ``x5t`` on a line with ``kty``) look random but are not secrets: they are
never reported unless they contain a known secret.

Placeholders written by the Scrubber (raw, percent- or HTML-encoded) are never reported.

False positives are kept low on purpose: hex strings and UUIDs (commit hashes, ids, ETags, allure history
ids) are reported only as the value of a token-like key; the entropy threshold is 4.0 because random
base64/base64url strings of 32 characters measure >= 4.1 in 99.9% of samples (>= 4.36 at 43 characters)
while identifiers and words of that length measure about 3.3-3.9; runs must also mix character classes,
must not be mostly words (identifiers, test names) nor URL paths, and YAML ``!!binary`` blocks and
``data:`` URIs are data, not tokens. The price: a short random value (< 32 characters) under an unknown key
is missed, so pass the real credentials as ``known_secrets`` whenever they are available.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from authcanary.credentials import decode_basic
from authcanary.recording.scrub import (
    ENCODED_PLACEHOLDER_RE,
    JWT_RE,
    base64_run_re,
    encoded_forms,
    iter_key_values,
    key_kind,
    key_name,
)
from authcanary.recording.shapes import PLACEHOLDER_BODY, classify_token
from authcanary.registry import authorization_schemes
from authcanary.tokens import jwt_header

ENTROPY_THRESHOLD = 4.0
MIN_HIGH_ENTROPY_LEN = 32
_MIN_KNOWN_LEN = 4
_EXCERPT_CONTEXT = 40

_PLACEHOLDERS = re.compile(
    rf"(?:<|&lt;|\\u003c)(?:{PLACEHOLDER_BODY})(?:>|&gt;|\\u003e)|{ENCODED_PLACEHOLDER_RE.pattern}"
)
_BASIC_RE = re.compile(r"\bBasic\s+(?P<value>[A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])")
_BEARER_RE = re.compile(
    rf"\b(?:{'|'.join(map(re.escape, authorization_schemes()))})\s+"
    r"(?P<value>[A-Za-z0-9._~+/=-]{16,})"
)
_RUN_RE = base64_run_re(MIN_HIGH_ENTROPY_LEN)
# the path of a URL, up to where a run starts: documentation links are not tokens
_URL_PATH_BEFORE_RE = re.compile(r"[a-z][a-z0-9+.-]*://[^\s?#\"'<>]*$", re.IGNORECASE)
_WORD_RE = re.compile(r"[a-z]{4,}|[A-Z]{4,}|[A-Z][a-z]{3,}")
# words, CamelCase, snake/kebab case, dotted attribute paths: names, not credentials
_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z_-]*(?:\.[A-Za-z_][A-Za-z_-]*)*")
_ATTRIBUTE_PATH_RE = re.compile(r"(?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*")
# a piece of a name: a word (lower, Capitalized or UPPER) and numbers with more words, like v2, aes256gcm
_IDENTIFIER_PART_RE = re.compile(r"(?:[A-Z]?[a-z]*|[A-Z]*)(?:\d+(?:[a-z]*|[A-Z]*))*")
_YAML_KEY_ONLY_RE = re.compile(r"(?P<indent>\s*)(?:-\s+)?[\"']?(?P<key>[A-Za-z][\w-]*)[\"']?:\s*$")
_YAML_ITEM_RE = re.compile(r"(?P<indent>\s*)-\s+[\"']?(?P<value>.*?)[\"']?\s*$")
_YAML_BINARY_RE = re.compile(r"(?P<indent>\s*).*:\s*!!binary\s*[|>]?[-+]?\s*$")
#: keys (case and separators ignored) whose values are public identifiers or public key material
PUBLIC_KEYS = frozenset({"clientid", "applicationid", "audience", "kid", "x5t", "x5ts256"})
#: public members of a JSON Web Key; one-letter keys are public only next to the key's `kty`
JWK_PUBLIC_MEMBERS = frozenset({"n", "e", "x", "y"})
#: a JWK's certificate chain (RFC 7517 §4.7: base64 DER, public) and SHA-256 thumbprint (§4.9: `#` is no key
#: character), public next to the key's `kty` as Keycloak publishes them
_JWK_CERTIFICATE_RE = re.compile(r'"x5c"\s*:\s*\[(?P<chain>[^\]]*)\]|"x5t#S256"\s*:\s*"(?P<thumbprint>[^"]*)"')
_PROSE_WORDS = 3
_QUOTE = r"""(?:\\?["']|&\#34;|&\#39;|&quot;|&apos;)"""  # a quote, as is, backslash-escaped or as an HTML entity
#: the user (a client id) of curl's `-u "user:password"` in a repro; the password part is scanned as usual
_CURL_USER_RE = re.compile(rf"""(?:\s-u|--user)\s+{_QUOTE}?(?P<user>[^\s:"'&\\]+):""")
_CURL_OPTION_RE = re.compile(r"--[a-z][a-z-]+")
#: hypothesis' replay blob (`@reproduce_failure('6.1', b'...')`, printed in CI): its choices, never credentials
_HYPOTHESIS_BLOB_RE = re.compile(
    rf"reproduce_failure\(\s*{_QUOTE}[\w.]+{_QUOTE}\s*,\s*b{_QUOTE}(?P<blob>[A-Za-z0-9+/=]+)"
)


@dataclass(frozen=True)
class SecretHit:
    """A suspected secret: where it is, what it looks like, and the line around it with every hit masked."""

    file: Path
    line: int
    kind: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}: {self.excerpt}"


def scan_paths(
    paths: Iterable[Path | str], known_secrets: Iterable[str] = (), known_public: Iterable[str] = ()
) -> list[SecretHit]:
    """Scan files and directories (recursively, following links, skipping version control folders) for secrets.

    `known_secrets` are found in any encoding; `known_public` values (client ids a vendor may quote back in an
    error) are never reported, however random they look. Raises FileNotFoundError for a path that does not exist.
    """
    known, public = _known_pattern(known_secrets), _known_pattern(known_public)
    hits: list[SecretHit] = []
    for file in _files(paths):
        hits += _scan_lines(file, _read_lines(file), known, public)
    return hits


def shannon_entropy(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values()) if text else 0.0


#: folders a scan of a tree skips: version control and interpreter caches (hidden files such as .env are scanned)
SKIPPED_FOLDERS = frozenset({".git", ".hg", ".svn", "__pycache__", ".venv", ".tox", ".mypy_cache", ".ruff_cache"})


#: bytes read at a time; also the longest piece of a line scanned at once, so a file of any size needs about this
#: much memory
CHUNK_SIZE = 1 << 20
#: characters each piece of an over-long line repeats from the one before, so a secret across the cut is seen whole
OVERLAP = 8192
_CONTEXT = 256  # characters before a piece's own part, for the detectors' look-behind (URL paths: 200)
_SNIFF = 8192  # bytes that decide the encoding
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_LINE_ENDS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines splits at
_NOT_LINE_ENDS = dict.fromkeys(map(ord, _LINE_ENDS.replace("\n", "")), "\0")
#: a printable run of a binary file: 4+ characters without control characters or undecodable bytes
_PRINTABLE_RUN_RE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f-\x9f\ufffd]{4,}")


def _files(paths: Iterable[Path | str]) -> Iterator[Path]:
    """Each file under `paths`, in sorted order; a file or folder reached twice (links, a link loop) counts once."""
    seen: set[tuple[int, int]] = set()
    for path in map(Path, paths):
        if not (path.is_dir() or path.is_file()):
            raise FileNotFoundError(f"scan: {path} does not exist")
        stack = [path]
        while stack:
            entry = stack.pop()
            if not _first_visit(entry, seen):
                continue
            if entry.is_file():
                yield entry
            elif entry.is_dir() and (entry == path or entry.name not in SKIPPED_FOLDERS):
                stack += sorted(entry.iterdir(), reverse=True)


def _first_visit(path: Path, seen: set[tuple[int, int]]) -> bool:
    try:
        status = path.stat()
    except OSError:  # a dangling link or a link loop: nothing to read
        return False
    identity = (status.st_dev, status.st_ino)
    if identity in seen:
        return False
    seen.add(identity)
    return True


def _read_lines(file: Path) -> Iterator[tuple[int, str, int, int]]:
    """(number, text, first, bound) of each line of `file`, read a chunk at a time (see `_split_lines`)."""
    with file.open("rb") as stream:
        head = stream.read(CHUNK_SIZE)
        encoding = _encoding(head[:_SNIFF])
        chunks = itertools.chain([head], iter(lambda: stream.read(CHUNK_SIZE), b""))
        texts = _decode(chunks, encoding or "utf-8")
        if encoding is None:  # a binary's lines are numbered as grep numbers them: at "\n" only
            texts = (text.translate(_NOT_LINE_ENDS) for text in texts)
        lines = _split_lines(texts)
        yield from (_printable_runs(lines) if encoding is None else lines)


def _encoding(head: bytes) -> str | None:
    """The text encoding the first bytes of a file show, or None for a binary file."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    if b"\0" not in head:
        return "utf-8"
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > len(odd) / 2 and even.count(0) < len(even) / 20:  # ASCII text as UTF-16: every other byte 0
        return "utf-16-le"
    if even.count(0) > len(even) / 2 and odd.count(0) < len(odd) / 20:
        return "utf-16-be"
    return None


def _decode(chunks: Iterable[bytes], encoding: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    for chunk in chunks:
        yield decoder.decode(chunk)
    yield decoder.decode(b"", final=True)


def _split_lines(texts: Iterable[str]) -> Iterator[tuple[int, str, int, int]]:
    """(number, text, first, bound) of each line (as str.splitlines cuts them) of the concatenated `texts`: hits
    starting at `first` or later and before `bound` are this line's to report.

    A line longer than a chunk comes in pieces, each starting OVERLAP characters before the previous one's bound
    (so a secret across the cut is seen whole) plus _CONTEXT more for the detectors' look-behind."""
    number, pending, first = 1, "", 0
    for text in texts:
        *complete, pending = (pending + text).splitlines(keepends=True) or [""]
        for line in complete:
            yield number, line.rstrip(_LINE_ENDS), first, len(line)
            number, first = number + 1, 0
        if len(pending) > CHUNK_SIZE:
            yield number, pending, first, len(pending) - OVERLAP
            pending, first = pending[-OVERLAP - _CONTEXT :], _CONTEXT
    if pending:
        yield number, pending.rstrip(_LINE_ENDS), first, len(pending)


def _printable_runs(lines: Iterable[tuple[int, str, int, int]]) -> Iterator[tuple[int, str, int, int]]:
    """The printable runs of a binary file's lines, each scanned as a line of its own."""
    for number, line, first, bound in lines:
        for run in _PRINTABLE_RUN_RE.finditer(line):
            if run.end() > first and run.start() < bound:
                yield number, run.group(0), first - run.start(), bound - run.start()


def _known_pattern(known_secrets: Iterable[str]) -> re.Pattern[str] | None:
    forms: set[str] = set()
    for secret in known_secrets:
        if len(secret) >= _MIN_KNOWN_LEN:
            forms |= encoded_forms(secret) | _base64_cores(secret.encode("utf-8"))
    if not forms:
        return None
    return re.compile("|".join(map(re.escape, sorted(forms, key=len, reverse=True))))


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that encode only ``raw`` at each of the three byte alignments it can start at,
    so ``raw`` is found inside any longer base64 text (``user:secret`` in Basic credentials, !!binary)."""
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        core = encoded[math.ceil(offset * 8 / 6) : (offset + len(raw)) * 8 // 6]
        if len(core) >= 8:
            cores |= {core, core.translate(str.maketrans("+/", "-_"))}
    return cores


def _scan_lines(
    file: Path,
    lines: Iterable[tuple[int, str, int, int]],
    known: re.Pattern[str] | None,
    public: re.Pattern[str] | None = None,
) -> list[SecretHit]:
    hits = []
    binary_indent: int | None = None  # inside a YAML !!binary block: base64 lines are data
    list_key: tuple[int, str] | None = None  # a YAML `key:` whose values follow as `- value` lines
    for number, line, first, bound in lines:
        indent = len(line) - len(line.lstrip())
        if binary_indent is not None and (indent <= binary_indent and line.strip()):
            binary_indent = None
        spans = _find_spans(line, known, public, in_binary=binary_indent is not None, list_key=list_key)
        hits += [
            SecretHit(file, number, kind, _excerpt(line, spans, (start, end)))
            for start, end, kind in spans
            if first <= start < bound
        ]
        if binary_indent is None and (binary := _YAML_BINARY_RE.match(line)):
            binary_indent = len(binary["indent"])
        if (key_only := _YAML_KEY_ONLY_RE.match(line)) and (list_kind := key_kind(key_only["key"])):
            list_key = (len(key_only["indent"]), list_kind)
        elif not (list_key and _YAML_ITEM_RE.match(line)):
            list_key = None
    return hits


def _find_spans(
    line: str,
    known: re.Pattern[str] | None,
    known_public: re.Pattern[str] | None,
    in_binary: bool,
    list_key: tuple[int, str] | None,
) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    taken = [m.span() for m in _PLACEHOLDERS.finditer(line)]
    public = _public_key_in_jwk if '"kty"' in line else _public_key
    taken += [(start, end) for _key, start, end in iter_key_values(line, public)]
    if '"kty"' in line:
        taken += [m.span(m.lastgroup or 0) for m in _JWK_CERTIFICATE_RE.finditer(line)]
    taken += [m.span("user") for m in _CURL_USER_RE.finditer(line)]
    taken += [m.span("blob") for m in _HYPOTHESIS_BLOB_RE.finditer(line)]
    if known_public:
        taken += [m.span() for m in known_public.finditer(line)]

    def add(start: int, end: int, kind: str, inside_placeholder_ok: bool = False) -> None:
        blocked: Sequence[tuple[int, int, str] | tuple[int, int]] = spans if inside_placeholder_ok else [*spans, *taken]
        if start < end and not any(start < b_end and b_start < end for b_start, b_end, *_ in blocked):
            spans.append((start, end, kind))

    if known:
        for match in known.finditer(line):
            add(*match.span(), "known-secret", inside_placeholder_ok=True)
    for match in JWT_RE.finditer(line):
        if jwt_header(match.group(0)):
            add(*match.span(), "jwt")
    for match in _BASIC_RE.finditer(line):
        if _is_basic_credential(match["value"]):
            add(*match.span("value"), "basic-credentials")
    for match in _BEARER_RE.finditer(line):
        if _token_like(match["value"]):
            add(*match.span("value"), "bearer-token")
    for key, start, end in iter_key_values(line):
        if line[start - 1].isspace() and _CURL_OPTION_RE.fullmatch(line[start:end]):
            continue  # `client_secret= --data-raw ...`: an empty value, then the command's next option
        if _credential_like(key_kind(key), line[start:end]):
            add(start, end, "credential-value")
    if list_key and (item := _YAML_ITEM_RE.match(line)) and len(item["indent"]) >= list_key[0]:
        if _credential_like(list_key[1], item["value"]):
            add(*item.span("value"), "credential-value")
    if not in_binary:
        for match in _RUN_RE.finditer(line):
            before = line[max(0, match.start() - 200) : match.start()]
            if (
                not before.endswith("base64,")
                and not _URL_PATH_BEFORE_RE.search(before)
                and _high_entropy(match.group(0))
                and not _encodes_prose(match.group(0))
            ):
                add(*match.span(), "high-entropy")
    return sorted(spans)


def _is_basic_credential(value: str) -> bool:
    decoded = decode_basic(value)
    return decoded is not None and bool(decoded[1]) and ":".join(decoded).isprintable()


def _id_shaped(value: str) -> bool:
    """Hex (16+ digits) or a UUID: ids, hashes, ETags as well as tokens."""
    return classify_token(value).startswith(("hex", "uuid"))


def _token_like(value: str) -> bool:
    if classify_token(value).startswith(("jwt", "hex", "uuid")):
        return True
    return (
        len(value) >= 16
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and not _ATTRIBUTE_PATH_RE.fullmatch(value)
    )


def _credential_like(kind: str | None, value: str) -> bool:
    value = value.strip()
    if not kind or not value or value[0] in "<[*" or _PLACEHOLDERS.search(value):
        return False
    if value.startswith(("${", "$(", "%(", "{{")):  # templates and environment references
        return False
    if kind == "token":
        return _token_like(value)
    return len(value) >= 8 and len(set(value)) > 2 and not _IDENTIFIER_RE.fullmatch(value)


def _high_entropy(run: str) -> bool:
    core = run.rstrip("=")
    if len(core) < MIN_HIGH_ENTROPY_LEN or _id_shaped(core):
        return False
    if shannon_entropy(core) < ENTROPY_THRESHOLD:
        return False
    classes = sum((any(c.islower() for c in core), any(c.isupper() for c in core), any(c.isdigit() for c in core)))
    words = sum(len(word) for word in _WORD_RE.findall(core)) / len(core)
    identifier = len(re.split(r"[-_]", core)) >= 3 and _wordish(core)
    path = "/" in core and all(_wordish(part) for part in core.split("/"))
    return classes >= 2 and words < 0.7 and not identifier and not path


def _public_key(name: str) -> str | None:
    return "public" if key_name(name) in PUBLIC_KEYS else None


def _public_key_in_jwk(name: str) -> str | None:
    return "public" if name in JWK_PUBLIC_MEMBERS else _public_key(name)


def _encodes_prose(run: str) -> bool:
    """True for base64 of readable text with several words (a report property), never of ``user:secret``."""
    try:
        text = base64.b64decode(run + "=" * (-len(run) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    return (
        text.replace("\n", " ").isprintable()
        and len(_WORD_RE.findall(text)) >= _PROSE_WORDS
        and text.count(" ") >= _PROSE_WORDS
    )


def _wordish(text: str) -> bool:
    """Made of words, numbers and word+number pieces joined by - or _ (names and URL path segments)."""
    return all(_IDENTIFIER_PART_RE.fullmatch(piece) for piece in re.split(r"[-_]", text))


def _excerpt(line: str, spans: list[tuple[int, int, str]], target: tuple[int, int]) -> str:
    """``line`` around ``target`` with every hit on the line masked, so no excerpt shows any secret."""
    pieces, position, target_at, target_len = [], 0, 0, 0
    for start, end, _kind in spans:
        pieces.append(line[position:start])
        mask = f"[masked len={end - start}]"
        if (start, end) == target:
            target_at, target_len = sum(map(len, pieces)), len(mask)
        pieces.append(mask)
        position = end
    masked = "".join(pieces) + line[position:]
    begin = max(0, target_at - _EXCERPT_CONTEXT)
    finish = min(len(masked), target_at + target_len + _EXCERPT_CONTEXT)
    return ("..." if begin else "") + masked[begin:finish].strip() + ("..." if finish < len(masked) else "")

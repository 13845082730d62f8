"""Secret scanner for cassettes and run folders (``authcanary scan``): the check that nothing leaked.

Files are read in chunks: UTF-8, or UTF-16/32 as a byte-order mark or the NUL bytes of UTF-16 say; any other file
with a NUL byte is binary, and its printable runs are scanned (like ``strings``). Links to files and folders are
followed, each file and folder once. Every line is searched (but only the lines where a prefilter, run over a whole
chunk, sees what a detector needs: see `_Prefilter`) for:

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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from authcanary.credentials import decode_basic
from authcanary.recording.scrub import (
    _SECRET_NAMES,
    _SECRET_SUFFIXES,
    _TOKEN_NAMES,
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
# a piece of a name: a word (lower, Capitalized or UPPER) and numbers with more words, like v2, aes256gcm (each
# digit run read one way only: `(?:\d+(?:[a-z]*|[A-Z]*))*` took exponential time on a long digit run)
_IDENTIFIER_PART_RE = re.compile(r"(?:[A-Z]?[a-z]*|[A-Z]*)(?:\d+(?:[a-z]+|[A-Z]+))*\d*")
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
    return _scan(paths, known_secrets, known_public)


def scan_texts(
    texts: Mapping[str, str], known_secrets: Iterable[str] = (), known_public: Iterable[str] = ()
) -> list[SecretHit]:
    """Scan documents held in memory (name -> text) as `scan_paths` scans files of those names: what a report is
    about to write, before it is written."""
    context = _Context(known_secrets, known_public)
    return [hit for name, text in texts.items() for hit in _FileScan(Path(name), context).scan(_blocks([text]))]


def _scan(
    paths: Iterable[Path | str], known_secrets: Iterable[str], known_public: Iterable[str], fast: bool = True
) -> list[SecretHit]:
    """`scan_paths`; with `fast` off, every line is scanned (as the prefilter's tests compare)."""
    context = _Context(known_secrets, known_public)
    hits: list[SecretHit] = []
    for file in _files(paths):
        hits += _FileScan(file, context).scan(_read(file, fast))
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
_ASCII_LINE_ENDS = "\r\x0b\x0c\x1c\x1d\x1e"  # besides "\n"
_OTHER_LINE_ENDS = "\x85\u2028\u2029"
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


@dataclass(frozen=True)
class _Block:
    """Complete lines of a text file, each ending in "\\n" and holding no other line end: scanned at once."""

    number: int  # of the first line
    text: str


def _read(file: Path, fast: bool = True) -> Iterator[_Block | tuple[int, str, int, int]]:
    """`file` read a chunk at a time: blocks of ordinary lines, and (number, text, first, bound) of any other line
    (see `_split_lines`); with `fast` off, every line alone."""
    with file.open("rb") as stream:
        head = stream.read(CHUNK_SIZE)
        encoding = _encoding(head[:_SNIFF])
        chunks = itertools.chain([head], iter(lambda: stream.read(CHUNK_SIZE), b""))
        texts = _decode(chunks, encoding or "utf-8")
        if encoding is None:  # a binary's lines are numbered as grep numbers them: at "\n" only
            yield from _printable_runs(_split_lines(text.translate(_NOT_LINE_ENDS) for text in texts))
        else:
            yield from _blocks(texts) if fast else _split_lines(texts)


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


def _blocks(texts: Iterable[str]) -> Iterator[_Block | tuple[int, str, int, int]]:
    """What `_split_lines` yields, except that the complete lines of a chunk come as one `_Block` when `_plain`."""
    number, pending, first = 1, "", 0
    for text in texts:
        text = pending + text
        cut = text.rfind("\n") + 1
        block = text[:cut] if cut and not first else ""
        if block and _plain(block, len(text) - cut):
            block = block.replace("\r\n", "\n") if "\r" in block else block
            yield _Block(number, block)
            number, pending = number + block.count("\n"), text[cut:]
            continue
        *complete, pending = text.splitlines(keepends=True) or [""]  # as `_split_lines` does
        for line in complete:
            yield number, line.rstrip(_LINE_ENDS), first, len(line)
            number, first = number + 1, 0
        if len(pending) > CHUNK_SIZE:
            yield number, pending, first, len(pending) - OVERLAP
            pending, first = pending[-OVERLAP - _CONTEXT :], _CONTEXT
    if pending:
        yield number, pending.rstrip(_LINE_ENDS), first, len(pending)


def _plain(block: str, rest: int) -> bool:
    """Whether `block` (complete lines, `rest` more characters after it in the chunk) has no line end but "\\n" and
    "\\r\\n", and `_split_lines` would cut no piece of an over-long line here (from the line it keeps back)."""
    last = len(block) - 1 - block.rfind("\n", 0, len(block) - 1)
    if rest > CHUNK_SIZE or (not rest and last > CHUNK_SIZE):
        return False
    if "\r" in block and block.count("\r") != block.count("\r\n"):
        return False
    if any(end in block for end in _ASCII_LINE_ENDS[1:]):
        return False
    return block.isascii() or not any(end in block for end in _OTHER_LINE_ENDS)


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


def _known_forms(known_secrets: Iterable[str]) -> set[str]:
    forms: set[str] = set()
    for secret in known_secrets:
        if len(secret) >= _MIN_KNOWN_LEN:
            forms |= encoded_forms(secret) | _base64_cores(secret.encode("utf-8"))
    return forms


def _known_pattern(forms: set[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(map(re.escape, sorted(forms, key=len, reverse=True)))) if forms else None


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


# The prefilter: which lines of a block may hold a hit. Each detector has a necessary condition that C code checks
# over a whole block (bytes.find, bytes.translate, a regex that starts with a literal, some on the block reversed so
# that a key is read from its separator backwards); only the lines it marks are scanned, and a line whose mark a
# quick second look on the line does not confirm is not scanned either. Every condition may mark too much, never
# too little: tests compare the result with scanning every line.

_KNOWN, _JWT, _BASIC, _BEARER, _KEY, _RUN, _STATE = (1 << bit for bit in range(7))
_NOT_RUN = ~_RUN  # what still counts inside a YAML !!binary block
_RUN_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
#: a block with every character of a high-entropy run as "b" and every other one (line ends too) as " "
_RUN_TABLE = bytes(ord("b") if byte in _RUN_ALPHABET else ord(" ") for byte in range(256))
_LONG_RUN = b"b" * MIN_HIGH_ENTROPY_LEN
#: a whole run of hex or a UUID: those `_high_entropy` never reports
_ID_RUN_RE = re.compile(
    rb"(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]+)(?![A-Za-z0-9+/_-])"
)
#: JWT_RE read backwards, from the second dot: a header is JSON, so its base64url starts as that of "{", of JSON
#: whitespace, of a UTF-8 byte-order mark or of UTF-16/32 (json.loads reads them all): I, C, D, e, 7, _ or A
_JWT_REVERSED_RE = re.compile(rb"\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{3,}[ICDe7_A](?![A-Za-z0-9_-])")
#: what a scheme and its credentials are separated by (\s), as the first byte of its UTF-8
_SPACE_BYTE = rb"(?:[\t\x1f ]|[\xc2\xe1\xe2\xe3])"
_SCHEME_RES = tuple(re.compile(re.escape(scheme.encode()) + _SPACE_BYTE) for scheme in authorization_schemes())
_BASIC_TRIGGER_RE = re.compile(rb"Basic" + _SPACE_BYTE)
#: what `key_kind` classifies: keys that end in one of these (case, "_", "-" ignored; the names in it are exact
#: names, so this marks more than it needs)
_KEY_WORDS = sorted({*_SECRET_SUFFIXES, *_SECRET_NAMES, *_TOKEN_NAMES, "token"})
_KEY_WORDS = [word for word in _KEY_WORDS if not any(word != other and word.endswith(other) for other in _KEY_WORDS)]


def _reversed_key_re(separator: bytes) -> re.Pattern[bytes]:
    """A secret or token key before `separator` (as `iter_key_values` and a YAML `key:` line find keys), in the
    reversed UTF-8 of a block. Characters that `key_name` drops may come between letters: "_", "-" and non-ASCII
    letters, except the two that lower-case to ASCII (KELVIN SIGN to k, LATIN CAPITAL LETTER I WITH DOT ABOVE to i):
    those are letters, so what is skipped is never a letter and the pattern is read one way only."""
    extra = {"k": "\u212a".encode()[::-1], "i": "\u0130".encode()[::-1]}
    letters = b"|".join(map(re.escape, extra.values()))
    skipped = rb"(?:[_-]|(?!" + letters + rb")[\x80-\xbf]{1,3}[\xc0-\xff])*+"  # a reversed UTF-8 character

    def letter(char: str) -> bytes:
        both = f"[{char}{char.upper()}]".encode()
        return b"(?:" + both + b"|" + re.escape(extra[char]) + b")" if char in extra else both

    def alternatives(trie: dict) -> bytes:  # the words' common endings once: fewer tries at each separator
        return b"(?:" + b"|".join(letter(c) + (skipped + alternatives(t) if t else b"") for c, t in trie.items()) + b")"

    trie: dict = {}
    for word in _KEY_WORDS:
        node = trie
        for char in reversed(word):
            node = node.setdefault(char, {})
    quote = rb"""(?:["']\\?|;touq&|;43\#&|;93\#&)?"""
    return re.compile(re.escape(separator) + rb"[ \t]*" + quote + skipped + alternatives(trie))


_KEY_REVERSED_RES = (_reversed_key_re(b":"), _reversed_key_re(b"="))
_QUOTE = r"""(?:\\?["']|&quot;|&\#34;|&\#39;)"""
#: what `_credential_like` never accepts: a value that starts as a placeholder, a template or a reference
_NOT_A_VALUE = rf"""(?!{_QUOTE}?\s*(?:[<\[*]|\$[{{(]|%\(|\{{\{{|{ENCODED_PLACEHOLDER_RE.pattern}))"""
#: after the separator of a key the prefilter found: a value `_credential_like` may accept (8+ characters)...
_VALUE_AFTER_RE = re.compile(rb"[:=][ \t]*+" + _NOT_A_VALUE.replace(r"\s", r"[ \t\x1f]").encode() + rb"[^\n]{8}")
#: ... or nothing (a YAML `key:` line, whose list of values follows)
_NOTHING_AFTER_RE = re.compile(rb":[^!-~\n]*\n")
#: the second look at a line marked for a key: the same, with the whole key
_KEY_VALUE_RE = re.compile(
    "(?:"
    + "|".join("[_-]*".join(f"[{char}{char.upper()}]" for char in word) for word in _KEY_WORDS)
    + rf")[_-]*{_QUOTE}?[ \t]*[:=][ \t]*+{_NOT_A_VALUE}(?=.{{8}})"
)


class _Prefilter:
    """Marks the lines of a block that may hold a hit (see above)."""

    def __init__(self, known_forms: set[str]) -> None:
        forms = {form.encode("utf-8", "surrogatepass") for form in known_forms}
        self.known = [form for form in forms if not any(other != form and other in form for other in forms)]

    def marks(self, data: bytes) -> dict[int, int]:
        """{start of a line: what may be found on it} of `data`, the UTF-8 of complete lines."""
        found: list[tuple[int, int]] = []
        for form in self.known:
            at = data.find(form)
            while at >= 0:
                found.append((at, _KNOWN))
                at = data.find(form, at + 1)
        for pattern in _SCHEME_RES:
            found += [(match.start(), _BEARER) for match in pattern.finditer(data)]
        found += [(match.start(), _BASIC) for match in _BASIC_TRIGGER_RE.finditer(data)]
        at = data.find(b"!!binary")
        while at >= 0:
            found.append((at, _STATE))
            at = data.find(b"!!binary", at + 1)
        last = len(data) - 1
        backwards = data[::-1]
        found += [(last - match.start(), _JWT) for match in _JWT_REVERSED_RE.finditer(backwards)]
        for pattern in _KEY_REVERSED_RES:
            for match in pattern.finditer(backwards):
                at = last - match.start()
                if _VALUE_AFTER_RE.match(data, at):
                    found.append((at, _KEY))
                elif _NOTHING_AFTER_RE.match(data, at):
                    found.append((at, _STATE))
        found += self._runs(data)
        marks: dict[int, int] = {}
        for at, flag in found:
            start = data.rfind(b"\n", 0, at) + 1
            marks[start] = marks.get(start, 0) | flag
        return marks

    @staticmethod
    def _runs(data: bytes) -> list[tuple[int, int]]:
        """Runs of MIN_HIGH_ENTROPY_LEN or more base64 characters that are neither hex nor a UUID."""
        runs, found, at = data.translate(_RUN_TABLE), [], 0
        while (start := runs.find(_LONG_RUN, at)) >= 0:
            if id_run := _ID_RUN_RE.match(data, start):
                at = id_run.end()
            else:
                found.append((start, _RUN))
                at = runs.find(b" ", start + MIN_HIGH_ENTROPY_LEN)  # data ends with "\n": a " " here
        return found


_REMEMBERED_LEN = 8192  # characters of the longest line whose spans are kept


class _Context:
    """What one scan looks for in all its files, and the spans of the lines it scanned last: a line may come back
    again and again (a vendor's public keys, in each answer that lists them)."""

    def __init__(self, known_secrets: Iterable[str], known_public: Iterable[str]) -> None:
        forms = _known_forms(known_secrets)
        self.known, self.public = _known_pattern(forms), _known_pattern(_known_forms(known_public))
        self.prefilter = _Prefilter(forms)
        self._remembered = lru_cache(maxsize=1024)(self._find_spans)

    def spans(self, line: str, in_binary: bool, list_key: tuple[int, str] | None) -> list[tuple[int, int, str]]:
        """`_find_spans` of a line (read only)."""
        if len(line) <= _REMEMBERED_LEN:
            return self._remembered(line, in_binary, list_key)
        return self._find_spans(line, in_binary, list_key)

    def _find_spans(self, line: str, in_binary: bool, list_key: tuple[int, str] | None) -> list[tuple[int, int, str]]:
        return _find_spans(line, self.known, self.public, in_binary, list_key)


class _FileScan:
    """The scan of one file: its hits, and the YAML state each line leaves for the next."""

    def __init__(self, file: Path, context: _Context) -> None:
        self.file, self.context, self.prefilter = file, context, context.prefilter
        self.hits: list[SecretHit] = []
        self.binary_indent: int | None = None  # inside a YAML !!binary block: base64 lines are data
        self.list_key: tuple[int, str] | None = None  # a YAML `key:` whose values follow as `- value` lines

    def scan(self, pieces: Iterable[_Block | tuple[int, str, int, int]]) -> list[SecretHit]:
        for piece in pieces:
            if isinstance(piece, _Block):
                self.block(piece.number, piece.text)
            else:
                self.line(*piece)
        return self.hits

    def line(self, number: int, line: str, first: int = 0, bound: int | None = None, marks: int | None = None) -> None:
        """Scan one line (its hits from `first` to `bound`); with the prefilter's `marks`, only if they are confirmed
        or it may be the value of a YAML list under a secret key."""
        indent = len(line) - len(line.lstrip())
        if self.binary_indent is not None and (indent <= self.binary_indent and line.strip()):
            self.binary_indent = None
        in_binary = self.binary_indent is not None
        if marks is None or self._confirmed(line, marks, in_binary):
            spans = self.context.spans(line, in_binary, self.list_key)
            bound = len(line) if bound is None else bound
            self.hits += [
                SecretHit(self.file, number, kind, _excerpt(line, spans, (start, end)))
                for start, end, kind in spans
                if first <= start < bound
            ]
        if self.binary_indent is None and "!!binary" in line and (binary := _YAML_BINARY_RE.match(line)):
            self.binary_indent = len(binary["indent"])
        if (
            line.rstrip().endswith(":")
            and (key_only := _YAML_KEY_ONLY_RE.match(line))
            and (list_kind := _key_kind(key_only["key"]))
        ):
            self.list_key = (len(key_only["indent"]), list_kind)
        elif not (self.list_key and _YAML_ITEM_RE.match(line)):
            self.list_key = None

    def _confirmed(self, line: str, marks: int, in_binary: bool) -> bool:
        """Whether a detector may find something on the line: a second, closer look at what the prefilter marked."""
        if marks & _KNOWN or (marks & _RUN and not in_binary):
            return True
        if marks & _KEY and _KEY_VALUE_RE.search(line):
            return True
        if marks & _JWT and any(jwt_header(match.group(0)) for match in JWT_RE.finditer(line)):
            return True
        if marks & _BASIC and any(_is_basic_credential(match["value"]) for match in _BASIC_RE.finditer(line)):
            return True
        if marks & _BEARER and any(_token_like(match["value"]) for match in _BEARER_RE.finditer(line)):
            return True
        return bool(
            self.list_key
            and (item := _YAML_ITEM_RE.match(line))
            and len(item["indent"]) >= self.list_key[0]
            and _credential_like(self.list_key[1], item["value"])
        )

    def block(self, number: int, text: str) -> None:
        """Scan the marked lines of a block, and every line while the YAML state needs it: the items of a list under
        a secret key, and the lines that may end a !!binary block."""
        data = text.encode("utf-8", "surrogatepass")
        marks = self.prefilter.marks(data)
        starts = sorted(marks)
        at = nxt = 0  # the start of the next line to look at; the index of the first mark at or after it
        while at < len(data):
            while nxt < len(starts) and starts[nxt] < at:
                nxt += 1
            if self.list_key is not None:
                start = at
                if self.binary_indent is None and start not in marks:  # then only the list may matter:
                    if not _LIST_ITEM_START_RE.match(data, start):  # it has ended
                        self.list_key = None
                        continue
                    if _UNLIKELY_LIST_ITEM_RE.match(data, start):  # an item that is no credential
                        at, number = data.index(b"\n", start) + 1, number + 1
                        continue
            elif self.binary_indent is None:
                if nxt == len(starts):
                    return
                start = starts[nxt]
            else:  # the next line marked for more than a run, or the next that may end the !!binary block
                end = _binary_end(self.binary_indent).search(data, at)
                stop = end.start() if end else len(data)
                while nxt < len(starts) and starts[nxt] < stop and not marks[starts[nxt]] & _NOT_RUN:
                    nxt += 1
                start = starts[nxt] if nxt < len(starts) and starts[nxt] < stop else stop
                if start == len(data):
                    return
            number += data.count(b"\n", at, start)
            at = data.index(b"\n", start) + 1
            self.line(number, data[start : at - 1].decode("utf-8", "surrogatepass"), marks=marks.get(start, 0))
            number += 1


#: the start of a line that may be an item of a YAML list (spaces, then "-"; other spaces come as non-ASCII bytes);
#: `_FileScan.line` would end the list at an unmarked line that is not, and find nothing on one that is...
_LIST_ITEM_START_RE = re.compile(rb"[ \t\x1f]*[-\x80-\xff]")
#: ... and of one whose value `_credential_like` never accepts
_UNLIKELY_LIST_ITEM_RE = re.compile(rb"[ \t\x1f]*-[ \t\x1f]+[\"']?[<\[*]")


@lru_cache(maxsize=64)
def _binary_end(indent: int) -> re.Pattern[bytes]:
    """A line that may end a !!binary block indented by `indent`: at most that many spaces (ASCII; others come as
    their UTF-8 and stop the match) before something else. `_FileScan.line` decides."""
    return re.compile(rb"^[ \t\x1f]{0,%d}[^ \t\x1f\n]" % indent, re.MULTILINE)


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
    # the values of public keys and of secret or token keys, in one pass
    values = list(iter_key_values(line, lambda name: public(name) or _key_kind(name)))
    taken += [(start, end) for key, start, end in values if public(key)]
    if '"kty"' in line:
        taken += [m.span(m.lastgroup or 0) for m in _JWK_CERTIFICATE_RE.finditer(line)]
    taken += [m.span("user") for m in _CURL_USER_RE.finditer(line)]
    taken += [m.span("blob") for m in _HYPOTHESIS_BLOB_RE.finditer(line)]
    if known_public:
        taken += [m.span() for m in known_public.finditer(line)]

    def free(start: int, end: int, inside_placeholder_ok: bool = False) -> bool:
        blocked: Sequence[tuple[int, int, str] | tuple[int, int]] = spans if inside_placeholder_ok else [*spans, *taken]
        return start < end and not any(start < b_end and b_start < end for b_start, b_end, *_ in blocked)

    def add(start: int, end: int, kind: str, inside_placeholder_ok: bool = False) -> None:
        if free(start, end, inside_placeholder_ok):
            spans.append((start, end, kind))

    if known:
        for match in known.finditer(line):
            add(*match.span(), "known-secret", inside_placeholder_ok=True)
    for match in JWT_RE.finditer(line):  # (a check whose span is taken is skipped: it is costly and adds nothing)
        if free(*match.span()) and jwt_header(match.group(0)):
            add(*match.span(), "jwt")
    for match in _BASIC_RE.finditer(line):
        if _is_basic_credential(match["value"]):
            add(*match.span("value"), "basic-credentials")
    for match in _BEARER_RE.finditer(line):
        if _token_like(match["value"]):
            add(*match.span("value"), "bearer-token")
    for key, start, end in values:
        if not _key_kind(key):
            continue
        if line[start - 1].isspace() and _CURL_OPTION_RE.fullmatch(line[start:end]):
            continue  # `client_secret= --data-raw ...`: an empty value, then the command's next option
        if _credential_like(_key_kind(key), line[start:end]):
            add(start, end, "credential-value")
    if list_key and (item := _YAML_ITEM_RE.match(line)) and len(item["indent"]) >= list_key[0]:
        if _credential_like(list_key[1], item["value"]):
            add(*item.span("value"), "credential-value")
    if not in_binary:
        for match in _RUN_RE.finditer(line):
            before = line[max(0, match.start() - 200) : match.start()]
            if (
                free(*match.span())
                and not before.endswith("base64,")
                and not ("://" in before and _URL_PATH_BEFORE_RE.search(before))
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
    return _high_entropy_cached(run) if len(run) <= _CACHED_LEN else _measure_entropy(run)


def _encodes_prose(run: str) -> bool:
    """True for base64 of readable text with several words (a report property), never of ``user:secret``."""
    return _encodes_prose_cached(run) if len(run) <= _CACHED_LEN else _decode_prose(run)


def _measure_entropy(run: str) -> bool:
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


@lru_cache(maxsize=1024)
def _public_key(name: str) -> str | None:
    return "public" if key_name(name) in PUBLIC_KEYS else None


@lru_cache(maxsize=1024)
def _public_key_in_jwk(name: str) -> str | None:
    return "public" if name in JWK_PUBLIC_MEMBERS else _public_key(name)


def _decode_prose(run: str) -> bool:
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


# runs repeat (a vendor's public keys, answer after answer): their verdicts are kept, up to a size
_CACHED_LEN = 1024
_high_entropy_cached = lru_cache(maxsize=4096)(_measure_entropy)
_encodes_prose_cached = lru_cache(maxsize=4096)(_decode_prose)
_key_kind = lru_cache(maxsize=4096)(key_kind)


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

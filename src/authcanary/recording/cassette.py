"""Recording and replay of httpx traffic as genuine vcrpy YAML cassettes, without vcrpy's monkeypatching.

vcrpy patches httpx's own transports but not starlette's TestClient transport, which drives the in-process
simulators; wrapping the transport instead works for both. Interactions go through vcrpy's `Cassette`
(whose ``before_record_*`` hooks are the `Scrubber`'s), `Request` and serializer, so every file is loadable
by ``vcr.use_cassette``.

Replay matching: a recorded request was scrubbed, so its query and body hold placeholders and cannot be
compared with a live request; its host differs too (``testserver`` in-process, ``127.0.0.1:PORT`` or the
vendor live). `ReplayTransport` therefore matches on the method and the scheme-less path (a recorded path
segment that is a placeholder matches any value), and answers identical requests with their recordings in
recorded order, each at most once (vcrpy's ``allow_playback_repeats=False``).
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from pathlib import Path
from urllib.parse import unquote

import httpx
import yaml
from vcr.cassette import Cassette
from vcr.errors import UnhandledHTTPRequestError
from vcr.filters import decode_response
from vcr.matchers import method
from vcr.record_mode import RecordMode
from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers.compat import convert_to_bytes

from authcanary.files import write_atomically
from authcanary.http import OUTAGE
from authcanary.recording.cassette_file import CassetteError, load_cassette
from authcanary.recording.scrub import PLACEHOLDER_RE, Scrubber

__all__ = ["CassetteError", "RecordingTransport", "ReplayTransport", "UnmatchedRequestError", "load_cassette"]

# vcrpy's YAML serializer folds long scalars at 80 columns; unfolded, no token or placeholder is ever split
# across lines, which keeps cassettes greppable and `scan` exact.
_NO_FOLDING = 2**31 - 1
_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _YamlSerializer:
    """vcrpy's YAML cassette format, written without line folding (read back by `load_cassette`)."""

    @staticmethod
    def serialize(cassette_dict: dict) -> str:
        return yaml.dump(cassette_dict, Dumper=_SafeDumper, width=_NO_FOLDING)


class UnmatchedRequestError(LookupError):
    """A replayed request that no unplayed recorded interaction matches."""

    def __init__(self, cassette_path: Path, method: str, path: str, unplayed: list[str]) -> None:
        self.cassette_path = cassette_path
        self.method = method
        self.path = path
        # The query is left out on purpose: it may carry a live secret, and this message ends up in reports.
        left = ", ".join(unplayed[:5]) + (", ..." if len(unplayed) > 5 else "") if unplayed else "none"
        super().__init__(
            f"cassette {cassette_path}: no unplayed recorded interaction matches {method} {path} "
            f"(matching is on method and path, in recorded order; unplayed: {left})"
        )


def _decoded(headers: dict[str, list[str]], body: bytes) -> tuple[dict[str, list[str]], bytes]:
    """Headers and body with gzip/deflate(/br) content encoding removed, as vcrpy's decode_response does."""
    decoded = decode_response({"headers": headers, "body": {"string": body}})
    return decoded["headers"], decoded["body"]["string"]


def _multi_headers(headers: httpx.Headers) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for name, value in headers.multi_items():
        grouped[name].append(value)
    return dict(grouped)


def scenario_name(module: str, test_name: str) -> str:
    """`<module>.<test name>`, made a file name: what a scenario's cassette (and its drift key) is called."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", f"{module}.{test_name}").strip("_")


def without_base_path(url: httpx.URL, base_path: str) -> str:
    """``url`` with the target's base path (``/api`` of ``https://host/api``) removed: cassettes record paths as
    the vendor documents them, so a baseline compares across mount points (embedded, ``serve --prefix``)."""
    base_path = base_path.rstrip("/")
    if base_path and (url.path == base_path or url.path.startswith(base_path + "/")):
        return str(url.copy_with(raw_path=url.raw_path[len(base_path.encode()) :] or b"/"))
    return str(url)


class RecordingTransport(httpx.BaseTransport):
    """Forwards each request to ``inner`` and records the scrubbed interaction into a vcrpy cassette; an interaction
    ``inner`` marks lost to an outage (`authcanary.http.OUTAGE`) is left out.

    The cassette is written (atomically, replacing any previous file) by `save` or `close`; a recording
    without interactions writes nothing.
    """

    def __init__(
        self, inner: httpx.BaseTransport, cassette_path: Path | str, scrubber: Scrubber, base_path: str = ""
    ) -> None:
        self.inner = inner
        self.cassette_path = Path(cassette_path)
        self.base_path = base_path
        self._cassette = Cassette(
            str(self.cassette_path),
            record_mode=RecordMode.ALL,
            before_record_request=scrubber.before_record_request,
            before_record_response=scrubber.before_record_response,
        )
        self._saved = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the inner transport and record it; the caller gets the real response."""
        headers, body = _decoded({k: [v] for k, v in request.headers.items()}, request.read())
        recorded_request = Request(
            request.method, without_base_path(request.url, self.base_path), body, {k: v[0] for k, v in headers.items()}
        )
        response = self.inner.handle_request(request)
        if response.extensions.get(OUTAGE):
            return response  # lost to an outage: not the vendor's behaviour, so not part of the recording
        stream = response.stream
        assert isinstance(stream, httpx.SyncByteStream)  # a sync transport's answer (httpx.Client asserts it too)
        try:
            content = b"".join(stream)
        finally:
            stream.close()  # releases the connection; the caller reads the buffered copy below
        response.stream = httpx.ByteStream(content)
        headers, body = _decoded(_multi_headers(response.headers), content)
        recorded_response = {
            "status": {"code": response.status_code, "message": response.reason_phrase},
            "headers": headers,
            "body": {"string": body},
        }
        with self._lock:
            self._cassette.append(recorded_request, recorded_response)
        return response

    def save(self) -> Path | None:
        """Write the cassette if anything was recorded since the last save; return its path if written."""
        with self._lock:
            if len(self._cassette) == self._saved:
                return None
            cassette_dict = {"requests": self._cassette.requests, "responses": self._cassette.responses}
            write_atomically(self.cassette_path, serialize(cassette_dict, _YamlSerializer))
            self._saved = len(self._cassette)
        return self.cassette_path

    def close(self) -> None:
        """Save the cassette, then close the inner transport."""
        try:
            self.save()
        finally:
            self.inner.close()


def scheme_less_path(incoming: Request, recorded: Request) -> None:
    """vcrpy matcher: equal paths, ignoring scheme, host and query; a recorded placeholder segment matches any."""
    got, want = _segments(incoming.path), _segments(recorded.path)
    if len(got) != len(want) or any(g != w and not PLACEHOLDER_RE.fullmatch(w) for g, w in zip(got, want, strict=True)):
        raise AssertionError(f"{incoming.path} != {recorded.path}")


def _segments(path: str) -> list[str]:
    return [unquote(segment) for segment in (path or "/").split("/")]


class ReplayTransport(httpx.BaseTransport):
    """Answers requests from a cassette only (never the network), matched as described in the module docs."""

    def __init__(self, cassette_path: Path | str, base_path: str = "") -> None:
        self.cassette_path = Path(cassette_path)
        self.base_path = base_path
        self._cassette = Cassette(
            str(self.cassette_path),
            record_mode=RecordMode.NONE,
            match_on=(method, scheme_less_path),
            allow_playback_repeats=False,
        )
        for interaction in load_cassette(self.cassette_path):
            recorded = interaction["request"]
            self._cassette.append(
                Request(recorded["method"], recorded["uri"], recorded["body"], recorded["headers"]),
                convert_to_bytes(interaction["response"]),
            )
        self._lock = threading.Lock()

    @property
    def all_played(self) -> bool:
        """Whether every recorded interaction has been replayed."""
        return self._cassette.all_played

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """The recorded response of the first unplayed interaction with the same method and path."""
        wanted = Request(request.method, without_base_path(request.url, self.base_path), None, {})
        with self._lock:
            try:
                recorded = self._cassette.play_response(wanted)
            except UnhandledHTTPRequestError:
                unplayed = [
                    f"{r.method} {r.path}"
                    for index, r in enumerate(self._cassette.requests)
                    if not self._cassette.play_counts[index]
                ]
                raise UnmatchedRequestError(self.cassette_path, request.method, request.url.path, unplayed) from None
        message = recorded["status"].get("message")
        return httpx.Response(
            recorded["status"]["code"],
            headers=[(name, value) for name, values in recorded["headers"].items() for value in values],
            stream=httpx.ByteStream(recorded["body"]["string"] or b""),
            extensions={"reason_phrase": message.encode("ascii", "replace")} if message else {},
            request=request,
        )

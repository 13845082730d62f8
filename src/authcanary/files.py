"""Writing what a run leaves behind (cassettes, summary.json, reports, drift.json and drift.md): whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path | str, text: str) -> None:
    """Write `text` (UTF-8, ``\\n`` line ends) to `path` through a temporary file in the same folder, flushed to disk
    and renamed over `path`: a reader, or a later step of a run killed midway, never sees half a file. The folder is
    created if needed; the file is an ordinary, shareable 0644 one (CI artifacts), whatever `mkstemp`'s 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""Atomic file writes: a file holds either its old or its new content, never half of one, even after a crash.

One way for documents, settings, autosaves, models and checkpoints alike (torch-free, so the editor can use it before
torch is imported): write a temporary file in the same folder, fsync it, give it the mode the file would get from
`open()` (an existing file keeps its own; a new one follows the umask, not the 0600 of a temporary file), move it
over the target with `os.replace`, and fsync the folder so that the rename itself survives a power cut.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Callable

_UMASK = os.umask(0o022)  # reading the umask sets it: read once, at import, on the main thread, and put it back
os.umask(_UMASK)


def new_file_mode() -> int:
    """The mode `open(path, "w")` gives a new file: 0666 less the umask."""
    return 0o666 & ~_UMASK


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call `write(tmp_path)`, then move the finished file over `path` in one step. Keeps an existing file's mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)  # may replace the file mkstemp made (safetensors does): the mode is set after
        os.chmod(tmp, mode)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    """`atomic_write` of UTF-8 text, newlines as given."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)

    atomic_write(path, write)


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""Reading a file a user names as text: one checked path for the editor's documents and the trainer's corpora.

Torch-free and Textual-free (the editor opens a document before torch loads). Every problem — missing, a folder,
too large, unreadable, binary, mis-encoded — raises the caller's `UserError` subclass with one line that says what,
where and what to do. A leading UTF-8 byte-order mark is dropped; newlines are left as they are.
"""

from __future__ import annotations

import stat
from pathlib import Path

from charwriter.errors import UserError

# Encodings in which a NUL byte never appears in real text, so one means a binary file.
_NUL_FREE = ("utf8", "utf8sig", "ascii", "latin1", "cp1252", "iso88591")


def regular_file_problem(path: Path, what: str) -> str | None:
    """Why `path` cannot be read as a file (one line), or None: a FIFO would block a read forever, a device never
    ends. Follows symlinks."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"{what} not found: {path} — check the path"
    except OSError as problem:
        return f"cannot read {what} {path}: {problem.strerror or problem}"
    if stat.S_ISDIR(mode):
        return f"{what} is a directory, not a file: {path} — give a file"
    if not stat.S_ISREG(mode):
        kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or \
            stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
        return f"{what} is {kind}, not a regular file: {path} — give a file saved on disk"
    return None


def looks_like_utf16(raw: bytes) -> bool:
    """A UTF-16 byte-order mark, or text whose every other byte is NUL (ASCII letters in UTF-16)."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    sample = raw[:4096]
    return len(sample) >= 8 and max(sample[0::2].count(0), sample[1::2].count(0)) > 0.4 * len(sample) / 2


def read_text_file(path: str | Path, *, what: str, max_bytes: int, encoding: str = "utf-8",
                   error: type[UserError] = UserError, advice: str = "convert it to UTF-8 first",
                   utf16_advice: str = "convert it to UTF-8 first") -> str:
    path = Path(path).expanduser()
    problem = regular_file_problem(path, what)
    if problem:
        raise error(problem)
    try:
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)  # a cap, whatever the size the file system reports
        if len(raw) > max_bytes:
            size = max(path.stat().st_size, len(raw))
            raise error(f"{what} is too large ({size / 1e6:,.1f} MB): {path} — the limit is {max_bytes / 1e6:,.0f} MB")
    except OSError as problem:
        raise error(f"cannot read {what} {path}: {problem.strerror or problem}") from None
    plain_encoding = encoding.lower().replace("-", "").replace("_", "") in _NUL_FREE
    if plain_encoding and looks_like_utf16(raw):
        raise error(f"{what} looks like UTF-16 text, not {encoding}: {path} — {utf16_advice}")
    nul = raw.find(b"\x00")
    if nul >= 0 and plain_encoding:
        raise error(f"{what} looks binary (NUL byte at offset {nul}): {path} — give a plain text file")
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as problem:
        raise error(f"{what} is not valid {encoding} (byte 0x{raw[problem.start]:02x} at offset {problem.start}):"
                    f" {path} — {advice}") from None
    except LookupError:
        raise error(f"unknown encoding {encoding!r} — use a Python codec name such as utf-8 or cp1252") from None

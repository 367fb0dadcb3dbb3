"""Reading a file a user names as text: one checked path for the editor's documents and the trainer's corpora.

Torch-free and Textual-free (the editor opens a document before torch loads). Every problem — missing, a folder,
too large, unreadable, binary, mis-encoded — raises the caller's `UserError` subclass with one line that says what,
where and what to do. A leading UTF-8 byte-order mark is dropped; newlines are left as they are.
"""

from __future__ import annotations

import errno
import stat
import sys
from pathlib import Path

from charwriter.errors import UserError, shown

# Encodings in which a NUL byte never appears in real text, so one means a binary file.
_NUL_FREE = ("utf8", "utf8sig", "ascii", "latin1", "cp1252", "iso88591")


def regular_file_problem(path: Path, what: str) -> str | None:
    """Why `path` cannot be read as a file (one line), or None: a FIFO would block a read forever, a device never
    ends. Follows symlinks."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"{what} not found: {shown(path)} — check the path"
    except OSError as problem:
        return f"cannot read {what} {shown(path)}: {read_problem(problem)}"
    if stat.S_ISDIR(mode):
        return f"{what} is a directory, not a file: {shown(path)} — give a file"
    if not stat.S_ISREG(mode):
        kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or \
            stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
        return f"{what} is {kind}, not a regular file: {shown(path)} — give a file saved on disk"
    return None


def read_problem(error: OSError) -> str:
    """Why a file could not be read, as the end of a one-line message."""
    if error.errno == errno.ELOOP:
        return "a symbolic link loop — point the link at a real file"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied — check the file's permissions (ls -l, chmod)"
    return str(error.strerror or error)


def looks_like_utf16(raw: bytes) -> bool:
    """A UTF-16 byte-order mark, or text whose every other byte is NUL (ASCII letters in UTF-16)."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    sample = raw[:4096]
    return len(sample) >= 8 and max(sample[0::2].count(0), sample[1::2].count(0)) > 0.4 * len(sample) / 2


STDIN = "-"  # the name that reads standard input instead of a file


def _read_bytes(path: str | Path, what: str, max_bytes: int, error: type[UserError]) -> tuple[bytes, str]:
    """The bytes of a file, or of standard input for `STDIN`, at most `max_bytes`; -> them and where they are from."""
    if str(path) == STDIN:
        where = "standard input"
    else:
        path = Path(path).expanduser()
        where = shown(path)
        problem = regular_file_problem(path, what)
        if problem:
            raise error(problem)
    try:
        if str(path) == STDIN:
            raw = sys.stdin.buffer.read(max_bytes + 1)
        else:
            with open(path, "rb") as source:
                raw = source.read(max_bytes + 1)  # a cap, whatever the size the file system reports
    except OSError as problem:
        raise error(f"cannot read {what} {where}: {read_problem(problem)}") from None
    if len(raw) > max_bytes:
        raise error(f"{what} is too large (over {max_bytes / 1e6:,.0f} MB, the limit): {where}")
    return raw, where


def read_text_file(path: str | Path, *, what: str, max_bytes: int, encoding: str = "utf-8",
                   error: type[UserError] = UserError, advice: str = "convert it to UTF-8 first",
                   utf16_advice: str = "convert it to UTF-8 first") -> str:
    """The text of a file (or of standard input: `STDIN`), decoded, or one line through `error`: the same rule for
    both."""
    raw, path = _read_bytes(path, what, max_bytes, error)
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
        raise error(f"unknown encoding {shown(repr(encoding))} — use a Python codec name such as utf-8 or"
                    " cp1252") from None

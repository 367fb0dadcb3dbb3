"""Reading a file a user names as text: one checked path for the editor's documents and the trainer's corpora.

Torch-free and Textual-free (the editor opens a document before torch loads). Every problem — missing, a folder,
too large, unreadable, binary, mis-encoded — raises the caller's `UserError` subclass with one line that says what,
where and what to do. A leading UTF-8 byte-order mark is dropped; newlines are left as they are.
"""

from __future__ import annotations

from pathlib import Path

from charwriter.errors import UserError

# Encodings in which a NUL byte never appears in real text, so one means a binary file.
_NUL_FREE = ("utf8", "utf8sig", "ascii", "latin1", "cp1252", "iso88591")


def read_text_file(path: str | Path, *, what: str, max_bytes: int, encoding: str = "utf-8",
                   error: type[UserError] = UserError, advice: str = "convert it to UTF-8 first") -> str:
    path = Path(path).expanduser()
    if not path.exists():
        raise error(f"{what} not found: {path} — check the path")
    if path.is_dir():
        raise error(f"{what} is a directory, not a text file: {path} — give a text file")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{what} is too large ({size / 1e6:,.1f} MB): {path} — the limit is {max_bytes / 1e6:,.0f} MB")
        raw = path.read_bytes()
    except OSError as problem:
        raise error(f"cannot read {what} {path}: {problem.strerror or problem}") from None
    nul = raw.find(b"\x00")
    if nul >= 0 and encoding.lower().replace("-", "").replace("_", "") in _NUL_FREE:
        raise error(f"{what} looks binary (NUL byte at offset {nul}): {path} — give a plain text file")
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as problem:
        raise error(f"{what} is not valid {encoding} (byte 0x{raw[problem.start]:02x} at offset {problem.start}):"
                    f" {path} — {advice}") from None
    except LookupError:
        raise error(f"unknown encoding {encoding!r} — use a Python codec name such as utf-8 or cp1252") from None

"""Documents the editor opens and saves, and the autosave that survives a crash. No Textual, no torch.

A document is a UTF-8 text file of at most `MAX_DOCUMENT_BYTES`. Binary files (a NUL byte, or bytes that are not
UTF-8) and larger files are refused with a `DocumentError`: one line that the command line prints (exit code 2)
and the app shows as a notification. Saves are atomic: a temporary file in the same folder, fsynced, then moved
over the original with `os.replace`, keeping the original's permissions.

The unsaved buffer is autosaved to `paths.autosave_dir()`, one JSON file per document (untitled documents share
one), so after a crash the next start can offer it back. A clean save or quit removes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from charwriter import paths
from charwriter.errors import UserError
from charwriter.textfile import read_text_file

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
"""Larger files are refused: a writing assistant's documents are prose, and TextArea slows down well before."""


class DocumentError(UserError):
    """A file that cannot be opened or saved as a document."""


def read_document(path: str | Path, missing_ok: bool = False) -> str:
    """The text of a UTF-8 file, or one clear `DocumentError`. A missing file reads as "" when `missing_ok`."""
    path = Path(path).expanduser()
    if missing_ok and not path.exists() and path.parent.is_dir():
        return ""
    return read_text_file(path, what="file", max_bytes=MAX_DOCUMENT_BYTES, error=DocumentError)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` as UTF-8 so that `path` holds either the old or the new content, never half of one.

    Torch-free twin of `charwriter.lm.checkpoint.atomic_write` (that module imports torch, which the editor
    loads only after its first frame). Keeps an existing file's permissions and writes through a symlink.
    """
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_document(path: str | Path, text: str) -> None:
    """Save atomically, or raise a `DocumentError` saying why not."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise DocumentError(f"{path} is a directory — give a file name")
    try:
        atomic_write_text(path, text)
    except OSError as error:
        raise DocumentError(f"cannot save {path}: {error.strerror or error}") from None


@dataclass
class Recovered:
    """What an autosave file holds: the unsaved text of a document and when it was written."""

    text: str
    document: Path | None  # None for an untitled buffer
    saved_at: datetime


class Autosave:
    """The autosave file of one document (or of the untitled buffer)."""

    def __init__(self, document: str | Path | None):
        self.document = Path(document).expanduser().resolve() if document else None

    @property
    def path(self) -> Path:
        if self.document is None:
            return paths.autosave_dir() / "untitled.json"
        digest = hashlib.sha256(str(self.document).encode()).hexdigest()[:16]
        return paths.autosave_dir() / f"{self.document.name}-{digest}.json"

    def write(self, text: str) -> None:
        record = {"document": str(self.document) if self.document else None,
                  "saved_at": datetime.now().isoformat(timespec="seconds"), "text": text}
        atomic_write_text(self.path, json.dumps(record, ensure_ascii=False))

    def read(self) -> Recovered | None:
        """The autosaved text, or None when there is none (or it is unreadable, which is no worse)."""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
            return Recovered(record["text"], Path(record["document"]) if record.get("document") else None,
                             datetime.fromisoformat(record["saved_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

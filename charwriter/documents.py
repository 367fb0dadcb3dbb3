"""Documents the editor opens and saves, and the autosave that survives a crash. No Textual, no torch.

A document is a UTF-8 text file of at most `MAX_DOCUMENT_BYTES`. Binary files (a NUL byte, or bytes that are not
UTF-8) and larger files are refused with a `DocumentError`: one line that the command line prints (exit code 2)
and the app shows as a notification. Saves are atomic (`charwriter.atomic`): a temporary file in the same folder,
fsynced, moved over the original with `os.replace`, the folder fsynced; the original's permissions are kept and a
new file follows the umask.

The unsaved buffer is autosaved to `paths.autosave_dir()`, one JSON file per document and running process, so
after a crash the next start can offer it back, and two windows never overwrite each other's. A clean save or quit
removes it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from charwriter import atomic, paths
from charwriter.errors import UserError
from charwriter.textfile import read_text_file

MAX_DOCUMENT_BYTES = 20_000_000
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
    """Write `text` as UTF-8 so that `path` holds either the old or the new content, never half of one (writes
    through a symlink to its target)."""
    atomic.atomic_write_text(Path(path).expanduser().resolve(), text)


@dataclass(frozen=True)
class DiskState:
    """What a document's file held when the editor last read or wrote it: to notice another program's save."""

    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, path: str | Path) -> "DiskState | None":
        """The file as it is now (None if it is not there or cannot be read)."""
        path = Path(path).expanduser()
        try:
            st = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
        except OSError:
            return None
        return cls(st.st_size, st.st_mtime_ns, digest)

    def changed(self, path: str | Path) -> bool:
        """Has the file's content changed since? (A touched file with the same bytes has not; a deleted one has.)"""
        path = Path(path).expanduser()
        try:
            st = path.stat()
        except OSError:
            return True
        if (st.st_size, st.st_mtime_ns) == (self.size, self.mtime_ns):
            return False  # the cheap check, for the periodic look
        now = DiskState.of(path)
        return now is None or now.sha256 != self.sha256


class ReadOnlyDocument(DocumentError):
    """The file's permissions say it is not to be written: saving over it takes the writer's explicit yes."""


def is_read_only(path: Path) -> bool:
    """An existing file without write permission (for us, or for anyone: root may write anything, yet a mode of
    444 still says "do not touch")."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not os.access(path, os.W_OK) or not mode & 0o222


def save_document(path: str | Path, text: str, read_only_ok: bool = False) -> None:
    """Save atomically, or raise a `DocumentError` saying why not: a `ReadOnlyDocument` for a read-only file unless
    `read_only_ok` (the atomic rename would pass over its permissions; an explicit overwrite keeps them)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise DocumentError(f"{path} is a directory — give a file name")
    if not read_only_ok and is_read_only(path):
        raise ReadOnlyDocument(f"{path.name} is read-only — save it under another name, or overwrite it anyway")
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
    path: Path | None = None  # the autosave file it came from
    process: str | None = None  # `process_identity` of the process that wrote it, where the system tells


class Autosave:
    """The autosave file of one document (or of an untitled buffer) in one running charwriter.

    Each process writes its own file (`NAME-DIGEST-PID.json`, `untitled-PID.json`), so two windows on the same
    document, or two untitled buffers, never overwrite each other's unsaved text. At start, `orphans()` finds the
    files of this document left by processes that are no longer running: what a crash left behind. A file also
    records its process's identity (boot and start time, on Linux), so that a crashed session's file is still
    offered when its process number has since gone to another program (after a reboot, say).
    """

    def __init__(self, document: str | Path | None, pid: int | None = None):
        self.document = Path(document).expanduser().resolve() if document else None
        self.pid = os.getpid() if pid is None else pid
        self.process = process_identity(self.pid)

    @property
    def stem(self) -> str:
        if self.document is None:
            return "untitled"
        digest = hashlib.sha256(str(self.document).encode()).hexdigest()[:16]
        return f"{self.document.name}-{digest}"

    @property
    def path(self) -> Path:
        return paths.autosave_dir() / f"{self.stem}-{self.pid}.json"

    def write(self, text: str) -> None:
        header = {"format": AUTOSAVE_FORMAT, "document": str(self.document) if self.document else None,
                  "pid": self.pid, "process": self.process, "saved_at": datetime.now().isoformat(timespec="seconds")}
        _write_record(self.path, header, text)

    def keep(self, text: str) -> Path:
        """Put `text` aside for good (before the document is reloaded from disk): a file no process owns, so the next
        start offers it back like a crashed session's."""
        stamp = datetime.now().strftime("%Y%m%d%H%M%S%f")
        path = paths.autosave_dir() / f"{self.stem}-kept-{stamp}.json"
        header = {"format": AUTOSAVE_FORMAT, "document": str(self.document) if self.document else None, "pid": None,
                  "process": None, "saved_at": datetime.now().isoformat(timespec="seconds"), "kept": True}
        _write_record(path, header, text)
        return path

    def read(self) -> Recovered | None:
        """This process's autosaved text, or None when there is none (or it is unreadable, which is no worse)."""
        return read_autosave(self.path)

    def orphans(self) -> list[Recovered]:
        """This document's autosaves whose process has ended, newest first.

        A file with this process's own number counts too: at start a process has written none, so such a file
        was left by an earlier process that had the same number. Files from before per-process names (no number)
        count as well.
        """
        found = []
        for path in paths.autosave_dir().glob(f"{glob.escape(self.stem)}*.json"):
            rest = path.name[len(self.stem) : -len(".json")]  # "" (older versions), "-PID" or "-kept-TIME"
            kept = rest.startswith("-kept-") and rest[len("-kept-") :].isdigit()
            if rest and not kept and not (rest.startswith("-") and rest[1:].isdigit()):
                continue  # another document whose name starts with this one's
            pid = int(rest[1:]) if rest and not kept else None
            recovered = read_autosave(path)
            if recovered is None:
                continue
            if pid is not None and pid != self.pid and process_running(pid):
                running = process_identity(pid)
                if not (recovered.process and running and running != recovered.process):
                    continue  # another charwriter has this document open right now
                # else: that number belongs to a newer process now; the one that wrote the file has ended
            found.append(recovered)
        return sorted(found, key=lambda r: r.saved_at, reverse=True)

    def clear(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError:  # a data folder that cannot be written: there was no autosave to remove, or it stays
            pass


AUTOSAVE_FORMAT = "charwriter-autosave-2"
"""An autosave file: one line of JSON (what, whose, when), then the text itself, unescaped. Escaping 20 MB as JSON
held the interpreter for a tenth of a second every second, and typing with it; files of the older all-JSON kind
still read."""


def _write_record(path: Path, header: dict, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(json.dumps(header, ensure_ascii=True) + "\n")
            f.write(text)

    atomic.atomic_write(Path(path).expanduser().resolve(), write)


def read_autosave(path: Path) -> Recovered | None:
    try:
        raw = path.read_text(encoding="utf-8")
        first, _, rest = raw.partition("\n")
        record = json.loads(first) if first.startswith("{") else None
        if isinstance(record, dict) and record.get("format") == AUTOSAVE_FORMAT:
            record["text"] = rest
        else:
            record = json.loads(raw)  # the older kind: one JSON object with the text inside
        return Recovered(record["text"], Path(record["document"]) if record.get("document") else None,
                         datetime.fromisoformat(record["saved_at"]), path, record.get("process"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def process_running(pid: int) -> bool:
    """Whether a process with this number exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists but belongs to someone else, or we cannot tell: leave its file alone
    return True


def process_identity(pid: int) -> str | None:
    """Which process holds this number: the boot it runs in and its start time, or None where we cannot tell.

    Linux only (`/proc`); a process number alone is reused, by the next boot at the latest.
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat_line = Path(f"/proc/{pid}/stat").read_text()
        started = stat_line[stat_line.rindex(")") + 2 :].split()[19]  # field 22, counted after "pid (comm)"
    except (OSError, ValueError, IndexError):
        return None
    return f"{boot}:{started}"


@dataclass(frozen=True)
class LineChange:
    """One line of a comparison of two versions: `kind` is " " (in both), "-" (only on disk), "+" (only here),
    or "…" (lines in both, left out)."""

    kind: str
    text: str
    number: int  # the line's number (from 1) in the version it comes from: disk for "-", ours otherwise


MAX_COMPARED_LINES = 20_000
"""Past this many lines that differ (after the common start and end are set aside), the comparison says only how
much differs: `difflib` on that much text takes seconds."""


def compare_versions(disk: str, ours: str, context: int = 2) -> list[LineChange] | None:
    """The lines that differ between the file on disk and this window's text, with `context` lines around each
    change, for a writer deciding which to keep. None when too much differs to list."""
    import difflib

    a, b = disk.splitlines(), ours.splitlines()
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    middle_a, middle_b = a[start : len(a) - end], b[start : len(b) - end]
    if len(middle_a) + len(middle_b) > MAX_COMPARED_LINES:
        return None
    matcher = difflib.SequenceMatcher(None, middle_a, middle_b, autojunk=False)
    ops = [("equal", 0, start, 0, start)]
    ops += [(tag, i1 + start, i2 + start, j1 + start, j2 + start) for tag, i1, i2, j1, j2 in matcher.get_opcodes()]
    ops.append(("equal", len(a) - end, len(a), len(b) - end, len(b)))
    ops = [op for op in ops if op[2] > op[1] or op[4] > op[3]]
    if all(op[0] == "equal" for op in ops):
        return [LineChange("…", "the same lines: they differ only in line endings", 1)]
    changes: list[LineChange] = []
    for n, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag != "equal":
            changes += [LineChange("-", a[i], i + 1) for i in range(i1, i2)]
            changes += [LineChange("+", b[j], j + 1) for j in range(j1, j2)]
            continue
        head = 0 if n == 0 else context  # lines kept after the change before, and before the change after
        tail = 0 if n == len(ops) - 1 else context
        if head + tail + 1 >= j2 - j1:
            changes += [LineChange(" ", b[j], j + 1) for j in range(j1, j2)]
            continue
        changes += [LineChange(" ", b[j], j + 1) for j in range(j1, j1 + head)]
        changes.append(LineChange("…", f"{j2 - j1 - head - tail} lines the same", j1 + head + 1))
        changes += [LineChange(" ", b[j], j + 1) for j in range(j2 - tail, j2)]
    return changes

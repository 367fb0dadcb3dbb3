"""The files a command writes (`export`'s model, `inspect --html`'s page, `train --out`'s run): never over one of
the command's own inputs, and never over a file of another kind without asking (`--force` for scripts; with no
terminal to ask in, one line that says so). Writing itself is atomic, and a folder that cannot take the file is
one line too, never a traceback. Torch-free.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Callable, Iterable

from charwriter.atomic import atomic_write
from charwriter.errors import UserError, shown  # noqa: F401 - shown: re-exported for the commands


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them is not there (yet): not the same file
        return False


def ask_yes(question: str) -> bool | None:
    """The user's answer to a yes/no question in the terminal; None when there is no terminal to ask in."""
    if not (sys.stdin and sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    print(question, end=" [y/N] ", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline()
    except (OSError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")


def check_output(out: Path, inputs: Iterable[tuple[Path | None, str]], kind: str, ours: Callable[[Path], bool],
                 force: bool) -> None:
    """Refuse to write `out` over one of `inputs` ((path, what it is) pairs) or a folder; ask before replacing an
    existing file that `ours` does not recognise as `kind` (unless `force`)."""
    for path, what in inputs:
        if path is not None and same_file(out, path):
            raise UserError(f"{shown(out)} is {what} — give another file name for the {kind}")
    if out.is_dir():
        raise UserError(f"{shown(out)} is a folder — give a file name for the {kind}")
    if force or not out.exists() or _empty(out) or ours(out):
        return
    answer = ask_yes(f"{shown(out)} exists and is not a {kind}: replace it?")
    if answer is None:
        raise UserError(f"{shown(out)} exists and is not a {kind} — pass --force to replace it, or give another name")
    if not answer:
        raise UserError(f"kept {shown(out)}: nothing written")


def _empty(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size == 0
    except OSError:
        return False


def write_output(out: Path, write: Callable[[str], None]) -> None:
    """`atomic_write`, with a folder that cannot take the file (read-only, missing, full, not a folder) said in one
    line."""
    try:
        atomic_write(out, write)
    except OSError as error:
        raise UserError(f"cannot write {shown(out)}: {os_problem(error)}") from None


def os_problem(error: OSError) -> str:
    """An operating system's refusal as the end of a one-line message: what happened, and what to do."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full — free some space, then try again (what was there before is kept)"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied (a read-only file, folder or file system) — pick a place you can write to"
    if error.errno == errno.ELOOP:
        return "a symbolic link loop — point the link at a real file"
    return f"{error.strerror or error} — pick another place"


def starts_with(marker: bytes) -> Callable[[Path], bool]:
    """`ours` for a kind of file known by what its first few kilobytes hold."""

    def check(path: Path) -> bool:
        try:
            with open(path, "rb") as f:
                return marker in f.read(4096)
        except OSError:
            return False

    return check


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written into `folder` (made if missing), said before any work is done; None if they
    can. The nearest folder that exists must be a folder we may write into."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{shown(existing)} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return "permission denied (a read-only folder or file system)"
    return None

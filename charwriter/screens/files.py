"""Keeping the writer's text: saving (and asking before overwriting what changed on disk), opening, a new
document, watching the file on disk, the autosave and offering back what a crashed session left.

A mixin of the writing screen (`WriteScreen`), which has `editor`, `status`, `settings`, `notify` and
`_another_document()` (the suggestions start afresh for another document). The files themselves are read and
written by `charwriter.documents`, which knows nothing of the screen.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.message import Message
from textual.timer import Timer
from textual.worker import get_current_worker

from charwriter.dialogs.compare import CompareScreen
from charwriter.dialogs.confirm import ConfirmScreen
from charwriter.dialogs.path_prompt import PathPrompt
from charwriter.documents import (Autosave, DiskState, DocumentError, ReadOnlyDocument, read_document,
                                  save_document)
from charwriter.widgets.status import StatusLine

DISK_CHECK_SECONDS = 2.0  # how often the document's file is looked at (a stat; its bytes only when that changed)


@dataclass
class Autosaved(Message):
    """The autosave compared the text with the file's (and wrote it, if they differ)."""

    dirty: bool
    epoch: int  # `DocumentFiles._autosave_epoch` when it began


class DocumentFiles:
    """The writing screen's document and its files (a mixin of `WriteScreen`)."""

    def _init_files(self, file: str | Path | None) -> None:
        self.document_path: Path | None = Path(file).expanduser() if file else None
        self.saved_text = ""
        self._autosave_timer: Timer | None = None
        self._autosave_lock = threading.Lock()
        self._autosave_epoch = 0
        """Bumped when the autosave is removed, so that a write already in flight does not bring it back."""
        self._recovery_pending = False
        self._kept_orphans: set[Path] = set()
        """Crashed sessions' autosaves the user closed the question on (Esc): kept for the next start."""
        self.autosave = Autosave(self.document_path)
        self.disk: DiskState | None = None
        """The document's file as this window last read or wrote it (None: no file yet)."""
        self._disk_noticed: DiskState | str | None = None
        """The state of the file on disk last reported ("gone": deleted), so that a change is said once."""

    def _read_opened(self) -> str:
        """The text of the document the screen opens with ("" for none, or for one that cannot be read: said)."""
        text = ""
        if self.document_path is not None:
            try:
                text = read_document(self.document_path, missing_ok=True)
            except DocumentError as error:
                self.app.notify(str(error), severity="error", timeout=10)
                self.document_path = None
                self.autosave = Autosave(None)
        self.saved_text = text
        self.disk = DiskState.of(self.document_path) if self.document_path else None
        return text

    def _watch_files(self) -> None:
        """Once mounted: offer back a crashed session's text, and look at the file on disk now and then."""
        self.call_after_refresh(self._offer_recovery)
        self.set_interval(DISK_CHECK_SECONDS, self._check_disk)
        if self.document_path is not None:
            self._remember(self.document_path)

    @property
    def document_name(self) -> str:
        return self.document_path.name if self.document_path else "untitled"

    @property
    def is_dirty(self) -> bool:
        return self.editor.text != self.saved_text

    def _autosave_soon(self) -> None:
        """At most `autosave_seconds` after the first unsaved change."""
        if self._autosave_timer is None:
            self._autosave_timer = self.set_timer(self.settings.autosave_seconds, self._autosave)

    def _lines(self) -> tuple[list[str], str]:
        """A copy of the document's line list and its line break, for a worker to join (joining 10 MB on the event
        loop held the keys up)."""
        document = self.editor.document
        return list(document.lines), document.newline

    def action_save(self) -> None:
        if self.document_path is None:
            self.save_as()
        else:
            self.save()

    def action_save_as(self) -> None:
        self.save_as()

    def action_new_document(self) -> None:
        self.confirm_discard(self.new_document)

    def new_document(self) -> None:
        """An empty, untitled document (the old one's changes were saved or given up by `confirm_discard`)."""
        self.discard_autosave()
        self._another_document()
        self.document_path = None
        self.autosave = Autosave(None)
        self.saved_text = ""
        self.disk = self._disk_noticed = None
        self.editor.load_text("")
        self.status.document = self.document_name
        self.status.dirty = False
        self.editor.focus()

    def save_as(self, then=None) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None:
                self.save(path, then, force=True)

        current = str(self.document_path) if self.document_path else ""  # to edit into the new name
        self.app.push_screen(PathPrompt("Save as", "Save the document to:", current), chosen)

    def save(self, path: Path | None = None, then=None, force: bool = False, read_only_ok: bool = False) -> bool:
        """Save (to `path`, or the document's file) and run `then`. If the file changed on disk since this window
        read or wrote it (another program, another window), ask first: overwrite, save as, or cancel; a read-only
        file too (unless `read_only_ok`). True if saved now."""
        path = path or self.document_path
        assert path is not None
        if not force and path == self.document_path and self.disk is not None and self.disk.changed(path):
            self._ask_overwrite(path, then)
            return False
        text = self.editor.text
        try:
            save_document(path, text, read_only_ok)
        except ReadOnlyDocument:
            self._ask_read_only(path, then)
            return False
        except DocumentError as error:
            self.notify(str(error), title="Not saved", severity="error", timeout=10)
            return False
        if path != self.document_path:
            self.discard_autosave()
            self.document_path = path
            self.autosave = Autosave(path)
        self.saved_text = text
        self.editor.history.checkpoint()  # undo comes back to the saved text, not past it (one typing batch)
        self.disk = self._disk_noticed = DiskState.of(path)
        self.discard_autosave()
        self.status.document = self.document_name
        self.status.dirty = self.is_dirty
        self._remember(path)
        self.notify(f"saved {path}", timeout=3)
        if then is not None:
            then()
        return True

    def _ask_read_only(self, path: Path, then) -> None:
        def answered(choice: str | None) -> None:
            if choice == "overwrite":
                self.save(path, then, force=True, read_only_ok=True)
            elif choice == "save_as":
                self.save_as(then)

        question = (f"{path.name} is read-only: its permissions say it is not to be changed. Save your text under "
                    "another name, or overwrite the file anyway (it stays read-only)?")
        self.app.push_screen(ConfirmScreen("Read-only file", question, [
            ("Save as…", "save_as", "primary"), ("Overwrite anyway", "overwrite", "error"),
            ("Cancel", "cancel", "default"),
        ]), answered)

    def _ask_overwrite(self, path: Path, then) -> None:
        def answered(choice: str | None) -> None:
            if choice == "overwrite":
                self.save(path, then, force=True)
            elif choice == "save_as":
                self.save_as(then)
            elif choice == "reload":
                self.reload_keeping_text(path)
            elif choice == "compare":
                self.app.push_screen(CompareScreen(path, self.editor.text), answered)

        question = (f"{path.name} changed on disk since you opened or saved it here (another program or window "
                    "saved it). Overwrite it with your text, save your text under another name, reload the file "
                    "(your text is kept, and offered back at the next start), or compare the two first?")
        self.app.push_screen(ConfirmScreen("File changed on disk", question, [
            ("Save as…", "save_as", "primary"), ("Overwrite", "overwrite", "error"), ("Reload", "reload", "default"),
            ("Show both", "compare", "default"), ("Cancel", "cancel", "default"),
        ]), answered)

    def reload_keeping_text(self, path: Path) -> None:
        """Show the file as it is on disk; this window's text is put aside first, never dropped."""
        try:
            kept = self.autosave.keep(self.editor.text)
        except OSError as error:
            self.notify(f"not reloaded: your text could not be kept ({error})", severity="error", timeout=10)
            return
        self._kept_orphans.add(kept)  # offered at the next start, not at once
        if self.open(path):
            self.notify(f"Reloaded {path.name} from disk. Your text is kept ({kept}); charwriter offers it back at "
                        "the next start.", title="Reloaded", timeout=12)

    def _check_disk(self) -> None:
        """Say once when the document's file changes on disk while it is open here."""
        path, disk = self.document_path, self.disk
        if path is None or disk is None or not disk.changed(path):
            return
        now = DiskState.of(path) or "gone"
        if now == self._disk_noticed:
            return
        self._disk_noticed = now
        gone = "was deleted or moved" if now == "gone" else "was changed by another program or window"
        self.notify(f"{path.name} {gone} on disk. Your text here is kept; Ctrl+S asks before overwriting.",
                    title="File changed on disk", severity="warning", timeout=10)

    def _disk_differs(self) -> bool:
        """The file on disk no longer holds this window's text, and this window did not write what it holds."""
        path = self.document_path
        if path is None or self.disk is None or not self.disk.changed(path):
            return False
        try:
            return read_document(path, missing_ok=True) != self.editor.text
        except DocumentError:
            return True

    def action_open(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None:
                self.confirm_discard(lambda: self.open(path))

        # The document open now is not offered: Enter on the empty field then opens the one before it.
        current = str(self.document_path.expanduser().resolve()) if self.document_path else None
        recent = [path for path in self.settings.recent if path != current]
        self.app.push_screen(PathPrompt("Open", "Open the file:", recent=recent), chosen)

    def open(self, path: Path) -> bool:
        try:
            text = read_document(path, missing_ok=True)
        except DocumentError as error:
            self.notify(str(error), title="Cannot open", severity="error", timeout=10)
            return False
        self.discard_autosave()
        self._another_document()
        self.document_path = path
        self.autosave = Autosave(path)
        self.saved_text = text
        self.disk = self._disk_noticed = DiskState.of(path)
        self.editor.load_text(text)
        self.editor.move_cursor(self.editor.document.end)
        self.status.document = self.document_name
        self.status.dirty = False
        self.call_after_refresh(self._offer_recovery)
        self._remember(path)
        return True

    def _remember(self, path: Path) -> None:
        """List the document among the recent ones in Open (a settings file that cannot be written: not now)."""
        if Path(path).expanduser().is_file():
            try:
                self.settings.remember_document(path)
            except OSError:
                pass

    def confirm_discard(self, then) -> None:
        """Run `then` now if everything is saved; else ask: save first, discard the changes, or cancel. "Saved"
        means the file holds this text: if another program or window has saved over it, that is asked too."""
        replaced = self._disk_differs()
        if not self.is_dirty and not replaced:
            then()
            return

        def answered(choice: str | None) -> None:
            if choice == "save":
                if self.document_path is None:
                    self.save_as(then)
                else:
                    self.save(then=then, force=replaced)  # the question was just asked
            elif choice == "discard":
                self.discard_autosave()
                then()

        if replaced:
            question = (f"{self.document_name} was changed on disk by another program or window: it no longer "
                        "holds your text. Save your text over it, or discard your text?")
        else:
            question = f"{self.document_name} has unsaved changes."
        self.app.push_screen(ConfirmScreen("Unsaved changes", question, [
            ("Save", "save", "primary"), ("Discard", "discard", "error"), ("Cancel", "cancel", "default"),
        ]), answered)

    # --- autosave and recovery ----------------------------------------------------------------------------------

    def _autosave(self) -> None:
        # The text is joined, compared and written in a worker, from a copy of the line list: joining 10 MB on the
        # event loop held the keys up once a second while typing.
        self._autosave_timer = None
        self._autosave_lines(self.autosave, *self._lines(), self._autosave_epoch)

    @work(thread=True, exclusive=True, group="autosave-text", description="autosave")
    def _autosave_lines(self, autosave: Autosave, lines: list[str], newline: str, epoch: int) -> None:
        text = newline.join(lines)
        dirty = text != self.saved_text
        if get_current_worker().is_cancelled:
            return  # a newer tick is saving newer text: this one must not land after it
        self.post_message(Autosaved(dirty, epoch))  # a message: dropped if the screen has gone meanwhile
        if dirty and not self._recovery_pending:  # (a crashed session's text is kept until the user answers)
            self._write_autosave_now(autosave, text, epoch)

    def on_autosaved(self, message: "Autosaved") -> None:
        statuses = self.query(StatusLine)
        if message.epoch != self._autosave_epoch or not statuses:
            return  # saved or discarded meanwhile (that said whether it is dirty), or the screen is closing
        statuses.first().dirty = message.dirty
        if not message.dirty and not self._recovery_pending:
            self.discard_autosave()

    @work(thread=True, group="autosave", description="autosave")
    def _write_autosave(self, autosave: Autosave, text: str, epoch: int, replaces: Path | None = None) -> None:
        self._write_autosave_now(autosave, text, epoch, replaces)

    def _write_autosave_now(self, autosave: Autosave, text: str, epoch: int, replaces: Path | None = None) -> None:
        with self._autosave_lock:
            if epoch != self._autosave_epoch:
                return  # saved or discarded since this write was scheduled
            try:
                autosave.write(text)
            except OSError as error:
                self.app.call_from_thread(self.notify, f"autosave failed: {error}", severity="error")
                return
            if replaces is not None and replaces != autosave.path:
                replaces.unlink(missing_ok=True)

    def discard_autosave(self) -> None:
        """Remove the autosave (after a clean save or quit): nothing to recover."""
        with self._autosave_lock:
            self._autosave_epoch += 1
            self.autosave.clear()

    def _offer_recovery(self) -> None:
        """Offer back what a crashed session left for this document, newest first.

        Restore takes it (older ones wait for the next start); Discard removes it and offers the next; Esc keeps it
        for the next start. Nothing is removed without an answer."""
        orphans = [r for r in self.autosave.orphans() if r.path not in self._kept_orphans]
        for recovered in orphans:
            if recovered.text != self.editor.text:
                break
            recovered.path.unlink(missing_ok=True)  # nothing was lost: the file already says this
        else:
            return
        older = len(orphans) - orphans.index(recovered) - 1

        def answered(choice: str | None) -> None:
            self._recovery_pending = False
            if choice == "restore":
                self._another_document(unadapt=False)
                self.editor.load_text(recovered.text)  # undo history starts here; the file is untouched until saved
                self.editor.move_cursor(self.editor.document.end)
                self.status.dirty = recovered.text != self.saved_text
                # This session's own autosave takes over before the crashed session's file goes.
                self._write_autosave(self.autosave, recovered.text, self._autosave_epoch, replaces=recovered.path)
            elif choice == "discard":
                recovered.path.unlink(missing_ok=True)
                self._offer_recovery()
            else:
                self._kept_orphans.add(recovered.path)
                self.notify("The unsaved text is kept; charwriter offers it again at the next start.")

        when = recovered.saved_at.strftime("%Y-%m-%d %H:%M")
        if recovered.path is not None and "-kept-" in recovered.path.name:
            question = (f"Before {self.document_name} was reloaded from disk on {when}, your text there was kept "
                        f"({len(recovered.text):,} characters). Restore it, or discard it for good?")
        else:
            question = (f"charwriter did not close cleanly. There is unsaved text for {self.document_name} "
                        f"from {when} ({len(recovered.text):,} characters). Restore it, or discard it for good?")
        if older:
            question += (f" (Discard shows the next of {older} older unsaved {'text' if older == 1 else 'texts'};"
                         " Restore keeps them for the next start.)")
        self._recovery_pending = True
        self.app.push_screen(ConfirmScreen("Recover unsaved text", question, [
            ("Restore", "restore", "primary"), ("Discard", "discard", "error"),
        ]), answered)

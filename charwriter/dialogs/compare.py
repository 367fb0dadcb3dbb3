""""Show both": the file on disk and this window's text, line by line where they differ, and the same choices as
the question before it (save as, overwrite, reload, cancel). Reading and comparing run in a worker: a document
can be 20 MB."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from charwriter.documents import DocumentError, LineChange, compare_versions, read_document

SHOWN_LINES = 2_000
"""Lines drawn at most: enough to see what another program did, few enough to draw at once."""

STYLES = {"-": "red", "+": "green", " ": "", "…": "dim italic"}


def render_changes(changes: list[LineChange]) -> Table:
    """A gutter (where the line is, its number) and the line, wrapped under itself."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="dim")
    grid.add_column(overflow="fold")
    width = len(str(max((c.number for c in changes), default=1)))
    for change in changes[:SHOWN_LINES]:
        mark = {"-": "disk", "+": "here"}.get(change.kind, "")
        line = change.text if change.kind != "…" else f"… {change.text}"
        grid.add_row(f"{mark:>4} {change.number:>{width}}", Text(line, style=STYLES[change.kind]))
    if len(changes) > SHOWN_LINES:
        grid.add_row("", Text(f"… and {len(changes) - SHOWN_LINES} more lines", style=STYLES["…"]))
    return grid


class CompareScreen(ModalScreen[str | None]):
    """Dismisses with "save_as", "overwrite", "reload", or None (cancel / Esc)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="cancel", tooltip="Close without choosing")]

    def __init__(self, path: Path, ours: str) -> None:
        super().__init__(classes="dialog")
        self.path = path
        self.ours = ours

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box wide compare") as box:
            box.border_title = f"{self.path.name}: on disk and here"
            yield Label("Comparing…", id="compare-note", classes="question")
            with VerticalScroll(id="compare-lines"):
                yield Static(id="compare-text")
            with Horizontal(classes="buttons"):
                yield Button("Save mine as…", id="save_as", variant="primary")
                yield Button("Keep mine", id="overwrite", variant="error", tooltip="Overwrite the file with your text")
                yield Button("Keep disk's", id="reload", variant="default",
                             tooltip="Reload the file; your text is kept and offered back at the next start")
                yield Button("Cancel", id="cancel", variant="default")

    def on_mount(self) -> None:
        self.query_one("#compare-lines").focus()
        self.compare()

    @work(thread=True, exclusive=True, description="compare with the file on disk")
    def compare(self) -> None:
        try:
            disk = read_document(self.path)
        except DocumentError as error:
            self.app.call_from_thread(self.show, f"The file cannot be read now: {error}", None)
            return
        changes = compare_versions(disk, self.ours)
        if changes is None:
            note = (f"Too much differs to list line by line: {len(disk.splitlines())} lines on disk, "
                    f"{len(self.ours.splitlines())} here.")
            self.app.call_from_thread(self.show, note, None)
            return
        gone = sum(c.kind == "-" for c in changes)
        new = sum(c.kind == "+" for c in changes)
        note = (f"{gone} lines only on disk (red, numbered as on disk), {new} only here (green, numbered as here); "
                "the lines around them are the same in both.")
        self.app.call_from_thread(self.show, note, render_changes(changes))

    def show(self, note: str, lines: Table | None) -> None:
        if not self.is_attached:
            return  # closed while comparing
        self.query_one("#compare-note", Label).update(note)
        if lines is not None:
            self.query_one("#compare-text", Static).update(lines)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None if event.button.id == "cancel" else event.button.id)

"""The model picker: every model `charwriter models` knows (name, validation loss, corpus); Enter picks one.

`list_models()` reads each file's header, which needs safetensors and torch, so the table fills in a worker.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label


class ModelPicker(ModalScreen[Path | None]):
    """Dismisses with the chosen model file, or None on Esc."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="cancel", tooltip="Keep the current model")]

    def __init__(self, current: Path | None = None) -> None:
        super().__init__(classes="dialog")
        self.current = current
        self.paths: list[Path] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box wide") as box:
            box.border_title = "Models"
            yield Label("Loading the list of models…", id="models-note", classes="question")
            table: DataTable = DataTable(cursor_type="row", zebra_stripes=True)
            table.add_columns("name", "val loss", "corpus", "source")
            yield table

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load_models()

    @work(thread=True, exclusive=True)
    def load_models(self) -> None:
        from charwriter.lm.registry import list_models

        entries = list_models()
        self.app.call_from_thread(self.show_models, entries)

    def show_models(self, entries) -> None:
        table = self.query_one(DataTable)
        note = self.query_one("#models-note", Label)
        if not entries:
            note.update("No models yet — train one with Ctrl+T or `charwriter train CORPUS`.")
            return
        note.update("Enter: write with this model · Esc: keep the current one")
        for entry in entries:
            val = f"{entry.val_loss:.4f}" if entry.val_loss is not None else "-"
            corpus = entry.field("corpus") if entry.meta is not None else "unreadable"
            table.add_row(entry.name, val, corpus, entry.source)
            self.paths.append(entry.path)
            if self.current is not None and entry.path == self.current:
                table.move_cursor(row=len(self.paths) - 1)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.dismiss(self.paths[event.cursor_row])

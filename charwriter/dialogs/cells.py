"""The cell picker: which LSTM unit colours the text in the cell view.

It lists what the cell finder found on the text near the cursor (`charwriter.lm.inspect.find_cells`: for each simple
feature of the text, the units whose activation follows it most closely), the strongest first, so a learner can go
through them; or takes a unit typed as LAYER:INDEX. The finder reads a few thousand characters with the model, so
it runs in a worker and the list fills in when it is done.
"""

from __future__ import annotations

from typing import Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, DataTable, Input, Label


class CellPicker(ModalScreen[tuple | None]):
    """Dismisses with (layer, index, kind), 0-based layer, kind "cell" or "hidden"; or None on Esc."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="cancel", tooltip="Keep the view as it is")]

    def __init__(self, layers: int, hidden: int, find: Callable[[], list]) -> None:
        super().__init__(classes="dialog")
        self.model_layers, self.model_hidden, self.find = layers, hidden, find
        self.found: list = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box wide cells") as box:
            box.border_title = "Cell view"
            yield Label("Finding the cells that follow the text's quotes, line position, sentence ends and words…",
                        id="cells-note", classes="question")
            table: DataTable = DataTable(cursor_type="row", zebra_stripes=True)
            table.add_columns("follows", "unit", "r")
            yield table
            yield Input(placeholder=f"or a unit: LAYER:INDEX (layers 1–{self.model_layers}, cells 0–{self.model_hidden - 1})",
                        id="unit")
            yield Checkbox("hidden state (instead of tanh of the cell state)", id="kind")

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.run_find()

    @work(thread=True, exclusive=True)
    def run_find(self) -> None:
        try:
            found = self.find()
        except Exception as error:  # the dialog still takes a unit typed by hand
            self.app.call_from_thread(self.show_found, [], f"The finder failed ({type(error).__name__}: {error}).")
            return
        self.app.call_from_thread(self.show_found, found, None)

    def show_found(self, found: list, error: str | None) -> None:
        note = self.query_one("#cells-note", Label)
        if error or not found:
            note.update(error or "No feature varies in the text near the cursor: type a unit below.")
            return
        self.found = sorted(found, key=lambda f: -abs(f.r))
        note.update("r: how closely the unit follows the feature (−1 to 1; a negative one runs the other way)."
                    " Enter: colour the text by it · or type a unit below")
        table = self.query_one(DataTable)
        for f in self.found:
            table.add_row(f.feature, f"{f.layer + 1}:{f.cell}", f"{f.r:+.2f}")

    def _kind(self) -> str:
        return "hidden" if self.query_one("#kind", Checkbox).value else "cell"

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self.found):
            f = self.found[event.cursor_row]
            self.dismiss((f.layer, f.cell, self._kind()))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        from charwriter.lm.inspect import parse_cell  # torch is loaded: a model is in use

        try:
            layer, index = parse_cell(event.value.strip(), self.model_layers, self.model_hidden)
        except ValueError as error:
            self.notify(str(error), severity="warning", timeout=6)
            return
        self.dismiss((layer, index, self._kind()))

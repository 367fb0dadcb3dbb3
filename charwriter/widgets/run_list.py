"""Past training runs in a table (newest first); Enter or a click on a row opens its curves, d deletes it and r
renames it (the screen asks first), c draws its validation curve over the shown run's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from charwriter.runs import RunHistory, format_duration


NAME_WIDTH = 18  # a run named after its corpus and time ("pride-and-prejudice-20261202-0112") is shown cut


class RunList(DataTable):
    """`show(histories)` fills it; selecting a row posts `RunList.Opened` with that run's folder."""

    BINDINGS = [
        Binding("d", "request('delete')", "Delete run", id="runs.delete", tooltip="Delete the run (asks first)"),
        Binding("r", "request('rename')", "Rename run", id="runs.rename", tooltip="Give the run another name"),
        Binding("c", "request('compare')", "Compare", id="runs.compare",
                tooltip="Draw this run's validation curve over the shown run's (c again: take it away)"),
    ]

    @dataclass
    class Opened(Message):
        run_dir: Path

    @dataclass
    class Requested(Message):
        """Delete, rename or compare the run under the cursor (`action`: "delete", "rename" or "compare")."""

        action: str
        run_dir: Path

    def action_request(self, action: str) -> None:
        if self.row_count:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
            if key is not None:
                self.post_message(self.Requested(action, Path(key)))

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        # The name column is capped so the steps ("102/280") and the time are never cut behind a scrollbar.
        self.add_column("run", width=NAME_WIDTH)
        self.add_columns("status", "steps", "best val", "time")

    def show(self, histories: list[RunHistory], running: Path | None = None) -> None:
        self.clear()
        for h in histories:
            self.add_row(*self._cells(h, running == h.run_dir), key=str(h.run_dir))

    def update_run(self, history: RunHistory, running: bool) -> None:
        """Refresh one run's row (the live one, as it trains)."""
        key = str(history.run_dir)
        if key in self.rows:
            for column, value in zip(self.columns, self._cells(history, running)):
                self.update_cell(key, column, value)

    @staticmethod
    def _cells(h: RunHistory, running: bool) -> tuple[str, ...]:
        best = f"{h.best_val_loss:.3f}" if h.best_val_loss is not None else "-"
        seconds = h.done.train_seconds if h.done else h.last_step.elapsed_s if h.last_step else None
        name = h.name if len(h.name) <= NAME_WIDTH else h.name[: NAME_WIDTH - 1] + "…"
        return (name, "running" if running else h.status, f"{h.step}/{h.total_steps}", best,
                format_duration(seconds))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Opened(Path(event.row_key.value)))

"""Past training runs in a table (newest first); Enter or a click on a row opens its curves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message
from textual.widgets import DataTable

from charwriter.runs import RunHistory, format_duration


class RunList(DataTable):
    """`show(histories)` fills it; selecting a row posts `RunList.Opened` with that run's folder."""

    @dataclass
    class Opened(Message):
        run_dir: Path

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self.add_columns("run", "status", "steps", "best val", "time")

    def show(self, histories: list[RunHistory], running: Path | None = None) -> None:
        self.clear()
        for h in histories:
            status = "running" if running == h.run_dir else h.status
            best = f"{h.best_val_loss:.3f}" if h.best_val_loss is not None else "-"
            seconds = (h.done or h.last_step or {}).get("train_seconds", (h.last_step or {}).get("elapsed_s"))
            self.add_row(h.name, status, f"{h.step}/{h.total_steps}", best, format_duration(seconds),
                         key=str(h.run_dir))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Opened(Path(event.row_key.value)))

"""A modal that asks for a file path (Open, Save as); it dismisses with the path typed, or None on Esc."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList

from charwriter.widgets.path_suggester import PathSuggester


class PathPrompt(ModalScreen[Path | None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="cancel", tooltip="Close without choosing"),
        Binding("down", "pick_recent", "Recent", show=False, tooltip="Move to the recent documents"),
    ]

    def __init__(self, title: str, prompt: str, value: str = "", recent: list[str] | tuple = ()) -> None:
        """`recent`: paths to offer below the input (those that still exist), newest first."""
        super().__init__(classes="dialog")
        self.title_text = title
        self.prompt = prompt
        self.value = value
        self.recent = [p for p in recent if Path(p).is_file()]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = self.title_text
            yield Label(self.prompt, classes="question")
            # → at the end takes the grey completion (a folder's first entry that starts with what was typed)
            yield Input(self.value, placeholder="path/to/file.txt (→ completes)", suggester=PathSuggester())
            if self.recent:
                yield Label("Recent (↓ to pick, Enter opens):", classes="question")
                yield OptionList(*self.recent, id="recent")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(Path(self.recent[event.option_index]))

    def action_pick_recent(self) -> None:
        """↓ in the path field (the option list takes its own ↓): the recent documents, the newest highlighted."""
        if self.recent:
            recent = self.query_one("#recent", OptionList)
            recent.highlighted = recent.highlighted or 0
            recent.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.dismiss(Path(event.value.strip()).expanduser())
        elif self.recent:  # Enter on an empty field opens the highlighted recent document (the newest at first)
            self.dismiss(Path(self.recent[self.query_one("#recent", OptionList).highlighted or 0]))

"""A modal that asks for a file path (Open, Save as); it dismisses with the path typed, or None on Esc."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class PathPrompt(ModalScreen[Path | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="cancel", tooltip="Close without choosing")]

    def __init__(self, title: str, prompt: str, value: str = "") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.prompt = prompt
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = self.title_text
            yield Label(self.prompt, classes="question")
            yield Input(self.value, placeholder="path/to/file.txt")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.dismiss(Path(event.value.strip()).expanduser())

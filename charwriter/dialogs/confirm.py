"""A small modal question with buttons; it dismisses with the value of the button pressed (Esc: None)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmScreen(ModalScreen[str | None]):
    """Ask `question`; `choices` are (label, value, variant) for each button, the first one focused."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="cancel", tooltip="Close without choosing")]

    def __init__(self, title: str, question: str, choices: list[tuple[str, str, str]]) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.question = question
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box wide" if len(self.choices) > 4 else "dialog-box") as box:
            box.border_title = self.title_text
            yield Label(self.question, classes="question")
            with Horizontal(classes="buttons"):
                for label, value, variant in self.choices:
                    yield Button(label, id=value, variant=variant)  # type: ignore[arg-type]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id)

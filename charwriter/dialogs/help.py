"""The help screen (F1): what charwriter does and every key, as currently mapped (a keymap changes them here too)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

INTRO = """\
**charwriter** continues your text as you type. The grey text at the cursor is the model's most likely
continuation; the pane on the right lists it and the alternatives worth reading, numbered, each with a
confidence bar: ●●●● sure, ●●●○ likely, ●●○○ maybe, ●○○○ a guess (the mean log-probability per character
from −0.25, −0.6 and −1.0 nats up; the pane's tooltip shows the numbers). Typing what the grey text says keeps
it; anything else asks the model again. Without grey text, Tab moves the focus as usual (to the pane).

The **document memory** learns the names and phrases of the document you are writing, as you write it, so a
name typed twice is completed the third time; switch it off or on from the palette (Ctrl+P, "Document memory").
Once a document has 20,000 characters the model also **adapts** to its style in the background (palette: "Adapt
to the document").

To see inside the model: **F5** colours each character by how surprised the model was by it, **F8** colours the
text by one LSTM cell, chosen from those the cell finder says track quotes, line position, sentence ends or words.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1", "dismiss(None)", "Close", id="close_help", tooltip="Close the help")]

    def __init__(self, keys: list[tuple[str, str, str]]) -> None:
        """`keys`: (key as displayed, what it does, longer explanation) for each binding."""
        super().__init__(classes="dialog")
        self.keys = keys

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box wide help") as box:
            box.border_title = "Help — Esc to close · ↑↓ PgUp PgDn scroll"
            with VerticalScroll(id="help-scroll"):
                yield Markdown(INTRO)
                yield Static(self.key_table(), id="help-keys")

    def key_table(self) -> Table:
        """Every key with its explanation, wrapped to the dialog's width (a narrow terminal shows all of it)."""
        table = Table(box=None, show_header=True, header_style="bold", expand=True, pad_edge=False)
        table.add_column("key", no_wrap=True, style="bold")
        table.add_column("action", no_wrap=True)
        table.add_column("", ratio=1, overflow="fold")
        for row in self.keys:
            table.add_row(*row)
        return table

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()  # the arrows and page keys scroll it

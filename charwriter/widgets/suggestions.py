"""The suggestions pane: the K continuations, numbered, most likely first, each with its confidence.

Focus it (Alt+S, or Tab when no ghost text shows) and pick one with the arrows and Enter, or with its number.
The pane only shows what the editor holds and says which one was picked with a `Picked` message. A continuation
that finishes the word being typed shows the typed part dimmed, so the whole word reads; confidence is a short bar
(the number, the mean log-probability per character, is in the pane's tooltip and in help).
"""

from __future__ import annotations

from dataclasses import dataclass

import unicodedata

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from charwriter.lm.rules import is_word_char
from charwriter.session import confidence_bar
from charwriter.widgets.editor import Continuation


def visible(text: str) -> str:
    """A continuation on one line: newlines and tabs drawn as symbols."""
    return text.replace("\n", "↵").replace("\t", "→")


class SuggestionsPane(OptionList):
    BINDINGS = [
        # One footer entry for the nine: "1…9 Insert" (Enter inserts the highlighted one, as in any list).
        Binding("1", "pick(0)", "Insert", key_display="1…9", id="pick_number",
                tooltip="Insert continuation 1–9 (Enter: the highlighted one); a word comes with its space"),
        *(Binding(str(n), f"pick({n - 1})", f"Pick {n}", show=False) for n in range(2, 10)),
        Binding("escape", "app.focus('editor')", "Back", id="back_to_editor",
                tooltip="Back to the editor without inserting anything"),
    ]

    @dataclass
    class Picked(Message):
        """The user chose continuation `index` to insert."""

        pane: "SuggestionsPane"
        index: int

    @dataclass
    class Typed(Message):
        """A character was typed while the pane had the focus: it belongs in the editor."""

        pane: "SuggestionsPane"
        character: str  # (or a pasted text)

    def _on_key(self, event: events.Key) -> None:
        # Only the numbers of the continuations shown are the pane's; any other printable key is the writer typing
        # on, and must not be lost: it goes to the editor.
        character = event.character
        if not character or not (event.is_printable or unicodedata.category(character) == "Cf"):
            return
        if character.isdigit() and 1 <= int(character) <= self._count:
            return
        event.stop()
        event.prevent_default()
        self.post_message(self.Typed(self, character))

    def _on_paste(self, event: events.Paste) -> None:
        # A paste (or a flood of keys from a terminal without bracketed paste) is the writer's text too
        event.stop()
        self.post_message(self.Typed(self, event.text))

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "Suggestions"
        self._count = 0

    def show(self, continuations: tuple[Continuation, ...], choice: int, typed: str = "") -> None:
        """Redraw with these continuations; `choice` is the one shown as ghost text in the editor (-1: none); `typed`
        is the part of the word before the cursor, shown dimmed in front of a continuation that finishes it."""
        highlighted = self.highlighted
        options = []
        for i, (text, score) in enumerate(continuations):
            bar, _ = confidence_bar(score)
            finishes = typed and text[:1] and is_word_char(text[0])
            prompt = Text.assemble(
                (f"{i + 1} ", "bold"),
                (f"{bar} ", "dim"),
                (typed if finishes else "", "dim"),
                (visible(text), "italic" if i == choice else ""),
            )
            options.append(Option(prompt, id=str(i)))
        self._count = len(options)
        self.set_options(options)
        self.set_class(not options, "-empty")
        self.tooltip = "\n".join(
            [f"{i + 1}: {confidence_bar(score)[1]} (mean log-probability {score:.2f} nats per character)"
             for i, (_, score) in enumerate(continuations)]) or None
        if options:
            self.highlighted = highlighted if highlighted is not None and highlighted < len(options) \
                else max(0, choice)  # (choice -1: none is drawn as grey text)

    def action_pick(self, index: int) -> None:
        if index < self._count:
            self.post_message(self.Picked(self, index))

    def _on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Picked(self, event.option_index))

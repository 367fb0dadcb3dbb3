"""The footer, with the keys a writer needs most first (Quit, Help, Accept, Word, Save, Open, Find): Textual lists
the focused widget's keys first, so in an 80-column terminal the editor's keys pushed the others off the right edge."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

FIRST = ("quit", "help", "accept", "accept_word", "toggle_case", "replace_all", "close", "save", "open", "find",
         "focus_suggestions", "pick_model")
"""Actions shown before every other key, in this order: what a writer needs first (the editor's Accept and Word, or
the find bar's own keys while it has the focus, then Save, Open, Find). An 80-column footer ends after about seven
keys; the help (F1) and the palette (Ctrl+P) have the rest."""


class KeysFooter(Footer):
    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        first = sorted((w for w in widgets if isinstance(w, FooterKey) and w.action in FIRST),
                       key=lambda w: FIRST.index(w.action))
        yield from first
        yield from (w for w in widgets if not any(w is f for f in first))

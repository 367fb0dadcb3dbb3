"""The footer, with Quit and Help first: Textual lists the focused widget's keys first, so in an 80-column
terminal the editor's keys pushed the two a new user needs most off the right edge."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

FIRST = ("quit", "help")
"""Actions shown before every other key, in this order."""


class KeysFooter(Footer):
    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        first = sorted((w for w in widgets if isinstance(w, FooterKey) and w.action in FIRST),
                       key=lambda w: FIRST.index(w.action))
        yield from first
        yield from (w for w in widgets if not any(w is f for f in first))

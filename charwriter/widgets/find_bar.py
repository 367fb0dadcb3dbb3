"""Find and replace (Ctrl+F): a bar under the editor. In the find field Enter or ↓ finds the next match from the
cursor, ↑ the previous one; Alt+C makes the search case-sensitive (it is not, by default). In the replace field
(Tab) Enter replaces the selected match and finds the next, Alt+A replaces every match. Esc closes the bar, the cursor
at the end of the match.

`find_matches` is plain Python on the document's text; the bar asks for it only on Enter and the arrows, not on
every key typed into it (a 20 MB document takes a few tens of milliseconds to search).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label

MAX_MATCHES = 100_000
"""Matches counted at most (the count then reads "100,000+")."""


def find_matches(text: str, query: str, case: bool = False) -> list[int]:
    """Start offsets of every (non-overlapping) occurrence of `query` in `text`. Without `case`, upper and lower
    case match each other (a regular expression, not `lower()`: that changes some lengths, and so the offsets)."""
    if not query:
        return []
    if case:
        found, at = [], text.find(query)
        while at >= 0 and len(found) < MAX_MATCHES:
            found.append(at)
            at = text.find(query, at + len(query))
        return found
    return [m.start() for m, _ in zip(re.finditer(re.escape(query), text, re.IGNORECASE), range(MAX_MATCHES))]


def next_match(matches: list[int], cursor: int, forward: bool) -> int | None:
    """Index in `matches` of the match after (or before) the cursor offset, wrapping around; None if none."""
    if not matches:
        return None
    if forward:
        for i, start in enumerate(matches):
            if start >= cursor:
                return i
        return 0
    for i in range(len(matches) - 1, -1, -1):
        if matches[i] < cursor:
            return i
    return len(matches) - 1


class FindBar(Horizontal):
    BINDINGS = [
        Binding("down", "find(1)", "Next", id="find_next", tooltip="The next match (Enter too)"),
        Binding("up", "find(-1)", "Previous", id="find_previous", tooltip="The previous match"),
        Binding("alt+c", "toggle_case", "Case", id="find_case", tooltip="Match upper and lower case exactly, or not"),
        Binding("alt+a", "replace_all", "Replace all", id="replace_all", tooltip="Replace every match"),
        Binding("escape", "close", "Close", id="find_close", tooltip="Close the find bar (the cursor stays at the match)"),
    ]

    @dataclass
    class Find(Message):
        """Find `query` forward (direction 1) or backward (-1) from the editor's cursor."""

        bar: "FindBar"
        query: str
        direction: int
        case: bool

    @dataclass
    class Replace(Message):
        """Replace the selected match of `query` with `replacement` and find the next (or every match: `every`)."""

        bar: "FindBar"
        query: str
        replacement: str
        case: bool
        every: bool

    @dataclass
    class Closed(Message):
        bar: "FindBar"

    case = False

    def compose(self) -> ComposeResult:
        yield Label("Find", id="find-label")
        yield Input(placeholder="find: Enter/↓ next, ↑ previous, Alt+C case", id="find-input")
        yield Input(placeholder="replace with: Enter one, Alt+A all", id="replace-input")
        yield Label("", id="find-status")

    @property
    def input(self) -> Input:
        return self.query_one("#find-input", Input)

    def open(self, query: str = "") -> None:
        self.display = True
        if query:
            self.input.value = query
        self.input.focus()
        self.input.select_all()

    def show_result(self, text: str) -> None:
        self.query_one("#find-status", Label).update(text)

    @on(Input.Submitted, "#find-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_find(1)

    @on(Input.Submitted, "#replace-input")
    def _replace(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Replace(self, self.input.value, event.value, self.case, every=False))

    def action_replace_all(self) -> None:
        replacement = self.query_one("#replace-input", Input).value
        self.post_message(self.Replace(self, self.input.value, replacement, self.case, every=True))

    def action_find(self, direction: int) -> None:
        self.post_message(self.Find(self, self.input.value, direction, self.case))

    def action_toggle_case(self) -> None:
        self.case = not self.case
        self.query_one("#find-label", Label).update("Find (Aa)" if self.case else "Find")
        self.action_find(1)

    def action_close(self) -> None:
        self.display = False
        self.post_message(self.Closed(self))

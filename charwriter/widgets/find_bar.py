"""Find and replace (Ctrl+F): a bar under the editor. In the find field Enter or ↓ finds the next match from the
cursor, ↑ the previous one; Alt+C makes the search case-sensitive (it is not, by default). In the replace field
(Tab) Enter replaces the selected match and finds the next, Alt+A replaces every match. Esc closes the bar, the cursor
at the end of the match.

`find_matches` is plain Python on the document's text; the bar asks for it only on Enter and the arrows, not on
every key typed into it (a 20 MB document takes a few tens of milliseconds to search). The bar searches and edits
the text area its `target` selects, on its own screen.
"""

from __future__ import annotations

import re

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Input, Label, TextArea
from textual.widgets.text_area import Selection

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

    case = False

    def __init__(self, target: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.target = target
        """The selector of the text area it searches."""

    @property
    def editor(self) -> TextArea:
        return self.screen.query_one(self.target, TextArea)


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
        self.replace(self.input.value, event.value)

    def action_replace_all(self) -> None:
        self.replace(self.input.value, self.query_one("#replace-input", Input).value, every=True)

    def action_find(self, direction: int) -> None:
        """Select the next match (direction 1) or the previous one (-1) from the editor's cursor."""
        query, editor = self.input.value, self.editor
        if not query:
            self.show_result("")
            return
        matches = find_matches(editor.text, query, self.case)
        document = editor.document
        start, end = sorted(editor.selection)
        cursor = document.get_index_from_location(end if direction > 0 else start)
        index = next_match(matches, cursor, direction > 0)
        if index is None:
            self.show_result("not found")
            return
        begin = matches[index]
        editor.selection = Selection(document.get_location_from_index(begin),
                                     document.get_location_from_index(begin + len(query)))
        editor.scroll_cursor_visible(center=True)
        more = "+" if len(matches) >= MAX_MATCHES else ""
        self.show_result(f"{index + 1:,} of {len(matches):,}{more}")

    def replace(self, query: str, replacement: str, every: bool = False) -> None:
        """Replace the selected match and find the next one; or every match."""
        editor = self.editor
        if not query:
            return
        if every:
            matches = find_matches(editor.text, query, self.case)
            document = editor.document
            for begin in reversed(matches):  # from the end, so that the earlier offsets stay true
                editor.replace(replacement, document.get_location_from_index(begin),
                               document.get_location_from_index(begin + len(query)))
            self.show_result(f"replaced {len(matches):,}")
            return
        selected = editor.selected_text
        if selected and (selected == query if self.case else selected.lower() == query.lower()):
            start, end = sorted(editor.selection)
            editor.replace(replacement, start, end)
        self.action_find(1)

    def action_toggle_case(self) -> None:
        self.case = not self.case
        self.query_one("#find-label", Label).update("Find (Aa)" if self.case else "Find")
        self.action_find(1)

    def action_close(self) -> None:
        # The cursor goes to the end of the match, unselected: a selection left behind was replaced by the next
        # keys typed, many keys later.
        self.display = False
        editor = self.editor
        editor.move_cursor(max(editor.selection))
        editor.focus()

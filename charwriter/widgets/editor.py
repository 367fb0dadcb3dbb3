"""The editor: a soft-wrapping `TextArea` that shows the model's top continuation as ghost text at the cursor.

The screen hands it continuations with `show_continuations`; the editor keeps them valid while the user types
along (a typed character that matches drops it from the front of every continuation, as TextArea already does for
its own `suggestion`) and drops them on anything else: another edit, a cursor move, undo. `update_suggestion()`,
TextArea's hook, turns the chosen continuation into the ghost text; how the grey text and the rows are laid out and
drawn is `charwriter.widgets.editor_drawing`.

No printable key is bound here: every letter the user types goes into the document.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rich.style import Style
from textual import events
from textual.actions import SkipAction
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea
from textual.widgets.text_area import Edit, EditResult, Selection

from charwriter.lm.rules import PARTIAL_WORD
from charwriter.widgets.editor_drawing import EditorDrawing
from charwriter.widgets.wrapping import VersionedDocument

WORD_CHARS = 200  # the part of a word before the cursor is looked for in this many characters

INSIDE_STYLES = {
    # surprise: how unlikely the model found a character (none: it all but knew it)
    "inside.s1": Style(bgcolor="color(28)"),
    "inside.s2": Style(bgcolor="color(136)"),
    "inside.s3": Style(bgcolor="color(124)", color="bright_white"),
    # a unit's activation, diverging: blue and teal below zero, magenta and red above (none: near zero)
    "inside.n2": Style(bgcolor="color(19)", color="bright_white"),
    "inside.n1": Style(bgcolor="color(30)"),
    "inside.p1": Style(bgcolor="color(133)"),
    "inside.p2": Style(bgcolor="color(124)", color="bright_white"),
}
"""The inside views' colour steps, as TextArea highlight names: 256-colour steps chosen so that a 16-colour
terminal still tells each from the others (green, yellow, red; blue, cyan, magenta, red), with white text on the
darkest."""

Continuation = tuple[str, float]
"""A continuation's text and its confidence (mean log-probability per character, in nats)."""

NEXT_WORD = re.compile(r"\s*[^\s]+")
TAKES_THE_SPACE = frozenset(".,;:!?\n")  # typed right after the space an accepted word brought: in its place
NONE_CHOSEN = -1  # the choice while no continuation is drawn as grey text (the model was unsure of the first)


class Editor(EditorDrawing, TextArea):
    BINDINGS = [
        Binding("tab", "accept", "Accept", id="accept",
                tooltip="Insert the grey suggestion (without one, Tab moves focus as usual)"),
        Binding("alt+right", "accept_word", "Word", id="accept_word",
                tooltip="Insert the next word of the suggestion (Ctrl+Right does too while one shows)"),
        Binding("alt+down", "cycle(1)", "Next", id="next_suggestion", show=False,
                tooltip="Show the next continuation as the grey suggestion"),
        Binding("alt+up", "cycle(-1)", "Previous", id="previous_suggestion", show=False,
                tooltip="Show the previous continuation as the grey suggestion"),
        Binding("escape", "hide", "Hide", id="hide_suggestions", show=False,
                tooltip="Hide the suggestions until the next keystroke"),
        Binding("alt+t", "insert_tab", "Tab char", id="insert_tab", show=False,
                tooltip="Type a tab character (Tab itself accepts the grey suggestion)"),
        # TextArea binds Home/End to the line only; every editor takes Ctrl+Home/End to the document's ends.
        Binding("ctrl+home", "document_start", "Start", id="document_start", show=False,
                tooltip="Go to the start of the document"),
        Binding("ctrl+end", "document_end", "End", id="document_end", show=False,
                tooltip="Go to the end of the document"),
        Binding("ctrl+shift+home", "document_start(True)", "Select to start", id="select_to_start", show=False,
                tooltip="Select from the cursor to the start of the document"),
        Binding("ctrl+shift+end", "document_end(True)", "Select to end", id="select_to_end", show=False,
                tooltip="Select from the cursor to the end of the document"),
    ]

    @dataclass
    class ContinuationsChanged(Message):
        """The continuations or the chosen one changed (new results, typing along, cycling, hiding)."""

        editor: "Editor"
        continuations: tuple[Continuation, ...]
        choice: int

    _continuations: tuple[Continuation, ...] = ()
    _accepted_space: tuple[int, int] | None = None
    """Where the cursor stood after the space an accepted continuation ended with (see `accept`), until the next
    edit or move."""
    _choice = 0
    _editing = False
    """True while an edit moves the cursor (that move keeps the continuations)."""

    def __init__(self, text: str = "", **kwargs) -> None:
        # TextArea's constructor builds and wraps its document twice; an empty one costs nothing.
        super().__init__("", soft_wrap=True, tab_behavior="focus", show_line_numbers=False, **kwargs)
        if text:
            self._set_document(text, None)

    # --- the inside views (the model's surprise, a unit's activation) ---------------------------------------------
    # The screen hands over, per line, the line's text and a highlight name per character (`show_inside`); they go
    # into TextArea's own highlight map, so wrapping, scrolling and the cursor work as with syntax highlighting. A
    # line whose text has changed since loses its colours until the screen sends new ones.

    _inside: dict[int, tuple[str, list]] = {}

    def show_inside(self, lines: dict[int, tuple[str, list]], replace: bool = False) -> None:
        """Colour these lines: row -> (its text, a name of `INSIDE_STYLES` or None per character)."""
        inside = {} if replace else dict(self._inside)
        for row, (line, names) in lines.items():
            inside[row] = (line, _runs(line, names))
        self._inside = inside
        self._build_highlight_map()
        self.refresh()

    def clear_inside(self) -> None:
        if self._inside:
            self._inside = {}
            self._build_highlight_map()
            self.refresh()

    def inside_rows(self) -> set[int]:
        """The rows coloured now (their text unchanged since)."""
        document = self.document
        return {row for row, (line, _) in self._inside.items()
                if row < document.line_count and document[row] == line}

    def _build_highlight_map(self) -> None:
        super()._build_highlight_map()  # TextArea calls this after every edit, and it starts by clearing the map
        if self._inside:
            document, highlights = self.document, self._highlights
            for row, (line, runs) in self._inside.items():
                if row < document.line_count and document[row] == line:
                    highlights[row].extend(runs)

    def _set_theme(self, theme: str) -> None:
        super()._set_theme(theme)
        if self._theme is not None:
            self._theme.syntax_styles = {**self._theme.syntax_styles, **INSIDE_STYLES}

    @property
    def continuations(self) -> tuple[Continuation, ...]:
        """What follows the cursor according to the model, most likely first (may be shorter while typing along)."""
        return self._continuations

    @property
    def choice(self) -> int:
        """Index of the continuation shown as ghost text."""
        return self._choice

    def text_before_cursor(self) -> str:
        return self.document.get_text_range((0, 0), self.cursor_location)

    def word_before_cursor(self) -> str:
        """The part of a word that lies before the cursor ("" after a space)."""
        row, column = self.cursor_location
        # A word is never this long; searching a whole line of 10 MB for its end took seconds.
        return PARTIAL_WORD.search(self.document[row][max(0, column - WORD_CHARS) : column]).group(0)

    def tail_before_cursor(self, chars: int) -> tuple[str, int]:
        """At least the last `chars` characters before the cursor (whole lines, as far as they go, but never more of
        the cursor's own line than that) and the offset of that tail in the document: for a huge document, without
        joining or copying all of it."""
        row, column = self.cursor_location
        lines = self.document.lines
        newline = self.document.newline
        cut = max(0, column - chars)
        parts, size, first = [lines[row][cut:column]], column - cut, row
        while first > 0 and size < chars and not cut:
            first -= 1
            parts.append(lines[first] + newline)
            size += len(parts[-1])
        tail = "".join(reversed(parts))
        return tail, self._line_offset(first) + (cut if first == row else 0)

    def _line_offset(self, row: int) -> int:
        """Where line `row` starts in the text: counted from whichever end of the document is nearer."""
        lines, newline = self.document.lines, len(self.document.newline)
        if row <= len(lines) // 2:
            return sum(map(len, lines[:row])) + row * newline
        return self.character_count() - sum(map(len, lines[row:])) - (len(lines) - 1 - row) * newline

    def character_count(self) -> int:
        document = self.document
        if isinstance(document, VersionedDocument):
            return document.length
        lines = document.lines
        return sum(map(len, lines)) + (len(lines) - 1) * len(document.newline)

    def cursor_offset(self) -> int:
        """The cursor's offset in the text."""
        row, column = self.cursor_location
        return self._line_offset(row) + column

    def text_and_offset(self) -> tuple[str, int]:
        """The whole text and the cursor's offset in it: one join of the lines, for the model and its memory."""
        row, column = self.cursor_location
        lines = self.document.lines
        offset = sum(map(len, lines[:row])) + row * len(self.document.newline) + column
        return self.text, offset

    # --- continuations in, ghost text out ------------------------------------------------------------------------

    def show_continuations(self, continuations: list[Continuation], inline: bool = True) -> None:
        """`inline`: draw the first as the grey text; False when the model is unsure of it, so it waits in the pane
        until the writer cycles to it (Alt+Down)."""
        self._set(tuple((text, score) for text, score in continuations if text), 0 if inline else NONE_CHOSEN)

    def clear_continuations(self) -> None:
        if self._continuations:
            self._set((), 0)

    def _set(self, continuations: tuple[Continuation, ...], choice: int) -> None:
        self._continuations = continuations
        self._choice = NONE_CHOSEN if choice == NONE_CHOSEN else min(choice, max(0, len(continuations) - 1))
        self.update_suggestion()
        self.post_message(self.ContinuationsChanged(self, continuations, self._choice))

    def update_suggestion(self) -> None:
        """TextArea's hook (called after every edit): the ghost text is the chosen continuation.

        Only at the end of a line: in the middle of one, ghost text would push the rest of the line about on every
        keystroke. The pane shows the continuations wherever the cursor is.
        """
        row, column = self.cursor_location
        ok = self._continuations and self._choice != NONE_CHOSEN and self.selection.is_empty \
            and column == len(self.document[row])
        suggestion = self._continuations[self._choice][0] if ok else ""
        if suggestion != self.suggestion:
            self.suggestion = suggestion  # its watcher lays the grey rows out
        else:  # the same text, so no watcher: but an edit rewrapped its lines without the grey rows
            self._layout_ghost()

    def edit(self, edit: Edit) -> EditResult:
        """Typing along keeps the continuations that agree with what was typed; any other edit drops them."""
        cursor = self.cursor_location
        at, self._accepted_space = self._accepted_space, None
        if at == cursor and edit.text in TAKES_THE_SPACE and edit.from_location == edit.to_location == cursor \
                and self.selection.is_empty and self.document[cursor[0]][cursor[1] - 1 : cursor[1]] == " ":
            edit = Edit(edit.text, (cursor[0], cursor[1] - 1), cursor, edit.maintain_selection_offset)
        typed = edit.text if edit.from_location == edit.to_location == cursor and self.selection.is_empty else None
        if self._continuations:
            kept = []
            chosen = NONE_CHOSEN if self._choice == NONE_CHOSEN else 0
            for i, (text, score) in enumerate(self._continuations):
                if typed and len(text) > len(typed) and text.startswith(typed):
                    if i == self._choice:
                        chosen = len(kept)
                    kept.append((text[len(typed):], score))
            self._continuations, self._choice = tuple(kept), chosen
            changed = True
        else:
            changed = False
        self._editing = True
        try:
            result = super().edit(edit)
        finally:
            self._editing = False
        if changed:
            self.post_message(self.ContinuationsChanged(self, self._continuations, self._choice))
        # TextArea scrolls to the cursor before it grows the scroll height: a word that wrapped onto a new last row
        # stayed below the bottom edge until the next key.
        if self.has_focus and result.end_location == self.cursor_location:
            self.scroll_cursor_visible()
        return result

    def undo(self) -> None:
        self._accepted_space = None
        self.clear_continuations()
        super().undo()

    def redo(self) -> None:
        self._accepted_space = None
        self.clear_continuations()
        super().redo()

    def watch_selection(self, old: Selection, new: Selection) -> None:
        # A cursor move (not the one an edit makes) leaves the continuations behind: they belong to the old place.
        if not self._editing and old != new:
            self._accepted_space = None
            self.clear_continuations()

    def _on_key(self, event: events.Key) -> None:
        # (Alt keys reach here without their character: `CharwriterApp.on_event`.)
        if event.character and not event.is_printable and unicodedata.category(event.character) == "Cf":
            # TextArea inserts only what str.isprintable() accepts, which leaves out the format characters: the
            # zero-width joiner of an emoji sequence, Persian's zero-width non-joiner, the zero-width space.
            event.stop()
            event.prevent_default()
            self._replace_via_keyboard(event.character, *self.selection)

    # --- actions ----------------------------------------------------------------------------------------------------

    def accept(self, index: int | None = None, word: bool = False) -> str:
        """Insert continuation `index` (default: the ghost text), or only its next word; returns what was inserted.

        A continuation that ends a word where the model expects a space brings the space (the engine's `SPACE`); at
        the end of a line a punctuation mark or Enter typed next takes its place, as on a phone's keyboard, so the
        space costs no key and taking it back none either."""
        index = self._choice if index is None else index
        if not 0 <= index < len(self._continuations):
            return ""
        self._choice = index
        text = self._continuations[index][0]
        if word:
            match = NEXT_WORD.match(text)
            text = match.group(0) if match else text
        row, column = self.cursor_location
        following = self.document[row][column : column + 1]
        if text.endswith(" ") and following and not following.isalnum():
            text = text[:-1]  # before a space or a punctuation mark, the continuation's own space is one too many
        self.insert(text)  # through edit(): the rest of the continuation stays as ghost text
        if not following and text.endswith(" "):
            self._accepted_space = self.cursor_location
        return text

    def action_accept(self) -> None:
        if not self.suggestion:
            raise SkipAction()  # no ghost text: let Tab move the focus (to the suggestions pane)
        self.accept()

    def action_accept_word(self) -> None:
        if not self.suggestion:
            raise SkipAction()
        self.accept(word=True)

    def action_cursor_word_right(self, select: bool = False) -> None:
        if self.suggestion and not select:
            self.accept(word=True)
        else:
            super().action_cursor_word_right(select)

    def action_cursor_right(self, select: bool = False) -> None:
        # TextArea's Right accepts the whole ghost text; we only do that where Right would not move anyway
        # (the end of the document), so that moving around never inserts anything.
        if self.suggestion and not select and self.cursor_location == self.document.end:
            self.accept()
            return
        self.suggestion = ""
        super().action_cursor_right(select)

    def action_document_start(self, select: bool = False) -> None:
        self.move_cursor((0, 0), select=select)

    def action_document_end(self, select: bool = False) -> None:
        self.move_cursor(self.document.end, select=select)

    def action_insert_tab(self) -> None:
        self._replace_via_keyboard("\t", *self.selection)

    def action_cycle(self, step: int) -> None:
        count = len(self._continuations)
        if count < 2 - (self._choice == NONE_CHOSEN):  # an undrawn one alone can still be drawn
            raise SkipAction()
        if self._choice == NONE_CHOSEN:  # nothing drawn yet: Down draws the first, Up the last
            self._set(self._continuations, 0 if step > 0 else count - 1)
        else:
            self._set(self._continuations, (self._choice + step) % count)

    def action_hide(self) -> None:
        self.clear_continuations()
        self.post_message(self.Hidden())

    class Hidden(Message):
        """The user hid the suggestions (Esc): show none until the next keystroke."""


def _runs(line: str, names: list) -> list[tuple[int, int, str]]:
    """Runs of one highlight name as TextArea's highlights: (start byte, end byte, name), UTF-8 offsets in the line."""
    runs, offset, start, current = [], 0, 0, None
    for ch, name in zip(line, names):
        if name != current:
            if current is not None:
                runs.append((start, offset, current))
            start, current = offset, name
        offset += len(ch.encode("utf-8"))
    if current is not None:
        runs.append((start, offset, current))
    return runs

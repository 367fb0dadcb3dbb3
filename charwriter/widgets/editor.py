"""The editor: a soft-wrapping `TextArea` that shows the model's top continuation as ghost text at the cursor.

The screen hands it continuations with `show_continuations`; the editor keeps them valid while the user types
along (a typed character that matches drops it from the front of every continuation, as TextArea already does for
its own `suggestion`) and drops them on anything else: another edit, a cursor move, undo. `update_suggestion()`,
TextArea's hook, turns the chosen continuation into the ghost text.

No printable key is bound here: every letter the user types goes into the document.
"""

from __future__ import annotations

import inspect
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import events
from textual._cells import cell_len
from textual.actions import SkipAction
from textual.binding import Binding
from textual.document._document import Document
from textual.document._document_navigator import DocumentNavigator
from textual.document._wrapped_document import WrappedDocument
from textual.expand_tabs import expand_tabs_inline
from textual.message import Message
from textual.strip import Strip
from textual.widgets import TextArea
from textual.widgets.text_area import Edit, EditResult, Selection

from charwriter.lm.rules import PARTIAL_WORD
from charwriter.widgets.wrapping import LONG_ROWS, FastWrappedDocument, VersionedDocument, ghost_rows

WORD_CHARS = 200  # the part of a word before the cursor is looked for in this many characters
GHOST_MAX_LINES_BELOW = 5_000
"""Grey text gets rows of its own only with at most this many lines below the cursor: making room moves every row
below (prose is written at the end; far up a long document the grey text stays on the cursor's row)."""

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


_LINE_CACHE_AS_IN_TEXTUAL = all(
    name in inspect.getsource(TextArea.render_line)
    for name in ("cache_key = (", "self._cursor_offset", "self._matching_bracket_location", "self._line_cache",
                 "self._render_line(y)")
)
"""TextArea.render_line still has the shape `Editor.render_line` repeats (checked once, at import)."""

_SET_DOCUMENT_AS_IN_TEXTUAL = all(
    line in inspect.getsource(TextArea._set_document)
    for line in ("document = Document(text)", "self.document = document",
                 "self.wrapped_document = WrappedDocument(document, tab_width=self.indent_width)",
                 "self.navigator = DocumentNavigator(self.wrapped_document)", "self._build_highlight_map()",
                 "self.move_cursor((0, 0))", "self._rewrap_and_refresh_virtual_size()")
)
"""TextArea._set_document still takes the steps `Editor._set_document` repeats for plain text."""


_RENDER_LINE_AS_IN_TEXTUAL = all(
    name in inspect.getsource(TextArea._render_line)
    for name in ("wrapped_document._offset_to_line_info[y_offset]", "line = self.get_line(line_index)",
                 "wrap_offsets = wrapped_document.get_offsets(line_index)", "selection = self.selection",
                 "highlights = self._highlights", "matching_bracket = self._matching_bracket_location",
                 "out_of_bounds = y_offset >= wrapped_document.height")
)
"""TextArea._render_line still reads the line, the selection and the wrapping where `Editor._render_text_row`'s
stand-in puts them."""


class _OneRow:
    """The wrapped document as `Editor._render_text_row` shows it to TextArea: screen row `y` is row 0 of line 0."""

    def __init__(self, y: int) -> None:
        self.height = y + 1
        self._offset_to_line_info = {y: (0, 0)}

    def get_offsets(self, line_index: int) -> list[int]:
        return []

    def get_tab_widths(self, line_index: int) -> list[int]:
        return []


class Editor(TextArea):
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

    def _set_document(self, text: str, language: str | None) -> None:
        if language or not _SET_DOCUMENT_AS_IN_TEXTUAL:
            super()._set_document(text, language)
            if type(self.wrapped_document) is WrappedDocument:  # the class Textual made: make it the fast one
                self.wrapped_document.__class__ = FastWrappedDocument
            return
        # TextArea's own steps for plain text, with the fast wrapped document from the start (Textual's first wrap,
        # at width 0, still visits every line).
        self.document = VersionedDocument(text)
        self.wrapped_document = FastWrappedDocument(self.document, tab_width=self.indent_width)
        self.navigator = DocumentNavigator(self.wrapped_document)
        self._build_highlight_map()
        self.move_cursor((0, 0))
        self._rewrap_and_refresh_virtual_size()

    def render_line(self, y: int) -> Strip:
        # TextArea.render_line begins with `not self.text and self.placeholder`, and `text` joins the whole document:
        # once per line drawn (tenths of a second a redraw in a 20 MB document). Without a placeholder that question
        # is moot; the rest is TextArea's own line cache, as in Textual 8 (anything else: TextArea's way).
        if self.placeholder or not _LINE_CACHE_AS_IN_TEXTUAL:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        absolute_y = scroll_y + y
        selection = self.selection
        _, cursor_y = self._cursor_offset
        cache_key = (
            self.size, scroll_x, absolute_y,
            selection if selection.contains_line(absolute_y) or self.soft_wrap else selection.end[0] == absolute_y,
            selection.end if self._cursor_visible and self.cursor_blink and absolute_y == cursor_y else None,
            self.theme, self._matching_bracket_location, self.match_cursor_bracket, self.soft_wrap,
            self.show_line_numbers, self.read_only, self.show_cursor, self.suggestion,
        )
        if (cached := self._line_cache.get(cache_key)) is not None:
            return cached
        line = self._render_line(y)
        self._line_cache[cache_key] = line
        return line

    # --- grey text on wrapped lines ----------------------------------------------------------------------------------
    # TextArea draws its suggestion inside the cursor's screen row, so at the end of a wrapped paragraph (the usual
    # place in prose) all but a few characters fell off the right edge. Here the grey text is laid out in rows of its
    # own after the cursor's row (`ghost_rows`), the wrapped document makes room for them (the rows below move down,
    # the real text above and the cursor stay where they are), and `_render_line` draws them.

    _ghost: list[str] = []
    """The grey text's screen rows: the first continues the cursor's row, each next one a row of its own."""

    def watch_suggestion(self) -> None:
        self._layout_ghost()

    def _on_focus(self, event: events.Focus) -> None:
        super()._on_focus(event)
        self._layout_ghost()

    def _on_blur(self, event: events.Blur) -> None:
        super()._on_blur(event)
        self._layout_ghost()

    def _rewrap_and_refresh_virtual_size(self) -> None:
        super()._rewrap_and_refresh_virtual_size()  # a new width: the rows are laid out again
        self._layout_ghost()

    def _layout_ghost(self) -> None:
        wrapped = self.wrapped_document
        if not isinstance(wrapped, FastWrappedDocument):
            return
        rows: list[str] = []
        width = self.wrap_width
        shown = self.suggestion and (self.has_focus or not self.hide_suggestion_on_blur)
        line = self.cursor_location[0]
        below = self.document.line_count - line
        if shown and self.soft_wrap and width > 0 and below <= GHOST_MAX_LINES_BELOW:
            last = wrapped.get_sections(line)[-1]
            rows = ghost_rows(self.suggestion, cell_len(expand_tabs_inline(last, self.indent_width)), width)
        self._ghost = rows
        if wrapped.set_ghost(line if len(rows) > 1 else None, len(rows) - 1):
            self._line_cache.clear()
            self._refresh_size()
            self.refresh()

    def _drop_ghost(self) -> None:
        """Before the cursor moves by rows: the grey rows are not text to move through. (A click on one lands at the
        end of its paragraph: `FastWrappedDocument.offset_to_location`.)"""
        wrapped = self.wrapped_document
        if isinstance(wrapped, FastWrappedDocument) and wrapped.set_ghost(None, 0):
            self._ghost = []
            self._line_cache.clear()
            self._refresh_size()

    def action_cursor_down(self, select: bool = False) -> None:
        self._drop_ghost()
        super().action_cursor_down(select)

    def action_cursor_up(self, select: bool = False) -> None:
        self._drop_ghost()
        super().action_cursor_up(select)

    def action_cursor_page_down(self) -> None:
        self._drop_ghost()
        super().action_cursor_page_down()

    def action_cursor_page_up(self) -> None:
        self._drop_ghost()
        super().action_cursor_page_up()

    def _render_line(self, y: int) -> Strip:
        wrapped = self.wrapped_document
        ghost = self._ghost
        if len(ghost) < 2 or not isinstance(wrapped, FastWrappedDocument):
            return self._render_text_row(y)
        absolute = y + self.scroll_offset.y
        info = wrapped._offset_to_line_info[absolute] if 0 <= absolute < len(wrapped._offset_to_line_info) else None
        first = wrapped.ghost_section(info[0]) if info is not None else None
        if first is None or info[1] < first - 1:
            return self._render_text_row(y)
        if info[1] == first - 1:  # the cursor's row: its text and the first part of the grey text
            full = self.suggestion
            self.set_reactive(TextArea.suggestion, ghost[0])  # for this one drawing, without the watchers
            try:
                return self._render_text_row(y)
            finally:
                self.set_reactive(TextArea.suggestion, full)
        theme = self._theme
        base = theme.base_style if theme and theme.base_style is not None else self.rich_style
        # The style goes on a span: `Text.render` leaves a Text's own `style` out (only printing a Text applies it),
        # which drew these rows in the typed text's colour.
        text = Text.assemble((ghost[info[1] - first + 1], self.get_component_rich_style("text-area--suggestion")))
        width = self.scrollable_content_region.size.width - self.gutter_width
        strip = Strip(text.render(self.app.console), cell_length=text.cell_len)
        return strip.extend_cell_length(width, theme.base_style if theme else None).apply_style(base)

    # --- one row of a long line --------------------------------------------------------------------------------
    # TextArea draws a row by making the whole line a rich Text, styling it and cutting it into all its rows: for a
    # 10 MB line without a line break, over a second per row drawn. Here such a row is drawn by TextArea itself from
    # a stand-in: a one-line document holding only that row's text, with the selection, the cursor and the matching
    # bracket moved into it. (The inside views' colours are left off such rows.)

    def _render_text_row(self, y: int) -> Strip:
        wrapped = self.wrapped_document
        absolute = y + self.scroll_offset.y
        table = wrapped._offset_to_line_info
        if not _RENDER_LINE_AS_IN_TEXTUAL or not isinstance(wrapped, FastWrappedDocument) or not self.soft_wrap \
                or not 0 <= absolute < len(table):
            return super()._render_line(y)
        line_index, section = table[absolute]
        offsets = wrapped._wrap_offsets[line_index]
        if len(offsets) < LONG_ROWS or section > len(offsets):
            return super()._render_line(y)
        line = self.document[line_index]
        start = offsets[section - 1] if section else 0
        last = section == len(offsets)
        end = len(line) if last else offsets[section]
        text = line[start:end]
        if "\t" in text:  # tabs are expanded by their place in the whole line
            return super()._render_line(y)
        beyond = len(text) + 2  # a column past the stand-in's end: the cursor there draws nothing

        def inside(location: tuple[int, int], cursor: bool = False) -> tuple[int, int]:
            """A location in the stand-in: row 0 inside this row's text, -1 before it, 1 after it. The cursor
            elsewhere on this line stays on row 0 past its end, so that the row keeps the cursor line's colour
            (not when a selection runs back from it to here: the rows between lose that colour, a small
            difference from TextArea)."""
            row, column = location
            if row == line_index and (start <= column < end or (column == end and last)):
                return 0, column - start
            if row == line_index and cursor and (column > start or selection.is_empty):
                return 0, beyond
            return (-1, 0) if (row, column) < (line_index, start) else (1, 0)

        selection, bracket, suggestion = self.selection, self._matching_bracket_location, self.suggestion
        saved = self.document, wrapped, self._highlights
        self.document = Document(text)
        self.wrapped_document = _OneRow(absolute)  # type: ignore[assignment]
        self._highlights = defaultdict(list)
        cursor = inside(selection.end, cursor=True)
        anchor = cursor if selection.is_empty else inside(selection.start)
        self.set_reactive(TextArea.selection, Selection(anchor, cursor))
        moved = inside(bracket) if bracket is not None else None
        self._matching_bracket_location = moved if moved is not None and moved[0] == 0 else None
        if cursor[1] == beyond:
            self.set_reactive(TextArea.suggestion, "")  # it follows the cursor, on another row
        try:
            strip = super()._render_line(y)
        finally:
            self.document, self.wrapped_document, self._highlights = saved
            self.set_reactive(TextArea.selection, selection)
            self.set_reactive(TextArea.suggestion, suggestion)
            self._matching_bracket_location = bracket
        if last:
            return strip
        # TextArea gives a line one more cell for the cursor at its end: only the last row has it.
        theme = self._theme
        base = theme.base_style if theme and theme.base_style is not None else self.rich_style
        if selection.end[0] == line_index and self.highlight_cursor_line:
            fill = theme.cursor_line_style if theme and self._has_cursor else None
        else:
            fill = theme.base_style if theme else None
        width = self.scrollable_content_region.size.width - self.gutter_width
        return strip.crop(0, cell_len(text)).extend_cell_length(width, fill).apply_style(base)

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

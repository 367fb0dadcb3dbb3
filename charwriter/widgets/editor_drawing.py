"""How the editor lays out and draws its rows: a mixin of `Editor`, ahead of `TextArea` in its bases.

It keeps TextArea's own drawing and changes three things: the wrapped document is the fast one from the start
(`charwriter.widgets.wrapping`), the grey text gets rows of its own after the cursor's row, and a row of a very long
line is drawn from that row alone. The `_..._AS_IN_TEXTUAL` checks guard the places that repeat Textual's code: where
Textual has changed, TextArea's own way is taken.
"""

from __future__ import annotations

import inspect
from collections import defaultdict

from rich.style import Style
from rich.text import Text
from textual import events
from textual._cells import cell_len
from textual.document._document import Document
from textual.document._document_navigator import DocumentNavigator
from textual.document._wrapped_document import WrappedDocument
from textual.expand_tabs import expand_tabs_inline
from textual.strip import Strip
from textual.widgets import TextArea
from textual.widgets.text_area import Selection

from charwriter.widgets.wrapping import LONG_ROWS, FastWrappedDocument, VersionedDocument, ghost_rows

GHOST_MAX_LINES_BELOW = 5_000
"""Grey text gets rows of its own only with at most this many lines below the cursor: making room moves every row
below (prose is written at the end; far up a long document the grey text stays on the cursor's row)."""


_LINE_CACHE_AS_IN_TEXTUAL = all(
    name in inspect.getsource(TextArea.render_line)
    for name in ("cache_key = (", "self._cursor_offset", "self._matching_bracket_location", "self._line_cache",
                 "self._render_line(y)")
)
"""TextArea.render_line still has the shape `EditorDrawing.render_line` repeats (checked once, at import)."""

_SET_DOCUMENT_AS_IN_TEXTUAL = all(
    line in inspect.getsource(TextArea._set_document)
    for line in ("document = Document(text)", "self.document = document",
                 "self.wrapped_document = WrappedDocument(document, tab_width=self.indent_width)",
                 "self.navigator = DocumentNavigator(self.wrapped_document)", "self._build_highlight_map()",
                 "self.move_cursor((0, 0))", "self._rewrap_and_refresh_virtual_size()")
)
"""TextArea._set_document still takes the steps `EditorDrawing._set_document` repeats for plain text."""


_RENDER_LINE_AS_IN_TEXTUAL = all(
    name in inspect.getsource(TextArea._render_line)
    for name in ("wrapped_document._offset_to_line_info[y_offset]", "line = self.get_line(line_index)",
                 "wrap_offsets = wrapped_document.get_offsets(line_index)", "selection = self.selection",
                 "highlights = self._highlights", "matching_bracket = self._matching_bracket_location",
                 "out_of_bounds = y_offset >= wrapped_document.height")
)
"""TextArea._render_line still reads the line, the selection and the wrapping where
`EditorDrawing._render_row_alone`'s stand-in puts them."""


class _OneRow:
    """The wrapped document as `EditorDrawing._render_row_alone` shows it to TextArea: screen row `y` is row 0 of
    line 0."""

    def __init__(self, y: int) -> None:
        self.height = y + 1
        self._offset_to_line_info = {y: (0, 0)}

    def get_offsets(self, line_index: int) -> list[int]:
        return []

    def get_tab_widths(self, line_index: int) -> list[int]:
        return []


class EditorDrawing:
    """The editor's row layout and drawing (the mixin's methods call TextArea's through `super()`: `Editor`'s bases
    put it first)."""

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
        # The style goes on a span: `Text.render` leaves a Text's own `style` out (only printing a Text applies it),
        # which drew these rows in the typed text's colour.
        text = Text.assemble((ghost[info[1] - first + 1], self.get_component_rich_style("text-area--suggestion")))
        strip = Strip(text.render(self.app.console), cell_length=text.cell_len)
        return self._fill_row(strip, theme.base_style if theme else None)

    def _fill_row(self, strip: Strip, fill: Style | None) -> Strip:
        """A row drawn here as TextArea finishes its own: filled to the text's width with `fill`, over the theme's
        base style."""
        theme = self._theme
        base = theme.base_style if theme and theme.base_style is not None else self.rich_style
        width = self.scrollable_content_region.size.width - self.gutter_width
        return strip.extend_cell_length(width, fill).apply_style(base)

    # --- one row of a long line --------------------------------------------------------------------------------
    # TextArea draws a row by making the whole line a rich Text, styling it and cutting it into all its rows: for a
    # 10 MB line without a line break, over a second per row drawn. Here such a row is drawn by TextArea itself from
    # a stand-in: a one-line document holding only that row's text, with the selection, the cursor and the matching
    # bracket moved into it. (The inside views' colours are left off such rows.)

    def _render_text_row(self, y: int) -> Strip:
        """Screen row `y` of the text: a row of a long line from its stand-in (`_render_row_alone`), any other row
        as TextArea draws it."""
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
        return self._render_row_alone(y, absolute, line_index, start, text, last)

    def _render_row_alone(self, y: int, absolute: int, line_index: int, start: int, text: str, last: bool) -> Strip:
        """Row `y` (`absolute` in the wrapped document), the `text` from column `start` of line `line_index`, drawn
        by TextArea from a stand-in that holds only this text; `last`: the line's last row."""
        end = start + len(text)
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
        saved = self.document, self.wrapped_document, self._highlights
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
        if selection.end[0] == line_index and self.highlight_cursor_line:
            fill = theme.cursor_line_style if theme and self._has_cursor else None
        else:
            fill = theme.base_style if theme else None
        return self._fill_row(strip.crop(0, cell_len(text)), fill)


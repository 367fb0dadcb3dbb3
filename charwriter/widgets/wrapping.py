"""Soft wrap for long documents: Textual's `WrappedDocument`, with its height kept and whole-document wraps that
take a tenth of the time on prose.

TextArea wraps the whole document again whenever its width changes, and a new editor does so several times while
its layout settles (the scrollbar appearing takes a column). Textual's `compute_wrap_offsets` walks every word in
Python, so opening a 20 MB document spent seconds in wrapping alone. Here a line made only of characters one cell
wide, without tabs (nearly every line of prose), is wrapped one screen row at a time: a regular expression finds
the last word boundary that fits, in C. The breaks are Textual's own, exactly (a test compares them on random
lines); any other line goes to Textual's function.
"""

from __future__ import annotations

import gc
import inspect
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import repeat

from textual._cells import cell_len, cell_width_to_column_index
from textual._wrap import compute_wrap_offsets, re_chunk
from textual.document._document import Document
from textual.document._wrapped_document import WrappedDocument
from textual.expand_tabs import expand_tabs_inline, get_tab_widths
from textual.geometry import Offset


def _one_cell_characters() -> str:
    """The ranges (as a regex class body) of characters prose is made of that take exactly one cell."""
    candidates = [chr(c) for c in range(0x20, 0x7F)]
    candidates += [chr(c) for c in range(0xA0, 0x370)]  # Latin-1, Latin Extended, IPA, spacing modifiers
    candidates += [chr(c) for c in range(0x370, 0x530)]  # Greek, Cyrillic
    candidates += [chr(c) for c in range(0x2000, 0x2028)]  # spaces, dashes, curly quotes, ellipsis
    ok = [ch for ch in candidates if (ch.isprintable() or unicodedata.category(ch) == "Zs") and cell_len(ch) == 1]
    ranges: list[tuple[int, int]] = []
    for ch in ok:
        if ranges and ranges[-1][1] == ord(ch) - 1:
            ranges[-1] = (ranges[-1][0], ord(ch))
        else:
            ranges.append((ord(ch), ord(ch)))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


_ONE_CELL_LINE = re.compile(f"[{_one_cell_characters()}]*")
_LAST_BOUNDARY = re.compile(r".*\s(?=\S)", re.DOTALL)
"""In a window of a line, the end of the last run of whitespace that a word follows: where a chunk (Textual's
`\\S+\\s*`) ends and the next begins."""

assert re_chunk.pattern == r"\S+\s*|\s+", "Textual's notion of a chunk changed: revisit fast_wrap_offsets"


def is_one_cell_line(line: str) -> bool:
    return _ONE_CELL_LINE.fullmatch(line) is not None


def fast_wrap_offsets(line: str, width: int) -> list[int]:
    """`compute_wrap_offsets(line, width, ...)` for a line of one-cell characters without tabs (`is_one_cell_line`),
    with folding: the same breaks, found a row at a time."""
    return list(iter_wrap_offsets(line, width))


def iter_wrap_offsets(line: str, width: int, start: int = 0):
    """`fast_wrap_offsets`' breaks one at a time, from `start`: 0, or a break after which the rows start afresh
    (`is_fresh_break`)."""
    length = len(line)
    last_boundary, chunk = _LAST_BOUNDARY.match, re_chunk.match
    row = start  # where the current screen row starts
    pos = start  # a chunk boundary at or after `row`: everything before it is placed
    while length - row > width:
        match = last_boundary(line, pos, row + width + 1)
        if match is not None:
            pos = match.end()  # the last chunk boundary that fits this row
        end = chunk(line, pos).end()  # type: ignore[union-attr]  # the chunk from pos does not fit in the row
        if end - pos > width:  # a chunk longer than a row is folded: a break at its start and every `width`
            if pos:
                yield pos
            row = pos
            while end - row > width:
                row += width
                yield row
            pos = end
        else:
            yield pos
            row = pos


_FRESH = re.compile(r"\s\S")


def is_fresh_break(line: str, offset: int) -> bool:
    """A break at a word's start (after a space): `iter_wrap_offsets` from here gives the breaks that followed it. (A
    fold inside a word longer than a row is never at a word's start.)"""
    return offset > 0 and _FRESH.match(line, offset - 1) is not None


_WRAP_AS_IN_TEXTUAL = all(
    name in inspect.getsource(WrappedDocument.wrap)
    for name in ("self._wrap_offsets = new_wrap_offsets", "self._offset_to_line_info = offset_to_line_info",
                 "self._line_index_to_offsets = line_index_to_offsets", "self._tab_width_cache = line_tab_widths",
                 "get_tab_widths(line, tab_width)", "compute_wrap_offsets(")
)
"""WrappedDocument.wrap still fills the four tables `FastWrappedDocument.wrap` fills (checked once, at import)."""


class VersionedDocument(Document):
    """Textual's document, counting its edits (`replace_range` is the only way a document changes) and keeping its
    length (summing every line's on each keystroke cost milliseconds in a document of 150,000 lines)."""

    version = 0
    _length: int | None = None

    @property
    def length(self) -> int:
        """Characters in the document, a line break counting as `newline`'s length."""
        if self._length is None:
            lines = self.lines
            self._length = sum(map(len, lines)) + (len(lines) - 1) * len(self.newline)
        return self._length

    def replace_range(self, start, end, text):
        self.version += 1
        before = self.length
        result = super().replace_range(start, end, text)
        (top_row, top_column), (end_row, end_column) = min(start, end), result.end_location
        lines = self.lines
        if top_row == end_row:
            inserted = end_column - top_column
        else:
            inserted = (len(lines[top_row]) - top_column + sum(map(len, lines[top_row + 1 : end_row])) + end_column
                        + (end_row - top_row) * len(self.newline))
        self._length = before - len(result.replaced_text) + inserted
        return result


class FastWrappedDocument(WrappedDocument):
    """Textual's wrapped document, with its height read from its row table (TextArea asks for it once per line it
    draws, and Textual sums every line each time) and `wrap` taking the fast path for one-cell lines. A second `wrap` at the width the
    tables already hold, with the document unchanged since, is skipped: a new editor's layout asks for several."""

    _wrapped: tuple | None = None  # (width, tab width, document version) the tables hold
    _ghost: tuple[int, int] | None = None
    """(line, rows): screen rows of grey text laid out after that line's last row (the editor draws them); the
    tables count them, so the rows below move down and the scroll height grows, as if the text were typed."""

    def set_ghost(self, line: int | None, rows: int) -> bool:
        """Make room for `rows` rows of grey text after `line` (None or 0: none). True if the layout changed."""
        wanted = (line, rows) if line is not None and rows > 0 and line < len(self._line_index_to_offsets) else None
        if wanted == self._ghost:
            return False
        self._remove_ghost()
        if wanted is not None:
            line, rows = wanted
            offsets = self._line_index_to_offsets[line]
            at, last = offsets[-1] + 1, len(offsets) - 1
            self._offset_to_line_info[at:at] = [(line, last + j) for j in range(1, rows + 1)]
            offsets.extend(range(at, at + rows))
            self._shift_after(line, rows)
            self._ghost = wanted
        return True

    def ghost_section(self, line: int) -> int | None:
        """The first section number of `line` that is grey text (None: the line has none)."""
        if self._ghost is None or self._ghost[0] != line:
            return None
        return len(self._line_index_to_offsets[line]) - self._ghost[1]

    def _remove_ghost(self) -> None:
        if self._ghost is None:
            return
        line, rows = self._ghost
        self._ghost = None
        offsets = self._line_index_to_offsets[line]
        del offsets[-rows:]
        at = offsets[-1] + 1
        del self._offset_to_line_info[at : at + rows]
        self._shift_after(line, -rows)

    def _shift_after(self, line: int, rows: int) -> None:
        for later in self._line_index_to_offsets[line + 1 :]:  # prose is written at the end: usually few
            for i in range(len(later)):
                later[i] += rows

    def offset_to_location(self, offset):
        """Textual's, except that a row of grey text is the end of its line (where the cursor is)."""
        x, y = offset
        if self._ghost is not None and 0 <= y < len(self._offset_to_line_info):
            line, section = self._offset_to_line_info[y]
            first = self.ghost_section(line)
            if first is not None and section >= first:
                return line, len(self.document[line])
        return super().offset_to_location(offset)

    def _state(self, width: int) -> tuple | None:
        version = getattr(self.document, "version", None)
        return None if version is None else (width, self._tab_width, id(self.document), version)

    @property
    def height(self) -> int:
        # One entry per screen row, grey rows included: Textual's sum over every line's offsets, without the sum.
        return len(self._offset_to_line_info)

    def wrap(self, width: int, tab_width: int | None = None) -> None:
        if tab_width:
            self._tab_width = tab_width
        state = self._state(width)
        if state is not None and state == self._wrapped:
            return
        self._ghost = None  # fresh tables: the editor lays its grey text out again
        if not _WRAP_AS_IN_TEXTUAL:
            super().wrap(width, tab_width)
            self._wrapped = state
            return
        collecting = gc.isenabled()
        gc.disable()  # the tables hold no cycles; the collector's passes over them made wrapping half as fast again
        try:
            self._wrap_all(width)
        finally:
            if collecting:
                gc.enable()
        self._wrapped = state

    def _wrap_line(self, line: str) -> tuple[list[int], list[int], bool]:
        """A line's breaks, its tab widths, and whether it took the fast path (one-cell characters, no tabs)."""
        width, tab_width = self._width, self._tab_width
        if "\t" in line:
            sections = get_tab_widths(line, tab_width)
            offsets = (compute_wrap_offsets(line, width, tab_size=tab_width, precomputed_tab_sections=sections)
                       if width else [])
            return offsets, [w for _, w in sections], False
        tabs = [0] if line else []  # what get_tab_widths gives a line without tabs
        if is_one_cell_line(line):
            return (fast_wrap_offsets(line, width) if width else []), tabs, True
        return (compute_wrap_offsets(line, width, tab_size=tab_width) if width else []), tabs, False

    def _wrap_lines(self, lines, index: int, y: int) -> tuple[list, list, list, list, list]:
        """Wrap `lines` (the first is line `index`, on screen row `y`): per line its breaks, tab widths, fast flag
        and screen rows, and per screen row its (line, section)."""
        wrap_offsets: list[list[int]] = []
        tab_widths: list[list[int]] = []
        fast: list[bool] = []
        line_to_rows: list[list[int]] = []
        row_to_line: list[tuple[int, int]] = []
        for index, line in enumerate(lines, index):
            offsets, tabs, one_cell = self._wrap_line(line)
            wrap_offsets.append(offsets)
            tab_widths.append(tabs)
            fast.append(one_cell)
            rows = len(offsets) + 1
            line_to_rows.append(list(range(y, y + rows)))
            row_to_line.extend(zip(repeat(index, rows), range(rows)))
            y += rows
        return wrap_offsets, tab_widths, fast, line_to_rows, row_to_line

    def _wrap_all(self, width: int) -> None:
        self._width = width
        (self._wrap_offsets, self._tab_width_cache, self._fast, self._line_index_to_offsets,
         self._offset_to_line_info) = self._wrap_lines(self.document.lines, 0, 0)

    _fast: list[bool] = []
    """Per line: its breaks came from the fast path, so an edit of it may be rewrapped from the edit on."""
    rewrapped = 0
    """Characters wrapped by edits so far (the tests hold the work an edit costs to what it changed)."""

    def wrap_range(self, start, old_end, new_end) -> None:
        """Textual's update of the tables after an edit, with the fast path for each new line; an edit inside one
        long line is rewrapped from a row before it until the breaks meet the old ones again (typing in a 10 MB
        line without a line break rewrapped all of it, 125,000 rows, on every key)."""
        self._remove_ghost()  # the tables of the text alone; the editor lays the grey rows out again
        if len(self._fast) != len(self._wrap_offsets):  # tables Textual built (not `_wrap_all`'s)
            self._wrapped = None
            super().wrap_range(start, old_end, new_end)
            self._fast = [False] * len(self._wrap_offsets)
        elif not (start[0] == old_end[0] == new_end[0] and self._rewrap_within(start[0], start[1], old_end[1],
                                                                                 new_end[1])):
            self._rewrap_lines(start, old_end, new_end)
        self._wrapped = self._state(self._width)  # the tables follow the edit

    def _rewrap_within(self, row: int, column: int, old_end: int, new_end: int) -> bool:
        """An edit within one line (columns `column` to `old_end` became `column` to `new_end`), if that line and
        what was put in take the fast path and the line is long; False leaves it to `_rewrap_lines`."""
        if not 0 <= row < len(self._fast) or row >= self.document.line_count:
            return False
        line = self.document[row]
        width = self._width
        if not width or len(line) < LONG_LINE or not self._fast[row] or \
                not is_one_cell_line(line[column:new_end]) or "\t" in line[column:new_end]:
            return False
        old = self._wrap_offsets[row]
        delta = new_end - old_end
        # From two rows above the edit (a word shortened at a row's start may move up a row), at a word's start.
        first = max(0, bisect_right(old, column) - 2)
        while first > 0 and not is_fresh_break(line, old[first - 1]):
            first -= 1
        restart = old[first - 1] if first else 0
        breaks = old[:first]
        tail: list[int] = []
        stop = len(line)
        for offset in iter_wrap_offsets(line, width, restart):
            breaks.append(offset)
            if offset > new_end and is_fresh_break(line, offset):
                at = bisect_left(old, offset - delta, first)
                if at < len(old) and old[at] == offset - delta:  # the old breaks from here on, shifted
                    tail = [b + delta for b in old[at + 1 :]] if delta else old[at + 1 :]
                    stop = offset
                    break
        self.rewrapped += stop - restart
        breaks += tail
        self._wrap_offsets[row] = breaks
        self._tab_width_cache[row] = [0]
        rows = len(breaks) - len(old)
        if rows:
            y_offsets = self._line_index_to_offsets[row]
            end = y_offsets[0] + len(old) + 1  # the row after this line's last
            if rows > 0:
                self._offset_to_line_info[end:end] = [(row, s) for s in range(len(old) + 1, len(breaks) + 1)]
                y_offsets.extend(range(end, end + rows))
            else:
                del self._offset_to_line_info[end + rows : end]
                del y_offsets[rows:]
            self._shift_after(row, rows)
        return True

    def _rewrap_lines(self, start, old_end, new_end) -> None:
        """Textual's `wrap_range` (Textual 8), the lines wrapped by `_wrap_line`."""
        old_max, new_max = len(self._line_index_to_offsets) - 1, self.document.line_count - 1
        start_line = max(0, min(start[0], old_max, new_max))
        old_end_line = max(0, min(old_end[0], old_max))
        new_end_line = max(0, min(new_end[0], new_max))
        top, old_bottom = sorted((start_line, old_end_line))
        new_bottom = max(start_line, new_end_line)
        top_y = self._line_index_to_offsets[top][0]
        old_bottom_y = self._line_index_to_offsets[old_bottom][-1]
        lines = self.document.lines[top : new_bottom + 1]
        wrap_offsets, tab_widths, fast, line_to_offsets, offset_to_line = self._wrap_lines(lines, top, top_y)
        self.rewrapped += sum(map(len, lines))
        self._offset_to_line_info[top_y : old_bottom_y + 1] = offset_to_line
        self._line_index_to_offsets[top : old_bottom + 1] = line_to_offsets
        self._tab_width_cache[top : old_bottom + 1] = tab_widths
        self._wrap_offsets[top : old_bottom + 1] = wrap_offsets
        self._fast[top : old_bottom + 1] = fast
        row_shift = len(offset_to_line) - (old_bottom_y - top_y + 1)
        line_shift = new_bottom - old_bottom
        table = self._offset_to_line_info
        if line_shift:
            for y in range(top_y + len(offset_to_line), len(table)):
                line, section = table[y]
                table[y] = (line + line_shift, section)
        if row_shift:
            self._shift_after(new_bottom, row_shift)

    # --- one section of a long line, without cutting the whole line into rows -----------------------------------
    # Textual cuts a line into all its rows (a rich Text each) to use one of them: per row drawn, per cursor move.
    # For a line of 10 MB that was 125,000 strings each time.

    def get_sections(self, line_index: int):
        offsets = self._wrap_offsets[line_index]
        if len(offsets) < LONG_ROWS:
            return super().get_sections(line_index)
        return Sections(self.document[line_index], offsets)

    def get_target_document_column(self, line_index: int, x_offset: int, y_offset: int) -> int:
        offsets = self._wrap_offsets[line_index]
        if len(offsets) < LONG_ROWS:
            return super().get_target_document_column(line_index, x_offset, y_offset)
        sections = Sections(self.document[line_index], offsets)  # the same steps, without summing every row above
        section = sections[y_offset]
        first = sections.start(y_offset)
        column = first + cell_width_to_column_index(section, x_offset, self._tab_width)
        if y_offset != len(sections) - 1 and y_offset != -1:
            column = min(column, first + len(section) - 1)
        return column

    def location_to_offset(self, location):
        line_index, column = location
        if not 0 <= line_index < len(self._line_index_to_offsets):
            # Textual clamps to one line past the end, and fails there: undoing a long paste hides the scroll bar,
            # which asks where the cursor is while it still stands where the paste ended.
            line_index = max(0, min(line_index, len(self._line_index_to_offsets) - 1))
            column = len(self.document[line_index]) if line_index < self.document.line_count else 0
        offsets = self._wrap_offsets[line_index]
        if len(offsets) < LONG_ROWS:
            return super().location_to_offset((line_index, column))
        sections = Sections(self.document[line_index], offsets)
        index = bisect_right(offsets, column)
        part = sections[index][: column - sections.start(index)]
        return Offset(cell_len(expand_tabs_inline(part, self._tab_width)), self._line_index_to_offsets[line_index][index])


LONG_LINE = 4_096
"""A line longer than this is rewrapped from an edit on, not whole."""
LONG_ROWS = 32
"""A line of more rows than this is cut into one row at a time (`Sections`), not all at once."""


class Sections(Sequence):
    """A wrapped line's rows (Textual's `get_sections`), each cut when asked for."""

    def __init__(self, line: str, offsets: list[int]) -> None:
        self.line, self.offsets = line, offsets

    def __len__(self) -> int:
        return len(self.offsets) + 1

    def start(self, index: int) -> int:
        """The column where row `index` starts."""
        index = index + len(self) if index < 0 else index
        return self.offsets[index - 1] if index else 0

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = index + len(self) if index < 0 else index
        if not 0 <= index < len(self):
            raise IndexError(index)
        end = self.offsets[index] if index < len(self.offsets) else len(self.line)
        return self.line[self.start(index) : end]


def ghost_rows(text: str, used: int, width: int) -> list[str]:
    """Grey text laid out as typed text wraps: the first row after `used` cells of the cursor's row, then rows of
    `width` cells; words move whole to the next row, a word wider than a row is folded, newlines start a row."""
    rows, room = [""], width - used
    for number, part in enumerate(text.split("\n")):
        if number:
            rows.append("")
            room = width
        for chunk in re_chunk.findall(part):
            size = cell_len(chunk)
            if size <= room:
                rows[-1] += chunk
                room -= size
            elif cell_len(chunk.rstrip()) <= room:  # the word fits; its trailing space is not drawn
                rows[-1] += chunk.rstrip()
                room = 0
            elif size <= width:
                rows.append(chunk)
                room = width - size
            else:
                for ch in chunk:
                    if cell_len(ch) > room:
                        rows.append("")
                        room = width
                    rows[-1] += ch
                    room -= cell_len(ch)
    return rows

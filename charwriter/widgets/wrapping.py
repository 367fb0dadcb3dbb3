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
from itertools import repeat
import re
import unicodedata

from textual._cells import cell_len
from textual._wrap import compute_wrap_offsets, re_chunk
from textual.document._document import Document
from textual.document._wrapped_document import WrappedDocument
from textual.expand_tabs import get_tab_widths


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
    length = len(line)
    last_boundary, chunk = _LAST_BOUNDARY.match, re_chunk.match
    breaks: list[int] = []
    row = 0  # where the current screen row starts
    pos = 0  # a chunk boundary at or after `row`: everything before it is placed
    while length - row > width:
        match = last_boundary(line, pos, row + width + 1)
        if match is not None:
            pos = match.end()  # the last chunk boundary that fits this row
        end = chunk(line, pos).end()  # type: ignore[union-attr]  # the chunk from pos does not fit in the row
        if end - pos > width:  # a chunk longer than a row is folded: a break at its start and every `width`
            if pos:
                breaks.append(pos)
            row = pos
            while end - row > width:
                row += width
                breaks.append(row)
            pos = end
        else:
            breaks.append(pos)
            row = pos
    return breaks


_WRAP_AS_IN_TEXTUAL = all(
    name in inspect.getsource(WrappedDocument.wrap)
    for name in ("self._wrap_offsets = new_wrap_offsets", "self._offset_to_line_info = offset_to_line_info",
                 "self._line_index_to_offsets = line_index_to_offsets", "self._tab_width_cache = line_tab_widths",
                 "get_tab_widths(line, tab_width)", "compute_wrap_offsets(")
)
"""WrappedDocument.wrap still fills the four tables `FastWrappedDocument.wrap` fills (checked once, at import)."""


class VersionedDocument(Document):
    """Textual's document, counting its edits (`replace_range` is the only way a document changes)."""

    version = 0

    def replace_range(self, *args, **kwargs):
        self.version += 1
        return super().replace_range(*args, **kwargs)


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

    def _wrap_all(self, width: int) -> None:
        self._width = width
        tab_width = self._tab_width
        wrap_offsets: list[list[int]] = []
        offset_to_line_info: list[tuple[int, int]] = []
        line_index_to_offsets: list[list[int]] = []
        line_tab_widths: list[list[int]] = []
        y = 0
        for index, line in enumerate(self.document.lines):
            if "\t" in line:
                sections = get_tab_widths(line, tab_width)
                tabs = [w for _, w in sections]
                offsets = (compute_wrap_offsets(line, width, tab_size=tab_width, precomputed_tab_sections=sections)
                           if width else [])
            else:
                tabs = [0] if line else []  # what get_tab_widths gives a line without tabs
                if not width:
                    offsets = []
                elif is_one_cell_line(line):
                    offsets = fast_wrap_offsets(line, width)
                else:
                    offsets = compute_wrap_offsets(line, width, tab_size=tab_width)
            wrap_offsets.append(offsets)
            line_tab_widths.append(tabs)
            rows = len(offsets) + 1
            line_index_to_offsets.append(list(range(y, y + rows)))
            offset_to_line_info.extend(zip(repeat(index, rows), range(rows)))
            y += rows
        self._wrap_offsets = wrap_offsets
        self._offset_to_line_info = offset_to_line_info
        self._line_index_to_offsets = line_index_to_offsets
        self._tab_width_cache = line_tab_widths

    def wrap_range(self, *args, **kwargs):
        self._remove_ghost()  # Textual's update needs the tables of the text alone; the editor lays it out again
        self._wrapped = None
        super().wrap_range(*args, **kwargs)
        self._wrapped = self._state(self._width)  # the tables follow the edit


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

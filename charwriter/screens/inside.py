"""The editor's inside views, for learning how the model reads: the surprise view and the cell view.

Surprise view (F5): each character's background shows how unlikely the model found it, in bits, from its own
probability given the text before it. Cell view (F8 picks the unit): the text coloured by one LSTM unit's activation
after each character, blue below zero and red above. Both read the document in blocks (`charwriter.lm.inspect`,
`BLOCK` characters after a `WARMUP`), off the event loop: the visible lines first, then the rest of the document
near them in the background, a few blocks at a time under the engine's lock so suggestions go on in between. Blocks
are cached by their text, so after an edit only the blocks it touched are read again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual import work
from textual.message import Message
from textual.worker import get_current_worker

from charwriter.dialogs.cells import CellPicker
from charwriter.lm.steps import BLOCK, WARMUP, surprise_level
from charwriter.widgets.editor import Editor

ACTIVATION_STEPS = (0.2, 0.6)
BACKGROUND_CHARS = 200_000  # the background colours at most this much of the document around the view
CHUNK_BLOCKS = 8  # blocks read per turn of the engine's lock in the background
CACHE_BLOCKS = 8_192
MAX_CHARS = 5_000_000  # a longer document is not coloured (its text is joined for every refresh)
FINDER_CHARS = 4_000  # the cell finder reads this much of the text around the cursor (about a second)
REFRESH_S = 0.15  # after an edit or a scroll, the view is read again this soon (a burst of keys costs one read)


def surprise_name(logp: float) -> str | None:
    if logp != logp:
        return None  # a character the model does not read
    level = surprise_level(-logp / math.log(2))
    return f"inside.s{level}" if level else None


def activation_name(value: float) -> str | None:
    if value != value:
        return None
    level = sum(abs(value) >= step for step in ACTIVATION_STEPS)
    if not level:
        return None
    return f"inside.{'p' if value > 0 else 'n'}{level}"


def legend(mode: str, unit_label: str = ""):
    """The editor's title while a view is on: what the colours mean, in the same colours."""
    from rich.text import Text
    from textual.content import Content

    from charwriter.widgets.editor import INSIDE_STYLES

    def swatch(label: str, name: str) -> tuple[str, object]:
        return (f" {label} ", INSIDE_STYLES[name])

    if mode == "surprise":
        parts = ["Surprise (bits) <1 ", swatch("1–3", "inside.s1"), swatch("3–6", "inside.s2"),
                 swatch("6+", "inside.s3"), " · F5 off"]
    else:
        parts = [f"Cell {unit_label} ", swatch("−1", "inside.n2"), swatch("−", "inside.n1"), " 0 ",
                 swatch("+", "inside.p1"), swatch("+1", "inside.p2"), " · F5 off"]
    return Content.from_rich_text(Text.assemble(*parts))


@dataclass
class InsideReady(Message):
    """Per-line colours of the inside view `key` (mode and unit) for rows of the document."""

    key: tuple
    lines: dict
    first: bool  # the visible lines, not the background's


class InsideViews:
    """The writing screen's inside views (a mixin of `WriteScreen`: it has `editor`, `engine` and `session`, which reads the model between answers)."""

    inside_mode: str = ""  # "", "surprise" or "cell"
    inside_unit = None  # charwriter.lm.inspect.Unit, for the cell view
    _inside_timer = None
    _inside_cache: dict | None = None  # (view key, a block's text with its warm-up) -> its values
    _inside_legend = None

    def _without_a_model(self, view: str, key: str) -> bool:
        """No engine to read with: say why (still loading, or none) and return True."""
        if self.engine is not None:
            return False
        if any(worker.group == "model" and not worker.is_finished for worker in self.workers):
            self.notify(f"The model is still loading: press {key} again in a moment.", timeout=5)
        else:
            self.notify(f"The {view} needs a model: pick one with F2.", severity="warning", timeout=5)
        return True

    def action_surprise_view(self) -> None:
        if self._without_a_model("surprise view", "F5"):
            return
        # Again, or in the cell view (whose title says "F5 off"): the plain text.
        self.set_inside("" if self.inside_mode else "surprise")

    def action_plain_view(self) -> None:
        self.set_inside("")

    def action_cell_view(self) -> None:
        engine = self.engine
        if self._without_a_model("cell view", "F8"):
            return
        text, cursor = self.editor.text_and_offset()
        start = max(0, cursor - FINDER_CHARS * 3 // 4)
        if start:  # from a paragraph's start: a piece begun inside a quotation would count it the wrong way round
            start = text.find("\n", start, start + FINDER_CHARS // 4) + 1 or start
        near = text[start : cursor + FINDER_CHARS // 4]

        def find() -> list:
            from charwriter.lm.inspect import find_cells

            reading = self.session.read_through(engine, near)
            return find_cells(reading) if len(reading.text) > 1 else []

        def picked(choice: tuple | None) -> None:
            if choice is not None:
                from charwriter.lm.inspect import Unit

                layer, index, kind = choice
                if engine.loaded.config.cell != "lstm":
                    kind = "hidden"  # a GRU has no cell state: its hidden state is what it carries
                self.set_inside("cell", Unit(layer, index, kind))

        config = engine.loaded.config
        self.app.push_screen(CellPicker(config.num_layers, config.hidden_size, find), picked)

    def on_resize(self) -> None:
        self._inside_refresh()

    def _inside_key(self) -> tuple:
        """What the colours depend on: the view, its unit, and the weights (a new model or an adaptation)."""
        unit = self.inside_unit
        weights = id(self.engine.loaded.model) if self.engine is not None else None
        return (self.inside_mode, weights) + ((unit.layer, unit.index, unit.kind) if self.inside_mode == "cell" else ())

    def set_inside(self, mode: str, unit=None) -> None:
        """Switch the view ("" for the plain text)."""
        self.inside_mode, self.inside_unit = mode, unit if mode == "cell" else None
        editor: Editor = self.editor
        if self._inside_cache is None:
            self._inside_cache = {}
        self.workers.cancel_group(self, "inside")
        if not mode:
            editor.clear_inside()
            editor.border_title = None
            return
        # the legend comes with the first colours: drawing it now would hold the interpreter lock while the worker
        # reads (a tenth of the screen's first colouring)
        self._inside_legend = legend(mode, unit.short_label() if unit is not None else "")
        editor.clear_inside()
        if editor.character_count() > MAX_CHARS:
            self.notify(f"The inside views colour documents of up to {MAX_CHARS / 1e6:g} MB.", severity="warning", timeout=6)
            self.set_inside("")
            return
        self._inside_refresh(now=True)

    def _inside_refresh(self, now: bool = False) -> None:
        """Read the view again for the editor as it is (soon, or now)."""
        if not self.inside_mode:
            return
        if self._inside_timer is not None:
            self._inside_timer.stop()
            self._inside_timer = None
        if now:
            self._inside_start()
        else:
            self._inside_timer = self.set_timer(REFRESH_S, self._inside_start)

    def _inside_start(self) -> None:
        self._inside_timer = None
        if not self.inside_mode or self.engine is None:
            return
        editor: Editor = self.editor
        wrapped = editor.wrapped_document
        top = editor.scroll_offset.y
        info = wrapped._offset_to_line_info  # screen row -> (document row, section)
        height = editor.scrollable_content_region.height
        rows = [info[y][0] for y in range(top, min(len(info), top + height)) if info[y] is not None]
        first, last = (min(rows), max(rows)) if rows else (0, 0)
        document = editor.document
        self._inside_read(self.engine, self._inside_key(), self.inside_unit, list(document.lines), document.newline,
                          first, last, self._inside_cache)

    @work(thread=True, exclusive=True, group="inside", description="inside view")
    def _inside_read(self, engine, key: tuple, unit, lines: list[str], newline: str, first: int, last: int,
                     cache: dict) -> None:
        """Colour rows first..last now, then the rest of the document near them, a few blocks at a time."""
        worker = get_current_worker()
        starts = [0] * (len(lines) + 1)  # each row's first offset in the text, and the text's end (+ a newline)
        for row, line in enumerate(lines):
            starts[row + 1] = starts[row] + len(line) + len(newline)
        text = newline.join(lines)
        total = len(text)

        def blocks_of(row: int) -> range:
            return range(starts[row] // BLOCK, max(starts[row], starts[row + 1] - len(newline) - 1) // BLOCK + 1)

        visible = range(blocks_of(first).start, blocks_of(last).stop)
        near = starts[first] + (starts[last + 1] - starts[first]) // 2
        lo = max(0, near - BACKGROUND_CHARS // 2) // BLOCK
        hi = min(total, near + BACKGROUND_CHARS // 2) // BLOCK + 1
        rest = sorted((b for b in range(lo, hi) if b not in visible), key=lambda b: abs(b * BLOCK - near))

        def read(blocks: list[int]) -> dict[int, list]:
            return self._inside_values(engine, key, unit, text, blocks, cache)

        def rows_of(blocks: dict[int, list], row_range) -> dict:
            return _colours(activation_name if key[0] == "cell" else surprise_name, starts, lines, blocks, row_range)

        def rows_in(blocks: list[int]) -> range:
            a, b = blocks[0] * BLOCK, (blocks[-1] + 1) * BLOCK
            return range(_row_at(starts, a), min(len(lines), _row_at(starts, b - 1) + 1))

        done = read(list(visible))
        if worker.is_cancelled:
            return
        # every row the visible blocks hold whole (more than the visible rows: a short row after the last one may
        # lie wholly in the last block, which the background does not read again)
        rows = [r for r in rows_in(list(visible)) if all(b in done for b in blocks_of(r))]
        self.post_message(InsideReady(key, rows_of(done, rows), True))
        for i in range(0, len(rest), CHUNK_BLOCKS):
            if worker.is_cancelled:
                return
            chunk = sorted(rest[i : i + CHUNK_BLOCKS])
            done.update(read(chunk))
            rows = [r for r in rows_in(chunk) if all(b in done for b in blocks_of(r))]  # rows read whole
            if rows:
                self.post_message(InsideReady(key, rows_of(done, rows), False))

    def _inside_values(self, engine, key: tuple, unit, text: str, blocks: list[int], cache: dict) -> dict[int, list]:
        """Each block's values, from the cache where its text (and warm-up) is unchanged."""
        out, missing = {}, {}
        for b in blocks:
            lane = (key, text[max(0, b * BLOCK - WARMUP) : (b + 1) * BLOCK])
            hit = cache.get(lane)
            if hit is None:
                missing[b] = lane
            else:
                out[b] = hit
        if missing:
            got = self.session.read_blocks(engine, text, list(missing), unit)
            if len(cache) > CACHE_BLOCKS:
                cache.clear()
            for b, (logps, acts) in got.items():
                out[b] = cache[missing[b]] = acts if unit is not None else logps
        return out

    def on_inside_ready(self, message: InsideReady) -> None:
        if message.key == self._inside_key() and self.inside_mode:
            if message.first:
                self.editor.border_title = self._inside_legend
            self.editor.show_inside(message.lines)


def _colours(name, starts: list[int], lines: list[str], blocks: dict[int, list], row_range) -> dict:
    """Each row's text and its characters' colour names (`name` of each value; None where a block is unread)."""
    colours = {}
    for row in row_range:
        start, line = starts[row], lines[row]
        names = []
        for i in range(start, start + len(line)):
            values = blocks.get(i // BLOCK)
            names.append(name(values[i % BLOCK]) if values is not None else None)
        colours[row] = (line, names)
    return colours


def _row_at(starts: list[int], offset: int) -> int:
    """The row holding character `offset` (starts: each row's first offset, and the end)."""
    from bisect import bisect_right

    return max(0, bisect_right(starts, offset) - 1)

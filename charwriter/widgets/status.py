"""The status line under the editor: document, model, counts, temperature, context length and the last latency.

When the line is narrower than all of them, the least important go first (context, then latency, temperature,
counts), so that the document and the model always show, whole. The line counts the editor's words itself, a moment
after the last change and off the event loop (`count_soon`), and tells its screen the document's length (`Counted`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import TextArea

SEPARATOR = "  │  "
COUNT_DELAY_S = 0.3  # words and characters are counted this long after the last change (off the event loop)


def count(text_or_lines) -> tuple[int, int]:
    """(words, characters) of a text or a list of lines: words are runs of non-spaces, as `wc -w` counts them;
    characters include spaces but not line breaks."""
    lines = text_or_lines.splitlines() if isinstance(text_or_lines, str) else text_or_lines
    # str.split() splits at the same whitespace as \S+ runs end, in C: 20 MB in a tenth of a second, not a second
    # of a held GIL that the model's loading waited on
    return sum(map(_words, lines)), sum(len(line) for line in lines)


COUNT_CHUNK = 65_536
"""A longer line is counted in parts: one split of a 10 MB line held the GIL (and so the keys) for 0.1 s."""


def _words(line: str) -> int:
    if len(line) <= COUNT_CHUNK:
        return len(line.split())
    words = 0
    for start in range(0, len(line), COUNT_CHUNK):
        words += len(line[start : start + COUNT_CHUNK].split())
        if start and not line[start - 1].isspace() and not line[start].isspace():
            words -= 1  # a word cut in two by the parts
    return words


class StatusLine(Widget):
    document: reactive[str] = reactive("untitled")
    """File name of the document (or "untitled")."""
    dirty: reactive[bool] = reactive(False)
    """True while there are changes not saved to the file."""
    model: reactive[str] = reactive("no model")
    """Name of the model that makes the suggestions, or what is happening to it ("loading …")."""
    precision: reactive[str] = reactive("")
    """The precision the model's step runs at (int8, bf16, …), shown after its name unless fp32."""
    counts: reactive[tuple[int, int] | None] = reactive(None)
    """(words, characters) of the document, once counted."""
    selection_counts: reactive[tuple[int, int] | None] = reactive(None)
    """(words, characters) of the selection while there is one."""
    temperature: reactive[float] = reactive(1.0)
    """Sampling temperature of the suggestions."""
    context: reactive[int] = reactive(0)
    """Characters before the cursor that the last suggestion was conditioned on."""
    latency_ms: reactive[float | None] = reactive(None)
    """How long the last suggestion run took, in milliseconds."""

    @dataclass
    class Counted(Message):
        """The document was counted (its screen hears it too, for `length`)."""

        words_chars: tuple[int, int]  # (words, characters) of the document
        selected: tuple[int, int] | None  # of the selection, when there was one
        length: int  # characters with the line breaks (`Editor.character_count`)
        editor: TextArea

    _count_timer: Timer | None = None

    def count_soon(self, editor: TextArea) -> None:
        """Count the editor's words and characters (and a long selection's) a moment after the last change."""
        if self._count_timer is not None:
            self._count_timer.stop()
        self._count_timer = self.set_timer(COUNT_DELAY_S, lambda: self._start_count(editor))

    def _start_count(self, editor: TextArea) -> None:
        self._count_timer = None
        lines = list(editor.document.lines)  # a shallow copy: the editor may change the list while the worker counts
        selection = None if editor.selection.is_empty else sorted((editor.selection.start, editor.selection.end))
        self._count(editor, lines, selection, len(editor.document.newline))

    @work(thread=True, exclusive=True, group="count", description="count words")
    def _count(self, editor: TextArea, lines: list[str], selection, newline: int) -> None:
        words_chars = count(lines)
        selected = None
        if selection is not None:
            (top, left), (bottom, right) = selection
            part = lines[top : bottom + 1]
            part[-1] = part[-1][:right] if top != bottom else part[-1][left:right]
            if top != bottom:
                part[0] = part[0][left:]
            selected = count(part)
        length = words_chars[1] + (len(lines) - 1) * newline
        self.post_message(self.Counted(words_chars, selected, length, editor))  # dropped if the line has gone

    def on_status_line_counted(self, message: Counted) -> None:
        self.counts = message.words_chars
        if message.selected is not None and not message.editor.selection.is_empty:
            self.selection_counts = message.selected

    def fields(self) -> list[tuple[int, Text]]:
        """(importance, text) of each field in display order; 0 always shows."""
        model = Text.assemble("model ", (self.model, "bold"),
                              (f" {self.precision}" if self.precision not in ("", "fp32") else "", "dim"))
        out = [(0, Text(self.document + (" ●" if self.dirty else ""), style="bold")), (1, model)]
        shown = self.selection_counts or self.counts
        if shown is not None:
            words, chars = shown
            label = "selected: " if self.selection_counts else ""
            out.append((2, Text(f"{label}{words:,} word{'s' if words != 1 else ''} · {chars:,} chars")))
        latency = "-" if self.latency_ms is None else f"{self.latency_ms:.0f} ms"
        out += [(3, Text(f"temp {self.temperature:.1f}")), (5, Text(f"context {self.context:,}")),
                (4, Text(f"latency {latency}"))]
        return out

    def render(self) -> Text:
        fields = self.fields()
        width = self.size.width or 10_000
        keep = {i for i in range(len(fields))}
        for index in sorted(range(len(fields)), key=lambda i: -fields[i][0]):  # least important first
            total = sum(fields[i][1].cell_len for i in keep) + len(SEPARATOR) * (len(keep) - 1)
            if total <= width or fields[index][0] == 0:
                break
            keep.discard(index)
        return Text(SEPARATOR).join(fields[i][1] for i in sorted(keep))

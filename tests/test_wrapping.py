"""The editor's fast soft wrap gives Textual's breaks exactly, and its tables follow edits."""

from __future__ import annotations

import itertools
import random

from textual._wrap import compute_wrap_offsets
from textual.document._wrapped_document import WrappedDocument

from charwriter.widgets.wrapping import FastWrappedDocument, VersionedDocument, fast_wrap_offsets, is_one_cell_line

PIECES = ["a", "b", " ", " ", "  ", "\u00a0", "’", "—", "x" * 23, "é", ".", "\u2009", "Щ"]
ODD = ["\t", "中", "e\u0301", "\u200d", "👍"]  # tabs, wide, combining and zero-width characters: Textual's way


def random_line(rng: random.Random, pieces: list[str]) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))


def tables(wrapped: WrappedDocument) -> tuple:
    return (wrapped._wrap_offsets, wrapped._offset_to_line_info, wrapped._line_index_to_offsets,
            wrapped._tab_width_cache, wrapped.height)


def test_fast_breaks_are_textuals_breaks_on_random_lines():
    rng = random.Random(0)
    for _ in range(20_000):
        line = random_line(rng, PIECES)
        width = rng.randint(1, 30)
        assert is_one_cell_line(line)
        assert fast_wrap_offsets(line, width) == compute_wrap_offsets(line, width, tab_size=4), (line, width)
    assert not any(is_one_cell_line(f"a{odd}b") for odd in ODD)


def test_whole_document_tables_equal_textuals_at_every_width():
    rng = random.Random(1)
    text = "\n".join(random_line(rng, PIECES + ODD) for _ in range(300))
    for width in (0, 1, 7, 20, 59, 200):
        ours, theirs = FastWrappedDocument(VersionedDocument(text)), WrappedDocument(VersionedDocument(text))
        ours.wrap(width, 4)
        theirs.wrap(width, 4)
        assert tables(ours) == tables(theirs), width


def test_a_second_wrap_is_skipped_only_while_nothing_changed():
    rng = random.Random(2)
    document = VersionedDocument("\n".join(random_line(rng, PIECES) for _ in range(50)))
    ours = FastWrappedDocument(document)
    ours.wrap(20)
    before = ours._offset_to_line_info
    ours.wrap(20)
    assert ours._offset_to_line_info is before  # the same width, the same text: nothing to do
    document.replace_range((3, 0), (3, 0), "a long inserted piece of text " * 3)  # no wrap_range: must rewrap
    ours.wrap(20)
    theirs = WrappedDocument(VersionedDocument(document.text))
    theirs.wrap(20)
    assert tables(ours) == tables(theirs)
    result = document.replace_range((5, 2), (9, 0), "x\ny " * 30)
    ours.wrap_range((5, 2), (9, 0), result.end_location)  # as TextArea's edits do
    ours.wrap(20)
    theirs = WrappedDocument(VersionedDocument(document.text))
    theirs.wrap(20)
    assert tables(ours) == tables(theirs)


async def test_opening_a_long_document_wraps_it_once_per_width(tmp_path, monkeypatch):
    """A new editor's layout asked for the same whole-document wrap several times (seconds in a 20 MB document)."""
    from charwriter.app import CharwriterApp
    from charwriter.settings import Settings

    widths: list[tuple[int, int]] = []
    wrap_all = FastWrappedDocument._wrap_all
    serials = itertools.count()

    def counted(self, width):
        if not hasattr(self, "serial"):  # not id(): a freed document's address is soon another's
            self.serial = next(serials)
        widths.append((self.serial, width))
        wrap_all(self, width)

    monkeypatch.setattr(FastWrappedDocument, "_wrap_all", counted)
    path = tmp_path / "long.txt"
    path.write_text(("A long paragraph of prose that wraps. " * 40 + "\n\n") * 200, encoding="utf-8")
    app = CharwriterApp(file=path, model=None, settings=Settings())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        editor = app.writer.editor
        assert isinstance(editor.wrapped_document, FastWrappedDocument)
        assert editor.wrapped_document.height > 2 * editor.document.line_count  # it is wrapped
        assert widths and len(widths) == len(set(widths)), widths
        editor.move_cursor((0, 0))
        await pilot.press("down", "down")
        assert editor.cursor_location[0] == 0 and editor.cursor_location[1] > 0  # down moves by screen row


async def test_grey_text_wraps_below_the_cursor_and_never_traps_it(tmp_path, monkeypatch):
    """The whole grey text shows, on rows of its own after the cursor's row; the cursor stays put when it appears,
    the next paragraph moves down, typing along keeps the layout right, and Down still reaches the next paragraph."""
    from charwriter import paths
    from charwriter.app import CharwriterApp
    from charwriter.settings import Settings

    monkeypatch.setattr(paths, "bundled_models_dir", lambda: tmp_path)  # no model: the grey text is ours
    path = tmp_path / "story.txt"
    first = "It was late in the evening when he came back to the house by the river, and he"
    path.write_text(first + "\nNext.", encoding="utf-8")
    ghost = " was still more quiet than the night before, and the lamp in the window had gone out long ago"
    app = CharwriterApp(file=path, model=None, settings=Settings(memory=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        editor = app.writer.editor
        editor.move_cursor((0, len(first)))
        await pilot.pause()
        cursor_before, height_before = editor._cursor_offset, editor.wrapped_document.height

        def rows() -> list[str]:
            drawn = ["".join(s.text for s in editor.render_line(y)).rstrip() for y in range(8)]
            assert all(len(row) <= editor.scrollable_content_region.width for row in drawn), drawn  # none cut off
            return drawn

        editor.show_continuations([(ghost, -0.1)])
        await pilot.pause()
        shown = rows()
        assert " ".join(" ".join(shown).split()).find(first + ghost) == 0  # every word of it, in order
        assert "Next." in shown and shown.index("Next.") > 2
        assert editor._cursor_offset == cursor_before  # the cursor did not jump
        assert editor.wrapped_document.height > height_before
        for key in ["space", *"was", "space", *"still"]:  # typing along: the rest keeps wrapping after the new cursor
            await pilot.press(key)
        await pilot.pause()
        assert " ".join(" ".join(rows()).split()).find(first + ghost) == 0
        grey_row = rows().index("Next.") - 1  # the last row of grey text
        await pilot.click(editor, offset=(5, grey_row + 1))  # (+1: the border) a click there: no crash
        assert editor.cursor_location == (0, len(editor.document[0]))  # it lands at the end of the paragraph
        await pilot.pause()
        editor.move_cursor((0, len(editor.document[0])))
        editor.show_continuations([(ghost[10:], -0.1)])
        await pilot.pause()
        await pilot.press("down")
        assert editor.cursor_location[0] == 1  # the next paragraph, not a grey row

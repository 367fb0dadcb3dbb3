"""Big documents stay writable: the work a keystroke costs does not grow with the document (counted, not timed), a
flood of keys from a terminal without bracketed paste is one paste, and the shortcuts taken for long lines draw and
wrap exactly what Textual does.

The pseudo-terminal test of an unbracketed paste is in test_terminal.py; `benchmarks/big_documents.py` measures
the real app on 10 MB documents.
"""

from __future__ import annotations

import random
import threading

from textual import events
from textual.document._document import Document
from textual.widgets import TextArea
from textual.widgets.text_area import Selection

from charwriter.terminal_input import FLOOD_CHARS, Flood, FloodParser
from charwriter.widgets import status
from charwriter.widgets.editor import Editor
from charwriter.widgets.wrapping import (LONG_ROWS, FastWrappedDocument, Sections, VersionedDocument,
                                         fast_wrap_offsets)
from conftest import make_text
from test_app_write import make_app, settle, type_text

SIZE = (100, 30)


def one_line(chars: int, seed: int = 0) -> str:
    return make_text(chars, seed).replace("\n", " ")


# --- the keystroke's work, counted ------------------------------------------------------------------------------


async def keystroke_work(tiny_model_path, tmp_path, monkeypatch, chars: int) -> dict:
    """Type five keys at the end of a one-line document of `chars` characters; what the keys cost, counted."""
    import charwriter.engine as engine_module
    import charwriter.widgets.status as status_module

    monkeypatch.setattr(engine_module, "MEMORY_MAX_CHARS", 10_000)  # both documents are "huge" for the memory
    document = tmp_path / f"doc{chars}.txt"
    document.write_text(one_line(chars), encoding="utf-8")
    app = make_app(tiny_model_path, file=document)
    drawn, contexts, counted_on = [], [], set()
    get_line = Editor.get_line
    monkeypatch.setattr(Editor, "get_line", lambda self, i: drawn.append(len(line := get_line(self, i))) or line)
    count = status_module.count
    monkeypatch.setattr(status_module, "count", lambda lines: counted_on.add(threading.current_thread().name)
                        or count(lines))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        editor = app.writer.editor
        engine = app.writer.engine
        suggest = engine.suggest
        engine.suggest = lambda text=None, *args, **kwargs: contexts.append(len(text)) or suggest(text, *args, **kwargs)
        wrapped = editor.wrapped_document
        before = wrapped.rewrapped
        drawn.clear()
        counted_on.clear()
        await type_text(pilot, " zq xj")
        await settle(pilot, rounds=8)
        assert editor.document.text == document.read_text(encoding="utf-8") + " zq xj"
        return {"rewrapped": wrapped.rewrapped - before, "drawn": max(drawn), "context": max(contexts),
                "counted_on": counted_on, "width": editor.wrap_width}


async def test_a_keystroke_costs_the_same_in_a_long_line_as_in_a_short_one(tiny_model_path, tmp_path, monkeypatch):
    """In a document without line breaks, each key rewraps a few rows (not the line), draws rows (not the line),
    hands the model the end of the text (not all of it) and counts the words in a worker: the same for 20 kB as for
    200 kB. Before, each of these grew with the line."""
    small = await keystroke_work(tiny_model_path, tmp_path, monkeypatch, 20_000)
    big = await keystroke_work(tiny_model_path, tmp_path, monkeypatch, 200_000)
    for work in (small, big):
        assert work["rewrapped"] < 6 * 8 * work["width"]  # six keys, a few rows each
        assert work["drawn"] <= work["width"] + 1  # one row's text per row drawn
        assert work["counted_on"] and threading.main_thread().name not in work["counted_on"]
    assert big["rewrapped"] <= 2 * small["rewrapped"] + 8 * big["width"]
    assert big["context"] == small["context"]


async def test_autosave_joins_the_text_off_the_event_loop(tiny_model_path, tmp_path, monkeypatch):
    """Typing never joins the whole document on the event loop (the autosave and the model's memory read it from a
    copy of the lines, in workers); the autosave still holds every key."""
    joined_on = []
    text = Document.text
    monkeypatch.setattr(Document, "text", property(lambda self: joined_on.append(threading.current_thread().name)
                                                   or text.fget(self)))
    document = tmp_path / "story.txt"
    document.write_text(make_text(30_000), encoding="utf-8")
    app = make_app(tiny_model_path, file=document, autosave_seconds=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        joined_on.clear()
        await type_text(pilot, " marrow")
        await settle(pilot, rounds=10)
        assert threading.main_thread().name not in joined_on
        saved = app.writer.autosave.path.read_text(encoding="utf-8").partition("\n")[2]
        assert saved == document.read_text(encoding="utf-8") + " marrow"
        assert app.writer.status.dirty


# --- long lines: the shortcuts give Textual's results ------------------------------------------------------------


def test_an_edit_in_a_long_line_rewraps_as_a_whole_wrap_would():
    """Random edits (typing, deleting, words longer than a row, line breaks) in long and short lines: the tables
    after each edit equal those of wrapping the whole text afresh."""
    rng = random.Random(3)
    text = one_line(30_000) + "\n" + make_text(3_000, seed=1) + "\n" + one_line(12_000, seed=2)
    document = VersionedDocument(text)
    wrapped = FastWrappedDocument(document, tab_width=4)
    wrapped.wrap(57)
    long_word = "x" * 130
    for _ in range(300):
        row = rng.choice([0, document.line_count - 1, rng.randrange(document.line_count)])
        end = rng.randint(0, len(document[row]))
        start = max(0, end - rng.choice([0, 0, 0, 1, 2, 40]))
        last = rng.randrange(row, min(document.line_count, row + 2))
        stop = (last, rng.randint(0, len(document[last]))) if last != row else (row, end)
        result = document.replace_range((row, start), stop, rng.choice(["x", " ", "word ", "", long_word, "a\nb", "\n"]))
        wrapped.wrap_range((row, start), stop, result.end_location)
        fresh = FastWrappedDocument(VersionedDocument(document.text), tab_width=4)
        fresh.wrap(57)
        for table in ("_wrap_offsets", "_offset_to_line_info", "_line_index_to_offsets", "_tab_width_cache"):
            assert getattr(wrapped, table) == getattr(fresh, table), table
        assert document.length == len(document.text)


def test_sections_of_a_long_line_are_textual_sections():
    line = one_line(5_000)
    offsets = fast_wrap_offsets(line, 40)
    document = FastWrappedDocument(Document(line))
    document.wrap(40)
    sections = document.get_sections(0)
    assert isinstance(sections, Sections) and len(offsets) >= LONG_ROWS
    expected = [line[a:b] for a, b in zip([0, *offsets], [*offsets, len(line)])]
    assert list(sections) == expected and sections[-1] == expected[-1] and sections[3:6] == expected[3:6]
    for y in (0, 7, len(expected) - 1, -1):
        for x in (0, 5, 39):
            assert document.get_target_document_column(0, x, y) == \
                super(FastWrappedDocument, document).get_target_document_column(0, x, y)
    for column in (0, 1, offsets[10], offsets[10] + 3, len(line)):
        assert document.location_to_offset((0, column)) == \
            super(FastWrappedDocument, document).location_to_offset((0, column))


def cells(strip) -> list:
    """What a strip shows: each cell's character and style (however the segments split it)."""
    return [(ch, segment.style) for segment in strip for ch in segment.text]


async def test_rows_of_a_long_line_are_drawn_as_textual_draws_them():
    """Each row of a long line, drawn from the one-row stand-in, is the row TextArea draws from the whole line:
    with the cursor, with a selection across rows, and with grey text at the end."""
    editor = Editor(one_line(8_000) + "\nA short line.")

    from textual.app import App

    class One(App):
        def compose(self):
            yield editor

    app = One()
    async with app.run_test(size=(60, 20)) as pilot:
        editor.focus()
        await pilot.pause()
        line = editor.document[0]
        for selection in (Selection((0, 0), (0, 0)), Selection((0, 3_000), (0, 3_000)),
                          Selection((0, 2_950), (0, 3_100)), Selection((0, 7_990), (1, 4)),
                          Selection((0, len(line)), (0, len(line)))):
            editor.selection = selection
            editor.scroll_cursor_visible()
            await pilot.pause()
            if selection.end == (0, len(line)):
                editor.set_reactive(TextArea.suggestion, "grey")
            for y in range(editor.size.height):
                mine, textual = editor._render_text_row(y), TextArea._render_line(editor, y)
                assert cells(mine) == cells(textual), (selection, y)
            editor.set_reactive(TextArea.suggestion, "")


def test_words_in_a_long_line_are_counted_in_parts_exactly(monkeypatch):
    monkeypatch.setattr(status, "COUNT_CHUNK", 7)
    rng = random.Random(0)
    for _ in range(2_000):
        text = "".join(rng.choice("ab \n\u00a0") for _ in range(rng.randint(0, 60)))
        assert status.count(text)[0] == len(text.split())


# --- a flood of keys ------------------------------------------------------------------------------------------


def parse(parser: FloodParser, *reads: str) -> list[tuple[str, str]]:
    out = []
    for data in reads:
        for event in parser.feed(data):
            out.append(("flood", event.text) if isinstance(event, Flood) else
                       ("paste", event.text) if isinstance(event, events.Paste) else ("key", event.key))
    return out


def test_a_flood_of_plain_characters_is_one_paste_and_keys_stay_keys():
    """A run of plain characters in one read is one paste (Enter a line break, Tab a tab); a writer's keys, escape
    sequences and a bracketed paste are Textual's, in order."""
    parser = FloodParser(False)
    flood = "One line\rand the next,\twith a tab. " * 3
    assert parse(parser, "a", "b", flood, "\x1b[A", "c") == [
        ("key", "a"), ("key", "b"), ("flood", flood), ("key", "up"), ("key", "c")]
    short = "x" * (FLOOD_CHARS - 1)
    assert parse(parser, short) == [("key", "x")] * len(short)
    # an escape sequence cut by the read, then a flood: the sequence ends first
    assert parse(parser, "\x1b[", "A" + "y" * 40) == [("key", "up"), ("flood", "y" * 40)]
    # inside a bracketed paste (its end marker in the next read) Textual's parser keeps the text
    assert parse(parser, "\x1b[200~" + "z" * 40, "\x1b[201~") == [("paste", "z" * 40)]
    # a control key in a flood is a key, between two pastes
    assert parse(parser, "w" * 20 + "\x13" + "v" * 20) == [("flood", "w" * 20), ("key", "ctrl+s"), ("flood", "v" * 20)]


async def test_a_flood_is_one_edit_in_the_editor_and_keys_elsewhere(tiny_model_path, tmp_path):
    """What the flood parser sends is one edit in the editor (one undo step takes it all back), and keys in any
    other widget (the find bar's field)."""
    app = make_app(tiny_model_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        editor = app.writer.editor
        runs = app.writer.version
        text = make_text(20_000)
        app.post_message(Flood(text.replace("\n", "\r")))  # as the driver sends it: Enter as CR
        await settle(pilot)
        assert editor.document.text == text
        assert app.writer.version - runs <= 3  # the edit and the cursor's move, not one per character
        editor.undo()
        await pilot.pause()
        assert editor.document.text == ""
        await pilot.press("ctrl+f")
        await pilot.pause()
        find = app.focused
        app.post_message(Flood("house by the river again"))
        await settle(pilot)
        assert find.value == "house by the river again" and editor.document.text == ""


async def test_a_word_wrapped_onto_a_new_last_row_is_scrolled_into_view():
    """TextArea scrolled to the cursor before the new row counted in the scroll height: the word typed stayed
    below the bottom edge until the next key (in a long line, or at the end of any document)."""
    from textual.app import App

    for text in (one_line(10_000), make_text(5_000, seed=2) + "\n" + "ab " * 30):
        editor = Editor(text)

        class One(App):
            def compose(self):
                yield editor

        async with One().run_test(size=(60, 12)) as pilot:
            editor.focus()
            editor.move_cursor(editor.document.end)
            await pilot.pause()
            for key in "qwzxjvkybpgfmdluchtnroeaisQWZXJVKYBPG":
                await pilot.press(key)
                cursor_y = editor.wrapped_document.location_to_offset(editor.cursor_location).y
                assert editor.scroll_offset.y <= cursor_y < editor.scroll_offset.y + editor.scrollable_content_region.height

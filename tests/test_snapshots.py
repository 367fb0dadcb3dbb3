"""Snapshot tests of the writing screen (pytest-textual-snapshot). Review the SVG before `--snapshot-update`.

A tiny seeded model with greedy decoding makes the suggestions repeatable; the latency (wall time) is pinned.
"""

from __future__ import annotations

import pytest
from test_app_write import SIZE, make_app, no_bundled_models, settle, type_text  # noqa: F401 (a fixture)


def prepare(text: str, *keys: str):
    """Type `text`, then press `keys`, letting everything settle after each: a key pressed through snap_compare's
    `press` is captured a single pause later, before the editor has always redrawn itself blurred (a flaky cursor)."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        writer = pilot.app.writer
        writer.editor.cursor_blink = False
        writer.editor.focus()  # as the app's auto focus does, but without waiting on it
        await settle(pilot)
        await type_text(pilot, text)
        await settle(pilot)
        writer.status.latency_ms = 12.0  # wall time differs run to run
        if keys:
            await pilot.press(*keys)
            await settle(pilot)
            # With blinking off, TextArea's line cache is keyed without the focus, so a blurred editor may keep a
            # cached line with its cursor until something else redraws it (under load, a late suggestion did).
            writer.editor._line_cache.clear()
            writer.editor.refresh()
            await settle(pilot)

    return run_before


def test_writing_with_suggestions(snap_compare, tiny_model_path):
    """You should see "The quiet house stood by the riv" in the editor with the model's top continuation ("er")
    in grey italics after the cursor; in the Suggestions pane on the right, numbered ways to finish the word, each
    with a confidence bar (●●●● … ●○○○) and the typed "riv" dimmed in front of it ("riv" + "er", "e", "ert",
    "ery"), and "document memory on" under the pane; the status line "untitled ● │ model run │ temp 1.0 │ context
    32 │ latency 12 ms" and the footer keys (Quit, Help, Accept, Word, Save, Open, Find, …)."""
    assert snap_compare(make_app(tiny_model_path), terminal_size=SIZE,
                        run_before=prepare("The quiet house stood by the riv"))


def test_picking_in_the_suggestions_pane(snap_compare, tiny_model_path):
    """You should see the Suggestions pane focused (brighter border) with its first continuation highlighted and
    the typed "ali" dimmed before each way to finish the word; the grey ghost text in the editor is hidden while
    the editor does not have the focus."""
    assert snap_compare(make_app(tiny_model_path), terminal_size=SIZE,
                        run_before=prepare("Happy families are all ali", "alt+s"))


def test_quit_with_unsaved_changes(snap_compare, tiny_model_path):
    """You should see a centred "Unsaved changes" dialog saying "untitled has unsaved changes." with the buttons
    Save, Discard and Cancel, over the dimmed writing screen."""
    assert snap_compare(make_app(tiny_model_path), terminal_size=SIZE,
                        run_before=prepare("Every unhappy family", "ctrl+q"))


def test_help_screen(snap_compare, tiny_model_path):
    """You should see the help dialog: a paragraph on ghost text and confidence, then a table of keys with
    what each does (Tab Accept, Alt+Right Word, Ctrl+S Save, F2 Model, Ctrl+Q Quit, …)."""
    assert snap_compare(make_app(tiny_model_path), terminal_size=SIZE, run_before=prepare("", "f1"))


PARAGRAPH = ("It was late in the evening when he came back to the house by the river, and the house was quiet and "
             "dark, and he")
GHOST = " was still more quiet than the night before, and the lamp in the window had gone out long ago"


def with_ghost(text: str):
    """Open `text`, put the cursor at the end of its first line and show GHOST as the grey text (no model: the same
    on every CPU)."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        writer = pilot.app.writer
        editor = writer.editor
        editor.cursor_blink = False
        editor.load_text(text)
        editor.focus()
        await settle(pilot)
        editor.move_cursor((0, len(editor.document[0])))
        await settle(pilot)
        writer.status.latency_ms = 12.0
        editor.show_continuations([(GHOST, -0.1)])
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [(120, 34), (80, 24)])
def test_grey_text_wraps_after_a_long_paragraph(snap_compare, size):
    """You should see the paragraph wrapped in the editor and, right after "and he" at the cursor, the whole grey
    text in italics wrapping onto the rows below as typed text would ("… gone out long ago" ends it), and the
    second paragraph ("Next.") below the grey text, pushed down, not covered."""
    app = make_app(None, memory=False)
    assert snap_compare(app, terminal_size=size, run_before=with_ghost(PARAGRAPH + "\nNext."))


@pytest.mark.parametrize("size", [(120, 34), (80, 24)])
def test_grey_text_after_a_short_line(snap_compare, size):
    """You should see "Dear Anna," on the first line and the grey text starting after it on the same row, wrapping
    at the editor's edge onto the following rows."""
    app = make_app(None, memory=False)
    assert snap_compare(app, terminal_size=size, run_before=with_ghost("Dear Anna,"))


SMALL = (80, 24)


def test_help_at_80x24(snap_compare, tiny_model_path):
    """You should see the help dialog filling most of the screen with its title "Help — Esc to close · ↑↓ PgUp PgDn
    scroll", the intro paragraph wrapped to the width, and a scrollbar: nothing is cut off sideways."""
    assert snap_compare(make_app(tiny_model_path), terminal_size=SMALL, run_before=prepare("", "f1"))


def test_quit_dialog_at_80x24(snap_compare, tiny_model_path):
    """You should see the "Unsaved changes" dialog whole, its three buttons Save, Discard and Cancel on one row."""
    assert snap_compare(make_app(tiny_model_path), terminal_size=SMALL,
                        run_before=prepare("Every unhappy family", "ctrl+q"))


def test_model_picker_at_80x24(snap_compare, tiny_model_path):
    """You should see the Models dialog with a table (name, val loss, corpus, source) and "tiny" listed with its
    loss and corpus, inside the screen."""
    import shutil

    from charwriter import paths

    paths.user_models_dir().mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_model_path, paths.user_models_dir() / "tiny.safetensors")
    assert snap_compare(make_app(tiny_model_path), terminal_size=SMALL, run_before=prepare("", "f2"))


def test_file_changed_dialog_at_80x24(snap_compare, tiny_model_path, tmp_path):
    """You should see "File changed on disk" with its question wrapped and five buttons on one row: Save as…,
    Overwrite, Reload, Show both, Cancel."""
    path = tmp_path / "story.txt"
    path.write_text("Draft.", encoding="utf-8")

    async def run_before(pilot) -> None:
        await prepare(" Mine.")(pilot)
        path.write_text("Theirs.", encoding="utf-8")
        pilot.app.writer._check_disk()  # the periodic look at the disk says so now, once, and not again later
        await pilot.press("ctrl+s")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(make_app(tiny_model_path, file=path), terminal_size=SMALL, run_before=run_before)


def inside_view(text: str, mode: str, unit: tuple | None = None):
    """Put `text` in the editor (typing it key by key is slow), then turn on an inside view and let it colour."""
    ready = prepare("")

    async def run_before(pilot) -> None:
        await ready(pilot)
        from charwriter.lm.inspect import Unit

        writer = pilot.app.writer
        writer.editor.insert(text)
        await settle(pilot)
        writer.status.latency_ms = 12.0
        writer.set_inside(mode, Unit(*unit) if unit else None)
        await settle(pilot)
        writer.editor._line_cache.clear()
        writer.editor.refresh()
        await settle(pilot)

    return run_before


STORY = ("The quiet house stood by the river.\nEvery morning she walked along the water to the old mill, "
         "where her brother kept his books and papers.\nHappy families are all alike")


@pytest.mark.parametrize("size", [(80, 24), (120, 34)], ids=["80x24", "120x34"])
def test_the_surprise_view(snap_compare, tiny_model_path, size):
    """You should see the typed story with the characters' backgrounds in green, yellow and red where the model
    was surprised (plain where it all but knew the character: most letters inside common words), and the editor's
    title "Surprise (bits) <1 [1–3] [3–6] [6+] · F5 off" with the three swatches in the same colours."""
    assert snap_compare(make_app(tiny_model_path), terminal_size=size, run_before=inside_view(STORY, "surprise"))


@pytest.mark.parametrize("size", [(80, 24), (120, 34)], ids=["80x24", "120x34"])
def test_the_cell_view(snap_compare, tiny_model_path, size):
    """You should see the typed story coloured by layer 1's cell 24 (tanh of its cell state): blue or teal where
    it is below zero, magenta or red above, plain near zero (all four colours in use), and the editor's title
    "Cell 1:24 tanh(c) [−1] [−] 0 [+] [+1] · F5 off"."""
    assert snap_compare(make_app(tiny_model_path), terminal_size=size,
                        run_before=inside_view(STORY, "cell", (0, 24, "cell")))

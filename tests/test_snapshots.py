"""Snapshot tests of the writing screen (pytest-textual-snapshot). Review the SVG before `--snapshot-update`.

A tiny seeded model with greedy decoding makes the suggestions repeatable; the latency (wall time) is pinned.
"""

from __future__ import annotations

from test_app_write import SIZE, make_app, settle, type_text


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
    32 │ latency 12 ms" and the footer keys (Accept, Word, Save, Pick, Resample, Model, Quit, Help)."""
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

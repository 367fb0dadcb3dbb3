"""The editor's inside views: the surprise view and the cell view colour the text from the model's own figures,
follow edits, and never hold up typing."""

from __future__ import annotations

import math

import pytest

from charwriter.app import CharwriterApp
from charwriter.lm.checkpoint import load_model
from charwriter.lm.inspect import BLOCK, Unit
from charwriter.screens import inside
from charwriter.settings import Settings
from conftest import make_text, wait_for
from test_app_write import no_bundled_models  # noqa: F401 (a fixture: the bundled model is not part of these tests)

SIZE = (100, 30)


def make_app(model, file=None) -> CharwriterApp:
    return CharwriterApp(file=str(file) if file else None, model=str(model),
                         settings=Settings(greedy=True, precision="fp32", adapt=False))


def test_the_views_block_is_the_models():
    assert inside.BLOCK == BLOCK


async def test_the_surprise_view_colours_the_visible_lines_from_the_models_probabilities(tiny_model_path, tmp_path):
    document = tmp_path / "story.txt"
    document.write_text(make_text(6_000, seed=5).replace(". ", ".\n"), encoding="utf-8")
    app = make_app(tiny_model_path, document)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.writer
        await wait_for(pilot, lambda: screen.engine is not None)
        editor = screen.editor
        editor.move_cursor((0, 0))
        editor.scroll_home(animate=False)
        await pilot.press("f5")
        await wait_for(pilot, lambda: {0, 5} <= editor.inside_rows())
        assert "Surprise" in str(editor.border_title)  # the legend comes with the first colours
        # the colours are the engine's own figures for those characters
        text = editor.text
        values, _ = screen.engine.read_blocks(text, [0])[0]
        line = editor.document[0]
        names = [inside.surprise_name(v) for v in values[: len(line)]]
        runs = editor._inside[0][1]
        shown = [None] * len(line)
        for start, end, name in runs:  # ASCII text: bytes are characters
            shown[start:end] = [name] * (end - start)
        assert shown == names and any(names) and None in names
        # typing goes on in the view, and the edited line is coloured again
        editor.move_cursor((0, 0))
        await pilot.press("Z", "z")
        assert editor.document[0].startswith("Zz")
        await wait_for(pilot, lambda: 0 in editor.inside_rows())
        assert editor._inside[0][0].startswith("Zz")
        await pilot.press("f5")
        assert editor.border_title is None and not editor.inside_rows()


async def test_the_cell_view_colours_by_a_units_activation_and_the_picker_lists_the_finders_cells(tiny_model_path,
                                                                                                  tmp_path):
    from textual.widgets import DataTable

    document = tmp_path / "story.txt"
    story = "She said yes to the river. Then he walked along the water to the mill. "
    document.write_text(story * 30, encoding="utf-8")
    app = make_app(tiny_model_path, document)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.writer
        await wait_for(pilot, lambda: screen.engine is not None)
        screen.editor.scroll_home(animate=False)
        await pilot.press("f8")
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count > 0)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        # (the tiny model has no quote character: the finder's quote test is test_inspect's, on a model that has)
        assert {"inside a word", "after a sentence end"} <= {str(row[0]) for row in rows}
        strengths = [abs(float(row[2])) for row in rows]
        assert strengths == sorted(strengths, reverse=True)
        await pilot.press("enter")
        found = app.screen.inside_unit
        assert isinstance(found, Unit)
        await wait_for(pilot, lambda: 0 in screen.editor.inside_rows())
        assert f"Cell {found.layer + 1}:{found.index} tanh(c)" in str(screen.editor.border_title)
        _, acts = screen.engine.read_blocks(screen.editor.text, [0], found)[0]
        line = screen.editor.document[0]
        names = [inside.activation_name(a) for a in acts[: min(len(line), BLOCK)]]
        shown = [None] * len(line)
        for start, end, name in screen.editor._inside[0][1]:
            shown[start:end] = [name] * (end - start)
        assert shown[: len(names)] == names

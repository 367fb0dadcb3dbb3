"""Pilot tests of the writing screen: suggestions as you type, accepting them, documents, autosave, quitting.

A tiny seeded model with greedy decoding makes every suggestion deterministic.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from textual import events
from rich.console import Console
from textual.widgets import DataTable, Input, Static

from charwriter import documents, paths
from charwriter.app import CharwriterApp
from charwriter.documents import Autosave
from charwriter.engine import WORD_EXTRA, Engine
from charwriter.lm.checkpoint import load_model
from charwriter.screens.write import SuggestionsReady
from charwriter.session import Continuation, Suggestions
from charwriter.settings import Settings
from charwriter.dialogs.confirm import ConfirmScreen
from charwriter.dialogs.help import HelpScreen
from charwriter.dialogs.model_picker import ModelPicker
from charwriter.dialogs.path_prompt import PathPrompt
from charwriter.widgets.suggestions import SuggestionsPane
from conftest import make_text, rewrite_metadata, wait_for

SIZE = (100, 30)


@pytest.fixture(autouse=True)
def no_bundled_models(tmp_path, monkeypatch):
    """The repository's bundled model is not part of these tests: without --model there is no model."""
    empty = tmp_path / "no-bundled-models"
    empty.mkdir()
    monkeypatch.setattr(paths, "bundled_models_dir", lambda: empty)


def make_app(model=None, file=None, **settings) -> CharwriterApp:
    settings.setdefault("greedy", True)
    settings.setdefault("precision", "fp32")  # the same suggestions on every CPU; "auto" has its own tests
    settings.setdefault("adapt", False)  # weights that change in the background: its own tests (test_adapt.py)
    settings.setdefault("grey_floor", 0.0)  # a tiny model is sure of nothing: the floor has its own tests
    return CharwriterApp(file=file, model=str(model) if model else None, settings=Settings(**settings))


async def settle(pilot, rounds: int = 3) -> None:
    """Let the debounce fire, the workers finish and their messages arrive."""
    app = pilot.app
    for _ in range(rounds):
        await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause()


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space", "\n": "enter"}.get(ch, ch) for ch in text])


async def submit_path(pilot, path: Path) -> None:
    """Fill the Open / Save as prompt (setting the value: typing a long path key by key is slow) and press Enter."""
    assert isinstance(pilot.app.screen, PathPrompt)
    pilot.app.screen.query_one(Input).value = str(path)
    await pilot.press("enter")


def ghost(app) -> str:
    return app.writer.editor.suggestion


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_typing_shows_k_numbered_suggestions_and_ghost_text(tiny_model_path, monkeypatch):
    monkeypatch.setattr("charwriter.engine.shown.FAR_BELOW", 100.0)  # every alternative shown, however unlikely
    app = make_app(tiny_model_path, suggestions=3)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "The hou")
        await settle(pilot)
        writer = app.writer
        continuations = writer.editor.continuations
        assert len(continuations) == 3
        assert all(score <= 0 for _, score in continuations)
        assert ghost(app) == continuations[0][0] != ""
        assert all(len(text) <= 48 + WORD_EXTRA for text, _ in continuations)
        pane = app.query_one(SuggestionsPane)
        assert pane.option_count == 3
        first = str(pane.get_option_at_index(0).prompt)
        assert first.startswith("1 ") and continuations[0][0] in first
        status = writer.status
        assert status.model == "run" and status.context == len("The hou") and status.latency_ms is not None
        # the model's five likeliest next characters, with bars, in the pane's title (the engine's own figures)
        guesses = writer.engine.cursor_guesses()
        assert len(guesses) == 5 and all(a[1] >= b[1] for a, b in zip(guesses, guesses[1:]))
        assert sum(p for _, p in guesses) <= 1.0 + 1e-6
        assert str(pane.border_title).startswith("Suggestions · next ") and guesses[0][0] in str(pane.border_title)


async def test_tab_accepts_the_ghost_text(tiny_model_path):
    app = make_app(tiny_model_path)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "The hou")
        await settle(pilot)
        expected = "The hou" + ghost(app)
        await pilot.press("tab")
        assert app.writer.editor.text == expected
        assert app.focused is app.writer.editor


async def test_next_word_keys_insert_one_word(tiny_model_path):
    app = make_app(tiny_model_path)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "She walked along the")
        await settle(pilot)
        suggestion = ghost(app)
        word = suggestion[: len(suggestion) - len(suggestion.lstrip())] + suggestion.split()[0]
        await pilot.press("alt+right")
        assert app.writer.editor.text == "She walked along the" + word
        await settle(pilot)
        rest = ghost(app)
        word = rest[: len(rest) - len(rest.lstrip())] + rest.split()[0]
        await pilot.press("ctrl+right")  # Ctrl+Right takes a word while a suggestion shows
        assert app.writer.editor.text.endswith(word)


async def test_ctrl_right_moves_by_word_without_a_suggestion():
    app = make_app(file=None)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "one two")
        await pilot.press("home", "ctrl+right")
        assert app.writer.editor.text == "one two"
        assert app.writer.editor.cursor_location == (0, 3)


async def test_picking_from_the_pane_by_number_and_by_arrows(tiny_model_path):
    app = make_app(tiny_model_path)  # after "brother" the tiny model knows several real words (only those are shown)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "Her brother ")
        await settle(pilot)
        second = app.writer.editor.continuations[1][0]
        assert second[-2].isalnum() and second[-1] == " "  # a word, with the space the model expects after it
        await pilot.press("alt+s")
        assert isinstance(app.focused, SuggestionsPane)
        await pilot.press("2")
        assert app.writer.editor.text == "Her brother " + second
        assert app.focused is app.writer.editor

        await pilot.press("enter")  # Enter (or . , ; : ! ?) takes the space's place
        assert app.writer.editor.text == "Her brother " + second[:-1] + "\n"
        await type_text(pilot, "Her brother ")
        await settle(pilot)
        third = app.writer.editor.continuations[2][0]
        assert third.endswith(" ")
        await pilot.press("alt+s", "down", "down", "enter")
        assert app.writer.editor.text.endswith("\nHer brother " + third)
        await type_text(pilot, "x,")  # a letter keeps the space; the comma after it is only a comma
        assert app.writer.editor.text.endswith("\nHer brother " + third + "x,")


async def test_an_accepted_space_gives_way_to_punctuation_and_is_never_doubled():
    app = make_app(file=None)
    async with app.run_test(size=SIZE) as pilot:
        editor = app.writer.editor
        await type_text(pilot, "The hou")
        editor.show_continuations([("se ", -0.1)])
        await pilot.press("tab")
        assert editor.text == "The house "
        await pilot.press("full_stop")  # in the space's place
        assert editor.text == "The house."
        await type_text(pilot, " It")
        editor.show_continuations([("s ", -0.1)])
        await pilot.press("tab", "space")  # anything else keeps the space
        assert editor.text == "The house. Its  "
        await pilot.press("backspace", "left")
        editor.show_continuations([("elf ", -0.1)])
        editor.accept()  # before a space: the continuation's own is dropped, and none is taken back
        assert editor.text == "The house. Itself "
        await pilot.press("comma")
        assert editor.text == "The house. Itself, "


async def test_alt_letters_from_a_real_terminal_are_not_typed(tiny_model_path):
    """A terminal sends Alt+S with the character "s" (the Pilot sends none): it must reach the binding, not the text."""
    app = make_app(tiny_model_path)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "The hou")
        await settle(pilot)
        app.post_message(events.Key("alt+s", "s"))
        await pilot.pause()
        assert app.writer.editor.text == "The hou"
        assert isinstance(app.focused, SuggestionsPane)


async def test_cycling_and_hiding(tiny_model_path, monkeypatch):
    monkeypatch.setattr("charwriter.engine.shown.FAR_BELOW", 100.0)
    app = make_app(tiny_model_path, suggestions=3)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "The hou")
        await settle(pilot)
        continuations = app.writer.editor.continuations
        await pilot.press("alt+down")
        assert ghost(app) == continuations[1][0]
        await pilot.press("alt+up", "alt+up")
        assert ghost(app) == continuations[2][0]
        await pilot.press("escape")
        await settle(pilot)
        assert ghost(app) == "" and app.query_one(SuggestionsPane).option_count == 0
        await type_text(pilot, "s")  # the next keystroke brings them back
        await settle(pilot)
        assert ghost(app) != ""


async def test_an_unsure_first_word_waits_in_the_pane_until_alt_down_draws_it(tiny_model_path):
    """Below the grey-text floor the continuations are in the pane, none is drawn, Tab moves the focus as without
    suggestions; Alt+Down draws the first, typing along keeps them undrawn; the palette's toggle draws them always."""
    app = make_app(tiny_model_path, suggestions=3, grey_floor=0.99, debounce_ms=2000)  # runs only when asked
    async with app.run_test(size=SIZE) as pilot:
        editor = app.writer.editor
        await type_text(pilot, "The hou")
        app.writer._schedule(now=True)
        await settle(pilot)
        continuations = editor.continuations
        assert continuations and ghost(app) == ""
        assert app.writer.pane.option_count == len(continuations)
        await pilot.press("alt+down")
        assert ghost(app) == continuations[0][0]
        await pilot.press("tab")
        assert editor.text == "The hou" + continuations[0][0]

        await pilot.press("ctrl+z")
        await type_text(pilot, "s")
        app.writer._schedule(now=True)
        await settle(pilot)
        assert editor.continuations and ghost(app) == ""
        first = editor.continuations[0][0]
        if len(first) > 1:
            await type_text(pilot, first[0])  # typing along: the same continuations, still undrawn
            assert editor.continuations[0][0] == first[1:] and ghost(app) == ""
        await pilot.press("tab")
        assert isinstance(app.focused, SuggestionsPane) and editor.text.startswith("The hous")

        app.writer.action_toggle_grey_floor()
        assert app.settings.grey_floor == 0.0 and Settings.load().grey_floor == 0.0
        editor.focus()
        await type_text(pilot, "e")
        app.writer._schedule(now=True)
        await settle(pilot)
        assert ghost(app) != ""
        app.writer.action_toggle_grey_floor()
        assert app.settings.grey_floor > 0


async def test_typing_along_keeps_the_ghost_text_and_other_edits_drop_it(tiny_model_path):
    app = make_app(tiny_model_path, debounce_ms=2000)  # no new run during the test: only the editor's own logic
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "The hou")
        app.writer._schedule(now=True)
        await settle(pilot)
        suggestion = ghost(app)
        await type_text(pilot, suggestion[0])
        assert ghost(app) == suggestion[1:]
        await pilot.press("left")
        assert ghost(app) == ""


async def test_mid_line_the_pane_suggests_but_no_ghost_text_is_drawn(tiny_model_path):
    app = make_app(tiny_model_path)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "The house stood")
        await settle(pilot)
        await pilot.press("ctrl+left")
        await settle(pilot)
        assert app.writer.editor.cursor_location == (0, len("The house "))
        count = len(app.writer.editor.continuations)
        assert count >= 2 and app.query_one(SuggestionsPane).option_count == count
        assert ghost(app) == ""
        await pilot.press("tab")  # no ghost text: Tab moves the focus and inserts nothing
        assert app.writer.editor.text == "The house stood"
        word = app.writer.editor.continuations[1][0]
        assert word.endswith(" ")
        await pilot.press("2")  # picked before a word: its space parts the two, and stays
        assert app.writer.editor.text == "The house " + word + "stood"
        await pilot.press("full_stop")
        assert app.writer.editor.text == "The house " + word + ".stood"


async def test_stale_results_are_dropped(tiny_model_path):
    app = make_app(tiny_model_path)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "The")
        await settle(pilot)
        writer = app.writer
        writer.post_message(SuggestionsReady(writer.version - 1, Suggestions([Continuation("stale!", -0.1)], "", 1.0)))
        await pilot.pause()
        assert ghost(app) != "stale!"
        writer.post_message(SuggestionsReady(writer.version, Suggestions([Continuation("fresh", -0.1)], "", 1.0)))
        await pilot.pause()
        assert ghost(app) == "fresh"


async def test_a_burst_of_keys_costs_one_suggestion_run(tiny_model_path):
    # a long debounce: on two busy cores (CI, xdist) two of Pilot's key presses came 300 ms apart
    app = make_app(tiny_model_path, debounce_ms=1000)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        engine = app.writer.engine
        calls = []
        original = engine.suggest
        engine.suggest = lambda text=None, cancelled=lambda: False, **options: (
                calls.append(text) or original(text, cancelled, **options))
        await type_text(pilot, "Happy families")
        await pilot.pause(1.2)
        await settle(pilot)
        assert calls == ["Happy families"]


async def test_without_a_model_the_editor_still_works_and_tab_moves_focus():
    app = make_app(model=None)  # the default model does not exist in an empty home
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert any(f"no model named '{paths.DEFAULT_MODEL}'" in n for n in notes(app))
        assert app.writer.status.model == "no model"
        await type_text(pilot, "Still writing.")
        assert app.writer.editor.text == "Still writing."
        await pilot.press("tab")  # no ghost text: Tab inserts nothing and moves the focus
        assert app.writer.editor.text == "Still writing."
        assert isinstance(app.focused, SuggestionsPane)
        await pilot.press("escape")
        assert app.focused is app.writer.editor


async def test_an_engine_failure_is_reported_and_writing_goes_on(tiny_model_path):
    app = make_app(tiny_model_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)

        def broken(text=None, cancelled=None, **options):
            raise RuntimeError("boom")

        app.writer.engine.suggest = broken
        await type_text(pilot, "The")
        await settle(pilot)
        assert any("suggestions failed (RuntimeError: boom)" in n for n in notes(app))
        assert app.writer.engine is None and app.writer.status.model == "no model"
        await type_text(pilot, " end")
        assert app.writer.editor.text == "The end"


async def test_temperature_keys_change_and_remember_it(tiny_model_path):
    app = make_app(tiny_model_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+up", "ctrl+up", "ctrl+down")
        await settle(pilot)
        assert app.writer.status.temperature == pytest.approx(1.1)
        assert app.writer.engine.settings.temperature == pytest.approx(1.1)
        assert Settings.load().temperature == pytest.approx(1.1)


async def test_resample_asks_the_model_again(tiny_model_path):
    app = make_app(tiny_model_path)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "The")
        await settle(pilot)
        before = app.writer.version
        engine, calls = app.writer.engine, []
        original = engine.suggest
        engine.suggest = lambda text=None, cancelled=lambda: False, resample=False, **options: (
            calls.append(resample) or original(text, cancelled, resample=resample, **options))
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.writer.version == before + 1 and ghost(app) != ""
        await type_text(pilot, " ")
        await settle(pilot)
        assert calls == [True, False]  # drawn at the temperature once, then the likeliest again


async def open_model_picker(pilot) -> DataTable:
    await settle(pilot)
    await pilot.press("f2")
    await settle(pilot)
    assert isinstance(pilot.app.screen, ModelPicker)
    return pilot.app.screen.query_one(DataTable)


async def test_model_picker_switches_and_remembers_the_model(tiny_model_path):
    paths.user_models_dir().mkdir(parents=True)
    shutil.copy(tiny_model_path, paths.user_models_dir() / "tiny.safetensors")
    app = make_app(model=None)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_model_picker(pilot)
        assert table.row_count == 1 and table.get_row_at(0)[0] == "tiny"
        await pilot.press("enter")
        await settle(pilot)
        assert app.writer.status.model == "tiny"
        assert Settings.load().model == str(paths.user_models_dir() / "tiny.safetensors")
        await type_text(pilot, "The")
        await settle(pilot)
        assert ghost(app) != ""


async def test_picking_a_broken_model_keeps_the_current_one(tiny_model_path):
    """A model file that cannot be loaded is reported; the working model goes on suggesting and is not forgotten."""
    paths.user_models_dir().mkdir(parents=True)
    (paths.user_models_dir() / "broken.safetensors").write_text("not a model at all")
    Settings(model=str(tiny_model_path), greedy=True).save()
    app = CharwriterApp()  # with the settings just saved: the tiny model, remembered
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.writer.engine is not None
        name = app.writer.status.model
        await pilot.press("f2")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        row = next(i for i in range(table.row_count) if table.get_row_at(i)[0] == "broken")
        table.move_cursor(row=row)
        await pilot.press("enter")
        await settle(pilot)
        assert app.writer.engine is not None and app.writer.status.model == name
        assert any("broken.safetensors" in n and f"Still writing with {name}" in n for n in notes(app))
        assert Settings.load().model == str(tiny_model_path)  # the broken one was not remembered
        await type_text(pilot, "The house")  # where the tiny model is sure enough of its next word to draw it
        await settle(pilot)
        assert ghost(app) != ""


async def test_a_remembered_model_that_no_longer_loads_falls_back_to_the_default(tiny_model_path, monkeypatch):
    """The model picked last time was deleted or broken: the app says so and writes with the bundled default."""
    bundled = paths.user_models_dir().parent / "bundled"
    bundled.mkdir(parents=True)
    shutil.copy(tiny_model_path, bundled / f"{paths.DEFAULT_MODEL}.safetensors")
    monkeypatch.setattr(paths, "bundled_models_dir", lambda: bundled)
    gone = paths.user_models_dir() / "deleted.safetensors"
    Settings(model=str(gone), greedy=True).save()
    app = CharwriterApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.writer.engine is not None and app.writer.status.model == paths.DEFAULT_MODEL
        assert any("could not be loaded" in n and "deleted.safetensors" in n and f"{paths.DEFAULT_MODEL} instead" in n
                   for n in notes(app))
    app = CharwriterApp(model=str(gone))  # asked for on the command line: no quiet substitute
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.writer.engine is None and app.writer.status.model == "no model"


async def test_save_and_reopen_round_trip(tmp_path, tiny_model_path):
    path = tmp_path / "story.txt"
    app = make_app(tiny_model_path, file=path)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "The hou")
        await settle(pilot)
        await pilot.press("tab", "enter")
        await type_text(pilot, "Second line")
        expected = app.writer.editor.text
        await pilot.press("ctrl+s")
        assert path.read_text() == expected
        assert not app.writer.is_dirty and app.writer.status.document == "story.txt"
    app = make_app(file=path)
    async with app.run_test(size=SIZE) as pilot:
        assert app.writer.editor.text == expected


async def test_undo_comes_back_to_the_saved_text_and_the_modified_dot_goes(tmp_path):
    """Typing before and after a save within one undo batch (two seconds): undo stops at the saved text, not past
    it, and the dot that says "modified" goes at the next autosave tick."""
    path = tmp_path / "story.txt"
    app = make_app(file=path, autosave_seconds=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "Saved words")
        await pilot.press("ctrl+s")
        await type_text(pilot, " and more")
        await pilot.pause(0.3)
        assert app.writer.status.dirty
        await pilot.press("ctrl+z")
        assert app.writer.editor.text == "Saved words"
        await wait_for(pilot, lambda: not app.writer.status.dirty, seconds=10)


async def test_save_as_and_open(tmp_path):
    app = make_app(autosave_seconds=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "untitled words")
        await pilot.press("ctrl+s")
        await submit_path(pilot, tmp_path / "named.txt")
        assert (tmp_path / "named.txt").read_text() == "untitled words"
        assert app.writer.status.document == "named.txt"

        (tmp_path / "other.txt").write_text("other text")
        await pilot.press("ctrl+o")
        await submit_path(pilot, tmp_path / "other.txt")  # nothing unsaved: opens at once
        assert app.writer.editor.text == "other text"
        assert app.writer.document_path == tmp_path / "other.txt"
        await settle(pilot)
        assert not app.writer.status.dirty and Autosave(tmp_path / "other.txt").read() is None


async def test_opening_a_binary_or_oversized_file_is_refused(tmp_path, monkeypatch):
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff\x00\x10JFIF")
    app = make_app(file=binary)
    async with app.run_test(size=SIZE) as pilot:
        assert any("binary" in n for n in notes(app))
        assert app.writer.editor.text == "" and app.writer.document_path is None
        monkeypatch.setattr(documents, "MAX_DOCUMENT_BYTES", 100)
        big = tmp_path / "big.txt"
        big.write_text("word " * 100)
        await pilot.press("ctrl+o")
        await submit_path(pilot, big)
        assert any("too large" in n for n in notes(app))
        assert app.writer.editor.text == "" and app.writer.document_path is None


async def test_quit_with_unsaved_changes_asks(tmp_path):
    path = tmp_path / "story.txt"
    app = make_app(file=path)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "precious words")
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")  # cancel: still writing
        assert app.is_running and app.screen is app.writer
        await pilot.press("ctrl+q")
        await pilot.click("#save")
        await pilot.pause()
    assert path.read_text() == "precious words"
    assert not app.is_running


async def test_quit_discarding_changes_removes_the_autosave(tmp_path):
    path = tmp_path / "story.txt"
    app = make_app(file=path, autosave_seconds=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "throwaway")
        await settle(pilot)
        assert Autosave(path).read().text == "throwaway"
        await pilot.press("ctrl+q")
        await pilot.click("#discard")
        await pilot.pause()
    assert not path.exists() and Autosave(path).read() is None


async def test_quit_without_changes_does_not_ask():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert not app.is_running


async def test_autosave_is_offered_back_after_a_crash(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("saved part")
    app = make_app(file=path, autosave_seconds=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("end")
        await type_text(pilot, " and the unsaved part")
        await settle(pilot)
        app.exit()  # a crash, as far as the autosave knows: no clean save or quit
    assert Autosave(path).read().text == "saved part and the unsaved part"

    app = make_app(file=path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.click("#restore")
        await pilot.pause()
        assert app.writer.editor.text == "saved part and the unsaved part"
        assert app.writer.is_dirty and path.read_text() == "saved part"
        await pilot.press("ctrl+s")
    assert Autosave(path).read() is None and path.read_text() == "saved part and the unsaved part"


async def test_help_lists_the_keys_as_mapped():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.set_keymap({"resample": "ctrl+g"})
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        actions = {row[1]: row[0] for row in app.screen.keys}
        assert {"Accept", "Word", "Save", "Open", "Model", "Quit", "Resample"} <= set(actions)
        assert "g" in actions["Resample"].lower()
        await pilot.press("escape")
        assert app.screen is app.writer


async def test_help_fits_a_small_terminal_and_scrolls_to_its_last_key():
    """At 80×24 the help was cut off and could not be scrolled: every key is reachable, descriptions wrap."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        scroll = app.screen.query_one("#help-scroll")
        assert scroll.has_focus and scroll.max_scroll_y > 0
        await pilot.press("end")
        await pilot.pause()
        assert scroll.scroll_y == scroll.max_scroll_y
        console = Console(width=scroll.content_region.width, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#help-keys", Static).content)
        shown = console.export_text()
        assert "Palette" in shown
        assert "(Tab itself accepts the grey suggestion)" in " ".join(shown.split())  # wrapped, not cut


async def test_palette_offers_the_writing_commands():
    app = make_app()
    async with app.run_test(size=SIZE):
        titles = {command.title for command in app.get_system_commands(app.writer)}
        assert {"Save", "Open…", "Choose a model", "Train a model", "Resample suggestions"} <= titles


def test_every_binding_can_be_remapped_and_none_is_printable():
    from charwriter.screens.write import WriteScreen
    from charwriter.widgets.editor import Editor

    for owner in (CharwriterApp, WriteScreen, Editor):
        for binding in owner.BINDINGS:
            assert binding.id and binding.tooltip, binding
            for key in binding.key.split(","):
                assert len(key) > 1, f"{owner.__name__} binds the printable key {key!r}"


async def test_recovered_text_can_be_discarded(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("saved part")
    Autosave(path).write("saved part and words lost in a crash")
    app = make_app(file=path, autosave_seconds=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await settle(pilot)  # the autosave tick must not remove it while the question is open
        assert Autosave(path).read() is not None
        await pilot.click("#discard")
        await pilot.pause()
        assert app.writer.editor.text == "saved part" and Autosave(path).read() is None


async def test_untitled_windows_keep_their_own_autosaves_and_a_crashed_one_is_restored(tmp_path):
    import subprocess

    ended = subprocess.Popen(["true"])
    ended.wait()
    other = subprocess.Popen(["sleep", "30"])  # another charwriter, still open with its own untitled text
    try:
        Autosave(None, pid=other.pid).write("the other window's draft")
        Autosave(None, pid=ended.pid).write("a draft lost in a crash")
        app = make_app(autosave_seconds=0.05)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            assert "untitled" in app.screen.question and "23 characters" in app.screen.question
            await pilot.click("#restore")
            await settle(pilot)
            assert app.writer.editor.text == "a draft lost in a crash"
            assert Autosave(None).read().text == "a draft lost in a crash"  # now this window's own autosave
            assert Autosave(None, pid=ended.pid).read() is None  # the crashed session's file is gone
            assert Autosave(None, pid=other.pid).read().text == "the other window's draft"  # untouched
    finally:
        other.kill()
        other.wait()


async def test_esc_keeps_a_crashed_sessions_text_and_discard_offers_the_next(tmp_path):
    import json
    import subprocess

    ended = []
    for _ in range(2):
        process = subprocess.Popen(["true"])
        process.wait()
        ended.append(process.pid)
    for pid, text, when in ((ended[0], "older draft", "2026-01-01T10:00:00"),
                            (ended[1], "newer draft", "2026-01-02T10:00:00")):
        autosave = Autosave(None, pid=pid)
        autosave.write(text)
        header, _, body = autosave.path.read_text().partition("\n")
        autosave.path.write_text(json.dumps(dict(json.loads(header), saved_at=when)) + "\n" + body)
    app = make_app(autosave_seconds=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "11 characters" in app.screen.question and "next of 1 older" in app.screen.question
        await pilot.press("escape")  # not an answer: nothing is removed
        await settle(pilot)
        assert Autosave(None, pid=ended[1]).read().text == "newer draft"
        assert not isinstance(app.screen, ConfirmScreen)
    app = make_app(autosave_seconds=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "2026-01-02" in app.screen.question
        await pilot.click("#discard")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and "2026-01-01" in app.screen.question  # the next one
        assert Autosave(None, pid=ended[1]).read() is None
        await pilot.click("#restore")
        await settle(pilot)
        assert app.writer.editor.text == "older draft" and Autosave(None, pid=ended[0]).read() is None


def test_the_app_module_does_not_import_torch():
    """torch loads in the model worker, after the first frame: importing the app must not pull it in."""
    import subprocess
    import sys

    code = "import sys, charwriter.app; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


async def test_suggestions_use_every_core_unless_this_app_trains(tiny_model_path, monkeypatch):
    """Two threads read the weights nearly twice as fast on an idle machine; a trainer of our own takes the cores."""
    from charwriter.engine import ALL_THREADS
    from charwriter.run_service import RunService

    app = CharwriterApp(model=str(tiny_model_path))
    async with app.run_test(size=(100, 30)):
        screen = app.screen
        assert screen._threads() == ALL_THREADS
        monkeypatch.setattr(RunService, "active", property(lambda self: True))
        assert screen._threads() == 1


async def test_a_broken_settings_file_is_reported_and_kept(tiny_model_path):
    """The app starts with the defaults, says so in one notification, and keeps the user's file aside."""
    Settings.path().parent.mkdir(parents=True, exist_ok=True)
    Settings.path().write_text('{"temperature": 0.8,')
    app = CharwriterApp(model=str(tiny_model_path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.settings.temperature == 1.0
        assert any("not valid settings" in n and "settings.broken.json" in n for n in notes(app))
    assert (Settings.path().parent / "settings.broken.json").read_text() == '{"temperature": 0.8,'


async def test_a_big_document_is_learned_in_the_background_and_edits_follow(tiny_model_path, tmp_path, monkeypatch):
    """First suggestions come from the model alone; the memory is built off the event loop, then describes the
    document exactly, edits included; the pane says what the memory is doing."""
    import charwriter.lm.memory as memory_module
    from test_memory import built_from_scratch, contents

    monkeypatch.setattr(memory_module, "FOLD_CHARS", 2_000)  # "big" for the test: built off the event loop
    document = tmp_path / "big.txt"
    document.write_text(make_text(12_000, seed=6) + " Morvath walked.", encoding="utf-8")
    app = make_app(tiny_model_path, file=document)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rounds=6)
        writer = app.writer
        engine = writer.engine
        assert engine.memory is not None and engine.memory_pending is None
        assert engine.memory.text == writer.editor.text
        assert writer.pane.border_subtitle == "document memory on"
        await type_text(pilot, " Then Mo")
        await settle(pilot)
        assert contents(engine.memory) == built_from_scratch(engine.memory, writer.editor.text)
        await pilot.press("ctrl+p")
        await type_text(pilot, "Document memory off")
        await pilot.press("enter")
        await settle(pilot)
        assert not app.settings.memory and engine.memory is None
        assert writer.pane.border_subtitle == "document memory off"
        assert Settings.load().memory is False


async def test_typing_while_the_pane_has_the_focus_goes_into_the_editor(tiny_model_path):
    """Tab (without ghost text) or Alt+S moves the focus to the pane; the writer types on: nothing is lost."""
    app = make_app(tiny_model_path)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "The house")
        await settle(pilot)
        await pilot.press("alt+s")
        assert app.focused is app.writer.pane
        await type_text(pilot, " stood by the river")
        await settle(pilot)
        assert app.writer.editor.text.startswith("The house stood by the river")
        assert app.focused is app.writer.editor
        count = app.writer.pane.option_count
        await pilot.press("alt+s", str(count))  # a number of a continuation shown still picks it
        await settle(pilot)
        assert app.focused is app.writer.editor and len(app.writer.editor.text) > len("The house stood by the river")


async def test_a_tab_character_and_zero_width_characters_can_be_typed(tiny_model_path):
    app = make_app(tiny_model_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        editor = app.writer.editor
        editor.load_text("")
        await pilot.press("alt+t")
        for character in "👨\u200d👩\u200c\u200b":  # a joined emoji pair, a non-joiner, a zero-width space
            editor.post_message(events.Key(character if character.isprintable() else "ignored", character))
            await pilot.pause()
        assert editor.text == "\t👨\u200d👩\u200c\u200b"
        await pilot.press("f1")
        assert any(row[1] == "Tab char" and "tab character" in row[2] for row in app.screen.keys)


async def test_a_file_changed_on_disk_is_noticed_and_never_overwritten_without_asking(tiny_model_path, tmp_path):
    """Another program (or a second window, or git checkout) saves the open file: the app says so, Ctrl+S asks
    (Cancel keeps the other version, Overwrite writes ours), and quitting asks while the file lacks our text."""
    path = tmp_path / "story.txt"
    path.write_text("First draft.", encoding="utf-8")
    app = make_app(tiny_model_path, file=path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        writer = app.writer
        await type_text(pilot, " Mine.")
        path.write_text("Their version, saved elsewhere.", encoding="utf-8")
        writer._check_disk()
        await pilot.pause()
        assert any("changed by another program" in n for n in notes(app))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen) and "changed on disk" in app.screen.question
        await pilot.click("#cancel")
        await settle(pilot)
        assert path.read_text(encoding="utf-8") == "Their version, saved elsewhere."
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.click("#overwrite")
        await settle(pilot)
        assert path.read_text(encoding="utf-8") == "First draft. Mine."
        # Two windows: the other one saves over ours after our save; we are not dirty, yet our text is not there.
        path.write_text("The other window's text.", encoding="utf-8")
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen) and "no longer holds your text" in app.screen.question
        await pilot.click("#save")
        await settle(pilot)
        assert path.read_text(encoding="utf-8") == "First draft. Mine."


async def test_the_model_picker_lists_a_model_with_odd_metadata(tiny_model_path):
    """A string where the loss should be used to crash the whole app on F2: it is listed, without a loss."""

    def odd(meta):
        meta["training"].update(best_val_loss="oops", corpus={"not": "a name"})

    rewrite_metadata(tiny_model_path, paths.user_models_dir() / "odd.safetensors", odd)
    app = make_app(tiny_model_path)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_model_picker(pilot)
        rows = {str(row[0]): row for row in (table.get_row_at(i) for i in range(table.row_count))}
        assert str(rows["odd"][1]) == "-" and str(rows["odd"][2]) == "{'not': 'a name'}"


async def test_reload_from_disk_keeps_the_writers_text_for_the_next_start(tiny_model_path, tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("Draft.", encoding="utf-8")
    app = make_app(tiny_model_path, file=path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, " Mine.")
        path.write_text("Theirs.", encoding="utf-8")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.click("#reload")
        await settle(pilot)
        assert app.writer.editor.text == "Theirs." and not isinstance(app.screen, ConfirmScreen)
        assert any("Your text is kept" in n for n in notes(app))
    assert path.read_text(encoding="utf-8") == "Theirs."
    again = make_app(tiny_model_path, file=path)  # the next start offers the kept text back
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(again.screen, ConfirmScreen) and "was reloaded from disk" in again.screen.question
        await pilot.click("#restore")
        await settle(pilot)
        assert again.writer.editor.text == "Draft. Mine."


async def test_drawing_the_editor_never_joins_the_whole_document(tiny_model_path, monkeypatch):
    """In a 20 MB document TextArea joined the whole text, and summed its wrapped height, once per line drawn:
    the editor keeps the height (always equal to the sum) and draws without the join."""
    from textual.document._document import Document

    app = make_app(None, autosave_seconds=1000)
    async with app.run_test(size=SIZE) as pilot:
        editor = app.writer.editor
        editor.load_text(make_text(30_000, seed=2))
        await pilot.pause()
        joins = []
        original = Document.text.fget
        monkeypatch.setattr(Document, "text", property(lambda self: joins.append(1) or original(self)))
        await type_text(pilot, " and the river")
        await pilot.resize_terminal(70, 20)
        await pilot.pause()
        editor._line_cache.clear()
        editor.refresh()
        await pilot.pause()
        assert not joins
        wrapped = editor.wrapped_document
        assert wrapped.height == sum(len(offsets) + 1 for offsets in wrapped._wrap_offsets)


async def test_no_worker_is_named_after_the_whole_document(tiny_model_path, monkeypatch):
    """Textual names a worker after the repr() of its arguments unless told otherwise: for the workers that get
    the text (suggestions, autosave, memory) that repr was built on the event loop, once per keystroke."""
    from textual.worker import Worker

    names = []
    original = Worker.__init__

    def recording(self, *args, **kwargs):
        names.append(kwargs.get("description", ""))
        original(self, *args, **kwargs)

    monkeypatch.setattr(Worker, "__init__", recording)
    app = make_app(tiny_model_path, autosave_seconds=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "The quiet house stood by the river")
        await settle(pilot, rounds=5)
    assert names and max(map(len, names)) < 100 and not any("quiet house" in name for name in names)


async def test_a_huge_document_hands_the_model_only_the_end_before_the_cursor(tiny_model_path, tmp_path, monkeypatch):
    """Past the memory's limit the whole text is never joined for a suggestion run: the engine gets the tail and
    its offset, and suggests what it would from the whole text."""
    import charwriter.engine.settings as engine_settings
    import charwriter.screens.write as write_module

    monkeypatch.setattr(engine_settings, "MEMORY_MAX_CHARS", 5_000)
    monkeypatch.setattr(write_module, "TAIL_CHARS", 1_200)  # more than the 1,024 characters the model reads
    document = tmp_path / "huge.txt"
    text = make_text(20_000, seed=4).replace(". ", ".\n")
    document.write_text(text, encoding="utf-8")
    app = make_app(tiny_model_path, file=document, greedy=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        engine, calls = app.writer.engine, []
        original = engine.suggest
        engine.suggest = lambda text=None, cancelled=lambda: False, document=None, offset=0, **options: (
            calls.append((text, document, offset)) or original(text, cancelled, document=document, offset=offset,
                                                                **options))
        alone = Engine(load_model(tiny_model_path), replace(engine.settings, memory=False))
        expected = [s.text for s in alone.suggest(text + " the")]
        await type_text(pilot, " the")
        # the runs for " t" and " th" may still be answering on a busy machine: wait for the last text's answer
        await wait_for(pilot, lambda: [c for c, _ in app.writer.editor.continuations] == expected, 20)
        tail, whole, offset = calls[-1]
        assert whole is None and 1_200 <= len(tail) < 2_000 and offset + len(tail) == len(text) + len(" the")
        assert (text + " the").endswith(tail) and engine.memory is None


async def test_show_both_lists_what_differs_and_keeps_the_choices(tiny_model_path, tmp_path):
    """"Show both" after a change on disk: the lines only on disk and only here, then a choice (Keep mine writes
    ours)."""
    from charwriter.dialogs.compare import CompareScreen

    path = tmp_path / "story.txt"
    lines = [f"Line {i} of the story." for i in range(40)]
    path.write_text("\n".join(lines), encoding="utf-8")
    app = make_app(tiny_model_path, file=path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, " Mine.")
        theirs = lines.copy()
        theirs[5] = "Their fifth line."
        path.write_text("\n".join(theirs), encoding="utf-8")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.click("#compare")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(screen.query_one("#compare-text", Static).content)
        shown = console.export_text()
        assert "Their fifth line." in shown and "Line 5 of the story." in shown
        assert "Line 39 of the story. Mine." in shown and "Line 20 of the story." not in shown
        assert "2 lines only on disk" in str(screen.query_one("#compare-note").render())
        await pilot.click("#overwrite")
        await settle(pilot)
        assert path.read_text(encoding="utf-8") == "\n".join(lines) + " Mine."


def test_compare_versions_lists_changes_with_their_context():
    from charwriter.documents import compare_versions

    disk = "\n".join(f"line {i}" for i in range(30))
    ours = disk.replace("line 10", "line ten").replace("line 25\n", "")
    got = [(c.kind, c.number, c.text) for c in compare_versions(disk, ours)]
    assert got[:6] == [("…", 1, "8 lines the same"), (" ", 9, "line 8"), (" ", 10, "line 9"), ("-", 11, "line 10"),
                       ("+", 11, "line ten"), (" ", 12, "line 11")]
    assert ("-", 26, "line 25") in got and got[-1] == ("…", 28, "2 lines the same")
    assert [c.kind for c in compare_versions(disk, disk + "\n")] == ["…"]  # only the line end differs
    assert compare_versions("a\n" * 30_000, "b\n" * 30_000) is None  # too much to list


async def test_the_status_line_counts_words_and_the_selection_and_drops_fields_when_narrow(tiny_model_path, tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("One two three.\nFour five", encoding="utf-8")
    app = make_app(tiny_model_path, file=path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = app.writer.status
        await wait_for(pilot, lambda: status.counts == (5, 23))  # the count waits for a pause in typing
        assert "5 words · 23 chars" in str(status.render())
        await pilot.press("shift+left", "shift+left", "shift+left", "shift+left")
        await settle(pilot)
        assert "selected: 1 word · 4 chars" in str(status.render())
        await type_text(pilot, "sixty")
        await wait_for(pilot, lambda: status.counts == (5, 24))
        assert status.selection_counts is None  # "five" was replaced by "sixty"
    async with make_app(tiny_model_path, file=path).run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        shown = str(pilot.app.writer.status.render())
        assert shown.startswith("story.txt") and "model " in shown and "context" not in shown  # the least first
        assert len(shown) <= pilot.app.writer.status.size.width


async def test_the_footer_shows_quit_and_help_first_and_the_palette_has_one_keys_entry(tiny_model_path):
    from textual.widgets._footer import FooterKey

    app = make_app(tiny_model_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        keys = [key.action for key in app.screen.query(FooterKey)]
        assert keys[:2] == ["quit", "help"], keys
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Keys and help" in titles and "Keys" not in titles


async def test_new_document_focus_mode_and_save_as_keys(tiny_model_path, tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("Saved text.", encoding="utf-8")
    app = make_app(tiny_model_path, file=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        writer = app.writer
        await pilot.press("f4")  # focus mode: the editor takes the whole width
        await pilot.pause()
        assert not writer.pane.display and writer.editor.size.width > 70
        await pilot.press("f4")
        await pilot.pause()
        assert writer.pane.display
        await pilot.press("f12")
        await pilot.pause()
        assert isinstance(app.screen, PathPrompt)
        await pilot.press("escape")
        await type_text(pilot, " More.")
        await pilot.press("ctrl+n")  # unsaved changes: asked first
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.click("#cancel")
        await settle(pilot)
        assert writer.editor.text == "Saved text. More." and writer.document_path == path
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.click("#discard")
        await settle(pilot)
        assert writer.editor.text == "" and writer.document_path is None and writer.status.document == "untitled"
        assert path.read_text(encoding="utf-8") == "Saved text."
        titles = {command.title for command in app.get_system_commands(writer)}
        assert {"Save as…", "New document", "Focus mode"} <= titles


async def open_find_bar(pilot):
    """Settle, put the cursor at the start, press Ctrl+F: -> (editor, find bar)."""
    from charwriter.widgets.find_bar import FindBar

    await settle(pilot)
    editor = pilot.app.writer.editor
    editor.move_cursor((0, 0))
    await pilot.press("ctrl+f")
    return editor, pilot.app.screen.query_one(FindBar)


async def test_find_selects_matches_case_insensitively_and_wraps_around(tiny_model_path, tmp_path):
    from charwriter.widgets.find_bar import find_matches

    assert find_matches("Straße STRASSE straße", "strasse") == [7]  # no lower() tricks: offsets stay true
    assert find_matches("Straße STRASSE straße", "straße") == [0, 15]
    path = tmp_path / "story.txt"
    path.write_text("The mill.\nAn old MILL by the water.\nThe mill again.", encoding="utf-8")
    app = make_app(tiny_model_path, file=path)
    async with app.run_test(size=(80, 24)) as pilot:
        editor, bar = await open_find_bar(pilot)
        assert bar.display and bar.input.has_focus
        await type_text(pilot, "mill")
        await pilot.press("enter")
        await pilot.pause()
        assert editor.selected_text == "mill" and editor.selection.start == (0, 4)
        assert "1 of 3" in str(bar.query_one("#find-status").render())
        await pilot.press("enter")
        await pilot.pause()
        assert editor.selected_text == "MILL" and editor.selection.start[0] == 1  # case-insensitive
        await pilot.press("up")
        await pilot.pause()
        assert editor.selection.start == (0, 4)
        await pilot.press("up")  # wraps to the last
        await pilot.pause()
        assert editor.selection.start[0] == 2
        await pilot.press("alt+c")  # case-sensitive now: "mill" only
        await pilot.pause()
        assert "of 2" in str(bar.query_one("#find-status").render())
        await pilot.press("escape")
        await pilot.pause()
        # Closed: the cursor after the match, nothing selected (keys typed next must not replace it).
        assert not bar.display and editor.has_focus and not editor.selected_text
        assert editor.get_text_range((0, 0), editor.cursor_location).endswith("mill")
        await pilot.press("ctrl+f")
        await pilot.press("ctrl+a", *"zebra", "enter")
        await pilot.pause()
        assert "not found" in str(bar.query_one("#find-status").render())


async def test_open_lists_recent_documents_and_completes_paths(tiny_model_path, tmp_path):
    first, second = tmp_path / "first.txt", tmp_path / "second-story.txt"
    first.write_text("One.", encoding="utf-8")
    second.write_text("Two.", encoding="utf-8")
    app = make_app(tiny_model_path, file=first)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        writer = app.writer
        assert writer.open(second)
        await settle(pilot)
        assert writer.settings.recent[:2] == [str(second.resolve()), str(first.resolve())]
        await pilot.press("ctrl+o")
        await settle(pilot)
        prompt = app.screen
        # The open document (second) is not offered: the newest recent one is the document before it.
        assert isinstance(prompt, PathPrompt) and prompt.recent[0] == writer.settings.recent[1] == str(first.resolve())
        field = prompt.query_one(Input)
        field.value = str(tmp_path / "sec")
        await wait_for(pilot, lambda: field._suggestion == str(second))  # the grey completion, taken with →
        await pilot.press("right")  # → at the end of the input accepts it
        await pilot.pause()
        assert field.value == str(second)
        field.value = ""
        await pilot.press("down")  # from the path field to the recent documents, the newest highlighted
        await pilot.pause()
        assert prompt.query_one("#recent").has_focus
        await pilot.press("enter")  # first.txt
        await settle(pilot)
        assert writer.document_path == first.resolve() or writer.document_path == first
        assert writer.editor.text == "One."


async def test_replace_one_match_then_all(tiny_model_path, tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("The mill. An old Mill. The mill again.", encoding="utf-8")
    app = make_app(tiny_model_path, file=path)
    async with app.run_test(size=(80, 24)) as pilot:
        editor, bar = await open_find_bar(pilot)
        await type_text(pilot, "mill")
        await pilot.press("enter")  # selects the first
        bar.query_one("#replace-input", Input).focus()
        await type_text(pilot, "barn")
        await pilot.press("enter")  # replaces it, then selects the next
        await pilot.pause()
        assert editor.text == "The barn. An old Mill. The mill again." and editor.selected_text == "Mill"
        await pilot.press("alt+a")
        await pilot.pause()
        assert editor.text == "The barn. An old barn. The barn again."
        assert "replaced 2" in str(bar.query_one("#find-status").render())
        await pilot.press("escape")
        await pilot.press("ctrl+z")  # undo works on the replacements like any edit
        await pilot.pause()
        assert "mill" in editor.text.lower()


async def test_a_long_document_gets_quick_first_suggestions_then_the_whole_window(tiny_model_path, tmp_path,
                                                                                   monkeypatch):
    """Reading a 1,024-character window takes most of a second at 512×2: the first run after the model loads reads
    only the last characters, and the whole window is read right after it."""
    path = tmp_path / "long.txt"
    path.write_text(make_text(5_000), encoding="utf-8")
    quick_runs = []
    original = Engine.suggest

    def recorded(self, text=None, cancelled=lambda: False, quick=False, **options):
        quick_runs.append(quick)
        return original(self, text, cancelled, quick=quick, **options)

    monkeypatch.setattr(Engine, "suggest", recorded)  # before the app starts: its first run is the one to see
    app = make_app(tiny_model_path, file=path)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(100):
            await pilot.pause(0.02)
            if app.writer.engine is not None:
                break
        await settle(pilot, rounds=6)
        engine = app.writer.engine
        assert quick_runs[:2] == [True, False]
        assert app.writer.status.context > 5 * engine.settings.quick_chars  # the whole window, in the end
        assert app.writer.editor.continuations

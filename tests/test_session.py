"""The UI-free writing session (charwriter.session): held to the engine called directly, stale work stopped, the
memory built off the caller's thread, settings changes, adaptation, and no Textual on import."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from charwriter.errors import UserError
from charwriter.lm.rules import PARTIAL_WORD
from charwriter.session import Models, WritingSession, engine_settings
from charwriter.settings import Settings
from conftest import make_text, writers_text


def settings_for(model, **changes) -> Settings:
    return Settings(**{"model": str(model), "precision": "fp32", "adapt": False, "grey_floor": 0.0} | changes)


def session_for(model, **changes) -> WritingSession:
    session = WritingSession(settings_for(model, **changes), threads=1)
    session.load_model()
    return session


def wait_until(condition, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_importing_the_session_imports_neither_textual_nor_torch():
    code = "import sys, charwriter.session; print('textual' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_typing_through_the_session_suggests_what_the_engine_suggests(tiny_model_path):
    """Keystrokes as edits (typing, a deletion, an edit in the middle) give the engine's own answers for the text."""
    from charwriter.engine import Engine

    session = session_for(tiny_model_path)
    engine = Engine.from_path(tiny_model_path, engine_settings(session.settings, 1))
    text = make_text(3_000, seed=4)
    session.set_text(text[:2_000])
    steps = [(2_000 + i, 2_000 + i, text[2_000 + i]) for i in range(40)] + [(2_038, 2_040, ""), (100, 105, "river")]
    for i, (start, end, typed) in enumerate(steps):
        session.apply_change(start, end, typed)
        cursor = start + len(typed)
        got = session.suggest(cursor)
        # the first answer after opening reads only the end of the context, as the app's does
        want = engine.suggest(session.text[:cursor], document=session.text, quick=i == 0)
        assert [(c.text, c.confidence) for c in got.continuations] == [(s.text, s.mean_logprob) for s in want]
        assert got.grey == want[0].text
    assert session.text == text[:2_038][:100] + "river" + text[:2_038][105:]


def test_an_edit_stops_the_answer_under_way_and_a_cancelled_one_gives_none(tiny_model_path):
    session = session_for(tiny_model_path)
    session.set_text(make_text(1_500))
    edits = []

    def typing_meanwhile() -> bool:  # the engine polls this between steps: the writer types on
        if not edits:
            edits.append(1)
            session.apply_change(1_500, 1_500, "x")
        return False

    assert session.suggest(1_500, cancelled=typing_meanwhile) is None
    assert session.suggest(1_500, cancelled=lambda: True) is None
    answer = session.suggest(1_501)
    assert answer is not None and answer.grey


def test_an_editors_lines_and_a_huge_documents_tail_give_the_engines_answers(tiny_model_path, monkeypatch):
    """The screen hands over its line list (joined off its thread) or, for a document too big for the memory, only
    the text before the cursor: the answers are the engine's own for the same text."""
    import charwriter.engine as engine_module
    from charwriter.engine import Engine

    session = session_for(tiny_model_path)
    engine = Engine.from_path(tiny_model_path, engine_settings(session.settings, 1))
    text = make_text(3_000, seed=6)
    lines = text.split("\n")
    session.set_lines(lines, "\n", len(text))
    got = session.suggest(2_000, guesses=True)
    want = engine.suggest(text[:2_000], document=text, quick=True)
    assert [(c.text, c.confidence) for c in got.continuations] == [(s.text, s.mean_logprob) for s in want]
    assert got.quick and got.guesses and session.text == text
    monkeypatch.setattr(engine_module, "MEMORY_MAX_CHARS", 1_000)  # a "huge" document: the tail is all it reads
    tail_start = 2_400
    session.set_lines(lines, "\n", len(text), tail=(text[tail_start:2_900], tail_start))
    got = session.suggest(0)
    fresh = Engine.from_path(tiny_model_path, engine_settings(session.settings, 1))
    want = fresh.suggest(text[tail_start:2_900], offset=tail_start)
    assert [(c.text, c.confidence) for c in got.continuations] == [(s.text, s.mean_logprob) for s in want]
    assert got.typed == PARTIAL_WORD.search(text[2_900 - 64 : 2_900]).group(0)


def test_the_word_begun_is_told_and_positions_are_clamped(tiny_model_path):
    session = session_for(tiny_model_path)
    session.set_text("She walked along the wat")
    answer = session.suggest(10_000)  # past the end: the end
    assert answer.typed == "wat"
    session.apply_change(-5, 3, "He")  # clamped to 0:3
    assert session.text.startswith("He walked")


def test_a_big_document_gets_its_memory_built_off_the_callers_thread(tiny_model_path):
    from charwriter.lm.memory import FOLD_CHARS

    session = session_for(tiny_model_path)
    document = make_text(FOLD_CHARS + 10_000, seed=2)
    session.set_text(document)
    session.suggest(len(document))
    assert session.engine.memory_pending is not None  # too big to build during a keystroke
    wait_until(lambda: not session.memory_building)
    session.apply_change(len(document), len(document), " ")
    session.suggest(len(document) + 1)
    assert session.engine.memory_pending is None and session.engine.memory.text == document + " "


def test_an_opened_document_is_taken_into_the_memory_when_the_model_loads(tiny_model_path):
    from charwriter.lm.memory import FOLD_CHARS

    small, big = (WritingSession(settings_for(tiny_model_path), threads=1) for _ in range(2))
    small.set_text(make_text(2_000))
    big.set_text(make_text(FOLD_CHARS + 5_000, seed=3))
    small.load_model()
    big.load_model()
    assert small.engine.memory.text == small.text  # built at once
    assert big.memory_building or big.engine.memory.text == big.text  # built off this thread, before any request
    wait_until(lambda: not big.memory_building)
    assert big.engine.memory.text == big.text


def test_settings_changes_apply_and_a_bad_model_keeps_the_one_in_use(tiny_model_path, tmp_path):
    session = session_for(tiny_model_path)
    session.set_text(make_text(800))
    engine = session.engine
    session.configure(settings_for(tiny_model_path, suggestions=1, memory=False))
    assert session.engine is engine and engine.settings.k == 1 and not engine.settings.memory
    assert len(session.suggest(800).continuations) == 1
    with pytest.raises(UserError, match="model not found"):
        session.configure(settings_for(tmp_path / "missing.safetensors", suggestions=2))
    assert session.engine is engine and session.settings.model == str(tiny_model_path)
    assert engine.settings.k == 1  # the engine was not touched by the refused change


def test_settings_from_a_client_are_checked_one_line_each():
    updated, problems = Settings().updated({"suggestions": 3, "max_length": "long", "temperture": 1.0,
                                            "precision": "fp64", "memory": False})
    assert (updated.suggestions, updated.max_length, updated.memory, updated.precision) == (3, 48, False, "auto")
    assert len(problems) == 3 and all("\n" not in p for p in problems)
    assert any("'temperture'" in p and "temperature" in p for p in problems)
    assert any("'max_length'" in p and "from 1 to 500" in p for p in problems)


def test_models_are_read_once_for_every_document(tiny_model_path):
    models = Models()
    first, second = (WritingSession(settings_for(tiny_model_path), models=models, threads=1) for _ in range(2))
    first.load_model()
    second.load_model()
    assert first.engine is not second.engine and first.engine.loaded is second.engine.loaded


def test_adapting_swaps_the_engine_in_the_background_and_closing_frees_it(tiny_model_path):
    reports = []
    session = WritingSession(settings_for(tiny_model_path, adapt=True), threads=1,
                             report=lambda level, line: reports.append((level, line)))
    session.load_model()
    session.set_text(writers_text(25_000))
    session.suggest(25_000)
    wait_until(lambda: not session.adaptation.running, 180)
    assert session.adapted, reports
    assert reports and reports[-1][0] == "info" and "adapted" in reports[-1][1]
    assert session.suggest(25_000) is not None
    session.configure(settings_for(tiny_model_path, adapt=False))
    assert not session.adapted  # switched off: the model as trained again
    session.close()
    assert session.engine is None and session.text == "" and session.suggest(0) is None

"""Adapting the model to the writer's document: it learns a style the model never saw, it is dropped when it does
not help, the engine's suggestions with the new weights are those of a fresh engine, and the app runs it in the
background and tells the writer."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from charwriter.engine import Engine, EngineSettings
from charwriter.lm import adapt as adapt_module
from charwriter.lm.adapt import adapt, adaptable
from charwriter.lm.checkpoint import load_model
from conftest import wait_for, writers_text


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    return load_model(tiny_model_path)


def test_adapting_learns_the_documents_style_and_leaves_the_model_as_loaded(tiny, tiny_model_path):
    torch.manual_seed(0)
    result = adapt(tiny, writers_text(30_000))
    assert result.kept and result.after < result.before - 0.2, result.summary()
    assert result.steps > 0 and result.chars == 30_000
    on_disk = load_model(tiny_model_path).model.state_dict()
    assert all(torch.equal(t, on_disk[name]) for name, t in tiny.model.state_dict().items())  # a copy learned
    assert any(not torch.equal(a, b) for a, b in zip(tiny.model.parameters(), result.model.parameters()))


def test_weights_that_do_not_predict_the_held_out_tail_better_are_dropped(tiny):
    result = adapt(tiny, writers_text(30_000), lr=0.0)  # unchanged weights: no better than before
    assert not result.kept and result.model is None
    assert result.after == pytest.approx(result.before)


def test_adapting_can_be_cancelled_and_short_documents_are_not_adapted(tiny):
    assert adapt(tiny, writers_text(30_000), cancelled=lambda: True) is None
    assert not adaptable("x" * (adapt_module.MIN_CHARS - 1)) and adaptable("x" * adapt_module.MIN_CHARS)


def test_an_engine_with_new_weights_suggests_as_a_fresh_engine_and_keeps_the_memory(tiny):
    document = writers_text(30_000)
    adapted = adapt(tiny, document).model
    settings = EngineSettings(precision="fp32", seed=0)
    old = Engine(tiny, settings)
    old.suggest(document)  # its cached states were read with the old weights
    new = old.with_weights(adapted, {"before": 1.0})
    fresh = Engine(tiny, settings).with_weights(adapted)
    assert new.memory is old.memory
    assert [s.text for s in new.suggest(document + " Ma")] == [s.text for s in fresh.suggest(document + " Ma")]
    assert new.loaded.training["adapted"] == {"before": 1.0} and new.name == old.name
    assert not torch.equal(new.logits, old.logits)


def test_the_adapting_process_reads_stdin_reports_steps_and_writes_a_model_file(tiny_model_path, tmp_path):
    out = tmp_path / "adapted.safetensors"
    done = subprocess.run([sys.executable, "-m", "charwriter.lm.adapt", str(tiny_model_path), str(out), "--nice", "0"],
                          input=writers_text(25_000).encode(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert lines[0] == {"step": 1, "total": lines[-2]["total"]} and lines[-1]["done"]["kept"]
    loaded = load_model(out)  # a model file like any other: validated on loading
    assert loaded.training["adapted"]["after"] < loaded.training["adapted"]["before"]


def app_with_document(model_path, tmp_path, text: str):
    """The app with adapting on (the default), opening a document of `text`."""
    from charwriter.app import CharwriterApp
    from charwriter.settings import Settings

    document = tmp_path / "novel.txt"
    document.write_text(text, encoding="utf-8")
    return CharwriterApp(file=str(document), model=str(model_path), settings=Settings(greedy=True, precision="fp32"))


async def test_the_app_adapts_to_a_long_document_in_the_background_and_lets_it_go_for_another(tiny_model_path,
                                                                                            tmp_path):
    app = app_with_document(tiny_model_path, tmp_path, writers_text(25_000))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.writer
        # the session swaps the engine on its own thread, then tells the screen: the note comes last
        await wait_for(pilot, lambda: screen.pane.border_subtitle == "memory on · adapted")
        summary = screen.engine.loaded.training["adapted"]
        assert summary["after"] < summary["before"] and screen.session.adaptation.job is None
        # notify() posts a message: the notification may land a moment after the swap
        await wait_for(pilot, lambda: any("follow this document's style" in n.message for n in app._notifications))
        adapted = screen.engine
        screen.new_document()  # another document: the model's own weights again
        await wait_for(pilot, lambda: screen.engine is not adapted)
        assert "adapted" not in screen.engine.loaded.training
        assert screen.engine.loaded.model is screen.session.adaptation.base_weights
        assert screen.engine.memory is adapted.memory


async def test_switching_adapting_off_stops_the_process_and_keeps_the_model_as_trained(tiny_model_path, tmp_path):
    from charwriter.settings import Settings

    app = app_with_document(tiny_model_path, tmp_path, writers_text(25_000))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.writer
        await wait_for(pilot, lambda: screen.session.adaptation.job is not None)
        job = screen.session.adaptation.job
        engine = screen.engine
        screen.action_toggle_adapt()
        await wait_for(pilot, lambda: job.process.poll() is not None, 10)
        await pilot.pause(0.5)
        assert screen.engine is engine and "adapted" not in engine.loaded.training
        assert not Settings.load().adapt and screen.pane.border_subtitle == "document memory on"


def test_adapting_twice_gives_the_same_weights_and_leaves_the_callers_generator_alone(tiny):
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = adapt(tiny, writers_text(22_000))
    assert torch.equal(torch.rand(1), expected_next)
    second = adapt(tiny, writers_text(22_000))
    assert first.after == second.after
    assert all(torch.equal(a, b) for a, b in zip(first.model.parameters(), second.model.parameters()))


def test_a_document_the_model_cannot_read_gets_one_line_from_the_process_and_a_notification(tiny_model_path,
                                                                                              tmp_path):
    out = tmp_path / "adapted.safetensors"
    done = subprocess.run([sys.executable, "-m", "charwriter.lm.adapt", str(tiny_model_path), str(out), "--nice", "0"],
                          input=(("字" * 20 + "the ") * 1_250).encode(), capture_output=True, timeout=120)
    err = done.stderr.decode().strip()
    assert done.returncode == 2 and len(err.splitlines()) == 1 and "too few to adapt" in err and not out.exists()


async def test_the_app_says_why_it_could_not_adapt(tiny_model_path, tmp_path):
    app = app_with_document(tiny_model_path, tmp_path, "字" * 25_000)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.writer
        await wait_for(pilot, lambda: any("Could not adapt" in n.message for n in app._notifications))
        message = next(n.message for n in app._notifications if "Could not adapt" in n.message)
        assert "model's alphabet" in message and "Traceback" not in message
        assert screen.pane.border_subtitle.endswith("not adapted") and not screen.session.adaptation.running


async def test_no_adapting_while_a_model_trains_on_the_same_cores(tiny_model_path, tmp_path, monkeypatch):
    from charwriter.run_service import RunService

    monkeypatch.setattr(RunService, "active", property(lambda self: True))
    app = app_with_document(tiny_model_path, tmp_path, writers_text(25_000))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.writer
        await wait_for(pilot, lambda: screen.engine is not None and screen.status.latency_ms is not None)
        await pilot.pause(1.0)
        assert screen.session.adaptation.job is None and not screen.session.adaptation.running

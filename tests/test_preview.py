"""The first grey text before torch has loaded (charwriter.lm.preview): the model file read with numpy computes what
nn.LSTM and nn.GRU compute, writes the engine's own greedy ghost text, and the app shows it until the engine's
suggestions come."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from charwriter.engine import Engine, EngineSettings
from charwriter.lm.checkpoint import load_model, save_model
from charwriter.lm.model import CharRNN, ModelConfig
from charwriter.lm.preview import CONTEXT, Preview
from conftest import make_text, wait_for


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("storage", ["fp32", "fp16"])
def test_the_preview_computes_what_the_torch_model_computes(tmp_path, cell, storage):
    torch.manual_seed(3)
    vocab = list(" abcdefgh.\n")
    model = CharRNN(ModelConfig(vocab_size=len(vocab), hidden_size=24, num_layers=3, cell=cell)).eval()
    path = tmp_path / "m.safetensors"
    save_model(path, model, vocab, storage=storage)
    loaded, preview = load_model(path), Preview.load(path)  # both compute in fp32 from the stored weights
    codes = [vocab.index(c) for c in "\nabc dead beef. a"]
    with torch.no_grad():
        expected = loaded.model(torch.tensor([codes]))[0][0, -1].numpy()
    logits, _ = preview.read(codes)
    assert np.allclose(logits, expected, atol=1e-4), np.abs(logits - expected).max()


@pytest.mark.parametrize("grey_floor", [0.0, 0.2])
def test_the_preview_writes_the_engines_greedy_ghost_text(tiny_model_path, grey_floor):
    """Over many contexts (as long as the preview reads), the same text as the engine's greedy first row: the same
    rules, so never inside a word, no unprinted character, no loop; and none where the engine would draw none."""
    loaded = load_model(tiny_model_path)
    engine = Engine(loaded, EngineSettings(k=1, ghost="greedy", greedy=True, memory=False, precision="fp32",
                                           ghost_floor=grey_floor))
    preview = Preview.load(tiny_model_path)
    text = make_text(6000, seed=11)
    compared = undrawn = 0
    for start in range(0, 5800, 193):
        context = text[start : start + 20 + start % CONTEXT]
        out = engine.suggest(context)
        mine, _ = preview.suggest(context, grey_floor=grey_floor)
        assert mine == (out[0].text if out and out[0].inline else ""), context
        compared += bool(mine)
        undrawn += bool(out) and not out[0].inline
    assert compared > (5 if grey_floor else 20)
    assert bool(undrawn) == bool(grey_floor)


def test_a_file_the_preview_cannot_hold_is_refused_in_one_line(tiny_model_path, tmp_path):
    from charwriter.errors import ModelFileError

    half = tmp_path / "bf16.safetensors"
    save_model(half, load_model(tiny_model_path).model, load_model(tiny_model_path).vocab, storage="bf16")
    with pytest.raises(ModelFileError, match="bf16"):
        Preview.load(half)
    fifo = tmp_path / "fifo.safetensors"
    import os

    os.mkfifo(fifo)
    with pytest.raises(ModelFileError):  # refused before it is opened: a FIFO would block
        Preview.load(fifo)


async def test_the_app_shows_the_previews_grey_text_until_the_engine_has_loaded(tiny_model_path, tmp_path,
                                                                                 monkeypatch):
    import charwriter.session as session
    from test_app_write import make_app

    monkeypatch.setattr(session, "torch_imported", lambda: False)  # as at a launch: torch still to import
    release = threading.Event()
    real = Engine.from_path
    monkeypatch.setattr(Engine, "from_path", classmethod(lambda cls, *a, **k: release.wait(30) and real(*a, **k)))
    story = tmp_path / "story.txt"
    story.write_text(make_text(300, seed=2) + " The", encoding="utf-8")
    app = make_app(tiny_model_path, story)
    async with app.run_test(size=(100, 30)) as pilot:
        writer = app.writer
        await wait_for(pilot, lambda: writer.editor.continuations, 30)
        assert writer.engine is None and "first guess" in str(writer.pane.border_title)
        expected, _ = Preview.load(tiny_model_path).suggest(writer.editor.tail_before_cursor(2 * CONTEXT)[0])
        assert writer.editor.continuations[0][0] == expected and len(writer.editor.continuations) == 1
        await pilot.press("f8")  # the inside views wait for the engine, and say so (not "pick a model")
        await pilot.pause()
        assert any("still loading: press F8 again" in str(n.message) for n in app._notifications)
        release.set()
        # the engine's first run replaces the preview's text and the pane's title
        await wait_for(pilot, lambda: writer.engine is not None and "first guess" not in str(writer.pane.border_title),
                       30)

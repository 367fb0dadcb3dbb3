"""`charwriter inspect`: the surprise view, the cell view and the cell finder, on tiny seeded models."""

from __future__ import annotations

import json
import random

import pytest
import torch

from charwriter.__main__ import main
from charwriter.lm.checkpoint import load_model
from charwriter.lm.data import Corpus, Streams, encode
from charwriter.lm.inspect import features, find_cells, parse_cell, read_text_through, surprise_level
from charwriter.lm.train import TrainConfig, Trainer, evaluate

from conftest import make_text


def test_the_views_losses_are_evals_on_the_same_text(tiny_model_path):
    loaded = load_model(tiny_model_path)
    text = make_text(3000)
    reading = read_text_through(loaded.model, loaded.vocab, text)
    assert reading.text == text and reading.logp.shape == (len(text),)
    # eval's own function, one stream from the zero state, fed the new line the view starts from
    data = encode("\n" + text, loaded.vocab)
    expected = evaluate(loaded.model, Streams(data, 1, len(text)))
    assert reading.loss == pytest.approx(expected, abs=1e-4)
    assert all(len(guesses) == 5 and guesses[0][1] >= guesses[-1][1] for guesses in reading.top)
    assert reading.cells.shape == (len(text), 2, 32) and reading.cells.abs().max() <= 1


def test_surprise_levels_and_features():
    assert [surprise_level(b) for b in (0.2, 1.5, 4.0, 9.0)] == [0, 1, 2, 3]
    f = features('He said "yes." Then\nhe')
    assert f["inside double quotes"].tolist()[7:14] == [0.0] + [1.0] * 5 + [0.0]  # the opening quote is inside
    assert f["position in the line"][-1] == 2 and f["after a sentence end"][15] == 1
    with pytest.raises(ValueError, match="layers 1 to 2 and cells 0 to 31"):
        parse_cell("3:0", 2, 32)
    assert parse_cell("2:5", 2, 32) == (1, 5)


def quoted_text(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = "the house river morning walked said she he it was and of to a in".split()
    parts = []
    while sum(map(len, parts)) < n:
        parts.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))))
        # Said in capitals: every word's first letter needs to know whether a quote is open, words away.
        parts.append('"' + " ".join(rng.choice(words).upper() for _ in range(rng.randint(3, 9))) + '"')
    return " ".join(parts)


def test_the_cell_finder_finds_a_cell_that_tracks_quotes(tmp_path):
    """A tiny LSTM trained on text full of quoted speech, said in capitals: the finder's best cell for quotes tracks
    them (the correlation it found is shown on failure; no fixed cell index)."""
    torch.manual_seed(0)
    corpus = Corpus.from_text(quoted_text(30_000), name="quotes.txt")
    config = TrainConfig(hidden_size=32, num_layers=1, dropout=0.0, batch_size=16, seq_len=64, epochs=10, lr=1e-2,
                         eval_every=0, seed=0, sample_length=10)
    Trainer(corpus, config, tmp_path / "run").run()
    loaded = load_model(tmp_path / "run" / "best.safetensors")
    reading = read_text_through(loaded.model, loaded.vocab, quoted_text(3000, seed=1))
    quotes = [f for f in find_cells(reading) if f.feature == "inside double quotes"]
    assert abs(quotes[0].r) >= 0.6, quotes


def test_inspect_prints_the_views_json_and_html(tiny_model_path, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(make_text(800), encoding="utf-8")
    assert main(["inspect", str(text), "--model", str(tiny_model_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    reading = read_text_through(load_model(tiny_model_path).model, load_model(tiny_model_path).vocab, make_text(800))
    assert data["loss"] == pytest.approx(reading.loss, abs=1e-4) and len(data["chars"]) == 800
    assert set(data["chars"][0]) == {"char", "logp", "bits", "top"}
    page = tmp_path / "view.html"
    assert main(["inspect", str(text), "--model", str(tiny_model_path), "--cell", "1:3", "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "cell 1:3" in out and "nats/char" in out
    html = page.read_text(encoding="utf-8")
    assert "<span" in html and "<script" not in html and "http" not in html.split("<body")[1]  # nothing to fetch
    assert main(["inspect", str(text), "--model", str(tiny_model_path), "--find"]) == 0
    assert "inside a word" in capsys.readouterr().out
    assert main(["inspect", str(text), "--model", str(tiny_model_path), "--cell", "9:0"]) == 2
    assert "this model has layers 1 to 2" in capsys.readouterr().err


def test_the_editors_blocks_read_each_block_after_its_warmup_as_nn_lstm_does(tiny_model_path):
    from charwriter.engine import Engine, EngineSettings
    from charwriter.lm.inspect import BLOCK, WARMUP, Unit

    loaded = load_model(tiny_model_path)
    engine = Engine(loaded, EngineSettings(precision="fp32"))
    text = make_text(1000, seed=3) + " naïve œuvre ☃"  # a look-alike, a character of two codes, one skipped
    blocks = [0, 2, len(text) // BLOCK]
    unit = Unit(1, 7, "cell")
    got = engine.read_blocks(text, blocks, unit)
    for b in blocks:
        lo, hi = b * BLOCK, min(len(text), (b + 1) * BLOCK)
        start = max(0, lo - WARMUP)
        codes, owner = [], []
        for i in range(start, hi):
            c = engine.encode(text[i])
            codes += c
            owner += [i] * len(c)
        x = torch.tensor([[engine.encode("\n")[0]] + codes])
        with torch.no_grad():
            logits, _ = loaded.model.eval()(x)
        logp = torch.log_softmax(logits[0, :-1], -1)[torch.arange(len(codes)), torch.tensor(codes)]
        expected = [0.0] * (hi - lo)
        scored = [False] * (hi - lo)
        for j, i in enumerate(owner):
            if i >= lo:
                expected[i - lo] += float(logp[j])
                scored[i - lo] = True
        values, acts = got[b]
        assert len(values) == hi - lo and len(acts) == hi - lo
        for v, e, s in zip(values, expected, scored):
            assert (v == pytest.approx(e, abs=1e-4)) if s else v != v  # NaN: a character the model skips
    last_values, last_acts = got[blocks[-1]]
    assert last_values[-1] != last_values[-1] and all(-1 <= a <= 1 for a in last_acts if a == a)


@pytest.mark.parametrize("kind", ["cell", "hidden"])
def test_the_editors_cell_view_is_the_units_state_after_each_character(tiny_model_path, kind):
    from charwriter.engine import Engine, EngineSettings
    from charwriter.lm.fast import FastRNN
    from charwriter.lm.inspect import BLOCK, Unit

    loaded = load_model(tiny_model_path)
    engine = Engine(loaded, EngineSettings(precision="fp32"))
    text = make_text(400, seed=8)
    for layer in (0, 1):
        unit = Unit(layer, 11, kind)
        _, acts = engine.read_blocks(text, [1], unit)[1]  # block 1: read after the 128 characters of block 0
        fast = FastRNN(loaded.model.eval())
        with torch.no_grad():
            _, state = fast.step(torch.tensor([engine.encode("\n")[0]]), fast.init_state(1))
            expected = []
            for i, code in enumerate(engine.encode(text[: 2 * BLOCK])):
                _, state = fast.step(torch.tensor([code]), state)
                h, c = state
                value = torch.tanh(c[layer, 0, 11]) if kind == "cell" else h[layer, 0, 11]
                expected.append(float(value))
        assert acts == pytest.approx(expected[BLOCK:], abs=1e-4)


def test_the_editors_blocks_read_a_gru_too():
    from charwriter.engine import Engine, EngineSettings
    from charwriter.lm.checkpoint import LoadedModel
    from charwriter.lm.inspect import BLOCK, WARMUP, Unit
    from charwriter.lm.model import CharRNN, ModelConfig

    torch.manual_seed(0)
    vocab = sorted(set(make_text(2000)) | {"\n"})
    model = CharRNN(ModelConfig(vocab_size=len(vocab), hidden_size=16, num_layers=2, cell="gru")).eval()
    engine = Engine(LoadedModel(model, vocab, model.config), EngineSettings(precision="fp32"))
    text = make_text(600, seed=2)
    values, acts = engine.read_blocks(text, [2], Unit(1, 3, "hidden"))[2]
    codes = engine.encode(text[2 * BLOCK - WARMUP : 3 * BLOCK])
    with torch.no_grad():
        x = torch.tensor([[engine.encode("\n")[0]] + codes])
        logits, _ = model(x)
        out, _ = model.rnn(torch.nn.functional.one_hot(x, len(vocab)).float())
    logp = torch.log_softmax(logits[0, :-1], -1)[torch.arange(len(codes)), torch.tensor(codes)]
    assert values == pytest.approx(logp[WARMUP:].tolist(), abs=1e-4)
    assert acts == pytest.approx(out[0, 1 + WARMUP :, 3].tolist(), abs=1e-4)


def test_the_editors_losses_are_evals_where_its_blocks_read_from_the_start(tiny_model_path):
    """Blocks read from the text's start (the first BLOCK + WARMUP characters) see what eval's one stream sees."""
    from charwriter.engine import Engine, EngineSettings
    from charwriter.lm.inspect import BLOCK, WARMUP

    loaded = load_model(tiny_model_path)
    engine = Engine(loaded, EngineSettings(precision="fp32"))
    text = make_text(BLOCK + WARMUP, seed=9)
    got = engine.read_blocks(text, [0, 1])
    values = got[0][0] + got[1][0]
    expected = evaluate(loaded.model, Streams(encode("\n" + text, loaded.vocab), 1, len(text)))
    assert -sum(values) / len(values) == pytest.approx(expected, abs=1e-4)


def test_inspect_shows_the_writers_own_characters_and_refuses_json_with_html(tiny_model_path, tmp_path, capsys):
    """Curly quotes and a dash are shown as typed, not as the model's stand-ins (or gaps); --json with --html is
    refused in one line (it wrote no page and said nothing)."""
    from charwriter.__main__ import main

    text = tmp_path / "draft.txt"
    text.write_text("She said “the river”—and walked.", encoding="utf-8")
    assert main(["inspect", str(text), "--model", str(tiny_model_path)]) == 0
    assert "She said “the river”—and walked." in capsys.readouterr().out
    page = tmp_path / "out.html"
    assert main(["inspect", str(text), "--model", str(tiny_model_path), "--html", str(page), "--json"]) == 2
    err = capsys.readouterr().err
    assert "--json" in err and "--html" in err and len(err.strip().splitlines()) == 1 and not page.exists()

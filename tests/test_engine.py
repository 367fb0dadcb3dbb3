"""The suggestion engine: incremental state equals a full recompute, the fast step equals nn.LSTM/nn.GRU, the
unknown-character policy, the context cap, and the shape of the suggestions."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from charwriter.engine import Engine, EngineSettings, common_prefix_length
from charwriter.lm.checkpoint import LoadedModel, load_model
from charwriter.lm.fast import FastRNN
from charwriter.lm.model import CharRNN, ModelConfig
from charwriter.lm.sample import default_start
from conftest import make_text


@pytest.fixture(scope="module")
def tiny(tiny_model_path) -> LoadedModel:
    return load_model(tiny_model_path)


def engine_for(loaded: LoadedModel, **settings) -> Engine:
    return Engine(loaded, EngineSettings(**settings))


def recompute(engine: Engine, window: str):
    """The reference: one nn.LSTM call over a newline and the window, from the zero state."""
    codes = [default_start(engine.vocab)] + engine.encode(window)
    logits, state = engine.loaded.model(torch.tensor([codes]))
    return state, logits[:, -1]


def assert_matches_recompute(engine: Engine, text: str) -> None:
    assert text.endswith(engine.window)
    state, logits = recompute(engine, engine.window)
    for got, want in zip(engine.state, state):
        assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(engine.logits, logits, atol=1e-5)


TEXT = make_text(600, seed=3)


def test_incremental_state_equals_recompute_after_appends_edits_deletions_and_moves(tiny):
    engine = engine_for(tiny, state_every=16, context_chars=4096)
    steps = []
    original = engine.fast.step

    def counting_step(idx, state=None):
        steps.append(idx.shape[0])
        return original(idx, state)

    engine.fast.step = counting_step
    text = TEXT[:200]
    engine.set_context(text)
    assert_matches_recompute(engine, text)
    for ch in TEXT[200:230]:  # typing at the end: one step a character
        steps.clear()
        text += ch
        engine.set_context(text)
        assert steps == [1]
    assert_matches_recompute(engine, text)
    edited = text[:100] + "X" + text[101:]  # an edit in the middle
    engine.set_context(edited)
    assert_matches_recompute(engine, edited)
    deleted = edited[:150] + edited[160:]  # a deletion
    engine.set_context(deleted)
    assert_matches_recompute(engine, deleted)
    steps.clear()
    engine.set_context(deleted[:170])  # cursor moved back: resume from a cached state, < N characters
    assert len(steps) < 16
    assert_matches_recompute(engine, deleted[:170])
    engine.set_context(deleted)  # and forward again
    assert_matches_recompute(engine, deleted)
    engine.set_context("")
    assert_matches_recompute(engine, "")


def test_context_cap_equals_recompute_over_the_capped_window(tiny):
    engine = engine_for(tiny, context_chars=100, state_every=16)
    text = TEXT[:500]
    engine.set_context(text)
    assert engine.window_start(500) == 400  # 500 - 100, snapped up to a multiple of 16
    assert engine.window == text[400:]
    assert_matches_recompute(engine, text)
    for ch in TEXT[500:540]:  # crosses window boundaries while typing
        text += ch
        engine.set_context(text)
        assert 100 - 16 < len(engine.window) <= 100
    assert_matches_recompute(engine, text)
    # a tail of the document with its offset reads the same window
    tail_engine = engine_for(tiny, context_chars=100, state_every=16)
    tail_engine.set_context(text[300:], offset=300)
    assert tail_engine.window == engine.window
    # quick mode reads a shorter window first
    engine.settings.quick_chars = 32
    engine.set_context(text, quick=True)
    assert len(engine.window) <= 32
    assert_matches_recompute(engine, text)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("batch", [1, 3])
def test_fast_step_equals_nn_rnn(cell, batch):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=13, hidden_size=32, num_layers=2, dropout=0.0, cell=cell)).eval()
    idx = torch.randint(0, 13, (batch, 9))
    logits, state = model(idx)
    fast = FastRNN(model)
    fstate = None
    for t in range(9):
        flogits, fstate = fast.step(idx[:, t], fstate)
    assert torch.allclose(flogits, logits[:, -1], atol=1e-5)
    for a, b in zip(state if cell == "lstm" else [state], fstate if cell == "lstm" else [fstate]):
        assert torch.allclose(a, b, atol=1e-5)


def test_unknown_characters_are_mapped_or_skipped_and_never_stop_suggestions(tiny):
    engine = engine_for(tiny, greedy=True)
    assert "\u201c" not in engine.vocab and "\t" not in engine.vocab
    text = "\u201cthe house\u201d \u2014 she walked\u2026 caf\u00e9\u00a0by\tthe river \U0001F600 \u6cb3 "
    normal = engine.normalise(text)
    assert set(normal) <= set(engine.vocab)
    assert "the house" in normal and "cafe by the river" in normal
    assert "\U0001F600" not in normal and "\u6cb3" not in normal
    assert engine.normalise("\u2019") in ("'", "")  # a straight quote, or nothing if the model lacks one too
    assert engine.suggest(text)
    assert engine.suggest("\U0001F600\u6cb3")  # nothing known at all: still suggestions
    engine.set_context(text)
    assert_matches_recompute(engine, text)


def test_greedy_suggestions_are_deterministic_sorted_and_stop_at_sentence_ends(tiny):
    engine = engine_for(tiny, greedy=True, k=3, max_len=20)
    first = engine.suggest("The quiet house stood by the")
    again = engine_for(tiny, greedy=True, k=3, max_len=20).suggest("The quiet house stood by the")
    assert first == again
    assert len(first) == 3
    scores = [s.mean_logprob for s in first]
    assert scores == sorted(scores, reverse=True) and all(s <= 0 for s in scores)
    assert len({s.text[0] for s in first}) == 3
    for suggestion in first:
        text = suggestion.text
        assert 0 < len(text) <= 20 and "\n" not in text and text.isprintable()
        ends = [i for i, ch in enumerate(text) if ch in ".!?"]
        if ends:  # nothing after a sentence end but more ends and a closing quote
            assert set(text[ends[0] :]) <= set(".!?\"')")


def test_sampled_suggestions_follow_the_seed_and_start_with_the_greedy_row(tiny):
    engine = engine_for(tiny, k=3, seed=7, max_len=30)
    first = engine.suggest("Every unhappy family is")
    assert first == engine.suggest()  # reseeded each time: the same context gives the same suggestions
    greedy = engine_for(tiny, greedy=True, k=1, max_len=30).suggest("Every unhappy family is")[0]
    assert greedy.text in [s.text for s in first]
    assert len(first) == 3 and engine.last_latency_ms > 0
    engine.settings.max_len = 5
    assert all(len(s.text) <= 5 for s in engine.suggest())


def test_a_sentence_end_stops_a_continuation():
    """A model that always prefers 'a', then '.': the row that starts with '.' ends there, its 'a' not shown."""
    vocab = ["\n", " ", ".", "a", "b"]
    model = CharRNN(ModelConfig(vocab_size=5, hidden_size=8, num_layers=1, dropout=0.0)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.head.bias.copy_(torch.tensor([0.0, 0.0, 1.0, 5.0, 0.0]))  # 'a' first; row 2 starts '.', row 3 ' '
    engine = Engine(LoadedModel(model, vocab, model.config), EngineSettings(greedy=True, k=3, max_len=10))
    texts = [s.text for s in engine.suggest("b")]
    assert texts[0] == "a" * 10 and "." in texts


def test_cancellation_returns_nothing_and_keeps_what_was_read(tiny):
    engine = engine_for(tiny, state_every=16)
    calls = []

    def cancel_after_three():
        calls.append(1)
        return len(calls) > 3

    assert engine.suggest(TEXT, cancelled=cancel_after_three) == []
    assert engine.suggest(TEXT, cancelled=lambda: False)
    assert engine.suggest(TEXT[:-1] + "z", cancelled=lambda: True) == []
    engine.set_context(TEXT)
    assert_matches_recompute(engine, TEXT)  # a cancelled call left consistent caches


def test_common_prefix_length():
    assert common_prefix_length("abcdef", "abcxyz") == 3
    assert common_prefix_length("abc", "abcdef") == 3
    assert common_prefix_length("", "abc") == 0
    assert common_prefix_length("x" * 1000 + "a", "x" * 1000 + "b") == 1000


def test_engine_never_imports_textual():
    code = "import sys, charwriter.engine, charwriter.lm; assert 'textual' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

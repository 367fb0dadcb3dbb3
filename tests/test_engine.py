"""The suggestion engine: incremental state equals a full recompute, the fast step equals nn.LSTM/nn.GRU, the
unknown-character policy, the context cap, and the shape of the suggestions."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from charwriter.engine import WORD_EXTRA, Engine, EngineSettings, common_prefix_length, sample_from
from charwriter.lm.checkpoint import LoadedModel, load_model
from charwriter.lm.fast import FastRNN
from charwriter.lm.model import CharRNN, ModelConfig
from charwriter.lm.rules import PARTIAL_WORD
from charwriter.lm.sample import default_start, document_start, pick_next
from conftest import make_text


@pytest.fixture(scope="module")
def tiny(tiny_model_path) -> LoadedModel:
    return load_model(tiny_model_path)


def engine_for(loaded: LoadedModel, **settings) -> Engine:
    settings.setdefault("precision", "fp32")  # compared with nn.LSTM exactly; "auto" has its own tests
    settings.setdefault("wrap_width", 0)  # the window is the text as given (the wrapped view has its own tests)
    return Engine(loaded, EngineSettings(**settings))


def recompute(engine: Engine, window: str):
    """The reference: one nn.LSTM call over a newline and the window, from the zero state; over a blank line and
    the window where the window is the document's start (a new document begins as a paragraph)."""
    at_start = engine.context.view.start == 0
    codes = (document_start(engine.vocab) if at_start else [default_start(engine.vocab)]) + engine.encode(window)
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
    for ch in TEXT[200:230]:  # typing at the end: one batched step a character, a row per lane
        steps.clear()
        lanes = len(range(0, len(text) + 1, 16))  # every multiple of N within the cap, one joining at the cursor
        text += ch
        engine.set_context(text)
        assert steps == [lanes]
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
    settings = dict(greedy=True, k=3, max_len=20, ghost="greedy", ghost_confidence=0, words=False)  # the decoding's
    first = engine_for(tiny, **settings).suggest("The quiet house stood by the")  # rows, not the word list's verdict
    again = engine_for(tiny, **settings).suggest("The quiet house stood by the")
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
    assert 1 <= len(first) <= 3 and engine.last_latency_ms > 0
    engine.settings.max_len = 5
    assert all(len(s.text) <= 5 + WORD_EXTRA for s in engine.suggest())


def test_a_sentence_end_stops_a_continuation():
    """A model that always prefers 'a', then '.': the row that starts with '.' ends there, its 'a' not shown; the
    row of a's never ends a word, so it is not shown at all, and the row of spaces is not worth reading."""
    vocab = ["\n", " ", ".", "a", "b"]
    model = CharRNN(ModelConfig(vocab_size=5, hidden_size=8, num_layers=1, dropout=0.0)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.head.bias.copy_(torch.tensor([0.0, 0.0, 1.0, 5.0, 0.0]))  # 'a' first; row 2 starts '.', row 3 ' '
    engine = Engine(LoadedModel(model, vocab, model.config), EngineSettings(greedy=True, k=3, max_len=10, ghost="greedy"))
    texts = [s.text for s in engine.suggest("b")]
    assert texts == ["."]


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


def test_typing_across_window_boundaries_never_rereads_and_equals_recompute(tiny):
    """The lanes: every keystroke is one batched step, also where the window start moves on, and each lane's state
    equals a full read of its window (checked on the oldest lane, the one suggestions use, and a younger one)."""
    engine = engine_for(tiny, context_chars=64, state_every=16)
    calls = []
    original_step, original_prime = engine.fast.step, engine.fast.prime
    engine.fast.step = lambda idx, state=None: calls.append(("step", idx.shape[0])) or original_step(idx, state)
    engine.fast.prime = lambda idx, state=None: calls.append(("prime", idx.shape)) or original_prime(idx, state)
    text = TEXT[:150]
    engine.set_context(text)
    for i, ch in enumerate(TEXT[150:300]):  # crosses the window boundary 9 times
        calls.clear()
        text += ch
        engine.set_context(text)
        assert len(calls) == 1 and calls[0][0] == "step" and calls[0][1] <= 64 // 16 + 1
        assert engine.window == text[engine.window_start(len(text)) :]
        assert 64 - 16 < len(engine.window) <= 64
        if i % 7 == 0:
            assert_matches_recompute(engine, text)
    assert_matches_recompute(engine, text)
    engine.settings.quick_chars = 20  # a younger lane: its window is the last 20 characters snapped to N
    calls.clear()
    engine.set_context(text, quick=True)
    assert len(engine.window) <= 20 and calls == []
    assert_matches_recompute(engine, text)
    calls.clear()
    engine.set_context(text[:-1])  # backspace: a kept snapshot, nothing read
    assert calls == [] and engine.window == text[engine.window_start(len(text) - 1) : -1]
    assert_matches_recompute(engine, text[:-1])
    edited = text[:-10] + "Q" + text[-9:]  # an edit near the end: only what follows the last snapshot before it
    engine.set_context(edited)
    assert_matches_recompute(engine, edited)
    fresh = engine_for(tiny, context_chars=64, state_every=16)
    fresh.set_context(edited)  # the same window read from scratch, lanes joining on the way
    assert fresh.window == engine.window
    assert_matches_recompute(fresh, edited)
    opened = engine_for(tiny, context_chars=64, state_every=16, quick_chars=20)
    opened.set_context(edited, quick=True)  # opening: the one short lane first, then the full window and its lanes
    assert len(opened.window) <= 20
    assert_matches_recompute(opened, edited)
    opened.set_context(edited)
    assert opened.window == engine.window
    for ch in "and then":
        edited += ch
        opened.set_context(edited)
        assert_matches_recompute(opened, edited)


def test_sampler_draws_from_pick_next_distribution():
    """`sample_from` with uniform random numbers matches softmax with `pick_next`'s top-k/top-p masking."""
    torch.manual_seed(0)
    logits = torch.randn(1, 12) * 2
    draws = 40_000
    uniforms = torch.rand(draws)
    for temperature, top_k, top_p in [(1.0, None, None), (0.7, 5, None), (1.3, None, 0.8), (1.0, 4, 0.9)]:
        got = sample_from(logits.expand(draws, -1), uniforms, temperature, top_k, top_p)
        freq = torch.bincount(got, minlength=12).float() / draws
        ref = torch.bincount(pick_next(logits.expand(draws, -1), temperature, top_k, top_p), minlength=12).float()
        ref /= draws
        scaled = logits[0] / temperature
        if top_k:
            scaled = scaled.masked_fill(scaled < scaled.topk(top_k).values[-1], float("-inf"))
        probs = torch.softmax(scaled, -1)
        if top_p:
            sorted_probs, order = probs.sort(descending=True)
            keep = (sorted_probs.cumsum(0) - sorted_probs) <= top_p
            probs = torch.zeros(12).scatter(0, order[keep], sorted_probs[keep])
            probs /= probs.sum()
        assert torch.allclose(freq, probs, atol=0.01), (temperature, top_k, top_p)
        assert torch.allclose(freq, ref, atol=0.015)
        assert set(got.tolist()) <= set(probs.nonzero().flatten().tolist())  # never a masked character
    # the edges: u = 0 gives the first possible character, u just below 1 the last, never one of zero probability
    probs_logits = torch.tensor([[float("-inf"), 0.0, 0.0, float("-inf")]])
    edges = sample_from(probs_logits.expand(2, -1), torch.tensor([0.0, 1.0 - 2**-24]))
    assert edges.tolist() == [1, 2]


def test_greedy_is_deterministic_and_ignores_the_generator(tiny):
    texts = set()
    for seed in (None, 1, 2):
        engine = engine_for(tiny, greedy=True, k=3, max_len=25, seed=seed)
        texts.add(tuple((s.text, s.mean_logprob) for s in engine.suggest("The quiet house stood by the")))
    assert len(texts) == 1


def test_common_prefix_length():
    assert common_prefix_length("abcdef", "abcxyz") == 3
    assert common_prefix_length("abc", "abcdef") == 3
    assert common_prefix_length("", "abc") == 0
    assert common_prefix_length("x" * 1000 + "a", "x" * 1000 + "b") == 1000


def test_engine_never_imports_textual():
    code = "import sys, charwriter.engine.core, charwriter.lm; assert 'textual' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_users_settings_read_the_engines_without_torch():
    """The editor reads the settings before its first frame: they take the engine's defaults and bounds from
    `charwriter.engine.settings` without importing torch (or the engine itself)."""
    code = ("import sys, charwriter.settings, charwriter.engine; charwriter.engine.EngineSettings;"
            " assert 'torch' not in sys.modules and 'charwriter.engine.core' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_users_settings_are_the_engines_under_their_own_names():
    """One source: each engine setting the writer sets has the engine's default (the grey text's floor excepted:
    the app draws only a likely one), bounds and choices, and `of_user` hands every one of them to the engine."""
    from dataclasses import fields

    from charwriter.engine.settings import USER_NAMES
    from charwriter.settings import GREY_FLOOR, RANGES, TAKES, Settings

    engine = {f.name: f for f in fields(EngineSettings)}
    user = {f.name: f for f in fields(Settings)}
    assert set(USER_NAMES.values()) == {name for name, f in user.items() if "engine" in f.metadata}
    for name, user_name in USER_NAMES.items():
        option = engine[name].metadata["option"]
        assert user[user_name].metadata["option"] is option
        assert user[user_name].default == (GREY_FLOOR if name == "ghost_floor" else engine[name].default)
        if option.low is not None:
            assert RANGES[user_name] == (option.low, option.high)
            assert TAKES[user_name] == f"a number from {option.low} to {option.high}"
    changed = Settings(temperature=0.7, suggestions=3, max_length=20, top_k=7, greedy=True, grey_floor=0.2,
                       memory=False, precision="int8")
    settings = EngineSettings.of_user(changed, threads=2)
    assert (settings.k, settings.max_len, settings.temperature, settings.top_k, settings.greedy, settings.ghost_floor,
            settings.memory, settings.precision, settings.threads) == (3, 20, 0.7, 7, True, 0.2, False, "int8", 2)
    assert changed.updated({"suggestions": 10})[1] == ["setting 'suggestions' cannot be 10: a number from 1 to 9"]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_one_place_knows_an_lstms_state_from_a_grus(cell):
    """`charwriter.lm.state`: rows, picks, joins and copies keep a state's layout, whichever the cell."""
    from charwriter.lm import state as states

    model = CharRNN(ModelConfig(vocab_size=5, hidden_size=4, num_layers=2, dropout=0.0, cell=cell))
    _, state = model(torch.tensor([[1, 2], [3, 4], [0, 1]]))  # three rows
    assert states.is_pair(state) == (cell == "lstm") and len(states.tensors(state)) == states.tensor_count(cell)
    assert states.from_tensors(states.tensors(state), cell) is not None
    for got, want in zip(states.tensors(states.rows(state, 1, 2)), states.tensors(state)):
        assert torch.equal(got, want[:, 1:2])
    picked = states.pick(state, torch.tensor([2, 0]))
    joined = states.cat([states.rows(state, 2, 3), states.rows(state, 0, 1)])
    widened = states.expand(states.rows(state, 1, 2), 3)
    for a, b, c, t in zip(*map(states.tensors, (picked, joined, widened, state))):
        assert torch.equal(a, b) and torch.equal(a, t[:, [2, 0]]) and torch.equal(c, t[:, [1, 1, 1]])


def test_what_lives_on_is_frozen_out_of_the_collectors_sight_once(tiny_model_path):
    """A full collection during a keystroke walked every object torch's import made (75 ms with the bundled model):
    the first engine freezes what exists by then, later engines nothing more."""
    code = f"""
import gc
from charwriter.engine import Engine, EngineSettings
from charwriter.lm.checkpoint import load_model
assert gc.get_freeze_count() == 0
loaded = load_model({str(tiny_model_path)!r})
Engine(loaded, EngineSettings(precision="fp32")).suggest("The house was quiet. ")
frozen = gc.get_freeze_count()
assert frozen > 5 * len(gc.get_objects()), (frozen, len(gc.get_objects()))
Engine(loaded, EngineSettings(precision="fp32"))
assert gc.get_freeze_count() == frozen
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_looping_continuation_is_cut_after_its_first_lap():
    from charwriter.lm.rules import loop_start

    text = "the streated the streated the strea"
    assert text[: loop_start(text)] == "the streated"
    assert loop_start("said Levin, smiling at her.") == len("said Levin, smiling at her.")
    assert loop_start("aaaaaaaaaaaa") == 1


CONTEXTS = [make_text(200 + 37 * i, seed=i)[-150 - 7 * i :] for i in range(12)]


@pytest.mark.parametrize("ghost", ["beam", "greedy"])
def test_no_continuation_ends_inside_a_word(tiny, ghost):
    """A short length budget cuts many rows mid-word: each shown continuation ends where its word ends (the row
    went on with a space or punctuation), or was cut back to the last whole word."""
    from charwriter.lm.rules import is_word_char

    checked = 0
    for seed, context in enumerate(CONTEXTS):
        engine = engine_for(tiny, k=3, max_len=10, seed=seed, ghost=ghost, words=ghost == "beam")  # greedy: every row
        for suggestion in engine.suggest(context):
            text = suggestion.text.rstrip(" ")  # a word may bring the space the model expects after it
            rows = [row for row, _, _ in engine._last.rows]
            if not any(row.startswith(text) for row in rows):  # a word of the document or of the word list:
                start = PARTIAL_WORD.search(context).group(0)  # whole by nature
                assert start + text in engine.memory.words.counts or start + text in engine.lexicon.completions(
                    start, 50)
                continue
            full = text if text in rows else next(row for row in rows if row.startswith(text))
            assert (not is_word_char(text[-1]) or len(full) == len(text) < 10 + WORD_EXTRA
                    or not is_word_char(full[len(text)])), (context[-30:], text, full)
            if suggestion.text != text and len(full) > len(text):
                assert full[len(text)] == " " and suggestion.text == text + " "  # the space the row went on with
            checked += 1
    assert checked >= 20


def test_the_grey_text_stops_being_generated_once_the_rest_would_be_cut():
    """The grey text ends at the last word the model gives `floor` in all; a word during which the sum falls below
    it is cut anyway, so generation stops there, inside it, with the same text shown as if it had gone on. Never
    inside the first word (a grey text is at least one word)."""
    from types import SimpleNamespace

    from charwriter.lm.rules import PLAIN, finished, grow

    def row():
        return SimpleNamespace(chars=[], lps=[], ending=False, capped=False)

    floor = 0.1  # log: -2.30
    stopped, went_on = row(), row()
    for ch, lp in zip("the cat", [-0.1] * 5 + [-2.0, -0.1]):
        if not grow(stopped, ch, lp, PLAIN, 48, floor):
            break
    assert "".join(stopped.chars) == "the ca"  # "a" took the sum below the floor: the rest of "cat" is waste
    for ch, lp in zip("the cat sat", [-0.1] * 5 + [-2.0] + [-0.1] * 5):
        went_on.chars.append(ch), went_on.lps.append(lp)  # the whole row, as generated before
    assert finished(stopped, floor) == finished(went_on, floor) == ("the ", finished(went_on, floor)[1])
    first = row()  # an unsure first word is still generated to its end
    assert all(grow(first, ch, -1.0, PLAIN, 48, floor) for ch in "extraordinary")


def test_the_engine_stops_the_grey_text_where_the_rest_would_be_cut(tiny, monkeypatch):
    """Over many contexts, a grey text cut where the model's sum fell below the floor was generated no further
    than into the word after it: never a whole word beyond the cut."""
    import math

    import charwriter.engine.core as engine_module
    from charwriter.lm.rules import is_word_char, confident_prefix, finished, loop_start

    rows = []
    monkeypatch.setattr(engine_module, "finished", lambda row, floor, after="": (
        rows.append((row, floor)) if floor > 0 else None) or finished(row, floor, after))
    checked = 0
    for seed, context in enumerate(CONTEXTS + [make_text(400, seed=50 + i) for i in range(12)]):
        rows.clear()
        engine_for(tiny, seed=seed, max_len=48).suggest(context)
        (row, floor), = rows
        full = "".join(row.chars)
        if math.fsum(row.lps) >= math.log(floor) or loop_start(full) < len(full):
            continue  # not cut by the floor
        rest = full[confident_prefix(full, row.lps, floor) :]
        assert not any(is_word_char(rest[i - 1]) and not is_word_char(rest[i]) for i in range(1, len(rest))), (full, rest)
        checked += 1
    assert checked >= 5


def test_alternatives_worth_reading_only(tiny):
    from charwriter.engine import FAR_BELOW, Suggestion, worth_showing
    from charwriter.engine.shown import PANE_FLOOR

    shown = worth_showing([Suggestion(" the house", -0.5), Suggestion(" the house ", -0.6), Suggestion(".", -0.4),
                           Suggestion(" '", -0.7), Suggestion(" a river", -0.5 - FAR_BELOW - 0.1),
                           Suggestion(" her brother", -0.9), Suggestion("--and the house", -0.8, PANE_FLOOR - 0.5),
                           Suggestion(" his", -0.9, PANE_FLOOR + 0.5)])
    assert [s.text for s in shown] == [" the house", " her brother", " his"]
    for seed, context in enumerate(CONTEXTS):
        suggestions = engine_for(tiny, k=5, seed=seed).suggest(context)
        first = suggestions[0]
        texts = [s.text.strip() for s in suggestions]
        assert len(set(texts)) == len(texts)
        for alternative in suggestions[1:]:
            assert any(ch.isalnum() for ch in alternative.text)
            assert alternative.mean_logprob >= first.mean_logprob - FAR_BELOW
            assert alternative.first_word >= PANE_FLOOR


def test_a_repeat_is_judged_where_a_word_begins_so_a_name_above_is_spelt_as_it_was():
    """The no-repeat rule never bends a word: finishing a name used a line above is allowed ("Arkadyevitch", not
    "Arkidyevitch"); the next word that would go on repeating the run gives way, and so does restating the end."""
    from charwriter.lm.rules import NO_REPEAT, _repeats

    recent = "Anna said nothing. Stepan Arkadyevitch smiled. Then Stepan Ark"
    assert not any(_repeats(recent, "adyevitch "[:i], ch, NO_REPEAT) for i, ch in enumerate("adyevitch "))
    assert _repeats(recent, "adyevitch ", "s", NO_REPEAT)  # "...kadyevitch s" again: "smiled" gives way
    assert not _repeats(recent, "adyevitch ", "w", NO_REPEAT)
    assert _repeats("he looked at her and", " an", "d", NO_REPEAT)  # restating the text just before: never,
    assert _repeats("Stop, she said,", " said", ",", NO_REPEAT)  # inside a word or not


def test_accepting_does_not_bring_back_the_same_text(tiny):
    """The tiny model loops ("the the the"): after the ghost text is accepted, the next one does not say it again."""
    from charwriter.lm.rules import RESTATE_MIN

    tried = 0
    for seed, context in enumerate(CONTEXTS):
        engine = engine_for(tiny, k=3, seed=seed, ghost_confidence=0)
        ghost = engine.suggest(context)[0].text
        if len(ghost) < RESTATE_MIN:
            continue
        again = engine.suggest(context + ghost)
        assert not again or not again[0].text.startswith(ghost), (context[-30:], ghost, again[0].text)
        tried += 1
    assert tried >= 6
    restated = 0  # the control: without the rule, the same engine says it again
    for seed, context in enumerate(CONTEXTS):
        engine = engine_for(tiny, k=3, seed=seed, no_repeat=0, ghost_confidence=0)
        ghost = engine.suggest(context)[0].text
        restated += len(ghost) >= RESTATE_MIN and engine.suggest(context + ghost)[0].text.startswith(ghost)
    assert restated >= 1


def test_resampling_draws_the_ghost_texts_continuation_at_the_temperature(tiny):
    """The beam's words are the likeliest, so a plain run repeats itself; Ctrl+R (resample) draws the rest of the
    ghost text instead, and differently from one draw to the next."""
    context = CONTEXTS[3]  # the tiny model's draws at 1.5 are rarely words: the word list would cut them all
    plain = {engine_for(tiny, ghost_confidence=0).suggest(context)[0].text for _ in range(3)}
    assert len(plain) == 1
    drawn = {engine_for(tiny, seed=seed, ghost_confidence=0, temperature=1.5, words=False).suggest(context, resample=True)[0].text
             for seed in range(6)}
    assert len(drawn) >= 3


def test_common_prefix_length_of_equal_and_long_sequences():
    """One function serves the engine's known text, the memory's edits (long strings) and code lists."""
    assert common_prefix_length([1, 2, 3], [1, 2, 3]) == 3
    long = "x" * 200_000
    assert common_prefix_length(long, long) == 200_000
    assert common_prefix_length(long, long[:150_000] + "y") == 150_000


def test_the_first_words_probability_is_the_models_and_below_the_floor_the_grey_text_waits_in_the_pane(tiny):
    """`Suggestion.first_word` is the log-probability the model gives a suggestion's first word (its characters
    read one by one give the same), the grey text's and each alternative's (any may become the first);
    `ghost_floor` above the grey text's keeps the suggestions but draws no grey text."""
    import math

    from charwriter.lm.rules import first_word_logprob

    assert first_word_logprob(" the house", [-0.1, -0.2, -0.3, -0.4, -5.0, -5.0]) == pytest.approx(-1.0)
    assert first_word_logprob("...", [-0.5, -0.5, -0.5]) == pytest.approx(-1.5)

    def read_one_by_one(reader, context: str, text: str) -> float:
        end = next((i for i in range(1, len(text)) if text[i - 1].isalnum()
                    and not text[i].isalnum() and text[i] not in "'-"), len(text))
        total = 0.0
        for i in range(end):
            static, _ = reader.next_logp(context + text[:i])
            total += float(static[reader.encode(text[i])[0]])
        return total

    checked = alternatives = 0
    for seed in range(6):
        context = make_text(300, seed=70 + seed)
        plain = dict(memory=False, words=False, typography=False, seed=seed)
        out = engine_for(tiny, **plain).suggest(context)
        first = out[0]
        assert first.inline and first.first_word < 0
        reader = engine_for(tiny, **plain)
        alternatives += len(out[1:3])
        for suggestion in out[:3]:
            assert suggestion.first_word == pytest.approx(read_one_by_one(reader, context, suggestion.text), abs=1e-3)
        floor = math.exp(first.first_word) * 1.01
        unsure = engine_for(tiny, **plain, ghost_floor=floor).suggest(context)
        assert [s.text for s in unsure] == [s.text for s in out]  # the same suggestions, in the pane
        assert not unsure[0].inline and all(s.inline for s in unsure[1:])
        sure = engine_for(tiny, **plain, ghost_floor=math.exp(first.first_word) * 0.99).suggest(context)
        assert sure[0].inline
        checked += 1
    assert checked == 6 and alternatives >= 3


def test_ctrl_r_keeps_the_first_word_even_right_after_a_word_and_draws_the_rest_whole(tiny):
    """A resampled ghost text opens with the same word as the likeliest one, whether the cursor is after a space,
    inside a word or right after one (where the first word is the next one); what follows is drawn, not cut."""
    import re

    first_word = lambda text: re.match(r"[^\w]*[\w'-]*", text).group(0)  # noqa: E731
    longer = 0
    for i in range(10):
        context = make_text(300, seed=90 + i)
        context = context[: context.rfind(" ", 0, 250 + i)] + ("" if i % 2 else " ")  # after a word or a space
        likeliest = engine_for(tiny, seed=i).suggest(context)[0].text
        for draw in range(3):
            drawn = engine_for(tiny, seed=100 * i + draw).suggest(context, resample=True)[0].text
            assert first_word(drawn) == first_word(likeliest), (context[-20:], likeliest, drawn)
            longer += len(drawn) > len(likeliest)
    assert longer >= 5  # the confidence cut does not shorten a drawn ghost text back to its first word


def test_the_wrapped_view_breaks_long_lines_at_spaces_only_and_leaves_a_wrapped_book_alone():
    import textwrap

    from charwriter.lm.rules import WRAP_ANCHOR, WRAP_LONG, WRAP_TAIL, wrapped_view

    paragraph = make_text(3000, seed=5).replace("\n", " ")
    view = wrapped_view(paragraph, 60)
    assert len(view) == len(paragraph)
    assert all(a == b or (a == " " and b == "\n") for a, b in zip(paragraph, view))
    lines = view[-WRAP_TAIL:].split("\n")[1:]
    assert len(lines) > 30 and all(len(line) <= 60 for line in lines)
    book = textwrap.fill(paragraph, WRAP_LONG - 3)  # a hard-wrapped book: read as it is
    assert wrapped_view(book, 60) == book
    assert wrapped_view(paragraph, 0) == paragraph
    grown = wrapped_view(paragraph + " and then some more words", 60)
    assert grown[: view.rfind("\n")] == view[: view.rfind("\n")]  # typing on changes only the last line's breaks
    huge = make_text(WRAP_ANCHOR * 3, seed=6).replace("\n", " ")  # one line, longer than the anchor
    a, b = wrapped_view(huge[:-100], 60), wrapped_view(huge, 60)
    same = len(huge) - 100 - WRAP_TAIL + 200
    assert a[same : a.rfind("\n")] == b[same : a.rfind("\n")]  # anchored: the view holds as the line grows


def test_a_long_line_is_read_as_the_wrapped_view(tiny):
    """The engine reads a writer's long line as the wrapped corpus would have it: the same suggestions as for the
    text wrapped beforehand, read as written (the memory, which learns the writer's own text, left out)."""
    from charwriter.lm.rules import wrapped_view

    for seed in range(4):
        paragraph = make_text(900, seed=80 + seed).replace("\n", " ")
        wrapped = engine_for(tiny, seed=seed, wrap_width=60, memory=False).suggest(paragraph)
        as_given = engine_for(tiny, seed=seed, memory=False).suggest(wrapped_view(paragraph, 60))
        assert [(s.text, s.mean_logprob) for s in wrapped] == [(s.text, s.mean_logprob) for s in as_given]

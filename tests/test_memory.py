"""The document memory: it always describes the document as it is, it completes the writer's own words, it learns
its weights, it never holds up the first suggestion on a big document, and it can be switched off."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch

import charwriter.engine.decode as decode_module
import charwriter.lm.memory as memory_module
from charwriter.engine import Engine, EngineSettings
from charwriter.engine.mixing import next_logp
from charwriter.lm.checkpoint import load_model
from charwriter.lm.memory import DocumentMemory
from conftest import make_text


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    return load_model(tiny_model_path)


def engine_for(loaded, **settings) -> Engine:
    settings.setdefault("precision", "fp32")  # compared with nn.LSTM exactly; "auto" has its own tests
    return Engine(loaded, EngineSettings(**settings))


def contents(memory: DocumentMemory) -> Counter:
    """Every n-gram the memory counts (its sorted arrays and its delta together)."""
    counts = Counter(dict(zip(memory.base.keys.tolist(), memory.base.counts.tolist())))
    for context, followers in memory.delta.items():
        for code, n in followers.items():
            counts[(context << int(memory.bits)) | (code + 1)] += n
    return +counts


def built_from_scratch(memory: DocumentMemory, text: str) -> Counter:
    return Counter(memory.keys_of(memory.encode(text)).tolist())


def test_memory_after_edits_deletions_and_undo_equals_one_built_from_the_edited_text(tiny):
    engine = engine_for(tiny)
    memory = DocumentMemory(len(engine.vocab), engine.encode)
    rng = random.Random(4)
    text = make_text(300, seed=1)
    history = [text]
    memory.sync(text)
    # unknown characters (skipped: 'Z' and an emoji) and one that spells several codes (the ellipsis)
    alphabet = "the quiet house… Z😀\n."
    for step in range(150):
        pos = rng.randint(0, len(text))
        roll = rng.random()
        if roll < 0.45:
            text = text[:pos] + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 25))) + text[pos:]
        elif roll < 0.85:
            text = text[:pos] + text[min(len(text), pos + rng.randint(1, 30)) :]
        elif len(history) > 2:
            history.pop()
            text = history[-1]  # undo: back to an earlier state of the document
        history.append(text)
        assert memory.sync(text)
        assert memory.text == text
        if step % 10 == 0:
            assert contents(memory) == built_from_scratch(memory, text), step
    assert contents(memory) == built_from_scratch(memory, text)
    fresh = DocumentMemory(len(engine.vocab), engine.encode)
    fresh.rebuild(text)
    codes = engine.encode(text)
    # many rows' contexts (the base and the edits' delta together) mix as in a memory built from the text
    contexts = [memory.context(codes[:end]) for end in range(1, len(codes), 7)]
    probs = np.full((len(contexts), len(engine.vocab)), 1 / len(engine.vocab))
    mixed, _ = memory.mix_rows(probs, contexts, [None] * len(contexts))
    for r, context in enumerate(contexts):
        assert np.allclose(mixed[r], fresh.mix(probs[r], context)[0]), r
    for end in range(0, len(codes), 37):
        assert (memory.counts_for(codes[:end]) == fresh.counts_for(codes[:end])).all()


def test_the_engine_mixes_every_row_as_the_memory_does(tiny):
    """The engine mixes in log space, in torch, for a batch of rows at once; `DocumentMemory.mix_rows` is the plain
    reference (probabilities, numpy): the same distributions, rows the memory has nothing for left alone, and the
    model's probability that learning reads the same."""
    engine = engine_for(tiny)
    doc = make_text(2_000, seed=3)
    engine.suggest(doc)
    memory = engine.memory
    codes = engine.encode(doc)
    contexts = [memory.context(codes[:end]) for end in range(1, len(codes), 11)]
    contexts.append(memory.context(engine.encode("qqqq")))  # a context that never occurred
    reach = [None if r % 2 else 2 + r % 7 for r in range(len(contexts))]  # gated rows too
    torch.manual_seed(0)
    logits = torch.randn(len(contexts), len(engine.vocab)) * 3
    mixed_logp, steps = next_logp(logits, memory, contexts, reach)
    logp = mixed_logp.full()
    probs = torch.softmax(logits.double(), -1).numpy()
    mixed, reference = memory.mix_rows(probs, contexts, reach)
    assert sum(step is not None for step in steps) > len(contexts) // 3
    assert steps[-1] is None and torch.equal(logp[-1], torch.log_softmax(logits[-1], -1))
    assert np.allclose(logp.exp().double().numpy(), mixed, atol=1e-6)
    assert np.allclose(logp.exp().sum(-1).numpy(), 1.0, atol=1e-5)
    for step, ref in zip(steps, reference):
        assert (step is None) == (ref is None)
        if step is not None:
            assert step.weights == ref.weights and step.follow == ref.follow
            assert step.model[codes[5]] == pytest.approx(ref.model[codes[5]], rel=1e-5)
    # the beam's and the greedy row's readings, made without the whole mixture, are the whole mixture's
    for n in (1, 4, 10):
        values, top = mixed_logp.top(n)
        assert top == logp.topk(n, -1).indices.tolist()
        assert np.allclose(values, logp.topk(n, -1).values.numpy(), atol=1e-5)
    best, values = mixed_logp.best()
    assert best == logp.argmax(-1).tolist() and np.allclose(values, logp.max(-1).values.numpy(), atol=1e-5)
    picks = [(r * 7) % len(engine.vocab) for r in range(len(contexts))]
    assert np.allclose(mixed_logp.at(picks), logp.gather(1, torch.tensor(picks)[:, None])[:, 0].numpy(), atol=1e-5)
    assert any(step is not None and len(step.follow[0]) > 1 for step in steps)  # rows where the ranking moved


def test_a_context_forgotten_by_an_edit_is_looked_up_again():
    """The lookups are memoised and an edit forgets the contexts it touched: a row whose long contexts are
    remembered as absent but whose short ones were forgotten reads them again."""
    vocab = list(" abcxyz")
    memory = DocumentMemory(len(vocab), lambda t: [vocab.index(c) for c in t])
    memory.rebuild("xab xab")
    context = memory.context(memory.encode("zzzab"))  # only "b" and "ab" occurred
    first = memory.steps([context], [None])[0]
    assert memory.sync("xab xabc")  # forgets "b", "ab", ... (what "c" followed), keeps "zab", "zzab", "zzzab"
    fresh = DocumentMemory(len(vocab), memory.encode)
    fresh.rebuild("xab xabc")
    again, expected = memory.steps([context], [None])[0], fresh.steps([context], [None])[0]
    assert first.orders == again.orders == expected.orders == [0, 1]
    assert again.follow == expected.follow == [{0: 0.5, 3: 0.5}] * 2  # " " once, "c" once


def test_generation_reads_only_the_contexts_that_can_have_occurred(monkeypatch):
    """A step knows what followed its contexts: after a code that never followed its gate-length-minus-one context,
    the next step's gate context cannot have occurred, and it is not looked up; after one that did, it is."""
    from charwriter.lm.memory import GATE, DocumentMemory

    vocab = list(" abcdefgh")
    memory = DocumentMemory(len(vocab), lambda t: [vocab.index(c) for c in t])
    memory.rebuild("abcdefgh abcdefgh")
    context = memory.context(memory.encode("abcdefg"))
    step = memory.steps([context], [GATE])[0]  # as in generation, where the gate's context is the longest seen
    assert step.orders == [GATE - 2, GATE - 1]
    looked = []
    original = memory.followers
    monkeypatch.setattr(memory, "followers", lambda key: looked.append(key) or original(key))
    never = memory.encode("a")[0]  # "bcdefga" never occurred
    reach = memory.next_reach(step, never)
    assert memory.steps([memory.advance(context, never)], [reach]) == [None] and looked == []
    followed = memory.encode("h")[0]
    reach = memory.next_reach(step, followed)
    assert memory.steps([memory.advance(context, followed)], [reach])[0] is not None


def test_the_followers_of_a_context_are_what_came_after_it():
    vocab = list(" abcd")
    memory = DocumentMemory(len(vocab), lambda t: [vocab.index(c) for c in t])
    memory.rebuild("abc abd abc")
    counts = memory.counts_for(memory.encode("ab"))  # (orders, V): the contexts "b", "ab"
    assert counts[1].tolist() == [0, 0, 0, 2, 1]  # after "ab": c twice, d once
    assert counts[0].tolist() == [0, 0, 0, 2, 1]  # after "b": the same
    assert memory.counts_for(memory.encode("c"))[0].tolist() == [1, 0, 0, 0, 0]  # the last c has no follower
    assert memory.counts_for(memory.encode("dc")).sum(-1).tolist()[:2] == [1, 0]  # "dc" never occurred


def test_an_invented_name_repeated_in_a_document_is_completed(tiny):
    """The writer's own name, twice in the document: the third time, two letters bring the rest."""
    base = make_text(3000, seed=5)
    doc = (base[:1000] + " Morvath stood by the river. " + base[1000:2000] + " Then Morvath walked to the mill. "
           + base[2000:2500] + " and Mo")
    with_memory = engine_for(tiny, seed=1).suggest(doc)
    assert with_memory[0].text.startswith("rvath")
    without = engine_for(tiny, seed=1, memory=False).suggest(doc)
    assert not without[0].text.startswith("rvath")  # the model alone never saw the name


def test_the_memory_lowers_the_loss_of_a_repetitive_text_and_learns_its_weights(tiny):
    engine = engine_for(tiny)
    text = "Morvath said the old words again. " * 8
    static = mixed = 0.0
    engine.remember(text[:40])
    before = list(engine.memory._weights)
    for i in range(40, len(text)):
        model, with_memory = engine.next_logp(text[:i])
        code = engine.encode(text[i])[0]
        static -= float(model[code])
        mixed -= float(with_memory[code])
        assert torch.exp(with_memory).sum() == pytest.approx(1.0, abs=1e-4)
    assert mixed < 0.5 * static
    after = engine.memory._weights
    assert max(a - b for a, b in zip(after, before)) > 0.1  # the weights rose where the memory was right


def test_a_big_document_gets_suggestions_at_once_and_its_memory_later(tiny, monkeypatch):
    monkeypatch.setattr(memory_module, "FOLD_CHARS", 1_000)
    engine = engine_for(tiny, seed=0)
    doc = make_text(5_000, seed=2)
    first = engine.suggest(doc)
    assert first and engine.memory_pending == doc  # suggested from the model alone; the memory is to be built
    assert engine._memory_in_use() is None
    base = engine.memory.build(doc)  # what the app runs off the event loop
    engine.memory.install(doc, base)
    engine.suggest(doc + " t")
    assert engine.memory_pending is None and engine._memory_in_use() is engine.memory
    assert contents(engine.memory) == built_from_scratch(engine.memory, doc + " t")


def test_the_memory_can_be_switched_off(tiny):
    doc = make_text(800, seed=3) + " Morvath. Morvath. Mo"
    off = engine_for(tiny, greedy=True, memory=False)
    assert [s.text for s in off.suggest(doc)] == [s.text for s in off.suggest(doc)]
    assert off.memory is None
    on = engine_for(tiny, greedy=True)
    on.suggest(doc)
    on.settings.memory = False
    on.suggest(doc)
    assert on.memory is None
    model, mixed = on.next_logp(doc)
    assert torch.equal(model, mixed)


def test_mixing_keeps_a_distribution_and_unseen_contexts_change_nothing():
    vocab = list(" abcd")
    memory = DocumentMemory(len(vocab), lambda t: [vocab.index(c) for c in t])
    memory.rebuild("abcabcabd")
    probs = np.full(5, 0.2)
    mixed, step = memory.mix(probs, memory.context(memory.encode("ab")))
    assert mixed.sum() == pytest.approx(1.0) and mixed[3] > 0.2 and step is not None
    same, nothing = memory.mix(probs, memory.context(memory.encode("dd")))
    assert nothing is None and (same == probs).all()


def test_the_documents_words_follow_edits_and_finish_a_word_begun(tiny):
    """A long word of the document is offered once its start is typed (from the beam or the document's words),
    and the word index always counts the document's words as they are."""
    from charwriter.lm.memory import WordIndex

    engine = engine_for(tiny, seed=0)
    doc = make_text(600, seed=8) + " Quillmarrow came. Quillmarrow left. The Quillmarrow house. "
    engine.suggest(doc)
    assert engine.memory.words.counts["Quillmarrow"] == 3
    texts = [s.text for s in engine.suggest(doc + "Then Quil")]
    assert "lmarrow " in texts  # with the space after it, as every finished word
    assert engine.memory.words.completions("Quil", 3) == [("Quillmarrow", 3)]
    edited = doc.replace("Quillmarrow left", "Bob left")
    engine.suggest(edited)
    assert +engine.memory.words.counts == WordIndex.of(edited).counts


def test_a_word_begun_is_completed_by_the_documents_most_frequent_words_with_that_start():
    from charwriter.lm.memory import WordIndex

    words = WordIndex.of("Stiva Stiva Stepan Stepan Stepan Step Stood Strong Sunday zebra zebras Stive")
    assert words.completions("St", 3) == [("Stepan", 3), ("Stiva", 2), ("Step", 1)]  # ties: alphabetical
    assert words.completions("Step", 5) == [("Stepan", 3)]  # the start itself is no completion
    assert words.completions("Sx", 5) == [] and words.completions("", 2) == [("Stepan", 3), ("Stiva", 2)]
    assert words.completions("zebra", 5) == [("zebras", 1)]  # the last words of the index
    assert words.completions("zz", 5) == []


def test_a_name_typed_twice_takes_the_grey_text_from_a_word_the_document_never_used(tiny, monkeypatch):
    """After "Ha" the tiny model says "Haps"; the writer's "Hapsworth", typed twice, is what they mean."""
    import charwriter.engine.shown as engine_module

    doc = "Hapsworth stood by the gate. So Hapsworth walked away. And Ha"
    assert engine_for(tiny, seed=0).suggest(doc)[0].text == "psworth "
    monkeypatch.setattr(engine_module, "DOCUMENT_WORD_AFTER", 99)  # the rule off (and the word list, which
    assert not engine_for(tiny, seed=0, words=False).suggest(doc)[0].text.startswith("psworth")  # refuses "Haps")


def test_the_word_above_the_cursor_is_not_taken_for_a_word_begun(tiny):
    """After "the" and a new line no word has been begun: the document's "theatre" is not offered as "atre"."""
    doc = make_text(300, seed=2) + " The theatre was full. The theatre was dark. It was the\n"
    texts = [s.text for s in engine_for(tiny, seed=0).suggest(doc)]
    assert texts and not any(text.startswith("atre") for text in texts)


def test_the_model_keeps_the_grey_text_where_the_document_says_nothing_against_it():
    from charwriter.engine.shown import Suggestion, document_word_first

    vocab = list(" .HSadeghkloprstwy")
    memory = DocumentMemory(len(vocab), lambda t: [vocab.index(c) for c in t if c in vocab])
    model_first = [Suggestion("ps ", -0.5), Suggestion("psworth ", -1.0)]

    def first(text: str, start: str) -> str:
        memory.rebuild(text)
        return document_word_first(list(model_first), start, memory.words.completions(start, 5), memory,
                                           5)[0].text

    assert first("Hapsworth sat. Hapsworth stood.", "Ha") == "psworth "  # twice, and "Haps" never
    assert first("Hapsworth sat. Haps stood. Hapsworth sat.", "Ha") == "ps "  # the document used the model's word
    assert first("Hapsworth sat.", "Ha") == "ps "  # once is not yet a habit
    assert first("Hapsworth sat. Hapsworth stood.", "H") == "ps "  # one letter says too little
    ends_here = [Suggestion(" sat.", -0.5)]  # the model ends the word typed ("Haps"): it is not completed
    assert document_word_first(ends_here, "Haps", memory.words.completions("Haps", 5), memory, 5)[0].text \
        == " sat."
    alone = [Suggestion("ppy ", -0.5)]  # "Happy": not among the suggestions yet, so it comes in first
    found = memory.words.completions("Ha", 5)
    assert [s.text for s in document_word_first(alone, "Ha", found, memory, 5)] == ["psworth ", "ppy "]
    assert document_word_first([Suggestion("s ", -0.5)], "Ha", found, memory, 5)[0].text == "s "  # "Has": short


def test_a_document_word_already_shown_without_its_space_is_not_offered_again(tiny):
    """The beam's word before a comma has no space after it; the document's same word (with one) would look alike."""
    from charwriter.engine.shown import Suggestion, with_document_words

    engine = engine_for(tiny, seed=0)
    doc = make_text(600, seed=8) + " Quillmarrow came. Quillmarrow left. Then Quil"
    engine.suggest(doc)
    out = with_document_words([Suggestion("l", -1.0), Suggestion("lmarrow", -1.0)], engine.window, engine.memory, 5,
                              engine.settings.document_words_after)
    assert [s.text.strip() for s in out].count("lmarrow") == 1


def suggested(tiny, doc: str, **settings) -> list:
    """The suggestions at the end of `doc`, its memory in use (seeded engine)."""
    engine = engine_for(tiny, seed=0, **settings)
    engine.remember(doc)
    return engine.suggest(doc)


def test_a_word_of_the_text_just_read_comes_right_after_the_grey_text(tiny):
    """The writer's own term, used in the last lines, is the first alternative once its start is typed; a word used
    only pages ago, or one letter longer than typed, is not pushed there."""
    from charwriter.engine.shown import recent_words

    recent = make_text(300, seed=4) + " the quarrystone of the mill. "
    doc = " Old hearthwood burned. " + make_text(3_000, seed=9) + recent + make_text(200, seed=5) + " the q"
    out = suggested(tiny, doc)
    without = [s.text for s in suggested(tiny, doc, recent_words=False)]
    assert out[1].text == "uarrystone " and "uarrystone " not in without  # the test can fail
    first, near = out[:2]
    assert near.mean_logprob <= first.mean_logprob  # the only such word is not "sure" beside the grey text
    assert [s.text for s in recent_words(doc[-1000:], "he", set())] == []  # "hearthwood": 3,000 characters back
    near = recent_words("a wanderstone and a war, wa", "wa", set())
    assert [s.text for s in near] == ["nderstone "]  # "war": only one letter more
    assert recent_words("a wanderstone, wa", "wa", {"nderstone"}) == []  # the beam offers it already


def test_after_a_space_the_word_that_followed_the_last_one_comes_right_after_the_grey_text(tiny):
    """The writer's own phrase again: after "Old " the "quarrystone" that followed it a few lines up."""
    from charwriter.engine.shown import recent_followers

    doc = make_text(300, seed=4) + " the Old quarrystone fell. " + make_text(200, seed=5) + " Old "
    out = suggested(tiny, doc)
    without = [s.text for s in suggested(tiny, doc, recent_words=False)]
    assert out[1].text == "quarrystone " and "quarrystone " not in without  # the test can fail
    first, follower = out[:2]
    assert follower.mean_logprob <= first.mean_logprob  # rated no surer than the grey text it follows
    assert [s.text for s in recent_followers("of constituents, and of constituents; so of ", set())] == \
        ["constituents "]
    assert recent_followers("of constituents; so of", set()) == []  # a word begun: `recent_words` finishes it
    assert recent_followers("of constituents; so of ", {"constituents"}) == []  # offered already
    assert recent_followers("of it, of it, of ", set()) == []  # a short word is quick to type


def test_a_document_too_long_for_the_memory_is_written_with_the_model_alone(tiny, monkeypatch):
    import charwriter.engine.settings as engine_settings

    monkeypatch.setattr(engine_settings, "MEMORY_MAX_CHARS", 1_000)
    engine = engine_for(tiny, seed=0)
    assert engine.suggest(make_text(2_000, seed=1)) and engine.memory is None and engine.memory_too_big
    assert engine.suggest(make_text(500, seed=1)) and engine.memory is not None and not engine.memory_too_big


def test_the_memory_drafts_only_what_it_alone_is_sure_of():
    """`draft`: the characters the memory alone holds above one half of the mixture, so that the model cannot
    outvote them; it stops where the document went on in several ways, at `stop`, and at the limit."""
    text = "Zorvath walked in. Zorvath walked out. Zorvath walked home. Zorvath walked back. "
    vocab = sorted(set(text))
    memory = DocumentMemory(len(vocab), lambda t: [vocab.index(c) for c in t])
    memory.rebuild(text)
    decode = lambda codes: "".join(vocab[c] for c in codes)
    context = memory.context(memory.encode("hen Zorvat"))
    assert decode(memory.draft(context, 40)) == "h walked "  # then "in", "out", "home" or "back": not sure
    assert decode(memory.draft(context, 4)) == "h wa"
    assert decode(memory.draft(context, 40, lambda code: vocab[code] == " ")) == "h "
    assert memory.draft(memory.context(memory.encode(" Zo")), 40) == []  # shorter than the gate: no guess
    assert memory.draft(memory.context(memory.encode("hen walked ")), 40) == []


@pytest.mark.parametrize("sure", [memory_module.DRAFT_SURE, 0.0])
def test_the_memorys_guesses_read_in_one_run_suggest_what_stepping_suggests(tiny, monkeypatch, sure):
    """Speculative decoding with the memory as the draft (`charwriter.engine.draft`): where the document says what comes
    next, the model reads the guess in one run and the ghost text goes on while its choice is the guess. With a
    run that computes exactly what steps compute, the suggestions are the same to the last bit as the stepped
    engine's, over many contexts, greedy or drawn; guesses were read; and at `sure` 0, where the memory guesses
    whenever it has a follower, the choice left some, and the state before the one it left was read again."""
    monkeypatch.setattr(memory_module, "DRAFT_SURE", sure)
    walk = decode_module.walk_draft
    monkeypatch.setattr(decode_module, "walk_draft", lambda *args: walks.append([]) or walk(*args))
    phrase = " Zorvath of the hollow marrow, who"
    doc = "".join(make_text(150, seed=20 + s) + phrase for s in range(6))
    contexts = [doc[: doc.index(phrase, 400 + 150 * i) + cut] for i in range(4) for cut in (3, 6, 9, 16, 22)]
    contexts += [doc[: 300 + 97 * i] for i in range(8)]
    walks = []  # per walk: the length of each run
    for seed, context in enumerate(contexts):
        stepped = engine_for(tiny, seed=seed, guesses=False)
        drafted = engine_for(tiny, seed=seed)
        drafted.fast.runs_fast = True  # the tiny model is fp32: guesses are read with steps, the same figures
        drafted.fast.run = lambda codes, state, fast=drafted.fast: walks[-1].append(len(codes)) or \
            fast.run_stepped(codes, state)
        for resample in (False, True):  # greedy, then drawn with the run's random numbers
            want = [(s.text, s.mean_logprob) for s in stepped.suggest(context, resample=resample)]
            got = [(s.text, s.mean_logprob) for s in drafted.suggest(context, resample=resample)]
            assert got == want, (context[-40:], resample)
    assert sum(max(runs, default=0) >= 8 for runs in walks) >= 10
    if sure == 0.0:
        assert any(len(runs) == 2 for runs in walks)

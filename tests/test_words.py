"""Suggestions a writer can trust: real words (the document's or the word list's), the document's own names first,
and the writer's typography (curly quotes, dashes) in every suggestion."""

from __future__ import annotations

import random
import re

import pytest

from charwriter.engine import Engine, EngineSettings
from charwriter.lm.checkpoint import load_model
from charwriter.lm.lexicon import WORD, Lexicon
from charwriter.lm.rules import PARTIAL_WORD, Typography, never_taken, restyle, typography_of
from charwriter.widgets.suggestions import confidence_bar
from conftest import WORDS, make_text

LEXICON = Lexicon({word: 10 for word in WORDS} | {"walked": 3, "water": 5, "want": 9, "wander": 2, "washed": 4})
CONTEXTS = [make_text(120 + 31 * i, seed=i) for i in range(24)]


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    return load_model(tiny_model_path)


def engine_for(loaded, lexicon: Lexicon | None = LEXICON, **settings) -> Engine:
    settings.setdefault("precision", "fp32")
    settings.setdefault("wrap_width", 0)  # the contexts as written: these tests pick words the tiny model brings there
    engine = Engine(loaded, EngineSettings(**settings))
    engine.lexicon = lexicon
    return engine


def unknown_words(context: str, text: str, lexicon: Lexicon) -> list[str]:
    """The words a suggestion completes or adds that neither the word list nor the context holds."""
    start = PARTIAL_WORD.search(context).group(0)
    out = []
    for match in WORD.finditer(start + text):
        if match.end() > len(start) and not lexicon.knows(match.group(0)) and match.group(0) not in context:
            out.append(match.group(0))
    return out


def rated(loaded, lexicon, **settings) -> list[tuple[str, str]]:
    """(word nobody knows, its rating) for every suggestion of a tiny model over many contexts, cut mid-word too."""
    found = []
    for i, context in enumerate(CONTEXTS):
        context = context[: len(context) - i % 4]  # inside a word as often as after one
        for suggestion in engine_for(loaded, lexicon, seed=i, **settings).suggest(context):
            for word in unknown_words(context, suggestion.text, LEXICON):
                found.append((word, confidence_bar(suggestion.mean_logprob)[1]))
    return found


def test_a_word_nobody_knows_is_never_rated_above_a_guess(tiny):
    without = rated(tiny, None, words=False)
    assert [r for _, r in without if r != "a guess"], "the tiny model offers no non-word rated higher: no test"
    assert all(rating == "a guess" for _, rating in rated(tiny, LEXICON)), rated(tiny, LEXICON)


def test_no_alternative_ends_in_a_hyphen_or_a_dash(tiny):
    for i, context in enumerate(CONTEXTS):
        for suggestion in engine_for(tiny, seed=i).suggest(context)[1:]:
            assert not suggestion.text.rstrip().endswith("-")


def test_the_grey_text_stops_before_a_word_nobody_knows(tiny):
    """Words the model's grey text brings (after its first word) into a context that never used them become words
    nobody knows (the list drops them): the grey text then stops before them or is rated a guess."""
    from collections import Counter

    plain = [engine_for(tiny, None, seed=i, ghost_confidence=0, words=False).suggest(c) for i, c in enumerate(CONTEXTS)]
    brought = Counter(w for out, context in zip(plain, CONTEXTS) if out
                      for w in set(WORD.findall(out[0].text)[1:]) if w not in context)
    strangers = {w for w, _ in brought.most_common(3)}
    assert strangers  # the model's own grey text does bring such words here: the test can fail
    lexicon = Lexicon({w: 1 for w in WORDS if w not in strangers})
    for i, context in enumerate(CONTEXTS):
        out = engine_for(tiny, lexicon, seed=i, ghost_confidence=0).suggest(context)
        if out and confidence_bar(out[0].mean_logprob)[1] != "a guess":
            found = set(WORD.findall(PARTIAL_WORD.search(context).group(0) + out[0].text))
            assert not {w for w in strangers & found if w not in context}, (context[-20:], out[0])


def test_a_completion_of_the_word_list_that_the_beam_missed_takes_its_place_in_the_pane(tiny):
    """A narrow beam (3 words) misses words the model finds likely; the word list's completions of the letters
    typed are scored by the model and shown by that score."""
    proposed = 0
    for i, context in enumerate(CONTEXTS):
        context = re.sub(r"\W*\w*$", "", context) + " " + random.Random(i).choice(["wa", "th", "ri", "mo", "ho"])
        engine = engine_for(tiny, k=3, beam_width=3, seed=i)
        out = engine.suggest(context)
        rows = [row for row, _, _ in engine._last.rows]
        start = context[-2:]
        for suggestion in out[1:]:
            word = suggestion.text.strip()
            if not any(row.startswith(word) for row in rows):
                assert LEXICON.knows(start + word), (context[-10:], suggestion)
                proposed += 1
    assert proposed >= 3


def test_a_name_typed_twice_outranks_a_word_only_the_training_text_knows(tiny):
    """The writer's own name after its first name ("Sela Rowd"), not the model's own word (the tiny model's letters:
    it has no V for "Marta Vell")."""
    document = make_text(600, seed=3) + " Sela Rowd came. Then Sela Rowd walked along the water. Her brother and Sela "
    out = engine_for(tiny, LEXICON, seed=0).suggest(document)
    assert out[0].text.startswith("Rowd")


TYPED = ("\u201cI walked to the mill,\u201d she said\u2014and her brother\u2019s books were there. \u201cThe river "
         "was quiet\u2026\u201d ")


@pytest.fixture(scope="module")
def quoting(tmp_path_factory):
    """A tiny model that learnt straight quotes, apostrophes and -- dashes, as plain texts write them."""
    from charwriter.lm.data import Corpus
    from charwriter.lm.train import TrainConfig, Trainer

    rng = random.Random(0)
    parts = []
    for sentence in make_text(24_000, seed=5).split(". "):
        form = rng.random()
        parts.append(f'"{sentence}," she said' if form < 0.4 else f"{sentence}--it's hers" if form < 0.7 else sentence)
    root = tmp_path_factory.mktemp("quoting")
    corpus = Corpus.from_text(". ".join(parts) + ".", name="quotes.txt")
    config = TrainConfig(hidden_size=32, num_layers=1, dropout=0.0, batch_size=8, seq_len=32, epochs=2, lr=1e-2,
                         eval_every=0, seed=0, sample_length=20, precision="fp32")
    Trainer(corpus, config, root / "run").run()
    return load_model(root / "run" / "best.safetensors")


def test_a_document_in_curly_quotes_and_em_dashes_never_receives_straight_ones(quoting):
    plain_seen = curly_seen = 0
    for i in range(40):
        context = TYPED + make_text(80 + 9 * i, seed=20 + i)[: 40 + 7 * i]
        styled = [s.text for s in engine_for(quoting, seed=i, ghost_confidence=0).suggest(context)]
        plain = [s.text for s in engine_for(quoting, seed=i, ghost_confidence=0, typography=False).suggest(context)]
        plain_seen += any(ch in "".join(plain) for ch in "\"'") or "--" in "".join(plain)
        text = "".join(styled)
        assert '"' not in text and "'" not in text and "--" not in text, (context[-20:], styled)
        curly_seen += any(ch in text for ch in "\u201c\u201d\u2019\u2014")
    assert plain_seen and curly_seen  # the model does write quotes and dashes here: the test can fail


def test_typography_follows_the_document():
    assert typography_of("plain \"quotes\" and it's -- here") == Typography()
    style = typography_of(TYPED)
    assert restyle('"Yes," he said--it\'s Anna\'s. \'No\'...', "x ", style) == \
        "\u201cYes,\u201d he said\u2014it\u2019s Anna\u2019s. \u2018No\u2019\u2026"
    assert restyle(' -- and', "word", typography_of("a \u2013 b \u2013 c")) == " \u2013 and"
    assert restyle("so...", "", typography_of("wait\u2026 and \u2026")) == "so\u2026"


def test_one_curly_mark_says_how_the_writer_s_editor_sets_the_others():
    """Word processors and phones curl both quotes and make "--" an em dash: a document that so far shows only curly
    double quotes gets curly apostrophes and em dashes, not the keyboard's; a spaced em dash stays spaced."""
    style = typography_of("She came in. \u201cYou")
    assert restyle("'re late--again, it's \"fine\"", "\u201cYou", style) == \
        "\u2019re late\u2014again, it\u2019s \u201cfine\u201d"
    assert typography_of("the boiler\u2019s broken").double == "\u201c\u201d"
    spaced = typography_of("The boiler \u2014 again \u2014 broke.")
    assert restyle("broken--again", "", spaced) == "broken \u2014 again"
    assert restyle("--again", "broken ", spaced) == "\u2014 again"  # the writer has typed the space before it
    assert typography_of('"Yes," he said. It\u2019s late') == Typography('""', "\u2018\u2019", "--", "...")
    assert restyle("pacing--the middle", "", typography_of("I agree - the middle drags - and")) == "pacing - the middle"
    assert typography_of("A list:\n- one\n- two").dash == "--"


def test_no_second_full_stop_after_a_sentence_that_ended_in_quotes():
    assert never_taken('he said."', ".")
    assert never_taken("she left!", "!")
    assert never_taken("so,", ",")
    assert not never_taken("so", ", and")
    assert not never_taken('he said."', " And")
    assert never_taken("broken \u2014", "\u2014\u2014 ") and never_taken("broken --", "-- ")
    assert never_taken("four months ago,", ".") and never_taken("as follows:", ", and")
    assert not never_taken("a well-", "known") and not never_taken("broken --", " and")
    assert not never_taken("in my case-", "-it ")  # the second hyphen of a typed "--"
    assert never_taken("broken --", "'s ") and never_taken("said ", "'ll go") and not never_taken("the boiler", "'s ")
    assert not never_taken("she said, ", "'Yes,") and not never_taken("and ", "'tis")  # a quote or an old word
    assert not never_taken("", "--") and not never_taken("", ".")  # nothing before: nothing restated


def test_no_suggestion_repeats_a_sentence_end_inside_quotes(quoting):
    for i in range(12):
        context = make_text(100 + 13 * i, seed=40 + i).rstrip(".!? ") + '."'
        for suggestion in engine_for(quoting, seed=i).suggest(context):
            assert suggestion.text[:1] not in ".!?,;:", (context[-20:], suggestion)


def test_a_document_the_word_list_does_not_know_is_judged_by_its_own_words(tiny):
    lexicon = Lexicon({"zzz": 1})
    assert not lexicon.english_enough(make_text(600))
    assert LEXICON.english_enough(make_text(600))
    out = engine_for(tiny, lexicon, seed=0).suggest(CONTEXTS[5])
    assert [s.text for s in out] == [s.text for s in engine_for(tiny, None, seed=0, words=False).suggest(CONTEXTS[5])]


def test_the_bundled_word_list_knows_english_and_not_the_pane_s_old_non_words():
    from charwriter.lm.lexicon import bundled

    lexicon = bundled()
    assert lexicon is not None and len(lexicon) > 40_000
    for word in ("harbour", "Harbour", "don't", "Marta's" if lexicon.knows("Marta") else "lady's", "well-known"):
        assert lexicon.knows(word), word
    for word in ("finting", "Pelace", "Peliever", "Tobition", "Harrowm"):
        assert not lexicon.knows(word), word
    assert "harbour" in lexicon.completions("har", 20)


def test_the_bundled_word_list_knows_modern_words_but_proposes_no_obscenity_or_chat_shorthand():
    """The books are 1700s-1920s: today's common words come from wordfreq's list (models/prepare_english.py); what it
    keeps out is never known from the list, nor a contraction written without its apostrophe."""
    from charwriter.lm.lexicon import bundled

    lexicon = bundled()
    for word in ("okay", "weekend", "website", "laptop", "video", "teenager", "email", "smartphone", "Okay"):
        assert lexicon.knows(word), word
    for word in ("fucking", "shit", "lol", "thats", "didnt", "youve", "nigger"):  # the last from a 19th-century book
        assert not lexicon.knows(word), word
    assert "weekend" in lexicon.completions("weeke", 5)
    assert not any(word.startswith("fuck") for word in lexicon.completions("fu", 10_000))


def test_the_document_s_name_takes_the_grey_text_from_a_name_it_never_used():
    from types import SimpleNamespace

    from charwriter.engine.shown import Suggestion, _names_of_the_document_first
    from charwriter.lm.memory import WordIndex

    memory = SimpleNamespace(words=WordIndex.of("Marta Vell came. Marta Vell went. The Vellov house."))
    out = [Suggestion("Nikolaevna ", -0.2), Suggestion("Vellov ", -0.3), Suggestion("Vell ", -0.4)]
    assert [s.text for s in _names_of_the_document_first(out, "", memory)] == ["Vell ", "Nikolaevna ", "Vellov "]
    assert _names_of_the_document_first(out[1:], "", memory) == out[1:]  # the model's name is the document's
    lower = [Suggestion("was ", -0.2), Suggestion("Vell ", -0.4)]
    assert _names_of_the_document_first(lower, "", memory) == lower  # only a name gives way to a name


def test_the_first_grey_text_before_torch_follows_the_same_rules():
    """The numpy preview's grey text (`charwriter.lm.preview`) is judged as the engine's is."""
    from charwriter.lm.preview import as_the_writer_writes

    assert as_the_writer_writes("He said, \u201cgo.\u201d", ". And", -0.1) == ("", 0.0)
    assert as_the_writer_writes("She said, \u201cgo\u2014now", ' is "here" Tobition', -0.1)[0] == " is \u201chere\u201d "
    assert as_the_writer_writes("the wet stones of the ", "Pelace of", -0.1) == ("Pelace of", -1.01)  # a guess
    assert as_the_writer_writes("the wet stones of the ", "harbour Pelace", -0.1) == ("harbour ", -0.1)


def test_the_word_list_is_found_wherever_the_bundled_models_are_even_after_a_place_without_one(tmp_path,
                                                                                             monkeypatch):
    """A test (or an install) that points the bundled models elsewhere must not leave the list unread for good."""
    from charwriter import paths
    from charwriter.lm.lexicon import bundled

    real = paths.bundled_models_dir()
    monkeypatch.setattr(paths, "bundled_models_dir", lambda: tmp_path)
    assert bundled() is None
    monkeypatch.setattr(paths, "bundled_models_dir", lambda: real)
    assert bundled() is not None and bundled().knows("harbour")


def test_a_suggestion_spells_a_word_as_the_document_does():
    """The model reads "café" as "cafe" and "Cæsar" as "Caesar" (a letter it lacks: its accent dropped, its ligature
    spelt out); what it suggests is written back in the document's spelling, and never with the letter dropped."""
    from charwriter.lm.rules import translate, writers_style

    index = {ch: i for i, ch in enumerate("abcdefghijklmnopqrstuvwxyzCJWZ .")}
    normalise = lambda text: "".join(translate(ch, index) for ch in text)  # noqa: E731
    document = "We met at the café. Julius Cæsar and Zoë came. "
    assert normalise("Cæsar ßø") == "Caesar sso"
    assert writers_style(document + "the ca", normalise)("fe was") == "fé was"
    assert writers_style(document + "Julius C", normalise)("aesar came") == "æsar came"
    assert writers_style(document + "Julius Cæ", normalise)("sar came") == "sar came"
    assert writers_style(document, normalise)("Zoe left the cafe") == "Zoë left the café"
    assert writers_style("a plain document ", normalise)("cafe") == "cafe"


def test_the_engine_writes_the_document_s_accented_words_as_the_document_does(tiny):
    spelt = {"mill": "m\u00efll", "brother": "br\u00f8ther", "river": "r\u00ecver"}
    found = 0
    for i, context in enumerate(CONTEXTS[:12]):
        for plain, own in spelt.items():
            context = context.replace(plain, own)
        used = {plain for plain, own in spelt.items() if own in context}  # the document's spelling of these
        for start in ("the m", "her br", "the r"):  # letters typed as the document spells them
            out = engine_for(tiny, LEXICON, seed=i, ghost_confidence=0).suggest(context + start)
            texts = [suggestion.text.removesuffix(" ") for suggestion in out]
            assert len(texts) == len(set(texts)), texts  # the model's "ill" and the document's "ïll" are one
            for suggestion in out:
                words = re.findall(r"\w+", start + suggestion.text)[1:]
                assert not set(words) & used, (start, suggestion.text)
                found += bool(set(words) & set(spelt.values()))
    assert found  # the model does suggest these words here: the test can fail


def test_no_word_in_capitals_unless_the_writer_writes_it_so():
    """The books' headings ("CHAPTER", "THE"), which the model offers at a paragraph's start, are cut or left out;
    capitals the document holds, or that the writer is typing, stay."""
    from charwriter.engine.shown import Suggestion, in_the_writers_case
    from charwriter.lm.preview import as_the_writer_writes

    out = [Suggestion("CHAPTER ", -0.2), Suggestion("The ", -0.3), Suggestion("And THE end", -0.4),
           Suggestion("I ", -0.5), Suggestion("NASA ", -0.6), Suggestion("The II", -0.7)]
    texts = lambda suggestions: [s.text for s in suggestions]  # noqa: E731
    assert texts(in_the_writers_case(out, "The end.\n\n", None)) == ["The ", "And ", "I "]
    assert texts(in_the_writers_case(out, "NASA said so.\n\n", None)) == ["The ", "And ", "I ", "NASA "]
    assert texts(in_the_writers_case([Suggestion("APTER ", -0.1)], "The end.\n\nCH", None)) == ["APTER "]
    assert in_the_writers_case([Suggestion("HE ", -0.1)], "The end.\n\nT", None) == []  # "THE": one capital typed
    assert texts(in_the_writers_case([Suggestion("THE ", -0.1)], "A HEADING\n\nMY TRIP TO ", None)) == ["THE "]
    assert in_the_writers_case([Suggestion("THE ", -0.1)], "A HEADING\n\n", None) == []  # a new line, a new start
    assert as_the_writer_writes("The end.\n\n", "CHAPTER I", -0.1) == ("", 0.0)
    assert as_the_writer_writes("The end.\n\n", "And THE", -0.1) == ("And ", -0.1)


def test_no_suggestion_brings_a_second_space_or_an_indentation_the_document_does_not_have():
    """After a space typed after something on the line, a suggestion's spaces are dropped (the books' verse
    indentation after a Markdown "# ", which the model cannot read), and at a line's start unless the document has
    an indented line; a suggestion of spaces only is none then. A document that indents is offered its indentation."""
    from charwriter.lm.preview import as_the_writer_writes
    from charwriter.lm.rules import no_second_space

    assert no_second_space("# ", "    The ") == "The " and no_second_space("Hello. ", " The ") == "The "
    assert no_second_space("Hello.", " The ") == " The " and no_second_space("a\nb\tc ", "  d") == "d"
    assert no_second_space("", "  I") == "I" and no_second_space("Dear Sam,\n", "  The ") == "The "
    assert no_second_space("Dear Sam,\n\n", "  ") == ""
    letter = "She read:\n      My dear Lizzy,\n"
    assert no_second_space(letter, "      Under ") == "      Under "  # the document indents: its indentation
    assert no_second_space("She read:\n  ", "    Under ") == "    Under "  # the writer is indenting this line
    assert no_second_space(letter + "      I am ", " well") == "well"
    assert no_second_space("as for myself.", "  The ") == " The "  # one space between words, as the document
    assert no_second_space("Two spaces.  As I do.", "  The ") == "  The "
    assert as_the_writer_writes("# ", "    ", -0.1) == ("", 0.0)
    assert as_the_writer_writes("# ", "    The ", -0.1) == ("The ", -0.1)
    assert as_the_writer_writes("Dear Sam,\n", "  ", -0.1) == ("", 0.0)
    assert as_the_writer_writes(letter, "      I ", -0.1) == ("      I ", -0.1)

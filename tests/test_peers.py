"""benchmarks/peers.py: the peers' harness types as keystrokes.py's writer does, and its peers adapters work."""

from __future__ import annotations

import os
import random
import sys
import tempfile
from argparse import Namespace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import keystrokes  # noqa: E402
import peers  # noqa: E402
from peers import Suggestion, completions  # noqa: E402

TEXT = ("Marta Vell walked down to the harbour. The boats were in, and Marta Vell counted them: nine, "
        "then ten. \"Ten boats,\" she said, and the harbour master nodded. ") * 8


class FixedEngine:
    """Suggestions fixed by the position in the text: right, half right or wrong, in the grey text or the pane."""

    def __init__(self, text: str, seed: int = 0):
        self.text = text
        rng = random.Random(seed)
        self.plan = [rng.choice(["right", "half", "wrong", "pane", "none"]) for _ in range(len(text) + 1)]

    def remember(self, history: str) -> None:
        pass

    def suggest(self, text: str) -> list[Suggestion]:
        rest = self.text[len(text):]
        word = rest[: rest.find(" ", 1) + 1] if " " in rest[1:] else rest
        kind = self.plan[len(text)]
        if kind == "right":
            return [Suggestion(word), Suggestion("zz ")]
        if kind == "half":
            return [Suggestion(rest[:12] + "qq")]
        if kind == "wrong":
            return [Suggestion("qq " + word)]
        if kind == "pane":
            return [Suggestion("qq "), Suggestion("zz "), Suggestion(word)]
        return []


def passage_args(**changes) -> Namespace:
    return Namespace(**{"start": None, "chars": 150, "passages": 3, "tab_only": False, **changes})


def test_the_peers_harness_gives_the_charwriter_writers_keys():
    args = passage_args()
    expected = keystrokes.Tally()
    for start, chars in keystrokes.passages(TEXT, args):
        expected.add(keystrokes.type_passage(FixedEngine(TEXT), TEXT[:start], TEXT[start : start + chars]))
    peer = peers.Peer("fixed", lambda folder: FixedEngine(TEXT))
    result, failures = peers.run(peer, TEXT, None, args)  # each passage in a child process, as a real peer
    assert failures == []
    fields = ("chars", "keys", "grey_saved", "pane_saved", "grey_shown", "grey_taken")
    assert [getattr(result, name) for name in fields] == [getattr(expected, name) for name in fields]
    assert 0 < result.grey_taken < result.grey_shown < result.keys


def test_grey_text_precision_counts_the_keystrokes_where_a_word_of_it_was_taken():
    plan = {0: ["the "], 4: ["dog ", "cat "], 8: [], 9: ["at"], 10: ["x"]}

    class Planned:
        def remember(self, history):
            pass

        def suggest(self, text):
            return [Suggestion(s) for s in plan[len(text)]]

    result = peers.run_passage(peers.Peer("planned", lambda folder: Planned()), "", "the cat sat")
    # Tab "the ", pick "cat " (2 keys), type "s" (no grey text shown), Tab "at"
    assert (result.keys, result.grey_shown, result.grey_taken) == (5, 3, 2)
    assert result.precision == pytest.approx(2 / 3)


def test_a_peer_that_aborts_loses_its_passages_and_the_run_goes_on():
    class Aborts:
        def remember(self, history):
            pass

        def suggest(self, text):
            os.abort()  # what presage does on a failed assertion

    class Raises(Aborts):
        def suggest(self, text):
            raise ValueError("no history")

    args = passage_args(passages=2)
    result, failures = peers.run(peers.Peer("aborts", lambda folder: Aborts()), TEXT, 0, args)
    assert result.chars == 0 and len(failures) == 2 and "SIGABRT" in failures[0]
    result, failures = peers.run(peers.Peer("raises", lambda folder: Raises()), TEXT, 0, args)
    assert "ValueError: no history" in failures[0]


def test_word_predictions_become_what_the_editor_inserts():
    # the rest of the word, the typed prefix keeping its case (presage predicts in lowercase)
    assert [s.text for s in completions("said Mr. Dar", "dar", ["darcy", "dare", "Darcy"])] == ["cy ", "e "]
    assert [s.text for s in completions("said ", "", ["Mr.", "she"])] == ["Mr. ", "she "]
    assert [s.text for s in completions("she said,", "", ["and"])] == [" and "]  # a space after punctuation
    assert [s.text for s in completions('she said, "', "", ["Yes"])] == ["Yes "]  # none after an opening quote
    assert [s.text for s in completions("was 19", "<num>", ["<num>"])] == []  # the peer's prefix is not the text's
    assert len(completions("the ", "", [f"w{i}" for i in range(20)])) == peers.K


def test_onboard_learns_the_words_finished_in_order():
    assert peers.ngrams_ending(["a", "b", "c", "d"], 3) == [["b", "c", "d"], ["c", "d"], ["d"]]
    assert peers.ngrams_ending(["a", "<s>", "b"], 2) == [["<s>", "b"], ["b"]]
    assert peers.ngrams_ending(["a", "<unk>", "b"], 2) == [["b"]]
    assert peers.finished_at("one two thr") == 7


def presage_or_skip():
    try:
        peers.presage_library()
        if not peers.shutil.which("text2ngram"):
            raise peers.PeerMissing(f"presage's text2ngram is not installed: {peers.PRESAGE_INSTALL}")
    except peers.PeerMissing as missing:
        pytest.skip(str(missing))


def test_presage_completes_words_and_learns_the_documents_names(tmp_path):
    presage_or_skip()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The harbour was quiet. The boats were in the harbour and the men were at home.\n" * 50)
    database = tmp_path / "presage.db"
    peers.build_presage_database(corpus, database)

    def suggest(history: str, text: str, typing: bool = False) -> list[str]:
        """Suggestions after `text`, pasted after `history`, or typed a keystroke at a time (presage learns from
        the words typed, and never repeats a word it offered at an earlier keystroke of the same word)."""
        def work():
            with tempfile.TemporaryDirectory() as folder:
                presage = peers.Presage(database, Path(folder))
                presage.remember(history)
                for typed in range(len(text) + 1) if typing else [len(text)]:
                    words = [s.text for s in presage.suggest(history + text[:typed])]
                return words

        words, why = peers.isolated(work)
        assert why is None
        return words

    assert suggest("", "The boats were in the Har")[0] == "bour "  # the typed prefix keeps its case
    # learnt from the document before the passage, and from each word as it is typed (in lowercase, as presage is)
    assert "vell " in suggest("Marta Vell sat. Marta Vell stood. ", "Marta ")
    assert "vell " not in suggest("It was late. ", "Marta ")
    assert "vell " in suggest("It was late. ", "Marta Vell sat. Marta Vell stood. Marta ", typing=True)


def onboard_or_skip():
    try:
        return peers.import_pypredict(None)
    except peers.PeerMissing as missing:
        pytest.skip(str(missing))


def test_onboard_completes_words_and_learns_the_documents_names(tmp_path):
    pypredict = onboard_or_skip()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The harbour was quiet. The boats were in the harbour and the men were at home.\n" * 50)
    path = tmp_path / "onboard.lm"
    peers.build_onboard_model(pypredict, corpus, path)
    system = pypredict.DynamicModelKN(3)
    system.load(str(path))

    def suggest(history: str, text: str) -> list[str]:
        onboard = peers.Onboard(pypredict, system)
        onboard.remember(history)
        return [s.text for s in onboard.suggest(history + text)]

    assert suggest("", "The boats were in the har")[0] == "bour "
    assert suggest("Marta Vell sat. Marta Vell stood. ", "Marta ")[0] == "Vell "
    # a word finished while typing is learnt before the next prediction
    assert "Vell " in suggest("", "Marta Vell sat. Marta Vell stood.\nMarta ")


@pytest.mark.parametrize("corpus, says", [
    ("held-out/wells-kipps.txt", "stands for a writer's unseen text"),
    ("pride-and-prejudice.txt", "stands for a writer's unseen text"),
    ("mine.txt", "both the training text and a text measured"),
    ("missing.txt", "not found"),
])
def test_peers_refuse_to_train_on_unseen_or_measured_text(tmp_path, monkeypatch, capsys, corpus, says):
    (tmp_path / "held-out").mkdir()
    for name in ("held-out/wells-kipps.txt", "pride-and-prejudice.txt", "mine.txt"):
        (tmp_path / name).write_text(TEXT)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["peers.py", "mine.txt", "--corpus", corpus, "--cache", str(tmp_path / "cache")])
    with pytest.raises(SystemExit) as exit:
        peers.main()
    assert exit.value.code == 2
    error = capsys.readouterr().err
    assert says in error and len(error.strip().splitlines()) == 1


def test_a_first_suggestion_not_drawn_as_grey_text_is_only_a_pane_pick():
    from charwriter.engine import Suggestion as EngineSuggestion

    drawn = [EngineSuggestion("the cat ", -0.1), EngineSuggestion("a dog ", -0.5)]
    assert keystrokes.best_action(drawn, "the cat sat") == (8, 1, "tab")
    assert keystrokes.best_action(drawn, "the dog") == (3, 1, "word")
    undrawn = [EngineSuggestion("the cat ", -0.1, inline=False), EngineSuggestion("a dog ", -0.5)]
    assert keystrokes.best_action(undrawn, "the cat sat") == (8, 2, "pick")  # Alt+S and its number
    assert keystrokes.best_action(undrawn, "the dog") == (1, 1, "type")  # no word by word from the pane
    assert keystrokes.best_action(undrawn, "a dog ran") == (6, 2, "pick")


def test_a_writer_who_never_reads_the_pane_takes_only_the_grey_text():
    from charwriter.engine import Suggestion as EngineSuggestion

    shown = [EngineSuggestion("the cat ", -0.1), EngineSuggestion("a dog ", -0.5)]
    assert keystrokes.best_action(shown, "the dog", pane=False) == (3, 1, "word")
    assert keystrokes.best_action(shown, "a dog ran", pane=False) == (1, 1, "type")
    assert keystrokes.best_action(shown, "a dog ran") == (6, 2, "pick")
    both, tab = keystrokes.Tally(), keystrokes.Tally()
    for start, chars in keystrokes.passages(TEXT, passage_args()):
        both.add(keystrokes.type_passage(FixedEngine(TEXT), TEXT[:start], TEXT[start : start + chars]))
        tab.add(keystrokes.type_passage(FixedEngine(TEXT), TEXT[:start], TEXT[start : start + chars], False))
    assert both.pane_saved > 0 and tab.pane_saved == 0 and tab.keys > both.keys


def test_one_line_paragraphs_joins_a_books_lines_and_keeps_its_blank_lines():
    book = "It was a bright\nmorning.\n\nThe letter\ncame.\n"
    assert keystrokes.one_line_paragraphs(book) == "It was a bright morning.\n\nThe letter came. "
    assert len(keystrokes.one_line_paragraphs(book)) == len(book)

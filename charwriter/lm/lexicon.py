"""Known words: what a suggestion may complete or add without being called a guess.

A character model spells; it does not know which strings are words. A suggestion that completes or adds a word
offers one the writer can trust: a word of the document, or of the word list shipped with the models
(`models/words-en.txt.gz`: the words of the general English corpus and of the seed's training text that occur at
least twice, and today's commonest English words, with their counts; `models/prepare_english.py --words` builds
it). Case does not matter, a possessive
`'s` and the parts of a hyphenated word are judged separately, and a typed curly apostrophe is a straight one.

The list judges only where it can: a document whose words it mostly does not know (another language, a private
jargon) is left to the document's own words (`english_enough`).
"""

from __future__ import annotations

import gzip
import heapq
import re
from bisect import bisect_left
from functools import lru_cache
from pathlib import Path

WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")  # letters, with inner apostrophes ("don't", "o'clock")
WORDS_FILE = "words-en.txt.gz"
GUESS = -1.01  # a word nobody knows is rated at most this: "a guess" (widgets.suggestions: below -1.0)
ENGLISH_SHARE = 0.8  # the list judges a document when it knows this share of the document's recent words
ENGLISH_SAMPLE = 12  # ... of at least this many words in lower case


def _plain(word: str) -> str:
    return word.replace("\u2019", "'").lower()


class Lexicon:
    """Words (lower case) and how often the corpus used them."""

    def __init__(self, counts: dict[str, int]):
        self.counts = counts
        self.sorted = sorted(counts)  # the words with a given start: one binary search

    @classmethod
    def load(cls, path: str | Path) -> "Lexicon":
        counts = {}
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                word, _, count = line.rstrip("\n").partition("\t")
                if word:
                    counts[word] = int(count or 1)
        return cls(counts)

    def __len__(self) -> int:
        return len(self.counts)

    def knows(self, word: str) -> bool:
        """A word of the list, in any case; "Marta's" when "Marta" is; "well-known" when "well" and "known" are."""
        word = _plain(word).strip("'-")
        if not word:
            return True
        if word in self.counts:
            return True
        if "-" in word:
            return all(self.knows(part) for part in word.split("-") if part)
        for ending in ("'s", "'"):
            if word.endswith(ending) and word[: -len(ending)] in self.counts:
                return True
        return False

    def completions(self, start: str, limit: int) -> list[str]:
        """The `limit` most frequent words that go on from `start` (the typed letters keep their case)."""
        low = _plain(start)
        words = self.sorted
        i = bisect_left(words, low)
        j = bisect_left(words, low + "\U0010ffff", i)
        found = heapq.nlargest(limit, (w for w in words[i:j] if w != low), key=self.counts.__getitem__)
        return [start + word[len(start) :] for word in found]

    def english_enough(self, text: str) -> bool:
        """Does the list know most of the words of `text` (the end of a document)? Too few words: yes. Only words
        in lower case count: a short story's names are not a sign of another language."""
        words = [word for word in WORD.findall(text) if word.islower()]
        if len(words) < ENGLISH_SAMPLE:
            return True
        return sum(self.knows(w) for w in words) >= ENGLISH_SHARE * len(words)


def first_unknown(start: str, text: str, knows) -> int | None:
    """Where in `text` (a continuation of `start`, the word begun at the cursor) the first word it completes or
    adds that `knows(word)` rejects begins (<= 0: the word begun at the cursor), or None. Words typed whole before
    the cursor are the writer's, not judged."""
    for match in WORD.finditer(start + text):
        if match.end() > len(start) and not knows(match.group(0)):
            return match.start() - len(start)
    return None


def trusted(start: str, text: str, knows) -> str:
    """`text` cut before the first word nobody knows ("" when that is its first word): the grey text a writer can
    take as it is."""
    cut = first_unknown(start, text, knows)
    if cut is None:
        return text
    return text[: max(0, cut)].rstrip("\"'([\u201c\u2018") if text[: max(0, cut)].strip(" \"'([\u201c\u2018") else ""


def writes_capitals(before: str) -> bool:
    """The writer is writing in capitals: the last word on the line before the cursor is ("MY TRIP TO ")."""
    last = WORD.findall(before[before.rfind("\n") + 1 :][-64:])
    return bool(last) and _capitals(last[-1])


def without_capitals(start: str, text: str, writes) -> str:
    """`text` (continuing `start`, the word begun at the cursor) cut before the first word in capitals of two
    letters or more that the writer does not write so (`writes(word)` False), "" when that is its first word: the
    books' headings ("CHAPTER", "THE"), which the model offers at a paragraph's start. Callers skip it while the
    writer `writes_capitals`."""
    return trusted(start, text, lambda word: not _capitals(word) or writes(word))


def _capitals(word: str) -> bool:
    return word.isupper() and sum(ch.isalpha() for ch in word) >= 2


def bundled() -> Lexicon | None:
    """The word list shipped with the models (None if it is missing), read once per place it lies."""
    from charwriter.paths import bundled_models_dir

    return _read(bundled_models_dir() / WORDS_FILE)


@lru_cache(maxsize=4)
def _read(path: Path) -> Lexicon | None:
    return Lexicon.load(path) if path.is_file() else None

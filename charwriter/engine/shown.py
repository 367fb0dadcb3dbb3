"""Which suggestions the writer is shown: the engine's output type, the words it trusts (the document's and the word
list's), the document's own words among the alternatives, and only alternatives worth reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

from charwriter.lm.lexicon import GUESS, Lexicon, trusted, without_capitals, writes_capitals
from charwriter.lm.memory import MIN_WORD, WORD, DocumentMemory
from charwriter.lm.rules import PARTIAL_WORD, SPACE, WORD_START

FAR_BELOW = 1.0  # an alternative this many nats/char below the first is not worth reading
PANE_FLOOR = math.log(0.003)  # nor one whose first word the model gives less than 0.3 %: its mean per character
# hides it ("out o" -> "pposite", "her" -> "--and"): right 2 times in 812 on the English model's unseen text
DOCUMENT_WORD_AFTER = 2  # letters typed before a word of the document may take the grey text from the model's
PROPOSE_AFTER = 2  # letters typed before the word list proposes completions the beam missed
PROPOSALS = 10  # the word list's most frequent completions scored by the model on a keystroke (one batch a letter)
GUESSES_SHOWN = 0  # alternatives nobody knows beside the grey text (itself a guess then): a writer typing a new name
# is better served by one guess than by a pane of them
DOCUMENT_WORD_TIMES = 2  # how often the document must have used it: a name typed twice is completed the third time
RECENT_HALFLIFE = 96  # words: a use of a word in the text just read counts half as much this many words on (the
# recency half-life of Onboard's word predictor, whose cache wins on a document's own terms)
RECENT_LEAST = 0.3  # a recent word's weight before it goes next to the grey text: one use in the last ~160 words
RECENT_WORDS = 3  # the text just read's words put right after the grey text, at most
FOLLOWER_LEAST = 0.5  # after a space: a word's weight as a follower of the last word before it goes next to the grey
# text: it followed that word within the last ~96 words (0.5 and 1.0 compared on the English model's unseen text)
FOLLOWERS_SHOWN = 2  # followers put right after the grey text, at most


@dataclass
class Suggestion:
    text: str  # the continuation only (not the prefix); printable characters; ends at L chars or a sentence end
    mean_logprob: float  # mean log-probability per generated character, nats (<= 0): the confidence figure
    first_word: float = 0.0  # log-probability the model gave its first word (0: not one of the model's own runs)
    inline: bool = True  # drawn as the grey text (the first suggestion); False: the model is too unsure of its first
    # word (`EngineSettings.ghost_floor`), so it waits in the pane


def real_words(out: list[Suggestion], window: str, lexicon: Lexicon, memory: DocumentMemory | None, k: int,
               normalise: Callable[[str], str], score: Callable[[list[str]], list[float]] | None) -> list[Suggestion]:
    """Suggestions that complete or add words the writer can trust (`charwriter.lm.lexicon`): a word neither the
    document nor the word list knows is rated a guess and shown only when nothing better exists (the grey text stops
    before one it would add later); an alternative never ends in a hyphen or a dash; and the list's likeliest
    completions of the letters typed, which the beam missed, are scored by the model (`score`, None: not proposed)
    and take their place among the alternatives."""
    start = PARTIAL_WORD.search(window[-64:]).group(0)

    def knows(word: str) -> bool:
        return lexicon.knows(word) or _document_knows(word, memory, window)

    kept, guesses = [], []
    for i, suggestion in enumerate(out):
        if i and suggestion.text.rstrip().endswith("-"):
            continue
        text = trusted(start, suggestion.text, knows)
        if text == suggestion.text:
            kept.append(suggestion)
        elif i == 0 and text:
            kept.append(replace(suggestion, text=text))
        else:
            guesses.append(replace(suggestion, mean_logprob=min(suggestion.mean_logprob, GUESS)))
    if score is not None and len(start) >= PROPOSE_AFTER and start.isalpha():
        kept = _with_word_list(kept, start, lexicon, normalise, score, k)
    if memory is not None and len(kept) > 1:
        kept = _names_of_the_document_first(kept, start, memory)
    return kept[:k] if kept else guesses[: 1 + GUESSES_SHOWN]


def in_the_writers_case(out: list[Suggestion], window: str, memory: DocumentMemory | None) -> list[Suggestion]:
    """`without_capitals` for each suggestion, unless the writer `writes_capitals`: cut before a word in capitals
    the writer does not write so, left out where that is its first word. Capitals the writer used are the document's
    (its word index, or the window)."""
    if writes_capitals(window[-64:]):
        return out
    start = PARTIAL_WORD.search(window[-64:]).group(0)

    def writes(word: str) -> bool:
        return bool(memory is not None and memory.words.counts.get(word)) or word in window

    kept = []
    for suggestion in out:
        text = without_capitals(start, suggestion.text, writes)
        if text:
            kept.append(suggestion if text == suggestion.text else replace(suggestion, text=text))
    return once_each(kept)


def _with_word_list(kept: list[Suggestion], start: str, lexicon: Lexicon, normalise: Callable[[str], str],
                    score: Callable[[list[str]], list[float]], k: int) -> list[Suggestion]:
    """The word list's most frequent completions of `start` that no suggestion offers, scored by the model, among
    the alternatives by their score when it is worth reading beside the first."""
    shown = {start + WORD_START.match(suggestion.text).group(0) for suggestion in kept}
    rests = [word[len(start) :] for word in lexicon.completions(start, PROPOSALS)
             if word not in shown and len(word) - len(start) >= 2]
    if start.isupper() and len(start) > 1:
        rests = [rest.upper() for rest in rests]
    rests = [rest for rest in rests if normalise(rest) == rest]  # spelt in the model's own characters
    if not rests:
        return kept
    floor = kept[0].mean_logprob - FAR_BELOW if kept else -math.inf  # a known word beats any guess
    proposed = [Suggestion(rest + SPACE, value) for rest, value in zip(rests, score(rests)) if value >= floor]
    if not kept:
        return sorted(proposed, key=lambda p: -p.mean_logprob)[:k]
    others = sorted(kept[1:] + proposed, key=lambda p: -p.mean_logprob) if proposed else kept[1:]
    return ([kept[0]] + others)[:k]


def _document_knows(word: str, memory: DocumentMemory | None, window: str) -> bool:
    """Has the document used this word (its word index, in any of its usual cases, or the window read)?"""
    if memory is not None:
        counts = memory.words.counts
        if any(counts.get(form) for form in (word, word.lower(), word.capitalize())):
            return True
    return word in window


def _names_of_the_document_first(out: list[Suggestion], start: str, memory: DocumentMemory) -> list[Suggestion]:
    """The writer's name as the grey text where the model's is a name the document never used ("Marta Vell", typed
    twice, not the training text's "Marta Nikolaevna"): the first alternative whose word is a capitalised word of
    the document used `DOCUMENT_WORD_TIMES` times or more."""
    def word(suggestion: Suggestion) -> str:
        return start + WORD_START.match(suggestion.text).group(0)

    counts = memory.words.counts
    first = word(out[0])
    if not first[:1].isupper() or counts.get(first, 0):
        return out
    for i, suggestion in enumerate(out[1:], 1):
        name = word(suggestion)
        if name[:1].isupper() and counts.get(name, 0) >= DOCUMENT_WORD_TIMES:
            return [suggestion] + out[:i] + out[i + 1 :]
    return out


def once_each(suggestions: list[Suggestion]) -> list[Suggestion]:
    """The suggestions without those that say what an earlier one says (with or without its space)."""
    seen, out = set(), []
    for suggestion in suggestions:
        key = suggestion.text.removesuffix(SPACE)
        if key not in seen:
            seen.add(key)
            out.append(suggestion)
    return out


def worth_showing(suggestions: list[Suggestion]) -> list[Suggestion]:
    """The first (the ghost text) and the alternatives worth reading: not only punctuation or space, not far below
    the first in confidence nor a first word the model all but rules out, not the same as another but for spaces."""
    if not suggestions:
        return []
    first = suggestions[0]
    out, seen = [first], {first.text.strip()}
    for suggestion in suggestions[1:]:
        key = suggestion.text.strip()
        if key in seen or not any(ch.isalnum() for ch in key):
            continue
        if suggestion.mean_logprob < first.mean_logprob - FAR_BELOW:
            continue
        if suggestion.first_word < PANE_FLOOR:
            continue
        seen.add(key)
        out.append(suggestion)
    return out



def with_document_words(out: list[Suggestion], window: str, memory: DocumentMemory, k: int,
                        after: int, recent: bool = True) -> list[Suggestion]:
    """Put the document's own words that finish the word at the cursor (the end of `window`) among the alternatives:
    those of the text just read (`recent_words`) right after the grey text, where `recent`; then the document's
    most frequent, after the first `after` of the beam's (`EngineSettings.document_words_after`), as long as they
    save a few keys."""
    start = PARTIAL_WORD.search(window[-64:]).group(0)
    if not start:
        if recent:
            followers = recent_followers(window, {suggestion.text.strip() for suggestion in out})
            return (out[:1] + _no_surer(followers, out[0]) + out[1:])[:k]
        return out
    shown = {suggestion.text.removesuffix(SPACE) for suggestion in out}  # a word with or without its space
    if recent:
        near = _no_surer(recent_words(window, start, shown), out[0])
        out = out[:1] + near + out[1:]
        shown.update(suggestion.text.removesuffix(SPACE) for suggestion in near)
    found = memory.words.completions(start, k)
    total = sum(count for _, count in found)
    words = [Suggestion(word[len(start) :] + SPACE, math.log(count / total) / (len(word) - len(start)))
             for word, count in found if len(word) - len(start) >= 3 and word[len(start) :] not in shown]
    at = 1 + after
    return document_word_first((out[:at] + words + out[at:])[:k], start, found, memory, k)


def _no_surer(words: list[Suggestion], first: Suggestion) -> list[Suggestion]:
    """Words put right after the grey text rated no surer than it: their figure is their share among the few words
    of the text just read that fit (one alone would be "sure"), not a probability of coming next."""
    return [replace(word, mean_logprob=min(word.mean_logprob, first.mean_logprob)) for word in words]


def recent_words(window: str, start: str, shown: set[str]) -> list[Suggestion]:
    """The words of the text just read (the model's window) that finish `start` by at least two letters and that
    no suggestion offers, each weighed by its uses (`_recency`): those of `RECENT_LEAST` or more, the heaviest first,
    `RECENT_WORDS` at most. A writer's own terms come back within a page ("constituents" in an essay on logic), where
    the model ranks its usual words ("common", "consider") above them."""
    words = WORD.findall(window[: len(window) - len(start)])
    weight: dict[str, float] = {}
    for i, word in enumerate(words):
        if len(word) - len(start) >= 2 and word.startswith(start):
            weight[word] = weight.get(word, 0.0) + _recency(len(words), i)
    total = sum(weight.values())
    return [Suggestion(word[len(start) :] + SPACE, math.log(weight[word] / total) / (len(word) - len(start)))
            for word in _heaviest(weight, RECENT_LEAST, RECENT_WORDS, lambda word: word[len(start) :] in shown)]


def recent_followers(window: str, shown: set[str]) -> list[Suggestion]:
    """After a space, the words of `MIN_WORD` letters or more that followed the last word in the text just read
    (the model's window) and that no suggestion offers, weighed as `recent_words`: those of `FOLLOWER_LEAST` or
    more, the heaviest first, `FOLLOWERS_SHOWN` at most. The writer's own phrase again ("of constituents")."""
    if not window[-1:].isspace():
        return []
    words = WORD.findall(window)
    weight: dict[str, float] = {}
    for i, (word, follower) in enumerate(zip(words, words[1:])):
        if word == words[-1] and len(follower) >= MIN_WORD:
            weight[follower] = weight.get(follower, 0.0) + _recency(len(words), i)
    total = sum(weight.values())
    return [Suggestion(word + SPACE, math.log(weight[word] / total) / len(word))
            for word in _heaviest(weight, FOLLOWER_LEAST, FOLLOWERS_SHOWN, shown.__contains__)]


def _recency(words: int, i: int) -> float:
    """The weight of a use at word i of the text's `words`: 1, halved every `RECENT_HALFLIFE` words since."""
    return 0.5 ** ((words - i) / RECENT_HALFLIFE)


def _heaviest(weight: dict[str, float], least: float, most: int, offered: Callable[[str], bool]) -> list[str]:
    """The words of `least` weight or more that are not `offered` already, the heaviest first, `most` of them."""
    return sorted((word for word, w in weight.items() if w >= least and not offered(word)),
                  key=lambda word: -weight[word])[:most]


def document_word_first(out: list[Suggestion], start: str, found: list[tuple[str, int]], memory: DocumentMemory,
                        k: int) -> list[Suggestion]:
    """The writer's own word as the grey text where the model's word is one the document never used: a name
    typed twice ("Morvath") against a word the model knows well ("Moscow") after "Mo". Only from
    `DOCUMENT_WORD_AFTER` letters typed, for a word the document used `DOCUMENT_WORD_TIMES` times or more, and
    when the model's word is long enough to be in the document's word index. found: the document's words that
    finish `start`, the most frequent first (`WordIndex.completions`)."""
    if len(start) < DOCUMENT_WORD_AFTER:
        return out
    rest = WORD_START.match(out[0].text).group(0)
    if not rest or len(start + rest) < MIN_WORD or memory.words.counts.get(start + rest, 0):
        return out
    if not found or found[0][1] < DOCUMENT_WORD_TIMES:
        return out
    word = found[0][0][len(start) :]
    for i, suggestion in enumerate(out):
        if suggestion.text.removesuffix(SPACE) == word:
            return [suggestion] + out[:i] + out[i + 1 :]
    return [Suggestion(word + SPACE, out[0].mean_logprob)] + out[: k - 1]

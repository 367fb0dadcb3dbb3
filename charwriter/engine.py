"""The suggestion engine: incremental inference for the editor (prefix state, batched continuations).

The editor calls `Engine.suggest(text_before_cursor)` on every keystroke, from one worker thread at a time. Two
costs matter: reading the context into the LSTM's state, and generating K continuations of up to L characters.

**Context window.** The model reads at most the last C characters before the cursor (`context_chars`). The window
does not slide one character per keystroke: its start snaps *up* to a multiple of N (`state_every`), so the model
reads between C - N + 1 and C characters, and the window keeps its start while N characters are typed. Every run
starts from the zero state followed by one newline (the seed's start for an empty prime: a window opens like a
paragraph), so a window's state depends only on its own text, and `tests/test_engine.py` checks it equals one
`nn.LSTM` call over `"\\n" + window` with `torch.allclose`. The cap is a quality trade-off (see
`benchmarks/context_cap.py`): an LSTM forgets, so most of what it can use lies in the last few hundred characters.

**Lanes: no re-read when the window moves on.** The window start moves on every N characters typed at the end,
and the next window (N characters younger) must by then have read everything after its own start. So the engine
keeps one running state per window start that may yet be needed, a *lane* for every multiple of N inside the last C
characters (C/N = 16 at the defaults), and advances them all together: one batched `FastRNN.step` per character
typed (~1 ms for 16 lanes at 512×2 against ~0.5 ms for one; a step is memory-bound). A lane joins (the zero state
after the newline) when the reading passes its start and retires when its window would exceed C; suggestions use
the oldest lane (the longest window within the cap). Lane i's state is exactly a full read of
`"\\n" + text[start_i:cursor]`, so crossing a window boundary costs nothing extra.

**Snapshots.** The lanes' states (and logits) are kept at every multiple of N and at each of the last N positions
read (about 130 KB each at 16 lanes of 512×2). An edit, a deletion or a cursor move resumes from the latest
snapshot before the first changed character that holds the lanes the new position needs (the backspace key: from
the previous position at once; an edit: at most N - 1 characters re-read plus the ones after it). Reading more
than a few characters goes through one batched `nn.LSTM` call per N characters (`FastRNN.prime`), cancellable
between chunks with the chunks already read kept. A jump with no usable snapshot reads the whole window from
scratch with its lanes joining on the way: ~1 s at 512×2 against ~0.45 s for the oldest lane alone, paid once
per jump instead of every N characters typed. Positions count the characters of the document, so a caller may pass
only the tail of a long document together with its offset (`set_context(tail, offset=...)`).

**Opening a big document.** `set_context(text, quick=True)` reads only the last `quick_chars` characters, for a
first suggestion at once; a later plain `set_context`/`suggest` reads the full window (the app runs this second
pass in its worker).

**Suggestions.** The first word decides whether a suggestion saves the writer keys, so it is found by a small beam
search (`ghost="beam"`): the K likeliest distinct ways to finish the word at the cursor (or, after a space, the next
word), a word ending where a character that is not part of a word follows (so "so" may stay "so"). The likeliest
goes on greedily as the ghost text, up to L characters, a sentence end (. ! ? and an optional closing quote), or
the last word the model gives a cumulative probability of at least `ghost_confidence` (a shorter grey text that is
right is accepted whole with one key); the others are the pane's alternatives, one word each. `ghost="greedy"` is the
first version's way (distinct first characters, then greedy or sampled rows), kept for `benchmarks/keystrokes.py`,
which compares the two. A continuation never ends inside a word (it finishes the word, up to `WORD_EXTRA` past L,
or is cut back to the last whole one), never shows a character that is not printed, never repeats a run of
`no_repeat` characters of itself or of the text just before the cursor (so an accepted suggestion is not offered
again), and is cut at the start of a loop. Only alternatives worth reading are returned (`worth_showing`).

**The document memory** (`charwriter.lm.memory`) counts what followed every short context in the whole document;
its counts are mixed into every next-character distribution above, with weights it learns from each character the
writer adds (`_learn`: from the distributions of the run before). A small change is applied as the document is
given (`remember`); a big document's memory is built off the keystroke's path (`memory_pending`), and until then
the model suggests alone. A word of the document used twice takes the grey text from the model's when
the model's word is one the document never used (`_document_word_first`).

**The memory's guesses.** Where the document says what comes next (a name, a phrase used before: the memory alone
holds the next character above half the mixture, so the model cannot outvote it), the grey text is decoded
speculatively, with the memory as the draft: the memory guesses the characters ahead (`DocumentMemory.draft`), the
model reads the guess in one quantized C++ run (`FastRNN.run`, an LSTM at int8 or fp16), and each next character
is then chosen exactly as a step would choose it, the walk going on while it is the guessed one (`_walk_draft`).
A guessed character the choice disagrees with costs a second, shorter run for the state before it. The suggestions
are the stepped engine's; a test holds them equal to the last bit with a run that steps.

**Unknown characters.** `normalise` is the one policy for characters the model has never seen: common look-alikes
are mapped (curly quotes to straight, dashes to '-', ellipsis to '...', unusual spaces and tabs to ' '), accented
letters lose their accents (NFKD) when the base letter is known, and the rest are skipped, so suggestions never stop.
"""

from __future__ import annotations

import gc
import math
import time
from bisect import bisect_left
from operator import itemgetter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from charwriter.lm.checkpoint import LoadedModel, load_model
from charwriter.lm.fast import FastRNN
from charwriter.lm.lexicon import GUESS, Lexicon, trusted
from charwriter.lm.lexicon import bundled as bundled_lexicon
from charwriter.lm.memory import MIN_WORD, DocumentMemory, common_prefix_length
from charwriter.lm.model import CharRNN
from charwriter.lm.precision import Choice
from charwriter.lm.precision import resolve as resolve_precision
from charwriter.lm.rules import (GHOST_CONFIDENCE, GHOST_FLOOR, NEVER_SHOWN, NO_REPEAT, PARTIAL_WORD, RECENT_CHARS,
                                 REPEAT_TRIES, SENTENCE_END, SPACE, WORD_EXTRA, WORD_START, _is_word, _repeats,
                                 char_classes, default_start, finished, first_word_logprob, grow, holds_a_word,
                                 restates_punctuation, restyle, translate, TYPOGRAPHY_SAMPLE, typography_of)
from charwriter.lm.sample import masked_probs

# Torch's own choice (one per physical core), read when this module is first imported, before anyone lowers it.
ALL_THREADS = torch.get_num_threads()
PRIME_MIN = 8  # below this many characters stepping beats one nn.LSTM call (measured: 8 chars 4.3 ms against 4.7 ms)
KEEP_BACK = 2  # snapshots at multiples of N kept within KEEP_BACK * C characters of the cursor (cursor moves back)
FAR_BELOW = 1.0  # an alternative this many nats/char below the first is not worth reading
MEMORY_MAX_CHARS = 5_000_000  # above this the memory's arrays (8 keys a character) would take gigabytes and
# half a minute to build: a document this long is written with the model alone
WORD_STEPS = 24  # the beam search for the first word gives up after this many characters
OPENING = " \"'(["  # characters a continuation may start with before its first word
DOCUMENT_WORD_AFTER = 2  # letters typed before a word of the document may take the grey text from the model's
DRAFT_MIN = 2  # a shorter guess of the memory's is stepped: one run costs about a step (see `_walk_draft`)
PROPOSE_AFTER = 2  # letters typed before the word list proposes completions the beam missed
PROPOSALS = 10  # the word list's most frequent completions scored by the model on a keystroke (one batch a letter)
GUESSES_SHOWN = 0  # alternatives nobody knows beside the grey text (itself a guess then): a writer typing a new name
# is better served by one guess than by a pane of them
DOCUMENT_WORD_TIMES = 2  # how often the document must have used it: a name typed twice is completed the third time


@dataclass
class Suggestion:
    text: str  # the continuation only (not the prefix); printable characters; ends at L chars or a sentence end
    mean_logprob: float  # mean log-probability per generated character, nats (<= 0): the confidence figure
    first_word: float = 0.0  # log-probability the model gave its first word (0: not one of the model's own runs)
    inline: bool = True  # drawn as the grey text (the first suggestion); False: the model is too unsure of its first
    # word (`EngineSettings.ghost_floor`), so it waits in the pane


@dataclass
class EngineSettings:
    k: int = 9  # continuations, most likely first: the ghost text plus the other likeliest words, for the pane
    max_len: int = 48  # L characters at most: about a line of the side pane, and generation time grows with it
    temperature: float = 1.0  # the seed's sampling: for a resampled ghost text (Ctrl+R) and `ghost="greedy"` rows
    top_k: int | None = 5  # the seed's sampling: only the 5 likeliest characters, so drawn text stays plausible
    top_p: float | None = None  # nucleus sampling instead of (or with) top-k
    greedy: bool = False  # True: never sample, even when resampling (deterministic tests)
    context_chars: int = 1024  # C: cap on the context; an LSTM forgets, and reading more costs time on every jump
    state_every: int = 64  # N: cached state every N characters; an edit re-reads at most N - 1 characters
    seed: int | None = None  # reseed before every suggestion: the same context gives the same suggestions
    quick_chars: int = 128  # the context of `set_context(quick=True)`: first suggestions on a big document at once
    threads: int | None = 1  # torch threads (process-wide!): steps are memory-bound, and 2 threads on 2 busy cores
    # spin against each other (65 ms a step instead of 0.6 ms); None leaves torch's setting alone
    ghost: str = "beam"  # how the continuations open: "beam", the K likeliest distinct first words (beam search,
    # then greedy or sampled), or "greedy", the likeliest first characters; benchmarks/keystrokes.py compares them
    ghost_floor: float = GHOST_FLOOR  # draw the grey text only when its first word has this probability (0: always)
    ghost_confidence: float = GHOST_CONFIDENCE  # end the ghost text at the last word the model gives this cumulative
    # probability (0: off); a shorter grey text that is right more often is accepted whole with one key
    document_words_after: int = 8  # pane alternatives from the beam before the document's own words that finish
    # the word being typed (its names and long words, which the model may never rank high); they fill what is left
    beam_width: int = 10  # beams for the first word: wider finds likelier words, each beam is a row of every step
    memory: bool = True  # the document memory: names and phrases of the writer's own document (charwriter.lm.memory)
    no_repeat: int = NO_REPEAT  # a continuation never repeats a run of this many characters of itself or the text just
    # before it (0: off); loops and restatements of what was just accepted are what a writer rejects
    guesses: bool = True  # the memory's guesses, read in one run where the precision has one (`_walk_draft`);
    # False: every character stepped (the same suggestions: benchmarks/suggest_latency.py compares the time)
    words: bool = True  # judge words by the document and the word list (`_real_words`); False: the model alone
    typography: bool = True  # suggestions in the document's own quotes, apostrophes, dashes and ellipses
    precision: str = "auto"  # the step's matmuls: "auto" measures fp32/bf16/fp16/int8 once per model and machine and
    # takes the fastest that agrees with fp32 (charwriter.lm.precision); or one of them


@dataclass
class _Snapshot:
    """The lanes after reading the document up to one position `pos` (the key in `Engine._snaps`)."""

    starts: tuple[int, ...]  # absolute lane starts, ascending multiples of N: lane i has read text[starts[i]:pos]
    state: object  # nn.LSTM layout, batch = len(starts)
    logits: torch.Tensor  # (lanes, V): next-character logits of each lane
    complete: bool = True  # every multiple of N from starts[0] to pos has its lane (False after a quick read)


@dataclass
class _LastRun:
    """The last suggestion run, kept so that the memory can learn from what the writer then typed or accepted."""

    tip: int  # the position the continuations start at
    rows: list  # per row: (text, codes, memory steps: one per character, the first shared by all rows)


@dataclass(slots=True)  # made and read for every row of every step
class _Row:
    """One continuation while it is generated."""

    chars: list[str]
    lps: list[float]  # each character's log-probability, nats
    steps: list  # the memory's `Step` behind each character (None where it had nothing to add)
    context: int  # the memory's context after these characters (`DocumentMemory.context`)
    reach: int | None  # how many memory orders' contexts can have occurred next, the shortest first (None: all)
    ending: bool = False  # a sentence end was written: only a closing quote or bracket may follow
    capped: bool = False  # stopped by the length cap inside a word: cut back to its start


def _freeze_what_lives_on() -> None:
    """Once per process, when the first engine is ready: what exists then (torch's and the app's modules, the model)
    lives as long as the process, so it is moved out of the collector's sight and a full collection during a
    keystroke no longer walks it (measured with the 768x2 model: 75 ms, once every few hundred keystrokes; 3 ms
    after this). Once only: later engines replace earlier ones, whose cycles must stay collectable."""
    if not gc.get_freeze_count():
        gc.freeze()


class _ModelProbs:
    """A row's model probabilities, read lazily from its log-probabilities (a numpy view): the memory learns from
    one of them per character typed (`DocumentMemory.learn`), so turning the whole row into probabilities every step
    is waste."""

    __slots__ = ("logp", "row")

    def __init__(self, logp, row: int):
        self.logp, self.row = logp, row

    def __getitem__(self, code: int) -> float:
        return math.exp(float(self.logp[self.row, code]))


class _Mixed:
    """Next-character log-probabilities of R rows as the suggestions use them, in two parts: the model's (R, V),
    and per row the document memory's change. A row's mixture is its model share times the model's distribution,
    plus the memory's shares on the few codes that followed its contexts; so every code moves by log(share) but
    those few, whose values are kept here (`own`). A beam step reads each row's best few and a greedy step its
    best one: both come from the model's own ranking and those few codes, in plain Python. The whole (R, V)
    mixture costs a handful of torch calls, each 5-20 µs right after an LSTM step, and is made only where it is
    read whole (sampling, the cursor's guesses, evaluation)."""

    __slots__ = ("model", "keep", "own", "_full")

    def __init__(self, model: torch.Tensor, keep: list[float] | None = None, own: list[dict] | None = None):
        self.model = model  # (R, V): the model's log-probabilities
        self.keep = keep  # per row: log of the model's share (0.0 where the memory had nothing to add); None: no memory
        self.own = own  # per row: {code: mixed log-probability} for the codes that followed its contexts
        self._full: torch.Tensor | None = None

    def full(self) -> torch.Tensor:
        """The mixture as one (R, V) tensor."""
        if self.own is None:
            return self.model
        if self._full is None:
            size = self.model.shape[1]
            cells = [r * size + code for r, own in enumerate(self.own) for code in own]
            full = self.model + torch.tensor(self.keep)[:, None]
            if cells:
                full.put_(torch.tensor(cells), torch.tensor([v for own in self.own for v in own.values()]))
            self._full = full
        return self._full

    def top(self, n: int) -> tuple[list[list[float]], list[list[int]]]:
        """Each row's n likeliest codes and their log-probabilities, likeliest first. A code outside the model's n
        likeliest that did not follow the row's contexts moved as much as those n: it cannot be among them."""
        top = self.model.topk(min(n, self.model.shape[1]), -1)
        values, codes = top.values.tolist(), top.indices.tolist()
        if self.own is not None:
            for r, own in enumerate(self.own):
                if own:
                    keep, row = self.keep[r], codes[r]
                    pairs = [(own[c] if c in own else v + keep, c) for v, c in zip(values[r], row)]
                    pairs += [(v, c) for c, v in own.items() if c not in row]
                    pairs.sort(key=itemgetter(0), reverse=True)
                    values[r], codes[r] = [v for v, _ in pairs[:n]], [c for _, c in pairs[:n]]
        return values, codes

    def best(self) -> tuple[list[int], list[float]]:
        """Each row's likeliest code and its log-probability."""
        values, codes = self.model.max(-1)
        values, codes = values.tolist(), codes.tolist()
        for r, own in enumerate(self.own or ()):
            if own:
                best = own.get(codes[r], values[r] + self.keep[r])
                for code, value in own.items():
                    if value > best:
                        best, codes[r] = value, code
                values[r] = best
        return codes, values

    def at(self, codes: list[int]) -> list[float]:
        """Each row's log-probability of its code."""
        values = self.model.gather(1, torch.tensor(codes)[:, None])[:, 0].tolist()
        if self.own is not None:
            for r, (own, code) in enumerate(zip(self.own, codes)):
                if own:
                    values[r] = own[code] if code in own else values[r] + self.keep[r]
        return values

    def rows(self, index: list[int]) -> "_Mixed":
        return _Mixed.cat([(self, r) for r in index])

    @staticmethod
    def cat(parts: list[tuple["_Mixed", int]]) -> "_Mixed":
        """Row r of each part, as one."""
        model = torch.cat([m.model[r : r + 1] for m, r in parts])
        if all(m.own is None for m, _ in parts):
            return _Mixed(model)
        return _Mixed(model, [m.keep[r] if m.own is not None else 0.0 for m, r in parts],
                      [m.own[r] if m.own is not None else {} for m, r in parts])


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


def worth_showing(suggestions: list[Suggestion]) -> list[Suggestion]:
    """The first (the ghost text) and the alternatives worth reading: not only punctuation or space, not far below
    the first in confidence, not the same as another but for spaces."""
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
        seen.add(key)
        out.append(suggestion)
    return out


def sample_from(logits: torch.Tensor, uniforms: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None) -> torch.Tensor:
    """`pick_next`'s distribution (temperature, top-k, top-p) by inverse CDF on given uniforms in [0, 1).

    logits (B, V), uniforms (B,) -> codes (B,). The masking is `pick_next`'s, step for step (ties at the k-th value
    included); then the first character whose cumulative probability exceeds u * total, so a character of zero
    probability is never drawn. Drawing the run's random numbers in one call saves a generator call per step.
    """
    probs = masked_probs(logits, temperature, top_k, top_p)
    cdf = probs.cumsum(-1)  # (B, V)
    idx = torch.searchsorted(cdf, (uniforms * cdf[:, -1]).unsqueeze(-1), right=True)
    # u * total may round up to the total: the first index reaching it has positive probability
    return torch.minimum(idx, cdf.argmax(-1, keepdim=True)).squeeze(-1)


class Engine:
    """Incremental suggestions for one model. Not thread-safe: call it from one thread at a time."""

    def __init__(self, loaded: LoadedModel, settings: EngineSettings | None = None, precision: Choice | None = None):
        self.loaded = loaded
        self.name: str = loaded.name
        self.vocab: list[str] = list(loaded.vocab)
        self.settings = settings or EngineSettings()
        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        self.precision: Choice = precision or resolve_precision(self.settings.precision, loaded.model, loaded.path,
                                                                default_start(self.vocab), (1, self.settings.beam_width))
        """The precision the step runs at, and why (the probe's figures when it measured)."""
        self.fast = FastRNN(loaded.model, self.precision.precision)
        self._index = {ch: i for i, ch in enumerate(self.vocab)}
        self._codes: dict[str, tuple[int, ...]] = {}  # per-character result of the unknown-character policy
        self._char_class = char_classes(self.vocab)  # per code, for the stopping rules
        self._word_ends = [c for c, ch in enumerate(self.vocab) if not _is_word(ch) and self._char_class[c] != NEVER_SHOWN]
        self.lexicon: Lexicon | None = bundled_lexicon() if self.settings.words else None
        """The word list that judges suggestions' words (`charwriter.lm.lexicon`), None where switched off."""
        self._printable = torch.tensor([kind != NEVER_SHOWN for kind in self._char_class])
        self._snaps: dict[int, _Snapshot] = {}  # position -> the lanes there (see the module docstring)
        self._known = ""  # the document text the snapshots agree with, from `_known_start`
        self._known_start = 0
        self._layout = (self.settings.context_chars, self.settings.state_every)
        self._view: tuple | None = None  # (window start, tip, state, logits) of the current context
        self._cursor_seen: tuple | None = None  # (view, cursor log-probabilities) of the last suggestion run
        self.last_latency_ms: float = 0.0
        self.guessed = {"runs": 0, "chars": 0, "taken": 0, "again": 0}
        """The memory's guesses so far (`_walk_draft`): runs, characters guessed, taken into the grey text, and the
        runs again for the state before a guess the choice left."""
        self.memory: DocumentMemory | None = None
        """The document memory (None while switched off); it describes `memory.text`, the document last given."""
        self.memory_too_big = False
        """The document is longer than `MEMORY_MAX_CHARS`: the memory is off for it."""
        self.memory_pending: str | None = None
        """A document too big to take into the memory during a keystroke: build it off-thread (`memory.build`)."""
        self._last: _LastRun | None = None
        self._same = 0  # set_context: the text agreed with the known text up to here
        with torch.inference_mode():
            logits, state = self.fast.step(torch.tensor([default_start(self.vocab)]), self.fast.init_state(1))
        self._base = (state, logits)  # every window starts after a newline, like a paragraph
        if self.settings.memory and self.settings.guesses:
            self.fast.prepare_run()  # the memory's guesses are read in runs (`_walk_draft`)
        _freeze_what_lives_on()

    @classmethod
    def from_path(cls, path: str | Path, settings: EngineSettings | None = None) -> "Engine":
        return cls(load_model(path), settings)

    def with_weights(self, model: CharRNN, adapted: dict | None = None) -> "Engine":
        """An engine for new weights of this model (an adaptation to the document, `charwriter.lm.adapt`): the same
        settings, precision and document memory; every state is read afresh with the new weights (no cached state
        of the old ones survives), so the suggestions stay coherent. `adapted`: what the adaptation did, kept in
        `loaded.training["adapted"]`; None: these are the model's own weights again."""
        training = {k: v for k, v in self.loaded.training.items() if k != "adapted"}
        loaded = replace(self.loaded, model=model, training=training | ({} if adapted is None else {"adapted": adapted}))
        engine = Engine(loaded, self.settings, self.precision)
        engine.memory, engine.memory_pending, engine.memory_too_big = (self.memory, self.memory_pending,
                                                                       self.memory_too_big)
        return engine

    def read_blocks(self, text: str, blocks: list[int], unit=None) -> dict:
        """The editor's inside views: each character's log-probability (and a unit's activation) in these blocks
        of `text` (`charwriter.lm.inspect.read_blocks`), with bf16 matmuls where the step runs at reduced precision
        on a CPU with native bf16, else fp32."""
        from charwriter.lm.inspect import read_blocks
        from charwriter.lm.train import native_bf16_cpu

        autocast = self.precision.precision != "fp32" and native_bf16_cpu()
        return read_blocks(self.loaded.model, self._char_codes, self._base, text, blocks, unit, autocast)

    # --- unknown characters -------------------------------------------------------------------------------------

    def _char_codes(self, ch: str) -> tuple[int, ...]:
        codes = self._codes.get(ch)
        if codes is None:
            codes = self._codes[ch] = tuple(self._index[c] for c in translate(ch, self._index))
        return codes

    def normalise(self, text: str) -> str:
        """The text as the model reads it: look-alikes mapped, accents dropped where that helps, the rest skipped."""
        return "".join(self.vocab[c] for ch in text for c in self._char_codes(ch))

    def encode(self, text: str) -> list[int]:
        """Character codes of `normalise(text)`."""
        codes = self._codes
        return [c for ch in text for c in (codes[ch] if ch in codes else self._char_codes(ch))]

    # --- the context --------------------------------------------------------------------------------------------

    def window_start(self, end: int, cap: int | None = None, offset: int = 0) -> int:
        """Absolute start of the window for a context ending at `end`: within the cap, snapped up to a multiple of N."""
        n = self.settings.state_every
        cap = self.settings.context_chars if cap is None else cap
        start = max(end - cap, offset, 0)
        return -(-start // n) * n

    @property
    def window(self) -> str:
        """The text the model has read for the current context (normalised on reading, not here)."""
        if self._view is None:
            return ""
        start, tip = self._view[:2]
        return self._known[start - self._known_start : tip - self._known_start]

    @property
    def state(self):
        """The LSTM state after the current context (nn.LSTM layout, batch 1)."""
        self._ensure_context()
        return self._view[2]

    @property
    def logits(self) -> torch.Tensor:
        """The next-character logits after the current context, (1, V)."""
        self._ensure_context()
        return self._view[3]

    @torch.inference_mode()
    def set_context(self, text: str, quick: bool = False, offset: int = 0,
                    cancelled: Callable[[], bool] = lambda: False) -> bool:
        """Read the text before the cursor, incrementally. `text` may be the document's tail starting at `offset`.

        quick: read only the last `quick_chars` characters (first suggestions on a big document; call again without
        it to read the full window). Returns False if `cancelled()` turned True; the part read so far is kept.
        """
        s = self.settings
        if self._layout != (s.context_chars, s.state_every):
            self._snaps.clear()  # the settings changed: the lanes no longer line up
            self._layout = (s.context_chars, s.state_every)
        end = offset + len(text)
        first = self.window_start(end, s.quick_chars if quick else None, offset)  # the window the caller wants
        keep = self.window_start(end, None, offset)  # lanes older than the full window are of no more use
        same = self._same = self._agree(text, offset, min(keep, end))
        pos, snap = first, None
        for p, candidate in self._snaps.items():  # the latest snapshot that holds every lane the window needs
            usable = candidate.complete or (quick and candidate.starts[0] == first)
            if usable and candidate.starts[0] <= first <= p <= min(same, end) and (snap is None or p > pos):
                pos, snap = p, candidate
        if snap is None:
            starts, state, logits = [], None, None
        else:
            drop = bisect_left(snap.starts, keep)
            starts, state, logits = list(snap.starts[drop:]), self._rows(snap.state, drop), snap.logits[drop:]
        complete = not quick and (snap is None or snap.complete)  # quick: the one lane it needs, no younger ones
        finished = self._read(text, offset, pos, end, first, starts, state, logits, complete, cancelled)
        self._prune()
        return finished

    def _agree(self, text: str, offset: int, need: int) -> int:
        """Absolute position up to which `text` agrees with the known text; forgets the snapshots past it.

        need: the first position this call may read (the known text must reach back to it)."""
        end = offset + len(text)
        known_end = self._known_start + len(self._known)
        lo = max(self._known_start, offset)
        if not self._snaps or lo > min(end, known_end):
            self._snaps.clear()
            self._known, self._known_start = text, offset
            return end
        if need < self._known_start:  # the known text was trimmed to the snapshots' lanes: take what we read now
            self._known = text[need - offset : self._known_start - offset] + self._known
            self._known_start = lo = need
        a, b = self._known[lo - self._known_start :], text[lo - offset :]
        same = lo + common_prefix_length(a, b)
        if same < known_end and same < end:  # an edit: the snapshots past it are stale
            self._snaps = {p: v for p, v in self._snaps.items() if p <= same}
            self._known = self._known[: same - self._known_start] + text[same - offset :]
        elif end > known_end:
            self._known += text[known_end - offset :]
        return same

    def _read(self, text: str, offset: int, pos: int, end: int, first: int, starts: list[int], state, logits,
              complete: bool, cancelled: Callable[[], bool]) -> bool:
        """Advance the lanes from `pos` to `end`, joining new ones at multiples of N; snapshots along the way."""
        n = self.settings.state_every
        finished = True
        while True:
            if pos % n == 0 and pos >= first and (not starts or (complete and starts[-1] < pos)) and pos < end:
                starts.append(pos)  # a new lane: the zero state after a newline, like a paragraph
                state, logits = self._join(state, logits)
            if pos >= end:
                break
            if cancelled():
                finished = False
                break
            stop = min(end, (pos // n + 1) * n)
            codes = self.encode(text[pos - offset : stop - offset])
            state, logits = self._feed(codes, state, logits, len(starts))
            pos = stop
            self._snaps[pos] = _Snapshot(tuple(starts), state, logits, complete)
        if not starts or starts[-1] < first:  # an empty window: nothing read yet
            self._view = (first, first, *self._base)
            return finished
        lane = bisect_left(starts, first)
        self._view = (starts[lane], pos, self._rows(state, lane, lane + 1), logits[lane : lane + 1])
        return finished

    def _join(self, state, logits):
        base_state, base_logits = self._base
        if state is None:
            return base_state, base_logits
        if isinstance(state, tuple):
            return tuple(torch.cat([t, b], 1) for t, b in zip(state, base_state)), torch.cat([logits, base_logits])
        return torch.cat([state, base_state], 1), torch.cat([logits, base_logits])

    @staticmethod
    def _rows(state, lo: int, hi: int | None = None):
        """Lanes lo:hi of a state (a view)."""
        if isinstance(state, tuple):
            return tuple(t[:, lo:hi] for t in state)
        return state[:, lo:hi]

    def _feed(self, codes: list[int], state, logits, lanes: int):
        if not codes:
            return state, logits
        if len(codes) >= PRIME_MIN:
            idx = torch.tensor([codes]).expand(lanes, -1)
            state = tuple(t.contiguous() for t in state) if isinstance(state, tuple) else state.contiguous()
            logits, state = self.fast.prime(idx, state)
            return state, logits
        for code in codes:
            logits, state = self.fast.step(torch.full((lanes,), code), state)
        return state, logits

    def _prune(self) -> None:
        """Keep snapshots at multiples of N near the cursor and the last N positions; trim the known text."""
        tip, n = self._view[1], self.settings.state_every
        back = KEEP_BACK * self.settings.context_chars
        if len(self._snaps) > n + 2 * KEEP_BACK * self.settings.context_chars // n:
            self._snaps = {p: v for p, v in self._snaps.items()
                           if abs(p - tip) < n or (p % n == 0 and abs(p - tip) <= back)}
        oldest = min([v.starts[0] for v in self._snaps.values()] + [self._view[0]])
        if oldest - self._known_start > back:
            self._known = self._known[oldest - self._known_start :]
            self._known_start = oldest

    def _ensure_context(self) -> None:
        if self._view is None:
            self.set_context("")

    # --- suggestions --------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def suggest(self, text: str | None = None, cancelled: Callable[[], bool] = lambda: False,
                document: str | None = None, resample: bool = False, offset: int = 0,
                quick: bool = False) -> list[Suggestion]:
        """K continuations of the context (of `text`, the text before the cursor, when given), most likely first;
        [] if cancelled midway. `document`: the whole document, for the memory (default: `text`). `resample`: the
        ghost text goes on after its first word by sampling (temperature, top-k) instead of greedily. `offset`:
        `text` is only the end of the text before the cursor, from this position on (a huge document: the memory
        is then off, unless `document` is given). `quick`: read only the last `quick_chars` of a context not read
        yet (`set_context(quick=True)`): first suggestions at once, the full window on the next run."""
        started = time.perf_counter()
        if self.settings.threads and torch.get_num_threads() != self.settings.threads:
            torch.set_num_threads(self.settings.threads)  # the caller may change it between runs
        try:
            if text is not None and not self._advance(text, document, cancelled, offset, quick):
                return []
            self._ensure_context()
            out = self._generate(self._view[2], self._view[3], cancelled, resample)
            if self.settings.typography and out:
                before = text[-TYPOGRAPHY_SAMPLE:] if text is not None else self.window
                style = typography_of(before)
                out = [replace(s, text=restyle(s.text, before, style)) for s in out]
            floor = self.settings.ghost_floor
            if out and floor > 0 and out[0].first_word < math.log(floor):
                out[0] = replace(out[0], inline=False)
            return out
        finally:
            self.last_latency_ms = (time.perf_counter() - started) * 1000

    def _advance(self, text: str, document: str | None, cancelled: Callable[[], bool], offset: int = 0,
                 quick: bool = False) -> bool:
        """Read the new context, let the memory learn from what was added since the last run, take in the document."""
        last = self._last
        if not self.set_context(text, quick=quick, offset=offset, cancelled=cancelled):
            return False
        self._learn(last, text, offset)
        if document is None and offset:  # only the end of a huge document: no memory of it
            self.memory = self.memory_pending = None
            self.memory_too_big = True
        else:
            self.remember(text if document is None else document, wait=False)
        return True

    @torch.inference_mode()
    def next_logp(self, text: str, document: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities (V,) of the character after `text`: the model's alone, and as the suggestions use them
        (with the memory). Reading on from here teaches the memory as typing does (benchmarks and evaluation)."""
        self._advance(text, document, lambda: False)
        logp, steps = self._cursor_logp()
        self._last = _LastRun(self._view[1], [("", [], [steps[0] if steps else None])])
        return F.log_softmax(self._view[3][0], -1), logp.full()[0]

    @torch.inference_mode()
    def cursor_guesses(self, k: int = 5) -> list[tuple[str, float]]:
        """The k likeliest next characters at the cursor and their probabilities, as the suggestions saw them (the
        document memory mixed in): after `suggest`, for a learner to see what the model expects."""
        if self._view is None:
            return []
        seen = self._cursor_seen
        logp = (seen[1] if seen is not None and seen[0] is self._view else self._cursor_logp()[0]).full()
        values, indices = logp[0].exp().topk(min(k, logp.shape[1]))
        return [(self.vocab[j], float(v)) for v, j in zip(values.tolist(), indices.tolist())]

    def _cursor_logp(self):
        """The next-character log-probabilities at the cursor (1, V) and the memory's steps (see `_next_logp`)."""
        memory = self._memory_in_use()
        contexts = [memory.context(self.encode(self.window[-2 * memory.max_order :]))] if memory else []
        return self._next_logp(self._view[3], memory, contexts)

    # --- the document memory ------------------------------------------------------------------------------------

    def remember(self, document: str, wait: bool = True) -> bool:
        """Make the memory describe `document`. A big change is built at once with `wait`, else left to the caller
        (`memory_pending`) and the memory sits out until it is installed. False if the memory is not ready."""
        self.memory_too_big = len(document) > MEMORY_MAX_CHARS
        if not self.settings.memory or self.memory_too_big:
            self.memory = self.memory_pending = None
            return False
        if self.memory is None:
            self.memory = DocumentMemory(len(self.vocab), self.encode)
        if self.memory.sync(document):
            self.memory_pending = None
            return True
        if wait:
            self.memory.rebuild(document)
            self.memory_pending = None
            return True
        self.memory_pending = document
        return False

    def _memory_in_use(self) -> DocumentMemory | None:
        if self.memory is None or self.memory_pending is not None or not self.settings.memory:
            return None
        return self.memory if self.memory.max_order else None

    def _learn(self, last: _LastRun | None, text: str, offset: int = 0) -> None:
        """Teach the memory's weights from what followed the last run's starting point: the character typed, or
        the part of a continuation accepted (its characters' distributions were computed then)."""
        if last is None or self._memory_in_use() is None or self._same < last.tip or last.tip < offset \
                or offset + len(text) <= last.tip:
            return
        start = last.tip - offset
        added = self.encode(text[start : start + self.settings.max_len + WORD_EXTRA])
        best, agreed = None, -1
        for _, codes, steps in last.rows:
            n = common_prefix_length(codes, added)
            if n > agreed:
                best, agreed = steps, n
        if best is None:
            return
        for j, code in enumerate(added[: min(len(best), agreed + 1)]):
            self.memory.learn(best[j], code)

    def _generate(self, state, logits: torch.Tensor, cancelled: Callable[[], bool],
                  resample: bool = False) -> list[Suggestion]:
        s = self.settings
        k = max(1, min(s.k, int(self._printable.sum())))
        greedy = s.greedy or s.temperature <= 0  # pick_next's rule: no temperature is greedy decoding
        generator = torch.Generator().manual_seed(s.seed) if s.seed is not None else None
        limit = s.max_len + WORD_EXTRA  # a word that runs over L is finished, up to this
        uniforms = None if greedy else torch.rand(limit + 1, k, generator=generator)  # the run's random numbers
        recent = self._recent_text()
        memory = self._memory_in_use()
        logp, steps = self._cursor_logp()
        self._cursor_seen = (self._view, logp)  # for `cursor_guesses`: the run's own figures, not mixed again
        context = memory.context(self.encode(self.window[-2 * memory.max_order :])) if memory is not None else 0
        cursor = _Row([], [], [], context, None)
        if s.ghost == "beam":
            opened = self._open_words(cursor, state, logp, steps[0] if steps else None, memory, k, recent, cancelled)
            if opened is None:
                return []
            rows, state, logp, steps, codes = opened  # codes: the character that ended each word
        else:
            rows = [_Row([], [], [], context, None) for _ in range(k)]
            codes = self._first_chars(logp.full(), k, greedy, uniforms).tolist()
            logp, steps = logp.rows([0] * k), steps * k
            state = self._expand(state, k)
        char_class, vocab, max_len = self._char_class, self.vocab, s.max_len
        batch = list(range(len(rows)))  # the row behind each position of the batch (rows that stop leave it)
        ends = []  # the beam's: the character that ended each row's word (a space brings one with the word)
        if s.ghost == "beam":
            ends = [vocab[code] for code in codes]
            # After the beam the alternatives are their words (short, each one to pick when the ghost text's word
            # is wrong); only the ghost text goes on.
            batch, state, logp, steps, codes = [0], self._rows(state, 0, 1), logp.rows([0]), steps[:1], codes[:1]
        pending = logp.at(codes)  # log-probability of each row's next character
        cut = 0.0 if resample else s.ghost_confidence  # a drawn ghost text (Ctrl+R) is shown whole: it is unlikely
        drafts = memory is not None and s.guesses and self.fast.runs_fast
        t = 1
        while t <= limit:
            keep = []
            for b, r in enumerate(batch):
                goes_on = grow(rows[r], vocab[codes[b]], pending[b], char_class[codes[b]], max_len,
                               cut if r == 0 else 0.0)
                if goes_on is not None:  # the character was taken
                    rows[r].steps.append(steps[b])
                if goes_on:
                    keep.append(b)
            if not keep:
                break
            if len(keep) < len(batch):  # step only the rows that go on
                index = torch.tensor(keep)
                state = tuple(x.index_select(1, index) for x in state) if isinstance(state, tuple) \
                    else state.index_select(1, index)
                codes, batch = [codes[b] for b in keep], [batch[b] for b in keep]
            if cancelled():
                return []
            if drafts and batch == [0]:
                walked = self._walk_draft(rows[0], codes[0], state, memory, recent, greedy, uniforms, t, limit,
                                          resample)
                if walked is not None:
                    if walked[0] is None:
                        break  # the ghost text ended inside the draft
                    state, codes, pending, steps, t = walked
                    continue
            logits, state = self.fast.step(torch.tensor(codes), state)
            codes, pending, steps = self._choose_next(
                [rows[r] for r in batch], codes, logits, memory, recent, greedy,
                uniforms[t][batch] if uniforms is not None else None,
                batch.index(0) if 0 in batch and not (resample and holds_a_word(rows[0].chars)) else None)
            t += 1
        self._last = _LastRun(self._view[1], [("".join(r.chars), self.encode("".join(r.chars)), r.steps)
                                              for r in rows])
        out, seen = [], set()
        for i, row in enumerate(rows):
            text, score = finished(row, cut if i == 0 else 0.0, ends[i] if ends and i > 0 else "")
            if text and text.removesuffix(SPACE) not in seen:
                seen.add(text.removesuffix(SPACE))
                out.append(Suggestion(text, score, first_word_logprob(text, row.lps) if i == 0 else 0.0))
        if s.ghost != "beam":  # the beam's rows come in its order: the ghost text, then the likeliest other words
            out.sort(key=lambda suggestion: -suggestion.mean_logprob)
        before = self.normalise(self.window[-8:])
        out = worth_showing([suggestion for suggestion in out if not restates_punctuation(before, suggestion.text)])
        if memory is not None and s.ghost == "beam" and out:
            out = self._with_document_words(out, memory, k)
        if s.words and out and self.lexicon is not None:
            out = self._real_words(out, memory, self._view[2], self._view[3], k)  # the cursor's state
        return out

    # --- real words ---------------------------------------------------------------------------------------------

    def _real_words(self, out: list[Suggestion], memory: DocumentMemory | None, state, logits,
                    k: int) -> list[Suggestion]:
        """`real_words` for this context: the list's completions scored by this model from the cursor."""
        window = self.window
        if not self.lexicon.english_enough(window[-2000:]):
            return out  # another language, or a jargon: the document's own words judge alone
        proposals = self.settings.ghost == "beam"  # the greedy rows keep their own order (benchmarks compare them)
        return real_words(out, window, self.lexicon, memory, k, self.normalise,
                          (lambda rests: self._score_words(state, logits, rests)) if proposals else None)

    @torch.inference_mode()
    def _score_words(self, state, logits, rests: list[str]) -> list[float]:
        """Mean log-probability per character the model alone gives each of `rests` after the cursor (`state`,
        `logits`: the context's), counting the character that ends the word: all rows in one batch per step."""
        codes = [self.encode(rest) for rest in rests]
        ends = self._word_ends
        n, longest = len(codes), max(map(len, codes))
        logp = F.log_softmax(logits[:1], -1).expand(n, -1)
        state = self._expand(self._rows(state, 0, 1), n)
        totals = [0.0] * n
        for t in range(longest + 1):
            rows = logp.tolist()
            for i, row_codes in enumerate(codes):
                if t < len(row_codes):
                    totals[i] += rows[i][row_codes[t]]
                elif t == len(row_codes):
                    totals[i] += math.log(max(1e-30, sum(math.exp(rows[i][c]) for c in ends)))
            if t == longest:
                break
            logits, state = self.fast.step(torch.tensor([c[min(t, len(c) - 1)] for c in codes]), state)
            logp = F.log_softmax(logits, -1)
        return [total / len(c) for total, c in zip(totals, codes)]

    def _choose_next(self, going: list[_Row], codes: list[int], logits: torch.Tensor, memory: DocumentMemory | None,
              recent: str, greedy: bool, uniforms, ghost: int | None) -> tuple[list[int], list[float], list]:
        """The rows `going` have read `codes` (the model's `logits` after them): their memory contexts move on, and
        -> each row's next character, its log-probability and the memory's step for it (`_choose`)."""
        if memory is not None:
            for row, code in zip(going, codes):
                row.context = memory.advance(row.context, code)
                row.reach = memory.next_reach(row.steps[-1], code)
        logp, steps = self._next_logp(logits, memory, [row.context for row in going], [row.reach for row in going])
        codes, pending = self._choose(logp, [row.chars for row in going], recent, greedy, uniforms, ghost)
        return codes, pending, steps

    def _walk_draft(self, row: _Row, code: int, state, memory: DocumentMemory, recent: str, greedy: bool, uniforms,
                    t: int, limit: int, resample: bool):
        """The ghost text's next characters where the document says what comes: speculative decoding with the
        memory as the draft. The memory guesses the characters after `code` (`DocumentMemory.draft`); the model reads
        `code` and the guess in one `FastRNN.run`; then, position by position, the next character is chosen exactly
        as a step would choose it, and the walk goes on while it is the guessed one. A guessed character the choice
        disagrees with costs a second, shorter run for the state before it. The same characters and values as
        stepping (to the precision's rounding), at ~115 µs a character instead of ~300 (768×2 at int8).

        row: the ghost text, `code` its last character, not yet read (`state`: before it); t: the step loop's
        count of it. -> None: no guess, step as usual; (None, ...): the ghost text ended; else the state after the
        last character read, the next character and its value, the memory's step for it, and the loop's count."""
        vocab, char_class, s = self.vocab, self._char_class, self.settings
        if row.ending:
            return None  # after a sentence end only a closing quote may come
        guess = memory.draft(memory.advance(row.context, code), min(limit - t, s.max_len + WORD_EXTRA - len(row.chars)),
                             lambda c: char_class[c] in (SENTENCE_END, NEVER_SHOWN))  # the ghost text ends there
        if len(guess) < DRAFT_MIN:
            return None
        read = [code] + guess
        logits, end = self.fast.run(read, state)
        self.guessed["runs"] += 1
        self.guessed["chars"] += len(guess)
        for i, code in enumerate(read):
            codes, pending, steps = self._choose_next([row], [code], logits[i : i + 1], memory, recent, greedy,
                                                      uniforms[t + i][[0]] if uniforms is not None else None,
                                                      None if resample and holds_a_word(row.chars) else 0)
            if t + i + 1 > limit:
                return (None,)
            if i + 1 == len(read):
                return end, codes, pending, steps, t + i + 1
            if codes[0] != read[i + 1]:  # the choice leaves the guess: the state before it is read again
                self.guessed["again"] += 1
                return self.fast.run(read[: i + 1], state)[1], codes, pending, steps, t + i + 1
            goes_on = grow(row, vocab[codes[0]], pending[0], char_class[codes[0]], s.max_len,
                           0.0 if resample else s.ghost_confidence)
            if goes_on is not None:
                row.steps.append(steps[0])
                self.guessed["taken"] += 1
            if not goes_on:
                return (None,)
        raise AssertionError("unreachable: the loop returns at its last position")

    def _with_document_words(self, out: list[Suggestion], memory: DocumentMemory, k: int) -> list[Suggestion]:
        """Put the document's own words that finish the word at the cursor among the alternatives, after the
        first `document_words_after` of the beam's: the most frequent first, as long as they save a few keys."""
        start = PARTIAL_WORD.search(self.window[-64:]).group(0)
        if not start:
            return out
        shown = {suggestion.text.removesuffix(SPACE) for suggestion in out}  # a word with or without its space
        found = memory.words.completions(start, k)
        total = sum(count for _, count in found)
        words = [Suggestion(word[len(start) :] + SPACE, math.log(count / total) / (len(word) - len(start)))
                 for word, count in found if len(word) - len(start) >= 3 and word[len(start) :] not in shown]
        at = 1 + self.settings.document_words_after
        return self._document_word_first((out[:at] + words + out[at:])[:k], start, found, memory, k)

    @staticmethod
    def _document_word_first(out: list[Suggestion], start: str, found: list[tuple[str, int]], memory: DocumentMemory,
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

    def _open_words(self, cursor: "_Row", state, logp: _Mixed, step, memory: DocumentMemory | None, k: int,
                    recent: str, cancelled: Callable[[], bool]):
        """Beam search for the K likeliest distinct ways to finish the word at the cursor (or, after a space, the
        next word): returns their rows, states (K rows), next-character log-probabilities (K rows), memory steps
        and the code of the character that ends each word; None if cancelled. A word ends where a character that is
        not part of a word would follow, so "so" may stay "so" (the empty completion) when a space after it is
        likelier than "some"."""
        width = max(k, self.settings.beam_width)
        vocab, char_class, no_repeat = self.vocab, self._char_class, self.settings.no_repeat
        in_word = _is_word(self.window[-1:] or " ")
        beams, steps = [cursor], [step]
        finished: dict[str, tuple] = {}  # word -> (score, row, states, its row there, logps, step, next code)
        for _ in range(WORD_STEPS):
            candidates = []
            for j, (values, codes) in enumerate(zip(*logp.top(width))):
                beam = beams[j]
                started = in_word or any(_is_word(ch) for ch in beam.chars)
                score = math.fsum(beam.lps)
                said = "".join(beam.chars)
                for value, code in zip(values, codes):
                    ch = vocab[code]
                    if char_class[code] == 3:
                        continue  # never inside a ghost text
                    if no_repeat and _repeats(recent, said, ch, no_repeat):
                        continue
                    if _is_word(ch) or (not started and ch in OPENING):
                        candidates.append((score + value, j, code, value))
                        continue
                    word = "".join(beam.chars)  # the word ends before `ch`, which comes next
                    if word not in finished or finished[word][0] < score + value:
                        finished[word] = (score + value, beam, state, j, logp, steps[j], code)
            candidates.sort(key=lambda c: -c[0])
            candidates = candidates[:width]
            best = sorted((f[0] for f in finished.values()), reverse=True)
            if len(best) >= k:  # scores only fall: a beam below the K-th finished word can never overtake it
                candidates = [c for c in candidates if c[0] >= best[k - 1]]
            if not candidates:
                break
            if cancelled():
                return None
            idx = torch.tensor([c[2] for c in candidates])
            parents = torch.tensor([c[1] for c in candidates])
            if isinstance(state, tuple):
                chosen = tuple(t.index_select(1, parents) for t in state)
            else:
                chosen = state.index_select(1, parents)
            logits, state = self.fast.step(idx, chosen)
            new = []
            for score, j, code, value in candidates:
                parent = beams[j]
                context = memory.advance(parent.context, code) if memory is not None else 0
                reach = memory.next_reach(steps[j], code) if memory is not None else None
                new.append(_Row(parent.chars + [vocab[code]], parent.lps + [value], parent.steps + [steps[j]], context,
                                reach))
            beams = new
            logp, steps = self._next_logp(logits, memory, [b.context for b in beams], [b.reach for b in beams])
        ranked = sorted(finished.values(), key=lambda f: -f[0])[:k]
        for j, beam in enumerate(beams):  # words still open when the search stopped, if K did not finish
            if len(ranked) >= k:
                break
            ranked.append((math.fsum(beam.lps), beam, state, j, logp, steps[j], logp.best()[0][j]))
        rows = [_Row(list(b.chars), list(b.lps), list(b.steps), b.context, b.reach) for _, b, *_ in ranked]
        if isinstance(state, tuple):
            state = tuple(torch.cat([r[2][i][:, r[3] : r[3] + 1] for r in ranked], 1) for i in range(len(state)))
        else:
            state = torch.cat([r[2][:, r[3] : r[3] + 1] for r in ranked], 1)
        logp = _Mixed.cat([(r[4], r[3]) for r in ranked])
        return rows, state, logp, [r[5] for r in ranked], [r[6] for r in ranked]

    def _next_logp(self, logits: torch.Tensor, memory: DocumentMemory | None, contexts: list,
                   reach: list | None = None) -> tuple[_Mixed, list]:
        """Log-probabilities of the next character (R rows): the model's, mixed with the document memory's (each
        row's `context`, and the `reach` of the orders that can have occurred there, None: all); and per row
        the memory's `Step` (None where it had nothing to add).

        `DocumentMemory.mix_rows` in log space, kept as the model's log-probabilities and each row's changes
        (`_Mixed`): the memory's few codes are computed here in plain Python from a numpy view of the model's."""
        logp = F.log_softmax(logits, -1)
        if memory is None:
            return _Mixed(logp), [None] * len(logits)
        steps = memory.steps(contexts, reach or [None] * len(logits))
        keep, own, model = [0.0] * len(steps), [{}] * len(steps), None
        exp, log = math.exp, math.log
        for r, step in enumerate(steps):
            if step is None:
                continue
            if model is None:
                model = logp.numpy()
            step.model = _ModelProbs(model, r)
            share, row = max(step.weights[0], 1e-30), model[r]
            # the shortest context's followers include every longer one's (a context's suffix followed it too)
            if len(step.follow) == 2:  # `MIX_ORDERS`: written out, as this runs for most rows of every step
                (_, near, far), (shorter, longer) = step.weights, step.follow
                own[r] = {code: log(share * exp(row[code]) + (near * p + far * longer.get(code, 0.0)))
                          for code, p in shorter.items()}
            else:
                own[r] = {code: log(share * exp(row[code]) + extra) for code, extra in step.shares().items()}
            keep[r] = log(share)
        return _Mixed(logp, keep, own), steps

    def _choose(self, logp: _Mixed, rows: list[list[str]], recent: str, greedy: bool,
                uniforms: torch.Tensor | None, ghost: int | None) -> tuple[list[int], list[float]]:
        """Each row's next character and its log-probability: greedy for the ghost text's row (position `ghost`),
        else sampled; one that would repeat what the row or the text just before it already said gives way to the
        likeliest one that does not."""
        s = self.settings
        if greedy or (ghost == 0 and len(rows) == 1) or uniforms is None:
            codes, values = logp.best()
        else:
            full = logp.full()
            nxt = sample_from(full, uniforms, s.temperature, s.top_k, s.top_p)
            if ghost is not None:
                nxt[ghost] = full[ghost].argmax()
            codes, values = nxt.tolist(), full.gather(1, nxt[:, None])[:, 0].tolist()
        if not s.no_repeat:
            return codes, values
        top = None
        for r, chars in enumerate(rows):
            row = "".join(chars)
            if not _repeats(recent, row, self.vocab[codes[r]], s.no_repeat):
                continue
            if top is None:
                top = logp.top(REPEAT_TRIES)
            for value, code in zip(top[0][r], top[1][r]):
                if not _repeats(recent, row, self.vocab[code], s.no_repeat):
                    codes[r], values[r] = code, value
                    break
        return codes, values

    def _recent_text(self) -> str:
        """The end of the context as the model read it: what a continuation must not simply say again."""
        return self.normalise(self.window[-RECENT_CHARS:])

    @staticmethod
    def _expand(state, k: int):
        """The batch-1 context state as K rows."""
        if isinstance(state, tuple):
            return tuple(Engine._expand(t, k) for t in state)
        return state.expand(-1, k, -1).contiguous()

    def _first_chars(self, logp: torch.Tensor, k: int, greedy: bool, uniforms) -> torch.Tensor:
        """Distinct first characters: the K likeliest when greedy, else the likeliest then K-1 sampled ones."""
        s = self.settings
        masked = logp.masked_fill(~self._printable, float("-inf"))  # a suggestion offers something to insert
        if greedy:
            return masked[0].topk(k).indices
        chosen = [int(masked[0].argmax())]
        for r in range(1, k):  # without replacement: each draw from the distribution without the ones drawn
            masked[0, chosen[-1]] = float("-inf")
            chosen.append(int(sample_from(masked, uniforms[0, r : r + 1], s.temperature, s.top_k, s.top_p)))
        return torch.tensor(chosen)

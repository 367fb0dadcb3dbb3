"""Decoding: from the state at the cursor to the continuations' rows, one suggestion run at a time.

A run opens the continuations (`charwriter.engine.beam`: the K likeliest first words; or the first version's way,
`charwriter.engine.greedy`), then steps the rows that go on one character at a time, each next character chosen
from the model mixed with the document memory (`charwriter.engine.mixing`) under the rules every continuation
follows (`charwriter.lm.rules`); where the memory knows what comes, the grey text walks its guess instead
(`charwriter.engine.draft`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Protocol

import torch

from charwriter.engine.context import Codec
from charwriter.engine.draft import walk_draft
from charwriter.engine.mixing import Mixed, next_logp
from charwriter.lm import state as states
from charwriter.lm.fast import FastRNN
from charwriter.lm.memory import DocumentMemory
from charwriter.lm.rules import (NEVER_SHOWN, RECENT_CHARS, REPEAT_TRIES, WORD_EXTRA, is_word_char, _repeats,
                                 char_classes, ends_with_dash, grow, holds_a_word)
from charwriter.lm.sample import masked_probs


@dataclass(slots=True)  # made and read for every row of every step
class Row:
    """One continuation while it is generated."""

    chars: list[str]
    lps: list[float]  # each character's log-probability, nats
    steps: list  # the memory's `Step` behind each character (None where it had nothing to add)
    context: int  # the memory's context after these characters (`DocumentMemory.context`)
    reach: int | None  # how many memory orders' contexts can have occurred next, the shortest first (None: all)
    ending: bool = False  # a sentence end was written: only a closing quote or bracket may follow
    capped: bool = False  # stopped by the length cap inside a word: cut back to its start


class Opened(NamedTuple):
    """The continuations once opened, before the rows that go on are stepped."""

    rows: list[Row]
    batch: list[int]  # the row behind each position of the batch: the rows that go on
    state: object  # the batch's state
    logp: Mixed  # the batch's next-character log-probabilities
    steps: list  # the memory's step behind each of them
    codes: list[int]  # each batch row's next character
    ends: list[str]  # per row, the character that ended its first word ([]: the rows bring none)


class Opening(Protocol):
    """How the continuations open (`EngineSettings.ghost`)."""

    beam: bool  # the rows are the K likeliest first words, in that order: the document's words and the word list's
    # proposals join them; else the rows are ranked by their scores

    def open(self, run: "Run", state, logp: Mixed, steps: list, context: int) -> Opened | None:
        """None: cancelled."""


class LastRow(NamedTuple):
    text: str
    codes: list[int]
    steps: list  # the memory's step behind each character, the first shared by all rows


@dataclass
class LastRun:
    """The last suggestion run, kept so that the memory can learn from what the writer then typed or accepted."""

    tip: int  # the position the continuations start at
    rows: list[LastRow]


class Decoder:
    """What every suggestion run of one model needs: its step, its vocabulary's classes, and the memory's guesses
    counted over the runs."""

    def __init__(self, fast: FastRNN, codec: Codec):
        self.fast = fast
        self.codec = codec
        self.vocab = vocab = codec.vocab
        self.char_class = char_classes(vocab)  # per code, for the stopping rules
        self.printable = torch.tensor([kind != NEVER_SHOWN for kind in self.char_class])
        self.word_ends = [c for c, ch in enumerate(vocab) if not is_word_char(ch) and self.char_class[c] != NEVER_SHOWN]
        self.guessed = {"runs": 0, "chars": 0, "taken": 0, "again": 0}
        """The memory's guesses so far (`charwriter.engine.draft`): runs, characters guessed, taken into the grey
        text, and the runs again for the state before a guess the choice left."""


class Run:
    """One suggestion run: its settings, the memory, its random numbers and the text just before the cursor."""

    def __init__(self, decoder: Decoder, settings, memory: DocumentMemory | None, window: str, resample: bool,
                 cancelled: Callable[[], bool]):
        s = self.settings = settings
        self.decoder, self.fast, self.vocab = decoder, decoder.fast, decoder.vocab
        self.k = max(1, min(s.k, int(decoder.printable.sum())))
        self.greedy = s.greedy or s.temperature <= 0  # pick_next's rule: no temperature is greedy decoding
        generator = torch.Generator().manual_seed(s.seed) if s.seed is not None else None
        self.limit = s.max_len + WORD_EXTRA  # a word that runs over L is finished, up to this
        self.uniforms = None if self.greedy else torch.rand(self.limit + 1, self.k, generator=generator)
        self.recent = decoder.codec.normalise(window[-RECENT_CHARS:])  # what a continuation must not say again
        self.after_dash = ends_with_dash(self.recent)  # a continuation does not open with another ("--" then "----")
        # the cursor is inside a word (or right after one); a dash's hyphens are not a word
        self.in_word = is_word_char(window[-1:] or " ") and not self.after_dash
        self.memory = memory
        self.resample = resample  # the grey text goes on by sampling after its first word
        self.cut = 0.0 if resample else s.ghost_confidence  # a drawn ghost text (Ctrl+R) is shown whole: unlikely
        self.cancelled = cancelled

    def ghost_row(self, row: Row, at: int) -> int | None:
        """The batch position `at` of the ghost text's row where it is chosen greedily, else None (drawn: Ctrl+R,
        once its first word is whole)."""
        return None if self.resample and holds_a_word(row.chars) else at

    def decode(self, opening: Opening, state, logp: Mixed, steps: list, context: int) -> tuple[list[Row], list[str]]:
        """The rows (the ghost text's first) and the character that ended each one's first word; ([], []) if
        cancelled."""
        opened = opening.open(self, state, logp, steps, context)
        if opened is None or not self._go_on(opened):
            return [], []
        return opened.rows, opened.ends

    def _go_on(self, opened: Opened) -> bool:
        """Step the rows that go on until each has stopped (`grow`); False if cancelled."""
        rows, batch, state, steps, codes = opened.rows, opened.batch, opened.state, opened.steps, opened.codes
        pending = opened.logp.at(codes)  # log-probability of each row's next character
        char_class, vocab, max_len = self.decoder.char_class, self.vocab, self.settings.max_len
        drafts = self.memory is not None and self.settings.guesses and self.fast.runs_fast
        t = 1
        while t <= self.limit:
            keep = []
            for b, r in enumerate(batch):
                goes_on = grow(rows[r], vocab[codes[b]], pending[b], char_class[codes[b]], max_len,
                               self.cut if r == 0 else 0.0)
                if goes_on is not None:  # the character was taken
                    rows[r].steps.append(steps[b])
                if goes_on:
                    keep.append(b)
            if not keep:
                break
            if len(keep) < len(batch):  # step only the rows that go on
                state = states.pick(state, torch.tensor(keep))
                codes, batch = [codes[b] for b in keep], [batch[b] for b in keep]
            if self.cancelled():
                return False
            if drafts and batch == [0]:
                walked = walk_draft(self, rows[0], codes[0], state, t)
                if walked is not None:
                    if walked.ended:
                        break  # the ghost text ended inside the draft
                    state, codes, pending, steps, t = walked.state, walked.codes, walked.pending, walked.steps, walked.t
                    continue
            logits, state = self.fast.step(torch.tensor(codes), state)
            codes, pending, steps = self.choose_next(
                [rows[r] for r in batch], codes, logits, self.uniforms[t][batch] if self.uniforms is not None else None,
                self.ghost_row(rows[0], batch.index(0)) if 0 in batch else None)
            t += 1
        return True

    def choose_next(self, going: list[Row], codes: list[int], logits: torch.Tensor, uniforms,
                    ghost: int | None) -> tuple[list[int], list[float], list]:
        """The rows `going` have read `codes` (the model's `logits` after them): their memory contexts move on, and
        -> each row's next character, its log-probability and the memory's step for it (`choose`)."""
        memory = self.memory
        if memory is not None:
            for row, code in zip(going, codes):
                row.context = memory.advance(row.context, code)
                row.reach = memory.next_reach(row.steps[-1], code)
        logp, steps = next_logp(logits, memory, [row.context for row in going], [row.reach for row in going])
        codes, pending = self.choose(logp, [row.chars for row in going], uniforms, ghost)
        return codes, pending, steps

    def choose(self, logp: Mixed, rows: list[list[str]], uniforms: torch.Tensor | None,
               ghost: int | None) -> tuple[list[int], list[float]]:
        """Each row's next character and its log-probability: greedy for the ghost text's row (position `ghost`),
        else sampled; one that would repeat what the row or the text just before it already said gives way to the
        likeliest one that does not."""
        s, recent = self.settings, self.recent
        if self.greedy or (ghost == 0 and len(rows) == 1) or uniforms is None:
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

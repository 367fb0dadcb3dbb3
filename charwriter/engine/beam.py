"""The continuations' opening: a small beam search for the K likeliest distinct ways to finish the word at the cursor
(or, after a space, the next word). The first word decides whether a suggestion saves the writer keys; the
likeliest then goes on as the grey text, the others are the pane's alternatives, one word each.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from charwriter.engine.decode import Opened, Row, Run
from charwriter.engine.mixing import Mixed, next_logp
from charwriter.lm import state as states
from charwriter.lm.rules import NEVER_SHOWN, is_word_char, _repeats

WORD_STEPS = 24  # the beam search for the first word gives up after this many characters
OPENING = " \"'(["  # characters a continuation may start with before its first word


class Ended(NamedTuple):
    """A word the search finished: a character that is not part of a word comes next."""

    score: float  # its log-probability, with the character after it
    row: Row
    state: object  # the beams' state when it ended ...
    index: int  # ... and its beam's row there
    logp: Mixed  # the beams' next-character log-probabilities then
    step: object  # the memory's step for the character after it
    code: int  # the character after it


class Candidate(NamedTuple):
    score: float
    parent: int  # the beam it extends
    code: int
    value: float  # the code's log-probability


class BeamOpening:
    """`EngineSettings.ghost == "beam"`: the rows are the K likeliest first words, the ghost text's first; after
    them only the ghost text goes on."""

    beam = True

    def open(self, run: Run, state, logp: Mixed, steps: list, context: int) -> Opened | None:
        opened = open_words(run, Row([], [], [], context, None), state, logp, steps[0] if steps else None)
        if opened is None:
            return None
        rows, state, logp, steps, codes = opened
        ends = [run.vocab[code] for code in codes]  # a space brings one with the word
        # After the beam the alternatives are their words (short, each one to pick when the ghost text's word is
        # wrong); only the ghost text goes on.
        return Opened(rows, [0], states.rows(state, 0, 1), logp.rows([0]), steps[:1], codes[:1], ends)


def open_words(run: Run, cursor: Row, state, logp: Mixed, step):
    """Beam search for the K likeliest distinct ways to finish the word at the cursor (or, after a space, the
    next word): returns their rows, states (K rows), next-character log-probabilities (K rows), memory steps
    and the code of the character that ends each word; None if cancelled. A word ends where a character that is
    not part of a word would follow, so "so" may stay "so" (the empty completion) when a space after it is
    likelier than "some"."""
    k, memory = run.k, run.memory
    width = max(k, run.settings.beam_width)
    beams, steps = [cursor], [step]
    finished: dict[str, Ended] = {}  # word -> how it ended, at its best
    for _ in range(WORD_STEPS):
        candidates = _candidates(run, beams, state, logp, steps, width, finished)
        best = sorted((f.score for f in finished.values()), reverse=True)
        if len(best) >= k:  # scores only fall: a beam below the K-th finished word can never overtake it
            candidates = [c for c in candidates if c.score >= best[k - 1]]
        if not candidates:
            break
        if run.cancelled():
            return None
        idx = torch.tensor([c.code for c in candidates])
        parents = torch.tensor([c.parent for c in candidates])
        logits, state = run.fast.step(idx, states.pick(state, parents))
        new = []
        for score, j, code, value in candidates:
            parent = beams[j]
            context = memory.advance(parent.context, code) if memory is not None else 0
            reach = memory.next_reach(steps[j], code) if memory is not None else None
            new.append(Row(parent.chars + [run.vocab[code]], parent.lps + [value], parent.steps + [steps[j]], context,
                           reach))
        beams = new
        logp, steps = next_logp(logits, memory, [b.context for b in beams], [b.reach for b in beams])
    ranked = sorted(finished.values(), key=lambda f: -f.score)[:k]
    for j, beam in enumerate(beams):  # words still open when the search stopped, if K did not finish
        if len(ranked) >= k:
            break
        ranked.append(Ended(math.fsum(beam.lps), beam, state, j, logp, steps[j], logp.best()[0][j]))
    rows = [Row(list(r.row.chars), list(r.row.lps), list(r.row.steps), r.row.context, r.row.reach) for r in ranked]
    state = states.cat([states.rows(r.state, r.index, r.index + 1) for r in ranked])
    logp = Mixed.cat([(r.logp, r.index) for r in ranked])
    return rows, state, logp, [r.step for r in ranked], [r.code for r in ranked]


def _candidates(run: Run, beams: list[Row], state, logp: Mixed, steps: list, width: int,
                finished: dict[str, Ended]) -> list[Candidate]:
    """The `width` likeliest ways the beams go on inside a word, likeliest first; a word a beam ends (a character
    that is not part of a word comes next) goes into `finished` where it beats the same word ended before."""
    vocab, char_class, no_repeat, recent = run.vocab, run.decoder.char_class, run.settings.no_repeat, run.recent
    candidates = []
    for j, (values, codes) in enumerate(zip(*logp.top(width))):
        beam = beams[j]
        started = run.in_word or any(is_word_char(ch) for ch in beam.chars)
        score = math.fsum(beam.lps)
        said = "".join(beam.chars)
        for value, code in zip(values, codes):
            ch = vocab[code]
            if char_class[code] == NEVER_SHOWN:
                continue  # never inside a ghost text
            if no_repeat and _repeats(recent, said, ch, no_repeat):
                continue
            if ch == "-" and not said and run.after_dash:
                continue
            if is_word_char(ch) or (not started and ch in OPENING):
                candidates.append(Candidate(score + value, j, code, value))
                continue
            word = "".join(beam.chars)  # the word ends before `ch`, which comes next
            if word not in finished or finished[word].score < score + value:
                finished[word] = Ended(score + value, beam, state, j, logp, steps[j], code)
    candidates.sort(key=lambda c: -c.score)
    return candidates[:width]

"""The memory's guesses: where the document says what comes next (a name, a phrase used before), the grey text is
decoded speculatively with the document memory as the draft, read by the model in one run instead of a step a
character, and chosen exactly as stepping would choose it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from charwriter.lm.rules import NEVER_SHOWN, SENTENCE_END, WORD_EXTRA, grow

if TYPE_CHECKING:
    from charwriter.engine.decode import Row, Run

DRAFT_MIN = 2  # a shorter guess of the memory's is stepped: one run costs about a step


class Walked(NamedTuple):
    """Where a walk along the memory's guess left the ghost text."""

    ended: bool  # the ghost text ended inside the guess (the rest is then None)
    state: object = None  # the state after the last character read
    codes: list[int] | None = None  # the next character (one row)
    pending: list[float] | None = None  # its log-probability
    steps: list | None = None  # the memory's step for it
    t: int = 0  # the step loop's count after the walk


ENDED = Walked(True)


def walk_draft(run: Run, row: Row, code: int, state, t: int) -> Walked | None:
    """The ghost text's next characters where the document says what comes: speculative decoding with the
    memory as the draft. The memory guesses the characters after `code` (`DocumentMemory.draft`); the model reads
    `code` and the guess in one `FastRNN.run`; then, position by position, the next character is chosen exactly
    as a step would choose it, and the walk goes on while it is the guessed one. A guessed character the choice
    disagrees with costs a second, shorter run for the state before it. The same characters and values as
    stepping (to the precision's rounding), at ~115 µs a character instead of ~300 (768×2 at int8).

    row: the ghost text, `code` its last character, not yet read (`state`: before it); t: the step loop's count of
    it. -> None: no guess, step as usual."""
    decoder, memory, s, limit = run.decoder, run.memory, run.settings, run.limit
    vocab, char_class, guessed = decoder.vocab, decoder.char_class, decoder.guessed
    if row.ending:
        return None  # after a sentence end only a closing quote may come
    guess = memory.draft(memory.advance(row.context, code), min(limit - t, s.max_len + WORD_EXTRA - len(row.chars)),
                         lambda c: char_class[c] in (SENTENCE_END, NEVER_SHOWN))  # the ghost text ends there
    if len(guess) < DRAFT_MIN:
        return None
    read = [code] + guess
    logits, end = run.fast.run(read, state)
    guessed["runs"] += 1
    guessed["chars"] += len(guess)
    for i, code in enumerate(read):
        codes, pending, steps = run.choose_next([row], [code], logits[i : i + 1],
                                                run.uniforms[t + i][[0]] if run.uniforms is not None else None,
                                                run.ghost_row(row, 0))
        if t + i + 1 > limit:
            return ENDED
        if i + 1 == len(read):
            return Walked(False, end, codes, pending, steps, t + i + 1)
        if codes[0] != read[i + 1]:  # the choice leaves the guess: the state before it is read again
            guessed["again"] += 1
            return Walked(False, run.fast.run(read[: i + 1], state)[1], codes, pending, steps, t + i + 1)
        goes_on = grow(row, vocab[codes[0]], pending[0], char_class[codes[0]], s.max_len, run.cut)
        if goes_on is not None:
            row.steps.append(steps[0])
            guessed["taken"] += 1
        if not goes_on:
            return ENDED
    raise AssertionError("unreachable: the loop returns at its last position")

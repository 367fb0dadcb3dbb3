"""Reading the context: the text before the cursor into the model's state, incrementally.

A window of at most C characters whose start snaps up to a multiple of N; one running state (a lane) per window
start that may yet be needed, advanced together one batched step per character; snapshots of the lanes at every
multiple of N and at the last N positions, so that an edit or a jump re-reads little (docs/engine.md tells why).
And the one policy for characters the model has never seen (`Codec`).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch

from charwriter.lm import state as states
from charwriter.lm.fast import FastRNN
from charwriter.lm.memory import common_prefix_length
from charwriter.lm.rules import translate

PRIME_MIN = 8  # below this many characters stepping beats one nn.LSTM call (measured: 8 chars 4.3 ms against 4.7 ms)
KEEP_BACK = 2  # snapshots at multiples of N kept within KEEP_BACK * C characters of the cursor (cursor moves back)


class Codec:
    """What the model reads for the writer's characters: look-alikes mapped (curly quotes to straight, dashes to
    '-', ellipsis to '...', unusual spaces and tabs to ' '), accents dropped where the base letter is known, the
    rest skipped, so suggestions never stop (`charwriter.lm.rules.translate`, cached per character)."""

    def __init__(self, vocab: list[str]):
        self.vocab = vocab
        self._index = {ch: i for i, ch in enumerate(vocab)}
        self._codes: dict[str, tuple[int, ...]] = {}  # per-character result of the policy

    def char_codes(self, ch: str) -> tuple[int, ...]:
        codes = self._codes.get(ch)
        if codes is None:
            codes = self._codes[ch] = tuple(self._index[c] for c in translate(ch, self._index))
        return codes

    def normalise(self, text: str) -> str:
        """The text as the model reads it: look-alikes mapped, accents dropped where that helps, the rest skipped."""
        return "".join(self.vocab[c] for ch in text for c in self.char_codes(ch))

    def encode(self, text: str) -> list[int]:
        """Character codes of `normalise(text)`."""
        codes = self._codes
        return [c for ch in text for c in (codes[ch] if ch in codes else self.char_codes(ch))]


def window_start(end: int, every: int, cap: int, offset: int = 0) -> int:
    """Absolute start of the window for a context ending at `end`: within the cap, snapped up to a multiple of
    `every` (N), never before `offset` (where the text given starts)."""
    start = max(end - cap, offset, 0)
    return -(-start // every) * every


class View(NamedTuple):
    """The context as the model has read it: the window text[start:tip] and what the model makes of it."""

    start: int
    tip: int  # the cursor's position
    state: object  # the state after the window (batch 1, `charwriter.lm.state`)
    logits: torch.Tensor  # (1, V): the next character's logits


@dataclass
class Snapshot:
    """The lanes after reading the document up to one position `pos` (the key in `Context.snaps`)."""

    starts: tuple[int, ...]  # absolute lane starts, ascending multiples of N: lane i has read text[starts[i]:pos]
    state: object  # batch = len(starts)
    logits: torch.Tensor  # (lanes, V): next-character logits of each lane
    complete: bool = True  # every multiple of N from starts[0] to pos has its lane (False after a quick read)


@dataclass
class Lanes:
    """The lanes while they read: one running state per window start that may yet be needed."""

    starts: list[int]
    state: object  # None before the first lane joins
    logits: torch.Tensor | None
    complete: bool  # a lane joins at every multiple of N (False: a quick read, its one lane only)


class Context:
    """The text before the cursor read into the model's state: the known text, the snapshots, the current view."""

    def __init__(self, fast: FastRNN, codec: Codec, base: tuple, opening: tuple | None = None):
        self.fast = fast
        self.codec = codec
        self.base = base  # (state, logits) after the newline every window starts with
        self.opening = opening or base  # ... and before the document's first character (`document_start`)
        self.snaps: dict[int, Snapshot] = {}  # position -> the lanes there
        self.known = ""  # the document text the snapshots agree with, from `known_start`
        self.known_start = 0
        self.layout: tuple[int, int] | None = None  # (C, N) the snapshots were read with
        self.view: View | None = None
        self.same = 0  # the last text read agreed with the known text up to here

    @property
    def window(self) -> str:
        """The text the model has read for the current context (normalised on reading, not here)."""
        if self.view is None:
            return ""
        return self.known[self.view.start - self.known_start : self.view.tip - self.known_start]

    def read(self, text: str, settings, quick: bool, offset: int, cancelled: Callable[[], bool]) -> bool:
        """`Engine.set_context`: read `text` (the document from `offset` to the cursor) from the latest usable
        snapshot; False if `cancelled()` turned True (the part read so far is kept)."""
        cap, n = settings.context_chars, settings.state_every
        if self.layout != (cap, n):
            self.snaps.clear()  # the settings changed: the lanes no longer line up
            self.layout = (cap, n)
        end = offset + len(text)
        first = window_start(end, n, settings.quick_chars if quick else cap, offset)  # the window the caller wants
        keep = window_start(end, n, cap, offset)  # lanes older than the full window are of no more use
        same = self.same = self._agree(text, offset, min(keep, end))
        pos, snap = first, None
        for p, candidate in self.snaps.items():  # the latest snapshot that holds every lane the window needs
            usable = candidate.complete or (quick and candidate.starts[0] == first)
            if usable and candidate.starts[0] <= first <= p <= min(same, end) and (snap is None or p > pos):
                pos, snap = p, candidate
        complete = not quick and (snap is None or snap.complete)  # quick: the one lane it needs, no younger ones
        if snap is None:
            lanes = Lanes([], None, None, complete)
        else:
            drop = bisect_left(snap.starts, keep)
            lanes = Lanes(list(snap.starts[drop:]), states.rows(snap.state, drop), snap.logits[drop:], complete)
        finished = self._read(text, offset, pos, end, first, lanes, cancelled)
        self._prune(cap)
        return finished

    def _agree(self, text: str, offset: int, need: int) -> int:
        """Absolute position up to which `text` agrees with the known text; forgets the snapshots past it.

        need: the first position this call may read (the known text must reach back to it)."""
        end = offset + len(text)
        known_end = self.known_start + len(self.known)
        lo = max(self.known_start, offset)
        if not self.snaps or lo > min(end, known_end):
            self.snaps.clear()
            self.known, self.known_start = text, offset
            return end
        if need < self.known_start:  # the known text was trimmed to the snapshots' lanes: take what we read now
            self.known = text[need - offset : self.known_start - offset] + self.known
            self.known_start = lo = need
        a, b = self.known[lo - self.known_start :], text[lo - offset :]
        same = lo + common_prefix_length(a, b)
        if same < known_end and same < end:  # an edit: the snapshots past it are stale
            self.snaps = {p: v for p, v in self.snaps.items() if p <= same}
            self.known = self.known[: same - self.known_start] + text[same - offset :]
        elif end > known_end:
            self.known += text[known_end - offset :]
        return same

    def _read(self, text: str, offset: int, pos: int, end: int, first: int, lanes: Lanes,
              cancelled: Callable[[], bool]) -> bool:
        """Advance the lanes from `pos` to `end`, joining new ones at multiples of N; snapshots along the way."""
        n = self.layout[1]
        finished = True
        while True:
            starts = lanes.starts
            if pos % n == 0 and pos >= first and (not starts or (lanes.complete and starts[-1] < pos)) and pos < end:
                starts.append(pos)  # a new lane: the state after a newline (a blank line at the document's start)
                lanes.state, lanes.logits = self._join(lanes.state, lanes.logits, pos)
            if pos >= end:
                break
            if cancelled():
                finished = False
                break
            stop = min(end, (pos // n + 1) * n)
            codes = self.codec.encode(text[pos - offset : stop - offset])
            lanes.state, lanes.logits = self._feed(codes, lanes.state, lanes.logits, len(starts))
            pos = stop
            self.snaps[pos] = Snapshot(tuple(starts), lanes.state, lanes.logits, lanes.complete)
        if not lanes.starts or lanes.starts[-1] < first:  # an empty window: nothing read yet
            self.view = View(first, first, *self._start(first))
            return finished
        lane = bisect_left(lanes.starts, first)
        self.view = View(lanes.starts[lane], pos, states.rows(lanes.state, lane, lane + 1),
                         lanes.logits[lane : lane + 1])
        return finished

    def _start(self, pos: int) -> tuple:
        """(state, logits) a window starting at `pos` is read from."""
        return self.opening if pos == 0 else self.base

    def _join(self, state, logits, pos: int):
        base_state, base_logits = self._start(pos)
        if state is None:
            return base_state, base_logits
        return states.cat([state, base_state]), torch.cat([logits, base_logits])

    def _feed(self, codes: list[int], state, logits, lanes: int):
        if not codes:
            return state, logits
        if len(codes) >= PRIME_MIN:
            idx = torch.tensor([codes]).expand(lanes, -1)
            logits, state = self.fast.prime(idx, states.each(state, lambda t: t.contiguous()))
            return state, logits
        for code in codes:
            logits, state = self.fast.step(torch.full((lanes,), code), state)
        return state, logits

    def _prune(self, cap: int) -> None:
        """Keep snapshots at multiples of N near the cursor and the last N positions; trim the known text."""
        tip, n = self.view.tip, self.layout[1]
        back = KEEP_BACK * cap
        if len(self.snaps) > n + 2 * KEEP_BACK * cap // n:
            self.snaps = {p: v for p, v in self.snaps.items()
                          if abs(p - tip) < n or (p % n == 0 and abs(p - tip) <= back)}
        oldest = min([v.starts[0] for v in self.snaps.values()] + [self.view.start])
        if oldest - self.known_start > back:
            self.known = self.known[oldest - self.known_start :]
            self.known_start = oldest

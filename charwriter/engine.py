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

**Cached states.** For the window being read (a "run", keyed by its start) the engine keeps the state after every N
characters and the state at the cursor (the tip). Typing at the end costs one LSTM step from the tip. An edit, a
deletion or a cursor move resumes from the last cached state before the first changed character (at most N - 1
characters to re-read). When the window start moves on (every N characters typed at the end), a new run reads its
whole window again: one `nn.LSTM` call per N characters (~20 ms each at 512×2), cancellable between chunks with
the chunks already read kept. The last few runs are kept, so moving the cursor back across a window boundary
finds its run again. Positions count the characters of the document, so a caller may pass only the tail of a
long document together with its offset (`set_context(tail, offset=...)`).

**Opening a big document.** `set_context(text, quick=True)` reads only the last `quick_chars` characters, for a
first suggestion at once; a later plain `set_context`/`suggest` reads the full window (the app runs this second
pass in its worker).

**Suggestions.** The K continuations go through `FastRNN.step` as one batch of K rows. Row 1 is greedy (the ghost
text, stable while the context is); the others start with distinct first characters drawn by the seed's sampling
(temperature, top-k, top-p via `pick_next`) and continue sampled; with `greedy=True` row i starts with the i-th most
likely character and continues greedily, so the result is deterministic. A continuation stops after L characters,
after a sentence end (. ! ? and an optional closing quote), or before a newline or any other character that is not
printed (the ghost text never holds an invisible character). They are returned most likely first by mean
log-probability per character; empty and duplicate ones are dropped.

**Unknown characters.** `normalise` is the one policy for characters the model has never seen: common look-alikes
are mapped (curly quotes to straight, dashes to '-', ellipsis to '...', unusual spaces and tabs to ' '), accented
letters lose their accents (NFKD) when the base letter is known, and the rest are skipped, so suggestions never stop.
"""

from __future__ import annotations

import math
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from charwriter.lm.checkpoint import LoadedModel, load_model
from charwriter.lm.fast import FastRNN
from charwriter.lm.sample import default_start, pick_next

LOOKALIKES = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4`", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    "\u2026": "...",
    **dict.fromkeys("\t\u00a0\u2007\u2009\u200a\u202f\u3000", " "),
    **dict.fromkeys("\r\u2028\u2029", "\n"),
}
SENTENCE_ENDS = ".!?"
CLOSING = "\"')]\u201d\u2019"
PRIME_MIN = 8  # below this many characters stepping beats one nn.LSTM call (measured: 8 chars 4.3 ms against 4.7 ms)
KEEP_RUNS = 4  # windows whose cached states we keep (cursor moves back and forth across a window boundary)


@dataclass
class Suggestion:
    text: str  # the continuation only (not the prefix); printable characters; ends at L chars or a sentence end
    mean_logprob: float  # mean log-probability per generated character, nats (<= 0): the confidence figure


@dataclass
class EngineSettings:
    k: int = 3  # continuations, most likely first: the ghost text plus alternatives for the side pane
    max_len: int = 48  # L characters at most: about a line of the side pane, and generation time grows with it
    temperature: float = 1.0  # the seed's sampling for the alternatives
    top_k: int | None = 5  # the seed's sampling: only the 5 likeliest characters, so alternatives stay plausible
    top_p: float | None = None  # nucleus sampling instead of (or with) top-k
    greedy: bool = False  # True: all K deterministic (distinct first characters, then greedy): snapshot tests
    context_chars: int = 1024  # C: cap on the context; an LSTM forgets, and reading more costs time on every jump
    state_every: int = 64  # N: cached state every N characters; an edit re-reads at most N - 1 characters
    seed: int | None = None  # reseed before every suggestion: the same context gives the same suggestions
    quick_chars: int = 128  # the context of `set_context(quick=True)`: first suggestions on a big document at once
    threads: int | None = 1  # torch threads (process-wide!): steps are memory-bound, and 2 threads on 2 busy cores
    # spin against each other (65 ms a step instead of 0.6 ms); None leaves torch's setting alone


@dataclass
class _Run:
    """Cached states of one window. Positions are characters from `start` (an absolute multiple of N)."""

    start: int
    text: str  # the window text the checkpoints agree with (may run past the tip after a cursor move back)
    checkpoints: dict[int, tuple] = field(default_factory=dict)  # multiple of N -> (state, logits (1, V))
    tip: int = 0  # where the current context ends
    tip_value: tuple | None = None  # (state, logits) at `tip`


def common_prefix_length(a: str, b: str) -> int:
    """Length of the common prefix, by bisection over C-level slice comparisons (fast for long strings)."""
    lo, hi = 0, min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    while lo < hi:  # invariant: a[:lo] == b[:lo] and a[:hi] != b[:hi]
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class Engine:
    """Incremental suggestions for one model. Not thread-safe: call it from one thread at a time."""

    def __init__(self, loaded: LoadedModel, settings: EngineSettings | None = None):
        self.loaded = loaded
        self.name: str = loaded.name
        self.vocab: list[str] = list(loaded.vocab)
        self.settings = settings or EngineSettings()
        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        self.fast = FastRNN(loaded.model)
        self._index = {ch: i for i, ch in enumerate(self.vocab)}
        self._codes: dict[str, tuple[int, ...]] = {}  # per-character result of the unknown-character policy
        self._printable = torch.tensor([ch == " " or (ch.isprintable() and not ch.isspace()) for ch in self.vocab])
        self._printable_list = self._printable.tolist()
        self._runs: OrderedDict[int, _Run] = OrderedDict()
        self._layout = (self.settings.context_chars, self.settings.state_every)
        self._run: _Run | None = None
        self.last_latency_ms: float = 0.0
        logits, state = self.fast.step(torch.tensor([default_start(self.vocab)]), self.fast.init_state(1))
        self._base = (state, logits)  # every window starts after a newline, like a paragraph

    @classmethod
    def from_path(cls, path: str | Path, settings: EngineSettings | None = None) -> "Engine":
        return cls(load_model(path), settings)

    # --- unknown characters -------------------------------------------------------------------------------------

    def _translate(self, ch: str) -> str:
        if ch in self._index:
            return ch
        decomposed = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        for candidate in (LOOKALIKES.get(ch), decomposed, " " if ch.isspace() else None):
            if candidate and all(c in self._index for c in candidate):
                return candidate
        return ""

    def _char_codes(self, ch: str) -> tuple[int, ...]:
        codes = self._codes.get(ch)
        if codes is None:
            codes = self._codes[ch] = tuple(self._index[c] for c in self._translate(ch))
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
        """The text the model has read for the current context."""
        return self._run.text[: self._run.tip] if self._run else ""

    @property
    def state(self):
        """The LSTM state after the current context (nn.LSTM layout, batch 1)."""
        self._ensure_context()
        return self._run.tip_value[0]

    @property
    def logits(self) -> torch.Tensor:
        """The next-character logits after the current context, (1, V)."""
        self._ensure_context()
        return self._run.tip_value[1]

    def set_context(self, text: str, quick: bool = False, offset: int = 0,
                    cancelled: Callable[[], bool] = lambda: False) -> bool:
        """Read the text before the cursor, incrementally. `text` may be the document's tail starting at `offset`.

        quick: read only the last `quick_chars` characters (first suggestions on a big document; call again without
        it to read the full window). Returns False if `cancelled()` turned True; the part read so far is kept.
        """
        if self._layout != (self.settings.context_chars, self.settings.state_every):
            self._runs.clear()  # the settings changed: cached windows no longer line up
            self._layout = (self.settings.context_chars, self.settings.state_every)
        end = offset + len(text)
        start = self.window_start(end, self.settings.quick_chars if quick else None, offset)
        run = self._runs.pop(start, None) or _Run(start, "", {0: self._base}, 0, self._base)
        self._runs[start] = run
        while len(self._runs) > KEEP_RUNS:
            self._runs.popitem(last=False)
        self._run = run
        return self._advance(run, text[start - offset :], cancelled)

    def _advance(self, run: _Run, window: str, cancelled: Callable[[], bool]) -> bool:
        n = self.settings.state_every
        same = common_prefix_length(run.text, window)
        if same < len(run.text) and same < len(window):  # an edit: states past it are stale
            run.checkpoints = {p: v for p, v in run.checkpoints.items() if p <= same}
            run.text = window
        elif len(window) > len(run.text):
            run.text = window
        pos = max(p for p in run.checkpoints if p <= same)
        value = run.checkpoints[pos]
        if pos < run.tip <= same:
            pos, value = run.tip, run.tip_value
        while pos < len(window):
            if cancelled():
                run.tip, run.tip_value = pos, value
                return False
            stop = min(len(window), (pos // n + 1) * n)
            value = self._feed(self.encode(window[pos:stop]), value)
            pos = stop
            if pos % n == 0:
                run.checkpoints[pos] = value
        run.tip, run.tip_value = pos, value
        return True

    def _feed(self, codes: list[int], value: tuple) -> tuple:
        state, logits = value
        if len(codes) >= PRIME_MIN:
            logits, state = self.fast.prime(torch.tensor([codes]), state)
            return state, logits
        for code in codes:
            logits, state = self.fast.step(torch.tensor([code]), state)
        return state, logits

    def _ensure_context(self) -> None:
        if self._run is None:
            self.set_context("")

    # --- suggestions --------------------------------------------------------------------------------------------

    @torch.no_grad()
    def suggest(self, text: str | None = None, cancelled: Callable[[], bool] = lambda: False) -> list[Suggestion]:
        """K continuations of the context (of `text` when given), most likely first; [] if cancelled midway."""
        started = time.perf_counter()
        try:
            if text is not None and not self.set_context(text, cancelled=cancelled):
                return []
            self._ensure_context()
            return self._generate(*self._run.tip_value, cancelled)
        finally:
            self.last_latency_ms = (time.perf_counter() - started) * 1000

    def _generate(self, state, logits: torch.Tensor, cancelled: Callable[[], bool]) -> list[Suggestion]:
        s = self.settings
        k = max(1, min(s.k, int(self._printable.sum())))
        generator = torch.Generator().manual_seed(s.seed) if s.seed is not None else None
        first = self._first_chars(logits, k, generator)  # (K,)
        steps = [logits.expand(k, -1)]  # logits each row's character was drawn from
        rows = [[] for _ in range(k)]
        ending = [False] * k
        done = [False] * k
        nxt = first
        chosen = [first]
        for _ in range(s.max_len):
            for r, code in enumerate(nxt.tolist()):
                if done[r]:
                    continue
                ch = self.vocab[code]
                if not self._printable_list[code] or (ending[r] and ch not in SENTENCE_ENDS + CLOSING):
                    done[r] = True  # stop before it: the ghost text never shows an unseen character
                    continue
                rows[r].append(ch)
                if ending[r] and ch in CLOSING:
                    done[r] = True
                ending[r] = ending[r] or ch in SENTENCE_ENDS
                done[r] = done[r] or len(rows[r]) >= s.max_len
            if all(done):
                break
            if cancelled():
                return []
            state = self._expand(state, k)
            logits, state = self.fast.step(nxt, state)
            nxt = self._pick(logits, generator)
            steps.append(logits)
            chosen.append(nxt)
        logprobs = F.log_softmax(torch.stack(steps), -1)  # (steps, K, V): one call, not one a step
        table = logprobs.gather(2, torch.stack(chosen)[:, :, None])[:, :, 0].t().tolist()  # (K, steps)
        out, seen = [], set()
        for chars, lps in zip(rows, table):
            text = "".join(chars)
            if text and text not in seen:
                seen.add(text)
                out.append(Suggestion(text, math.fsum(lps[: len(chars)]) / len(chars)))
        out.sort(key=lambda suggestion: -suggestion.mean_logprob)
        return out

    @staticmethod
    def _expand(state, k: int):
        """The batch-1 context state as K rows (a no-op once the rows exist)."""
        if isinstance(state, tuple):
            return tuple(Engine._expand(t, k) for t in state)
        return state if state.shape[1] == k else state.expand(-1, k, -1).contiguous()

    def _first_chars(self, logits: torch.Tensor, k: int, generator) -> torch.Tensor:
        """Distinct first characters: the K likeliest with `greedy`, else the likeliest then K-1 sampled ones."""
        s = self.settings
        masked = logits.masked_fill(~self._printable, float("-inf"))  # a suggestion offers something to insert
        if s.greedy:
            return masked[0].topk(k).indices
        chosen = [int(masked[0].argmax())]
        for _ in range(k - 1):
            masked[0, chosen[-1]] = float("-inf")
            chosen.append(int(pick_next(masked, s.temperature, s.top_k, s.top_p, False, generator)))
        return torch.tensor(chosen)

    def _pick(self, logits: torch.Tensor, generator) -> torch.Tensor:
        s = self.settings
        if s.greedy:
            return logits.argmax(-1)
        nxt = pick_next(logits, s.temperature, s.top_k, s.top_p, False, generator)
        nxt[0] = logits[0].argmax()  # row 1 stays greedy: the ghost text
        return nxt

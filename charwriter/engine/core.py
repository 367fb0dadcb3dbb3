"""The `Engine`: one model's suggestions for one document, keystroke after keystroke. It reads the context
(`charwriter.engine.context`), keeps the document memory, decodes the continuations (`charwriter.engine.decode`)
and chooses what the writer is shown (`charwriter.engine.shown`).
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from charwriter.engine import settings as limits
from charwriter.engine.beam import BeamOpening
from charwriter.engine.context import Codec, Context, View, window_start
from charwriter.engine.decode import Decoder, LastRow, LastRun, Opening, Row, Run
from charwriter.engine.greedy import GreedyOpening
from charwriter.engine.mixing import Mixed, next_logp
from charwriter.engine.settings import EngineSettings
from charwriter.engine.shown import (Suggestion, in_the_writers_case, once_each, real_words, with_document_words,
                                     worth_showing)
from charwriter.lm import state as states
from charwriter.lm.checkpoint import LoadedModel, load_model
from charwriter.lm.fast import FastRNN
from charwriter.lm.lexicon import Lexicon
from charwriter.lm.lexicon import bundled as bundled_lexicon
from charwriter.lm.memory import DocumentMemory, common_prefix_length
from charwriter.lm.model import CharRNN
from charwriter.lm.precision import Choice
from charwriter.lm.precision import resolve as resolve_precision
from charwriter.lm.rules import (WORD_EXTRA, default_start, document_start, finished, first_word_logprob,
                                 never_taken, no_second_space, wrapped_view, writers_style)

# Torch's own choice (one per physical core), read when this module is first imported, before anyone lowers it.
ALL_THREADS = torch.get_num_threads()
BEAM, GREEDY = BeamOpening(), GreedyOpening()


def _freeze_what_lives_on() -> None:
    """Once per process, when the first engine is ready: what exists then (torch's and the app's modules, the model)
    lives as long as the process, so it is moved out of the collector's sight and a full collection during a
    keystroke no longer walks it (measured with the 768x2 model: 75 ms, once every few hundred keystrokes; 3 ms
    after this). Once only: later engines replace earlier ones, whose cycles must stay collectable."""
    if not gc.get_freeze_count():
        gc.freeze()


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
        self.codec = Codec(self.vocab)
        self.decoder = Decoder(self.fast, self.codec)
        self.lexicon: Lexicon | None = bundled_lexicon() if self.settings.words else None
        """The word list that judges suggestions' words (`charwriter.lm.lexicon`), None where switched off."""
        self._cursor_seen: tuple[View, Mixed] | None = None  # the last suggestion run's view and cursor figures
        self.last_latency_ms: float = 0.0
        self.memory: DocumentMemory | None = None
        """The document memory (None while switched off); it describes `memory.text`, the document last given."""
        self.memory_too_big = False
        """The document is longer than `MEMORY_MAX_CHARS`: the memory is off for it."""
        self.memory_pending: str | None = None
        """A document too big to take into the memory during a keystroke: build it off-thread (`memory.build`)."""
        self._last: LastRun | None = None
        with torch.inference_mode():
            logits, state = self.fast.step(torch.tensor([default_start(self.vocab)]), self.fast.init_state(1))
            self._base = (state, logits)  # every window starts after a newline
            for code in document_start(self.vocab)[1:]:
                logits, state = self.fast.step(torch.tensor([code]), state)
        self.context = Context(self.fast, self.codec, self._base, (state, logits))
        if self.settings.memory and self.settings.guesses:
            self.fast.prepare_run()  # the memory's guesses are read in runs (`charwriter.engine.draft`)
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
        return read_blocks(self.loaded.model, self.codec.char_codes, self._base, text, blocks, unit, autocast)

    @property
    def guessed(self) -> dict:
        """The memory's guesses so far (`Decoder.guessed`)."""
        return self.decoder.guessed

    def normalise(self, text: str) -> str:
        """The text as the model reads it: look-alikes mapped, accents dropped where that helps, the rest skipped."""
        return self.codec.normalise(text)

    def encode(self, text: str) -> list[int]:
        """Character codes of `normalise(text)`."""
        return self.codec.encode(text)

    # --- the context --------------------------------------------------------------------------------------------

    def window_start(self, end: int, cap: int | None = None, offset: int = 0) -> int:
        """Absolute start of the window for a context ending at `end`: within the cap, snapped up to a multiple of N."""
        s = self.settings
        return window_start(end, s.state_every, s.context_chars if cap is None else cap, offset)

    @property
    def window(self) -> str:
        """The text the model has read for the current context (normalised on reading, not here)."""
        return self.context.window

    @property
    def view(self) -> View:
        """The current context as read (read first if nothing was)."""
        if self.context.view is None:
            self.set_context("")
        return self.context.view

    @property
    def state(self):
        """The LSTM state after the current context (nn.LSTM layout, batch 1)."""
        return self.view.state

    @property
    def logits(self) -> torch.Tensor:
        """The next-character logits after the current context, (1, V)."""
        return self.view.logits

    @torch.inference_mode()
    def set_context(self, text: str, quick: bool = False, offset: int = 0,
                    cancelled: Callable[[], bool] = lambda: False) -> bool:
        """Read the text before the cursor, incrementally. `text` may be the document's tail starting at `offset`.

        quick: read only the last `quick_chars` characters (first suggestions on a big document; call again without
        it to read the full window). Returns False if `cancelled()` turned True; the part read so far is kept.
        """
        view = wrapped_view(text, self.settings.wrap_width, offset)  # as the corpus's lines; the same length
        return self.context.read(view, self.settings, quick, offset, cancelled)

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
            view = self.view
            out = self._generate(view.state, view.logits, cancelled, resample)
            if self.settings.typography and out:
                style = writers_style(text if text is not None else self.window, self.normalise)
                out = once_each([replace(s, text=style(s.text)) for s in out])  # "fe" and the document's "fé"
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
        view = self.context.view
        self._last = LastRun(view.tip, [LastRow("", [], [steps[0] if steps else None])])
        return F.log_softmax(view.logits[0], -1), logp.full()[0]

    @torch.inference_mode()
    def cursor_guesses(self, k: int = 5) -> list[tuple[str, float]]:
        """The k likeliest next characters at the cursor and their probabilities, as the suggestions saw them (the
        document memory mixed in): after `suggest`, for a learner to see what the model expects."""
        if self.context.view is None:
            return []
        seen = self._cursor_seen
        logp = (seen[1] if seen is not None and seen[0] is self.context.view else self._cursor_logp()[0]).full()
        values, indices = logp[0].exp().topk(min(k, logp.shape[1]))
        return [(self.vocab[j], float(v)) for v, j in zip(values.tolist(), indices.tolist())]

    def _cursor_logp(self) -> tuple[Mixed, list]:
        """The next-character log-probabilities at the cursor (1, V) and the memory's steps (`next_logp`)."""
        memory = self._memory_in_use()
        contexts = [memory.context(self.encode(self.window[-2 * memory.max_order :]))] if memory else []
        return next_logp(self.context.view.logits, memory, contexts)

    # --- the document memory ------------------------------------------------------------------------------------

    def remember(self, document: str, wait: bool = True) -> bool:
        """Make the memory describe `document`. A big change is built at once with `wait`, else left to the caller
        (`memory_pending`) and the memory sits out until it is installed. False if the memory is not ready."""
        self.memory_too_big = len(document) > limits.MEMORY_MAX_CHARS
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

    def _learn(self, last: LastRun | None, text: str, offset: int = 0) -> None:
        """Teach the memory's weights from what followed the last run's starting point: the character typed, or
        the part of a continuation accepted (its characters' distributions were computed then)."""
        if last is None or self._memory_in_use() is None or self.context.same < last.tip or last.tip < offset \
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

    # --- the continuations --------------------------------------------------------------------------------------

    def _generate(self, state, logits: torch.Tensor, cancelled: Callable[[], bool],
                  resample: bool = False) -> list[Suggestion]:
        s = self.settings
        memory = self._memory_in_use()
        run = Run(self.decoder, s, memory, self.window, resample, cancelled)
        logp, steps = self._cursor_logp()
        self._cursor_seen = (self.context.view, logp)  # for `cursor_guesses`: the run's own figures, not mixed again
        context = memory.context(self.encode(self.window[-2 * memory.max_order :])) if memory is not None else 0
        opening: Opening = BEAM if s.ghost == "beam" else GREEDY
        rows, ends = run.decode(opening, state, logp, steps, context)
        if not rows:
            return []  # cancelled
        self._last = LastRun(self.context.view.tip, [LastRow("".join(r.chars), self.encode("".join(r.chars)), r.steps)
                                                     for r in rows])
        return self._shown(rows, ends, run, opening)

    def _shown(self, rows: list[Row], ends: list[str], run: Run, opening: Opening) -> list[Suggestion]:
        """The rows as suggestions, those the writer is shown, in the order shown (`charwriter.engine.shown`)."""
        s, memory = self.settings, run.memory
        window = self.window  # sliced from the known text on each read: once here
        out = []
        for i, row in enumerate(rows):
            text, score = finished(row, run.cut if i == 0 else 0.0, ends[i] if ends and i > 0 else "")
            kept = no_second_space(window, text)
            if kept:  # each row's first word's figure (from after the spaces dropped): any row may become the first
                out.append(Suggestion(kept, score, first_word_logprob(kept, row.lps[len(text) - len(kept) :])))
        out = once_each(out)
        if not opening.beam:  # the beam's rows come in its order: the ghost text, then the likeliest other words
            out.sort(key=lambda suggestion: -suggestion.mean_logprob)
        before = self.normalise(window[-8:])
        out = worth_showing([suggestion for suggestion in out if not never_taken(before, suggestion.text)])
        if memory is not None and opening.beam and out:
            out = with_document_words(out, window, memory, run.k, s.document_words_after, s.recent_words)
        if s.words and out and self.lexicon is not None:
            view = self.context.view  # the cursor's state
            out = self._real_words(out, memory, view.state, view.logits, run.k, opening.beam)
        return in_the_writers_case(out, window, memory)

    def _real_words(self, out: list[Suggestion], memory: DocumentMemory | None, state, logits, k: int,
                    proposals: bool) -> list[Suggestion]:
        """`real_words` for this context: the list's completions scored by this model from the cursor (`proposals`:
        False for the greedy rows, which keep their own order: benchmarks compare them)."""
        window = self.window
        if not self.lexicon.english_enough(window[-2000:]):
            return out  # another language, or a jargon: the document's own words judge alone
        return real_words(out, window, self.lexicon, memory, k, self.normalise,
                          (lambda rests: self._score_words(state, logits, rests)) if proposals else None)

    @torch.inference_mode()
    def _score_words(self, state, logits, rests: list[str]) -> list[float]:
        """Mean log-probability per character the model alone gives each of `rests` after the cursor (`state`,
        `logits`: the context's), counting the character that ends the word: all rows in one batch per step."""
        codes = [self.encode(rest) for rest in rests]
        ends = self.decoder.word_ends
        n, longest = len(codes), max(map(len, codes))
        logp = F.log_softmax(logits[:1], -1).expand(n, -1)
        state = states.expand(states.rows(state, 0, 1), n)
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

"""One open document's suggestions, without a user interface: the language server drives one per open document.

A `WritingSession` owns the text as the writer has it, the engine that reads it (and the lock that keeps two
threads out of it), the model's loading, the document memory's building, adaptation to the document when it is
switched on, and settings changes. Edits come in as `set_text` and `apply_change`; `suggest(offset)` may run on
another thread, and every edit bumps `version`, which stops the work begun for an older text at the engine's next
step. What happens in the background (a memory built, the model adapted, a failure) is told through `report`.
Torch is imported when a model loads, never at import: this module, like `charwriter.lm`, never imports Textual.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from charwriter.errors import UserError
from charwriter.lm.rules import PARTIAL_WORD
from charwriter.settings import Settings

TAIL_CHARS = 4_096  # a document too long for the memory hands the model only this much text before the cursor
WORD_CHARS = 64  # the part of a word before the cursor is looked for in this much text

CONFIDENCE = [(-0.25, "●●●●", "sure"), (-0.6, "●●●○", "likely"), (-1.0, "●●○○", "maybe"), (None, "●○○○", "a guess")]
"""Mean log-probability per character (nats) from which a continuation gets each bar, and the bar's word."""


def confidence_bar(mean_logprob: float) -> tuple[str, str]:
    """The bar and the word for a confidence figure (the pane and the language server show the same)."""
    for floor, bar, word in CONFIDENCE:
        if floor is None or mean_logprob >= floor:
            return bar, word
    raise AssertionError("unreachable")


Report = Callable[[str, str], None]
"""`report(level, line)`: level "info", "warning" or "error"; the line says what happened, in one line."""


@dataclass
class Continuation:
    text: str  # what would be inserted at the position
    confidence: float  # mean log-probability per character, nats (<= 0)


@dataclass
class Suggestions:
    """What the writer is offered at one position: the grey text first, then the pane's alternatives."""

    continuations: list[Continuation]
    typed: str  # the part of a word just before the position: a continuation that starts with a letter finishes it
    latency_ms: float  # the engine's time for this answer
    inline: bool = True  # the first is drawn as grey text; False: the model is unsure of its first word

    @property
    def grey(self) -> str:
        return self.continuations[0].text if self.continuations and self.inline else ""


def engine_settings(settings: Settings, threads: int | None = None):
    """The engine's settings for the user's (`charwriter.engine.EngineSettings`; imports torch)."""
    from charwriter.engine import ALL_THREADS, EngineSettings

    return EngineSettings.of_user(settings, threads=threads or ALL_THREADS)


class Models:
    """The model the sessions of one process write with: its file is read and its precision chosen once (the probe
    takes seconds), and every document's engine shares its weights, read-only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple | None = None  # (key, LoadedModel, precision Choice) of the last model loaded

    def engine(self, spec: str | None, settings):
        """An engine for the model `spec` names (None: the default) with these `EngineSettings`; raises UserError."""
        from charwriter.engine import Engine
        from charwriter.lm.checkpoint import load_model
        from charwriter.lm.registry import resolve_model

        path = resolve_model(spec)
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, settings.precision)
        with self._lock:  # documents opened together read the file once
            if self._cached is None or self._cached[0] != key:
                engine = Engine(load_model(path), settings)
                self._cached = (key, engine.loaded, engine.precision)
                return engine
            _, loaded, precision = self._cached
        return Engine(loaded, settings, precision)


class WritingSession:
    """One open document: its text, its engine, its memory and its adaptation. Thread-safe: edits may come from one
    thread while `suggest` runs on another."""

    def __init__(self, settings: Settings | None = None, *, models: Models | None = None, threads: int | None = None,
                 report: Report = lambda level, line: None) -> None:
        self.settings = settings or Settings()
        self.models = models or Models()
        self.threads = threads
        """Torch threads for the suggestions (None: every core, as the app uses on an idle machine)."""
        self.report = report
        self.text = ""
        self.version = 0
        """Bumped by every edit: a suggestion begun for an older text stops, and its answer is None."""
        self.engine = None
        """The `charwriter.engine.Engine` in use (None until a model has loaded)."""
        self.model_path: Path | None = None
        self.closed = False
        self._text_lock = threading.Lock()
        self._engine_lock = threading.Lock()
        self._quick_next = True
        """The next answer reads only the end of the context (the whole window takes most of a second to read the
        first time); `refine` then reads the rest."""
        self._refine_at: tuple[int, int] | None = None  # (offset, version) of a quick answer not yet refined
        self._memory_thread: threading.Thread | None = None
        self._adapt_epoch = 0
        """Bumped when adapting stops (another model, switched off, closed): a result for an older epoch is dropped."""
        self._adapt_job = None
        self._adapting = False
        self._adapted_chars: int | None = None
        self._base_weights = None
        """The model's weights as loaded, for going back to them when the engine runs adapted ones."""

    # --- the text ---------------------------------------------------------------------------------------------------

    def set_text(self, text: str) -> None:
        """The whole document (opened, or replaced)."""
        with self._text_lock:
            self.text = text
            self.version += 1
            self._quick_next = True

    def apply_change(self, start: int, end: int, text: str) -> None:
        """Characters start:end of the document were replaced by `text` (offsets are clamped to the document)."""
        with self._text_lock:
            old = self.text
            start = min(max(0, start), len(old))
            end = min(max(start, end), len(old))
            self.text = old[:start] + text + old[end:]
            self.version += 1

    # --- the model --------------------------------------------------------------------------------------------------

    def load_model(self) -> None:
        """Load the model the settings name (None: the default) and suggest with it from now on. Blocking (seconds:
        torch's import, the precision's probe): call it off an event loop. Raises UserError, one line, for a model
        that cannot be used; the engine in use, if any, stays."""
        try:
            engine = self.models.engine(self.settings.model, engine_settings(self.settings, self.threads))
        except UserError:
            raise
        except Exception as error:  # a bug or a broken install: the document and the engine in use stay
            raise UserError(f"could not load the model ({type(error).__name__}: {error})") from error
        self._stop_adapting()
        with self._engine_lock:
            self.engine, self.model_path, self._base_weights = engine, engine.loaded.path, engine.loaded.model
            self._quick_next = True
            if self.text:  # the document's memory from its opening: at once if small, else in the background
                engine.remember(self.text, wait=False)
        self._take_in(engine)

    def configure(self, settings: Settings) -> None:
        """Suggest with these settings from the next answer on. A new model or precision loads here (blocking); if it
        cannot, UserError is raised and the model and precision in use stay (the other changes are kept)."""
        old, self.settings = self.settings, settings
        if self.engine is None or (old.model, old.precision) != (settings.model, settings.precision):
            try:
                self.load_model()
            except UserError:
                self.settings = replace(settings, model=old.model, precision=old.precision)
                raise
        else:
            with self._engine_lock:
                self.engine.settings = engine_settings(settings, self.threads)
        if old.adapt and not settings.adapt:
            self._stop_adapting(unadapt=True)
        self._take_in(self.engine)

    # --- suggestions ------------------------------------------------------------------------------------------------

    def suggest(self, offset: int, cancelled: Callable[[], bool] = lambda: False,
                version: int | None = None) -> Suggestions | None:
        """The grey text and the alternatives at `offset` (characters into the text, clamped to it). None when no
        model has loaded yet, or when the text changed or `cancelled()` turned True meanwhile: the engine stops at
        its next step. `version`: the text the offset was computed for (None: the text as it is now)."""
        with self._text_lock:
            text, now = self.text, self.version
        if version is not None and version != now:
            return None  # the offset belongs to an older text
        version = now
        offset = min(max(0, offset), len(text))
        stale = lambda: self.version != version or self.closed or cancelled()  # noqa: E731 - polled by the engine
        with self._engine_lock:  # a stopped older run may still be finishing its step
            engine = self.engine
            if engine is None or stale():
                return None
            from charwriter.engine import MEMORY_MAX_CHARS

            quick = self._quick_next and offset > engine.settings.quick_chars
            if len(text) > MEMORY_MAX_CHARS:  # the memory is off for it: no need to copy all of it every time
                start = max(0, offset - TAIL_CHARS)
                out = engine.suggest(text[start:offset], cancelled=stale, offset=start, quick=quick)
            else:
                out = engine.suggest(text[:offset], cancelled=stale, document=text, quick=quick)
            latency = engine.last_latency_ms
            if stale():
                return None
            self._quick_next = False
            self._refine_at = (offset, version) if quick else None
        self._take_in(engine)
        typed = PARTIAL_WORD.search(text[max(0, offset - WORD_CHARS) : offset]).group(0)
        return Suggestions([Continuation(s.text, s.mean_logprob) for s in out], typed, latency,
                           not out or out[0].inline)

    def refine(self, cancelled: Callable[[], bool] = lambda: False) -> None:
        """After a quick answer (from the last few characters only), read the rest of the window now, so that the
        next keystroke's answer reads the whole context without waiting for it. Stops at the next edit."""
        with self._text_lock:
            text, version = self.text, self.version
        stale = lambda: self.version != version or self.closed or cancelled()  # noqa: E731
        with self._engine_lock:
            at, engine = self._refine_at, self.engine
            if at is None or at[1] != version or engine is None or stale():
                return
            from charwriter.engine import MEMORY_MAX_CHARS

            offset = at[0]
            start = max(0, offset - TAIL_CHARS) if len(text) > MEMORY_MAX_CHARS else 0
            if engine.set_context(text[start:offset], offset=start, cancelled=stale):
                self._refine_at = None

    # --- the document memory and adaptation, in the background -------------------------------------------------------

    def _take_in(self, engine) -> None:
        """After a model loaded or an answer: build the memory of a big document (or fold its changes) off this
        thread, and adapt the model to the document when it is due."""
        if engine is None or self.closed:
            return
        memory = engine.memory
        wanted = engine.memory_pending is not None or (memory is not None and memory.wants_fold)
        if wanted and (self._memory_thread is None or not self._memory_thread.is_alive()):
            self._memory_thread = threading.Thread(target=self._build_memory, args=(engine, self.text), daemon=True,
                                                   name="charwriter-memory")
            self._memory_thread.start()
        self._maybe_adapt()

    @property
    def memory_building(self) -> bool:
        return self._memory_thread is not None and self._memory_thread.is_alive()

    def _build_memory(self, engine, document: str) -> None:
        """Outside the engine's lock (answers go on from the model alone meanwhile); the next answer then catches up
        with the edits made since."""
        memory = engine.memory
        if memory is None:
            return
        try:
            base = memory.build(document)
        except Exception as error:  # noqa: BLE001 - the suggestions go on without the memory
            self.report("warning", f"the document memory could not be built ({type(error).__name__}: {error})")
            return
        with self._engine_lock:
            if engine.memory is memory and not self.closed:
                memory.install(document, base)

    def _maybe_adapt(self) -> None:
        from charwriter.lm.adapt import due

        if not self.settings.adapt or self._adapting or self.engine is None or self.model_path is None \
                or self.closed:
            return
        text = self.text
        if due(len(text), self._adapted_chars):
            self._adapted_chars, self._adapting = len(text), True
            threading.Thread(target=self._adapt, args=(self.engine, self.model_path, text, self._adapt_epoch),
                             daemon=True, name="charwriter-adapt").start()

    def _adapt(self, engine, model_path: Path, text: str, epoch: int) -> None:
        """Run the adaptation's low-priority process; keep its weights when they predict the document better."""
        from charwriter.lm.adapt import AdaptJob

        job = None
        try:
            job = self._adapt_job = AdaptJob(model_path, text)
            done = None
            for line in job.lines():
                done = line.get("done", done)
            if epoch != self._adapt_epoch:
                return
            if done is None:
                self.report("warning", f"could not adapt the model to this document: {job.error()}")
            elif done.get("kept"):
                from charwriter.lm.checkpoint import load_model

                weights = load_model(job.out).model  # validated like any model file
                with self._engine_lock:
                    if epoch != self._adapt_epoch or self.engine is not engine:
                        return
                    self.engine, self._quick_next = engine.with_weights(weights, done), True
                self.report("info", f"adapted to this document: the model predicts its end at {done['after']:.2f} "
                                    f"nats/char instead of {done['before']:.2f}")
        except Exception as error:  # noqa: BLE001 - the model goes on as trained
            self.report("warning", f"could not adapt the model to this document ({type(error).__name__}: {error})")
        finally:
            if job is not None:
                job.close()
            if self._adapt_job is job:
                self._adapt_job = None
            if epoch == self._adapt_epoch:
                self._adapting = False

    def _stop_adapting(self, unadapt: bool = False) -> None:
        """Stop an adaptation under way and forget the last one; `unadapt`: the engine goes back to the model's own
        weights."""
        self._adapt_epoch += 1
        job = self._adapt_job
        if job is not None:
            job.stop()
        self._adapting, self._adapted_chars = False, None
        with self._engine_lock:
            engine = self.engine
            if unadapt and engine is not None and engine.loaded.training.get("adapted") is not None:
                self.engine, self._quick_next = engine.with_weights(self._base_weights), True

    @property
    def adapted(self) -> bool:
        engine = self.engine
        return engine is not None and engine.loaded.training.get("adapted") is not None

    def close(self) -> None:
        """The document was closed: stop what runs for it and let its engine, memory and text go."""
        self.closed = True
        with self._text_lock:
            self.version += 1
        self._stop_adapting()
        with self._engine_lock:
            self.engine = self._base_weights = None
            self.text = ""

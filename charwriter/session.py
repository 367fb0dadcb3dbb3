"""One open document's suggestions, without a user interface: the writing screen and the language server each
drive one `WritingSession` per open document.

The session owns the text as the writer has it, the engine that reads it (and the lock that keeps two threads out of
it), the model's loading, the document memory's building, adaptation to the document, the threads the engine runs
on, and settings changes. It is driven by method calls, from any thread; every edit bumps `version`, which stops the
work begun for an older text at the engine's next step. What happens in the background is told as small events
(`listen`) and, for a log, as one-line reports (`report`). Torch is imported when a model loads, never at import:
this module, like `charwriter.lm`, never imports Textual.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from charwriter.adapting import (AdaptEvent, AdaptFailed, AdaptProgress, AdaptStarted, Adapted,  # noqa: F401
                                 Adaptation, Unadapted)
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
    context: int = 0  # characters of context the model read
    quick: bool = False  # read from the last few characters only: ask again for the whole window
    guesses: list = field(default_factory=list)  # the five likeliest next characters, with probabilities (asked)
    memory_too_big: bool = False  # the document is too long for the memory: it is off for this one

    @property
    def grey(self) -> str:
        return self.continuations[0].text if self.continuations and self.inline else ""


def engine_settings(settings: Settings, threads: int | None = None, precision: str | None = None):
    """The engine's settings for the user's (`charwriter.engine.EngineSettings`; imports torch); `precision`: this
    process's own (`--precision`) instead of the setting."""
    from charwriter.engine import ALL_THREADS, EngineSettings

    return EngineSettings.of_user(settings, threads=threads or ALL_THREADS,
                                  precision=precision or settings.precision)


def torch_imported() -> bool:
    """Torch is in this process already (a model switch, the tests): the engine is as quick as a preview."""
    return "torch" in sys.modules


# --- what the session tells of its background work (`listen`), from the thread that did it ------------------------

@dataclass(frozen=True)
class Preview:
    """The first grey text, from the model file read with numpy while torch imports (`charwriter.lm.preview`);
    `token`: what the caller's `context()` gave with the text it was for."""

    text: str
    score: float  # mean log-probability per character, nats
    token: object


@dataclass(frozen=True)
class MemoryBuilt:
    """The document memory of a big document was built off the caller's thread: ask again, it now helps."""


@dataclass(frozen=True)
class Problem:
    """Something in the background failed; the suggestions go on without it."""

    line: str


def describe(event) -> tuple[str, str] | None:
    """An event as `report` says it: (level, line), or None for one not worth a line."""
    if isinstance(event, Adapted) and event.kept:
        return "info", (f"adapted to this document: the model predicts its end at {event.summary['after']:.2f} "
                        f"nats/char instead of {event.summary['before']:.2f}")
    if isinstance(event, AdaptFailed):
        return "warning", f"could not adapt the model to this document: {event.error}"
    if isinstance(event, Problem):
        return "warning", event.line
    return None


@dataclass(frozen=True)
class Loaded:
    """A model loaded by `WritingSession.load_model`."""

    path: Path
    name: str
    precision: str
    instead_of: str | None = None  # why the model asked for did not load (the default came instead)


class Models:
    """The model the sessions of one process write with: its file is read and its precision chosen once (the probe
    takes seconds), and every document's engine shares its weights, read-only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple | None = None  # (key, LoadedModel, precision Choice) of the last model loaded

    def engine(self, path: Path, settings):
        """An engine for the model file at `path` with these `EngineSettings`; raises UserError."""
        from charwriter.engine import Engine

        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, settings.precision)
        with self._lock:  # documents opened together read the file once
            if self._cached is None or self._cached[0] != key:
                engine = Engine.from_path(path, settings)
                self._cached = (key, engine.loaded, engine.precision)
                return engine
            _, loaded, precision = self._cached
        return Engine(loaded, settings, precision)


class WritingSession:
    """One open document: its text, its engine, its memory and its adaptation. Thread-safe: edits may come from one
    thread while `suggest` runs on another, and the background work reports from its own threads."""

    def __init__(self, settings: Settings | None = None, *, models: Models | None = None,
                 threads: int | Callable[[], int] | None = None, precision: str | None = None,
                 report: Report = lambda level, line: None, listen: Callable[[object], None] = lambda event: None,
                 may_adapt: Callable[[], bool] = lambda: True) -> None:
        self.settings = settings or Settings()
        self.models = models or Models()
        self.threads = threads
        """Torch threads for the suggestions, or a function asked before each answer (None: every core)."""
        self.precision = precision
        """This process's precision (`--precision`), over the setting's."""
        self.report = report
        self.listen = listen
        self.may_adapt = may_adapt
        """Asked before an adaptation starts (False: not now, e.g. a model trains on the same cores)."""
        self.version = 0
        """Bumped by every edit: a suggestion begun for an older text stops, and its answer is None."""
        self.engine = None
        """The `charwriter.engine.Engine` in use (None until a model has loaded)."""
        self.model_path: Path | None = None
        self.closed = False
        self._text = ""
        self._lines: tuple[list[str], str] | None = None
        """An editor's line list and line break (`set_lines`), joined into `_text` when first needed."""
        self._tail: tuple[str, int] | None = None
        """A huge document's text before the cursor and where it starts: what the suggestions read of it."""
        self._length = 0
        self._text_lock = threading.Lock()
        self._engine_lock = threading.Lock()
        self._quick_next = True
        """The next answer reads only the end of the context (the whole window takes most of a second to read the
        first time); `refine`, or the next answer, then reads the rest."""
        self._refine_at: tuple[int, int] | None = None  # (offset, version) of a quick answer not yet refined
        self._memory_thread: threading.Thread | None = None
        self.adaptation = Adaptation(self)

    def _emit(self, event) -> None:
        self.listen(event)
        said = describe(event)
        if said is not None:
            self.report(*said)

    # --- the text ---------------------------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The whole document (an editor's lines are joined here, on the caller's thread)."""
        return self._whole()[0]

    def set_text(self, text: str) -> None:
        """The whole document (opened, or replaced): its first answer reads only the end of the context."""
        with self._text_lock:
            self._text, self._lines, self._tail, self._length = text, None, None, len(text)
            self.version += 1
            self._quick_next = True

    def set_lines(self, lines: list[str], newline: str, length: int, tail: tuple[str, int] | None = None) -> None:
        """The document as an editor holds it now: a copy of its line list (joined later, off the editor's thread:
        joining megabytes on an event loop holds the keys up) and its `length`. `tail`: for a document too big for
        the memory, the text before the cursor and its offset, which is all the suggestions read of it."""
        with self._text_lock:
            self._text, self._lines, self._tail, self._length = "", (lines, newline), tail, length
            self.version += 1

    def apply_change(self, start: int, end: int, text: str) -> None:
        """Characters start:end of the document were replaced by `text` (offsets are clamped to the document)."""
        old = self.text
        with self._text_lock:
            start = min(max(0, start), len(old))
            end = min(max(start, end), len(old))
            self._text = old[:start] + text + old[end:]
            self._lines, self._tail, self._length = None, None, len(self._text)
            self.version += 1

    def restart(self, unadapt: bool = True) -> None:
        """Another document in the same session (opened, new, recovered; its text comes with the next edit): its
        first answer reads only the end of the context, and with `unadapt` the model drops what it adapted to."""
        self._quick_next = True
        self.stop_adapting(unadapt=unadapt)

    def _whole(self) -> tuple[str, int]:
        """The text and its version; an editor's lines are joined outside the lock (edits go on meanwhile)."""
        with self._text_lock:
            text, lines, version = self._text, self._lines, self.version
        if lines is not None:
            text = lines[1].join(lines[0])
            with self._text_lock:
                if self.version == version:
                    self._text, self._lines = text, None
        return text, version

    # --- the model --------------------------------------------------------------------------------------------------

    def load_model(self, spec: str | Path | None | bool = True, *, fall_back: bool = False,
                   context: Callable[[int], tuple[str, object] | None] | None = None) -> Loaded:
        """Load a model (a name or path; None: the default; True: the settings' model) and suggest with it from now
        on. Blocking (seconds: torch's import, the precision's probe): call it off an event loop. With `fall_back`, a
        model that fails is given up for the default. `context(chars)`: the text before the cursor, for a `Preview`
        while torch imports (the first load only). Raises UserError, one line, for a model that cannot be used; the
        engine in use, if any, stays."""
        spec = self.settings.model if spec is True else spec
        first_error = None
        for attempt in (spec, None) if fall_back and spec else (spec,):
            try:
                engine = self._open(attempt, context)
            except UserError as error:
                first_error = first_error or str(error)
                continue
            except Exception as error:  # a bug or a broken install: the document and the engine in use stay
                first_error = first_error or f"could not load the model ({type(error).__name__}: {error})"
                break
            self.use(engine)
            return Loaded(engine.loaded.path, engine.name, engine.precision.precision, first_error)
        raise UserError(first_error)

    def _open(self, spec: str | Path | None, context) -> object:
        from charwriter.lm.registry import resolve_model

        path = resolve_model(str(spec) if spec else None)
        if context is not None and self.engine is None and not torch_imported():
            self._preview(path, context)
        from charwriter.lm.preview import forget

        forget()
        return self.models.engine(path, engine_settings(self.settings, self._threads(), self.precision))

    def _preview(self, path: Path, context) -> None:
        """One greedy continuation from the model file read with numpy (`charwriter.lm.preview`): torch's import
        takes seconds. A file it cannot read is left to the engine's loader to report."""
        from charwriter.lm.preview import CONTEXT, preview_of

        try:
            preview = preview_of(path)
            got = context(2 * CONTEXT)
        except Exception:  # noqa: BLE001 - the preview is optional; the engine's loader, next, says what is wrong
            return
        if got is not None:
            text, score = preview.suggest(got[0], self.settings.max_length, grey_floor=self.settings.grey_floor)
            if text:
                self._emit(Preview(text, score, got[1]))

    def use(self, engine) -> None:
        """Suggest with this engine from now on (a model just loaded); the document is taken into its memory."""
        self.stop_adapting()
        with self._engine_lock:
            self.engine, self.model_path = engine, engine.loaded.path
            self.adaptation.base_weights = engine.loaded.model
            self._quick_next = True
        if self._tail is None:
            text = self.text
            if text:  # the document's memory from its opening: at once if small, else in the background
                with self._engine_lock:
                    if self.engine is engine:
                        engine.remember(text, wait=False)
        self._take_in(engine)

    def drop_model(self) -> None:
        """No suggestions until a model loads again (the one in use failed)."""
        self.stop_adapting()
        self.engine = None

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
            self._settings_to_engine()
        if old.adapt and not settings.adapt:
            self.stop_adapting(unadapt=True, wait=True)
        self._take_in(self.engine)

    def change(self, **values) -> None:
        """Change settings the engine reads once per answer (temperature, memory, the grey text's floor, …) or
        adapting; from the next answer on. The model and precision change through `load_model`."""
        adapt = values.get("adapt", self.settings.adapt)
        for name, value in values.items():
            setattr(self.settings, name, value)
        self._settings_to_engine()
        if "adapt" in values:
            self.stop_adapting(unadapt=True)
            if adapt:
                self.maybe_adapt()

    def _settings_to_engine(self) -> None:
        # One assignment, no lock: an answer under way keeps the settings it began with (the engine reads them once)
        from charwriter.engine.settings import USER_NAMES

        engine = self.engine
        if engine is not None:  # the precision is the engine's own: another one means another engine
            engine.settings = replace(engine.settings, **{name: getattr(self.settings, user)
                                                          for name, user in USER_NAMES.items() if name != "precision"})

    def _threads(self) -> int | None:
        return self.threads() if callable(self.threads) else self.threads

    # --- suggestions ------------------------------------------------------------------------------------------------

    def suggest(self, offset: int, cancelled: Callable[[], bool] = lambda: False, version: int | None = None, *,
                resample: bool = False, guesses: bool = False) -> Suggestions | None:
        """The grey text and the alternatives at `offset` (characters into the text, clamped to it). None when no
        model has loaded yet, or when the text changed or `cancelled()` turned True meanwhile: the engine stops at
        its next step. `version`: the text the offset was computed for (None: the text as it is now). `resample`:
        the grey text drawn at the temperature; `guesses`: the model's next characters too. An engine that fails
        raises (the session keeps it: `drop_model`)."""
        with self._text_lock:
            tail, now = self._tail, self.version
        if version is not None and version != now:
            return None  # the offset belongs to an older text
        if tail is None:
            text, version = self._whole()
            if version != now:
                return None
            offset = min(max(0, offset), len(text))
            start = self._context_start(len(text), offset)
            context, document = text[start:offset], text if not start else None
        else:  # a huge document: only its text before the cursor came (the memory is off for it)
            context, start = tail
            offset, document, version = start + len(context), None, now
        stale = lambda: self.version != version or self.closed or cancelled()  # noqa: E731 - polled by the engine
        with self._engine_lock:  # a stopped older run may still be finishing its step
            engine = self.engine
            if engine is None or stale():
                return None
            threads = self._threads()
            if threads and engine.settings.threads != threads:
                engine.settings = replace(engine.settings, threads=threads)
            quick = self._quick_next and offset > engine.settings.quick_chars
            out = engine.suggest(context, cancelled=stale, document=document, offset=start, quick=quick,
                                 resample=resample)
            if stale():
                return None
            answer = Suggestions([Continuation(s.text, s.mean_logprob) for s in out], "", engine.last_latency_ms,
                                 not out or out[0].inline, len(engine.window), quick,
                                 engine.cursor_guesses() if guesses else [], engine.memory_too_big)
            self._quick_next = False
            self._refine_at = (offset, version) if quick else None
        self._take_in(engine)
        answer.typed = PARTIAL_WORD.search(context[-WORD_CHARS:]).group(0)
        return answer

    def refine(self, cancelled: Callable[[], bool] = lambda: False) -> None:
        """After a quick answer (from the last few characters only), read the rest of the window now, so that the
        next keystroke's answer reads the whole context without waiting for it. Stops at the next edit."""
        if self._tail is not None:
            return
        text, version = self._whole()
        stale = lambda: self.version != version or self.closed or cancelled()  # noqa: E731
        with self._engine_lock:
            at, engine = self._refine_at, self.engine
            if at is None or at[1] != version or engine is None or stale():
                return
            offset = at[0]
            start = self._context_start(len(text), offset)
            if engine.set_context(text[start:offset], offset=start, cancelled=stale):
                self._refine_at = None

    @staticmethod
    def _context_start(length: int, offset: int) -> int:
        """Where the text handed to the engine starts: the document's start, or for one too long for the memory only
        the last `TAIL_CHARS` before the offset (copying all of it every time was waste)."""
        from charwriter.engine import MEMORY_MAX_CHARS

        return max(0, offset - TAIL_CHARS) if length > MEMORY_MAX_CHARS else 0

    # --- reading the model, for the inside views ----------------------------------------------------------------------

    def read_blocks(self, engine, text: str, blocks: list[int], unit=None) -> dict:
        """`engine.read_blocks`, between answers (`charwriter.screens.inside`)."""
        with self._engine_lock:
            return engine.read_blocks(text, blocks, unit)

    def read_through(self, engine, text: str):
        """The model's states over `text` (`charwriter.lm.inspect.read_text_through`), between answers."""
        from charwriter.lm.inspect import read_text_through

        with self._engine_lock:
            return read_text_through(engine.loaded.model, engine.vocab, text)

    # --- the document memory and adaptation, in the background -------------------------------------------------------

    def _take_in(self, engine) -> None:
        """After a model loaded or an answer: build the memory of a big document (or fold its changes) off this
        thread, and adapt the model to the document when it is due."""
        if engine is None or self.closed:
            return
        memory = engine.memory
        wanted = engine.memory_pending is not None or (memory is not None and memory.wants_fold)
        if wanted and not self.memory_building:
            self._memory_thread = threading.Thread(target=self._build_memory, args=(engine,), daemon=True,
                                                   name="charwriter-memory")
            self._memory_thread.start()
        self.maybe_adapt()

    @property
    def memory_building(self) -> bool:
        return self._memory_thread is not None and self._memory_thread.is_alive()

    def _build_memory(self, engine) -> None:
        """Outside the engine's lock (answers go on from the model alone meanwhile); the next answer then catches up
        with the edits made since."""
        memory = engine.memory
        if memory is None:
            return
        document = self.text
        try:
            base = memory.build(document)
        except Exception as error:  # noqa: BLE001 - the suggestions go on without the memory
            self._emit(Problem(f"the document memory could not be built ({type(error).__name__}: {error})"))
            return
        with self._engine_lock:
            if engine.memory is not memory or self.closed:
                return
            memory.install(document, base)
        self._emit(MemoryBuilt())

    def maybe_adapt(self, chars: int | None = None) -> None:
        """Adapt the model to the document when adapting is on and the document (`chars` long, when the caller
        counted it) is long enough and has changed enough since the last time."""
        self.adaptation.maybe(chars)

    def stop_adapting(self, unadapt: bool = False, wait: bool = False) -> None:
        self.adaptation.stop(unadapt, wait)

    def _swap_engine(self, old, make: Callable[[object], object], still: Callable[[], bool]) -> bool:
        """Suggest with `make(old)` from now on, if `old` is still in use and `still()` (asked under the lock)."""
        with self._engine_lock:
            if self.engine is not old or not still():
                return False
            self.engine, self._quick_next = make(old), True
            return True

    @property
    def adapted(self) -> bool:
        return self.adaptation.adapted

    def close(self) -> None:
        """The document was closed: stop what runs for it and let its engine, memory and text go."""
        self.closed = True
        with self._text_lock:
            self.version += 1
        self.stop_adapting()
        with self._engine_lock:
            self.engine = self.adaptation.base_weights = None
        with self._text_lock:
            self._text, self._lines, self._tail = "", None, None

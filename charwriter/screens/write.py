"""The writing screen: the editor, the suggestions pane, the status line, and the model work behind them.

Flow of a keystroke: the editor changes → `_schedule()` bumps `version` and (re)starts a short debounce timer, so a
burst of keys costs one run → `_suggest` runs in an exclusive thread worker (a newer run cancels an older one through
the engine's `cancelled` callback; a lock keeps two threads out of the engine) → `SuggestionsReady` comes back to the
event loop, where results for an old `version` are dropped → the editor gets the continuations and the pane mirrors
them. The model loads in a worker too (torch is imported there), so the editor is usable from the first frame.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets.text_area import Selection
from textual.worker import get_current_worker

from charwriter.documents import (Autosave, DiskState, DocumentError, ReadOnlyDocument, read_document,
                                  save_document)
from charwriter.errors import UserError
from charwriter.engine.settings import USER_NAMES
from charwriter.settings import GREY_FLOOR, Settings
from charwriter.dialogs.cells import CellPicker
from charwriter.dialogs.compare import CompareScreen
from charwriter.dialogs.confirm import ConfirmScreen
from charwriter.screens.inside import InsideViews
from charwriter.widgets.find_bar import MAX_MATCHES, FindBar, find_matches, next_match
from charwriter.widgets.footer import KeysFooter
from charwriter.widgets.editor import Editor
from charwriter.dialogs.model_picker import ModelPicker
from charwriter.dialogs.path_prompt import PathPrompt
from charwriter.widgets.status import StatusLine, count
from charwriter.widgets.suggestions import SuggestionsPane

TAIL_CHARS = 4_096  # the end of a huge document handed to the model: more than the context it reads
REFINE_AFTER_S = 0.05  # after quick first suggestions, the full context is read this soon (unless typing goes on)
COUNT_DELAY_S = 0.3  # words and characters are counted this long after the last change (off the event loop)
COUNT_HERE_LINES = 2_000  # a selection spanning fewer lines is counted at once, on the event loop
DISK_CHECK_SECONDS = 2.0  # how often the document's file is looked at (a stat; its bytes only when that changed)
FINDER_CHARS = 4_000  # the cell finder reads this much of the text around the cursor (about a second)
TEMPERATURE_STEP = 0.1
TEMPERATURE_RANGE = (0.1, 2.0)


BARS = "▁▂▃▄▅▆▇█"


def guess_bars(guesses: list[tuple[str, float]]) -> str:
    """The model's next-character guesses as a learner reads them: each character with a bar for its probability
    (a space as ␣, a new line as ↵)."""
    shown = {" ": "␣", "\n": "↵", "\t": "→"}
    return " ".join(shown.get(ch, ch) + BARS[min(len(BARS) - 1, int(p * len(BARS)))] for ch, p in guesses)


@dataclass
class SuggestionsReady(Message):
    """A suggestion run finished; `version` says which state of the editor it was for."""

    version: int
    continuations: list[tuple[str, float]]
    latency_ms: float
    context: int
    memory_pending: bool = False  # the document is too big to take into the memory during a keystroke (or its
    # changes have piled up): build it off the event loop
    memory_too_big: bool = False  # the document is too long for the memory at all: it is off for this one
    quick: bool = False  # read from the last few characters only (`Engine.suggest(quick=True)`): refine next
    guesses: list = field(default_factory=list)  # the model's five likeliest next characters, with probabilities
    inline: bool = True  # draw the first as grey text (False: the model is unsure of it; it waits in the pane)


@dataclass
class CountsReady(Message):
    """Words and characters of the document (and of the selection, when there was one) were counted."""

    words_chars: tuple[int, int]
    selected: tuple[int, int] | None
    length: int = 0  # the document's length with its line breaks (`Editor.character_count`)


@dataclass
class Autosaved(Message):
    """The autosave compared the text with the file's (and wrote it, if they differ)."""

    dirty: bool
    epoch: int  # `WriteScreen._autosave_epoch` when it began


@dataclass
class MemoryReady(Message):
    """The document memory was built off the event loop for this engine."""

    engine: object


@dataclass
class AdaptProgress(Message):
    """The adaptation to the document (`charwriter.lm.adapt`) started in `epoch` has taken `step` of `total` steps."""

    epoch: int
    step: int
    total: int


@dataclass
class EngineSwapped(Message):
    """New weights for the engine in use: adapted to the document (`summary` says how well), or the model as
    loaded again. `new` None: nothing to swap (the adaptation was not better, or failed: `error`)."""

    epoch: int  # `WriteScreen._adapt_epoch` when it began: dropped if another model or document came meanwhile
    new: object | None
    summary: dict | None = None
    error: str | None = None


@dataclass
class ModelLoaded(Message):
    engine: object  # charwriter.engine.Engine (not imported here: it imports torch)
    path: Path
    remember: bool = False  # picked by the user: remember it in the settings, now that it has loaded
    instead_of: str | None = None  # why the model asked for did not load (this one, the default, came instead)


@dataclass
class PreviewReady(Message):
    """The first grey text, from the model file read with numpy while torch imports (`charwriter.lm.preview`)."""

    version: int
    text: str
    score: float  # mean log-probability per character, nats


def torch_imported() -> bool:
    """Torch is in this process already (a model switch, the tests): the engine is as quick as a preview."""
    return "torch" in sys.modules


@dataclass
class ModelFailed(Message):
    error: str
    loading: bool = False  # a model that failed to load: the one in use (if any) stays


class WriteScreen(InsideViews, Screen):
    CSS_PATH = "write.tcss"

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="save", tooltip="Save the document (asks for a name if it has none)"),
        Binding("ctrl+o", "open", "Open", id="open", tooltip="Open a text file"),
        Binding("alt+s", "focus_suggestions", "Pick", id="pick",
                tooltip="Move to the suggestions pane: arrows and Enter, or a number, insert one"),
        Binding("ctrl+r", "resample", "Resample", id="resample",
                tooltip="Draw another ghost text at the temperature (its first word stays the likeliest)"),
        Binding("ctrl+up", "temperature(1)", "Temp+", id="temperature_up", show=False,
                tooltip="Raise the temperature: wilder drawn continuations (Ctrl+R)"),
        Binding("ctrl+down", "temperature(-1)", "Temp-", id="temperature_down", show=False,
                tooltip="Lower the temperature: safer drawn continuations (Ctrl+R)"),
        Binding("f2", "pick_model", "Model", id="pick_model", tooltip="Choose the model that writes with you"),
        Binding("f4", "focus_mode", "Focus", id="focus_mode", show=False,
                tooltip="Hide the suggestions pane and give the editor the whole width (again: show it)"),
        Binding("ctrl+n", "new_document", "New", id="new_document", show=False,
                tooltip="A new, empty document (asks first about unsaved changes)"),
        Binding("f12", "save_as", "Save as", id="save_as", show=False, tooltip="Save the document under a new name"),
        Binding("f5", "surprise_view", "Surprise", id="surprise_view", show=False,
                tooltip="See how surprised the model is by each character (again: the plain text)"),
        Binding("f8", "cell_view", "Cells", id="cell_view", show=False,
                tooltip="Colour the text by one LSTM cell: the cell finder lists those that track quotes, lines, …"),
        Binding("ctrl+f", "find", "Find", id="find",
                tooltip="Find text (Enter/↓ next, ↑ previous, Alt+C case-sensitive, Esc close)"),
    ]

    def __init__(self, file: str | Path | None, model: str | None, settings: Settings,
                 precision: str | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.precision = precision  # this session's --precision, else the setting
        self.document_path: Path | None = Path(file).expanduser() if file else None
        self.model_spec = model
        self.engine = None
        self.model_path: Path | None = None
        self.version = 0
        """Bumped on every change of the text or the cursor: results computed for an older version are dropped."""
        self.hidden = False
        """Esc hides the suggestions until the next keystroke."""
        self.saved_text = ""
        self._engine_lock = threading.Lock()
        self._debounce: Timer | None = None
        self._count_timer: Timer | None = None
        self._autosave_timer: Timer | None = None
        self._autosave_lock = threading.Lock()
        self._settings_unsaved = False
        """The user has been told that the settings cannot be written (told once a session)."""
        self._autosave_epoch = 0
        """Bumped when the autosave is removed, so that a write already in flight does not bring it back."""
        self._memory_building = False
        """A worker is building the document memory of a big document."""
        self._adapting = False
        """A worker adapts the model to the document (its process is `_adapt_job`) or swaps the engine's weights."""
        self._adapt_epoch = 0
        """Bumped when adapting stops (another model or document, or switched off): older reports are dropped."""
        self._adapt_job = None
        self._adapted_chars: int | None = None
        """The document's length when it was last adapted to (None: not yet, for this model and document)."""
        self._base_weights = None
        """The model's weights as loaded, for going back to them when the engine runs adapted ones."""
        self._adapt_note = ""
        self._resample = False
        self._quick_next = False
        """The next run reads only the end of the context: first suggestions at once after a model loads or a
        document opens (reading a 1,024-character window takes most of a second), the whole window right after."""
        self._refine: Timer | None = None
        """Ctrl+R asked for a continuation drawn at the temperature (the next run only)."""
        self._recovery_pending = False
        self._kept_orphans: set[Path] = set()
        """Crashed sessions' autosaves the user closed the question on (Esc): kept for the next start."""
        self.autosave = Autosave(self.document_path)
        self.disk: DiskState | None = None
        """The document's file as this window last read or wrote it (None: no file yet)."""
        self._disk_noticed: DiskState | str | None = None
        """The state of the file on disk last reported ("gone": deleted), so that a change is said once."""

    def compose(self) -> ComposeResult:
        text = ""
        if self.document_path is not None:
            try:
                text = read_document(self.document_path, missing_ok=True)
            except DocumentError as error:
                self.app.notify(str(error), severity="error", timeout=10)
                self.document_path = None
                self.autosave = Autosave(None)
        self.saved_text = text
        self.disk = DiskState.of(self.document_path) if self.document_path else None
        with Horizontal(id="panes"):
            yield Editor(text, id="editor")
            yield SuggestionsPane(id="suggestions", classes="-empty")
        yield FindBar(id="find")
        yield StatusLine(id="status")
        yield KeysFooter()

    @property
    def editor(self) -> Editor:
        return self.query_one(Editor)

    @property
    def pane(self) -> SuggestionsPane:
        return self.query_one(SuggestionsPane)

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    def on_mount(self) -> None:
        self.editor.focus()
        self.editor.move_cursor(self.editor.document.end)  # carry on writing where the text ends
        self.status.document = self.document_name
        self.status.temperature = self.settings.temperature
        self.status.model, self.status.precision = "loading…", ""
        self._show_memory()
        # A model given for this session (--model) is what the user asked for: if it fails, say so. A remembered one
        # that fails (deleted, broken) falls back to the bundled default.
        remembered = None if self.model_spec else self.settings.model
        self.call_after_refresh(self.load_model, self.model_spec or remembered, fall_back=remembered is not None)
        self.call_after_refresh(self._offer_recovery)
        self.set_interval(DISK_CHECK_SECONDS, self._check_disk)
        self.watch(self.editor, "scroll_y", lambda: self._inside_refresh(), init=False)
        self._schedule_count()
        if self.document_path is not None:
            self._remember(self.document_path)

    @property
    def document_name(self) -> str:
        return self.document_path.name if self.document_path else "untitled"

    @property
    def is_dirty(self) -> bool:
        return self.editor.text != self.saved_text

    # --- the model ------------------------------------------------------------------------------------------------

    def engine_settings(self):
        from charwriter.engine import EngineSettings

        return EngineSettings.of_user(self.settings, precision=self.precision or self.settings.precision)

    @work(thread=True, exclusive=True, group="model", description="load a model")
    def load_model(self, spec: str | Path | None, remember: bool = False, fall_back: bool = False) -> None:
        """Find and load a model (by name or path; None: the default), off the event loop: torch is imported here.

        With `fall_back`, a model that fails is reported and the default is loaded instead (if there is one)."""
        first_error = None
        for attempt in (spec, None) if fall_back and spec else (spec,):
            try:
                from charwriter.lm.registry import resolve_model

                path = resolve_model(str(attempt) if attempt else None)
                if self.engine is None and not torch_imported():
                    self._preview(path)
                from charwriter.engine import Engine
                from charwriter.lm.preview import forget

                forget()
                engine = Engine.from_path(path, self.engine_settings())
            except UserError as error:
                first_error = first_error or str(error)
                continue
            except Exception as error:  # a bug or a broken install must not take the open document down with it
                first_error = first_error or f"could not load the model ({type(error).__name__}: {error})"
                break
            self.post_message(ModelLoaded(engine, path, remember, instead_of=first_error))
            return
        self.post_message(ModelFailed(first_error, loading=True))

    def _preview(self, path: Path) -> None:
        """The first grey text while torch imports (seconds): the model file read with numpy, one greedy
        continuation (`charwriter.lm.preview`). A file it cannot read is left to the engine's loader to report."""
        from charwriter.lm.preview import CONTEXT, preview_of

        try:
            preview = preview_of(path)
            context = self.app.call_from_thread(self._preview_context, 2 * CONTEXT)
        except Exception:  # noqa: BLE001 - the preview is optional; `Engine.from_path`, next, says what is wrong
            return
        if context is not None:
            text, score = preview.suggest(context[0], self.settings.max_length, grey_floor=self.settings.grey_floor)
            if text:
                self.post_message(PreviewReady(context[1], text, score))

    def _preview_context(self, chars: int) -> tuple[str, int] | None:
        if self.engine is not None or self.hidden or not self.editor.selection.is_empty:
            return None
        return self.editor.tail_before_cursor(chars)[0], self.version

    def on_preview_ready(self, message: "PreviewReady") -> None:
        if self.engine is not None or message.version != self.version or self.hidden:
            return  # the engine's own suggestions came first, or the writer moved on
        self.editor.show_continuations([(message.text, message.score)])
        self.pane.border_title = "Suggestions · first guess"  # the status line says the model is loading

    def on_model_loaded(self, message: ModelLoaded) -> None:
        self._stop_adapting()
        self.engine = message.engine
        self.model_path = message.path
        self._base_weights, self._adapted_chars, self._adapt_note = message.engine.loaded.model, None, ""
        self._inside_refresh(now=True)  # other weights: other colours
        self._quick_next = True
        self.status.model = message.engine.name
        self.status.precision = message.engine.precision.precision
        if message.remember:
            self.settings.model = str(message.path)
            self.save_settings()
        if message.instead_of:
            self.notify(f"The model you last picked could not be loaded: {message.instead_of}\n\nWriting with "
                        f"{message.engine.name} instead; F2 picks another.", title="Model not loaded",
                        severity="warning", timeout=12)
        self._schedule(now=True)
        self._maybe_adapt()

    def on_model_failed(self, message: ModelFailed) -> None:
        if message.loading and self.engine is not None:  # the model in use still works: keep writing with it
            self.status.model, self.status.precision = self.engine.name, self.engine.precision.precision
            self.notify(f"{message.error}\n\nStill writing with {self.engine.name}.", title="Model not loaded",
                        severity="warning", timeout=12)
            return
        self.engine = None
        self.status.model, self.status.precision = "no model", ""
        self.notify(f"{message.error}\n\nYou can write without suggestions; pick a model with F2 or train one "
                    "with Ctrl+T.", title="No model", severity="warning", timeout=12)

    # --- suggestions ----------------------------------------------------------------------------------------------

    @on(Editor.Changed)
    def _text_changed(self) -> None:
        self.hidden = False
        self._inside_refresh()
        self.status.dirty = True  # made exact by the autosave tick (comparing the whole text on every key costs)
        self._schedule()
        self._schedule_count()
        if self._autosave_timer is None:  # at most `autosave_seconds` after the first unsaved change
            self._autosave_timer = self.set_timer(self.settings.autosave_seconds, self._autosave)

    @on(Editor.SelectionChanged)
    def _cursor_moved(self) -> None:
        self.hidden = False
        self._schedule()
        selection = self.editor.selection
        if selection.is_empty:
            self.status.selection_counts = None
        elif abs(selection.end[0] - selection.start[0]) < COUNT_HERE_LINES:
            self.status.selection_counts = count(self.editor.selected_text)
        else:  # a long selection is counted off the event loop, like the document
            self._schedule_count()

    def _schedule_count(self) -> None:
        """Count words and characters (of the document, and of a long selection) a moment after the last change."""
        if self._count_timer is not None:
            self._count_timer.stop()
        self._count_timer = self.set_timer(COUNT_DELAY_S, self._start_count)

    def _start_count(self) -> None:
        self._count_timer = None
        editor = self.editor
        lines = list(editor.document.lines)  # a shallow copy: the editor may change the list while the worker counts
        selection = None if editor.selection.is_empty else sorted((editor.selection.start, editor.selection.end))
        self._count(lines, selection, self.version, len(editor.document.newline))

    @work(thread=True, exclusive=True, group="count", description="count words")
    def _count(self, lines: list[str], selection, version: int, newline: int = 1) -> None:
        words_chars = count(lines)
        selected = None
        if selection is not None:
            (top, left), (bottom, right) = selection
            part = lines[top : bottom + 1]
            part[-1] = part[-1][:right] if top != bottom else part[-1][left:right]
            if top != bottom:
                part[0] = part[0][left:]
            selected = count(part)
        length = words_chars[1] + (len(lines) - 1) * newline
        self.post_message(CountsReady(words_chars, selected, length))  # a message: dropped if the screen has gone meanwhile

    def on_counts_ready(self, message: "CountsReady") -> None:
        statuses = self.query(StatusLine)
        if not statuses:
            return  # the screen is closing
        statuses.first().counts = message.words_chars
        if message.selected is not None and not self.editor.selection.is_empty:
            statuses.first().selection_counts = message.selected
        self._maybe_adapt(message.length)  # counted off the event loop: summing every line here would cost

    def _schedule(self, now: bool = False) -> None:
        """Ask for suggestions for the editor as it is now, after a short pause (a burst of keys costs one run)."""
        self.version += 1
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        if now:
            self._start_run()
        else:
            self._debounce = self.set_timer(self.settings.debounce_ms / 1000, self._start_run)

    def _start_run(self) -> None:
        self._debounce = None
        editor = self.editor
        if self.engine is None or self.hidden or not editor.selection.is_empty:
            return
        resample, self._resample = self._resample, False
        quick, self._quick_next = self._quick_next, False  # a model just loaded or a document just opened
        if editor.character_count() > self._memory_max_chars():
            # A huge document: the model reads only the end of the text before the cursor, and the memory is off
            # for it anyway; joining and copying all of it for every run held the event loop.
            tail, offset = editor.tail_before_cursor(TAIL_CHARS)
            self._suggest(self.engine, tail, self.version, self._threads(), None, resample, offset, quick)
            return
        # The memory reads the whole document: the worker joins it from a copy of the line list (joining 5 MB on
        # the event loop on every run held the keys up)
        cursor = editor.cursor_offset()
        quick = quick and cursor > self.engine.settings.quick_chars  # a short context is read whole at once anyway
        self._suggest(self.engine, None, self.version, self._threads(), None, resample, 0, quick,
                      (*self._lines(), cursor))

    def _lines(self) -> tuple[list[str], str]:
        """A copy of the document's line list and its line break, for a worker to join (joining 10 MB on the event
        loop held the keys up)."""
        document = self.editor.document
        return list(document.lines), document.newline

    @staticmethod
    def _memory_max_chars() -> int:
        from charwriter.engine import MEMORY_MAX_CHARS

        return MEMORY_MAX_CHARS

    def _threads(self) -> int:
        """Every core on an idle machine (a step is memory-bound: two cores read the weights nearly twice as fast,
        22 ms against 33 ms for 3 × 48 characters); one while this app trains a model, because two threads
        fighting a trainer for two cores make each step up to 100 times slower."""
        from charwriter.engine import ALL_THREADS

        runs = getattr(self.app, "runs", None)
        return 1 if runs is not None and runs.active else ALL_THREADS

    # A `description` on every worker that is handed the text: by default Textual names a worker after the repr()
    # of its arguments, which for a 20 MB document cost the event loop a tenth of a second a call.
    @work(thread=True, exclusive=True, group="suggest", description="suggestions")
    def _suggest(self, engine, text: str | None, version: int, threads: int = 1, document: str | None = None,
                 resample: bool = False, offset: int = 0, quick: bool = False,
                 lines: tuple[list[str], str, int] | None = None) -> None:
        """`lines`: (the document's lines, its line break, the cursor's offset), instead of `text` and `document`."""
        if lines is not None:
            document = lines[1].join(lines[0])
            text = document[: lines[2]]
        worker = get_current_worker()
        cancelled = lambda: worker.is_cancelled  # noqa: E731 - the engine polls this between steps
        with self._engine_lock:  # a cancelled older run may still be finishing its step
            if cancelled():
                return
            if engine.settings.threads != threads:
                engine.settings = replace(engine.settings, threads=threads)
            try:
                suggestions = engine.suggest(text, cancelled=cancelled, document=document, resample=resample,
                                             offset=offset, quick=quick)
            except Exception as error:  # keep the editor (and the user's text) alive; say what broke
                self.post_message(ModelFailed(f"suggestions failed ({type(error).__name__}: {error})"))
                return
            latency, context = engine.last_latency_ms, len(engine.window)
            guesses = engine.cursor_guesses() if not cancelled() else []
            pending = engine.memory_pending is not None or (engine.memory is not None and engine.memory.wants_fold)
            too_big = engine.memory_too_big
        if not cancelled():
            self.post_message(SuggestionsReady(version, [(s.text, s.mean_logprob) for s in suggestions],
                                               latency, context, pending, too_big, quick, guesses,
                                               not suggestions or suggestions[0].inline))

    def on_suggestions_ready(self, message: SuggestionsReady) -> None:
        if message.memory_pending and not self._memory_building and self.engine is not None:
            self._memory_building = True
            self._show_memory("learning the document…")
            self._build_memory(self.engine, *self._lines())
        elif message.memory_too_big and self.settings.memory:
            self._show_memory(f"memory off: document over {self._memory_max_chars() / 1e6:g} MB")
        elif not message.memory_pending and not self._memory_building:
            self._show_memory()
        if message.version != self.version or self.hidden:
            return  # the text or the cursor moved on since: a newer run is coming
        self.editor.show_continuations(message.continuations, message.inline)
        self.pane.border_title = "Suggestions" + (f" · next {guess_bars(message.guesses)}" if message.guesses else "")
        self.status.latency_ms = message.latency_ms
        self.status.context = message.context
        if message.quick:  # the first suggestions came from the last few characters: now read the whole window
            self._refine = self.set_timer(REFINE_AFTER_S, self._refine_run)

    def _refine_run(self) -> None:
        if not self.hidden and self._debounce is None:  # typing schedules its own run, which reads all of it
            self._start_run()

    @work(thread=True, exclusive=True, group="memory", description="document memory")
    def _build_memory(self, engine, lines: list[str], newline: str) -> None:
        """Build the memory of a big document off the event loop and outside the engine's lock (suggestions go on
        without it meanwhile); it then catches up with the edits made since, at the next keystroke."""
        document = newline.join(lines)
        memory = engine.memory
        if memory is not None:
            base = memory.build(document)
            with self._engine_lock:
                if engine.memory is memory:
                    memory.install(document, base)
        self.post_message(MemoryReady(engine))

    def on_memory_ready(self, message: MemoryReady) -> None:
        self._memory_building = False
        if message.engine is self.engine:
            self._show_memory()
            self._schedule(now=True)

    def _show_memory(self, note: str | None = None) -> None:
        """The memory's state, and the adaptation's, under the suggestions pane."""
        if note is None:
            note = "document memory on" if self.settings.memory else "document memory off"
        if self._adapt_note:
            note = note.replace("document ", "") + " · " + self._adapt_note
        self.pane.border_subtitle = note

    # --- the inside views (charwriter.screens.inside) --------------------------------------------------------------

    def action_surprise_view(self) -> None:
        if self.engine is None:
            self.notify("The surprise view needs a model: pick one with F2.", severity="warning", timeout=5)
            return
        # Again, or in the cell view (whose title says "F5 off"): the plain text.
        self.set_inside("" if self.inside_mode else "surprise")

    def action_plain_view(self) -> None:
        self.set_inside("")

    def action_cell_view(self) -> None:
        engine = self.engine
        if engine is None:
            self.notify("The cell view needs a model: pick one with F2.", severity="warning", timeout=5)
            return
        text, cursor = self.editor.text_and_offset()
        start = max(0, cursor - FINDER_CHARS * 3 // 4)
        if start:  # from a paragraph's start: a piece begun inside a quotation would count it the wrong way round
            start = text.find("\n", start, start + FINDER_CHARS // 4) + 1 or start
        near = text[start : cursor + FINDER_CHARS // 4]

        def find() -> list:
            from charwriter.lm.inspect import find_cells, read_text_through

            with self._engine_lock:
                reading = read_text_through(engine.loaded.model, engine.vocab, near)
            return find_cells(reading) if len(reading.text) > 1 else []

        def picked(choice: tuple | None) -> None:
            if choice is not None:
                from charwriter.lm.inspect import Unit

                layer, index, kind = choice
                if engine.loaded.config.cell != "lstm":
                    kind = "hidden"  # a GRU has no cell state: its hidden state is what it carries
                self.set_inside("cell", Unit(layer, index, kind))

        config = engine.loaded.config
        self.app.push_screen(CellPicker(config.num_layers, config.hidden_size, find), picked)

    def on_resize(self) -> None:
        self._inside_refresh()

    # --- adapting the model to the document ---------------------------------------------------------------------

    def _maybe_adapt(self, chars: int | None = None) -> None:
        """Start an adaptation when the document (`chars` long, when known) is long enough and has changed enough
        since the last one."""
        from charwriter.lm.adapt import due

        if (not self.settings.adapt or self._adapting or self.engine is None or self.model_path is None
                or not self.is_mounted):
            return
        runs = getattr(self.app, "runs", None)
        if runs is not None and runs.active:
            return  # a model is training on these cores: adapt after it (the next edit asks again)
        chars = self.editor.character_count() if chars is None else chars
        if due(chars, self._adapted_chars):
            self._adapted_chars, self._adapting = chars, True
            self._adapt_note = "adapting…"
            self._show_memory()
            self._adapt(self.engine, self.model_path, *self._lines(), self._adapt_epoch)

    @work(thread=True, exclusive=True, group="adapt", description="adapt to the document")
    def _adapt(self, engine, model_path: Path, lines: list[str], newline: str, epoch: int) -> None:
        """Run the adaptation's process (low priority, one thread) and build the engine for its weights, if kept."""
        from charwriter.lm.adapt import AdaptJob

        text = newline.join(lines)
        worker = get_current_worker()
        job = self._adapt_job = AdaptJob(model_path, text)
        try:
            done = None
            for report in job.lines():
                if worker.is_cancelled:
                    return
                if "done" in report:
                    done = report["done"]
                elif "step" in report:
                    self.post_message(AdaptProgress(epoch, report["step"], report["total"]))
            if worker.is_cancelled:
                return
            if done is None:
                result = EngineSwapped(epoch, None, error=job.error())
            else:
                new = None
                if done.get("kept"):
                    from charwriter.lm.checkpoint import load_model

                    weights = load_model(job.out).model  # validated like any model file
                    with self._engine_lock:
                        new = engine.with_weights(weights, done)
                result = EngineSwapped(epoch, new, done)
        except Exception as error:  # the document and the model in use stay as they are
            result = EngineSwapped(epoch, None, error=f"{type(error).__name__}: {error}")
        finally:
            job.close()
            if self._adapt_job is job:
                self._adapt_job = None
        self.post_message(result)  # after the process is gone: the screen hears of the end once all is done

    def on_adapt_progress(self, message: AdaptProgress) -> None:
        if message.epoch == self._adapt_epoch and self._adapting:
            self._adapt_note = f"adapting {100 * message.step // max(1, message.total)}%"
            self._show_memory()

    def on_engine_swapped(self, message: EngineSwapped) -> None:
        if message.epoch != self._adapt_epoch:
            return  # another model, another document, or adapting switched off since
        summary = message.summary
        self._adapting = False
        if message.error is not None:
            self._adapt_note = "not adapted"
            self.notify(f"Could not adapt the model to this document: {message.error}\n\nThe model goes on as "
                        "trained.", title="Not adapted", severity="warning", timeout=10)
        elif summary is None:
            self._adapt_note = ""  # back to the model as loaded
        elif message.new is None:
            self._adapt_note = "model fits as is"
        else:
            self._adapt_note = "adapted"
            from charwriter.lm.adapt import HOLDOUT, MAX_CHARS

            read = "it" if (self._adapted_chars or 0) <= MAX_CHARS else f"its last {MAX_CHARS:,} characters"
            self.notify(f"The suggestions now follow this document's style. Adapted to {read} in "
                        f"{summary['seconds']:.0f} s, the model predicts the last {HOLDOUT:.0%} of it at "
                        f"{summary['after']:.2f} nats/char instead of {summary['before']:.2f}.", title="Adapted",
                        timeout=8)
        if message.new is not None:
            self.engine = message.new
            self._quick_next = True  # no state of the old weights is left: the last few characters first
            self._schedule(now=True)
            self._inside_refresh(now=True)
        self._show_memory()
        self._maybe_adapt()  # the document may have changed enough meanwhile

    @work(thread=True, group="unadapt", description="the model as loaded")
    def _unadapt(self, engine, weights, epoch: int) -> None:
        with self._engine_lock:
            new = engine.with_weights(weights)
        self.post_message(EngineSwapped(epoch, new))

    def _stop_adapting(self, unadapt: bool = False) -> None:
        """Stop an adaptation under way and forget the last one (a new model or document, or adapting switched
        off); `unadapt`: give the engine back the model's own weights."""
        self.workers.cancel_group(self, "adapt")
        job = self._adapt_job
        if job is not None:
            job.stop()
        self._adapt_epoch += 1
        self._adapting, self._adapted_chars, self._adapt_note = False, None, ""
        engine = self.engine
        if unadapt and engine is not None and engine.loaded.training.get("adapted") is not None:
            self._adapting = True  # no adaptation starts until the engine has its own weights back
            self._unadapt(engine, self._base_weights, self._adapt_epoch)

    def on_unmount(self) -> None:
        job = self._adapt_job
        if job is not None:
            job.stop()  # a worker thread blocked on it would hold up the app's exit

    def save_settings(self) -> None:
        """Write the settings; where they cannot be written, say so once (the change holds for this session)."""
        problem = self.settings.save()
        if problem and not self._settings_unsaved:
            self._settings_unsaved = True
            self.notify(problem, title="Settings", severity="warning", timeout=10)

    def action_toggle_adapt(self) -> None:
        self.settings.adapt = not self.settings.adapt
        self.save_settings()
        self._stop_adapting(unadapt=True)
        self.notify("Adapting on: the model learns this document's style in the background, once it has "
                    f"{self._adapt_min_chars():,} characters, and again as it grows." if self.settings.adapt else
                    "Adapting off: the suggestions come from the model as trained (and the document memory).",
                    timeout=6)
        self._show_memory()
        self._maybe_adapt()

    @staticmethod
    def _adapt_min_chars() -> int:
        from charwriter.lm.adapt import MIN_CHARS

        return MIN_CHARS

    def action_toggle_memory(self) -> None:
        on = not self.settings.memory
        self._change_engine_setting("memory", on, "Document memory on: the suggestions learn this document's names and"
                                    " phrases as you write." if on else
                                    "Document memory off: the suggestions come from the model alone.")
        self._show_memory()

    def action_toggle_grey_floor(self) -> None:
        """Grey text always, or only where the model is fairly sure of its first word (the default)."""
        sure = GREY_FLOOR if not self.settings.grey_floor else 0.0
        self._change_engine_setting("grey_floor", sure, "Grey text only when the model is fairly sure of the next"
                                    " word; the pane lists the rest (Alt+Down draws them)." if sure else
                                    "Grey text always: the model's likeliest continuation, however unsure.")

    def _change_engine_setting(self, name: str, value, said: str) -> None:
        """A user's setting that the engine reads once per run: remembered, handed to the engine, said, and the
        suggestions made again with it."""
        setattr(self.settings, name, value)
        self.save_settings()
        if self.engine is not None:
            engine_name = next(engine for engine, user in USER_NAMES.items() if user == name)
            self.engine.settings = replace(self.engine.settings, **{engine_name: value})
        self.notify(said, timeout=5)
        self._schedule(now=True)

    @on(Editor.ContinuationsChanged)
    def _mirror(self, message: Editor.ContinuationsChanged) -> None:
        self.pane.show(message.continuations, message.choice, self.editor.word_before_cursor())

    @on(Editor.Hidden)
    def _hide(self) -> None:
        self.hidden = True
        self.version += 1  # drop a run in flight too

    @on(SuggestionsPane.Picked)
    def _picked(self, message: SuggestionsPane.Picked) -> None:
        self.editor.accept(message.index)
        self.editor.focus()

    @on(SuggestionsPane.Typed)
    def _typed_in_pane(self, message: SuggestionsPane.Typed) -> None:
        """Typing on while the pane has the focus: back to the editor, and the character goes in."""
        editor = self.editor
        editor.focus()
        editor.insert(message.character)

    def action_focus_suggestions(self) -> None:
        self.pane.focus()

    def action_resample(self) -> None:
        if self.engine is None:
            self.notify("no model loaded — pick one with F2", severity="warning")
            return
        self.hidden = False
        self._resample = True  # the next run draws the ghost text's continuation at the temperature
        self._schedule(now=True)

    def action_temperature(self, direction: int) -> None:
        low, high = TEMPERATURE_RANGE
        value = round(min(high, max(low, self.settings.temperature + direction * TEMPERATURE_STEP)), 2)
        self.settings.temperature = value
        self.save_settings()
        self.status.temperature = value
        if self.engine is not None:
            self.engine.settings = replace(self.engine.settings, temperature=value)  # read once per run
            self._resample = True  # show what the new temperature does
            self._schedule(now=True)

    def action_pick_model(self) -> None:
        def picked(path: Path | None) -> None:
            if path is not None:
                self.use_model(path, remember=True)

        self.app.push_screen(ModelPicker(self.model_path), picked)

    def use_model(self, path: str | Path, remember: bool = True) -> None:
        """Load this model for the suggestions (and, once it has loaded, remember it in the settings). Until then the
        current model goes on suggesting, and it stays if the new one cannot be loaded."""
        self.status.model, self.status.precision = "loading…", ""
        self.load_model(path, remember)

    # --- documents ------------------------------------------------------------------------------------------------

    def action_save(self) -> None:
        if self.document_path is None:
            self.save_as()
        else:
            self.save()

    def action_save_as(self) -> None:
        self.save_as()

    def action_new_document(self) -> None:
        self.confirm_discard(self.new_document)

    def new_document(self) -> None:
        """An empty, untitled document (the old one's changes were saved or given up by `confirm_discard`)."""
        self.discard_autosave()
        self._stop_adapting(unadapt=True)
        self.document_path = None
        self.autosave = Autosave(None)
        self.saved_text = ""
        self.disk = self._disk_noticed = None
        self.editor.load_text("")
        self.status.document = self.document_name
        self.status.dirty = False
        self.editor.focus()

    def action_find(self) -> None:
        editor = self.editor
        selected = editor.selected_text
        self.query_one(FindBar).open(selected if selected and "\n" not in selected and len(selected) < 200 else "")

    @on(FindBar.Find)
    def _find(self, message: FindBar.Find) -> None:
        editor, bar = self.editor, message.bar
        if not message.query:
            bar.show_result("")
            return
        text = editor.text
        matches = find_matches(text, message.query, message.case)
        document = editor.document
        start, end = sorted(editor.selection)
        cursor = document.get_index_from_location(end if message.direction > 0 else start)
        index = next_match(matches, cursor, message.direction > 0)
        if index is None:
            bar.show_result("not found")
            return
        begin = matches[index]
        editor.selection = Selection(document.get_location_from_index(begin),
                                     document.get_location_from_index(begin + len(message.query)))
        editor.scroll_cursor_visible(center=True)
        more = "+" if len(matches) >= MAX_MATCHES else ""
        bar.show_result(f"{index + 1:,} of {len(matches):,}{more}")

    @on(FindBar.Replace)
    def _replace(self, message: FindBar.Replace) -> None:
        editor, bar = self.editor, message.bar
        if not message.query:
            return
        if message.every:
            matches = find_matches(editor.text, message.query, message.case)
            document = editor.document
            for begin in reversed(matches):  # from the end, so that the earlier offsets stay true
                editor.replace(message.replacement, document.get_location_from_index(begin),
                               document.get_location_from_index(begin + len(message.query)))
            bar.show_result(f"replaced {len(matches):,}")
            return
        selected = editor.selected_text
        same = selected == message.query if message.case else selected.lower() == message.query.lower()
        if selected and same:
            start, end = sorted(editor.selection)
            editor.replace(message.replacement, start, end)
        self.post_message(FindBar.Find(bar, message.query, 1, message.case))

    @on(FindBar.Closed)
    def _find_closed(self) -> None:
        # The cursor goes to the end of the match, unselected: a selection left behind was replaced by the next
        # keys typed, many keys later.
        editor = self.editor
        editor.move_cursor(max(editor.selection))
        editor.focus()

    def action_focus_mode(self) -> None:
        """Hide or show the suggestions pane; the grey text at the cursor stays."""
        pane = self.pane
        pane.display = not pane.display
        if not pane.display and pane.has_focus:
            self.editor.focus()
        self.notify("Focus mode: the pane is hidden (F4 shows it)" if not pane.display else "Suggestions pane shown",
                    timeout=3)

    def save_as(self, then=None) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None:
                self.save(path, then, force=True)

        current = str(self.document_path) if self.document_path else ""  # to edit into the new name
        self.app.push_screen(PathPrompt("Save as", "Save the document to:", current), chosen)

    def save(self, path: Path | None = None, then=None, force: bool = False, read_only_ok: bool = False) -> bool:
        """Save (to `path`, or the document's file) and run `then`. If the file changed on disk since this window
        read or wrote it (another program, another window), ask first: overwrite, save as, or cancel; a read-only
        file too (unless `read_only_ok`). True if saved now."""
        path = path or self.document_path
        assert path is not None
        if not force and path == self.document_path and self.disk is not None and self.disk.changed(path):
            self._ask_overwrite(path, then)
            return False
        text = self.editor.text
        try:
            save_document(path, text, read_only_ok)
        except ReadOnlyDocument:
            self._ask_read_only(path, then)
            return False
        except DocumentError as error:
            self.notify(str(error), title="Not saved", severity="error", timeout=10)
            return False
        if path != self.document_path:
            self.discard_autosave()
            self.document_path = path
            self.autosave = Autosave(path)
        self.saved_text = text
        self.editor.history.checkpoint()  # undo comes back to the saved text, not past it (one typing batch)
        self.disk = self._disk_noticed = DiskState.of(path)
        self.discard_autosave()
        self.status.document = self.document_name
        self.status.dirty = self.is_dirty
        self._remember(path)
        self.notify(f"saved {path}", timeout=3)
        if then is not None:
            then()
        return True

    def _ask_read_only(self, path: Path, then) -> None:
        def answered(choice: str | None) -> None:
            if choice == "overwrite":
                self.save(path, then, force=True, read_only_ok=True)
            elif choice == "save_as":
                self.save_as(then)

        question = (f"{path.name} is read-only: its permissions say it is not to be changed. Save your text under "
                    "another name, or overwrite the file anyway (it stays read-only)?")
        self.app.push_screen(ConfirmScreen("Read-only file", question, [
            ("Save as…", "save_as", "primary"), ("Overwrite anyway", "overwrite", "error"),
            ("Cancel", "cancel", "default"),
        ]), answered)

    def _ask_overwrite(self, path: Path, then) -> None:
        def answered(choice: str | None) -> None:
            if choice == "overwrite":
                self.save(path, then, force=True)
            elif choice == "save_as":
                self.save_as(then)
            elif choice == "reload":
                self.reload_keeping_text(path)
            elif choice == "compare":
                self.app.push_screen(CompareScreen(path, self.editor.text), answered)

        question = (f"{path.name} changed on disk since you opened or saved it here (another program or window "
                    "saved it). Overwrite it with your text, save your text under another name, reload the file "
                    "(your text is kept, and offered back at the next start), or compare the two first?")
        self.app.push_screen(ConfirmScreen("File changed on disk", question, [
            ("Save as…", "save_as", "primary"), ("Overwrite", "overwrite", "error"), ("Reload", "reload", "default"),
            ("Show both", "compare", "default"), ("Cancel", "cancel", "default"),
        ]), answered)

    def reload_keeping_text(self, path: Path) -> None:
        """Show the file as it is on disk; this window's text is put aside first, never dropped."""
        try:
            kept = self.autosave.keep(self.editor.text)
        except OSError as error:
            self.notify(f"not reloaded: your text could not be kept ({error})", severity="error", timeout=10)
            return
        self._kept_orphans.add(kept)  # offered at the next start, not at once
        if self.open(path):
            self.notify(f"Reloaded {path.name} from disk. Your text is kept ({kept}); charwriter offers it back at "
                        "the next start.", title="Reloaded", timeout=12)

    def _check_disk(self) -> None:
        """Say once when the document's file changes on disk while it is open here."""
        path, disk = self.document_path, self.disk
        if path is None or disk is None or not disk.changed(path):
            return
        now = DiskState.of(path) or "gone"
        if now == self._disk_noticed:
            return
        self._disk_noticed = now
        gone = "was deleted or moved" if now == "gone" else "was changed by another program or window"
        self.notify(f"{path.name} {gone} on disk. Your text here is kept; Ctrl+S asks before overwriting.",
                    title="File changed on disk", severity="warning", timeout=10)

    def _disk_differs(self) -> bool:
        """The file on disk no longer holds this window's text, and this window did not write what it holds."""
        path = self.document_path
        if path is None or self.disk is None or not self.disk.changed(path):
            return False
        try:
            return read_document(path, missing_ok=True) != self.editor.text
        except DocumentError:
            return True

    def action_open(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None:
                self.confirm_discard(lambda: self.open(path))

        # The document open now is not offered: Enter on the empty field then opens the one before it.
        current = str(self.document_path.expanduser().resolve()) if self.document_path else None
        recent = [path for path in self.settings.recent if path != current]
        self.app.push_screen(PathPrompt("Open", "Open the file:", recent=recent), chosen)

    def open(self, path: Path) -> bool:
        try:
            text = read_document(path, missing_ok=True)
        except DocumentError as error:
            self.notify(str(error), title="Cannot open", severity="error", timeout=10)
            return False
        self.discard_autosave()
        self._stop_adapting(unadapt=True)
        self.document_path = path
        self.autosave = Autosave(path)
        self.saved_text = text
        self.disk = self._disk_noticed = DiskState.of(path)
        self._quick_next = True
        self.editor.load_text(text)
        self.editor.move_cursor(self.editor.document.end)
        self.status.document = self.document_name
        self.status.dirty = False
        self.call_after_refresh(self._offer_recovery)
        self._remember(path)
        return True

    def _remember(self, path: Path) -> None:
        """List the document among the recent ones in Open (a settings file that cannot be written: not now)."""
        if Path(path).expanduser().is_file():
            try:
                self.settings.remember_document(path)
            except OSError:
                pass

    def confirm_discard(self, then) -> None:
        """Run `then` now if everything is saved; else ask: save first, discard the changes, or cancel. "Saved"
        means the file holds this text: if another program or window has saved over it, that is asked too."""
        replaced = self._disk_differs()
        if not self.is_dirty and not replaced:
            then()
            return

        def answered(choice: str | None) -> None:
            if choice == "save":
                if self.document_path is None:
                    self.save_as(then)
                else:
                    self.save(then=then, force=replaced)  # the question was just asked
            elif choice == "discard":
                self.discard_autosave()
                then()

        if replaced:
            question = (f"{self.document_name} was changed on disk by another program or window: it no longer "
                        "holds your text. Save your text over it, or discard your text?")
        else:
            question = f"{self.document_name} has unsaved changes."
        self.app.push_screen(ConfirmScreen("Unsaved changes", question, [
            ("Save", "save", "primary"), ("Discard", "discard", "error"), ("Cancel", "cancel", "default"),
        ]), answered)

    # --- autosave and recovery --------------------------------------------------------------------------------

    def _autosave(self) -> None:
        # The text is joined, compared and written in a worker, from a copy of the line list: joining 10 MB on the
        # event loop held the keys up once a second while typing.
        self._autosave_timer = None
        self._autosave_lines(self.autosave, *self._lines(), self._autosave_epoch)

    @work(thread=True, exclusive=True, group="autosave-text", description="autosave")
    def _autosave_lines(self, autosave: Autosave, lines: list[str], newline: str, epoch: int) -> None:
        text = newline.join(lines)
        dirty = text != self.saved_text
        if get_current_worker().is_cancelled:
            return  # a newer tick is saving newer text: this one must not land after it
        self.post_message(Autosaved(dirty, epoch))  # a message: dropped if the screen has gone meanwhile
        if dirty and not self._recovery_pending:  # (a crashed session's text is kept until the user answers)
            self._write_autosave_now(autosave, text, epoch)

    def on_autosaved(self, message: "Autosaved") -> None:
        statuses = self.query(StatusLine)
        if message.epoch != self._autosave_epoch or not statuses:
            return  # saved or discarded meanwhile (that said whether it is dirty), or the screen is closing
        statuses.first().dirty = message.dirty
        if not message.dirty and not self._recovery_pending:
            self.discard_autosave()

    @work(thread=True, group="autosave", description="autosave")
    def _write_autosave(self, autosave: Autosave, text: str, epoch: int, replaces: Path | None = None) -> None:
        self._write_autosave_now(autosave, text, epoch, replaces)

    def _write_autosave_now(self, autosave: Autosave, text: str, epoch: int, replaces: Path | None = None) -> None:
        with self._autosave_lock:
            if epoch != self._autosave_epoch:
                return  # saved or discarded since this write was scheduled
            try:
                autosave.write(text)
            except OSError as error:
                self.app.call_from_thread(self.notify, f"autosave failed: {error}", severity="error")
                return
            if replaces is not None and replaces != autosave.path:
                replaces.unlink(missing_ok=True)

    def discard_autosave(self) -> None:
        """Remove the autosave (after a clean save or quit): nothing to recover."""
        with self._autosave_lock:
            self._autosave_epoch += 1
            self.autosave.clear()

    def _offer_recovery(self) -> None:
        """Offer back what a crashed session left for this document, newest first.

        Restore takes it (older ones wait for the next start); Discard removes it and offers the next; Esc keeps it
        for the next start. Nothing is removed without an answer."""
        orphans = [r for r in self.autosave.orphans() if r.path not in self._kept_orphans]
        for recovered in orphans:
            if recovered.text != self.editor.text:
                break
            recovered.path.unlink(missing_ok=True)  # nothing was lost: the file already says this
        else:
            return
        older = len(orphans) - orphans.index(recovered) - 1

        def answered(choice: str | None) -> None:
            self._recovery_pending = False
            if choice == "restore":
                self._quick_next = True
                self.editor.load_text(recovered.text)  # undo history starts here; the file is untouched until saved
                self.editor.move_cursor(self.editor.document.end)
                self.status.dirty = recovered.text != self.saved_text
                # This session's own autosave takes over before the crashed session's file goes.
                self._write_autosave(self.autosave, recovered.text, self._autosave_epoch, replaces=recovered.path)
            elif choice == "discard":
                recovered.path.unlink(missing_ok=True)
                self._offer_recovery()
            else:
                self._kept_orphans.add(recovered.path)
                self.notify("The unsaved text is kept; charwriter offers it again at the next start.")

        when = recovered.saved_at.strftime("%Y-%m-%d %H:%M")
        if recovered.path is not None and "-kept-" in recovered.path.name:
            question = (f"Before {self.document_name} was reloaded from disk on {when}, your text there was kept "
                        f"({len(recovered.text):,} characters). Restore it, or discard it for good?")
        else:
            question = (f"charwriter did not close cleanly. There is unsaved text for {self.document_name} "
                        f"from {when} ({len(recovered.text):,} characters). Restore it, or discard it for good?")
        if older:
            question += (f" (Discard shows the next of {older} older unsaved {'text' if older == 1 else 'texts'};"
                         " Restore keeps them for the next start.)")
        self._recovery_pending = True
        self.app.push_screen(ConfirmScreen("Recover unsaved text", question, [
            ("Restore", "restore", "primary"), ("Discard", "discard", "error"),
        ]), answered)

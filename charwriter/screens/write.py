"""The writing screen: the editor, the suggestions pane and the status line, drawing what the writing session says.

Flow of a keystroke: the editor changes → `_schedule()` bumps `version` and (re)starts a short debounce timer, so a
burst of keys costs one run → `_start_run` hands the session (`charwriter.session.WritingSession`) a copy of the
editor's lines → `_suggest`, an exclusive thread worker, asks the session (a newer run cancels an older one; the
session keeps two threads out of the engine) → `SuggestionsReady` comes back to the event loop, where results for an
old `version` are dropped → the editor gets the continuations and the pane mirrors them. The model loads in a worker
too (torch is imported there), so the editor is usable from the first frame; what the session does in the
background (the memory, adaptation) comes back as `SessionEvent`s. The document's files: `charwriter.screens.files`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import get_current_worker

from charwriter.dialogs.model_picker import ModelPicker
from charwriter.errors import UserError
from charwriter.screens.files import DocumentFiles
from charwriter.screens.inside import InsideViews
from charwriter.session import (TAIL_CHARS, AdaptEvent, AdaptFailed, AdaptProgress, AdaptStarted, Adapted, Loaded,
                                MemoryBuilt, Preview, Problem, Suggestions, Unadapted, WritingSession)
from charwriter.settings import GREY_FLOOR, Settings
from charwriter.widgets.editor import Editor
from charwriter.widgets.find_bar import FindBar
from charwriter.widgets.footer import KeysFooter
from charwriter.widgets.status import StatusLine, count
from charwriter.widgets.suggestions import SuggestionsPane

REFINE_AFTER_S = 0.05  # after quick first suggestions, the full context is read this soon (unless typing goes on)
COUNT_HERE_LINES = 2_000  # a selection spanning fewer lines is counted at once, on the event loop
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
    answer: Suggestions


@dataclass
class SessionEvent(Message):
    """The session's background work told something (one of `charwriter.session`'s events), from its thread."""

    event: object

    def can_replace(self, message: Message) -> bool:
        # the adaptation's progress comes a step at a time: only the newest waiting one needs drawing
        return (isinstance(message, SessionEvent) and isinstance(self.event, AdaptProgress)
                and isinstance(message.event, AdaptProgress))


@dataclass
class ModelLoaded(Message):
    loaded: Loaded
    remember: bool = False  # picked by the user: remember it in the settings, now that it has loaded


@dataclass
class ModelFailed(Message):
    error: str
    loading: bool = False  # a model that failed to load: the one in use (if any) stays


class WriteScreen(DocumentFiles, InsideViews, Screen):
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
        self.model_spec = model
        self.session = WritingSession(settings, precision=precision, threads=self._threads,
                                      listen=lambda event: self.post_message(SessionEvent(event)),
                                      may_adapt=self._may_adapt)
        """The suggestions' model work; it shares `settings` with the screen."""
        self.version = 0
        """Bumped on every change of the text or the cursor: results computed for an older version are dropped."""
        self.hidden = False
        """Esc hides the suggestions until the next keystroke."""
        self._debounce: Timer | None = None
        self._count_timer: Timer | None = None
        self._settings_unsaved = False
        """The user has been told that the settings cannot be written (told once a session)."""
        self._adapt_note = ""
        self._model_heard = False
        self._resample = False
        """Ctrl+R asked for a continuation drawn at the temperature (the next run only)."""
        self._init_files(file)

    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            yield Editor(self._read_opened(), id="editor")
            yield SuggestionsPane(id="suggestions", classes="-empty")
        yield FindBar("#editor", id="find")
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

    @property
    def engine(self):
        """The engine the session suggests with (None: no model yet, or its loading not yet heard here: a run begun
        before `ModelLoaded` was cancelled by the one it starts)."""
        return self.session.engine if self._model_heard else None

    @property
    def model_path(self) -> Path | None:
        return self.session.model_path

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
        self.watch(self.editor, "scroll_y", lambda: self._inside_refresh(), init=False)
        self._schedule_count()
        self._watch_files()

    def on_unmount(self) -> None:
        self.session.close()  # an adaptation's process, too

    # --- the model ------------------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="model", description="load a model")
    def load_model(self, spec: str | Path | None, remember: bool = False, fall_back: bool = False) -> None:
        """Find and load a model (by name or path; None: the default), off the event loop: torch is imported here.

        With `fall_back`, a model that fails is reported and the default is loaded instead (if there is one)."""
        try:
            loaded = self.session.load_model(spec, fall_back=fall_back, context=self._preview_context)
        except UserError as error:
            self.post_message(ModelFailed(str(error), loading=True))
            return
        self.post_message(ModelLoaded(loaded, remember))

    def _preview_context(self, chars: int) -> tuple[str, int] | None:
        """From the loading worker: the text before the cursor, for the first grey text while torch imports."""
        def here() -> tuple[str, int] | None:
            if self.engine is not None or self.hidden or not self.editor.selection.is_empty:
                return None
            return self.editor.tail_before_cursor(chars)[0], self.version

        return self.app.call_from_thread(here)

    def on_model_loaded(self, message: ModelLoaded) -> None:
        loaded = message.loaded
        self._model_heard = True
        self._adapt_note = ""
        self._inside_refresh(now=True)  # other weights: other colours
        self.status.model, self.status.precision = loaded.name, loaded.precision
        if message.remember:
            self.settings.model = str(loaded.path)
            self.save_settings()
        if loaded.instead_of:
            self.notify(f"The model you last picked could not be loaded: {loaded.instead_of}\n\nWriting with "
                        f"{loaded.name} instead; F2 picks another.", title="Model not loaded",
                        severity="warning", timeout=12)
        self._schedule(now=True)

    def on_model_failed(self, message: ModelFailed) -> None:
        engine = self.engine
        if message.loading and engine is not None:  # the model in use still works: keep writing with it
            self.status.model, self.status.precision = engine.name, engine.precision.precision
            self.notify(f"{message.error}\n\nStill writing with {engine.name}.", title="Model not loaded",
                        severity="warning", timeout=12)
            return
        self.session.drop_model()
        self._model_heard = False
        self.status.model, self.status.precision = "no model", ""
        self.notify(f"{message.error}\n\nYou can write without suggestions; pick a model with F2 or train one "
                    "with Ctrl+T.", title="No model", severity="warning", timeout=12)

    def _threads(self) -> int:
        """Every core on an idle machine (a step is memory-bound: two cores read the weights nearly twice as fast,
        22 ms against 33 ms for 3 × 48 characters); one while this app trains a model, because two threads
        fighting a trainer for two cores make each step up to 100 times slower."""
        from charwriter.engine import ALL_THREADS

        return 1 if self._training() else ALL_THREADS

    def _training(self) -> bool:
        runs = getattr(self.app, "runs", None)
        return runs is not None and runs.active

    def _may_adapt(self) -> bool:
        return self.is_mounted and not self._training()  # a model training on these cores: after it

    def _another_document(self, unadapt: bool = True) -> None:
        """The editor holds another document (opened, new, recovered): the session starts afresh with it."""
        self.session.restart(unadapt)
        self._adapt_note = ""

    # --- suggestions ----------------------------------------------------------------------------------------------

    @on(Editor.Changed)
    def _text_changed(self) -> None:
        self.hidden = False
        self._inside_refresh()
        self.status.dirty = True  # made exact by the autosave tick (comparing the whole text on every key costs)
        self._schedule()
        self._schedule_count()
        self._autosave_soon()

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
        from charwriter.engine import MEMORY_MAX_CHARS

        resample, self._resample = self._resample, False
        length = editor.character_count()
        # A huge document: the model reads only the end of the text before the cursor, and the memory is off for it
        tail = editor.tail_before_cursor(TAIL_CHARS) if length > MEMORY_MAX_CHARS else None
        self.session.set_lines(*self._lines(), length, tail)
        self._suggest(self.version, self.session.version, editor.cursor_offset() if tail is None else 0, resample)

    # A `description` on every worker: by default Textual names a worker after the repr() of its arguments
    @work(thread=True, exclusive=True, group="suggest", description="suggestions")
    def _suggest(self, version: int, text_version: int, cursor: int, resample: bool) -> None:
        worker = get_current_worker()
        try:
            answer = self.session.suggest(cursor, lambda: worker.is_cancelled, text_version, resample=resample,
                                          guesses=True)
        except Exception as error:  # keep the editor (and the user's text) alive; say what broke
            self.post_message(ModelFailed(f"suggestions failed ({type(error).__name__}: {error})"))
            return
        if answer is not None and not worker.is_cancelled:
            self.post_message(SuggestionsReady(version, answer))

    def on_suggestions_ready(self, message: SuggestionsReady) -> None:
        answer = message.answer
        if self.session.memory_building:
            self._show_memory("learning the document…")
        elif answer.memory_too_big and self.settings.memory:
            from charwriter.engine import MEMORY_MAX_CHARS

            self._show_memory(f"memory off: document over {MEMORY_MAX_CHARS / 1e6:g} MB")
        else:
            self._show_memory()
        if message.version != self.version or self.hidden:
            return  # the text or the cursor moved on since: a newer run is coming
        self.editor.show_continuations([(c.text, c.confidence) for c in answer.continuations], answer.inline)
        self.pane.border_title = "Suggestions" + (f" · next {guess_bars(answer.guesses)}" if answer.guesses else "")
        self.status.latency_ms = answer.latency_ms
        self.status.context = answer.context
        if answer.quick:  # the first suggestions came from the last few characters: now read the whole window
            self.set_timer(REFINE_AFTER_S, self._refine_run)

    def _refine_run(self) -> None:
        if not self.hidden and self._debounce is None:  # typing schedules its own run, which reads all of it
            self._start_run()

    def _show_memory(self, note: str | None = None) -> None:
        """The memory's state, and the adaptation's, under the suggestions pane."""
        if note is None:
            note = "document memory on" if self.settings.memory else "document memory off"
        if self._adapt_note:
            note = note.replace("document ", "") + " · " + self._adapt_note
        self.pane.border_subtitle = note

    # --- what the session did in the background ----------------------------------------------------------------------

    def on_session_event(self, message: SessionEvent) -> None:
        match message.event:
            case Preview(text=text, score=score, token=version):
                if self.engine is None and version == self.version and not self.hidden:
                    self.editor.show_continuations([(text, score)])
                    self.pane.border_title = "Suggestions · first guess"  # the status line says it is loading
            case MemoryBuilt():
                self._show_memory()
                self._schedule(now=True)
            case AdaptEvent() as event if event.epoch == self.session.adaptation.epoch:
                self._adapt_heard(event)
            case Problem(line=line):
                self.notify(line, severity="warning", timeout=8)

    def _adapt_heard(self, event: AdaptEvent) -> None:
        """The adaptation to the document (`charwriter.lm.adapt`), under the pane; said when it is done."""
        match event:
            case AdaptStarted():
                self._adapt_note = "adapting…"
            case AdaptProgress(step=step, total=total):
                self._adapt_note = f"adapting {100 * step // max(1, total)}%"
            case AdaptFailed(error=error):
                self._adapt_note = "not adapted"
                self.notify(f"Could not adapt the model to this document: {error}\n\nThe model goes on as "
                            "trained.", title="Not adapted", severity="warning", timeout=10)
            case Adapted(kept=False):
                self._adapt_note = "model fits as is"
            case Adapted(summary=summary, chars=chars):
                from charwriter.lm.adapt import HOLDOUT, MAX_CHARS

                self._adapt_note = "adapted"
                read = "it" if chars <= MAX_CHARS else f"its last {MAX_CHARS:,} characters"
                self.notify(f"The suggestions now follow this document's style. Adapted to {read} in "
                            f"{summary['seconds']:.0f} s, the model predicts the last {HOLDOUT:.0%} of it at "
                            f"{summary['after']:.2f} nats/char instead of {summary['before']:.2f}.", title="Adapted",
                            timeout=8)
            case Unadapted():
                self._adapt_note = ""
        if isinstance(event, (Adapted, Unadapted)) and (not isinstance(event, Adapted) or event.kept):
            self._schedule(now=True)  # other weights: other suggestions, other colours
            self._inside_refresh(now=True)
        self._show_memory()

    # --- words and characters -----------------------------------------------------------------------------------

    def _schedule_count(self) -> None:
        self.status.count_soon(self.editor)

    @on(StatusLine.Counted)
    def _counted(self, message: StatusLine.Counted) -> None:
        self.session.maybe_adapt(message.length)  # counted off the event loop: summing every line here would cost

    # --- settings ---------------------------------------------------------------------------------------------------

    def save_settings(self) -> None:
        """Write the settings; where they cannot be written, say so once (the change holds for this session)."""
        problem = self.settings.save()
        if problem and not self._settings_unsaved:
            self._settings_unsaved = True
            self.notify(problem, title="Settings", severity="warning", timeout=10)

    def action_toggle_adapt(self) -> None:
        from charwriter.lm.adapt import MIN_CHARS

        self._adapt_note = ""
        self.session.change(adapt=not self.settings.adapt)
        self.save_settings()
        self.notify("Adapting on: the model learns this document's style in the background, once it has "
                    f"{MIN_CHARS:,} characters, and again as it grows." if self.settings.adapt else
                    "Adapting off: the suggestions come from the model as trained (and the document memory).",
                    timeout=6)
        self._show_memory()

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
        """A user's setting that the engine reads once per run: remembered, handed to the session, said, and the
        suggestions made again with it."""
        self.session.change(**{name: value})
        self.save_settings()
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
        self.session.change(temperature=value)
        self.save_settings()
        self.status.temperature = value
        if self.engine is not None:
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

    # --- find -------------------------------------------------------------------------------------------------------

    def action_find(self) -> None:
        editor = self.editor
        selected = editor.selected_text
        self.query_one(FindBar).open(selected if selected and "\n" not in selected and len(selected) < 200 else "")

    def action_focus_mode(self) -> None:
        """Hide or show the suggestions pane; the grey text at the cursor stays."""
        pane = self.pane
        pane.display = not pane.display
        if not pane.display and pane.has_focus:
            self.editor.focus()
        self.notify("Focus mode: the pane is hidden (F4 shows it)" if not pane.display else "Suggestions pane shown",
                    timeout=3)

"""The training screen: set up a run, watch its curves and samples, stop, resume, and write with the result.

The trainer runs as a subprocess (`charwriter.runs.TrainerProcess`); an app-owned thread worker reads its event
lines into a `RunHistory` and posts small messages to whichever training screen is showing. That state lives in a
`RunManager` attached to the app, not in the screen, so leaving the screen (Esc) keeps training going and coming
back shows the whole history. Progress messages come in bursts (hundreds of steps a second on a tiny model), so
they carry no data and replace each other in the queue: the screen redraws from the history when it gets to one.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.widgets import Button, Label, ProgressBar, Static

from charwriter.errors import UserError
from charwriter.runs import (RunHistory, TrainerProcess, check_run_name, format_duration, list_runs, option_values,
                             read_history, resume_command, train_command)
from charwriter.widgets.confirm import ConfirmScreen
from charwriter.widgets.footer import KeysFooter
from charwriter.widgets.loss_plot import LossPlot
from charwriter.widgets.run_list import RunList
from charwriter.widgets.train_form import TrainForm

POST_INTERVAL = 0.05  # seconds: the most often the reading thread posts for step events alone
REFRESH_INTERVAL = 0.1  # seconds: the most often progress redraws, however fast steps arrive
PLOT_INTERVAL = 0.5  # seconds between plot redraws while steps stream in (a plot is the costly part)
STOP_TIMEOUT = 120.0  # seconds a stopping trainer gets to save its checkpoint before it is killed on quit


class RunUpdated(Message):
    """The live run's history has new events. Carries nothing, so a newer one can replace a queued one."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunUpdated)


@dataclass
class RunEnded(Message):
    """The trainer process exited with `returncode` (0 also after a stop)."""

    returncode: int


class RunManager:
    """The app's training state: at most one trainer process, and the run the screen shows."""

    _managers: "weakref.WeakKeyDictionary[App, RunManager]" = weakref.WeakKeyDictionary()

    def __init__(self, app: App) -> None:
        self.app = app
        self.process: TrainerProcess | None = None
        self.shown: RunHistory | None = None  # the live run, or a past run opened from the list
        self.listener: MessagePump | None = None  # the training screen on display, if any

    @classmethod
    def of(cls, app: App) -> "RunManager":
        if app not in cls._managers:
            cls._managers[app] = cls(app)
        return cls._managers[app]

    @property
    def active(self) -> bool:
        return self.process is not None and self.process.running

    @property
    def live(self) -> RunHistory | None:
        return self.process.history if self.process else None

    def start(self, argv: list[str], history: RunHistory) -> None:
        if self.active:
            raise UserError("a run is already training — stop it first")
        process = TrainerProcess(argv, history)
        process.start()
        self.process = process
        self.shown = history
        self.app.run_worker(lambda: self._follow(process), thread=True, group="trainer",
                            name=f"trainer {history.name}")

    def _follow(self, process: TrainerProcess) -> None:
        last_post = 0.0

        def on_event(event: dict) -> None:
            # A tiny model logs hundreds of steps a second: wake the event loop for a step only now and then.
            nonlocal last_post
            now = time.monotonic()
            if event.get("type") != "step" or now - last_post >= POST_INTERVAL:
                last_post = now
                self._post(RunUpdated())

        code = process.follow(on_event)
        self._post(RunEnded(code))

    def _post(self, message: Message) -> None:
        listener = self.listener
        if listener is not None:
            listener.post_message(message)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def stop_and_wait(self, timeout: float = STOP_TIMEOUT) -> None:
        """Blocking (call from a thread): stop, give the trainer time to save, kill it if it hangs."""
        process = self.process
        if process is None:
            return
        process.stop()
        if process.wait(timeout) is None:
            process.kill()
            process.wait(5)


def confirm_stop_training(app: App, then: Callable[[], None]) -> None:
    """Before quitting: if a run is training, ask to stop it (it saves a checkpoint) or cancel; else `then()`."""
    manager = RunManager.of(app)
    if not manager.active:
        then()
        return

    def answered(choice: str | None) -> None:
        if choice != "stop":
            return
        app.notify("Stopping training and saving a checkpoint…")

        def stop_then() -> None:
            manager.stop_and_wait()
            app.call_from_thread(then)

        app.run_worker(stop_then, thread=True, group="trainer-stop")

    name = manager.live.name if manager.live else "a run"
    app.push_screen(ConfirmScreen("Training is running",
                                  f"{name} is still training. Stop it and save a checkpoint (resume it later), "
                                  "then quit?",
                                  [("Stop and quit", "stop", "error"), ("Cancel", "cancel", "default")]), answered)


class TrainScreen(Screen):
    """Set up a run, watch it, stop or resume it, and hand its best model to the writer."""

    CSS_PATH = "train.tcss"
    AUTO_FOCUS = "#corpus"

    BINDINGS = [
        Binding("escape", "back", "Back to writing", id="train.back",
                tooltip="Return to the editor; a run keeps training"),
        Binding("f5", "start", "Start", id="train.start", tooltip="Start training with the form's settings"),
        Binding("f6", "stop", "Stop", id="train.stop", tooltip="Stop the run; it saves a checkpoint to resume"),
        Binding("f7", "resume", "Resume", id="train.resume", tooltip="Continue the stopped run shown"),
        Binding("f8", "write", "Write with it", id="train.write",
                tooltip="Use the shown run's best model in the editor"),
    ]

    def __init__(self, corpus: str | None = None) -> None:
        super().__init__()
        self.corpus = corpus
        self.manager: RunManager | None = None
        self._plotted_at = 0.0
        self._plotted_vals = -1
        self._refresh_pending = False
        self._drawn = False  # until the first refresh, some children may not be mounted yet
        self._drawn_signature: tuple | None = None  # what the last draw showed (see `_catch_up`)

    def compose(self) -> ComposeResult:
        with Horizontal(id="train-body"):
            with Vertical(id="left"):
                yield TrainForm(self.corpus, id="form")
                with Horizontal(id="buttons"):
                    yield Button("Start", id="start", variant="primary", compact=True, disabled=True)
                    yield Button("Stop", id="stop", variant="error", compact=True, disabled=True)
                    yield Button("Resume", id="resume", compact=True, disabled=True)
                    yield Button("Write with this model", id="write", variant="success", compact=True,
                                 disabled=True)
                yield RunList(id="runs")
            with Vertical(id="right"):
                yield LossPlot(id="plot")
                with Horizontal(classes="bar-row"):
                    yield Label("Epoch", id="epoch-label", classes="bar-label")
                    yield ProgressBar(total=1, id="epoch-bar", show_eta=False)
                with Horizontal(classes="bar-row"):
                    yield Label("Run", id="run-label", classes="bar-label")
                    yield ProgressBar(total=1, id="run-bar", show_eta=False)
                yield Static(id="stats")
                yield Static(id="error", markup=False)
                yield Static(id="sample", markup=False)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#form").border_title = "New run"
        self.query_one("#runs").border_title = "Past runs (Enter opens)"
        self.manager = RunManager.of(self.app)
        self.manager.listener = self
        # The first draw waits for the first refresh: under load, on_mount has run before every child was mounted.
        self.call_after_refresh(self._first_draw)

    def _first_draw(self) -> None:
        self._drawn = True
        self.watch(self.query_one(TrainForm), "valid", lambda valid: self.refresh_buttons(), init=False)
        shown = self.manager.shown if self.manager else None
        if shown is not None and shown.config and not self.corpus:
            # Back on the screen: the form shows the settings of the run shown, not an empty corpus.
            self.query_one(TrainForm).load(shown.config.get("corpus_path"), option_values(shown.config))
        self.refresh_runs()
        self.refresh_view(force_plot=True)
        # A safety net: messages sent while this screen was not listening (between leaving and coming back) are
        # not replayed, so once a second the screen compares what it drew with the history and catches up.
        self.set_interval(1.0, self._catch_up)

    def _catch_up(self) -> None:
        h = self.manager.shown if self.manager else None
        if h is not None and self.is_current and self._signature(h) != self._drawn_signature:
            self.refresh_view(force_plot=True)

    @staticmethod
    def _signature(h: RunHistory) -> tuple:
        return (len(h.train_loss), len(h.val_loss), (h.sample or {}).get("step"), h.status, h.error)

    def on_unmount(self) -> None:
        if self.manager is not None and self.manager.listener is self:
            self.manager.listener = None

    def on_screen_resume(self) -> None:
        # Back from a modal or re-pushed: take the messages again and catch up with what happened meanwhile.
        if self.manager is not None and self._drawn:
            self.manager.listener = self
            self.refresh_view(force_plot=True)

    # --- messages from the trainer ------------------------------------------------------------------------------

    def on_run_updated(self, message: RunUpdated) -> None:
        # At most REFRESH_INTERVAL apart however fast steps arrive, and not at all under a dialog (the screen
        # catches up when it is resumed): the rest of the app must stay responsive.
        if self.is_current and not self._refresh_pending:
            self._refresh_pending = True
            self.set_timer(REFRESH_INTERVAL, self._timed_refresh)

    def _timed_refresh(self) -> None:
        self._refresh_pending = False
        self.refresh_view()

    def on_run_ended(self, message: RunEnded) -> None:
        history = self.manager.live if self.manager else None
        self.refresh_runs()
        self.refresh_view(force_plot=True)
        if history is None:
            return
        if history.error:
            self.notify(f"Training {history.name} failed: {history.error.splitlines()[-1]}", severity="error",
                        timeout=10)
        elif history.config is None:
            self.notify(f"Stopped {history.name} before training began")
        elif history.status == "finished":
            best = f"best validation loss {history.best_val_loss:.3f}" if history.best_val_loss is not None else ""
            self.notify(f"Training {history.name} finished; {best}")
        else:
            self.notify(f"Stopped {history.name} at step {history.step}; a checkpoint is saved — Resume continues")

    # --- actions ------------------------------------------------------------------------------------------------

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        {"start": self.action_start, "stop": self.action_stop, "resume": self.action_resume,
         "write": self.action_write}[event.button.id or ""]()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def action_start(self) -> None:
        assert self.manager is not None
        if self.manager.active:
            self.notify("A run is already training — stop it first", severity="warning")
            return
        form = self.query_one(TrainForm)
        request = form.request()
        if request is None:
            self.notify("The form has a problem — see the message under it", severity="warning")
            return
        try:
            run_dir = check_run_name(request.name)
        except UserError as error:
            self.notify(str(error), severity="error")
            return
        self._start(train_command(request.corpus, run_dir, request.options, request.init_from), RunHistory(run_dir))

    def _start(self, argv: list[str], history: RunHistory) -> None:
        assert self.manager is not None
        try:
            self.manager.start(argv, history)
        except (UserError, OSError) as error:
            self.notify(str(error), severity="error")
            return
        self.refresh_runs()
        self.refresh_view(force_plot=True)

    def action_stop(self) -> None:
        assert self.manager is not None
        if self.manager.active:
            self.manager.stop()
            self.query_one("#stats", Static).update("Stopping: the trainer is saving a checkpoint…")
            self.query_one("#stop", Button).disabled = True

    def action_resume(self) -> None:
        assert self.manager is not None
        shown = self.manager.shown
        if self.manager.active or shown is None or not shown.resumable:
            self.notify("Nothing to resume: open a stopped run from the list", severity="warning")
            return
        try:
            options = self.query_one(TrainForm).values()[2]  # Epochs and Val every may change on resume
        except UserError:
            options = {}
        self._start(resume_command(shown.run_dir, options), read_history(shown.run_dir))

    def action_write(self) -> None:
        assert self.manager is not None
        shown = self.manager.shown
        if shown is None or not shown.best_model.is_file():
            self.notify("This run has no model yet (it appears at the first validation)", severity="warning")
            return
        use_model = getattr(self.app, "use_model", None)
        if use_model is None:
            self.notify("This app has no writing screen", severity="error")
            return
        use_model(shown.best_model)
        self.notify(f"Writing with {shown.name}'s best model")
        self.action_back()

    @on(RunList.Opened)
    def _open_run(self, event: RunList.Opened) -> None:
        self.open_run(event.run_dir)

    def open_run(self, run_dir: Path) -> None:
        """Show a run's curves: the live one as it is, a past one read from its events.jsonl."""
        assert self.manager is not None
        live = self.manager.live
        if live is not None and live.run_dir == run_dir:
            self.manager.shown = live
        else:
            self.manager.shown = read_history(run_dir)
            config = self.manager.shown.config or {}
            self.query_one(TrainForm).load(config.get("corpus_path"), option_values(config))
        self.refresh_view(force_plot=True)

    # --- drawing ------------------------------------------------------------------------------------------------

    def refresh_runs(self) -> None:
        running = self.manager.live.run_dir if self.manager and self.manager.active and self.manager.live else None
        self.query_one(RunList).show(list_runs(), running)

    def refresh_buttons(self) -> None:
        manager = self.manager
        if manager is None:
            return
        shown = manager.shown
        active = manager.active
        live_shown = active and shown is manager.live
        self.query_one("#start", Button).disabled = active or not self.query_one(TrainForm).valid
        self.query_one("#stop", Button).disabled = not active or bool(manager.process and manager.process.stopping)
        self.query_one("#resume", Button).disabled = active or shown is None or not shown.resumable
        self.query_one("#write", Button).disabled = live_shown or shown is None or not shown.best_model.is_file()
        self.set_class(active, "-training")

    def refresh_view(self, force_plot: bool = False) -> None:
        manager = self.manager
        if manager is None or not self._drawn:
            return
        self.refresh_buttons()
        history = manager.shown
        if history is None:
            self.query_one(LossPlot).show([], [], "no run yet: fill in the form and press Start")
            self.query_one("#stats", Static).update("")
            self.query_one("#sample", Static).update("")
            self.query_one("#error", Static).update("")
            return
        lock = manager.process.lock if manager.process and history is manager.live else None
        if lock is not None:
            with lock:
                self._draw(history, force_plot)
        else:
            self._draw(history, force_plot)

    def _draw(self, h: RunHistory, force_plot: bool) -> None:
        self._drawn_signature = self._signature(h)
        live = self.manager is not None and h is self.manager.live and self.manager.active
        now = time.monotonic()
        if force_plot or len(h.val_loss) != self._plotted_vals or now - self._plotted_at >= PLOT_INTERVAL:
            self.query_one(LossPlot).show(list(h.train_loss), list(h.val_loss), f"{h.name} — loss")
            self._plotted_at, self._plotted_vals = now, len(h.val_loss)
            self.query_one(RunList).update_run(h, running=live)

        per_epoch, epochs, total, step = h.batches_per_epoch, h.epochs, h.total_steps, h.step
        epoch_done = min(epochs, step // per_epoch) if per_epoch else 0
        in_epoch = step - epoch_done * per_epoch if epoch_done < epochs else per_epoch
        self.query_one("#epoch-label", Label).update(f"Epoch {min(epochs, epoch_done + 1)}/{epochs}")
        self.query_one("#epoch-bar", ProgressBar).update(total=per_epoch or 1, progress=in_epoch)
        self.query_one("#run-label", Label).update(f"Step {step}/{total}")
        self.query_one("#run-bar", ProgressBar).update(total=total or 1, progress=step)

        last = h.last_step or {}
        state = "training" if live and not h.done else h.status
        if live and self.manager and self.manager.process and self.manager.process.stopping:
            state = "stopping: saving a checkpoint…"
        parts = [state]
        if state == "training" and last:  # a stopping, stopped or finished run has no time left to show
            parts.append(f"ETA {format_duration(last.get('eta_s'))}")
        if last.get("chars_per_s"):
            parts.append(f"{last['chars_per_s']:,.0f} chars/s")
        if last.get("loss") is not None:
            parts.append(f"loss {last['loss']:.3f}")
        if h.best_val_loss is not None:
            parts.append(f"best val {h.best_val_loss:.3f}")
        config = h.config or {}
        if config.get("parameters"):
            threads = config.get("threads") if config.get("device") == "cpu" else None
            parts.append(f"{config['parameters']:,} params on {config.get('device', '?')}"
                         + (f", {threads} thread{'s' if threads > 1 else ''}" if isinstance(threads, int) else ""))
        self.query_one("#stats", Static).update(" · ".join(parts))

        error = self.query_one("#error", Static)
        error.update(h.error or "")
        error.set_class(bool(h.error), "-shown")
        if h.error and h.resumable and not live:
            error.update(f"{h.error}\nThe last checkpoint is kept: Resume continues from it.")

        sample = self.query_one("#sample", Static)
        sample.border_title = f"Sample at step {h.sample['step']}" if h.sample else "Sample"
        sample.update((h.sample or {}).get("text", "the model writes a sample at each validation"))

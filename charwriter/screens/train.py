"""The training screen: set up a run, watch its curves and samples, stop, resume, and write with the result.

The app owns the runs (`charwriter.run_service.RunService`, `app.runs`): the trainer process, its history, the run
shown. This screen only draws what the service holds, when it says the run changed (`RunChanged`), at most every
`REFRESH_INTERVAL`; so Esc keeps training going and coming back shows the whole history at once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Label, ProgressBar, Static

from charwriter.dialogs.confirm import ConfirmScreen
from charwriter.dialogs.prompt import TextPrompt
from charwriter.dialogs.resume import ResumeScreen
from charwriter.errors import UserError
from charwriter.run_service import RunChanged, RunService
from charwriter.runs import (RunHistory, check_run_name, delete_run, format_duration, list_runs, read_history,
                             rename_run, resume_command, run_size, samples_text, train_command)
from charwriter.widgets.footer import KeysFooter
from charwriter.widgets.loss_plot import LossPlot
from charwriter.widgets.run_list import RunList
from charwriter.widgets.train_form import TrainForm

LONG_RUN_SECONDS = 10 * 60  # a run estimated to take longer is said, and asked about, before it starts
REFRESH_INTERVAL = 0.1  # seconds: the most often progress redraws, however fast steps arrive
PLOT_INTERVAL = 0.5  # seconds between plot redraws while steps stream in (a plot is the costly part)


@dataclass
class UseModel(Message):
    """Write with this model from now on: the app's writing screen takes it."""

    path: Path


class TrainScreen(Screen):
    """Set up a run, watch it, stop or resume it, and hand its best model to the writer."""

    CSS_PATH = "train.tcss"
    AUTO_FOCUS = "#corpus"
    NARROW = 110  # columns below which the form, the runs and the curves take turns (F3) instead of side by side
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW, "-wide")]
    VIEWS = ("setup", "runs", "curves")

    BINDINGS = [
        Binding("escape", "back", "Back to writing", id="train.back",
                tooltip="Return to the editor; a run keeps training"),
        Binding("f3", "next_view", "Next view", id="train.view",
                tooltip="In a narrow terminal: the form, the past runs and the curves in turn"),
        Binding("f5", "start", "Start", id="train.start", tooltip="Start training with the form's settings"),
        Binding("f6", "stop", "Stop", id="train.stop", tooltip="Stop the run; it saves a checkpoint to resume"),
        Binding("f7", "resume", "Resume", id="train.resume",
                tooltip="Continue the stopped run shown, or extend a finished one with more epochs"),
        Binding("f8", "write", "Write with it", id="train.write",
                tooltip="Use the shown run's best model in the editor"),
    ]

    def __init__(self, corpus: str | None = None, options: dict | None = None, name: str | None = None) -> None:
        """`options` and `name` pre-fill the form (`charwriter train --tui CORPUS --epochs 5 --name x`)."""
        super().__init__()
        self.corpus = corpus
        self.form_options, self.form_name = options, name
        self._plotted_at = 0.0
        self._plotted_vals = -1
        self._refresh_pending = False
        self._drawn = False  # until the first refresh, some children may not be mounted yet
        self.view = "setup"  # what a narrow terminal shows (a wide one shows all three)

    def set_corpus(self, corpus: str) -> None:
        """Fill the form's corpus (`charwriter train --tui CORPUS` on a screen already made)."""
        self.query_one(TrainForm).query_one("#corpus").value = corpus

    @property
    def runs(self) -> RunService:
        return self.app.runs  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        with Horizontal(id="train-body"):
            with Vertical(id="left"):
                yield TrainForm(self.corpus, self.form_options, self.form_name, id="form")
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
                yield Static(id="settings", markup=False)
                yield Static(id="error", markup=False)
                yield Static(id="sample", markup=False)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.add_class("-view-setup")
        self.query_one("#form").border_title = "New run"
        self.query_one("#runs").border_title = "Past runs (Enter opens)"
        # The first draw waits for the first refresh: under load, on_mount has run before every child was mounted.
        self.call_after_refresh(self._first_draw)

    def _first_draw(self) -> None:
        self._drawn = True
        self.watch(self.query_one(TrainForm), "valid", lambda valid: self.refresh_buttons(), init=False)
        self.refresh_runs()
        self.refresh_view(force_plot=True)

    def on_screen_resume(self) -> None:
        # Back from a modal or shown again: draw what happened meanwhile.
        if self._drawn:
            self.refresh_runs()
            self.refresh_view(force_plot=True)

    def on_run_changed(self, message: RunChanged) -> None:
        if message.ended:
            self.refresh_runs()
            self.refresh_view(force_plot=True)
        elif not self._refresh_pending:
            # At most REFRESH_INTERVAL apart however fast steps arrive: the rest of the app must stay responsive.
            self._refresh_pending = True
            self.set_timer(REFRESH_INTERVAL, self._timed_refresh)

    def _timed_refresh(self) -> None:
        self._refresh_pending = False
        if self.is_current:
            self.refresh_view()

    # --- actions ------------------------------------------------------------------------------------------------

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        {"start": self.action_start, "stop": self.action_stop, "resume": self.action_resume,
         "write": self.action_write}[event.button.id or ""]()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_view":
            return self.size.width < self.NARROW
        return True

    def on_resize(self) -> None:
        self.refresh_bindings()

    def action_next_view(self) -> None:
        self.show_view(self.VIEWS[(self.VIEWS.index(self.view) + 1) % len(self.VIEWS)])

    def show_view(self, view: str) -> None:
        """In a narrow terminal, show the form, the past runs or the curves."""
        self.remove_class(f"-view-{self.view}")
        self.view = view
        self.add_class(f"-view-{view}")
        if view == "runs":
            self.query_one(RunList).focus()
        elif view == "curves" and self.size.width < self.NARROW:
            self.query_one(LossPlot).focus()  # its keys: s smooths, l switches to a log scale

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def action_start(self) -> None:
        if self.runs.active:
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

        def start() -> None:
            self._start(train_command(request.corpus, run_dir, request.options, request.init_from),
                        RunHistory(run_dir))

        options, info = request.options, form.info
        epoch = info.estimated_epoch_seconds(options["batch_size"], options["seq_len"]) if info else 0.0
        total = epoch * options["epochs"]
        if total <= LONG_RUN_SECONDS:
            start()
            return
        # Cancel comes first, so it has the focus: an Enter pressed by accident (on the Start button, say) starts
        # nothing.
        question = (f"{options['epochs']} epochs of about {format_duration(epoch)} each: about "
                    f"{format_duration(total)} in all, the cores busy meanwhile (a checkpoint is kept, F6 stops it, F7 "
                    "resumes it). Start it?")
        self.app.push_screen(ConfirmScreen("A long run", question, [("Cancel", "cancel", "default"),
                                                                  ("Start", "start", "primary")]),
                             lambda choice: start() if choice == "start" and not self.runs.active else None)

    def _start(self, argv: list[str], history: RunHistory) -> None:
        try:
            self.runs.start(argv, history)
        except (UserError, OSError) as error:
            self.notify(str(error), severity="error")
            return
        self.refresh_runs()
        self.refresh_view(force_plot=True)
        self.show_view("curves")

    def action_stop(self) -> None:
        if self.runs.active:
            self.runs.stop()
            self.query_one("#stats", Static).update("Stopping: the trainer is saving a checkpoint…")
            self.query_one("#stop", Button).disabled = True

    def action_resume(self) -> None:
        """Continue the run shown, or extend a finished one: a dialog asks for the epochs in all."""
        shown = self.runs.shown
        if self.runs.active or shown is None or not shown.has_checkpoint:
            self.notify("Nothing to resume: open a stopped or finished run from the list", severity="warning")
            return

        def chosen(answer: tuple[int, bool] | None) -> None:
            if answer is not None and not self.runs.active:
                epochs, restart = answer
                self._start(resume_command(shown.run_dir, {"epochs": epochs}, restart), read_history(shown.run_dir))

        self.app.push_screen(ResumeScreen(shown), chosen)

    def action_write(self) -> None:
        shown = self.runs.shown
        if shown is None or not shown.best_model.is_file():
            self.notify("This run has no model yet (it appears at the first validation)", severity="warning")
            return
        self.app.post_message(UseModel(shown.best_model))
        self.notify(f"Writing with {shown.name}'s best model")
        self.action_back()

    @on(RunList.Opened)
    def _open_run(self, event: RunList.Opened) -> None:
        self.open_run(event.run_dir)

    @on(RunList.Requested)
    def _run_requested(self, event: RunList.Requested) -> None:
        run_dir = event.run_dir
        if event.action == "compare":
            compared = self.runs.compared
            self.runs.compared = None if compared is not None and compared.run_dir == run_dir else read_history(run_dir)
            self.refresh_view(force_plot=True)
            return
        if self.runs.active and self.runs.live is not None and self.runs.live.run_dir == run_dir:
            self.notify(f"{run_dir.name} is training — stop it first", severity="warning")
            return
        if event.action == "delete":
            def answered(choice: str | None) -> None:
                if choice == "delete":
                    self._run_changed(run_dir, None, lambda: delete_run(run_dir), f"Deleted {run_dir.name}")

            self.app.push_screen(ConfirmScreen(
                "Delete run", f"Delete {run_dir.name} ({run_size(run_dir) / 1e6:.1f} MB: its curves, checkpoint and"
                " models)? This cannot be undone.", [("Delete", "delete", "error"), ("Cancel", "cancel", "default")]),
                answered)
        else:
            def named(name: str | None) -> None:
                if name and name != run_dir.name:
                    self._run_changed(run_dir, name, lambda: rename_run(run_dir, name), f"Renamed to {name}")

            self.app.push_screen(TextPrompt("Rename run", f"A new name for {run_dir.name}:", run_dir.name), named)

    def _run_changed(self, run_dir: Path, new_name: str | None, change, done: str) -> None:
        """Delete or rename a run, then show the list as it is; the run shown follows (or is closed)."""
        try:
            change()
        except (UserError, OSError) as error:
            self.notify(str(error), severity="error")
            return
        shown = self.runs.shown
        if shown is not None and shown.run_dir == run_dir:
            self.runs.show(read_history(run_dir.parent / new_name)) if new_name else self.runs.close()
        settings = getattr(self.app, "settings", None)  # the writer's remembered model may live in this run
        if new_name and settings is not None and settings.model and Path(settings.model).parent == run_dir:
            settings.model = str(run_dir.parent / new_name / Path(settings.model).name)
            problem = settings.save()
            if problem:
                self.notify(problem, severity="warning")
        self.notify(done)
        self.refresh_runs()
        self.refresh_view(force_plot=True)

    def open_run(self, run_dir: Path) -> None:
        """Show a run's curves and settings (the live one as it is, a past one read from its events.jsonl); the form
        keeps what the user typed there."""
        live = self.runs.live
        self.runs.show(live if live is not None and live.run_dir == run_dir else read_history(run_dir))
        self.refresh_view(force_plot=True)
        self.show_view("curves")

    # --- drawing ------------------------------------------------------------------------------------------------

    def refresh_runs(self) -> None:
        running = self.runs.live.run_dir if self.runs.active and self.runs.live else None
        self.query_one(RunList).show(list_runs(), running)

    def refresh_buttons(self) -> None:
        runs = self.runs
        shown, active = runs.shown, runs.active
        live_shown = active and shown is runs.live
        self.query_one("#start", Button).disabled = active or not self.query_one(TrainForm).valid
        self.query_one("#stop", Button).disabled = not active or runs.stopping
        resume = self.query_one("#resume", Button)
        resume.disabled = active or shown is None or not shown.has_checkpoint
        resume.label = "Extend" if shown is not None and shown.status == "finished" else "Resume"
        self.query_one("#write", Button).disabled = live_shown or shown is None or not shown.best_model.is_file()
        self.set_class(active, "-training")

    def refresh_view(self, force_plot: bool = False) -> None:
        if not self._drawn:
            return
        self.refresh_buttons()
        history = self.runs.shown
        if history is None:
            self.query_one(LossPlot).show([], [], [], "no run yet: fill in the form and press Start")
            for name in ("stats", "settings", "sample", "error"):
                self.query_one(f"#{name}", Static).update("")
            return
        self._draw(history, force_plot)

    def _draw(self, h: RunHistory, force_plot: bool) -> None:
        live = h is self.runs.live and self.runs.active
        now = time.monotonic()
        if force_plot or len(h.val_loss) != self._plotted_vals or now - self._plotted_at >= PLOT_INTERVAL:
            other = self.runs.compared
            compare = (other.name, list(other.val_loss)) if other is not None and other.run_dir != h.run_dir else None
            self.query_one(LossPlot).show(list(h.train_loss), list(h.val_loss), list(h.lrs),
                                          f"{h.name} — loss" + (f" (against {other.name})" if compare else ""),
                                          compare)
            self._plotted_at, self._plotted_vals = now, len(h.val_loss)
            self.query_one(RunList).update_run(h, running=live)

        per_epoch, epochs, total, step = h.batches_per_epoch, h.epochs, h.total_steps, h.step
        epoch_done = min(epochs, step // per_epoch) if per_epoch else 0
        in_epoch = step - epoch_done * per_epoch if epoch_done < epochs else per_epoch
        self.query_one("#epoch-label", Label).update(f"Epoch {min(epochs, epoch_done + 1)}/{epochs}")
        self.query_one("#epoch-bar", ProgressBar).update(total=per_epoch or 1, progress=in_epoch)
        self.query_one("#run-label", Label).update(f"Step {step}/{total}")
        self.query_one("#run-bar", ProgressBar).update(total=total or 1, progress=step)

        last = h.last_step
        state = "training" if live and not h.done else h.status
        if live and self.runs.stopping:
            state = "stopping: saving a checkpoint…"
        parts = [state]
        if state == "training" and last:  # a stopping, stopped or finished run has no time left to show
            parts.append(f"ETA {format_duration(last.eta_s)}")
        if last and last.chars_per_s:
            parts.append(f"{last.chars_per_s:,.0f} chars/s")
        if last and last.loss is not None:
            parts.append(f"loss {last.loss:.3f}")
        if h.best_val_loss is not None:
            parts.append(f"best val {h.best_val_loss:.3f} ({h.best_val_loss / math.log(2):.3f} bits/char)")
        config = h.config
        if config and config.parameters:
            threads = config.threads if config.device == "cpu" else None
            precision = h.precision if h.precision and h.precision != "fp32" else None  # fp32: as the seed, unsaid
            parts.append(f"{config.parameters:,} params on {config.device or '?'}"
                         + (f", {threads} thread{'s' if threads > 1 else ''}" if isinstance(threads, int) else "")
                         + (f", {precision}" if precision else ""))
        self.query_one("#stats", Static).update(" · ".join(parts))
        self.query_one("#settings", Static).update(settings_line(h))

        error = self.query_one("#error", Static)
        error.update(h.error or "")
        error.set_class(bool(h.error), "-shown")
        if h.error and h.resumable and not live:
            error.update(f"{h.error}\nThe last checkpoint is kept: Resume continues from it.")

        sample = self.query_one("#sample", Static)
        sample.border_title = f"Samples at step {h.sample.step}" if h.sample else "Samples"
        sample.update(samples_text(h) if h.sample else "the model writes samples at each validation")


def settings_line(h: RunHistory) -> str:
    """A run's settings in one line, as a learner reads them: size, dropout, batch, rate, length, corpus."""
    c = h.hyperparameters
    if not c:
        return ""
    rate = f"lr {c.get('lr', 0):g}" + (" cosine" if c.get("lr_schedule") == "cosine" else "")
    parts = [f"{c.get('cell', 'lstm').upper()} {c.get('hidden_size')} × {c.get('num_layers')}",
             f"dropout {c.get('dropout', 0):g}", f"batch {c.get('batch_size')} × {c.get('seq_len')}", rate,
             f"{c.get('epochs')} epochs"]
    if h.config and h.config.corpus:
        parts.append(f"on {h.config.corpus}")
    return "Settings: " + " · ".join(parts)

"""The app's training runs: at most one trainer process, the run the training screen shows, and every event applied
on the app's own thread.

The trainer is a subprocess (`charwriter.runs.TrainerProcess`). A thread worker reads its event lines and posts them
to the app in batches (`RunEvents`: a tiny model logs hundreds of steps a second, so steps wait up to
`POST_INTERVAL` for company); the app hands each batch to its `RunService`, which adds the events to the run's
`RunHistory` on the UI thread (no locks: nothing else writes it) and tells the screen on display that the run
changed (`RunChanged`, which carries nothing and replaces a queued one). Screens only draw what the service holds,
so leaving the training screen and coming back shows the run at once, and a run that finishes or fails while the
writer is writing says so in a notification wherever they are.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import Callable

from textual.app import App
from textual.message import Message

from charwriter.errors import UserError
from charwriter.lm.events import Event, StepEvent
from charwriter.runs import RunHistory, TrainerProcess

POST_INTERVAL = 0.05  # seconds: the most often the reading thread posts for step events alone
STOP_TIMEOUT = 120.0  # seconds a stopping trainer gets to save its checkpoint before it is killed on quit


@dataclass
class RunEvents(Message):
    """Events a trainer wrote, in order, for the app to apply."""

    process: TrainerProcess
    events: list[Event] = field(default_factory=list)


@dataclass
class RunExited(Message):
    """The trainer process exited with `returncode` (0 also after a stop); `failure`: what went wrong, if anything."""

    process: TrainerProcess
    returncode: int
    failure: str | None


class RunChanged(Message, bubble=False):
    """The run the service holds changed (`ended`: its trainer exited). Carries no events: the screen draws from
    the service, so a newer message may replace a queued one."""

    def __init__(self, ended: bool = False) -> None:
        super().__init__()
        self.ended = ended

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunChanged) and (self.ended or not message.ended)


class RunService:
    """What the app knows of training: the trainer process, if any, and the run shown (live, or opened)."""

    services: "weakref.WeakSet[RunService]" = weakref.WeakSet()
    """Every service: a test, or the app's exit, can make sure no trainer outlives it."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.process: TrainerProcess | None = None
        self.shown: RunHistory | None = None  # the live run, or a past run opened from the list
        self.compared: RunHistory | None = None  # a past run whose validation curve is drawn over the shown one's
        RunService.services.add(self)

    @property
    def active(self) -> bool:
        return self.process is not None and self.process.running

    @property
    def stopping(self) -> bool:
        return self.active and self.process is not None and self.process.stopping

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
                            name=f"trainer {history.name}", exit_on_error=False)
        self._changed()

    def _follow(self, process: TrainerProcess) -> None:
        """The reading thread: batches of events to the app, then how the process ended."""
        batch: list[Event] = []
        last_post = 0.0

        def flush() -> None:
            nonlocal batch, last_post
            if batch:
                self.app.post_message(RunEvents(process, batch))
                batch, last_post = [], time.monotonic()

        def on_event(event: Event) -> None:
            batch.append(event)
            if not isinstance(event, StepEvent) or time.monotonic() - last_post >= POST_INTERVAL:
                flush()

        code = process.follow(on_event)
        flush()
        self.app.post_message(RunExited(process, code, process.failure(code)))

    # --- on the app's thread ----------------------------------------------------------------------------------

    def apply(self, message: RunEvents) -> None:
        for event in message.events:
            message.process.history.add(event)
        self._changed()

    def exited(self, message: RunExited) -> None:
        history = message.process.history
        history.ended(message.failure)
        self._changed(ended=True)
        if history.error:
            self.app.notify(f"Training {history.name} failed: {history.error.splitlines()[-1]}", severity="error",
                            timeout=10)
        elif history.config is None:
            self.app.notify(f"Stopped {history.name} before training began")
        elif history.status == "finished":
            best = f"; best validation loss {history.best_val_loss:.3f}" if history.best_val_loss is not None else ""
            self.app.notify(f"Training {history.name} finished{best}", timeout=8)
        else:
            self.app.notify(f"Stopped {history.name} at step {history.step}; a checkpoint is saved — Resume continues")

    def show(self, history: RunHistory) -> None:
        self.shown = history
        self._changed()

    def close(self) -> None:
        """Show no run (the one shown was deleted)."""
        self.shown = None
        self._changed()

    def _changed(self, ended: bool = False) -> None:
        if self.app.is_running and self.app.screen_stack:
            self.app.screen.post_message(RunChanged(ended))

    # --- stopping -------------------------------------------------------------------------------------------

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self._changed()

    def stop_and_wait(self, timeout: float = STOP_TIMEOUT) -> None:
        """Blocking (call from a thread): stop, give the trainer time to save, kill it if it hangs."""
        process = self.process
        if process is None:
            return
        process.stop()
        if process.wait(timeout) is None:
            process.kill()
            process.wait(5)

    def kill(self) -> None:
        if self.active and self.process is not None:
            self.process.kill()

    def confirm_stop(self, then: Callable[[], None]) -> None:
        """Before quitting: if a run is training, ask to stop it (it saves a checkpoint) or cancel; else `then()`."""
        if not self.active:
            then()
            return
        from charwriter.dialogs.confirm import ConfirmScreen

        app = self.app

        def answered(choice: str | None) -> None:
            if choice != "stop":
                return
            app.notify("Stopping training and saving a checkpoint…")

            def stop_then() -> None:
                self.stop_and_wait()
                app.call_from_thread(then)

            app.run_worker(stop_then, thread=True, group="trainer-stop")

        name = self.live.name if self.live else "a run"
        app.push_screen(ConfirmScreen("Training is running",
                                      f"{name} is still training. Stop it and save a checkpoint (resume it later), "
                                      "then quit?",
                                      [("Stop and quit", "stop", "error"), ("Cancel", "cancel", "default")]), answered)


class RunsOwner:
    """Mix into an `App` that trains: it owns a `RunService` (`app.runs`) and applies the trainer's messages."""

    @property
    def runs(self) -> RunService:
        service = self.__dict__.get("_run_service")
        if service is None:
            service = self.__dict__["_run_service"] = RunService(self)  # type: ignore[arg-type]
        return service

    def on_run_events(self, message: RunEvents) -> None:
        self.runs.apply(message)

    def on_run_exited(self, message: RunExited) -> None:
        self.runs.exited(message)

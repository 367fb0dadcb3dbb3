"""Resume (or extend) a run: how many epochs in all, said against what the run was set to and has done.

It dismisses with (epochs in all, restart the schedule?), or None (Esc, Cancel). A finished run can be extended:
more epochs than it was set to. A constant rate stays as it is. A cosine schedule is the user's choice: stretched
over the new length (recomputed for the new total: the rate rises a little from where it ended, then falls again),
or restarted from here (a warm restart: warm-up to the full rate, then a new decay over the epochs left).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from charwriter.runs import RunHistory


def epochs_done(history: RunHistory) -> float:
    per_epoch = history.batches_per_epoch
    return history.step / per_epoch if per_epoch else 0.0


class ResumeScreen(ModalScreen[tuple[int, bool] | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="cancel", tooltip="Close without resuming")]

    def __init__(self, history: RunHistory) -> None:
        super().__init__(classes="dialog")
        self.history = history
        self.finished = history.status == "finished"

    def compose(self) -> ComposeResult:
        h = self.history
        schedule = h.hyperparameters.get("lr_schedule", "constant")
        with Vertical(classes="dialog-box") as box:
            box.border_title = f"{'Extend' if self.finished else 'Resume'} {h.name}"
            yield Label(f"It was set to {h.epochs} epochs and has done {epochs_done(h):.1f} (step {h.step})."
                        + (" Give more epochs to train it longer." if self.finished else ""), classes="question")
            self.cosine = schedule == "cosine"
            yield Label("The learning rate is constant." if not self.cosine else
                        "Its cosine schedule can stretch over the new length (the rate rises a little from where it "
                        "is now, then falls to its end again) or restart from here (warm-up to the full rate, then "
                        "a new decay over the epochs left).", classes="question")
            with Horizontal(classes="row"):
                yield Label("Epochs in all")
                yield Input(str(h.epochs + (h.epochs if self.finished else 0)), id="epochs", type="integer",
                            compact=True)
            yield Label("", id="problem", classes="question")
            with Horizontal(classes="buttons"):
                yield Button(("Extend" if self.finished else "Resume") + (", stretch" if self.cosine else ""), id="go",
                             variant="primary")
                if self.cosine:
                    yield Button("Restart the schedule", id="restart")
                yield Button("Cancel", id="cancel-button")

    def _epochs(self) -> int | None:
        text = self.query_one("#epochs", Input).value.strip()
        problem = self.query_one("#problem", Label)
        done = epochs_done(self.history)
        try:
            epochs = int(text)
        except ValueError:
            problem.update("Give a whole number of epochs.")
            return None
        if epochs <= done:
            problem.update(f"Give more than the {done:.1f} epochs it has done.")
            return None
        return epochs

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        epochs = self._epochs()
        if epochs is not None:
            self.dismiss((epochs, False))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id not in ("go", "restart"):
            self.dismiss(None)
            return
        epochs = self._epochs()
        if epochs is not None:
            self.dismiss((epochs, event.button.id == "restart"))

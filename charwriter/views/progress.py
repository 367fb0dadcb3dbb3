"""`charwriter train`'s progress on stderr: a Rich progress bar in a terminal, one line per validation otherwise, and
the run's last lines (how to resume a stopped run, the best loss)."""

from __future__ import annotations

import math
import shlex
import sys

from charwriter.lm.events import ConfigEvent, DoneEvent, ErrorEvent, PrecisionEvent, StepEvent, ValEvent
from charwriter.lm.run_folder import RunFolder


class TrainProgress:
    """A trainer's callback that shows its events; use it as a context manager around `trainer.run()`."""

    def __init__(self, trainer):
        from rich.console import Console

        self.trainer = trainer
        self.console = Console(stderr=True)
        self.live = self.console.is_terminal
        self.val = "-"
        self.progress = None

    def __enter__(self):
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn

            self.progress = Progress(
                TextColumn("epoch {task.fields[epoch]}"), BarColumn(), TextColumn("step {task.completed}/{task.total}"),
                TextColumn("loss {task.fields[loss]}"), TextColumn("val {task.fields[val]}"),
                TextColumn("{task.fields[cps]} chars/s"), TextColumn("ETA {task.fields[eta]}"), console=self.console,
            )
            self.progress.start()
            t = self.trainer
            self.task = self.progress.add_task("train", total=t.total_steps, completed=t.step, epoch="-", loss="-",
                                               val="-", cps="-", eta="-")
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()

    def on_event(self, event) -> None:
        if isinstance(event, ConfigEvent):
            self.console.print(_setup_line(event))
        elif isinstance(event, StepEvent) and self.progress:
            from charwriter.runs import format_duration

            epochs = self.trainer.config.epochs
            self.progress.update(self.task, completed=event.step, loss=f"{event.loss:.3f}",
                                 epoch=f"{min(epochs, int(event.epoch or 0) + 1)}/{epochs}",
                                 cps=f"{event.chars_per_s or 0:,.0f}", eta=format_duration(event.eta_s))
        elif isinstance(event, ValEvent):
            self.val = f"{event.val_loss:.4f}"
            if self.progress:
                self.progress.update(self.task, val=self.val)
            else:
                self.console.print(f"step {event.step}: val loss {event.val_loss:.4f} "
                                   f"(best {event.best_val_loss:.4f})")
        elif isinstance(event, PrecisionEvent):
            self.console.print(f"step {event.step:,}: {event.reason}", markup=False, highlight=False)
        elif isinstance(event, ErrorEvent):
            self.console.print(event.message, style="red", markup=False, highlight=False)


def _setup_line(event: ConfigEvent) -> str:
    """What the run trains on, with what, and where its events go."""
    threads = f" with {event.threads_reason}" if event.threads_reason and event.device == "cpu" else ""
    threads += f", {event.precision_reason}" if event.precision_reason else ""
    cut = f"; {event.reading}" if event.reading else ""
    cut += " (--keep-boilerplate keeps them)" if "Project Gutenberg" in cut else ""
    return (f"training {event.run}: {event.corpus} ({event.corpus_chars:,} chars, {event.vocab_size} symbols{cut}),"
            f" {event.parameters:,} parameters on {event.device}{threads}, {event.batches_per_epoch} batches per"
            f" epoch; events in {event.run_dir}/{RunFolder.EVENTS}")


def print_ending(done: DoneEvent, run_dir) -> None:
    """The last lines of a run: how to resume a stopped one, and the best loss."""
    from charwriter import paths

    name = run_dir.name if run_dir.parent == paths.runs_dir() else str(run_dir)
    if done.reason != "finished":
        print(f"stopped ({done.reason}) at step {done.step}; checkpoint saved — resume with: "
              f"charwriter train --resume {shlex.quote(name)}", file=sys.stderr)
    best = done.best_val_loss
    if best is not None:
        print(f"best validation loss {best:.4f} nats/char ({best / math.log(2):.4f} bits/char); "
              f"model: {done.model}", file=sys.stderr)

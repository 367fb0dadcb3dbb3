"""Pilot tests of the training screen: the form's checks, a real tiny run (curves, sample, stop, resume, finish),
leaving and coming back, a killed trainer, writing with the result, quitting while training, and a snapshot.

The runs are tiny (hidden 16, batch 4, seq 16) and the trainer gets one thread: on two busy cores, torch's
default of one thread per core makes every step wait for a core (a thousand times slower here).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Button, Input, Static

from charwriter import paths
from charwriter.app import CharwriterApp
from charwriter.errors import CorpusError
from charwriter.lm.data import Corpus
from charwriter.runs import train_command
from charwriter.dialogs.resume import ResumeScreen
from charwriter.run_service import RunService, RunsOwner
from charwriter.screens.train import TrainScreen, UseModel
from charwriter.settings import Settings
from charwriter.dialogs.confirm import ConfirmScreen
from charwriter.widgets.loss_plot import LossPlot
from charwriter.widgets.run_list import RunList
from charwriter.widgets.train_form import TrainForm

SIZE = (120, 40)
TINY = {"hidden_size": "16", "num_layers": "1", "dropout": "0", "batch_size": "4", "seq_len": "16",
        "eval_every": "10"}


class TrainApp(RunsOwner, App):
    """The training screen over an empty screen, with the models it asks to write with recorded."""

    def __init__(self, corpus: str | None = None) -> None:
        super().__init__()
        self.corpus = corpus
        self.used: list[Path] = []

    def on_mount(self) -> None:
        self.push_screen(TrainScreen(self.corpus))

    def on_use_model(self, message: UseModel) -> None:
        self.used.append(Path(message.path))


@pytest.fixture(autouse=True)
def one_thread_trainer(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    for service in list(RunService.services):  # never leave a trainer behind a failed test
        service.kill()


async def wait_for(pilot, condition, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.05)


def form_of(app) -> TrainForm:
    return app.screen.query_one(TrainForm)


async def fill(pilot, corpus: Path | str, **values: str) -> None:
    """Wait for the form, then set fields (typing long numbers key by key is slow)."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen._drawn, what="the form")
    form = form_of(app)
    form.query_one("#corpus", Input).value = str(corpus)
    for name, value in values.items():
        form.query_one(f"#{name}", Input).value = value
    await pilot.pause(0.3)  # the check's debounce


def check_text(app) -> str:
    return str(form_of(app).query_one("#check", Static).render())


def manager_of(app) -> RunService:
    return app.runs


def button(app, name: str) -> Button:
    return app.screen.query_one(f"#{name}", Button)


async def start_training(pilot, key: str = "f5") -> RunService:
    """Start the form's run once the form is valid, pressing again if the press met a re-check.

    Setting several fields posts one change message each: on a busy machine a check can end between them, so the
    form reads valid for a moment and the button is disabled again when the press lands.
    """
    app = pilot.app
    manager = manager_of(app)
    deadline = time.monotonic() + 60
    while manager.process is None:
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the trainer to start")
        if form_of(app).valid and not button(app, "start").disabled:
            await (pilot.click("#start") if key == "click" else pilot.press(key))
        await pilot.pause(0.2)
    return manager


async def test_form_shows_defaults_and_corpus_facts(text_file):
    app = TrainApp(str(text_file))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query(TrainForm) and form_of(app).valid, what="a valid form")
        form = form_of(app)
        assert form.query_one("#hidden_size", Input).value == "512"  # the seed's defaults
        assert form.query_one("#batch_size", Input).value == "128"
        text = check_text(app)
        assert "20,000 characters" in text and "batches per epoch" in text and "estimate" in text
        assert not button(app, "start").disabled


@pytest.mark.parametrize("kind", ["missing", "binary", "short", "latin1"])
async def test_invalid_corpus_shows_the_trainers_message_and_starts_nothing(tmp_path, kind):
    path = tmp_path / f"{kind}.txt"
    if kind == "binary":
        path.write_bytes(b"\x00\x01 binary" * 100)
    elif kind == "short":
        path.write_text("A few words only.", encoding="utf-8")
    elif kind == "latin1":
        path.write_bytes("Où est la café? ".encode("latin-1") * 100)
    with pytest.raises(CorpusError) as trainer:
        Corpus.from_file(path).check_size(4, 16, where=str(path))
    app = TrainApp()
    async with app.run_test(size=SIZE) as pilot:
        await fill(pilot, path, **TINY)
        await wait_for(pilot, lambda: str(trainer.value) in check_text(app), what="the trainer's message")
        assert button(app, "start").disabled
        await pilot.press("f5")
        assert manager_of(app).process is None
        assert not paths.runs_dir().exists() or not any(paths.runs_dir().iterdir())


async def test_form_offers_weight_dropout_and_forget_bias(text_file, tmp_path):
    app = TrainApp()
    async with app.run_test(size=SIZE) as pilot:
        await fill(pilot, text_file, weight_dropout="1.5", **TINY)
        await wait_for(pilot, lambda: "--weight-dropout must be in [0, 1)" in check_text(app), what="the refusal")
        assert button(app, "start").disabled
        form = form_of(app)
        assert form.query_one("#forget_bias", Input).value == ""  # PyTorch's init, as the seed
        await fill(pilot, text_file, weight_dropout="0.25", forget_bias="1")
        await wait_for(pilot, lambda: form.valid, what="a valid form")
        request = form.request()
        assert request.options["weight_dropout"] == 0.25 and request.options["forget_bias"] == 1.0
        argv = train_command(request.corpus, tmp_path / "run", request.options)
        assert argv[argv.index("--weight-dropout") + 1] == "0.25" and argv[argv.index("--forget-bias") + 1] == "1.0"
        form.query_one("#forget_bias", Input).value = ""
        # the form re-checks itself after a pause: wait for that check, not only for a valid form (it was valid)
        await wait_for(pilot, lambda: form.valid and form.request().options["forget_bias"] is None,
                       what="the emptied field taken as PyTorch's init")
        assert "--forget-bias" not in train_command(text_file, tmp_path / "run", form.request().options)
        form.load(None, {"hidden_size": 32})  # a run from before these options: their defaults come back
        assert form.query_one("#weight_dropout", Input).value == "0"


@pytest.mark.parametrize("lacks", [None, "no AVX-512, which oneDNN's bf16 LSTM needs"])
async def test_the_form_offers_only_the_precisions_that_train_here(text_file, monkeypatch, lacks):
    """bf16 once a worker has tried it and it ran; on a CPU that cannot (an AVX2-only one), auto and fp32, and a past
    run's bf16 comes back as auto."""
    from textual.widgets import Select

    from charwriter.lm import train

    monkeypatch.setattr(train, "bf16_training_fails", lambda cell="lstm": lacks)
    monkeypatch.setattr(train, "pick_device", lambda name: train.torch.device("cpu"))
    app = TrainApp()
    async with app.run_test(size=SIZE) as pilot:
        await fill(pilot, text_file, **TINY)
        form = form_of(app)
        select = form.query_one("#precision", Select)
        await app.workers.wait_for_complete()
        await pilot.pause()
        offered = ("auto", "fp32") if lacks else ("auto", "fp32", "bf16")
        assert form.offered["precision"] == offered
        assert [value for _, value in select._options] == list(offered)
        form.load(None, {"precision": "bf16"})
        assert select.value == ("auto" if lacks else "bf16")
        await wait_for(pilot, lambda: form.valid, what="a valid form")
        argv = train_command(text_file, Path("run"), form.request().options)
        assert argv[argv.index("--precision") + 1] == select.value


async def test_train_watch_leave_come_back_stop_resume_finish(text_file):
    app = TrainApp()
    async with app.run_test(size=SIZE) as pilot:
        await fill(pilot, text_file, epochs="40", name="tiny", **TINY)
        manager = await start_training(pilot, "click")
        history = manager.live
        assert history.run_dir == paths.runs_dir() / "tiny"
        await wait_for(pilot, lambda: history.sample is not None and len(history.val_loss) >= 1,
                       what="a validation and a sample")

        # Leave the screen: training goes on; a new screen shows the whole history.
        await pilot.press("escape")
        assert not isinstance(app.screen, TrainScreen)
        seen = len(history.train_loss)
        await wait_for(pilot, lambda: len(history.train_loss) > seen, what="more steps while away")
        app.push_screen(TrainScreen())
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, TrainScreen) and manager.shown is history
        await wait_for(pilot, lambda: history.sample.text in str(screen.query_one("#sample", Static).render()),
                       what="the sample on screen")
        stats = str(screen.query_one("#stats", Static).render())
        assert "training" in stats and "ETA" in stats and "thread" in stats
        await wait_for(pilot, lambda: screen.query_one(RunList).get_row(str(history.run_dir))[1] == "running",
                       what="the run listed as running")
        plot = screen.query_one(LossPlot)
        assert set(plot.lines) == {"train", "validation"}

        await pilot.press("f6")  # stop: the trainer saves a checkpoint
        await wait_for(pilot, lambda: not manager.active, what="the trainer to stop")
        assert history.status == "stopped" and history.resumable, history.error
        stopped_at = history.step

        def stats() -> str:
            return str(screen.query_one("#stats", Static).render())

        await wait_for(pilot, lambda: not button(app, "resume").disabled, what="Resume offered")
        assert "ETA" not in stats()  # nothing left to wait for
        assert not button(app, "write").disabled
        assert str(history.run_dir) in [key.value for key in screen.query_one(RunList).rows]

        # Resume with fewer epochs so it finishes soon (one more than it has begun: an idle machine gets further
        # before the stop, and the dialog refuses fewer than were done); the curve continues where it stopped.
        await pilot.press("f7")
        await wait_for(pilot, lambda: isinstance(app.screen, ResumeScreen), what="the resume dialog")
        app.screen.query_one("#epochs", Input).value = str(stopped_at // history.batches_per_epoch + 1)
        await pilot.click("#go")
        await pilot.pause()
        assert not isinstance(app.screen, ResumeScreen), "the dialog refused the epochs"
        await wait_for(pilot, lambda: manager.live is not history and not manager.active, timeout=120,
                       what="the resumed run to finish")
        resumed = manager.live
        assert resumed.status == "finished", resumed.error
        steps = [s for s, _ in resumed.train_loss]
        assert steps == list(range(1, resumed.step + 1)) and resumed.step >= stopped_at
        assert resumed.config.resumed_at_step == stopped_at
        await wait_for(pilot, lambda: "finished" in stats(), what="the run shown finished")
        assert "ETA" not in stats()
        assert str(button(app, "resume").label) == "Extend"  # a finished run may go on for more epochs

        await pilot.press("f8")  # write with this model
        assert app.used == [resumed.run_dir / "best.safetensors"]
        assert not isinstance(app.screen, TrainScreen)


async def test_a_killed_trainer_shows_its_error_and_stays_resumable(text_file):
    app = TrainApp()
    async with app.run_test(size=SIZE) as pilot:
        await fill(pilot, text_file, epochs="40", **TINY)
        manager = await start_training(pilot)
        await wait_for(pilot, lambda: manager.live is not None and manager.live.checkpoints >= 1,
                       what="the first checkpoint (an epoch's end)")
        manager.process.kill()
        await wait_for(pilot, lambda: not manager.active, what="the trainer to die")
        await wait_for(pilot, lambda: "killed" in str(app.screen.query_one("#error", Static).render()),
                       what="the error shown")
        error = str(app.screen.query_one("#error", Static).render())
        assert "killed (SIGKILL)" in error and "Resume continues" in error
        assert any("failed" in n.message for n in app._notifications)
        assert not button(app, "resume").disabled and not button(app, "start").disabled


def fixed_run(tiny_model_path: Path) -> Path:
    """A finished run from fixed events (and a real tiny model as its best.safetensors)."""
    run_dir = paths.runs_dir() / "fixed-run"
    run_dir.mkdir(parents=True)
    events = [{"type": "config", "run": "fixed-run", "run_dir": str(run_dir), "corpus": "corpus.txt",
               "corpus_path": "/nonexistent/corpus.txt", "corpus_chars": 20000, "vocab_size": 47,
               "batches_per_epoch": 50, "total_steps": 100, "parameters": 20367, "device": "cpu",
               "resumed_at_step": 0, "config": {"hidden_size": 32, "num_layers": 2, "dropout": 0.0, "batch_size": 8,
                                                "seq_len": 32, "epochs": 2, "lr": 0.01, "lr_schedule": "constant",
                                                "clip": 5.0, "val_fraction": 0.1, "eval_every": 25}}]
    for step in range(1, 101):
        events.append({"type": "step", "step": step, "epoch": step / 50, "loss": round(3.8 * 0.985 ** step + 0.9, 4),
                       "lr": 0.01, "chars_per_s": 25000.0, "elapsed_s": step * 0.01, "eta_s": (100 - step) * 0.01})
        if step % 25 == 0:
            val = round(3.8 * 0.985 ** step + 1.0, 4)
            events.append({"type": "val", "step": step, "epoch": step / 50, "val_loss": val, "best_val_loss": val,
                           "improved": True})
            events.append({"type": "sample", "step": step, "prime": "\n",
                           "text": "The quiet house stood by the river and every morning she walked along the water."})
    events.append({"type": "done", "step": 100, "reason": "finished", "finished": True, "best_val_loss": 2.0,
                   "last_val_loss": 2.0, "train_seconds": 1.0, "model": str(run_dir / "best.safetensors"),
                   "run_dir": str(run_dir)})
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    shutil.copy(tiny_model_path, run_dir / "best.safetensors")
    return run_dir


async def test_write_with_a_past_run_switches_the_editors_model(tiny_model_path):
    run_dir = fixed_run(tiny_model_path)
    app = CharwriterApp(model=str(tiny_model_path), settings=Settings(greedy=True))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen), what="the training screen")
        table = app.screen.query_one(RunList)
        table.focus()
        await pilot.press("enter")  # open the first (only) past run
        await wait_for(pilot, lambda: not button(app, "write").disabled, what="the run to open")
        await pilot.click("#write")
        await wait_for(pilot, lambda: app.writer.model_path == run_dir / "best.safetensors", timeout=20,
                       what="the editor's model to switch")
        assert app.screen is app.writer and app.settings.model == str(run_dir / "best.safetensors")


async def test_quitting_while_training_asks_to_stop_and_save(text_file):
    app = CharwriterApp(train_corpus=str(text_file), settings=Settings(greedy=True))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen), what="the training screen (--tui)")
        await fill(pilot, text_file, epochs="40", **TINY)
        manager = await start_training(pilot)
        await wait_for(pilot, lambda: manager.live is not None and manager.live.step > 0, what="steps")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.click("#cancel")
        await pilot.pause(0.1)
        assert manager.active and app.is_running
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question again")
        await pilot.click("#stop")
        await wait_for(pilot, lambda: not manager.active, what="the trainer to stop")
        history = manager.live
        assert history.status == "stopped" and (history.run_dir / "checkpoint.safetensors").is_file()




def fake_trainer_argv(events: list[dict], then: str = "") -> list[str]:
    """A stand-in trainer: prints these events as `charwriter train --events -` would, then runs `then`."""
    import sys

    lines = "".join(json.dumps(e) + "\n" for e in events)
    return [sys.executable, "-c", f"import sys, time\nsys.stdout.write({lines!r})\nsys.stdout.flush()\n{then}"]


def fake_events(run_dir: Path, steps: int = 20, finished: bool = True) -> list[dict]:
    config = {"type": "config", "run": run_dir.name, "run_dir": str(run_dir), "corpus": "c.txt", "total_steps": steps,
              "batches_per_epoch": steps, "parameters": 1000, "device": "cpu", "threads": 1,
              "config": {"epochs": 1, "hidden_size": 16, "num_layers": 1, "batch_size": 4, "seq_len": 16}}
    events = [config] + [{"type": "step", "step": i, "epoch": i / steps, "loss": 3.0 - i / steps, "lr": 0.001,
                          "chars_per_s": 1000.0, "elapsed_s": i * 0.1, "eta_s": (steps - i) * 0.1}
                         for i in range(1, steps + 1)]
    events.append({"type": "val", "step": steps, "val_loss": 2.5, "best_val_loss": 2.5, "improved": True})
    if finished:
        events.append({"type": "done", "step": steps, "reason": "finished", "finished": True, "best_val_loss": 2.5})
    return events


async def test_a_run_that_ends_while_writing_says_so(tiny_model_path):
    """The app owns the runs: the writer hears of a finished or failed run on the writing screen."""
    from charwriter.runs import RunHistory

    app = CharwriterApp(model=str(tiny_model_path), settings=Settings(greedy=True))
    async with app.run_test(size=SIZE) as pilot:
        run_dir = paths.runs_dir() / "while-writing"
        app.runs.start(fake_trainer_argv(fake_events(run_dir)), RunHistory(run_dir))
        await wait_for(pilot, lambda: not app.runs.active and app.runs.live.status == "finished", what="the run")
        await wait_for(pilot, lambda: any("while-writing finished" in n.message for n in app._notifications),
                       what="the notification")
        assert app.screen is app.writer and "2.500" in next(n.message for n in app._notifications
                                                              if "finished" in n.message)
        failing = paths.runs_dir() / "failing"
        app.runs.start(fake_trainer_argv(fake_events(failing, finished=False),
                                         "sys.stderr.write('RuntimeError: out of memory\\n'); sys.exit(1)"),
                       RunHistory(failing))
        await wait_for(pilot, lambda: any("failing failed: RuntimeError: out of memory" in n.message
                                          for n in app._notifications), what="the failure's notification")


async def test_coming_back_shows_the_run_at_once_and_keeps_the_form(tiny_model_path):
    from charwriter.runs import RunHistory

    app = CharwriterApp(model=str(tiny_model_path), settings=Settings(greedy=True))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen._drawn, what="the screen")
        screen = app.screen
        form_of(app).query_one("#epochs", Input).value = "7"
        run_dir = paths.runs_dir() / "away"
        app.runs.start(fake_trainer_argv(fake_events(run_dir, finished=False), "time.sleep(30)"), RunHistory(run_dir))
        await wait_for(pilot, lambda: app.runs.live.step == 20, what="the steps")
        await pilot.press("escape")
        assert app.screen is app.writer
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.screen is screen  # the same screen: what the form held is still there
        assert form_of(app).query_one("#epochs", Input).value == "7"
        stats = str(screen.query_one("#stats", Static).render())
        assert stats.startswith("training") and "best val 2.500" in stats  # at once, with no poll to wait for
        assert set(screen.query_one(LossPlot).lines) == {"train", "validation"}
        app.runs.kill()
        await wait_for(pilot, lambda: not app.runs.active, what="the stand-in to end")


async def test_opening_a_past_run_shows_its_settings_without_touching_the_form(tiny_model_path):
    run_dir = fixed_run(tiny_model_path)
    app = TrainApp()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen._drawn, what="the screen")
        form_of(app).query_one("#epochs", Input).value = "40"
        app.screen.open_run(run_dir)
        await pilot.pause()
        assert form_of(app).query_one("#epochs", Input).value == "40"
        settings = str(app.screen.query_one("#settings", Static).render())
        assert "LSTM 32 × 2" in settings and "2 epochs" in settings
        assert str(button(app, "resume").label) == "Extend"


async def test_a_run_that_turned_bf16_says_so_in_its_line(tiny_model_path):
    run_dir = fixed_run(tiny_model_path)
    with open(run_dir / "events.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"type": "precision", "step": 40, "precision": "bf16", "reason": "…"}) + "\n")
    app = TrainApp()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen._drawn, what="the screen")
        app.screen.open_run(run_dir)
        await pilot.pause()
        assert str(app.screen.query_one("#stats", Static).render()).endswith("20,367 params on cpu, bf16 after step 40")


@pytest.mark.parametrize("size", [SIZE, (80, 24), (160, 48)])
def test_snapshot_of_a_finished_run(snap_compare, tiny_model_path, size):
    """At 120×40 you should see, on the left, the New run form as the user left it (the seed's defaults, Precision auto, the line
    "Give a text file to train on."), the buttons (Start dim, Extend, Write with this model green) and the past runs
    table with the row "fixed-run  finished  100/100  2.000  1s"; on the right the plot "fixed-run — loss" with axes
    (step, nats/char), a legend "train" / "validation" and two falling curves, both progress bars full (Epoch 2/2,
    Step 100/100), the line "finished · 25,000 chars/s · loss 1.738 · best val 2.000 · 20,367 params on cpu", the
    run's settings "Settings: LSTM 32 × 2 · dropout 0 · batch 8 × 32 · lr 0.01 · 2 epochs · on corpus.txt", and a
    box "Samples at step 100" with the river sentence. At 160×48 the same, wider, with no "Next view" in the footer.
    At 80×24 only the curves, across the whole width (a readable step axis from 1 to 100), and "f3 Next view"."""
    run_dir = fixed_run(tiny_model_path)

    async def open_run(pilot):
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen._drawn, what="the screen")
        await wait_for(pilot, lambda: "Give a text file" in check_text(pilot.app), what="the form's check")
        screen.open_run(run_dir)
        await wait_for(pilot, lambda: "Settings:" in str(screen.query_one("#settings", Static).render()),
                       what="the run's settings")
        if size[0] >= TrainScreen.NARROW:
            screen.query_one(RunList).focus()
        await pilot.pause(0.2)

    assert snap_compare(TrainApp(), run_before=open_run, terminal_size=size)


async def test_a_narrow_terminal_shows_form_runs_and_curves_in_turn(tiny_model_path):
    fixed_run(tiny_model_path)
    app = TrainApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen._drawn, what="the screen")
        screen = app.screen
        shown = lambda: {name for name in ("form", "runs", "plot") if screen.query_one(f"#{name}").display
                         and screen.query_one(f"#{name}").region.width > 0}
        assert shown() == {"form"} and screen.query_one("#form").region.width == 80
        await pilot.press("f3")
        await pilot.pause()
        assert shown() == {"runs"} and screen.query_one(RunList).row_count == 1
        await pilot.press("enter")  # opening a run shows its curves
        await pilot.pause()
        assert shown() == {"plot"} and screen.query_one(LossPlot).region.width >= 76  # all but the padding
        await pilot.press("f3")
        await pilot.pause()
        assert shown() == {"form"}
    wide = TrainApp()
    async with wide.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(wide.screen, TrainScreen) and wide.screen._drawn, what="the screen")
        assert not wide.screen.check_action("next_view", ())  # side by side: nothing to switch


async def test_the_form_warns_when_the_corpus_is_too_small_for_the_batch(text_file):
    app = TrainApp()
    async with app.run_test(size=SIZE) as pilot:
        await fill(pilot, text_file, batch_size="128", seq_len="100")
        await wait_for(pilot, lambda: form_of(app).valid and "Warning" in check_text(app), what="a checked form")
        assert "Warning: only 1 batch per epoch" in check_text(app) and "batch 2 gives" in check_text(app)


async def test_a_past_run_is_renamed_and_deleted_from_the_list_after_asking(tiny_model_path):
    from charwriter.dialogs.prompt import TextPrompt

    run_dir = fixed_run(tiny_model_path)
    app = TrainApp()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen._drawn, what="the screen")
        screen = app.screen
        table = screen.query_one(RunList)
        table.focus()
        await pilot.press("enter")  # shown, so the renamed run stays shown
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), what="the name prompt")
        app.screen.query_one(Input).value = "river"
        await pilot.press("enter")
        await wait_for(pilot, lambda: (paths.runs_dir() / "river").is_dir(), what="the rename")
        assert not run_dir.exists() and table.get_row(str(paths.runs_dir() / "river"))[0] == "river"
        assert app.runs.shown.run_dir == paths.runs_dir() / "river"
        table.focus()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.click("#cancel")
        await pilot.pause()
        assert (paths.runs_dir() / "river").is_dir()  # Cancel keeps it
        table.focus()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question again")
        await pilot.click("#delete")
        await wait_for(pilot, lambda: not (paths.runs_dir() / "river").exists(), what="the deletion")
        await pilot.pause()
        assert table.row_count == 0 and app.runs.shown is None


def test_smoothing_is_a_trailing_mean():
    from charwriter.widgets.loss_plot import smoothed

    points = [(1, 4.0), (2, 2.0), (3, 3.0), (4, 1.0)]
    assert smoothed(points, 2) == [(1, 4.0), (2, 3.0), (3, 2.5), (4, 2.0)]
    assert smoothed(points, 0) == points


async def test_the_plot_smooths_switches_to_log_and_draws_the_learning_rate(tmp_path):
    run_dir = paths.runs_dir() / "cosine-run"
    run_dir.mkdir(parents=True)
    events = fake_events(run_dir, steps=60)
    for e in events:
        if e["type"] == "step":
            e["lr"] = 0.003 * (1 + math.cos(math.pi * e["step"] / 60)) / 2 + 1e-4
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    app = TrainApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen._drawn, what="the screen")
        app.screen.open_run(run_dir)
        await pilot.pause()
        plot = app.screen.query_one(LossPlot)
        assert plot.has_focus and set(plot.lines) == {"train", "validation", "learning rate"}
        await pilot.press("s")
        assert plot.smoothing == 10 and "train" in plot.lines
        await pilot.press("l")
        assert plot.log_scale
        await pilot.press("l", "s", "s")
        assert not plot.log_scale and plot.smoothing == 0


async def test_two_runs_validation_curves_are_overlaid_to_compare_them(tiny_model_path):
    fixed_run(tiny_model_path)
    other = paths.runs_dir() / "other-run"
    other.mkdir(parents=True)
    (other / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in fake_events(other, steps=40)),
                                        encoding="utf-8")
    app = TrainApp()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen._drawn, what="the screen")
        screen = app.screen
        app.screen.open_run(paths.runs_dir() / "fixed-run")
        table = screen.query_one(RunList)
        table.focus()
        table.move_cursor(row=table.get_row_index(str(other)))
        await pilot.press("c")
        await pilot.pause()
        plot = screen.query_one(LossPlot)
        assert set(plot.lines) == {"train", "validation", "validation, other-run"}
        await pilot.press("c")  # again: taken away
        await pilot.pause()
        assert set(plot.lines) == {"train", "validation"}

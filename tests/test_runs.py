"""Runs without Textual: histories from events.jsonl, run listings, corpus checks, commands, the trainer process.

Fake trainers (a few lines of Python that print events) keep these fast; the Pilot tests drive the real one.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from charwriter import paths
from charwriter.errors import CorpusError, UserError
from charwriter.lm.data import Corpus
from charwriter.runs import (RunHistory, TrainerProcess, app_trainer_threads, check_corpus, check_run_name,
                             downsample, list_runs, read_history, resume_command, train_command)
from charwriter.widgets.path_suggester import PathSuggester
from conftest import make_text


def config_event(step=0, total=20, **extra):
    return {"type": "config", "run": "r", "corpus": "c.txt", "corpus_path": "/c.txt", "corpus_chars": 1000,
            "vocab_size": 30, "batches_per_epoch": 10, "total_steps": total, "parameters": 1234, "device": "cpu",
            "resumed_at_step": step, "config": {"epochs": 2, "hidden_size": 32, "batch_size": 4}, **extra}


def write_events(run_dir: Path, events: list[dict], torn_tail: bool = False) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(e) + "\n" for e in events)
    (run_dir / "events.jsonl").write_text(text + ('{"type": "st' if torn_tail else ""), encoding="utf-8")
    return run_dir


def steps(a, b):
    return [{"type": "step", "step": s, "epoch": s / 10, "loss": 4 - s / 10, "chars_per_s": 100.0, "eta_s": 1.0,
             "elapsed_s": s} for s in range(a, b + 1)]


def test_history_replays_a_stopped_and_resumed_run(tmp_path):
    events = [config_event(), *steps(1, 7), {"type": "val", "step": 5, "val_loss": 3.5, "best_val_loss": 3.5},
              {"type": "sample", "step": 5, "prime": "\n", "text": "hello"},
              {"type": "checkpoint", "step": 5, "reason": "epoch"},
              # killed at step 7; the resumed session repeats steps 6 and 7 from the checkpoint at 5
              config_event(step=5), *steps(6, 20), {"type": "val", "step": 20, "val_loss": 3.0, "best_val_loss": 3.0},
              {"type": "done", "step": 20, "reason": "finished", "finished": True, "best_val_loss": 3.0}]
    history = read_history(write_events(tmp_path / "run", events, torn_tail=True))
    assert [s for s, _ in history.train_loss] == list(range(1, 21))  # no step twice
    assert history.val_loss == [(5, 3.5), (20, 3.0)]
    assert history.sample.text == "hello"
    assert (history.status, history.step, history.total_steps, history.best_val_loss) == ("finished", 20, 20, 3.0)
    assert not history.resumable  # finished


def test_history_says_when_auto_turned_bf16_and_forgets_a_switch_a_resume_repeats(tmp_path):
    switch = {"type": "precision", "step": 6, "precision": "bf16", "reason": "bf16 after step 6: …"}
    events = [config_event(), *steps(1, 7), switch]
    history = read_history(write_events(tmp_path / "a", events))
    assert history.precision == "bf16 after step 6"
    # killed at 7, resumed from a checkpoint at 5: the switch is repeated (or not) by the resumed session
    history = read_history(write_events(tmp_path / "b", [*events, config_event(step=5), *steps(6, 7)]))
    assert history.bf16_after is None
    history = read_history(write_events(tmp_path / "c", [*events, config_event(step=5), *steps(6, 7), switch]))
    assert history.precision == "bf16 after step 6"


def test_history_status_and_resumable(tmp_path):
    stopped = write_events(tmp_path / "a", [config_event(), *steps(1, 3),
                                            {"type": "done", "step": 3, "reason": "interrupted", "finished": False,
                                             "best_val_loss": None}])
    (stopped / "checkpoint.safetensors").write_bytes(b"x")
    history = read_history(stopped)
    assert (history.status, history.resumable) == ("stopped", True)
    failed = read_history(write_events(tmp_path / "b", [config_event(), {"type": "error", "step": 0,
                                                                         "message": "training diverged"}]))
    assert (failed.status, failed.error) == ("failed", "training diverged")
    assert read_history(tmp_path / "missing").status == "incomplete"


def test_list_runs_newest_first(tmp_path):
    root = paths.runs_dir()
    old = write_events(root / "old", [config_event()])
    os.utime(old / "events.jsonl", (1, 1))
    write_events(root / "new", [config_event()])
    (root / "not-a-run").mkdir()
    assert [h.name for h in list_runs()] == ["new", "old"]


def test_check_corpus_says_what_the_trainer_says(tmp_path, text_file):
    info = check_corpus(text_file, batch_size=8, seq_len=32, val_fraction=0.1, hidden_size=32, num_layers=1)
    assert info.chars == 20_000 and info.batches_per_epoch == (18_000 - 1) // (8 * 32)
    assert info.parameters > 0 and info.estimated_epoch_seconds(8, 32) > 0
    short = tmp_path / "short.txt"
    short.write_text("too short", encoding="utf-8")
    binary = tmp_path / "data.bin"
    binary.write_bytes(b"abc\x00def" * 100)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café ".encode("latin-1") * 1000)
    for path in (short, binary, latin, tmp_path / "missing.txt"):
        with pytest.raises(CorpusError) as from_form:
            check_corpus(path, 8, 32, 0.1, 32, 1)
        with pytest.raises(CorpusError) as from_trainer:
            Corpus.from_file(path).check_size(8, 32, where=str(path))
        assert str(from_form.value) == str(from_trainer.value)


def test_run_names(tmp_path):
    assert check_run_name("mine") == paths.runs_dir() / "mine"
    write_events(paths.runs_dir() / "taken", [config_event()])
    for bad in ("a/b", ".hidden", "", "taken"):
        with pytest.raises(UserError):
            check_run_name(bad)


def test_commands(tmp_path):
    argv = train_command("~/t.txt", tmp_path / "r", {"hidden_size": 32, "dropout": 0.0, "lr": None}, "anna")
    assert argv[:4] == [sys.executable, "-m", "charwriter", "train"]
    assert argv[4] == str(Path("~/t.txt").expanduser())
    assert argv[argv.index("--hidden-size") + 1] == "32" and "--lr" not in argv
    assert argv[argv.index("--init-from") + 1] == "anna" and argv[-2:] == ["--events", "-"]
    # only what --resume accepts is passed on: more epochs yes, a different model size no
    resume = resume_command(tmp_path / "r", {"epochs": 5, "hidden_size": 64})
    threads = str(app_trainer_threads())  # every core but the one the editor keeps
    assert resume[4:] == ["--resume", str(tmp_path / "r"), "--epochs", "5", "--threads", threads, "--events", "-"]
    assert "--restart-schedule" in resume_command(tmp_path / "r", {"epochs": 5}, restart_schedule=True)
    assert train_command("t.txt", tmp_path / "run", {"sample_prime": "-Yes,", "extend_vocab": True,
                                                     "keep_boilerplate": False})[7:9] == ["--sample-prime=-Yes,",
                                                                                          "--extend-vocab"]
    assert argv[argv.index("--threads") + 1] == threads


def test_a_trainer_the_app_starts_leaves_a_core_to_the_editor(monkeypatch):
    from charwriter.lm import threads

    for cores, expected in ((1, 1), (2, 1), (8, 7)):
        monkeypatch.setattr(threads, "usable_cores", lambda: cores)
        assert app_trainer_threads() == expected


def test_downsample_keeps_the_last_point():
    points = [(i, float(i)) for i in range(1001)]
    picked = downsample(points, 100)
    assert len(picked) <= 102 and picked[0] == (0, 0.0) and picked[-1] == (1000, 1000.0)
    assert downsample(points[:5], 100) == points[:5]


def fake_trainer(script: str, tmp_path: Path) -> TrainerProcess:
    history = RunHistory(tmp_path / "run")
    return TrainerProcess([sys.executable, "-c", textwrap.dedent(script)], history)


def test_trainer_process_feeds_the_history(tmp_path):
    process = fake_trainer(f"""
        import json
        for e in {[config_event(), *steps(1, 3)]!r}:
            print(json.dumps(e))
        print("a stray line that is not an event")
        print(json.dumps({{"type": "done", "step": 3, "reason": "finished", "finished": True, "best_val_loss": 2.0}}))
    """, tmp_path)
    seen = []
    process.start()
    assert process.follow(seen.append) == 0
    assert [e.kind for e in seen] == ["config", "step", "step", "step", "done"]
    assert process.history.status == "incomplete"  # with a callback, the caller applies the events (the app does)
    for event in seen:
        process.history.add(event)
    process.history.ended(process.failure(0))
    assert process.history.status == "finished" and not process.running


def test_a_crashing_trainer_leaves_its_stderr(tmp_path):
    process = fake_trainer("""
        import sys
        print('{"type": "config", "total_steps": 5, "resumed_at_step": 0}', flush=True)
        print("Traceback (most recent call last):\\nRuntimeError: out of memory", file=sys.stderr)
        sys.exit(1)
    """, tmp_path)
    process.start()
    assert process.follow() == 1
    assert process.history.status == "failed" and "RuntimeError: out of memory" in process.history.error


def test_stop_sends_sigint_and_a_kill_is_reported(tmp_path):
    # A trainer that stops cleanly on SIGINT, as `charwriter train` does.
    process = fake_trainer("""
        import json, signal, sys, time
        def stop(*a):
            print(json.dumps({"type": "done", "step": 1, "reason": "interrupted", "finished": False}), flush=True)
            sys.exit(0)
        signal.signal(signal.SIGINT, stop)
        print(json.dumps({"type": "step", "step": 1, "loss": 3.0}), flush=True)
        time.sleep(30)
    """, tmp_path)
    process.start()
    first = process._proc.stdout.readline()
    assert json.loads(first)["step"] == 1
    process.stop()
    assert process.follow() == 0 and process.history.status == "stopped"

    hung = fake_trainer("import time; print('{\"type\": \"step\", \"step\": 1, \"loss\": 3}', flush=True); "
                        "time.sleep(30)", tmp_path)
    hung.start()
    hung._proc.stdout.readline()
    hung.kill()
    assert hung.follow() < 0 and "killed (SIGKILL)" in hung.history.error


async def test_path_suggester(tmp_path):
    (tmp_path / "corpus.txt").write_text("x")
    (tmp_path / "books").mkdir()
    (tmp_path / ".hidden").write_text("x")
    suggester = PathSuggester()
    assert await suggester.get_suggestion(str(tmp_path / "cor")) == str(tmp_path / "corpus.txt")
    assert await suggester.get_suggestion(str(tmp_path / "bo")) == str(tmp_path / "books") + "/"
    assert await suggester.get_suggestion(str(tmp_path / "zzz")) is None
    assert await suggester.get_suggestion(str(tmp_path) + "/") in (str(tmp_path / "books") + "/",
                                                                   str(tmp_path / "corpus.txt"))


def test_runs_module_does_not_import_textual():
    code = "import sys, charwriter.runs; assert 'textual' not in sys.modules, 'runs imports textual'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_epoch_estimate_uses_the_speed_a_similar_past_run_reached_here(tmp_path, text_file, isolated_home):
    plain = check_corpus(text_file, 8, 32, 0.1, hidden_size=32, num_layers=1)
    assert plain.speed_from is None  # no past runs: the rule of thumb

    def past_run(name, device, batch, speeds):
        run = paths.runs_dir() / name
        run.mkdir(parents=True)
        events = [{"type": "config", "parameters": plain.parameters, "device": device,
                   "config": {"batch_size": batch}}]
        events += [{"type": "step", "step": i + 1, "loss": 3.0, "chars_per_s": v} for i, v in enumerate(speeds)]
        (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))

    past_run("similar", "cpu", 8, [900.0, 1000.0, 1100.0, 5.0, 1000.0])
    past_run("on-a-gpu", "cuda:0", 8, [90_000.0] * 5)  # the latest, but another device
    info = check_corpus(text_file, 8, 32, 0.1, hidden_size=32, num_layers=1)
    assert info.speed_from == "similar" and info.estimated_chars_per_s == 1000.0  # the median step
    assert info.estimated_epoch_seconds(8, 32) == info.batches_per_epoch * 8 * 32 / 1000.0
    big_batch = check_corpus(text_file, 32, 32, 0.1, hidden_size=32, num_layers=1)
    assert big_batch.speed_from is None  # a 4× larger batch runs at another speed: not comparable


def test_check_corpus_for_fine_tuning_uses_the_models_size_and_letters(text_file, tiny_model_path):
    from charwriter.lm.modelfile import read_metadata

    meta = read_metadata(tiny_model_path)
    info = check_corpus(text_file, 8, 32, 0.1, hidden_size=512, num_layers=3, init_from=str(tiny_model_path))
    assert info.vocab_size == len(meta["vocab"])
    plain = check_corpus(text_file, 8, 32, 0.1, hidden_size=meta["config"]["hidden_size"],
                         num_layers=meta["config"]["num_layers"])
    assert info.parameters == plain.parameters  # the form's 512 × 3 gives way to the model's own size
    assert info.fine_tune_size == (meta["config"]["hidden_size"], meta["config"]["num_layers"])


def test_a_stop_before_training_began_is_not_a_failure(tmp_path):
    process = fake_trainer("import time; print('starting', flush=True); time.sleep(30)", tmp_path)
    process.start()
    process._proc.stdout.readline()  # the trainer is up but has not said `config` yet
    process.stop()  # no handler yet: SIGINT ends it with KeyboardInterrupt
    assert process.follow() != 0
    assert process.history.error is None and process.history.status == "incomplete"


def test_a_corpus_too_small_for_its_batch_gets_a_batch_that_suits_it():
    from charwriter.runs import MIN_BATCHES_PER_EPOCH, batch_advice

    advice = batch_advice(7, 128, 100)  # 100 kB at the seed's batch
    assert advice.startswith("only 7 batches per epoch: too few steps") and "batch 16 gives 56" in advice
    assert batch_advice(MIN_BATCHES_PER_EPOCH, 128, 100) is None and batch_advice(139, 128, 100) is None
    assert batch_advice(3, 1, 100) is None  # nothing smaller to offer


def test_runs_are_listed_renamed_and_deleted_from_the_command_line(capsys, monkeypatch):
    from charwriter.__main__ import main

    write_events(paths.runs_dir() / "first", [config_event()])
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("name\tstatus") and "first\tincomplete" in out
    assert main(["runs", "rename", "first", "second"]) == 0
    assert (paths.runs_dir() / "second" / "events.jsonl").is_file() and not (paths.runs_dir() / "first").exists()
    write_events(paths.runs_dir() / "third", [config_event()])
    assert main(["runs", "rename", "second", "third"]) == 2  # taken
    assert "already exists" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["runs", "delete", "second"]) == 2  # no terminal to ask in: needs --yes
    assert "needs a yes" in capsys.readouterr().err and (paths.runs_dir() / "second").is_dir()
    assert main(["runs", "delete", "second", "--yes"]) == 0 and not (paths.runs_dir() / "second").exists()
    assert main(["runs", "delete", "nothing-here", "--yes"]) == 2
    assert "no run named 'nothing-here'" in capsys.readouterr().err
    plain = paths.runs_dir().parent / "not-a-run"
    plain.mkdir()
    assert main(["runs", "delete", str(plain), "--yes"]) == 2 and plain.is_dir()  # only a folder that holds a run


def test_the_forms_check_says_which_characters_a_fine_tune_would_lose_or_add(tiny_model_path, tmp_path):
    text = tmp_path / "fr.txt"
    text.write_text(make_text(20_000).replace("e ", "é "), encoding="utf-8")
    plain = check_corpus(text, 8, 32, 0.1, 32, 1, init_from=str(tiny_model_path))
    extended = check_corpus(text, 8, 32, 0.1, 32, 1, init_from=str(tiny_model_path), extend_vocab=True)
    assert plain.unseen == "é" and not plain.extended
    assert extended.extended and extended.vocab_size == plain.vocab_size + 1


def test_the_run_folder_names_the_files_a_run_writes_and_every_reader_finds_them(text_file, capsys):
    """The trainer writes what `RunFolder` names, and the history, the model list and a fresh start read them."""
    from charwriter.__main__ import main
    from charwriter.lm.registry import list_models
    from charwriter.lm.run_folder import RunFolder

    assert main(["train", str(text_file), "--hidden-size", "16", "--num-layers", "1", "--batch-size", "4",
                 "--seq-len", "16", "--epochs", "1", "--sample-length", "10", "--name", "named"]) == 0
    folder = RunFolder(paths.runs_dir() / "named")
    assert {p.name for p in folder.path.iterdir()} == {RunFolder.EVENTS, RunFolder.CHECKPOINT, RunFolder.BEST,
                                                       RunFolder.LAST}
    history = read_history(folder.path)
    assert history.best_model == folder.best and history.has_checkpoint and history.status == "finished"
    assert [e.path for e in list_models() if e.source == "run"] == [folder.best]
    kept = folder.set_aside_events()
    assert kept.name.startswith("events.before-") and not folder.events.exists() and folder.holds_run()
    assert not RunFolder(folder.path / "nothing").holds_run()

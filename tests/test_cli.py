"""The `charwriter` command line: train, generate, eval, models, and its one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from charwriter.__main__ import main

from conftest import make_text, rewrite_metadata

TINY_ARGS = ["--hidden-size", "16", "--num-layers", "1", "--batch-size", "4", "--seq-len", "16", "--dropout", "0",
             "--eval-every", "10", "--sample-length", "10"]


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def bad_corpus(tmp_path, case):
    path = tmp_path / "bad.txt"
    if case == "missing":
        return tmp_path / "nope.txt"
    if case == "directory":
        return tmp_path
    if case == "empty":
        path.write_text("  \n")
    elif case == "binary":
        path.write_bytes(b"hello\x00\x01\x02world" * 10)
    elif case == "not utf-8":
        path.write_bytes("caf".encode() + "é au lait".encode("cp1252"))
    elif case == "too short":
        path.write_text("just a few words")
    elif case == "utf-16":
        path.write_text("The quiet house stood by the river. " * 50, encoding="utf-16")
    elif case == "fifo":
        os.mkfifo(path)
    elif case == "device":
        return Path("/dev/zero")
    return path


@pytest.mark.parametrize("case, message", [
    ("missing", "corpus not found"),
    ("directory", "no files matching *.txt,*.md in"),
    ("empty", "corpus is empty"),
    ("binary", "looks binary (NUL byte at offset 5)"),
    ("not utf-8", "not valid utf-8 (byte 0xe9 at offset 3)"),
    ("too short", "corpus too small"),
    ("utf-16", "looks like UTF-16 text"),
    ("fifo", "is a named pipe (FIFO), not a regular file"),
    ("device", "is a device, not a regular file"),
])
def test_train_refuses_bad_corpora_with_one_line_and_exit_code_2(tmp_path, capsys, case, message):
    code, out, err = run_cli(["train", str(bad_corpus(tmp_path, case)), *TINY_ARGS], capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if case == "not utf-8":
        assert "--encoding" in err
    if case == "too short":
        assert "--batch-size" in err and "at least" in err
    if case == "utf-16":
        assert "--encoding utf-16" in err


@pytest.mark.parametrize("case", ["fifo", "device"])
def test_no_command_reads_a_pipe_or_a_device(tmp_path, capsys, case):
    """A FIFO would block every read forever and /dev/zero never ends: each is refused at once with one line."""
    bad = str(bad_corpus(tmp_path, case))
    for args in (["write", bad], ["eval", bad], ["generate", "--prime-file", bad, "--length", "1"],
                 ["generate", "--model", bad, "--length", "1"], ["eval", str(tmp_path / "x"), "--model", bad]):
        code, out, err = run_cli(args, capsys)
        assert code == 2 and "not a regular file" in err and len(err.strip().splitlines()) == 1, (args, err)


@pytest.mark.parametrize("option, value, message", [
    ("--dropout", "1", "--dropout must be in [0, 1)"),
    ("--weight-dropout", "-0.1", "--weight-dropout must be in [0, 1)"),
    ("--lr", "0", "--lr must be positive"),
])
def test_train_refuses_bad_hyperparameters_with_one_line(text_file, tmp_path, capsys, option, value, message):
    code, out, err = run_cli(["train", str(text_file), *TINY_ARGS, option, value, "--out", str(tmp_path / "r")],
                             capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_train_refuses_bf16_on_a_cpu_that_cannot_train_in_it_with_one_line(text_file, tmp_path, capsys,
                                                                           monkeypatch):
    """As on an AVX2-only CPU (the probe's answer there, `ONEDNN_MAX_CPU_ISA=AVX2` here): one line, exit 2, no run."""
    from charwriter.lm import train

    monkeypatch.setattr(train, "bf16_training_fails", lambda cell="lstm": "no AVX-512, which oneDNN's bf16 LSTM needs")
    code, out, err = run_cli(["train", str(text_file), *TINY_ARGS, "--precision", "bf16", "--out", str(tmp_path / "r")],
                             capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "this CPU cannot train an LSTM in bf16 (no AVX-512" in err and "use --precision fp32 or auto" in err
    assert not (tmp_path / "r").exists()


def test_weight_dropout_trains_and_is_recorded_with_the_model(text_file, tmp_path, capsys):
    code, out, err = run_cli(["train", str(text_file), *TINY_ARGS, "--epochs", "1", "--weight-dropout", "0.25",
                              "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    from charwriter.lm.checkpoint import load_model

    model = load_model(tmp_path / "run" / "best.safetensors")
    assert model.model.config.weight_dropout == 0.25
    code, out, err = run_cli(["eval", str(text_file), "--model", str(tmp_path / "run" / "best.safetensors")], capsys)
    assert code == 0, err


def test_fine_tuning_keeps_the_architecture_and_records_the_dropout_it_used(text_file, tiny_model_path, tmp_path,
                                                                            capsys):
    from charwriter.lm.checkpoint import load_model

    short = ["--batch-size", "4", "--seq-len", "16", "--epochs", "1", "--max-steps", "2", "--eval-every", "1",
             "--sample-length", "5", "--init-from", str(tiny_model_path)]
    code, out, err = run_cli(["train", str(text_file), *short, "--dropout", "0.2", "--out", str(tmp_path / "a")],
                             capsys)
    assert code == 0, err
    tuned = load_model(tmp_path / "a" / "best.safetensors")
    assert tuned.config.hidden_size == 32 and tuned.config.dropout == 0.2  # trained with what it says
    assert tuned.training["hyperparameters"]["dropout"] == 0.2
    parent = load_model(tiny_model_path).training
    assert tuned.training["started_from"]["steps"] == parent["steps"] > 0  # lineage: what it was fine-tuned from
    assert tuned.training["total_steps"] == parent["steps"] + tuned.training["steps"]
    code, out, err = run_cli(["train", str(text_file), *short[:-2], "--max-steps", "1", "--init-from",
                              str(tiny_model_path), "--out", str(tmp_path / "b")], capsys)
    assert code == 0, err
    code, out, err = run_cli(["train", "--resume", str(tmp_path / "b"), "--max-steps", "2"], capsys)
    assert code == 0, err
    inherited = load_model(tmp_path / "b" / "last.safetensors")
    assert inherited.config.dropout == 0.0 == inherited.training["hyperparameters"]["dropout"]  # the model's own
    assert inherited.training["steps"] == 2 and inherited.training["total_steps"] == parent["steps"] + 2  # resumed


def test_encoding_option_reads_other_encodings(tmp_path, capsys):
    path = tmp_path / "latin.txt"
    path.write_bytes(make_text(3000).replace("the", "thé").encode("cp1252"))
    code, out, err = run_cli(["train", str(path), *TINY_ARGS, "--epochs", "1", "--encoding", "cp1252",
                              "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    from charwriter.lm.checkpoint import load_model

    assert "é" in load_model(tmp_path / "run" / "best.safetensors").vocab


def test_train_generate_eval_and_models(text_file, tmp_path, capsys):
    code, out, err = run_cli(["train", str(text_file), *TINY_ARGS, "--epochs", "1", "--name", "mini"], capsys)
    assert code == 0, err
    assert "best validation loss" in err
    code, out, err = run_cli(["models"], capsys)
    assert code == 0 and "mini" in out and "corpus.txt" in out
    args = ["generate", "--model", "mini", "--prime", "The 😀", "--length", "40", "--seed", "3"]
    code, first, err = run_cli(args, capsys)
    assert code == 0 and first.startswith("The 😀") and len(first) == len("The 😀") + 40 + 1
    assert "warning: skipped characters" in err and "😀" in err
    code, second, _ = run_cli(args, capsys)
    assert second == first
    code, out, err = run_cli(["eval", str(text_file), "--model", "mini"], capsys)
    assert code == 0 and "nats/char" in out and "bits/char" in out


def test_models_keeps_each_path_whole(tiny_model_path, monkeypatch, capsys):
    """Piped, every row is one line with the whole path (for grep); in a terminal too narrow for the table, the
    paths follow it, one per line, instead of being squeezed into a column a few characters wide."""
    from charwriter import paths

    models = paths.user_models_dir()
    models.mkdir(parents=True, exist_ok=True)
    target = models / ("a-model-with-a-rather-long-name-" + "x" * 40 + ".safetensors")
    shutil.copy(tiny_model_path, target)
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    code, out, _ = run_cli(["models"], capsys)
    assert code == 0
    assert any(str(target) in line and target.stem in line for line in out.splitlines())
    assert out.splitlines()[0].split("\t")[0] == "name" and not set("│┃━─┏") & set(out)  # plain rows, no box
    assert all(len(line.split("\t")) == 7 for line in out.splitlines())
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run_cli(["models"], capsys)
    assert code == 0 and f"{target.stem}: {target}" in out.replace("\n", "")
    assert "path" not in out.splitlines()[2]  # the header row: no path column


def test_generate_reads_the_prime_from_a_file(tiny_model_path, tmp_path, capsys):
    prime = tmp_path / "prime.txt"
    prime.write_text("Her brother")
    code, out, _ = run_cli(["generate", "--model", str(tiny_model_path), "--prime-file", str(prime),
                            "--length", "10", "--greedy"], capsys)
    assert code == 0 and out.startswith("Her brother") and len(out) == 11 + 10 + 1


def test_unknown_model_name_is_one_line(capsys):
    code, _, err = run_cli(["generate", "--model", "no-such-model"], capsys)
    assert code == 2 and "no model named 'no-such-model'" in err


def test_events_stream_and_sigint_saves_a_resumable_checkpoint(tmp_path, isolated_home):
    corpus = tmp_path / "c.txt"
    corpus.write_text(make_text(20000))
    env = dict(os.environ, CHARWRITER_HOME=str(isolated_home), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "charwriter", "train", str(corpus), *TINY_ARGS, "--epochs", "50", "--name", "sig",
           "--events", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    events = []
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["type"] == "step" and events[-1]["step"] >= 15:
            proc.send_signal(signal.SIGINT)
            break
        assert time.monotonic() < deadline
    out, err = proc.communicate(timeout=60)
    events += [json.loads(line) for line in out.splitlines()]
    assert proc.returncode == 0, err
    assert "resume with: charwriter train --resume sig" in err
    done = events[-1]
    assert done["type"] == "done" and done["reason"] == "interrupted"
    assert any(e["type"] == "checkpoint" and e["reason"] == "stop" for e in events)

    resume = [sys.executable, "-m", "charwriter", "train", "--resume", "sig", "--epochs", "1", "--events", "-"]
    result = subprocess.run(resume, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    resumed = [json.loads(line) for line in result.stdout.splitlines()]
    assert resumed[0]["type"] == "config" and resumed[0]["resumed_at_step"] == done["step"]
    assert resumed[-1]["type"] == "done"


def test_resume_refuses_changed_hyperparameters_and_unknown_runs(capsys):
    code, _, err = run_cli(["train", "--resume", "nothing-here"], capsys)
    assert code == 2 and "no resumable run" in err


def test_resume_refuses_a_new_model_or_other_text_and_extends_a_finished_run(tmp_path, capsys, isolated_home):
    corpus = tmp_path / "c.txt"
    corpus.write_text(make_text(6000))
    code, _, err = run_cli(["train", str(corpus), *TINY_ARGS, "--epochs", "1", "--name", "ext"], capsys)
    assert code == 0, err
    for args, message in ((["--hidden-size", "32"], "cannot change --hidden-size when resuming"),
                          (["--lr", "0.1", "--dropout", "0.2"], "cannot change --dropout, --lr when resuming")):
        code, _, err = run_cli(["train", "--resume", "ext", *args], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    other = tmp_path / "other.txt"
    other.write_text(make_text(6000)[::-1])
    code, _, err = run_cli(["train", str(other), "--resume", "ext"], capsys)
    assert code == 2 and "is not the text this run was trained on" in err, err

    # A finished run goes on for more epochs: the steps continue from where it ended.
    events_path = isolated_home / "data" / "runs" / "ext" / "events.jsonl"
    first = [json.loads(line) for line in events_path.read_text().splitlines()]
    ended = first[-1]
    assert ended["type"] == "done" and ended["finished"]
    code, _, err = run_cli(["train", "--resume", "ext", "--epochs", "2"], capsys)
    assert code == 0, err
    later = [json.loads(line) for line in events_path.read_text().splitlines()][len(first):]
    assert later[0]["type"] == "config" and later[0]["resumed_at_step"] == ended["step"]
    assert later[0]["total_steps"] == 2 * ended["step"] and later[-1]["finished"]
    assert later[-1]["step"] == 2 * ended["step"]


def test_train_options_are_the_configs_own(capsys):
    """Every TrainConfig hyperparameter is an option with its help and choices; a bad choice is one line, exit 2."""
    from charwriter.__main__ import build_parser
    from charwriter.lm.config import HYPERPARAMETERS, option_of

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    by_dest = {action.dest: action for action in train._actions}
    for name in HYPERPARAMETERS:
        assert by_dest[name].help == option_of(name).help
        assert by_dest[name].choices == option_of(name).choices
    for option, value in (("--cell", "rnn"), ("--lr-schedule", "linear"), ("--device", "tpu")):
        with pytest.raises(SystemExit) as exit:
            build_parser().parse_args(["train", "x.txt", option, value])
        assert exit.value.code == 2
        assert f"argument {option}: invalid choice" in capsys.readouterr().err


def test_eval_with_the_memory_scores_the_tail_as_one_stream_with_and_without_it(tiny_model_path, tmp_path, capsys):
    """On a text that repeats its own phrases the memory lowers the loss; the one-stream score without it is
    the model's own (the same as scoring the stream by hand)."""
    import re

    import torch

    from charwriter.lm.checkpoint import load_model
    from charwriter.lm.data import Corpus

    corpus = tmp_path / "repeats.txt"
    corpus.write_text(make_text(6_000, seed=4) + " Morvath kept the old mill by the water." * 30, encoding="utf-8")
    code, out, err = run_cli(["eval", str(corpus), "--model", str(tiny_model_path), "--memory"], capsys)
    assert code == 0, err
    alone, mixed = map(float, re.search(r"([\d.]+) nats/char alone, ([\d.]+) with the document memory", out).groups())
    assert mixed < alone - 0.3
    loaded = load_model(tiny_model_path)
    data = Corpus.from_text(corpus.read_text(encoding="utf-8"), vocab=loaded.vocab).data.tolist()
    split = int(len(data) * 0.9)
    stream = data[split - 1000 :]
    with torch.no_grad():
        logits, _ = loaded.model.eval()(torch.tensor([stream]))
    losses = torch.nn.functional.cross_entropy(logits[0, 999:-1], torch.tensor(stream[1000:]), reduction="none")
    assert losses.mean().item() == pytest.approx(alone, abs=2e-4)


@pytest.mark.parametrize("args, message", [
    (["eval", "x.txt", "--seq-len", "-5"], "--seq-len: -5 is out of range"),
    (["eval", "x.txt", "--batch-size", "0"], "--batch-size: 0 is out of range"),
    (["eval", "x.txt", "--val-fraction", "1.5"], "--val-fraction: 1.5 is out of range"),
    (["generate", "--temperature", "nan"], "--temperature: 'nan' is not a finite number"),
    (["generate", "--seed", str(2**70)], "--seed: "),
    (["generate", "--top-k", "-1"], "--top-k: -1 is out of range"),
    (["train", "x.txt", "--lr", "inf"], "--lr: 'inf' is not a finite number"),
    (["train", "x.txt", "--val-fraction", "0"], "--val-fraction: 0 is out of range"),
])
def test_out_of_range_options_get_one_line_and_exit_code_2(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(args)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err and len(err.strip().splitlines()) == 1 and "usage" not in err


def test_the_resume_hint_can_be_pasted_for_any_run_name(text_file, tmp_path, capsys):
    import shlex

    name = "my run é"
    code, out, err = run_cli(["train", str(text_file), *TINY_ARGS, "--max-steps", "2", "--name", name], capsys)
    assert code == 0, err
    hint = err.split("resume with: ", 1)[1].splitlines()[0]
    assert shlex.split(hint) == ["charwriter", "train", "--resume", name]
    # A kill during a checkpoint write leaves its temporary file: the next start of the run removes it.
    from charwriter import paths

    run_dir = paths.runs_dir() / name
    stale = run_dir / ".checkpoint.safetensors.abc123.tmp"
    stale.write_bytes(b"")
    code, out, err = run_cli(["train", "--resume", name, "--max-steps", "3"], capsys)
    assert code == 0, err
    assert not stale.exists() and (run_dir / "checkpoint.safetensors").exists()


def test_a_model_with_odd_metadata_is_listed_as_unusable_not_a_crash(tiny_model_path, tmp_path, capsys):
    """Hand-edited or foreign metadata (a string for the loss, a list for the corpus, a JSON list for the whole
    entry): `charwriter models` lists the file, and loading it gives one line."""
    from charwriter import paths

    def odd(meta):
        meta["training"].update(best_val_loss="oops", corpus=["a", "list"])

    folder = paths.user_models_dir()
    rewrite_metadata(tiny_model_path, folder / "odd.safetensors", odd)
    rewrite_metadata(tiny_model_path, folder / "listed.safetensors", lambda meta: [1, 2])
    code, out, err = run_cli(["models"], capsys)
    assert code == 0 and "odd" in out and "listed" in out and "Traceback" not in err
    code, out, err = run_cli(["generate", "--model", str(folder / "listed.safetensors"), "--length", "1"], capsys)
    assert code == 2 and "not a JSON object" in err and len(err.strip().splitlines()) == 1


def test_a_run_killed_before_its_first_checkpoint_can_be_resumed_or_started_again(text_file, capsys):
    """A crash before the first checkpoint leaves events but nothing to resume from: --resume starts it again
    from step 0 with its own settings, and so does the same command again; the earlier events are kept aside."""
    from charwriter import paths

    code, out, err = run_cli(["train", str(text_file), *TINY_ARGS, "--max-steps", "2", "--name", "early"], capsys)
    assert code == 0, err
    run_dir = paths.runs_dir() / "early"
    (run_dir / "checkpoint.safetensors").unlink()  # as if killed before the first checkpoint was renamed
    code, out, err = run_cli(["train", "--resume", "early", "--max-steps", "2"], capsys)
    assert code == 0 and "starting it again from step 0" in err, err
    assert (run_dir / "checkpoint.safetensors").exists() and list(run_dir.glob("events.before-*.jsonl"))
    (run_dir / "checkpoint.safetensors").unlink()
    code, out, err = run_cli(["train", str(text_file), *TINY_ARGS, "--max-steps", "2", "--name", "early"], capsys)
    assert code == 0 and "starting it again" in err, err
    assert len(list(run_dir.glob("events.before-*.jsonl"))) == 2  # both earlier starts kept, none overwritten


def test_eval_and_generate_at_each_precision(tiny_model_path, text_file, capsys):
    """eval --precision scores with the suggestions' step (within a hair of fp32 for a faithful precision);
    generate runs at one; an unknown precision is one line and exit 2."""
    import re

    from charwriter.lm import precision
    from charwriter.lm.checkpoint import load_model

    code, out, _ = run_cli(["eval", str(text_file), "--model", str(tiny_model_path)], capsys)
    reference = float(re.search(r"([\d.]+) nats/char", out).group(1))
    model = load_model(tiny_model_path).model
    for name in precision.available(model):
        code, out, err = run_cli(["eval", str(text_file), "--model", str(tiny_model_path), "--precision", name],
                                 capsys)
        assert code == 0, err
        loss = float(re.search(r"([\d.]+) nats/char", out).group(1))
        assert abs(loss - reference) <= (1e-4 if name in ("fp32", "fp16") else 0.02), (name, loss, reference)
        if name != "fp32":
            assert f"step at {name}" in out
        code, out, err = run_cli(["generate", "--model", str(tiny_model_path), "--precision", name, "--length", "30",
                                  "--seed", "1"], capsys)
        assert code == 0 and len(out) >= 30, err
    with pytest.raises(SystemExit) as stop:
        main(["generate", "--model", str(tiny_model_path), "--precision", "int4"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "invalid choice: 'int4'" in err and len(err.strip().splitlines()) == 1


def test_version_and_the_prime_read_as_the_editor_reads_it(tiny_model_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip().startswith("charwriter 0.")
    code, out, err = run_cli(["generate", "--model", str(tiny_model_path), "--prime", "the caf\u00e9 by the river\u00a0"
                              "\U0001F600", "--length", "5", "--seed", "1"], capsys)
    assert code == 0 and "\u00e9" not in err and "\U0001F600" in err  # é is read as e, as in the editor; 😀 has none


def test_ctrl_c_stops_generate_cleanly(tiny_model_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "charwriter", "generate", "--model", str(tiny_model_path),
                             "--length", "100000000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    first = proc.stdout.read(20)  # it is generating
    assert first and time.monotonic() < deadline
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and b"Traceback" not in err and b"KeyboardInterrupt" not in err


def test_eval_scores_the_whole_file_unless_asked_to_cut_the_boilerplate(tiny_model_path, tmp_path, capsys):
    """The seed's split of the whole file stays the default (so 1.2917 stays comparable); --cut-boilerplate
    scores a Project Gutenberg file's book only, as `charwriter train` trains on it."""
    import re

    header = "*** START OF THE PROJECT GUTENBERG EBOOK X ***\n"
    licence = "*** END OF THE PROJECT GUTENBERG EBOOK X ***\n" + "Licence text. " * 200
    path = tmp_path / "book.txt"
    path.write_text(header + make_text(8000) + "\n" + licence, encoding="utf-8")
    chars = {}
    for flag in ([], ["--cut-boilerplate"]):
        code, out, err = run_cli(["eval", str(path), "--model", str(tiny_model_path), *flag], capsys)
        assert code == 0, err
        chars[bool(flag)] = int(re.search(r"\(([\d,]+) chars", out).group(1).replace(",", ""))
        assert ("cut the Project Gutenberg header" in err) == bool(flag)
    assert chars[True] < chars[False]


def test_eval_adapt_scores_the_tail_with_the_model_adapted_to_the_text_before_it(tiny_model_path, tmp_path, capsys):
    import re

    from conftest import writers_text

    corpus = tmp_path / "style.txt"
    corpus.write_text(writers_text(30_000), encoding="utf-8")
    code, out, err = run_cli(["eval", str(corpus), "--model", str(tiny_model_path), "--adapt"], capsys)
    assert code == 0, err
    static = float(re.search(r"\): ([\d.]+) nats/char", out).group(1))
    adapted, change = re.search(r"adapted to the last 27,000 chars before it .*: ([\d.]+) nats/char \(([-+][\d.]+)\)",
                                out).groups()
    assert float(adapted) < static - 0.2 and float(change) == pytest.approx(float(adapted) - static, abs=1e-4)
    short = tmp_path / "short.txt"
    short.write_text(writers_text(8_000), encoding="utf-8")
    code, out, err = run_cli(["eval", str(short), "--model", str(tiny_model_path), "--adapt", "--seq-len", "50"],
                             capsys)
    assert code == 2 and "too few to adapt the model to" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_eval_scores_another_text_on_the_seed_s_split_and_the_training_corpus_on_its_own(tmp_path, capsys):
    """A model that held out 5 % of its corpus is scored on that 5 % of its corpus, and on the seed's last 10 % of
    any other text (a general model's 1 % would say little of a writer's book)."""
    from charwriter.lm.data import Corpus
    from charwriter.lm.train import TrainConfig, Trainer

    corpus = Corpus.from_text(make_text(12_000, seed=7), name="own.txt", val_fraction=0.05)
    (tmp_path / "own.txt").write_text(corpus.text, encoding="utf-8")
    config = TrainConfig(hidden_size=16, num_layers=1, dropout=0.0, batch_size=4, seq_len=32, epochs=1, lr=1e-2,
                         eval_every=0, seed=0, sample_length=10, precision="fp32", val_fraction=0.05)
    Trainer(corpus, config, tmp_path / "run").run()
    model = str(tmp_path / "run" / "best.safetensors")
    (tmp_path / "other.txt").write_text(make_text(12_000, seed=8), encoding="utf-8")
    code, out, err = run_cli(["eval", str(tmp_path / "own.txt"), "--model", model], capsys)
    assert code == 0 and "on the last 0.05 of own.txt" in out, (out, err)
    code, out, err = run_cli(["eval", str(tmp_path / "other.txt"), "--model", model], capsys)
    assert code == 0 and "on the last 0.1 of other.txt" in out, (out, err)


def test_train_refuses_a_bad_run_name_an_existing_run_and_a_bad_events_target_in_one_line(text_file, capsys):
    """Refused before any training, each with one line and exit code 2: a run name that is not a plain folder name
    (the rule the training form uses too), a new run where one with a checkpoint already is, --events to anything
    but stdout, and --tui with --resume."""
    from charwriter import paths

    for name in ("a/b", ".hidden", "back\\slash"):
        code, _, err = run_cli(["train", str(text_file), *TINY_ARGS, "--name", name], capsys)
        assert code == 2 and "use a plain name" in err and len(err.strip().splitlines()) == 1, err
    code, _, err = run_cli(["train", str(text_file), *TINY_ARGS, "--max-steps", "2", "--name", "here"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["train", str(text_file), *TINY_ARGS, "--name", "here"], capsys)
    assert code == 2 and "a run already exists at" in err and "--resume" in err, err
    code, _, err = run_cli(["train", str(text_file), *TINY_ARGS, "--max-steps", "2", "--name", "ev", "--events",
                            "out.json"], capsys)
    assert code == 2 and "--events takes '-'" in err and "events.jsonl" in err, err
    code, _, err = run_cli(["train", "--tui", "--resume", "here"], capsys)
    assert code == 2 and "--tui opens the training screen" in err, err
    assert not (paths.runs_dir() / "a").exists() and not (paths.runs_dir() / ".hidden").exists()

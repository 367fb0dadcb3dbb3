"""Damaged files are called damaged: a checksum of the weights written with every model and checkpoint, every
metadata field checked against one schema (types and ranges), and one reader for a prime from a file or stdin."""

from __future__ import annotations

import io
import shutil
import struct
import sys

import pytest

from charwriter.__main__ import main
from charwriter.errors import UserError
from charwriter.lm.checkpoint import load_checkpoint, load_model
from charwriter.lm.config import HYPERPARAMETERS, TrainConfig, kind_of
from charwriter.lm.modelfile import CHECKSUM_KEY, PROGRESS, SUMMARY, check_training
from conftest import make_text, rewrite_metadata

TINY = ["--hidden-size", "8", "--num-layers", "1", "--batch-size", "4", "--seq-len", "16", "--epochs", "1",
        "--eval-every", "0", "--threads", "1", "--precision", "fp32", "--device", "cpu", "--max-steps", "3"]


def one_line(code: int, capsys) -> str:
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def flip_a_weight_byte(path, offset_from_end: int = 7) -> None:
    """Change one byte in the tensor data, as a disk or a copy might (the header is left as written)."""
    raw = bytearray(path.read_bytes())
    header_end = 8 + struct.unpack("<Q", raw[:8])[0]
    at = max(header_end, len(raw) - offset_from_end)
    raw[at] ^= 0x10
    path.write_bytes(bytes(raw))


def test_a_weight_changed_after_writing_is_called_damaged(tiny_model_path, tmp_path, capsys):
    damaged = tmp_path / "damaged.safetensors"
    shutil.copy(tiny_model_path, damaged)
    flip_a_weight_byte(damaged)
    with pytest.raises(UserError, match="is damaged: its weights changed after it was written"):
        load_model(damaged)
    from charwriter.lm.preview import Preview

    with pytest.raises(UserError, match="is damaged"):  # the numpy reader of the first grey text refuses it too
        Preview.load(damaged)
    assert "is damaged" in one_line(main(["generate", "--model", str(damaged), "--length", "3"]), capsys)


def test_a_damaged_checkpoint_is_not_blamed_on_the_learning_rate(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(make_text(6000), encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", str(corpus), "--out", str(run), *TINY]) == 0
    capsys.readouterr()
    for offset in (7, 4000):  # the last tensor's bytes, and somewhere among the weights
        flip_a_weight_byte(run / "checkpoint.safetensors", offset)
        err = one_line(main(["train", "--resume", str(run), "--max-steps", "6"]), capsys)
        assert "is damaged" in err and "--lr" not in err


def test_models_written_before_checksums_still_load(tiny_model_path, tmp_path):
    def without_checksum(meta):
        del meta[CHECKSUM_KEY]

    older = rewrite_metadata(tiny_model_path, tmp_path / "older.safetensors", without_checksum)
    assert load_model(older).vocab == load_model(tiny_model_path).vocab


@pytest.mark.parametrize("field, value", [
    ("hyperparameters", "x"), ("batch_size", "8"), ("val_fraction", "0.1"), ("seq_len", -5), ("val_fraction", 5),
    ("hyperparameters.val_fraction", 5), ("best_val_loss", "oops"), ("started_from", [1]), ("corpus_chars", -1),
])
def test_eval_refuses_metadata_of_the_wrong_type_or_range_in_one_line(tiny_model_path, tmp_path, capsys, field,
                                                                       value):
    def edit(meta):
        training = meta["training"]
        if field in ("batch_size", "seq_len"):
            training["hyperparameters"][field] = value
        elif field.startswith("hyperparameters."):
            training["hyperparameters"][field.split(".")[1]] = value
        else:
            training[field] = value

    odd = rewrite_metadata(tiny_model_path, tmp_path / "odd.safetensors", edit)
    text = tmp_path / "text.txt"
    text.write_text(make_text(3000), encoding="utf-8")
    err = one_line(main(["eval", str(text), "--model", str(odd)]), capsys)
    assert "invalid charwriter metadata" in err and field.split(".")[-1] in err


def test_every_metadata_field_of_the_schema_is_checked(tiny_model_path, tmp_path):
    """Each field of a model's training summary and of its hyperparameters, given a value of the wrong type: the
    loader refuses it with one line."""
    wrong = {int: "1", float: "0.5", str: 5, bool: "yes"}
    cases = [(name, wrong[kind]) for name, (kind, _) in SUMMARY.items()]
    cases += [(f"hyperparameters.{name}", wrong[kind_of(name)]) for name in HYPERPARAMETERS]
    for name, value in cases:
        def edit(meta):
            training = meta["training"].setdefault("hyperparameters", {}) if "." in name else meta["training"]
            training[name.split(".")[-1]] = value

        path = rewrite_metadata(tiny_model_path, tmp_path / "field.safetensors", edit)
        with pytest.raises(UserError, match="invalid charwriter metadata") as refused:
            load_model(path)
        assert "\n" not in str(refused.value) and name.split(".")[-1] in str(refused.value)
    assert len(cases) > 40


def test_every_progress_field_of_a_checkpoint_is_checked(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(make_text(6000), encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", str(corpus), "--out", str(run), *TINY]) == 0
    checkpoint = run / "checkpoint.safetensors"
    for name, (kind, option) in PROGRESS.items():
        for value in ({int: "3", float: "x", bool: 1}[kind], -1 if kind is not bool else None):
            def edit(meta):
                meta["progress"][name] = value

            path = rewrite_metadata(checkpoint, tmp_path / "odd" / "checkpoint.safetensors", edit)
            if value is None and option.optional:
                continue
            with pytest.raises(UserError, match=f"progress.{name}"):
                load_checkpoint(path)
    for change in ({"lr": "x"}, {"betas": [0.9]}, {"eps": -1}):
        path = rewrite_metadata(checkpoint, tmp_path / "odd" / "checkpoint.safetensors",
                                lambda meta: meta["optimizer"]["param_groups"][0].update(change))
        with pytest.raises(UserError, match="optimizer"):
            load_checkpoint(path)


def test_every_option_value_train_accepts_passes_the_loaders_schema():
    """The hyperparameters a model records are read back by the same rule that let `train` accept them."""
    from test_alphabet import _accepted_extremes

    for name in HYPERPARAMETERS:
        for value in _accepted_extremes(name):
            config = TrainConfig(**{name: value})
            check_training({"hyperparameters": config.to_dict(), "val_fraction": config.val_fraction})


@pytest.mark.parametrize("content, message", [(b"It was\x00 a dark", "NUL byte"), (b"caf\xe9 noir", "not valid utf-8"),
                                              (b"", "is empty")])
def test_a_prime_from_stdin_is_read_by_the_same_rule_as_a_prime_file(tiny_model_path, tmp_path, capsys, monkeypatch,
                                                                      content, message):
    prime = tmp_path / "prime.txt"
    prime.write_bytes(content)
    from_file = one_line(main(["generate", "--model", str(tiny_model_path), "--prime-file", str(prime)]), capsys)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(content)))
    from_stdin = one_line(main(["generate", "--model", str(tiny_model_path), "--prime-file", "-"]), capsys)
    assert message in from_file and message in from_stdin and "standard input" in from_stdin
    assert from_file.replace(str(prime), "standard input") == from_stdin  # the same words, the same advice
    if "utf-8" in message:  # the advice names an option that `generate` has
        assert "--encoding" in from_stdin
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(content)))
        assert main(["generate", "--model", str(tiny_model_path), "--prime-file", "-", "--encoding", "latin-1",
                     "--length", "3", "--seed", "1"]) == 0
        assert capsys.readouterr().out.startswith("caf\u00e9 noir")

"""Every model charwriter trains loads again: one rule (`charwriter.lm.alphabet`) for what a vocabulary may hold,
read by the trainer and the loader, and one set of limits for `train`'s options and the loader's checks."""

from __future__ import annotations

import random
import sys
import unicodedata

import pytest

from charwriter.__main__ import main
from charwriter.lm.alphabet import check_vocab, model_char
from charwriter.lm.checkpoint import load_checkpoint, load_model
from charwriter.lm.config import MODEL_LIMITS, TrainConfig, kind_of, option_of
from charwriter.lm.data import Corpus
from charwriter.lm.train import Trainer
from conftest import make_text


def _by_category(per_category: int = 6, seed: int = 3) -> dict[str, list[str]]:
    """A few code points of every Unicode general category (the first two and a seeded sample)."""
    found: dict[str, list[str]] = {}
    for code in range(sys.maxunicode + 1):
        found.setdefault(unicodedata.category(chr(code)), []).append(chr(code))
    rng = random.Random(seed)
    return {cat: chars[:2] + rng.sample(chars, min(per_category, len(chars))) for cat, chars in sorted(found.items())}


# The characters the issue found in corpora that trained but did not load, the others of their kinds, and C1 controls.
REPORTED = "\u00a0\u2007\u202f\u2003\u3000\u2028\u2029\u00ad\u200b\u200c\u200d\ufeff\u200e\u200f\u202e\x85\x9b"


def _train_tiny(text: str, run_dir, **hyper) -> Trainer:
    settings = dict(hidden_size=4, num_layers=1, dropout=0.0, batch_size=2, seq_len=8, epochs=1,
                    eval_every=0, sample_length=5, precision="fp32", device="cpu")
    trainer = Trainer(Corpus.from_text(text, name="t.txt"), TrainConfig(**{**settings, **hyper}), run_dir)
    trainer.run()
    return trainer


def test_a_corpus_of_every_unicode_category_trains_a_model_that_loads(tmp_path):
    base = make_text(600)
    categories = _by_category()
    assert len(categories) == 30  # every general category, surrogates and unassigned code points included
    for category, chars in [*categories.items(), ("reported", list(REPORTED))]:
        # Each character between words, and again at the start (where a BOM would sit).
        text = "".join(chars) + "".join(word + chars[i % len(chars)] for i, word in enumerate(base.split(" ")))
        trainer = _train_tiny(text, tmp_path / f"run-{category}")
        assert check_vocab(trainer.corpus.vocab) is None, category
        loaded = load_model(tmp_path / f"run-{category}" / "best.safetensors")
        assert loaded.vocab == trainer.corpus.vocab
        assert load_checkpoint(tmp_path / f"run-{category}" / "checkpoint.safetensors").vocab == loaded.vocab
        for ch in chars:  # each character was kept, mapped or dropped by the rule, never slipped through
            assert (ch in loaded.vocab) == (model_char(ch) == ch), (category, hex(ord(ch)))


def test_how_training_reads_the_characters_a_writer_meets():
    vocab = Corpus.from_text("Quoi\u202f? Un\u00a0mot\u2028\ufeffin\u00advi\u200bsible, \U0001F469\u200d\U0001F4BB"
                             " \u0627\u200f\u0644\x85\x9b!\r\n", name="fr.txt").vocab
    assert "\u202f" not in vocab and "\u00a0" not in vocab and " " in vocab  # a no-break space is a space
    assert not {"\u00ad", "\u200b", "\ufeff", "\u2028", "\x85", "\x9b", "\r"} & set(vocab)  # dropped or mapped
    assert {"\u200d", "\u200f"} <= set(vocab)  # emoji joiner and direction mark kept: they change what is read
    assert model_char("\u202e") == ""  # an override would reverse the rest of the line on screen


def test_fine_tuning_with_an_extended_vocabulary_writes_a_model_that_loads(tiny_model_path, tmp_path, capsys):
    corpus = tmp_path / "emoji.txt"
    corpus.write_text(make_text(4000) + " \U0001F469\u200d\U0001F4BB co\u00adop\u00e9ration\n", encoding="utf-8")
    out = tmp_path / "tuned"
    assert main(["train", str(corpus), "--init-from", str(tiny_model_path), "--extend-vocab", "--out", str(out),
                 "--epochs", "1", "--max-steps", "2", "--batch-size", "4", "--seq-len", "16", "--eval-every", "0",
                 "--precision", "fp32", "--device", "cpu", "--threads", "1"]) == 0
    loaded = load_model(out / "last.safetensors")
    assert "\u200d" in loaded.vocab and "\u00e9" in loaded.vocab and "\u00ad" not in loaded.vocab


def _accepted_extremes(name: str) -> list:
    """The smallest and largest values `train` accepts for an option (or its choices), within reason."""
    option, kind = option_of(name), kind_of(name)
    if option.choices:
        return list(option.choices)
    values = []
    for bound, is_open, step in ((option.low, option.low_open, 1), (option.high, option.high_open, -1)):
        if bound is None:
            continue
        value = bound + step * (1 if kind is int else 1e-3) if is_open else bound
        values.append(int(value) if kind is int else float(value))
    return values


def test_every_option_value_train_accepts_fits_the_loader():
    """The options that shape the model are bounded by the loader's own limits: a value `train` takes writes a
    config the loader reads."""
    from charwriter.lm.modelfile import check_metadata

    for name in ("hidden_size", "num_layers"):
        assert _accepted_extremes(name) == list(MODEL_LIMITS[name])
        for value in _accepted_extremes(name):
            config = TrainConfig(**{name: value})
            meta = {"vocab": ["a", "b"], "config": {"vocab_size": 2, "hidden_size": config.hidden_size,
                                                    "num_layers": config.num_layers, "dropout": config.dropout,
                                                    "cell": config.cell, "weight_dropout": config.weight_dropout}}
            check_metadata(meta, "m.safetensors")
    for name in ("dropout", "weight_dropout", "cell"):
        for value in _accepted_extremes(name):
            config = TrainConfig(**{name: value})
            meta = {"vocab": ["a", "b"], "config": {"vocab_size": 2, "hidden_size": 4, "num_layers": 1,
                                                    "dropout": config.dropout, "cell": config.cell,
                                                    "weight_dropout": config.weight_dropout}}
            check_metadata(meta, "m.safetensors")


def test_the_deepest_model_train_accepts_trains_and_loads(tmp_path):
    layers = MODEL_LIMITS["num_layers"][1]
    _train_tiny(make_text(400), tmp_path / "deep", hidden_size=2, num_layers=layers)
    assert load_model(tmp_path / "deep" / "best.safetensors").config.num_layers == layers


@pytest.mark.parametrize("option, value", [("--num-layers", "17"), ("--num-layers", "1000"),
                                           ("--hidden-size", "8193")])
def test_train_refuses_a_model_the_loader_would_refuse_before_training(text_file, tmp_path, capsys, option, value):
    assert main(["train", str(text_file), option, value, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and option in err, err
    assert not (tmp_path / "run").exists()

"""Shared fixtures: an isolated charwriter home, a text the tests write, and a tiny seeded model."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import torch

# Tiny models gain nothing from a second thread, and two spinning OpenMP threads on two busy cores (a training run
# in the background, a parallel CI job) slow a test down by orders of magnitude. Subprocesses inherit this too.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)

WORDS = (
    "the quiet house stood by the river and every morning she walked along the water to the old mill where "
    "her brother kept his books and papers he would read to her of distant cities and long winters and she "
    "listened while the light moved across the floor happy families are all alike every unhappy family is "
    "unhappy in its own way everything was in confusion in the house"
).split()


def make_text(chars: int = 20_000, seed: int = 0) -> str:
    """Sentences of English words: enough structure for a tiny model to learn quickly."""
    rng = random.Random(seed)
    out, size = [], 0
    while size < chars:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))
        sentence = sentence[0].upper() + sentence[1:] + rng.choice([".", ".", "!", "?"])
        if rng.random() < 0.2:
            sentence += "\n"
        out.append(sentence)
        size += len(sentence) + 1
    return " ".join(out)[:chars]


def writers_text(chars: int, seed: int = 1) -> str:
    """A style `make_text`'s model never read: its letters, in words and phrases of their own."""
    rng = random.Random(seed)
    words = ["marrow", "wended", "thistle", "ombra", "listed", "oath", "dew", "hollow"]
    out, size = [], 0
    while size < chars:
        out.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 7))).capitalize() + ".")
        size += len(out[-1]) + 1
    return " ".join(out)[:chars]


async def wait_for(pilot, condition, seconds: float = 60.0) -> None:
    """Let the app run until `condition()` holds (a worker's result, a process's end); fail after `seconds`."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own data and config dirs, never the user's."""
    home = tmp_path / "cwhome"
    monkeypatch.setenv("CHARWRITER_HOME", str(home))
    return home


@pytest.fixture
def text_file(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A hidden-32 LSTM trained for a short while on `make_text()`; deterministic (seeded, CPU, fp32: `auto` would
    turn bf16 on a CPU with native bf16, and the snapshots show the model's loss)."""
    from charwriter.lm.data import Corpus
    from charwriter.lm.train import TrainConfig, Trainer

    root = tmp_path_factory.mktemp("tiny")
    corpus = Corpus.from_text(make_text(20_000), name="tiny.txt")
    config = TrainConfig(hidden_size=32, num_layers=2, dropout=0.0, batch_size=8, seq_len=32, epochs=3, lr=1e-2,
                         eval_every=0, seed=0, sample_length=20, precision="fp32")
    Trainer(corpus, config, root / "run").run()
    return root / "run" / "best.safetensors"


def rewrite_metadata(source: Path, target: Path, edit) -> Path:
    """Copy a model file with its charwriter metadata changed by `edit(meta)` (which may return a replacement)."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(source), framework="pt") as f:
        meta = json.loads(f.metadata()["charwriter"])
    meta = edit(meta) or meta
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(load_file(str(source)), str(target), metadata={"charwriter": json.dumps(meta)})
    return target

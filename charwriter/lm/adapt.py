"""Adapting a model to the writer's document: a short fine-tune on the document's own text, in the background.

The document memory (`charwriter.lm.memory`) recalls the document's names and phrases; adapting goes further and
moves the model's weights towards the writer's style, spelling and punctuation (dynamic evaluation at the scale of
a document, after Krause et al., 2018). One pass over the document's last `MAX_CHARS` characters at Adam's rate,
from the model as it was trained (never from an earlier adaptation, so nothing drifts). The last `HOLDOUT` of that
text is held out, and the adapted weights are kept only if they predict it better than the model did: on a text
like the model's own training text they are dropped, and the model is used as it was.

`python -m charwriter.lm.adapt MODEL OUT` reads the document from stdin and writes the adapted model to OUT (when
kept), printing one JSON line per step; the app runs it as a low-priority process, so the editor's suggestions
keep their cores and the process can be stopped at any time.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from charwriter.lm.checkpoint import LoadedModel, load_model, save_model
from charwriter.lm.data import Corpus, Streams
from charwriter.lm.model import CharRNN, detach_state
from charwriter.lm.train import evaluate, training_bf16

MIN_CHARS = 20_000
"""Below this a document is too short to learn a style from (and the document memory already holds all of it)."""
MAX_CHARS = 400_000
"""Only the document's last characters are read: about a minute on one core (the rest is still in the memory)."""
HOLDOUT = 0.05
BATCH = 32  # more, smaller steps learn more from one pass than the training recipe's 128 streams
SEQ_LEN = 100
LR = 2e-3
CLIP = 5.0


@dataclass
class Adapted:
    """What an adaptation did. `model` is None when the adapted weights were not better on the held-out tail."""

    chars: int  # characters read (trained on and held out)
    steps: int
    seconds: float
    before: float  # held-out loss of the model as trained, nats/char
    after: float  # and adapted
    model: CharRNN | None = None

    @property
    def kept(self) -> bool:
        return self.model is not None

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "model"} | {"kept": self.kept}


def adaptable(text: str) -> bool:
    return len(text) >= MIN_CHARS


def adapt(loaded: LoadedModel, text: str, *, max_chars: int = MAX_CHARS, lr: float = LR,
          cancelled: Callable[[], bool] = lambda: False,
          progress: Callable[[int, int], None] = lambda step, total: None) -> Adapted | None:
    """Fine-tune a copy of the model on the end of `text` (read as the editor reads it); None if cancelled.

    Raises CorpusError when none of the text's characters are in the model's vocabulary."""
    start = time.perf_counter()
    corpus = Corpus.from_text(text[-max_chars:], name="the document", val_fraction=HOLDOUT, vocab=loaded.vocab)
    train = Streams(corpus.train_data, BATCH, SEQ_LEN)
    held = corpus.val_streams(BATCH, SEQ_LEN)
    model = copy.deepcopy(loaded.model).train()
    before = evaluate(model, held)
    autocast, _ = training_bf16("auto", torch.device("cpu"), lr)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    state = None
    total = len(train)
    for i, (x, y) in enumerate(train):
        if cancelled():
            return None
        # a cosine decay over the one pass: large steps while the style is new, small ones to settle
        for group in optimizer.param_groups:
            group["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * i / max(1, total))))
        if state is not None:
            state = detach_state(state)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits, state = model(x, state)
        if autocast:
            state = tuple(s.float() for s in state) if isinstance(state, tuple) else state.float()
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        progress(i + 1, total)
    model.eval()
    after = evaluate(model, held)
    kept = model if after < before else None
    return Adapted(len(corpus.data), total, time.perf_counter() - start, before, after, kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Adapt a model to a document read from stdin (used by the app).")
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--nice", type=int, default=10, help="lower this process's priority by this much")
    args = parser.parse_args(argv)
    if args.nice and hasattr(os, "nice"):
        os.nice(args.nice)
    torch.set_num_threads(max(1, args.threads))
    text = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    loaded = load_model(args.model)

    def report(step: int, total: int) -> None:
        print(json.dumps({"step": step, "total": total}), flush=True)

    result = adapt(loaded, text, progress=report)
    if result.kept:
        save_model(args.out, result.model, loaded.vocab,
                   {**loaded.training, "adapted": {"chars": result.chars, "before": result.before,
                                                   "after": result.after}})
    print(json.dumps({"done": result.summary()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Adapting a model to the writer's document: a short fine-tune on the document's own text, in the background.

The document memory (`charwriter.lm.memory`) recalls the document's names and phrases; adapting goes further and
moves the model's weights towards the writer's style, spelling and punctuation (dynamic evaluation at the scale of
a document, after Krause et al., 2018). One pass over the document's last `MAX_CHARS` characters at Adam's rate,
from the model as it was trained (never from an earlier adaptation, so nothing drifts). The last `HOLDOUT` of that
text is held out, and the adapted weights are kept only if they predict it better than the model did (by
`KEEP_MARGIN`): on a text like the model's own training text they are dropped, and the model is used as it was.

`python -m charwriter.lm.adapt MODEL OUT` reads the document from stdin and writes the adapted model to OUT (when
kept), printing one JSON line per step; the app runs it as a low-priority process (`AdaptJob`), so the editor's
suggestions keep their cores, a second thread pool never fights the engine's, and it can be stopped at any time.
This module imports torch only inside its functions: the app's event loop reads its constants and runs the job.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

from charwriter.errors import CorpusError, UserError

MIN_CHARS = 20_000
"""Below this a document is too short to learn a style from (and the document memory already holds all of it)."""
MAX_CHARS = 400_000
"""Only the document's last characters are read: about a minute on one core (the rest is still in the memory)."""
HOLDOUT = 0.05
BATCH = 32  # more, smaller steps learn more from one pass than the training recipe's 128 streams
SEQ_LEN = 100
LR = 2e-3
CLIP = 5.0
KEEP_MARGIN = 0.005
"""The adapted weights are kept only when they predict the held-out tail at least this much better (nats/char):
a smaller gain is noise, and on a text in the model's own style a pass over it can cost more than that elsewhere."""
AGAIN_AFTER = (10_000, 0.25)
"""Adapt again once the document has grown or shrunk by this many characters, or this share of it."""


@dataclass
class Adapted:
    """What an adaptation did. `model` is None when the adapted weights were not better on the held-out tail."""

    chars: int  # characters read (trained on and held out)
    steps: int
    seconds: float
    before: float  # held-out loss of the model as trained, nats/char
    after: float  # and adapted
    model: object | None = None  # charwriter.lm.model.CharRNN

    @property
    def kept(self) -> bool:
        return self.model is not None

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "model"} | {"kept": self.kept}


def adaptable(text: str) -> bool:
    return len(text) >= MIN_CHARS


def due(chars: int, adapted_chars: int | None) -> bool:
    """Whether a document of `chars` characters should be adapted to, when it last was at `adapted_chars` (None:
    not yet)."""
    if chars < MIN_CHARS:
        return False
    if adapted_chars is None:
        return True
    least, share = AGAIN_AFTER
    return abs(chars - adapted_chars) >= max(least, share * min(adapted_chars, MAX_CHARS))


def adapt(loaded, text: str, *, max_chars: int = MAX_CHARS, lr: float = LR,
          cancelled: Callable[[], bool] = lambda: False,
          progress: Callable[[int, int], None] = lambda step, total: None) -> Adapted | None:
    """Fine-tune a copy of `loaded.model` (a `LoadedModel`) on the end of `text` (read as the editor reads it);
    None if cancelled. Raises CorpusError when none of the text's characters are in the model's vocabulary."""
    import torch

    from charwriter.lm.data import Corpus

    if len(text) < MIN_CHARS:
        raise CorpusError(f"the text has {len(text):,} characters: too few to adapt the model to (it needs "
                          f"{MIN_CHARS:,}) — write more, or use the model as trained")
    start = time.perf_counter()
    corpus = Corpus.from_text(text[-max_chars:], name="the document", val_fraction=HOLDOUT, vocab=loaded.vocab)
    if len(corpus.data) < MIN_CHARS // 2:
        raise CorpusError(f"only {len(corpus.data):,} of the document's characters are in the model's alphabet: too"
                          " few to adapt it to — train a model on text like this one instead")
    with torch.random.fork_rng():  # the same dropout masks every time, without touching the caller's generator
        torch.manual_seed(0)
        return _adapt(loaded, corpus, cancelled, progress, lr, start)


def _adapt(loaded, corpus, cancelled, progress, lr: float, start: float) -> Adapted | None:
    import copy

    import torch
    import torch.nn.functional as F

    from charwriter.lm.data import Streams
    from charwriter.lm import state as states
    from charwriter.lm.model import detach_state
    from charwriter.lm.train import evaluate, training_bf16

    train = Streams(corpus.train_data, BATCH, SEQ_LEN)
    held = corpus.val_streams(BATCH, SEQ_LEN)
    model = copy.deepcopy(loaded.model).train()
    before = evaluate(model, held)
    autocast, _ = training_bf16("auto", torch.device("cpu"), lr, loaded.model.config.cell)
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
            state = states.each(state, lambda t: t.float())
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        progress(i + 1, total)
    model.eval()
    after = evaluate(model, held)
    kept = model if after < before - KEEP_MARGIN else None
    return Adapted(len(corpus.data), total, time.perf_counter() - start, before, after, kept)


class AdaptJob:
    """One adaptation in a background process: the document goes in on its stdin, the steps come back on its stdout,
    the adapted model in a private temporary folder (removed by `close`)."""

    def __init__(self, model_path: str | Path, text: str, threads: int = 1):
        self.folder = Path(tempfile.mkdtemp(prefix="charwriter-adapt-"))
        self.out = self.folder / "adapted.safetensors"
        self.text = text
        with open(self.folder / "stderr.txt", "wb") as errors:  # a pipe left unread could fill and stall it
            self.process = subprocess.Popen(
                [sys.executable, "-m", "charwriter.lm.adapt", str(model_path), str(self.out), "--threads", str(threads)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)

    def lines(self) -> Iterator[dict]:
        """The process's reports, as they come: {"step", "total"} and, last, {"done": `Adapted.summary()`}."""
        try:
            self.process.stdin.write(self.text.encode("utf-8", errors="replace"))
            self.process.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # it exited early: its stderr says why
        for raw in self.process.stdout:
            try:
                yield json.loads(raw)
            except ValueError:
                continue
        self.process.wait()

    def error(self) -> str:
        """The process's last line of stderr (why it failed), or its exit status."""
        try:
            lines = (self.folder / "stderr.txt").read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return lines[-1] if lines else f"exit status {self.process.returncode}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Adapt a model to a document read from stdin (used by the app).")
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--nice", type=int, default=10, help="lower this process's priority by this much")
    args = parser.parse_args(argv)
    if args.nice and hasattr(os, "nice"):
        os.nice(args.nice)
    import torch

    from charwriter.lm.checkpoint import load_model, save_model

    torch.set_num_threads(max(1, args.threads))
    text = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    parent = os.getppid()

    def report(step: int, total: int) -> None:
        print(json.dumps({"step": step, "total": total}), flush=True)

    try:
        loaded = load_model(args.model)
        # cancelled when the app that started it has gone (a crash, a kill): it stops rather than train for no one
        result = adapt(loaded, text, progress=report, cancelled=lambda: os.getppid() != parent)
    except UserError as error:  # one line for the app to show, no traceback
        print(error, file=sys.stderr)
        return 2
    if result is None:
        return 1
    if result.kept:
        save_model(args.out, result.model, loaded.vocab,
                   {**loaded.training, "adapted": {"chars": result.chars, "before": result.before,
                                                   "after": result.after}})
    print(json.dumps({"done": result.summary()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

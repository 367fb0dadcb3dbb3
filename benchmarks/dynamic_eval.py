"""Dynamic evaluation: how much a model gains by going on learning from the text it reads.

`charwriter eval` scores the held-out tail with fixed weights, as the seed does (128 streams × 100, state carried
from zeros). Here each 128 × 100 batch is scored first and then taken as one SGD step, so every character is still
predicted before the model has seen it (Krause et al., 2018, "Dynamic Evaluation of Neural Sequence Models"). Rate 0
is the static evaluation. This is not the seed's protocol, and the rates here are judged on the validation text
itself: the numbers say what adapting to a writer's own document could bring, not what the model scores.

    python benchmarks/dynamic_eval.py ../shared/data/anna.txt --model models/anna-karenina.safetensors --lr 0 0.3 1
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from charwriter.lm.checkpoint import load_model
from charwriter.lm.data import Corpus
from charwriter.lm.model import detach_state
from charwriter.lm.registry import resolve_model


def dynamic_loss(path, corpus: Corpus, lr: float, batch_size: int = 128, seq_len: int = 100) -> tuple[float, int]:
    """Mean nats/char over the validation streams, with one SGD step at `lr` after scoring each batch."""
    model = load_model(path).model.eval()  # dropout off while adapting, as when scoring
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    state = model.init_state(batch_size)
    total, count = 0.0, 0
    for x, y in corpus.val_streams(batch_size, seq_len):
        with torch.set_grad_enabled(lr > 0):
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        if lr > 0:
            opt.zero_grad()
            loss.backward()
            opt.step()
        state = detach_state(state)
        total, count = total + loss.item() * y.numel(), count + y.numel()
    return total / count, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--model", default=None, help="a model file or name (default: the bundled model)")
    parser.add_argument("--lr", type=float, nargs="+", default=[0.0, 0.1, 0.3, 1.0], help="SGD rates; 0 = static")
    args = parser.parse_args()
    path = resolve_model(args.model)
    corpus = Corpus.from_file(args.corpus, vocab=load_model(path).vocab)
    for lr in args.lr:
        loss, count = dynamic_loss(path, corpus, lr)
        print(f"SGD lr {lr:g}: {loss:.4f} nats/char over {count:,} validation chars", flush=True)


if __name__ == "__main__":
    main()

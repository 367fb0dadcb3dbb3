"""Dynamic evaluation: how much a model gains by going on learning from the text it reads.

`charwriter eval` scores the held-out tail with fixed weights, as the seed does (128 streams × 100, state carried
from zeros). Here each 128 × 100 batch is scored first and then taken as one SGD step, so every character is still
predicted before the model has seen it (Krause et al., 2018, "Dynamic Evaluation of Neural Sequence Models"). Rate 0
is the static evaluation. This is not the seed's protocol, and the rates here are judged on the validation text
itself: the numbers say what adapting to a writer's own document could bring, not what the model scores.

`--marker` also splits the score at the first occurrence of a string in the validation text, e.g. where the novel
ends and Project Gutenberg's licence begins (text the training split never shows the model).

    python benchmarks/dynamic_eval.py ../shared/data/anna.txt --model models/anna-karenina.safetensors --lr 0 0.3 1 \
        --marker "*** END OF"
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from charwriter.lm.checkpoint import load_model
from charwriter.lm.data import Corpus
from charwriter.lm.model import detach_state
from charwriter.lm.registry import resolve_model


def dynamic_losses(path, corpus: Corpus, lr: float, batch_size: int = 128, seq_len: int = 100) -> torch.Tensor:
    """Each scored character's loss (nats) in text order, with one SGD step at `lr` after scoring each batch."""
    model = load_model(path).model.eval()  # dropout off while adapting, as when scoring
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    streams = corpus.val_streams(batch_size, seq_len)  # fewer streams when the held-out text is short
    state = model.init_state(streams.batch_size)
    losses = []
    for x, y in streams:
        with torch.set_grad_enabled(lr > 0):
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        if lr > 0:
            opt.zero_grad()
            loss.mean().backward()
            opt.step()
        state = detach_state(state)
        losses.append(loss.detach().view(streams.batch_size, seq_len))
    return torch.cat(losses, 1).flatten()  # stream by stream: the streams are consecutive pieces of the text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--model", default=None, help="a model file or name (default: the bundled model)")
    parser.add_argument("--lr", type=float, nargs="+", default=[0.0, 0.1, 0.3, 1.0], help="SGD rates; 0 = static")
    parser.add_argument("--marker", default=None, help="also score before and after this string's first place")
    args = parser.parse_args()
    path = resolve_model(args.model)
    corpus = Corpus.from_file(args.corpus, vocab=load_model(path).vocab)
    cut = None
    if args.marker:
        cut = corpus.text[corpus.split :].find(args.marker)
        if cut < 0:
            parser.exit(2, f"{args.marker!r} is not in the validation text: give a string that is\n")
    for lr in args.lr:
        losses = dynamic_losses(path, corpus, lr)
        line = f"SGD lr {lr:g}: {losses.mean():.4f} nats/char over {len(losses):,} validation chars"
        if cut is not None:
            before, after = losses[: cut - 1], losses[cut - 1 :]  # loss i scores character i + 1
            line += f"; before the marker {before.mean():.4f} ({len(before):,})"
            line += f", from it {after.mean():.4f} ({len(after):,})"
        print(line, flush=True)


if __name__ == "__main__":
    main()

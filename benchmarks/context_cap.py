"""What the context cap costs: validation loss when the model reads only the last C characters.

The engine reads at most C characters before the cursor (`EngineSettings.context_chars`), from the zero state and
a newline. This evaluates a trained model on positions sampled from the held-out tail of the corpus (the last 10%,
the trainer's split), predicting each position's character from exactly the C characters before it, for several C,
and "unlimited": the state carried through the held-out tail from its start (positions are drawn from its
characters 20,000 to 60,000, so each has at least 20,000 characters behind it, far more than an LSTM remembers).
The same positions serve every C, so the differences are paired and much less noisy than the losses themselves
(the per-character loss varies by ~1.4 nats: ±0.06 on the mean of 512 positions). Prints a Markdown table.

    python benchmarks/context_cap.py ../shared/data/anna.txt --model /work/runs/trialA/best.safetensors
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from charwriter.lm.checkpoint import load_model
from charwriter.lm.data import Corpus
from charwriter.lm.sample import default_start


@torch.no_grad()
def capped_loss(model, data: torch.Tensor, positions: torch.Tensor, cap: int, start_code: int, rows: int = 64) -> float:
    """Mean cross-entropy (nats) of data[p] given "\\n" + data[p - cap : p], over the positions, batched."""
    total = 0.0
    offsets = torch.arange(-cap, 0)
    for chunk in positions.split(rows):
        idx = data[chunk[:, None] + offsets].long()  # (B, cap)
        idx = torch.cat([torch.full((len(chunk), 1), start_code), idx], 1)
        logits, _ = model(idx)
        total += F.cross_entropy(logits[:, -1], data[chunk].long(), reduction="sum").item()
    return total / len(positions)


@torch.no_grad()
def unlimited_loss(model, data: torch.Tensor, positions: torch.Tensor, start_code: int) -> float:
    """Mean cross-entropy with the state carried from the start of `data` (one pass, batch 1)."""
    idx = torch.cat([torch.tensor([start_code]), data[: int(positions.max())].long()])[None]  # (1, T)
    losses, state = [], None
    for piece in idx.split(20_000, 1):  # pieces bound the memory of the (1, T, H) output
        logits, state = model(piece, state)
        losses.append(F.log_softmax(logits[0], -1))
    log_probs = torch.cat(losses)  # row t predicts data[t] (row 0 read only the newline)
    return -log_probs[positions, data[positions].long()].mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--model", required=True)
    parser.add_argument("--positions", type=int, default=512, help="held-out positions evaluated")
    parser.add_argument("--caps", default="32,64,128,256,512,1024")
    args = parser.parse_args()

    torch.set_num_threads(1)  # a shared machine; and comparable with the engine's setting
    loaded = load_model(args.model)
    corpus = Corpus.from_file(args.corpus, vocab=loaded.vocab)
    val = corpus.val_data
    generator = torch.Generator().manual_seed(0)
    low, high = 20_000, min(60_000, len(val))
    if high <= low:
        parser.error(f"the held-out tail has {len(val):,} characters; this needs at least 20,001")
    positions = low + torch.randperm(high - low, generator=generator)[: args.positions]
    start_code = default_start(loaded.vocab)
    caps = [int(c) for c in args.caps.split(",")]
    print(f"model {loaded.name}, {len(positions)} positions from the held-out {len(val):,} chars of {corpus.name}")
    print()
    print("| context C (chars) | val loss (nats/char) | bits/char | vs unlimited |")
    print("| ---: | ---: | ---: | ---: |")
    started = time.perf_counter()
    unlimited = unlimited_loss(loaded.model, val, positions, start_code)
    results = [(str(cap), capped_loss(loaded.model, val, positions, cap, start_code)) for cap in caps]
    results.append(("unlimited", unlimited))
    for name, loss in results:
        print(f"| {name} | {loss:.3f} | {loss / math.log(2):.3f} | {loss - unlimited:+.3f} |")
    print()
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()

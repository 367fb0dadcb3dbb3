"""Training speed, side by side: the seed's reference training step, charwriter's at fp32, and charwriter's at
`--precision` (default auto: what `charwriter train` picks here), in one process.

All train the same architecture (LSTM 512×2, dropout 0.5, batch 128 × 100, Adam 1e-3, clip 5) on the same
batches of the corpus from the same initial weights, taking turns step by step after a warm-up so that a noisy
shared machine slows them alike. Prints chars/s of each and the ratios, and the loss curves as means over blocks of
steps (charwriter's two should track each other: the target is within 0.02 nats/char after 300 steps). The seed
runs only its first `--seed-steps` steps (its speed needs no more).

    python benchmarks/train_speed.py ../shared/data/anna.txt --steps 20
    python benchmarks/train_speed.py ../shared/data/anna.txt --steps 300 --seed-steps 20 --precision bf16
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn as nn

from charwriter.lm.data import Corpus
from charwriter.lm.train import TrainConfig, Trainer


class SeedCharRNN(nn.Module):
    """The notebook's CharRNN, verbatim in behaviour: one-hot float input, nn.LSTM, dropout, linear head."""

    def __init__(self, vocab_size, n_hidden=512, n_layers=2, drop_prob=0.5):
        super().__init__()
        self.n_hidden, self.n_layers = n_hidden, n_layers
        self.lstm = nn.LSTM(vocab_size, n_hidden, n_layers, dropout=drop_prob, batch_first=True)
        self.dropout = nn.Dropout(drop_prob)
        self.fc = nn.Linear(n_hidden, vocab_size)

    def forward(self, x, hidden):
        r_output, hidden = self.lstm(x, hidden)
        out = self.dropout(r_output)
        out = out.contiguous().view(-1, self.n_hidden)
        return self.fc(out), hidden

    def init_hidden(self, batch_size):
        weight = next(self.parameters()).data
        return (weight.new(self.n_layers, batch_size, self.n_hidden).zero_(),
                weight.new(self.n_layers, batch_size, self.n_hidden).zero_())


def one_hot_encode(arr, n_labels):
    """The notebook's one_hot_encode (numpy)."""
    one_hot = np.zeros((arr.size, n_labels), dtype=np.float32)
    one_hot[np.arange(one_hot.shape[0]), arr.flatten()] = 1.0
    return one_hot.reshape((*arr.shape, n_labels))


class SeedTrainer:
    def __init__(self, vocab_size, batch_size, seq_len, device):
        self.net = SeedCharRNN(vocab_size).to(device)
        self.net.train()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=0.001)
        self.criterion = nn.CrossEntropyLoss()
        self.h = self.net.init_hidden(batch_size)
        self.vocab_size, self.batch_size, self.seq_len, self.device = vocab_size, batch_size, seq_len, device

    def step(self, x_np, y_np):
        x = one_hot_encode(x_np, self.vocab_size)
        inputs, targets = torch.from_numpy(x).to(self.device), torch.from_numpy(y_np).to(self.device)
        self.h = tuple(e.data for e in self.h)
        self.net.zero_grad()
        output, self.h = self.net(inputs, self.h)
        loss = self.criterion(output, targets.view(self.batch_size * self.seq_len).long())
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), 5)
        self.opt.step()
        return loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--steps", type=int, default=20, help="timed steps of each (after 2 warm-up steps)")
    parser.add_argument("--seed-steps", type=int, default=None, help="steps of the seed's reference (default: all)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3, help="charwriter's learning rate (the seed's is 1e-3)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precision", default="auto", help="charwriter's second run: auto, fp32 or bf16 (auto above"
                        " lr 1e-3 on a CPU with native bf16: fp32 until the loss leaves the unigram plateau, then bf16)")
    parser.add_argument("--block", type=int, default=20, help="steps per mean in the loss curves")
    args = parser.parse_args()

    import tempfile

    torch.manual_seed(0)
    corpus = Corpus.from_file(args.corpus)
    config = TrainConfig(batch_size=args.batch_size, seq_len=args.seq_len, device=args.device, eval_every=0,
                         lr=args.lr, precision="fp32")
    runs = {"fp32": Trainer(corpus, config, tempfile.mkdtemp())}
    other = Trainer(corpus, TrainConfig(**{**config.__dict__, "precision": args.precision}), tempfile.mkdtemp())
    other.model.load_state_dict(runs["fp32"].model.state_dict())  # the same start
    label = f"{args.precision} ({other.precision_reason})"
    runs[label] = other
    seed = SeedTrainer(len(corpus.vocab), args.batch_size, args.seq_len, args.device)
    seed_steps = args.steps if args.seed_steps is None else min(args.seed_steps, args.steps)
    streams = runs["fp32"].train_streams
    names = ["seed", *runs]
    times = {name: [] for name in names}
    losses = {name: [] for name in names}
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    # each charwriter run draws its dropout masks from its own copy of the seeded generator: the same masks for
    # both, so their curves differ only by precision (taking turns on one generator, the fp32 and bf16 runs left
    # the unigram plateau at different steps by chance, which swamped the difference being measured)
    rng = {name: torch.get_rng_state() for name in runs}
    for i in range(args.steps + 2):
        x, y = streams.batch(i % len(streams))
        order = names[i % len(names):] + names[: i % len(names)]  # each goes first in turn
        for name in order:
            if name == "seed" and i >= seed_steps + 2:
                continue
            sync()
            start = time.perf_counter()
            if name == "seed":
                loss = seed.step(x.numpy().astype(np.int64), y.numpy().astype(np.int64))
            else:
                trainer = runs[name]
                torch.set_rng_state(rng[name])
                start = time.perf_counter()
                loss = trainer.train_step(x.to(trainer.device), y.to(trainer.device), args.lr)
                trainer.step += 1  # as its training loop counts (auto's switch names the step)
            sync()
            if i >= 2:
                times[name].append(time.perf_counter() - start)
            if name != "seed":
                rng[name] = torch.get_rng_state()
            losses[name].append(loss)
    chars = args.batch_size * args.seq_len
    rate = {k: chars / statistics.median(v) for k, v in times.items()}
    print(f"device {args.device}, batch {args.batch_size} × {args.seq_len}, {args.steps} paired steps (the seed"
          f" {seed_steps}), {torch.get_num_threads()} threads, charwriter lr {args.lr:g}")
    for name in names:
        title = "seed reference" if name == "seed" else f"charwriter {name}"
        print(f"{title:60s} {rate[name]:8,.0f} chars/s  (median step {statistics.median(times[name]):.3f} s)")
    for name in names[1:]:
        print(f"ratio (charwriter {name.split()[0]} / seed): {rate[name] / rate['seed']:.2f}x")
    print(f"ratio ({label.split()[0]} / fp32): {rate[label] / rate['fp32']:.2f}x")
    if other.bf16_after is not None:  # auto above the bf16 rate: fp32 through the plateau, bf16 after it
        switch = other.bf16_after - 2  # the first bf16 step's index among the timed steps (after 2 warm-up steps)
        after = statistics.median(times[label][switch:])
        print(f"{args.precision} turned bf16 after step {other.bf16_after}: {other.precision_reason}")
        print(f"  its bf16 steps: {chars / after:,.0f} chars/s (median step {after:.3f} s); ratio (its bf16 steps /"
              f" seed): {chars / after / rate['seed']:.2f}x, (/ fp32): {chars / after / rate['fp32']:.2f}x")
    for name in names:
        blocks = [losses[name][j : j + args.block] for j in range(0, len(losses[name]), args.block)]
        print(f"loss by blocks of {args.block} steps, {name.split()[0] if name != 'seed' else 'seed'}: "
              + " ".join(f"{statistics.fmean(b):.3f}" for b in blocks))
    tail = min(args.block, args.steps)
    last = {name: statistics.fmean(losses[name][-tail:]) for name in runs}
    print(f"mean loss of the last {tail} steps: fp32 {last['fp32']:.4f}, {label.split()[0]} {last[label]:.4f}"
          f" ({last[label] - last['fp32']:+.4f})")


if __name__ == "__main__":
    main()

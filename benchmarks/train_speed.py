"""Training speed, side by side: the seed's reference training step against charwriter's, in one process.

Both train the same architecture (LSTM 512×2, dropout 0.5, batch 128 × 100, Adam 1e-3, clip 5) on the same
batches of the corpus, taking turns step by step after a warm-up so that a noisy shared machine slows both alike.
Prints chars/s of each, the ratio, and both loss curves (they should track each other).

    python benchmarks/train_speed.py ../shared/data/anna.txt --steps 20
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
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()

    torch.manual_seed(0)
    corpus = Corpus.from_file(args.corpus)
    config = TrainConfig(batch_size=args.batch_size, seq_len=args.seq_len, device=args.device, eval_every=0)
    import tempfile

    ours = Trainer(corpus, config, tempfile.mkdtemp())
    seed = SeedTrainer(len(corpus.vocab), args.batch_size, args.seq_len, args.device)
    streams = ours.train_streams
    times = {"seed": [], "ours": []}
    losses = {"seed": [], "ours": []}
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    for i in range(args.steps + 2):
        x, y = streams.batch(i % len(streams))
        for name in ("seed", "ours") if i % 2 == 0 else ("ours", "seed"):
            sync()
            start = time.perf_counter()
            if name == "seed":
                loss = seed.step(x.numpy().astype(np.int64), y.numpy().astype(np.int64))
            else:
                loss = ours.train_step(x.to(ours.device), y.to(ours.device), config.lr)
            sync()
            if i >= 2:
                times[name].append(time.perf_counter() - start)
            losses[name].append(loss)
    chars = args.batch_size * args.seq_len
    rate = {k: chars / statistics.median(v) for k, v in times.items()}
    print(f"device {args.device}, batch {args.batch_size} × {args.seq_len}, {args.steps} paired steps, "
          f"{torch.get_num_threads()} threads")
    print(f"seed reference: {rate['seed']:8,.0f} chars/s  (median step {statistics.median(times['seed']):.3f} s)")
    print(f"charwriter:     {rate['ours']:8,.0f} chars/s  (median step {statistics.median(times['ours']):.3f} s)")
    print(f"ratio (charwriter / seed): {rate['ours'] / rate['seed']:.2f}x")
    print("loss, seed:       " + " ".join(f"{l:.3f}" for l in losses["seed"][::max(1, len(losses['seed']) // 8)]))
    print("loss, charwriter: " + " ".join(f"{l:.3f}" for l in losses["ours"][::max(1, len(losses['ours']) // 8)]))


if __name__ == "__main__":
    main()

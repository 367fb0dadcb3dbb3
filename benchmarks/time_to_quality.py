"""Time to quality, as a ratio: a charwriter run's wall time to the seed's validation loss against the seed's own.

The seed reference (REFERENCE.md) trains 2,780 steps and evaluates the whole validation split every 10 steps,
reaching 1.29 only at step 2,760, the end of its 20 epochs. A charwriter run's events.jsonl says at which step it
first validated at or below the target and how many validations (each with a short sample) it ran until then.
This script times, in one process and taking turns so that a busy machine slows both alike, the seed's training
step and its validation pass against the run's own step and validation, then prints

    seed wall time    = 2,780 × seed step + 278 × seed validation
    charwriter's time = steps to target × our step + validations until then × our validation

and their ratio (the goal: at most a third).

    python benchmarks/time_to_quality.py ../shared/data/anna.txt RUN_DIR [RUN_DIR ...] --target 1.29
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from charwriter.lm.data import Corpus
from charwriter.lm.train import TrainConfig, Trainer, evaluate, quick_sample

from train_speed import SeedTrainer, one_hot_encode

SEED_STEPS, SEED_EVERY = 2780, 10  # 20 epochs of 139 batches; the notebook validates every 10 steps


def seed_validation(seed: SeedTrainer, val: np.ndarray) -> float:
    """The notebook's validation loop: eval mode, fresh zero state carried across the batches (no `no_grad`)."""
    net, b, s = seed.net, seed.batch_size, seed.seq_len
    h = net.init_hidden(b)
    net.eval()
    losses = []
    usable = (len(val) // (b * s)) * b * s
    rows = val[:usable].reshape((b, -1))
    for n in range(0, rows.shape[1], s):
        x = rows[:, n : n + s]
        y = np.zeros_like(x)
        y[:, :-1], y[:, -1] = x[:, 1:], rows[:, (n + s) % rows.shape[1]]
        inputs = torch.from_numpy(one_hot_encode(x, seed.vocab_size))
        h = tuple(e.data for e in h)
        output, h = net(inputs, h)
        losses.append(seed.criterion(output, torch.from_numpy(y).view(b * s).long()).item())
    net.train()
    return float(np.mean(losses))


def reached(run: Path, target: float) -> tuple[dict, int | None, int]:
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    config = next(e for e in events if e["type"] == "config")["config"]
    vals = [e for e in events if e["type"] == "val"]
    hit = next((e["step"] for e in vals if e["val_loss"] <= target), None)
    count = sum(1 for e in vals if hit is not None and e["step"] <= hit)
    return config, hit, count


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--target", type=float, default=1.29)
    parser.add_argument("--steps", type=int, default=6, help="timed training steps of each, per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of steps and validations, taking turns")
    args = parser.parse_args()

    torch.manual_seed(0)
    corpus = Corpus.from_file(args.corpus)
    seed = SeedTrainer(len(corpus.vocab), 128, 100, "cpu")
    seed_val = corpus.val_data.numpy().astype(np.int64)
    probe = Trainer(corpus, TrainConfig(eval_every=0), tempfile.mkdtemp())
    x128, y128 = probe.train_streams.batch(0)
    print(f"{torch.get_num_threads()} threads; seed: 2,780 steps, a validation every 10 (REFERENCE.md)")
    for run in args.runs:
        config, hit, count = reached(run, args.target)
        if hit is None:
            print(f"{run.name}: never validated at or below {args.target}")
            continue
        c = TrainConfig.from_dict(dict(config, eval_every=0, device="cpu"))
        ours = Trainer(corpus, c, tempfile.mkdtemp())
        x, y = ours.train_streams.batch(0)
        timings = {"seed step": [], "our step": [], "seed val": [], "our val": []}
        for _ in range(args.rounds):
            timings["seed step"].append(median_time(
                lambda: seed.step(x128.numpy().astype(np.int64), y128.numpy().astype(np.int64)), args.steps))
            timings["our step"].append(median_time(lambda: ours.train_step(x, y, c.lr), args.steps))
            timings["seed val"].append(median_time(lambda: seed_validation(seed, seed_val), 1))
            timings["our val"].append(median_time(lambda: (
                evaluate(ours.model, ours.local_val),
                quick_sample(ours.model, corpus.vocab, "\n", c.sample_length, 0)), 1))
        t = {k: statistics.median(v) for k, v in timings.items()}
        seed_wall = SEED_STEPS * t["seed step"] + SEED_STEPS // SEED_EVERY * t["seed val"]
        seed_train = SEED_STEPS * t["seed step"]
        ours_wall = hit * t["our step"] + count * t["our val"]
        print(f"{run.name}: {args.target} at step {hit:,} after {count} validations")
        print(f"  seed step {t['seed step']:.3f} s, seed validation {t['seed val']:.2f} s; "
              f"our step {t['our step']:.3f} s, our validation + sample {t['our val']:.2f} s")
        print(f"  seed reference: {seed_wall / 60:5.1f} min ({seed_train / 60:.1f} min of it training steps)")
        print(f"  charwriter:     {ours_wall / 60:5.1f} min to {args.target}")
        print(f"  ratio: {ours_wall / seed_wall:.2f} of the seed's wall time "
              f"({ours_wall / seed_train:.2f} of its training steps alone); goal <= 0.33")


if __name__ == "__main__":
    main()

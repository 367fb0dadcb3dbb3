"""Validation loss of a training run at fixed training times, and the time it took to reach given losses.

Reads a run's events.jsonl (any run of `charwriter train`), for the trial log in models/README.md:

    python benchmarks/curve_table.py RUN_DIR [RUN_DIR ...] --minutes 5 10 20 30 60 --targets 1.5 1.35 1.29 1.22

Minutes are the run's own training clock. Runs that shared the machine are slower than they would be alone;
`--chars-per-s 11171` puts every run on one clock instead: the characters it had trained on, divided by that speed
(measure it with benchmarks/train_speed.py on an idle machine). "min to" cells also give the step.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from charwriter.lm import events as ev


def load(run: Path, chars_per_s: float | None = None) -> tuple[dict, list[tuple[float, int, float]]]:
    """A run's hyperparameters, and (training seconds, step, validation loss) at each validation."""
    events = ev.read(run / "events.jsonl")
    c = ev.of_kind(events, ev.ConfigEvent)[0].config
    steps = ev.of_kind(events, ev.StepEvent)
    if chars_per_s:
        elapsed_at = {e.step: e.step * c["batch_size"] * c["seq_len"] / chars_per_s for e in steps}
    else:
        elapsed_at = {e.step: e.elapsed_s or 0.0 for e in steps}
    vals = [(elapsed_at.get(e.step, 0.0), e.step, e.val_loss) for e in ev.of_kind(events, ev.ValEvent)]
    return c, vals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--minutes", nargs="+", type=float, default=[5, 10, 20, 30, 45, 60, 90])
    parser.add_argument("--targets", nargs="+", type=float, default=[1.5, 1.4, 1.35, 1.29, 1.25, 1.22])
    parser.add_argument("--chars-per-s", type=float, help="one clock for all runs: characters trained / this speed")
    args = parser.parse_args()
    print("| run | settings | " + " | ".join(f"val @ {m:g} min" for m in args.minutes) + " | "
          + " | ".join(f"min to {t:g}" for t in args.targets) + " | best val (step) |")
    print("|---" * (3 + len(args.minutes) + len(args.targets)) + "|")
    for run in args.runs:
        c, vals = load(run, args.chars_per_s)
        extra = "".join(f", {label} {c[key]:g}" for key, label in (("weight_dropout", "weight drop"),
                                                                    ("forget_bias", "forget bias")) if c.get(key))
        settings = (f"{c['hidden_size']}×{c['num_layers']} {c['cell']}, drop {c['dropout']}{extra}, batch "
                    f"{c['batch_size']}×{c['seq_len']}, lr {c['lr']:g} {c['lr_schedule']}, {c['epochs']} ep")
        at = []
        for m in args.minutes:
            seen = [v for t, _, v in vals if t <= m * 60]
            at.append(f"{min(seen):.4f}" if seen and vals[-1][0] >= m * 60 else "—")
        reach = []
        for target in args.targets:
            hit = next(((t, step) for t, step, v in vals if v <= target), None)
            reach.append(f"{hit[0] / 60:.1f} ({hit[1]:,})" if hit is not None else "—")
        best = min(vals, key=lambda x: x[2]) if vals else (0, 0, float("nan"))
        print(f"| {run.name} | {settings} | " + " | ".join(at) + " | " + " | ".join(reach)
              + f" | {best[2]:.4f} ({best[1]}) |")


if __name__ == "__main__":
    main()

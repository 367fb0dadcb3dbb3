"""The headless trainer: the seed's training loop, with checkpoints, resume and events.

The trainer never prints. It reports typed events (`charwriter.lm.events`) through callbacks (minGPT style) and
appends each as one JSON object per line to `events.jsonl` in its run directory, the single format that the command
line's progress bar, the app's run service, scripts and tests all read. Its hyperparameters are `TrainConfig`
(`charwriter.lm.config`), which also generates the command line's options and the training form.

Data-parallel training: under `torchrun --nproc-per-node N` (one or many nodes) each process takes its share of
the `batch_size` streams, DistributedDataParallel averages the gradients (so N processes compute what one process
computes with the same global batch), validation sums are reduced across processes, and only rank 0 writes
events, checkpoints and models. Checkpoints hold the carried state of all streams, so a run resumes with the same
or a different number of processes.

Exact resume: a checkpoint holds the weights, Adam's moments, the torch RNG state (dropout), the hidden state
carried between windows and the position in the epoch, so on the CPU an interrupted-and-resumed run computes the
same losses as an uninterrupted one. Samples use their own generator and never disturb the training RNG.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from dataclasses import replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F

from charwriter.errors import UserError, shown
from charwriter.outputs import os_problem
from charwriter.lm.config import DEVICES, SCHEDULES, TRAIN_PRECISIONS, TrainConfig  # noqa: F401 (re-exported)
from charwriter.lm.events import (CheckpointEvent, ConfigEvent, DoneEvent, ErrorEvent, Event, PrecisionEvent,
                                  SampleEvent, StepEvent, ValEvent)
from charwriter.lm.checkpoint import RESTART, LoadedModel, load_checkpoint, save_checkpoint, save_model
from charwriter.lm.data import Corpus, Streams
from charwriter.lm import state as states
from charwriter.lm.model import CharRNN, ModelConfig, detach_state, state_from_tensors, state_tensors
from charwriter.lm.modelfile import expected_shapes
from charwriter.lm.run_folder import RunFolder

def set_forget_bias(model: CharRNN, value: float) -> None:
    """Start every LSTM layer's forget gate at `value` (Jozefowicz et al. 2015): the cell remembers from step one.

    PyTorch's gate order is input, forget, cell, output; the gate's bias is b_ih + b_hh, so b_ih carries the value."""
    hidden = model.config.hidden_size
    with torch.no_grad():
        for layer in range(model.config.num_layers):
            getattr(model.rnn, f"bias_ih_l{layer}")[hidden : 2 * hidden].fill_(value)
            getattr(model.rnn, f"bias_hh_l{layer}")[hidden : 2 * hidden].zero_()


def free_memory(device: torch.device) -> int | None:
    """Bytes the device can still give (None: not known here)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def training_memory(config: ModelConfig, batch_size: int, seq_len: int) -> int:
    """Bytes that training a model takes, roughly and from above: weights, gradients and Adam's two moments (4 × 4
    bytes a parameter), and a window's activations (gates and states of each layer, the logits twice)."""
    parameters = sum(math.prod(shape) for shape in expected_shapes(config).values())
    activations = batch_size * seq_len * (10 * config.num_layers * config.hidden_size + 3 * config.vocab_size)
    return 16 * parameters + 4 * activations


def check_memory(config: ModelConfig, batch_size: int, seq_len: int, device: torch.device) -> None:
    """Refuse a model that cannot fit before allocating it: one line, not torch's "can't allocate" traceback."""
    need, free = training_memory(config, batch_size, seq_len), free_memory(device)
    if free is not None and need > free:
        raise UserError(f"training this model needs about {need / 1e9:,.1f} GB of memory ({config.hidden_size} wide,"
                        f" {config.num_layers} layers, batch {batch_size} × {seq_len}); {free / 1e9:,.1f} GB is free"
                        " on the " + device.type + " — use a smaller --hidden-size, --num-layers or --batch-size")


class TrainingDiverged(UserError):
    """The loss went to NaN or far above where it started."""


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is available here — use --device cpu or auto")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("--device mps: Apple's MPS is not available here — use --device cpu or auto")
    return torch.device(name)


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    """The rate for optimizer step `step` (0-based). A schedule restarted at `schedule_start` (an extended run's
    warm restart) counts its warm-up and its decay from there."""
    if config.lr_schedule == "constant":
        return config.lr
    step, total_steps = step - config.schedule_start, total_steps - config.schedule_start
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, total_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def evaluate(model: CharRNN, streams: Streams, device: torch.device | str = "cpu", autocast: bool = False,
             reduce: bool = False) -> float:
    """Mean loss in nats/char over the streams, state carried across windows from zeros (the seed's validation).

    With `reduce`, the sums of all data-parallel processes are added up first (each holds a share of the streams).
    """
    was_training = model.training
    model.eval()
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    if streams.batch_size:
        state = model.init_state(streams.batch_size, device)
        for x, y in streams:
            with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=autocast):
                logits, state = model(x.to(device), state)
            sums[0] += F.cross_entropy(logits.float().flatten(0, 1), y.to(device).flatten(), reduction="sum")
            sums[1] += y.numel()
    if reduce:
        dist.all_reduce(sums)
    model.train(was_training)
    return (sums[0] / sums[1].clamp(min=1)).item()


@torch.no_grad()
def evaluate_stepped(fast, streams: Streams) -> float:
    """`evaluate`'s loss, read one character at a time by the inference step (`charwriter.lm.fast.FastRNN`) at its
    precision: what the suggestions see."""
    sums = torch.zeros(2, dtype=torch.float64)
    if streams.batch_size:
        state = fast.init_state(streams.batch_size)
        for x, y in streams:
            for t in range(x.shape[1]):
                logits, state = fast.step(x[:, t], state)
                sums[0] += F.cross_entropy(logits, y[:, t], reduction="sum")
                sums[1] += y.shape[0]
    return (sums[0] / sums[1].clamp(min=1)).item()


class SpeedWindow:
    """Training speed over the last `seconds` of training time (at least `at_least` reports): one step's time
    swings with the machine's load and with what ran just before it (a validation, a checkpoint), and an ETA read
    from it jumped by minutes within seconds."""

    def __init__(self, seconds: float = 30.0, at_least: int = 5):
        self.seconds, self.at_least = seconds, at_least
        self.parts: deque[tuple[float, float]] = deque()  # (chars, seconds) of each report
        self.chars = self.time = 0.0

    def add(self, chars: float, seconds: float) -> float:
        """Count one report; -> chars/s over the window."""
        self.parts.append((chars, seconds))
        self.chars += chars
        self.time += seconds
        while len(self.parts) > self.at_least and self.time - self.parts[0][1] >= self.seconds:
            old_chars, old_seconds = self.parts.popleft()
            self.chars -= old_chars
            self.time -= old_seconds
        return self.chars / max(self.time, 1e-9)


BF16_MAX_LR_ON_CPU = 1e-3
"""The highest (peak) learning rate at which `--precision auto` trains in bf16 from the first step on a CPU with
native bf16. 300 steps on anna.txt from the same weights (benchmarks/train_speed.py): at the seed's 1e-3 bf16 ended
0.011 nats/char below fp32 at 2.1x its speed. Above it, `auto` trains in fp32 until the loss has left the unigram
plateau and in bf16 from there (`PLATEAU_MARGIN`): a run's fate is decided on the plateau, and fp32 there costs about
3 % of a run's steps. (Runs that drew different dropout masks once made bf16 look worse there, at 2e-3; with the same
masks, bf16 from the first step at 3e-3 ended 0.022 below fp32: see docs/benchmarks.md, Training speed.)"""

PLATEAU_MARGIN = 0.4
"""nats/char below the training text's unigram entropy that the mean loss of the last `PLATEAU_WINDOW` steps must
reach before `--precision auto` turns to bf16 at a rate above `BF16_MAX_LR_ON_CPU`: the plateau's exit is where a
run's course is set, so it is crossed in fp32; past it bf16 held at 3e-3 (300 steps with the same dropout masks:
+0.0002 nats/char against fp32; and the bundled 768 × 2 model, bf16 after step 165)."""
PLATEAU_WINDOW = 20


@lru_cache(None)
def bf16_training_fails(cell: str = "lstm") -> str | None:
    """What this CPU lacks to train a `cell` in bf16, or None where it can: one forward and backward step of a tiny
    model under autocast, tried once per process. Tried rather than read from the CPU's flags: oneDNN's bf16 LSTM
    needs AVX-512 (without it: "could not create a primitive descriptor for the LSTM forward propagation
    primitive"), a GRU runs anywhere, and ONEDNN_MAX_CPU_ISA can hide what the flags claim."""
    with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.enable_grad():
        model = CharRNN(ModelConfig(vocab_size=4, hidden_size=8, num_layers=1, dropout=0.0, cell=cell)).train()
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits, _ = model(torch.zeros(2, 3, dtype=torch.long))
            logits.float().sum().backward()
        except (RuntimeError, NotImplementedError) as error:
            if "primitive descriptor" in str(error):
                return f"no AVX-512, which oneDNN's bf16 {cell.upper()} needs"
            return str(error).split(". ")[0]
    return None


def trainable_precisions(device: str = "auto", cell: str = "lstm") -> tuple[str, ...]:
    """The `--precision` values a run on `device` can train with here (what the training form offers): bf16 only
    where it runs."""
    if pick_device(device).type == "cpu" and bf16_training_fails(cell):
        return tuple(p for p in TRAIN_PRECISIONS if p != "bf16")
    return TRAIN_PRECISIONS


def native_bf16_cpu(cell: str = "lstm") -> bool:
    """Whether the CPU has native bf16 (its flags: speed) and trains a `cell` in it (tried)."""
    from charwriter.lm.precision import cpu_summary

    native = any(flag in cpu_summary() for flag in ("avx512_bf16", "amx_bf16"))
    return native and bf16_training_fails(cell) is None


def bf16_after_plateau(requested: str, device: torch.device, lr: float, cell: str = "lstm") -> bool:
    """`auto` where bf16 is native on the CPU but the rate is above `BF16_MAX_LR_ON_CPU`: fp32 until the loss has
    left the unigram plateau, bf16 from there."""
    return requested == "auto" and device.type == "cpu" and lr > BF16_MAX_LR_ON_CPU and native_bf16_cpu(cell)


def training_bf16(requested: str, device: torch.device, lr: float = 1e-3, cell: str = "lstm") -> tuple[bool, str]:
    """Whether the training step starts with its matmuls in bf16 (autocast), and why, for the progress line; a
    `UserError` for `bf16` on a CPU that cannot train this cell in it."""
    if requested == "fp32":
        return False, "fp32 (--precision)"
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
        if requested == "bf16" or native:
            return True, "bf16 (" + ("--precision" if requested == "bf16" else "native on this GPU") + ")"
        return False, "fp32 (this GPU has no native bf16)"
    if device.type != "cpu":
        return False, f"fp32 (bf16 is not used on {device.type})"
    lacks, model = bf16_training_fails(cell), "an LSTM" if cell == "lstm" else "a GRU"
    if requested == "bf16" and lacks:
        raise UserError(f"--precision bf16: this CPU cannot train {model} in bf16 ({lacks}) — use --precision fp32"
                        " or auto")
    if requested == "bf16":
        return True, "bf16 (--precision)" + ("" if native_bf16_cpu(cell) else "; this CPU has no native bf16: slow")
    if lacks:
        return False, f"fp32 (this CPU cannot train {model} in bf16: {lacks})"
    if not native_bf16_cpu(cell):
        return False, "fp32 (this CPU has no native bf16)"
    if bf16_after_plateau(requested, device, lr, cell):
        return False, "fp32 until the loss leaves the unigram plateau, then bf16 (native on this CPU)"
    return True, "bf16 (native on this CPU)"


def distributed_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) as torchrun sets them; (0, 1, 0) in a plain process."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


@torch.no_grad()
def quick_sample(model: CharRNN, vocab: list[str], prime: str, length: int, seed: int, temperature: float = 1.0) -> str:
    from charwriter.lm.sample import generate

    was_training = model.training
    model.eval()
    try:
        return "".join(generate(model, vocab, prime, length, top_k=5, seed=seed, temperature=temperature))
    finally:
        model.train(was_training)


def starting_model(corpus: Corpus, config: TrainConfig, device: torch.device, checkpoint,
                   init_model: LoadedModel | None) -> tuple[CharRNN, dict | None]:
    """The model a run trains: the checkpoint's, a copy of the one to fine-tune, or a new one (drawn from torch's
    RNG); and the training it started from, for a fine-tuned model."""
    if checkpoint is not None:
        model = checkpoint.model
        started_from = (checkpoint.meta.get("training") or {}).get("started_from")
    elif init_model is not None:
        started_from = dict(init_model.training, model=init_model.name)
        # The architecture is the model's; dropout and weight dropout are this run's (training-only).
        model = CharRNN(replace(init_model.config, dropout=config.dropout, weight_dropout=config.weight_dropout))
        model.load_state_dict(init_model.model.state_dict())
    else:
        started_from = None
        shape = ModelConfig(len(corpus.vocab), config.hidden_size, config.num_layers, config.dropout, config.cell,
                            config.weight_dropout)
        check_memory(shape, config.batch_size, config.seq_len, device)
        model = CharRNN(shape)
        if config.forget_bias is not None:
            set_forget_bias(model, config.forget_bias)
    if model.config.vocab_size != len(corpus.vocab):
        raise UserError(f"{corpus.name}: the model's vocabulary does not match this corpus — fine-tune with"
                        " --init-from, which keeps the model's vocabulary, or train a new model")
    return model, started_from


class Trainer:
    """Trains a CharRNN on a corpus in a run directory; `run()` returns the final `done` event."""

    def __init__(self, corpus: Corpus, config: TrainConfig, run_dir: str | Path, resume: bool = False,
                 callbacks: list[Callable[[Event], None]] | None = None, init_model: LoadedModel | None = None,
                 corpus_path: str | None = None):
        self.corpus = corpus
        self.config = config
        self.run_dir = Path(run_dir)
        self.callbacks = list(callbacks or [])
        self.corpus_path = corpus_path
        self._stop_reason: str | None = None
        self.device = pick_device(config.device)
        self._choose_precision()
        self.threads_reason = "torch's default"  # the command line measures and says (charwriter.lm.threads)
        self.rank, self.world, local_rank = distributed_env()
        if self.world > 1:
            self._join_processes(local_rank)
        self._make_streams()

        torch.manual_seed(config.seed)
        self.step = 0
        self.epoch = 0  # 0-based epoch in progress
        self.batch = 0  # next batch within the epoch
        self.best_val = math.inf
        self.last_val: float | None = None
        self.first_loss: float | None = None
        self.elapsed = 0.0  # training seconds over all sessions of this run
        self.state = None
        checkpoint = load_checkpoint(self.checkpoint_path) if resume else None
        # started_from: a fine-tuned model's parent (its own training summary), else None
        self.model, self.started_from = starting_model(corpus, config, self.device, checkpoint, init_model)
        self._make_optimizer()
        if checkpoint is not None:
            self._restore(checkpoint)

    # --- setting up ---------------------------------------------------------------------------------------------

    def _choose_precision(self) -> None:
        """Whether the training step starts in bf16 (`autocast`), why, and when `auto` turns to it later."""
        config = self.config
        # config.cell is the model's: the command line sets it from --init-from, a resumed run from its checkpoint
        self.autocast, self.precision_reason = training_bf16(config.precision, self.device, config.lr, config.cell)
        # `auto` above BF16_MAX_LR_ON_CPU: bf16 once the mean loss of the last steps falls below this
        self.bf16_below = self.corpus.unigram_entropy() - PLATEAU_MARGIN if bf16_after_plateau(
            config.precision, self.device, config.lr, config.cell) else None
        self.recent_losses: list[float] = []
        self.bf16_after: int | None = None  # the last fp32 step, when `bf16_below` turned bf16 on

    def _join_processes(self, local_rank: int) -> None:
        """Under torchrun: this process's GPU, and the process group the gradients are averaged in."""
        if self.config.batch_size % self.world:
            raise UserError(f"--batch-size {self.config.batch_size} must be a multiple of the {self.world} processes")
        if self.device.type == "cuda":
            self.device = torch.device("cuda", local_rank)
            torch.cuda.set_device(self.device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    def _make_streams(self) -> None:
        """The corpus as training and validation streams: all of them (the global batch) and this process's share."""
        corpus, config = self.corpus, self.config
        corpus.check_size(config.batch_size, config.seq_len)
        self.train_streams = corpus.train_streams(config.batch_size, config.seq_len)  # all streams: the global batch
        self.val_streams = corpus.val_streams(config.batch_size, config.seq_len)
        self.local_train = self.train_streams.shard(self.rank, self.world)
        self.local_val = self.val_streams.shard(self.rank, self.world)
        self.total_steps = config.epochs * len(self.train_streams)

    def _make_optimizer(self) -> None:
        """The model on its device in training mode, its Adam, and the network the step runs (DDP's wrapper under
        torchrun)."""
        config = self.config
        self.model.to(self.device).train()
        try:
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, fused=True)
        except (RuntimeError, TypeError):  # no fused Adam for this device or torch version
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.network = self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            # DDP broadcasts rank 0's weights; each rank then draws its own dropout masks.
            self.network = DistributedDataParallel(self.model)
            torch.manual_seed(config.seed + 1000 * self.rank)

    # --- events -------------------------------------------------------------------------------------------------

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.run_dir)

    @property
    def events_path(self) -> Path:
        return self.folder.events

    @property
    def checkpoint_path(self) -> Path:
        return self.folder.checkpoint

    def add_callback(self, callback: Callable[[Event], None]) -> None:
        self.callbacks.append(callback)

    def emit(self, event: Event) -> Event:
        if self.rank:
            return event  # only rank 0 reports
        with open(self.events_path, "a", encoding="utf-8") as f:
            f.write(event.to_json() + "\n")
        for callback in self.callbacks:
            callback(event)
        return event

    def request_stop(self, reason: str = "interrupted") -> None:
        """Ask the loop to save a checkpoint and stop after the current step (safe from a signal handler)."""
        self._stop_reason = reason

    # --- checkpoints --------------------------------------------------------------------------------------------

    def summary(self) -> dict:
        return {
            "corpus": self.corpus.name,
            "corpus_sha256": self.corpus.sha256,
            "corpus_chars": len(self.corpus.data),
            "corpus_path": self.corpus_path,
            "val_fraction": self.config.val_fraction,
            "steps": self.step,
            "epochs": round(self.step / max(1, len(self.train_streams)), 3),
            "best_val_loss": None if math.isinf(self.best_val) else round(self.best_val, 5),
            "last_val_loss": None if self.last_val is None else round(self.last_val, 5),
            "train_seconds": round(self.elapsed, 1),
            "device": str(self.device),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "hyperparameters": self.config.to_dict(),
            **self._lineage(),
        }

    def _lineage(self) -> dict:
        """For a fine-tuned model: the training it started from, and the steps of the whole chain."""
        if not self.started_from:
            return {}
        before = self.started_from.get("total_steps", self.started_from.get("steps", 0))
        return {"started_from": self.started_from, "total_steps": self.step + before}

    def save_checkpoint(self, reason: str) -> None:
        extra = {"rng": torch.get_rng_state()}
        if self.state is not None:
            for i, t in enumerate(state_tensors(self.state)):
                extra[f"state{i}"] = self._gather_streams(t)
        if self.rank:
            return
        progress = {"step": self.step, "epoch": self.epoch, "batch": self.batch, "best_val": self.best_val,
                    "last_val": self.last_val, "first_loss": self.first_loss, "elapsed": self.elapsed,
                    "has_state": self.state is not None, "bf16_after": self.bf16_after,
                    "recent_losses": self.recent_losses}
        if math.isinf(self.best_val):
            progress["best_val"] = None
        save_checkpoint(self.checkpoint_path, self.model, self.corpus.vocab, self.optimizer, extra, progress,
                        self.summary())
        save_model(self.folder.last, self.model, self.corpus.vocab, self.summary())
        self.emit(CheckpointEvent(step=self.step, path=str(self.checkpoint_path), reason=reason))

    def _restore(self, checkpoint) -> None:
        p = checkpoint.progress
        self.step, self.epoch, self.batch = p["step"], p["epoch"], p["batch"]
        self.best_val = math.inf if p["best_val"] is None else p["best_val"]
        self.last_val, self.first_loss, self.elapsed = p["last_val"], p["first_loss"], p["elapsed"]
        recent, after = p.get("recent_losses"), p.get("bf16_after")  # absent in a checkpoint from before them
        if isinstance(recent, list) and all(isinstance(x, (int, float)) for x in recent):
            self.recent_losses = [float(x) for x in recent][-PLATEAU_WINDOW:]
        if self.bf16_below is not None and isinstance(after, int) and not isinstance(after, bool) and after >= 0:
            self._turn_bf16(after)
        checkpoint.restore_optimizer(self.optimizer, self.model)
        torch.set_rng_state(checkpoint.extra("rng"))
        if self.rank:
            torch.manual_seed(self.config.seed + 1000 * self.rank + self.step)
        if p["has_state"]:
            n = states.tensor_count(self.model.config.cell)
            lo = self.rank * self.config.batch_size // self.world
            rows = slice(lo, lo + self.local_train.batch_size)
            saved = [checkpoint.extra(f"state{i}") for i in range(n)]
            if any(t is None or t.shape[1] != self.config.batch_size for t in saved):
                raise UserError(f"invalid checkpoint (its carried state is missing or not {self.config.batch_size}"
                                f" streams): {self.checkpoint_path}{RESTART}")
            tensors = [t[:, rows].to(self.device) for t in saved]
            self.state = state_from_tensors(tensors, self.model.config.cell)

    def _gather_streams(self, t: torch.Tensor) -> torch.Tensor:
        """The carried state of all streams (layers, batch_size, hidden), from every process's share."""
        if self.world == 1:
            return t
        parts = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts, 1)

    def _agree(self, *flags: bool) -> list[bool]:
        """Every process acts on what any process decided (stop, time out, checkpoint): one small all-reduce."""
        if self.world == 1:
            return list(flags)
        t = torch.tensor([float(f) for f in flags], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]

    # --- the loop -----------------------------------------------------------------------------------------------

    def validate(self) -> float:
        # A CPU validates in fp32: the number is the saved model's, whatever the training step's precision.
        val = evaluate(self.model, self.local_val, self.device, self.autocast and self.device.type == "cuda",
                       reduce=self.world > 1)
        self.last_val = val
        improved = val < self.best_val
        if improved:
            self.best_val = val
        if self.rank:
            return val
        if improved:
            save_model(self.folder.best, self.model, self.corpus.vocab, self.summary())
        self.emit(ValEvent(step=self.step, epoch=self.epoch + self.batch / len(self.train_streams),
                           val_loss=round(val, 5), best_val_loss=round(self.best_val, 5), improved=improved))
        prime = self.config.sample_prime or ("\n" if "\n" in self.corpus.vocab else self.corpus.vocab[0])
        for temperature in self.config.temperatures:
            text = quick_sample(self.model, self.corpus.vocab, prime, self.config.sample_length,
                                self.config.seed + self.step, temperature)
            self.emit(SampleEvent(step=self.step, prime=prime, text=text, temperature=temperature))
        return val

    def train_step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.state is not None:
            self.state = detach_state(self.state)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            logits, self.state = self.network(x, self.state)
        if self.autocast:  # the carried state stays fp32, as the checkpoint that saves it
            self.state = states.each(self.state, lambda t: t.float())
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # under DDP this also averages the gradients over the processes
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        self.optimizer.step()
        loss = loss.detach()
        if self.world > 1:
            dist.all_reduce(loss)
            loss /= self.world
        value = loss.item()
        if self.bf16_below is not None and not self.autocast:
            self.recent_losses = (self.recent_losses + [value])[-PLATEAU_WINDOW:]
            if len(self.recent_losses) == PLATEAU_WINDOW and \
                    sum(self.recent_losses) / PLATEAU_WINDOW < self.bf16_below:
                self._turn_bf16(self.step + 1)
                self.emit(PrecisionEvent(step=self.step + 1, precision="bf16", reason=self.precision_reason))
        return value

    def _turn_bf16(self, step: int) -> None:
        self.autocast, self.bf16_after = True, step
        self.precision_reason = (f"bf16 after step {step:,}: the loss has left the unigram plateau (the mean of"
                                 f" {PLATEAU_WINDOW} steps is below {self.bf16_below:.2f} nats/char); fp32 until then")

    def run(self) -> DoneEvent:
        if self.rank == 0:
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                for stale in self.run_dir.glob(".*.safetensors.*.tmp"):  # a write a kill interrupted: never renamed
                    stale.unlink(missing_ok=True)
            except OSError as error:
                raise UserError(f"cannot make the run folder {shown(self.run_dir)}: {os_problem(error)}") from None
        c = self.config
        per_epoch = len(self.train_streams)
        try:
            self.emit(ConfigEvent(run=self.run_dir.name, run_dir=str(self.run_dir), corpus=self.corpus.name,
                                  corpus_path=self.corpus_path, corpus_chars=len(self.corpus.data),
                                  vocab_size=len(self.corpus.vocab), batches_per_epoch=per_epoch,
                                  total_steps=self.total_steps, parameters=self.model.num_parameters(),
                                  device=str(self.device), resumed_at_step=self.step, processes=self.world,
                                  threads=torch.get_num_threads(), threads_reason=self.threads_reason,
                                  precision="bf16" if self.autocast else "fp32",
                                  precision_reason=self.precision_reason, reading=self.corpus.reading,
                                  config=c.to_dict()))
            return self._loop(per_epoch)
        except UserError as error:
            self._emit_error(str(error))
            raise
        except OSError as error:  # the events file: a full disk, a folder made read-only under the run
            message = f"cannot write to the run folder {shown(self.run_dir)}: {os_problem(error)}"
            self._emit_error(message)
            raise UserError(message) from None
        except Exception as error:
            self._emit_error(f"{type(error).__name__}: {error}")
            raise

    def _emit_error(self, message: str) -> None:
        """Say why the run stopped, to the events file if it can still be written, and to the callbacks."""
        try:
            self.emit(ErrorEvent(step=self.step, message=message))
        except OSError:
            for callback in self.callbacks:
                callback(ErrorEvent(step=self.step, message=message))

    def _loop(self, per_epoch: int) -> DoneEvent:
        c = self.config
        session_start = time.monotonic()
        elapsed_before = self.elapsed
        last_checkpoint = time.monotonic()
        window_loss, window_steps, window_start = 0.0, 0, time.monotonic()
        chars_per_step = c.batch_size * c.seq_len
        speed = SpeedWindow()
        reason = "finished"
        while self.epoch < c.epochs:
            if self.batch == 0:
                self.state = None  # each epoch starts from a zero state, as the seed
            while self.batch < per_epoch:
                x, y = self.local_train.batch(self.batch)
                lr = learning_rate(c, self.step, self.total_steps)
                loss = self.train_step(x.to(self.device), y.to(self.device), lr)
                self._check_loss(loss)
                self.step += 1
                self.batch += 1
                self.elapsed = elapsed_before + time.monotonic() - session_start
                window_loss += loss
                window_steps += 1
                if window_steps >= c.log_every or self.batch == per_epoch:
                    now = time.monotonic()
                    cps = speed.add(window_steps * chars_per_step, now - window_start)
                    self._report_steps(window_loss / window_steps, lr, cps, per_epoch)
                    window_loss, window_steps, window_start = 0.0, 0, now
                epoch_end = self.batch == per_epoch
                if epoch_end:
                    self.epoch += 1
                    self.batch = 0
                if epoch_end or (c.eval_every and self.step % c.eval_every == 0):
                    self.validate()
                stopping, due = self._stop_or_checkpoint(last_checkpoint)
                if stopping:
                    reason = stopping
                if stopping or epoch_end or due:
                    self.save_checkpoint("stop" if stopping else "epoch" if epoch_end else "timer")
                    last_checkpoint = time.monotonic()
                if window_steps == 0:
                    window_start = time.monotonic()  # chars/s counts training, not validation or checkpoints
                if stopping or epoch_end:
                    break
            if reason != "finished":
                break
        if reason == "finished" and self.best_val == math.inf:
            self.validate()
        return self.emit(DoneEvent(step=self.step, reason=reason, finished=reason == "finished",
                                   best_val_loss=None if math.isinf(self.best_val) else round(self.best_val, 5),
                                   last_val_loss=None if self.last_val is None else round(self.last_val, 5),
                                   train_seconds=round(self.elapsed, 1), model=str(self.folder.best),
                                   run_dir=str(self.run_dir)))

    def _check_loss(self, loss: float) -> None:
        """Remember the first loss; stop a run whose loss went to NaN or far above it."""
        if self.first_loss is None:
            self.first_loss = loss
        if not math.isfinite(loss) or loss > 2 * self.first_loss + 1:
            raise TrainingDiverged(
                f"training diverged at step {self.step + 1} (loss {loss:.3g}, first loss {self.first_loss:.3g})"
                f"; the last good checkpoint is kept — resume with a lower --lr or --clip"
            )

    def _report_steps(self, loss: float, lr: float, chars_per_s: float, per_epoch: int) -> None:
        """The mean loss of the steps since the last report, the speed and the time left."""
        eta = (self.total_steps - self.step) * self.config.batch_size * self.config.seq_len / max(chars_per_s, 1e-9)
        self.emit(StepEvent(step=self.step, epoch=self.epoch + self.batch / per_epoch, loss=round(loss, 5), lr=lr,
                            chars_per_s=round(chars_per_s, 1), elapsed_s=round(self.elapsed, 2), eta_s=round(eta, 1)))

    def _stop_or_checkpoint(self, last_checkpoint: float) -> tuple[str | None, bool]:
        """Why the run stops after this step (None: it goes on), and whether the timed checkpoint is due. Decided
        together: a signal may reach one process a moment before the others."""
        c = self.config
        timed_out = c.max_minutes is not None and self.elapsed >= c.max_minutes * 60
        enough = c.max_steps is not None and self.step >= c.max_steps
        due = time.monotonic() - last_checkpoint >= c.checkpoint_minutes * 60
        stop, timed_out, due = self._agree(self._stop_reason is not None, timed_out, due)
        if not (stop or timed_out or enough):
            return None, due
        return self._stop_reason or ("max-minutes" if timed_out else "max-steps" if enough else "interrupted"), due

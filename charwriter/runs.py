"""Training runs for the app, without Textual: past runs, their histories, and a trainer in a subprocess.

A run is a folder under `paths.runs_dir()` holding the trainer's `events.jsonl`, its checkpoint and its models.
`read_history` replays an `events.jsonl` into a `RunHistory` (the curves, the last sample, how it ended);
`TrainerProcess` runs `python -m charwriter train … --events -` and hands each event line over, parsed
(`charwriter.lm.events`), for the same `RunHistory`, so a live run and a past one look alike. The app's run service
(`charwriter.run_service`) drives these; tests use them directly.

The trainer runs in its own process so the editor never competes with it for the GIL, a crash cannot take the
app down, and SIGINT gives the trainer's own stop: save a checkpoint and exit 0.
"""

from __future__ import annotations

import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from charwriter import paths
from charwriter.errors import UserError
from charwriter.lm import events
from charwriter.lm.config import FORM_OPTIONS, RESUMABLE
from charwriter.lm.run_folder import RunFolder
from charwriter.lm.events import (CheckpointEvent, ConfigEvent, DoneEvent, ErrorEvent, Event, PrecisionEvent,
                                  SampleEvent, StepEvent, ValEvent)

RESUMABLE_OPTIONS = tuple(name for name in FORM_OPTIONS if name in RESUMABLE)
"""The form's fields that a resume takes along (for example more epochs)."""

# Parameter-characters per second one busy CPU core manages for this LSTM, forward and backward (measured with
# benchmarks-style timing at hidden 128-512, batch 32, seq 100: 7e9-1.1e10). Tiny models are overhead-bound, hence
# the cap. Only for the estimate shown before a run starts; the run itself reports its real speed.
CPU_PARAM_CHARS_PER_S = 8e9
MAX_ESTIMATED_CHARS_PER_S = 100_000


@dataclass
class RunHistory:
    """Everything a run's events say: curves, progress, the last sample, and how it ended. Not thread-safe: the app
    applies a live run's events on its own thread (`charwriter.run_service`)."""

    run_dir: Path
    config: ConfigEvent | None = None  # the latest (a resumed run writes one per session)
    train_loss: list[tuple[int, float]] = field(default_factory=list)  # (step, mean loss over the logged window)
    val_loss: list[tuple[int, float]] = field(default_factory=list)  # (step, validation loss)
    lrs: list[tuple[int, float]] = field(default_factory=list)  # (step, learning rate)
    last_step: StepEvent | None = None
    best_val_loss: float | None = None
    sample: SampleEvent | None = None  # the latest
    samples: dict = field(default_factory=dict)  # temperature -> the latest sample at it (one validation's set)
    done: DoneEvent | None = None
    error: str | None = None  # an `error` event's message, or what a crashed trainer left on stderr
    checkpoints: int = 0
    speeds: list[float] = field(default_factory=list)  # chars/s of each step event
    bf16_after: int | None = None  # `--precision auto` turned bf16 after this step (a `precision` event)

    @property
    def name(self) -> str:
        return self.run_dir.name

    def add(self, event: Event) -> None:
        if isinstance(event, ConfigEvent):
            self.config = event
            self.done = None
            self.error = None
            # A resumed run repeats any steps after its last checkpoint: keep one copy of each step.
            resumed = event.resumed_at_step
            self.train_loss = [p for p in self.train_loss if p[0] <= resumed]
            self.val_loss = [p for p in self.val_loss if p[0] <= resumed]
            self.lrs = [p for p in self.lrs if p[0] <= resumed]
            if self.bf16_after is not None and self.bf16_after > resumed:
                self.bf16_after = None  # the switch was after the checkpoint: the resumed session repeats it
        elif isinstance(event, PrecisionEvent):
            if event.precision == "bf16":
                self.bf16_after = event.step
        elif isinstance(event, StepEvent):
            self.last_step = event
            if event.loss is not None:
                self.train_loss.append((event.step, event.loss))
            if event.lr is not None:
                self.lrs.append((event.step, event.lr))
            if event.chars_per_s:
                self.speeds.append(event.chars_per_s)
        elif isinstance(event, ValEvent):
            if event.val_loss is not None:
                self.val_loss.append((event.step, event.val_loss))
            self.best_val_loss = event.best_val_loss
        elif isinstance(event, SampleEvent):
            if self.sample is not None and self.sample.step != event.step:
                self.samples = {}  # a new validation's samples replace the last one's
            self.sample = event
            self.samples[event.temperature] = event
        elif isinstance(event, CheckpointEvent):
            self.checkpoints += 1
        elif isinstance(event, DoneEvent):
            self.done = event
            if event.best_val_loss is not None:
                self.best_val_loss = event.best_val_loss
        elif isinstance(event, ErrorEvent):
            self.error = event.message

    def ended(self, error: str | None) -> None:
        """The trainer process exited; `error` is what went wrong, if anything (an error event says it better)."""
        if error and not self.error:
            self.error = error

    # --- what the screen shows --------------------------------------------------------------------------------

    @property
    def step(self) -> int:
        if self.done:
            return self.done.step
        if self.last_step:
            return self.last_step.step
        return self.config.resumed_at_step if self.config else 0

    @property
    def precision(self) -> str | None:
        """The training step's precision now, with when it turned bf16 ("bf16 after step 78"), None if unknown."""
        if self.bf16_after is not None:
            return f"bf16 after step {self.bf16_after:,}"
        return self.config.precision if self.config else None

    @property
    def hyperparameters(self) -> dict:
        return self.config.config if self.config else {}

    @property
    def total_steps(self) -> int:
        return (self.config.total_steps if self.config else None) or 0

    @property
    def epochs(self) -> int:
        return self.hyperparameters.get("epochs") or 0

    @property
    def batches_per_epoch(self) -> int:
        return (self.config.batches_per_epoch if self.config else None) or 0

    @property
    def status(self) -> str:
        """finished, stopped, failed, or incomplete (no `done`: still running, or killed)."""
        if self.error:
            return "failed"
        if self.done:
            return "finished" if self.done.finished else "stopped"
        return "incomplete"

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.run_dir)

    @property
    def best_model(self) -> Path:
        return self.folder.best

    @property
    def has_checkpoint(self) -> bool:
        return self.folder.checkpoint.is_file()

    @property
    def resumable(self) -> bool:
        finished = self.done is not None and self.done.finished
        return not finished and self.has_checkpoint


def read_history(run_dir: str | Path) -> RunHistory:
    """Replay a run's `events.jsonl`; lines that are not events (a torn last line) are skipped."""
    history = RunHistory(Path(run_dir))
    for event in events.read(history.folder.events):
        history.add(event)
    return history


def list_runs(root: Path | None = None) -> list[RunHistory]:
    """Every run folder with an `events.jsonl`, the most recently written first."""
    root = root or paths.runs_dir()
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if RunFolder(p).events.is_file()]
    found.sort(key=lambda p: RunFolder(p).events.stat().st_mtime, reverse=True)
    return [read_history(p) for p in found]


# --- before a run: names, corpus checks, estimates ------------------------------------------------------------


def default_run_name(corpus: str | Path) -> str:
    return f"{Path(corpus).stem or 'run'}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def is_plain_name(name: str) -> bool:
    """A run name is a folder name of its own under the runs folder: not empty, no path separator, no leading '.'."""
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


def check_run_name(name: str) -> Path:
    """The run folder for `name`, or a `UserError` saying why the name cannot be used."""
    if not is_plain_name(name):
        raise UserError(f"run name {name!r}: use a plain name without '/' and not starting with '.'")
    run_dir = paths.runs_dir() / name
    folder = RunFolder(run_dir)
    if folder.events.exists() or folder.checkpoint.exists():
        raise UserError(f"a run named {name!r} already exists — pick another name, or open it below and resume")
    return run_dir


def locate_run(name_or_dir: str | Path) -> Path:
    """Where a run given by its name (under `paths.runs_dir()`) or its folder would be; nothing is checked."""
    given = Path(name_or_dir).expanduser()
    return given if given.is_dir() else paths.runs_dir() / str(name_or_dir)


def find_run(name_or_dir: str | Path) -> Path:
    """A run's folder from its name (under `paths.runs_dir()`) or its path, or a `UserError` saying it is not one."""
    run_dir = locate_run(name_or_dir)
    if not RunFolder(run_dir).holds_run():
        raise UserError(f"no run named {str(name_or_dir)!r} (no {RunFolder.EVENTS} in {run_dir}) — `charwriter runs`"
                        " lists them")
    return run_dir


def run_size(run_dir: Path) -> int:
    return sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file() and not p.is_symlink())


def delete_run(run_dir: Path) -> None:
    """Delete a run's folder: its events, checkpoint and models. Only a folder that holds a run."""
    import shutil

    run_dir = find_run(run_dir)
    if run_dir.is_symlink():
        raise UserError(f"{run_dir} is a link, not a run folder — remove it by hand")
    shutil.rmtree(run_dir)


def rename_run(run_dir: Path, new_name: str) -> Path:
    """Give a run another name (its folder moves within the runs folder); -> the new folder."""
    run_dir = find_run(run_dir)
    target = check_run_name(new_name)
    if target.exists():
        raise UserError(f"{target} already exists — pick another name")
    os.rename(run_dir, target)
    return target


@dataclass
class CorpusInfo:
    chars: int
    vocab_size: int
    batches_per_epoch: int
    parameters: int
    fine_tune_size: tuple[int, int] | None = None  # (hidden_size, num_layers) of the starting model, which win
    param_chars_per_s: float = CPU_PARAM_CHARS_PER_S  # this machine's speed, when a past run measured it
    speed_from: str | None = None  # the past run whose speed the estimate uses; None: the CPU rule of thumb
    reading: str | None = None  # how the trainer will read it: a folder's files, a Gutenberg licence cut
    unseen: str = ""  # fine-tuning: the characters the starting model cannot read (nor as a look-alike)
    extended: bool = False  # … and they are added to its vocabulary (--extend-vocab)

    @property
    def estimated_chars_per_s(self) -> float:
        return min(MAX_ESTIMATED_CHARS_PER_S, self.param_chars_per_s / max(1, self.parameters))

    def estimated_epoch_seconds(self, batch_size: int, seq_len: int) -> float:
        return self.batches_per_epoch * batch_size * seq_len / self.estimated_chars_per_s


MIN_BATCHES_PER_EPOCH = 50  # fewer, and a run of the seed's 20 epochs has too few steps to leave the unigram plateau


def batch_advice(batches_per_epoch: int, batch_size: int, seq_len: int) -> str | None:
    """A warning for a corpus too small for its batch (100 kB at batch 128: 7 batches per epoch, and the loss
    stayed near 3.2 for 20 epochs), with the batch size that gives it `MIN_BATCHES_PER_EPOCH`; None when it fits."""
    if batches_per_epoch >= MIN_BATCHES_PER_EPOCH or batch_size <= 1:
        return None
    streams_chars = batches_per_epoch * batch_size * seq_len  # what one epoch reads
    suggested = 1 << max(0, int(math.log2(max(1, streams_chars // (seq_len * MIN_BATCHES_PER_EPOCH)))))
    if suggested >= batch_size:
        return None
    per_epoch = streams_chars // (suggested * seq_len)
    return (f"only {batches_per_epoch} batch{'es' if batches_per_epoch != 1 else ''} per epoch: too few steps to"
            f" learn much — batch {suggested} gives "
            f"{per_epoch} (or train more epochs)")


def measured_speed(parameters: int, batch_size: int, root: Path | None = None) -> tuple[float, str] | None:
    """Parameter-characters per second that the latest CPU run of a similar model and batch reached here.

    Similar: parameters within 4× and batch size within 2× (small models and small batches are overhead-bound,
    so their speed says little about big ones). Returns (speed, run name), or None when no such run exists.
    """
    for history in list_runs(root):
        config = history.config
        size = (config.parameters if config else None) or 0
        batch = history.hyperparameters.get("batch_size") or 0
        if config is None or not str(config.device or "").startswith("cpu") or len(history.speeds) < 3 or not size \
                or not batch:
            continue
        if size / 4 <= parameters <= size * 4 and batch / 2 <= batch_size <= batch * 2:
            return statistics.median(history.speeds) * size, history.name
    return None


def check_corpus(path: str | Path, batch_size: int, seq_len: int, val_fraction: float, hidden_size: int,
                 num_layers: int, init_from: str | None = None, extend_vocab: bool = False) -> CorpusInfo:
    """What the trainer would say about this corpus and these sizes, without training (imports torch).

    Raises the trainer's own `CorpusError`/`UserError` messages: missing, binary, not UTF-8, too short.
    """
    from charwriter.lm.modelfile import read_metadata
    from charwriter.lm.data import Corpus
    from charwriter.lm.model import CharRNN, ModelConfig
    from charwriter.lm.registry import resolve_model

    vocab, unseen = None, []
    if init_from:
        from charwriter.lm.sample import unseen_characters

        meta = read_metadata(resolve_model(init_from))
        vocab = meta["vocab"]
        hidden_size, num_layers = meta["config"]["hidden_size"], meta["config"]["num_layers"]
        unseen = unseen_characters(Corpus.from_file(path, val_fraction, keep_boilerplate=False).text, vocab)
        if extend_vocab:
            vocab = vocab + unseen
    corpus = Corpus.from_file(path, val_fraction, vocab=vocab, keep_boilerplate=False)  # as the trainer reads it
    corpus.check_size(batch_size, seq_len, where=str(path))
    model = CharRNN(ModelConfig(len(corpus.vocab), hidden_size, num_layers, 0.0, "lstm"))
    info = CorpusInfo(len(corpus.data), len(corpus.vocab), len(corpus.train_streams(batch_size, seq_len)),
                      model.num_parameters(), (hidden_size, num_layers) if init_from else None, reading=corpus.reading,
                      unseen="".join(unseen), extended=extend_vocab and bool(unseen))
    measured = measured_speed(info.parameters, batch_size)
    if measured is not None:
        info.param_chars_per_s, info.speed_from = measured
    return info


def samples_text(h: RunHistory) -> str:
    """The latest validation's samples, one per temperature (a safe one, then a wild one), each from its prime."""
    if len(h.samples) <= 1 and h.sample is not None and h.sample.temperature is None:
        return h.sample.text
    parts = []
    for temperature, event in sorted(h.samples.items(), key=lambda item: item[0] or 1.0):
        prime = event.prime if event.prime.strip() else ""
        parts.append(f"at temperature {temperature:g}: {prime}{event.text.strip()}")
    return "\n".join(parts)


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 1:
        return "under 1s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds // 60 % 60:02d}m"


# --- the trainer process --------------------------------------------------------------------------------------


def _flags(options: dict) -> list[str]:
    argv = []
    for key, value in options.items():
        if value is True:  # a switch (store_true)
            argv.append("--" + key.replace("_", "-"))
        elif isinstance(value, str) and value.startswith("-"):  # a prime like "-Yes," is not an option
            argv.append(f"--{key.replace('_', '-')}={value}")
        elif value is not None and value is not False:
            argv += ["--" + key.replace("_", "-"), str(value)]
    return argv


def app_trainer_threads() -> int:
    """Threads for a trainer the app starts: every core but one, which the editor's suggestions keep (on two cores a
    trainer on both and a suggestion run fought, and each slowed the other many times over)."""
    from charwriter.lm.threads import usable_cores

    return max(1, usable_cores() - 1)


def train_command(corpus: str | Path, run_dir: Path, options: dict, init_from: str | None = None) -> list[str]:
    """The command line of a new run; `options` are TrainConfig fields (None: the trainer's default)."""
    argv = [sys.executable, "-m", "charwriter", "train", str(Path(corpus).expanduser()), "--out", str(run_dir)]
    argv += _flags(options)
    if init_from:
        argv += ["--init-from", init_from]
    return argv + ["--threads", str(app_trainer_threads()), "--events", "-"]


def resume_command(run_dir: Path, options: dict | None = None, restart_schedule: bool = False) -> list[str]:
    """Continue a stopped run; only `RESUMABLE_OPTIONS` may change (for example more epochs). `restart_schedule`:
    the cosine schedule starts again from here (a warm restart) instead of stretching over the new length."""
    changed = {k: v for k, v in (options or {}).items() if k in RESUMABLE_OPTIONS}
    return [sys.executable, "-m", "charwriter", "train", "--resume", str(run_dir), *_flags(changed),
            *(["--restart-schedule"] if restart_schedule else []), "--threads", str(app_trainer_threads()),
            "--events", "-"]


class TrainerProcess:
    """A trainer subprocess and its stdout's events; `follow()` blocks, so call it from a thread."""

    def __init__(self, argv: list[str], history: RunHistory, env: dict | None = None):
        self.argv = argv
        self.history = history
        self.env = env
        self.returncode: int | None = None
        self.stopping = False
        self.began = False  # a config event came: the trainer set up its run (and its SIGINT handler)
        self._stderr = tempfile.TemporaryFile(mode="w+b")  # a file, not a pipe: a chatty stderr cannot block
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self._proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL,
                                      env=env, text=True, encoding="utf-8", errors="replace", bufsize=1)

    @property
    def running(self) -> bool:
        return self._proc is not None and self.returncode is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def follow(self, on_event: Callable[[Event], None] | None = None) -> int:
        """Read events until the trainer exits; returns its exit code (negative: killed by that signal).

        Without `on_event` each event goes into `history` here, and so does how the process ended; with it, the
        caller applies them (the app does, on its own thread: `history.add`, then `history.ended(failure(code))`)."""
        assert self._proc is not None and self._proc.stdout is not None, "start() first"
        apply = on_event or self.history.add
        for line in self._proc.stdout:
            event = events.parse(line)
            if event is not None:
                self.began = self.began or isinstance(event, ConfigEvent)
                apply(event)
        code = self._proc.wait()
        self.returncode = code
        if on_event is None:
            self.history.ended(self.failure(code))
        return code

    def failure(self, code: int) -> str | None:
        """What went wrong, for a trainer that exited with `code`; None when nothing did (exit 0, or stopped before
        it set up its SIGINT handler: nothing ran, so nothing failed)."""
        if code == 0 or (self.stopping and not self.began):
            return None
        if code < 0:
            try:
                what = signal.Signals(-code).name
            except ValueError:
                what = f"signal {-code}"
            return f"the trainer was killed ({what})" + (f": {self.stderr_tail()}" if self.stderr_tail() else "")
        return self.stderr_tail() or f"the trainer exited with code {code}"

    def stderr_tail(self, lines: int = 6) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        return "\n".join(line for line in text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """The trainer's own stop: it finishes the step, saves a checkpoint and exits 0."""
        if self.running and self._proc is not None:
            self.stopping = True
            self._proc.send_signal(signal.SIGINT)

    def kill(self) -> None:
        if self.running and self._proc is not None:
            self._proc.kill()

    def wait(self, timeout: float | None = None) -> int | None:
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


def downsample(points: list[tuple[int, float]], limit: int) -> list[tuple[int, float]]:
    """At most about `limit` points, evenly spaced, always keeping the last (a plot is only so wide)."""
    if len(points) <= limit:
        return points
    stride = math.ceil(len(points) / limit)
    picked = points[::stride]
    return picked if picked[-1] == points[-1] else picked + [points[-1]]

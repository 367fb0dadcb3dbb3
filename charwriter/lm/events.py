"""What a training run reports, as small typed records: one JSON object per line in its `events.jsonl`.

The trainer writes them, the command line's progress view, the app's run service, the training screen, the runs
list and the benchmarks read them; a field read that does not exist fails where it is written, not silently far
away. `parse` reads any line a trainer ever wrote: a field an older trainer did not write is None, a field a newer
one added is ignored, a line that is not an event (a torn last line, a stray print) gives None. No torch.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar, Iterable, Union


@dataclass
class _Event:
    kind: ClassVar[str] = ""

    time: float = field(default_factory=lambda: round(time.time(), 3), kw_only=True)

    def to_dict(self) -> dict:
        return {"type": self.kind, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


@dataclass
class ConfigEvent(_Event):
    """A training session begins (a resumed run writes one per session)."""

    kind: ClassVar[str] = "config"
    run: str | None = None
    run_dir: str | None = None
    corpus: str | None = None
    corpus_path: str | None = None
    corpus_chars: int | None = None
    vocab_size: int | None = None
    batches_per_epoch: int | None = None
    total_steps: int | None = None
    parameters: int | None = None
    device: str | None = None
    resumed_at_step: int = 0
    processes: int = 1
    threads: int | None = None
    threads_reason: str | None = None
    precision: str | None = None
    precision_reason: str | None = None
    reading: str | None = None  # how the corpus was read: a folder's files used and skipped, a Gutenberg licence cut
    config: dict = field(default_factory=dict)  # the hyperparameters: `TrainConfig.to_dict()`


@dataclass
class StepEvent(_Event):
    """The mean training loss over the last `log_every` steps."""

    kind: ClassVar[str] = "step"
    step: int = 0
    epoch: float | None = None
    loss: float | None = None
    lr: float | None = None
    chars_per_s: float | None = None
    elapsed_s: float | None = None
    eta_s: float | None = None


@dataclass
class ValEvent(_Event):
    kind: ClassVar[str] = "val"
    step: int = 0
    epoch: float | None = None
    val_loss: float | None = None
    best_val_loss: float | None = None
    improved: bool = False


@dataclass
class SampleEvent(_Event):
    kind: ClassVar[str] = "sample"
    step: int = 0
    prime: str = ""
    text: str = ""
    temperature: float | None = None  # None: a trainer from before samples had temperatures (it sampled at 1)


@dataclass
class CheckpointEvent(_Event):
    kind: ClassVar[str] = "checkpoint"
    step: int = 0
    path: str | None = None
    reason: str | None = None  # timer, epoch or stop


@dataclass
class DoneEvent(_Event):
    kind: ClassVar[str] = "done"
    step: int = 0
    reason: str = "finished"  # finished, interrupted, max-minutes, max-steps
    finished: bool = False
    best_val_loss: float | None = None
    last_val_loss: float | None = None
    train_seconds: float | None = None
    model: str | None = None
    run_dir: str | None = None


@dataclass
class ErrorEvent(_Event):
    kind: ClassVar[str] = "error"
    step: int = 0
    message: str = "the trainer failed"


@dataclass
class PrecisionEvent(_Event):
    """The training step changed precision during the run (`--precision auto`: bf16 once past the plateau)."""

    kind: ClassVar[str] = "precision"
    step: int = 0
    precision: str = "fp32"
    reason: str | None = None


Event = Union[ConfigEvent, StepEvent, ValEvent, SampleEvent, CheckpointEvent, DoneEvent, ErrorEvent, PrecisionEvent]
KINDS: dict[str, type] = {cls.kind: cls for cls in (ConfigEvent, StepEvent, ValEvent, SampleEvent, CheckpointEvent,
                                                     DoneEvent, ErrorEvent, PrecisionEvent)}
_NAMES = {kind: {f.name for f in fields(cls)} for kind, cls in KINDS.items()}


def from_dict(data) -> Event | None:
    """The typed event of a decoded JSON object, or None if it is not one."""
    if not isinstance(data, dict):
        return None
    cls = KINDS.get(data.get("type"))  # type: ignore[arg-type]
    if cls is None:
        return None
    try:
        return cls(**{k: v for k, v in data.items() if k in _NAMES[cls.kind] and v is not None})
    except TypeError:
        return None


def parse(line: str) -> Event | None:
    try:
        return from_dict(json.loads(line))
    except ValueError:
        return None


def read(path) -> list[Event]:
    """Every event of an `events.jsonl` ([] if it does not exist)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [e for e in map(parse, f) if e is not None]
    except FileNotFoundError:
        return []


def of_kind(events: Iterable[Event], cls: type) -> list:
    return [e for e in events if isinstance(e, cls)]

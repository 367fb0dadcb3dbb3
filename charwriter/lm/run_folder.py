"""A training run's folder: the one place that names the files a run keeps (no Textual, no torch).

The trainer writes them, the command line resumes from them, the app lists and replays them, the model registry
offers their best model; each reads the names from `RunFolder`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar


@dataclass(frozen=True)
class RunFolder:
    """The folder of one training run and the paths of its files."""

    path: Path

    EVENTS: ClassVar[str] = "events.jsonl"
    """One JSON event per line (`charwriter.lm.events`): the run's whole story, appended as it trains."""
    CHECKPOINT: ClassVar[str] = "checkpoint.safetensors"
    """What a resume needs: weights, Adam's moments, the RNG and carried state, the position in the epoch."""
    BEST: ClassVar[str] = "best.safetensors"
    """The model with the lowest validation loss so far: the run's model."""
    LAST: ClassVar[str] = "last.safetensors"
    """The model at the latest checkpoint."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def events(self) -> Path:
        return self.path / self.EVENTS

    @property
    def checkpoint(self) -> Path:
        return self.path / self.CHECKPOINT

    @property
    def best(self) -> Path:
        return self.path / self.BEST

    @property
    def last(self) -> Path:
        return self.path / self.LAST

    @property
    def models(self) -> tuple[Path, Path]:
        """The model files a run writes (and must not write over someone else's)."""
        return self.best, self.last

    def holds_run(self) -> bool:
        """Whether a run has started here: it has events or a checkpoint."""
        return self.events.is_file() or self.checkpoint.is_file()

    def set_aside_events(self) -> Path:
        """Move the events of a run that is starting again out of its way (kept, not deleted); -> where they went."""
        stamp, n = datetime.now().strftime("%Y%m%d-%H%M%S"), 1
        kept = self.path / f"events.before-{stamp}.jsonl"
        while kept.exists():
            n += 1
            kept = self.path / f"events.before-{stamp}-{n}.jsonl"
        os.replace(self.events, kept)
        return kept

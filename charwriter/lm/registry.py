"""Finding models by name: bundled ones, the user's models folder, and the best model of each training run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from charwriter import paths
from charwriter.errors import ModelFileError, shown
from charwriter.lm.modelfile import read_metadata
from charwriter.lm.run_folder import RunFolder


@dataclass
class ModelEntry:
    name: str
    path: Path
    source: str  # "bundled", "user" or "run"
    meta: dict | None  # None when the file is not a readable charwriter model

    @property
    def training(self) -> dict:
        training = (self.meta or {}).get("training")
        return training if isinstance(training, dict) else {}

    @property
    def val_loss(self) -> float | None:
        """The best validation loss the file records, if it records a finite number (hand-edited files may not)."""
        value = self.training.get("best_val_loss")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        return float(value)

    def field(self, name: str) -> str:
        """A training field as text for a listing ("-" when missing), whatever type a file gives it."""
        value = self.training.get(name)
        return "-" if value is None else str(value)


def _entry(name: str, path: Path, source: str) -> ModelEntry:
    try:
        meta = read_metadata(path)
    except ModelFileError:
        meta = None
    return ModelEntry(name, path, source, meta if isinstance(meta, dict) else None)


def list_models() -> list[ModelEntry]:
    entries: list[ModelEntry] = []
    for source, folder in (("bundled", paths.bundled_models_dir()), ("user", paths.user_models_dir())):
        if folder.is_dir():
            entries += [_entry(p.stem, p, source) for p in sorted(folder.glob("*.safetensors"))]
    runs = paths.runs_dir()
    if runs.is_dir():
        for run in sorted(runs.iterdir()):
            best = RunFolder(run).best
            if best.is_file():
                entries.append(_entry(run.name, best, "run"))
    return entries


def resolve_model(spec: str | None) -> Path:
    """A model given by name (from `charwriter models`) or by path; None means the default model."""
    spec = spec or paths.DEFAULT_MODEL
    candidate = Path(spec).expanduser()
    if candidate.suffix == ".safetensors" or "/" in spec or candidate.is_file():
        if not candidate.exists() and not candidate.is_symlink():  # a link loop: the loader says so
            raise ModelFileError(f"model not found: {shown(candidate)} — check the path, or run `charwriter models`")
        return candidate
    for entry in list_models():
        if entry.name == spec:
            return entry.path
    names = ", ".join(e.name for e in list_models()) or "none yet"
    raise ModelFileError(f"no model named {shown(repr(spec))} (known: {shown(names)}) — give a name from `charwriter"
                         " models` or a path")

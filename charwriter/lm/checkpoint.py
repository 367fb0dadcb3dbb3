"""Model files and resume checkpoints: safetensors weights plus JSON metadata, never pickle.

A model file (`*.safetensors`) describes itself: the weights of `CharRNN`, and in the safetensors header a
`charwriter` entry holding JSON with the format version, the model config, the vocabulary and a training summary.
A resume checkpoint is the same kind of file with the optimizer's moments, the RNG state and the carried hidden
state added as tensors and the trainer's progress in the metadata. Every file is written to a temporary file
in the same directory and moved into place with `os.replace`, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from charwriter.errors import ModelFileError, shown
from charwriter.outputs import write_output
from charwriter.textfile import read_problem, regular_file_problem
from charwriter.lm.model import CharRNN, ModelConfig
from charwriter.lm.modelfile import (CHECKPOINT_FORMAT, CHECKSUM_KEY, FORMAT, FORMAT_VERSION, NOT_OURS, PICK_ANOTHER,
                                     STORAGE_DTYPES, check_checksum, check_format, check_metadata, check_progress,
                                     check_weights, expected_shapes, weights_checksum)

RESTART = " — start the run again, or fine-tune from its best model with --init-from"
STORAGE = {name: getattr(torch, dtype) for name, dtype in STORAGE_DTYPES.items()}


@dataclass
class LoadedModel:
    """A model ready to use, with what its file says about it."""

    model: CharRNN
    vocab: list[str]
    config: ModelConfig
    training: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def name(self) -> str:
        if self.path is None:
            return "model"
        return self.path.parent.name if self.path.stem in ("best", "last") else self.path.stem


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}


def save_model(path: str | Path, model: CharRNN, vocab: list[str], training: dict | None = None,
               storage: str = "fp32") -> None:
    """Write a model file; `storage` fp16 or bf16 stores the weights at 16 bits (the metadata says which)."""
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "vocab": vocab,
        "training": training or {},
        "storage": storage,
    }
    _write(Path(path), {k: v.to(STORAGE[storage]) for k, v in _cpu(model.state_dict()).items()}, meta)


def _bytes_of(tensor: torch.Tensor) -> tuple[str, tuple[int, ...], object]:
    """A tensor's dtype name, shape and bytes, for `weights_checksum`."""
    return str(tensor.dtype).replace("torch.", ""), tuple(tensor.shape), \
        tensor.contiguous().reshape(-1).view(torch.uint8).numpy()


def _write(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write a model or checkpoint file atomically, with the checksum of its tensors; a disk that is full or
    read-only is one line (`UserError`)."""
    meta = {**meta, CHECKSUM_KEY: weights_checksum(tensors, _bytes_of)}

    def write(tmp: str) -> None:
        try:
            save_file(tensors, tmp, metadata={"charwriter": json.dumps(meta)})
        except SafetensorError as error:  # safetensors reports the OS's error as text: keep its errno
            code = re.search(r"os error (\d+)", str(error))
            errno = int(code.group(1)) if code else 5  # EIO
            raise OSError(errno, os.strerror(errno)) from None

    write_output(path, write)


def _read(path: Path, kind: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """Header metadata and tensors of a charwriter safetensors file, or one clear `ModelFileError`."""
    path = Path(path)
    problem = regular_file_problem(path, kind)  # missing, a folder, a symbolic link loop, a FIFO
    if problem:
        raise ModelFileError(problem + (", or run `charwriter models` to list models" if not path.exists() and
                                        not path.is_symlink() else ""))
    try:
        with open(path, "rb") as f:
            head = f.read(8)
        if len(head) < 8:
            raise ModelFileError(f"not a safetensors file (only {len(head)} bytes): {path}{PICK_ANOTHER}")
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
        tensors = load_file(str(path))
    except ModelFileError:
        raise
    except OSError as error:  # permission denied, an I/O error: the file may be fine
        raise ModelFileError(f"cannot read {kind} {shown(path)}: {read_problem(error)}") from None
    except (SafetensorError, ValueError, RuntimeError) as error:
        detail = shown(str(error).splitlines()[0]) if str(error) else type(error).__name__
        raise ModelFileError(
            f"not a readable safetensors file (truncated or corrupt: {detail}): {shown(path)}{PICK_ANOTHER}"
        ) from None
    raw = header.get("charwriter")
    if raw is None:
        raise ModelFileError(
            f"not a charwriter {kind} (a safetensors file without charwriter metadata): {path}{NOT_OURS}"
        )
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise ModelFileError(f"corrupt charwriter metadata in {path}{PICK_ANOTHER}") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"corrupt charwriter metadata in {path} (not a JSON object){PICK_ANOTHER}")
    check_checksum(meta, tensors, path, _bytes_of)
    return meta, tensors


def _describe(weight: torch.Tensor) -> tuple[tuple[int, ...], str, float]:
    """Shape, dtype name and largest magnitude (inf if any is not finite) of a tensor, for `check_weights`."""
    dtype, largest = str(weight.dtype).replace("torch.", ""), 0.0
    if dtype in STORAGE_DTYPES.values() and weight.numel():  # others are refused for their type first
        largest = float(weight.abs().max()) if bool(torch.isfinite(weight).all()) else math.inf
    return tuple(weight.shape), dtype, largest


def _build(meta: dict, tensors: dict[str, torch.Tensor], path: Path, prefix: str = "") -> tuple[CharRNN, list[str], ModelConfig]:
    vocab, config, storage = check_metadata(meta, path)
    weights = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    check_weights(weights, config, None if prefix else storage, path, _describe)
    with torch.device("meta"):  # no random initialisation (half the load's time): every weight comes from the file
        model = CharRNN(config)
    model.load_state_dict({k: weights[k].float() for k in expected_shapes(config)}, assign=True)
    model.eval()
    return model, vocab, config


def load_model(path: str | Path) -> LoadedModel:
    path = Path(path)
    meta, tensors = _read(path, "model")
    if meta.get("format") == CHECKPOINT_FORMAT:
        check_format(meta, path, CHECKPOINT_FORMAT, "checkpoint")
        model, vocab, config = _build(meta, tensors, path, prefix="model.")
    else:
        check_format(meta, path, FORMAT, "model")
        model, vocab, config = _build(meta, tensors, path)
    return LoadedModel(model, vocab, config, dict(meta.get("training") or {}), path)


# --- resume checkpoints ---------------------------------------------------------------------------------------


def save_checkpoint(path: str | Path, model: CharRNN, vocab: list[str], optimizer: torch.optim.Optimizer,
                    extra_tensors: dict[str, torch.Tensor], progress: dict, training: dict | None = None) -> None:
    """Everything needed to continue a run exactly: weights, Adam moments, RNG, carried state, progress."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    names = {id(p): n for n, p in model.named_parameters()}
    opt_state = optimizer.state_dict()
    scalars: dict[str, dict] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            name = names[id(p)]
            for key, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value) and value.dim() > 0:
                    tensors[f"optim.{name}.{key}"] = value
                else:
                    scalars.setdefault(name, {})[key] = float(value) if torch.is_tensor(value) else value
    for key, value in extra_tensors.items():
        tensors[f"extra.{key}"] = value
    meta = {
        "format": CHECKPOINT_FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "vocab": vocab,
        "training": training or {},
        "progress": progress,
        "optimizer": {"scalars": scalars, "param_groups": [
            {k: v for k, v in g.items() if k != "params"} for g in opt_state["param_groups"]
        ]},
    }
    _write(Path(path), _cpu(tensors), meta)


@dataclass
class Checkpoint:
    model: CharRNN
    vocab: list[str]
    meta: dict
    tensors: dict[str, torch.Tensor]

    @property
    def progress(self) -> dict:
        return self.meta["progress"]

    def extra(self, key: str) -> torch.Tensor | None:
        return self.tensors.get(f"extra.{key}")

    def restore_optimizer(self, optimizer: torch.optim.Optimizer, model: CharRNN) -> None:
        saved = self.meta["optimizer"]
        for group, saved_group in zip(optimizer.param_groups, saved["param_groups"]):
            group.update(saved_group)
        device = next(model.parameters()).device
        for name, p in model.named_parameters():
            state = {}
            for key, value in saved["scalars"].get(name, {}).items():
                state[key] = torch.tensor(value, dtype=torch.float32) if key == "step" else value
            prefix = f"optim.{name}."
            for key, value in self.tensors.items():
                if key.startswith(prefix):
                    state[key[len(prefix) :]] = value.to(device)
            if state:
                optimizer.state[p] = state


def _check_extra(tensors: dict[str, torch.Tensor], config: ModelConfig, path: Path) -> None:
    """The RNG state and the carried hidden state must be what `Trainer._restore` can put back."""
    rng = tensors.get("extra.rng")
    if rng is None or rng.dtype != torch.uint8 or rng.shape != torch.get_rng_state().shape:
        raise ModelFileError(f"invalid checkpoint (its random-number state is missing or malformed): {path}{RESTART}")
    for key, value in tensors.items():
        if key.startswith("extra.state") and (value.dim() != 3 or value.shape[0] != config.num_layers or
                                              value.shape[2] != config.hidden_size or not value.is_floating_point()):
            raise ModelFileError(f"invalid checkpoint ({key} has shape {tuple(value.shape)}): {path}{RESTART}")


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    meta, tensors = _read(path, "checkpoint")
    check_format(meta, path, CHECKPOINT_FORMAT, "checkpoint")
    try:
        check_progress(meta)
    except ValueError as error:
        raise ModelFileError(f"incomplete or invalid checkpoint ({error}): {path}{RESTART}") from None
    model, vocab, config = _build(meta, tensors, path, prefix="model.")
    _check_extra(tensors, config, path)
    model.train()
    return Checkpoint(model, vocab, meta, tensors)

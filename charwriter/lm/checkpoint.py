"""Model files and resume checkpoints: safetensors weights plus JSON metadata, never pickle.

A model file (`*.safetensors`) describes itself: the weights of `CharRNN`, and in the safetensors header a
`charwriter` entry holding JSON with the format version, the model config, the vocabulary and a training summary.
A resume checkpoint is the same kind of file with the optimizer's moments, the RNG state and the carried hidden
state added as tensors and the trainer's progress in the metadata. Every file is written to a temporary file
in the same directory and moved into place with `os.replace`, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from charwriter.atomic import atomic_write
from charwriter.errors import ModelFileError
from charwriter.textfile import regular_file_problem
from charwriter.lm.model import CharRNN, ModelConfig

FORMAT = "charwriter-model"
CHECKPOINT_FORMAT = "charwriter-checkpoint"
FORMAT_VERSION = 1


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


STORAGE = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
"""How a model file may store its weights. The loader always computes in fp32; 16 bits halve the file (fp16 keeps
three more bits of each weight than bf16, and trained weights are far below its limit of 65504)."""


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
    tensors = {k: v.to(STORAGE[storage]) for k, v in _cpu(model.state_dict()).items()}
    atomic_write(Path(path), lambda tmp: save_file(tensors, tmp, metadata={"charwriter": json.dumps(meta)}))


# What to do, after a file that cannot be used: every refusal says it (one line: what, where, what to do).
PICK_ANOTHER = " — pick another model (`charwriter models`) or train this one again"
NOT_OURS = " — give a model file written by `charwriter train`"


def _read(path: Path, kind: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """Header metadata and tensors of a charwriter safetensors file, or one clear `ModelFileError`."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{kind} not found: {path} — check the path, or run `charwriter models` to list models")
    if path.is_dir():
        raise ModelFileError(f"{kind} path is a directory: {path} — give a .safetensors file")
    problem = regular_file_problem(path, kind)
    if problem:
        raise ModelFileError(problem)
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
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelFileError(
            f"not a readable safetensors file (truncated or corrupt: {detail}): {path}{PICK_ANOTHER}"
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
    return meta, tensors


# Sane maxima for a model file's config: beyond these a hostile or broken file would ask for absurd memory or time.
CONFIG_LIMITS = {"vocab_size": (1, 1 << 16), "hidden_size": (1, 8192), "num_layers": (1, 16)}
WEIGHT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
MAX_WEIGHT = 1e4  # trained weights are small; beyond this the model's arithmetic overflows (nan suggestions)


def check_vocab(vocab) -> str | None:
    """What is wrong with a model's vocabulary (None: nothing): distinct single printable characters, newline and
    tab allowed, no surrogates."""
    if not isinstance(vocab, list) or not vocab:
        return "the vocabulary is not a non-empty list"
    for ch in vocab:
        if not isinstance(ch, str) or len(ch) != 1:
            return f"vocabulary entry {ch!r} is not one character"
        if "\ud800" <= ch <= "\udfff" or (not ch.isprintable() and ch not in "\n\t" and ch != " "):
            return f"vocabulary entry {ch!r} is a control character or a surrogate"
    if len(set(vocab)) != len(vocab):
        return "the vocabulary holds a character twice"
    return None


def _config(meta: dict) -> ModelConfig:
    """The model config of a file's metadata, checked for types and sane ranges before anything is built."""
    raw = meta.get("config")
    if not isinstance(raw, dict):
        raise ValueError("no config object")
    for name, (low, high) in CONFIG_LIMITS.items():
        value = raw.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} {value!r} is not a whole number from {low} to {high}")
    for name in ("dropout", "weight_dropout"):
        value = raw.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"{name} {value!r} is not in [0, 1)")
    return ModelConfig.from_dict(raw)


def _expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The state dict's shapes for a config, worked out without building the model."""
    gates = (4 if config.cell == "lstm" else 3) * config.hidden_size
    shapes = {"head.weight": (config.vocab_size, config.hidden_size), "head.bias": (config.vocab_size,)}
    for layer in range(config.num_layers):
        inputs = config.vocab_size if layer == 0 else config.hidden_size
        shapes[f"rnn.weight_ih_l{layer}"] = (gates, inputs)
        shapes[f"rnn.weight_hh_l{layer}"] = (gates, config.hidden_size)
        shapes[f"rnn.bias_ih_l{layer}"] = (gates,)
        shapes[f"rnn.bias_hh_l{layer}"] = (gates,)
    return shapes


def _build(meta: dict, tensors: dict[str, torch.Tensor], path: Path, prefix: str = "") -> tuple[CharRNN, list[str], ModelConfig]:
    try:
        vocab = meta.get("vocab")
        problem = check_vocab(vocab)
        if problem:
            raise ValueError(problem)
        config = _config(meta)
        if config.vocab_size != len(vocab):
            raise ValueError("vocabulary does not match the config")
        if not isinstance(meta.get("training", {}), dict):
            raise ValueError("training is not an object")
        storage = meta.get("storage", "fp32")
        if storage not in STORAGE:
            raise ValueError(f"storage {storage!r} is not one of {', '.join(STORAGE)}")
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"invalid charwriter metadata in {path}: {error}{PICK_ANOTHER}") from None
    expected = _expected_shapes(config)
    weights = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise ModelFileError(f"wrong tensors in {path}: missing {missing[:3]}, unexpected {extra[:3]}{PICK_ANOTHER}")
    for key, shape in expected.items():  # checked before the model is built: the file's size bounds the memory
        weight = weights[key]
        if tuple(weight.shape) != shape:
            raise ModelFileError(f"wrong shape for {key} in {path}: {tuple(weight.shape)}, expected {shape}"
                                 f"{PICK_ANOTHER}")
        if weight.dtype not in WEIGHT_DTYPES:
            raise ModelFileError(f"{key} in {path} holds {str(weight.dtype).replace('torch.', '')} numbers, not"
                                 f" floating-point weights{PICK_ANOTHER}")
        if not prefix and weight.dtype != STORAGE[storage]:
            raise ModelFileError(f"{key} in {path} holds {str(weight.dtype).replace('torch.', '')} numbers, but the"
                                 f" file says its weights are {storage}: the model is corrupt{PICK_ANOTHER}")
        if not torch.isfinite(weight).all() or weight.abs().max() > MAX_WEIGHT:
            raise ModelFileError(f"{path} holds non-finite or absurd weights in {key} (beyond ±{MAX_WEIGHT:g}), the"
                                 f" model is corrupt{PICK_ANOTHER}")
    with torch.device("meta"):  # no random initialisation (half the load's time): every weight comes from the file
        model = CharRNN(config)
    model.load_state_dict({k: weights[k].float() for k in expected}, assign=True)
    model.eval()
    return model, vocab, config


def _check_format(meta: dict, path: Path, expected: str, kind: str) -> None:
    if meta.get("format") != expected:
        raise ModelFileError(f"not a charwriter {kind} (format {meta.get('format')!r}): {path}{NOT_OURS}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"unknown {kind} format version {version!r} in {path} (this charwriter reads version {FORMAT_VERSION})"
            " — upgrade charwriter"
        )


def read_metadata(path: str | Path) -> dict:
    """The JSON metadata of a model file, without building the model (for listings)."""
    path = Path(path)
    problem = regular_file_problem(path, "model")
    if problem:  # a FIFO among the models would block the listing forever
        raise ModelFileError(problem)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("charwriter")
        meta = json.loads(raw) if raw else None
    except Exception:  # a listing shows unreadable files as such; loading gives the precise reason
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"not a charwriter model: {path}{NOT_OURS}")
    return meta


def load_model(path: str | Path) -> LoadedModel:
    path = Path(path)
    meta, tensors = _read(path, "model")
    if meta.get("format") == CHECKPOINT_FORMAT:
        _check_format(meta, path, CHECKPOINT_FORMAT, "checkpoint")
        model, vocab, config = _build(meta, tensors, path, prefix="model.")
    else:
        _check_format(meta, path, FORMAT, "model")
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
    tensors = _cpu(tensors)
    atomic_write(Path(path), lambda tmp: save_file(tensors, tmp, metadata={"charwriter": json.dumps(meta)}))


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


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    meta, tensors = _read(path, "checkpoint")
    _check_format(meta, path, CHECKPOINT_FORMAT, "checkpoint")
    if "progress" not in meta or "optimizer" not in meta:
        raise ModelFileError(f"incomplete checkpoint (no progress or optimizer state): {path}"
                             " — start the run again, or fine-tune from its best model with --init-from")
    model, vocab, _ = _build(meta, tensors, path, prefix="model.")
    model.train()
    return Checkpoint(model, vocab, meta, tensors)

"""What a model file must hold, checked without torch: its format, config, vocabulary and tensors' shapes.

`charwriter.lm.checkpoint` reads model files for torch; `charwriter.lm.preview` reads the same files with numpy for
the first suggestions while torch is still importing. Both refuse a file through the checks here, so a file that
one of them accepts the other accepts too.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

from charwriter.errors import ModelFileError, UserError, shown
from charwriter.lm.alphabet import check_vocab
from charwriter.lm.config import CELLS, MODEL_LIMITS, Option, kind_of, option_of, value_problem
from charwriter.textfile import regular_file_problem

FORMAT = "charwriter-model"
CHECKPOINT_FORMAT = "charwriter-checkpoint"
FORMAT_VERSION = 1

STORAGE_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
"""How a model file may store its weights. The loader always computes in fp32; 16 bits halve the file (fp16 keeps
three more bits of each weight than bf16, and trained weights are far below its limit of 65504)."""

# What to do, after a file that cannot be used: every refusal says it (one line: what, where, what to do).
PICK_ANOTHER = " — pick another model (`charwriter models`) or train this one again"
NOT_OURS = " — give a model file written by `charwriter train`"

MAX_WEIGHT = 1e4  # trained weights are small; beyond this the model's arithmetic overflows (nan suggestions)


@dataclass
class ModelConfig:
    vocab_size: int  # distinct characters of the corpus; stored with the model as its vocabulary
    hidden_size: int = 512  # the seed's width: big enough for Tolstoy, small enough for a laptop CPU
    num_layers: int = 2  # two stacked layers, as the seed: the second learns word-level structure
    dropout: float = 0.5  # between layers and before the head, as the seed; 2 MB of text overfits fast
    cell: str = "lstm"  # "lstm" (the seed) or "gru" (char-rnn offers both)
    weight_dropout: float = 0.0  # DropConnect on the hidden-to-hidden weights (AWD-LSTM); training only

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, not {self.cell!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)


def _config(meta: dict) -> ModelConfig:
    """The model config of a file's metadata, checked for types and sane ranges before anything is built."""
    raw = meta.get("config")
    if not isinstance(raw, dict):
        raise ValueError("no config object")
    for name, (low, high) in MODEL_LIMITS.items():
        value = raw.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} {value!r} is not a whole number from {low} to {high}")
    for name in ("dropout", "weight_dropout"):
        value = raw.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"{name} {value!r} is not in [0, 1)")
    return ModelConfig.from_dict(raw)


def _field(kind: type, required: bool = False, **bounds) -> tuple[type, Option]:
    return kind, Option("", optional=not required, **bounds)


_COUNT, _SECONDS, _LOSS = _field(int, low=0), _field(float, low=0), _field(float, low=0)
SUMMARY = {
    "corpus": _field(str), "corpus_sha256": _field(str), "corpus_chars": _COUNT, "corpus_path": _field(str),
    "val_fraction": _field(float, low=0, high=1, low_open=True, high_open=True), "steps": _COUNT,
    "epochs": _field(float, low=0), "best_val_loss": _LOSS, "last_val_loss": _LOSS, "train_seconds": _SECONDS,
    "device": _field(str), "date": _field(str), "total_steps": _COUNT, "stored_from": _field(str),
    "vocab_added": _field(str), "model": _field(str),
}
"""A model's training summary (`Trainer.summary`), field by field; `hyperparameters` are `TrainConfig`'s own and
`started_from` is the summary of the model it was fine-tuned from. Fields it does not know are a newer charwriter's."""

PROGRESS = {
    "step": _field(int, True, low=0), "epoch": _field(int, True, low=0), "batch": _field(int, True, low=0),
    "best_val": _LOSS, "last_val": _LOSS, "first_loss": _LOSS, "elapsed": _field(float, True, low=0),
    "has_state": _field(bool, True), "bf16_after": _COUNT,
}
"""A resume checkpoint's progress (`Trainer.save_checkpoint`)."""


def _check_fields(data, schema: dict, where: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{where} is not an object")
    for name, (kind, option) in schema.items():
        problem = value_problem(data.get(name), kind, option)
        if problem:
            raise ValueError(f"{where}.{name} {ascii(data.get(name))[:40]} is not {problem}")


def check_training(training, where: str = "training", depth: int = 0) -> None:
    """A training summary, its hyperparameters and the summaries it was fine-tuned from; `ValueError` if any field
    has the wrong type or range."""
    _check_fields(training, SUMMARY, where)
    hyper = training.get("hyperparameters")
    if hyper is not None:
        if not isinstance(hyper, dict):
            raise ValueError(f"{where}.hyperparameters is not an object")
        for name, value in hyper.items():
            option = option_of(name)
            problem = option and value_problem(value, kind_of(name), option)
            if problem:
                raise ValueError(f"{where}.hyperparameters.{name} {ascii(value)[:40]} is not {problem}")
        if hyper.get("init_from") is not None and not isinstance(hyper["init_from"], str):
            raise ValueError(f"{where}.hyperparameters.init_from is not text")
    parent = training.get("started_from")
    if parent is not None:
        if depth >= 100:  # a chain of fine-tunes this long is a hostile file's recursion
            raise ValueError(f"{where} is nested too deeply")
        check_training(parent, f"{where}.started_from", depth + 1)


def check_progress(meta: dict) -> None:
    """A resume checkpoint's progress and optimizer settings; `ValueError` if any has the wrong type or range."""
    progress = meta.get("progress")
    _check_fields(progress, PROGRESS, "progress")
    recent = progress.get("recent_losses", [])
    if not isinstance(recent, list) or not all(_finite(x) for x in recent):
        raise ValueError("progress.recent_losses is not a list of numbers")
    optimizer = meta.get("optimizer")
    if not isinstance(optimizer, dict) or not isinstance(optimizer.get("scalars"), dict) or \
            not isinstance(optimizer.get("param_groups"), list) or len(optimizer["param_groups"]) != 1:
        raise ValueError("optimizer is not an object with scalars and one parameter group")
    for name, scalars in optimizer["scalars"].items():
        if not isinstance(scalars, dict) or not all(_finite(v) and v >= 0 for v in scalars.values()):
            raise ValueError(f"optimizer.scalars.{ascii(name)[:40]} is not an object of numbers")
    group = optimizer["param_groups"][0]
    _check_fields(group, ADAM, "optimizer.param_groups[0]")
    betas = group.get("betas")
    if not isinstance(betas, list) or len(betas) != 2 or not all(_finite(b) and 0 <= b < 1 for b in betas):
        raise ValueError("optimizer.param_groups[0].betas is not two numbers in [0, 1)")
    if not all(v is None or isinstance(v, (bool, int, float, str)) for v in group.values() if not isinstance(v, list)):
        raise ValueError("optimizer.param_groups[0] holds a value that is not a number, text or true/false")


ADAM = {"lr": _field(float, True, low=0, low_open=True), "eps": _field(float, True, low=0),
        "weight_decay": _field(float, True, low=0)}


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
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


def check_metadata(meta: dict, path: Path) -> tuple[list[str], ModelConfig, str]:
    """The vocabulary, config and storage of a file's metadata, or one clear `ModelFileError`."""
    try:
        vocab = meta.get("vocab")
        problem = check_vocab(vocab)
        if problem:
            raise ValueError(problem)
        config = _config(meta)
        if config.vocab_size != len(vocab):
            raise ValueError("vocabulary does not match the config")
        check_training(meta.get("training", {}))
        checksum = meta.get(CHECKSUM_KEY)
        if checksum is not None and not (isinstance(checksum, str) and len(checksum) == 32):
            raise ValueError(f"{CHECKSUM_KEY} is not a checksum")
        storage = meta.get("storage", "fp32")
        if storage not in STORAGE_DTYPES:
            raise ValueError(f"storage {storage!r} is not one of {', '.join(STORAGE_DTYPES)}")
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"invalid charwriter metadata in {shown(path)}: {error}{PICK_ANOTHER}") from None
    return vocab, config, storage


def check_weights(weights: dict, config: ModelConfig, storage: str | None, path: Path,
                  describe: Callable[[object], tuple[tuple[int, ...], str, float]]) -> None:
    """The tensors a config needs, each of its shape, floating-point (of the file's `storage`, unless None) and
    finite and not absurd; `describe(tensor)` gives its shape, dtype name ("float32") and largest magnitude. Checked
    before any model is built: the file's size bounds the memory."""
    expected = expected_shapes(config)
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise ModelFileError(f"wrong tensors in {shown(path)}: missing {shown(missing[:3])}, unexpected"
                             f" {shown(extra[:3])}{PICK_ANOTHER}")
    for key, shape in expected.items():
        found, dtype, largest = describe(weights[key])
        if found != shape:
            raise ModelFileError(f"wrong shape for {shown(key)} in {shown(path)}: {found}, expected"
                                 f" {shape}{PICK_ANOTHER}")
        if dtype not in STORAGE_DTYPES.values():
            raise ModelFileError(f"{shown(key)} in {shown(path)} holds {dtype} numbers, not floating-point"
                                 f" weights{PICK_ANOTHER}")
        if storage is not None and dtype != STORAGE_DTYPES[storage]:
            raise ModelFileError(f"{shown(key)} in {shown(path)} holds {dtype} numbers, but the file says its weights"
                                 f" are {storage}: the model is corrupt{PICK_ANOTHER}")
        if not math.isfinite(largest) or largest > MAX_WEIGHT:
            raise ModelFileError(f"{shown(path)} holds non-finite or absurd weights in {shown(key)} (beyond"
                                 f" ±{MAX_WEIGHT:g}), the model is corrupt{PICK_ANOTHER}")


CHECKSUM_KEY = "weights_xxh3_128"
"""The metadata's checksum of every tensor in the file (name, dtype, shape and bytes, by name): a weight changed
after writing (a disk or a copy fault) is told as damage, not read as a model. Files from before it have none."""


def weights_checksum(tensors: dict, describe_bytes: Callable[[object], tuple[str, tuple[int, ...], object]]) -> str:
    """The checksum of a file's tensors; `describe_bytes(tensor)` gives its dtype name, shape and a buffer of its
    bytes (torch and numpy readers each have their own)."""
    import xxhash

    digest = xxhash.xxh3_128()
    for name in sorted(tensors):
        dtype, shape, data = describe_bytes(tensors[name])
        digest.update(f"{name}\0{dtype}\0{list(shape)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def check_checksum(meta: dict, tensors: dict, path: Path, describe_bytes) -> None:
    """Refuse a file whose tensors are not those its metadata's checksum was taken of (none: an older file)."""
    expected = meta.get(CHECKSUM_KEY)
    if expected is not None and weights_checksum(tensors, describe_bytes) != expected:
        raise ModelFileError(f"{shown(path)} is damaged: its weights changed after it was written (a disk or copy"
                             f" fault){PICK_ANOTHER}")


def check_format(meta: dict, path: Path, expected: str, kind: str) -> None:
    if meta.get("format") != expected:
        raise ModelFileError(f"not a charwriter {kind} (format {shown(repr(meta.get('format')))}):"
                             f" {shown(path)}{NOT_OURS}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"unknown {kind} format version {shown(repr(version))} in {shown(path)} (this charwriter reads version"
            f" {FORMAT_VERSION})"
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

        with safe_open(str(path), framework="numpy") as f:
            raw = (f.metadata() or {}).get("charwriter")
        meta = json.loads(raw) if raw else None
    except Exception:  # a listing shows unreadable files as such; loading gives the precise reason
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"not a charwriter model: {shown(path)}{NOT_OURS}")
    return meta


def is_model_file(path: Path) -> bool:
    """Whether `path` holds a charwriter model (what a command may write over: one of its own kind)."""
    try:
        read_metadata(path)
    except UserError:
        return False
    return True

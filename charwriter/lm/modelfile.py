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

from charwriter.errors import ModelFileError
from charwriter.lm.alphabet import check_vocab
from charwriter.lm.config import CELLS, MODEL_LIMITS
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
        if not isinstance(meta.get("training", {}), dict):
            raise ValueError("training is not an object")
        storage = meta.get("storage", "fp32")
        if storage not in STORAGE_DTYPES:
            raise ValueError(f"storage {storage!r} is not one of {', '.join(STORAGE_DTYPES)}")
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"invalid charwriter metadata in {path}: {error}{PICK_ANOTHER}") from None
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
        raise ModelFileError(f"wrong tensors in {path}: missing {missing[:3]}, unexpected {extra[:3]}{PICK_ANOTHER}")
    for key, shape in expected.items():
        found, dtype, largest = describe(weights[key])
        if found != shape:
            raise ModelFileError(f"wrong shape for {key} in {path}: {found}, expected {shape}{PICK_ANOTHER}")
        if dtype not in STORAGE_DTYPES.values():
            raise ModelFileError(f"{key} in {path} holds {dtype} numbers, not floating-point weights{PICK_ANOTHER}")
        if storage is not None and dtype != STORAGE_DTYPES[storage]:
            raise ModelFileError(f"{key} in {path} holds {dtype} numbers, but the file says its weights are"
                                 f" {storage}: the model is corrupt{PICK_ANOTHER}")
        if not math.isfinite(largest) or largest > MAX_WEIGHT:
            raise ModelFileError(f"{path} holds non-finite or absurd weights in {key} (beyond ±{MAX_WEIGHT:g}), the"
                                 f" model is corrupt{PICK_ANOTHER}")


def check_format(meta: dict, path: Path, expected: str, kind: str) -> None:
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

        with safe_open(str(path), framework="numpy") as f:
            raw = (f.metadata() or {}).get("charwriter")
        meta = json.loads(raw) if raw else None
    except Exception:  # a listing shows unreadable files as such; loading gives the precise reason
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"not a charwriter model: {path}{NOT_OURS}")
    return meta

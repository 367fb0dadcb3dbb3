"""The trainer's hyperparameters, each described once: its default, its help, its bounds, whether the training form
shows it and whether a resumed run may change it.

`charwriter train`'s options, the training form's fields and the resume rules are all generated from `TrainConfig`'s
fields, so a new hyperparameter is one line here. No torch: the command line's `--help` and the form read this
without loading the trainer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from charwriter.errors import UserError
from charwriter.lm.alphabet import MAX_VOCAB

CELLS = ("lstm", "gru")
MODEL_LIMITS = {"vocab_size": (1, MAX_VOCAB), "hidden_size": (1, 8192), "num_layers": (1, 16)}
"""Sane maxima for a model: `train` refuses beyond them and so does the loader (a hostile or broken file would ask
for absurd memory or time)."""

SCHEDULES = ("constant", "cosine")
DEVICES = ("auto", "cpu", "cuda", "mps")
TRAIN_PRECISIONS = ("auto", "fp32", "bf16")
DEFAULT_GLOB = "*.txt,*.md"  # the files a folder corpus is read from


@dataclass(frozen=True)
class Option:
    """What the command line, the form and the resume rules need to know about one hyperparameter."""

    help: str
    label: str | None = None  # the training form's label; None: not in the form
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the bound itself is not allowed
    high_open: bool = False
    choices: tuple[str, ...] | None = None
    resumable: bool = False  # a resumed run may change it (it changes neither the model nor the data)
    optional: bool = False  # None is allowed: the form's empty field, the seed's behaviour
    tooltip: str | None = None  # the form's tooltip, where the label alone says too little

    def describe(self) -> str:
        """The allowed values, as the refusal says them: 'at least 1', 'in [0, 1)', 'positive'."""
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if self.low is not None and self.high is not None:
            if self.low_open and self.high_open:
                return f"between {self.low:g} and {self.high:g}"
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low == 0 and self.low_open:
            return "positive"
        if self.low is not None:
            return f"{'above' if self.low_open else 'at least'} {self.low:g}"
        return "a number"

    def allows(self, value) -> bool:
        if value is None:
            return self.optional
        if self.choices:
            return value in self.choices
        if isinstance(value, float) and not math.isfinite(value):
            return False
        low_ok = self.low is None or value > self.low or (value == self.low and not self.low_open)
        high_ok = self.high is None or value < self.high or (value == self.high and not self.high_open)
        return low_ok and high_ok


KIND_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def value_problem(value, kind: type, option: Option) -> str | None:
    """What a value must be and is not, for a field of type `kind` (bool, int, float, str) with `option`'s bounds
    (None: it is fine). One check for the command line, the training form and every model file's metadata."""
    if value is None:
        return None if option.optional else KIND_NAMES[kind]
    fits = isinstance(value, bool) if kind is bool else isinstance(value, str) if kind is str else \
        isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
    if not fits:
        return KIND_NAMES[kind]
    return None if option.allows(value) else option.describe()


def _option(default, help: str, **kwargs):
    return field(default=default, metadata={"option": Option(help, **kwargs)})


def _model_limit(name: str) -> dict:
    """The bounds of an option that shapes the model: the loader's (`MODEL_LIMITS`), so what trains loads."""
    low, high = MODEL_LIMITS[name]
    return {"low": low, "high": high}


AT_LEAST_1 = {"low": 1}
FRACTION_BELOW_1 = {"low": 0, "high": 1, "high_open": True}


@dataclass
class TrainConfig:
    hidden_size: int = _option(512, "LSTM width (seed: 512)", label="Hidden size", **_model_limit("hidden_size"))
    num_layers: int = _option(2, "stacked layers (seed: 2)", label="Layers", **_model_limit("num_layers"))
    dropout: float = _option(0.5, "dropout between layers and before the head (seed: 0.5)", label="Dropout",
                             **FRACTION_BELOW_1)
    cell: str = _option("lstm", "lstm (seed) or gru", choices=CELLS)
    weight_dropout: float = _option(0.0, "DropConnect on the recurrent weights, AWD-LSTM style (default 0: off, as"
                                    " the seed)", label="Weight drop", **FRACTION_BELOW_1,
                                    tooltip="DropConnect on the recurrent weights (AWD-LSTM); 0: off, as the seed")
    forget_bias: float | None = _option(None, "LSTM: start the forget gates' bias at this value, e.g. 1 (default:"
                                        " PyTorch's init, as the seed)", label="Forget bias", optional=True,
                                        tooltip="Start the LSTM's forget gates' bias here, e.g. 1; empty: PyTorch's"
                                        " init, as the seed")
    batch_size: int = _option(128, "parallel streams per batch (seed: 128)", label="Batch", **AT_LEAST_1)
    seq_len: int = _option(100, "characters per window; gradients flow back this far (seed: 100)",
                           label="Seq length", **AT_LEAST_1)
    epochs: int = _option(20, "passes over the training text (seed: 20); more on resume extends the run",
                          label="Epochs", resumable=True, **AT_LEAST_1)
    lr: float = _option(1e-3, "Adam learning rate (seed: 0.001)", label="Learn rate", low=0, low_open=True)
    lr_schedule: str = _option("constant", "constant (seed) or cosine (linear warmup, cosine decay)",
                               label="Schedule", choices=SCHEDULES)
    warmup_steps: int = _option(50, "cosine warmup steps (default 50)", low=0)
    schedule_start: int = _option(0, "the step the cosine schedule counts from: a warm restart of an extended run"
                                  " (set by --resume RUN --restart-schedule)", resumable=True, low=0)
    min_lr_ratio: float = _option(0.05, "cosine: the rate at the end, as a fraction of --lr (default 0.05)",
                                  low=0, high=1)
    clip: float = _option(5.0, "gradient-norm clip (seed: 5)", label="Grad clip", low=0, low_open=True)
    val_fraction: float = _option(0.1, "tail of the text held out for validation (seed: 0.1)", label="Val fraction",
                                  low=0, high=1, low_open=True, high_open=True)
    extend_vocab: bool = _option(False, "fine-tuning (--init-from): add the characters of the text that the model"
                                 " has never seen (and has no look-alike for) to its vocabulary, instead of dropping"
                                 " them", label="Extend vocab", tooltip="Fine-tuning: learn the text's new characters"
                                 " (é, ß, £ …) instead of dropping them")
    keep_boilerplate: bool = _option(False, "train on a Project Gutenberg file's header and licence too (default:"
                                     " only the book between its *** START OF and *** END OF lines)")
    glob: str = _option(DEFAULT_GLOB, "a folder corpus: which files to read, recursively, as comma-separated"
                        f" patterns (default {DEFAULT_GLOB})")
    seed: int = _option(1234, "random seed: weights, dropout and samples (default 1234)", low=0, high=2**63 - 1)
    device: str = _option("auto", "auto (cuda, then mps, then cpu), cpu, cuda or mps", choices=DEVICES,
                          resumable=True)
    precision: str = _option("auto", "matmuls in auto (bf16 where native; on a CPU above lr 1e-3, once the loss has"
                             " left the unigram plateau), fp32 or bf16; weights, optimizer state and files stay"
                             " fp32", choices=TRAIN_PRECISIONS, label="Precision",
                             resumable=True, tooltip="The training step's matmuls: auto (bf16 where this CPU or GPU"
                             " has it natively), fp32, or bf16 where it runs here")
    eval_every: int = _option(50, "validate every N steps, and at every epoch end (default 50; 0: epoch ends only)",
                              label="Val every", resumable=True, low=0)
    log_every: int = _option(1, "a step event every N steps, their mean loss (default 1)", resumable=True,
                             **AT_LEAST_1)
    checkpoint_minutes: float = _option(3.0, "write a resume checkpoint at least this often (default 3)",
                                        resumable=True, low=0)
    max_minutes: float | None = _option(None, "stop cleanly after this many minutes of training; resume later",
                                        resumable=True, optional=True, low=0, low_open=True)
    max_steps: int | None = _option(None, "stop cleanly after this many steps in all; resume later", resumable=True,
                                    optional=True, **AT_LEAST_1)
    sample_length: int = _option(200, "characters of the sample shown at each validation (default 200)",
                                 resumable=True, low=0)
    sample_prime: str | None = _option(None, "the text the samples at each validation start from, for example a"
                                       " name from your story (default: a new line)", label="Sample from",
                                       resumable=True, optional=True)
    sample_temperatures: str = _option("0.5,1", "the temperatures of the samples at each validation, comma-separated"
                                       " (default 0.5,1: a safe one and a wild one)", resumable=True)
    init_from: str | None = field(default=None)  # fine-tune: this model's weights and vocabulary (its own option)

    def __post_init__(self) -> None:
        problems = []
        for f in fields(self):
            opt = option_of(f.name)
            value = getattr(self, f.name)
            problem = opt and value_problem(value, kind_of(f.name), opt)
            if problem:
                problems.append(f"--{f.name.replace('_', '-')} must be {problem}")
        try:
            temperatures = self.temperatures
        except ValueError:
            temperatures = []
        if not temperatures or not all(0 < t <= 5 for t in temperatures) or len(temperatures) > 4:
            problems.append("--sample-temperatures must be one to four numbers above 0 and up to 5, comma-separated")
        if self.forget_bias is not None and self.cell != "lstm":
            problems.append("--forget-bias needs --cell lstm (a GRU has no forget gate)")
        if problems:
            raise UserError("; ".join(problems))

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def temperatures(self) -> list[float]:
        return [float(part) for part in self.sample_temperatures.split(",") if part.strip()]


def option_of(name: str) -> Option | None:
    return _OPTIONS.get(name)


def kind_of(name: str) -> type:
    """int, float, bool or str: the field's type without its None."""
    annotation = _FIELDS[name].type
    return bool if annotation == "bool" else int if "int" in annotation else float if "float" in annotation else str


_FIELDS = {f.name: f for f in fields(TrainConfig)}
_OPTIONS = {name: f.metadata["option"] for name, f in _FIELDS.items() if "option" in f.metadata}

HYPERPARAMETERS = tuple(_OPTIONS)
"""Every option `charwriter train` takes for the model and the run, in `TrainConfig`'s order."""

FORM_OPTIONS = tuple(name for name, opt in _OPTIONS.items() if opt.label)
"""The hyperparameters the training form shows, in its order."""

RESUMABLE = frozenset(name for name, opt in _OPTIONS.items() if opt.resumable)
"""What `--resume` may change: the length and the bookkeeping of a run, never its model or data."""

"""The seed's CharRNN: a stacked LSTM (or GRU) over characters with a linear head.

The seed feeds a float one-hot array (batch, seq, vocab) into `nn.LSTM(vocab, hidden)`. One-hot times the input
weights is the same function as picking columns of those weights, so we keep exactly the seed's parameters
(`nn.LSTM` with `input_size == vocab_size`, the single source of truth for every fast path) and build the one-hot
with `F.one_hot` on the fly from a compact integer tensor instead of shipping a one-hot copy of the corpus around.
The inference engine goes further and replaces layer 1's input matmul by a column gather (see `charwriter.engine`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

CELLS = ("lstm", "gru")

State = "tuple[torch.Tensor, torch.Tensor] | torch.Tensor"


@dataclass
class ModelConfig:
    vocab_size: int  # distinct characters of the corpus; stored with the model as its vocabulary
    hidden_size: int = 512  # the seed's width: big enough for Tolstoy, small enough for a laptop CPU
    num_layers: int = 2  # two stacked layers, as the seed: the second learns word-level structure
    dropout: float = 0.5  # between layers and before the head, as the seed; 2 MB of text overfits fast
    cell: str = "lstm"  # "lstm" (the seed) or "gru" (char-rnn offers both)

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


class CharRNN(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        rnn = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.rnn = rnn(
            config.vocab_size,
            config.hidden_size,
            config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)

    def init_state(self, batch_size: int, device: torch.device | str | None = None):
        """Zeros, as the seed: (num_layers, batch, hidden), a pair (h, c) for an LSTM."""
        device = device or self.head.weight.device
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        h = torch.zeros(shape, device=device)
        if self.config.cell == "lstm":
            return (h, torch.zeros(shape, device=device))
        return h

    def forward(self, idx: torch.Tensor, state=None):
        """idx (B, T) integer characters -> logits (B, T, V) and the state after the last character."""
        x = F.one_hot(idx.long(), self.config.vocab_size).float()  # (B, T, V), same function as the seed's input
        if x.device.type == "cuda" and torch.is_autocast_enabled("cuda"):
            x = x.to(torch.get_autocast_dtype("cuda"))
        out, state = self.rnn(x, state)  # (B, T, H)
        logits = self.head(self.dropout(out))  # (B, T, V)
        return logits, state

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def detach_state(state):
    """Cut the graph at a window boundary; the values carry on (the seed's `tuple(e.data for e in h)`)."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def state_tensors(state) -> list[torch.Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


def state_from_tensors(tensors: list[torch.Tensor], cell: str):
    return (tensors[0], tensors[1]) if cell == "lstm" else tensors[0]

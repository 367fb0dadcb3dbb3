"""An RNN's state, in the layout `nn.LSTM` and `nn.GRU` take and give: a pair (h, c) for an LSTM, h alone for a
GRU, each (num_layers, batch, hidden). The one place that tells the two apart: everything else maps a function over
a state's tensors or works on its batch rows, whatever the cell.
"""

from __future__ import annotations

from typing import Callable

import torch

def is_pair(state) -> bool:
    """An LSTM's state (h, c), not a GRU's h."""
    return isinstance(state, tuple)


def each(state, fn: Callable[[torch.Tensor], torch.Tensor]):
    """`fn` applied to every tensor of the state, in its own layout."""
    return tuple(fn(t) for t in state) if is_pair(state) else fn(state)


def tensors(state) -> list[torch.Tensor]:
    return list(state) if is_pair(state) else [state]


def tensor_count(cell: str) -> int:
    """How many tensors the state of a `cell` ("lstm" or "gru") holds."""
    return 2 if cell == "lstm" else 1


def from_tensors(tensors: list[torch.Tensor], cell: str):
    """The state of a `cell` from its tensors (`tensors`' inverse)."""
    return (tensors[0], tensors[1]) if tensor_count(cell) == 2 else tensors[0]


def rows(state, lo: int, hi: int | None = None):
    """Batch rows lo:hi (a view)."""
    return each(state, lambda t: t[:, lo:hi])


def pick(state, index: torch.Tensor):
    """Batch rows `index`, in its order (a copy)."""
    return each(state, lambda t: t.index_select(1, index))


def cat(states: list):
    """The batch rows of each state, one after the other."""
    if is_pair(states[0]):
        return tuple(torch.cat([s[i] for s in states], 1) for i in range(len(states[0])))
    return torch.cat(states, 1)


def expand(state, k: int):
    """A batch-1 state as k rows."""
    return each(state, lambda t: t.expand(-1, k, -1).contiguous())

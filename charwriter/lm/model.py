"""The seed's CharRNN: a stacked LSTM (or GRU) over characters with a linear head.

The seed feeds a float one-hot array (batch, seq, vocab) into `nn.LSTM(vocab, hidden)`. One-hot times the input
weights is the same function as picking columns of those weights, so we keep exactly the seed's parameters
(`nn.LSTM` with `input_size == vocab_size`, the single source of truth for every fast path) and build the one-hot
with `F.one_hot` on the fly from a compact integer tensor instead of shipping a one-hot copy of the corpus around.
The inference engine goes further and replaces layer 1's input matmul by a column gather (see `charwriter.lm.fast`).

Training speed: `nn.LSTM` draws its between-layer dropout mask with `bernoulli_`, which costs about a tenth of a
training step on a CPU. In training we run the stacked layers one `nn.LSTM` kernel call at a time on the same
parameters and draw dropout masks from random bytes instead (`fast_dropout`): the same function, same parameters,
same state dict; only the random stream differs. Evaluation runs the plain `nn.LSTM` call.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import _VF  # the kernels nn.LSTM/nn.GRU call; used to run their layers one at a time

from charwriter.lm import state as states
from charwriter.lm.modelfile import ModelConfig  # noqa: F401 - torch-free, re-exported here
from charwriter.lm.state import from_tensors as state_from_tensors  # noqa: F401 - the trainer's checkpoints
from charwriter.lm.state import tensors as state_tensors  # noqa: F401


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
        self.head = nn.Linear(config.hidden_size, config.vocab_size)

    def init_state(self, batch_size: int, device: torch.device | str | None = None):
        """Zeros, as the seed: (num_layers, batch, hidden), a pair (h, c) for an LSTM (`charwriter.lm.state`)."""
        device = device or self.head.weight.device
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        return states.from_tensors([torch.zeros(shape, device=device) for _ in range(2)], self.config.cell)

    def forward(self, idx: torch.Tensor, state=None):
        """idx (B, T) integer characters -> logits (B, T, V) and the state after the last character."""
        if self.training and (self.config.weight_dropout > 0 or self.config.dropout > 0 and self.config.num_layers > 1):
            # Time-major inside, as the kernels want it: no transposed copies of inputs and outputs.
            x = F.one_hot(idx.t().long(), self.config.vocab_size).float()  # (T, B, V), the seed's input function
            out, state = self._layer_by_layer(x, state)  # (T, B, H)
            logits = self.head(fast_dropout(out, self.config.dropout, True)).transpose(0, 1)  # (B, T, V), a view
            return logits, state
        x = F.one_hot(idx.long(), self.config.vocab_size).float()  # (B, T, V)
        out, state = self.rnn(x, state)  # (B, T, H)
        logits = self.head(fast_dropout(out, self.config.dropout, self.training))  # (B, T, V)
        return logits, state

    def _layer_by_layer(self, x: torch.Tensor, state):
        """What nn.LSTM does with dropout between layers, but with `fast_dropout`'s cheap masks. x (T, B, V).

        With `weight_dropout` the recurrent weight matrix of each layer is masked once per batch (DropConnect);
        evaluation uses the plain weights, as inverted dropout leaves their expected value unchanged."""
        lstm = self.config.cell == "lstm"
        if state is None:
            state = self.init_state(x.shape[1], x.device)
        h_all, c_all = state if lstm else (state, None)
        weights = self.rnn._flat_weights
        hs, cs = [], []
        for layer in range(self.config.num_layers):
            if layer:
                x = fast_dropout(x, self.config.dropout, True)
            w = weights[4 * layer : 4 * layer + 4]
            if self.config.weight_dropout > 0:
                # DropConnect (AWD-LSTM): one mask on the recurrent weights per batch, the same at every time step.
                w = [w[0], fast_dropout(w[1], self.config.weight_dropout, True), w[2], w[3]]
            h0 = h_all[layer : layer + 1]
            if lstm:
                x, h, c = _VF.lstm(x, (h0, c_all[layer : layer + 1]), w, True, 1, 0.0, True, False, False)
                cs.append(c)
            else:
                x, h = _VF.gru(x, h0, w, True, 1, 0.0, True, False, False)
            hs.append(h)
        h = torch.cat(hs)
        return x, ((h, torch.cat(cs)) if lstm else h)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def fast_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout whose mask comes from random bytes: one 64-bit draw yields eight 8-bit uniforms.

    `bernoulli_` draws one random number per element; this draws one per eight, about 20 times faster on a CPU.
    The drop probability is rounded to a multiple of 1/256 (0.5 stays exact, 0.3 becomes 77/256 = 0.3008).
    """
    if not training or p <= 0:
        return x
    n = x.numel()
    bits = torch.empty((n + 7) // 8, dtype=torch.int64, device=x.device).random_(-(2**63), 2**63 - 1)
    bits = bits.view(torch.uint8)[:n].view(x.shape)
    threshold = round(p * 256)
    mask = (bits >= threshold).to(x.dtype).mul_(256 / (256 - threshold))  # kept entries carry the 1/(1-p) scale
    return x * mask  # autograd saves the mask: the backward pass is one multiply too


def detach_state(state):
    """Cut the graph at a window boundary; the values carry on (the seed's `tuple(e.data for e in h)`)."""
    return states.each(state, lambda t: t.detach())


@torch.no_grad()
def extend_vocab(model: CharRNN, vocab: list[str], added: list[str]) -> CharRNN:
    """A copy of `model` that also reads and writes the characters `added` (appended after `vocab`, so every old
    character keeps its code). A new character starts as its unaccented letter where it has one (é as e: the same
    input column and output row), else as the average character; its output bias starts at the rarest old one's,
    so the model begins by giving it little probability and learns it from the text."""
    import unicodedata

    index = {ch: i for i, ch in enumerate(vocab)}
    config = ModelConfig(**{**model.config.to_dict(), "vocab_size": len(vocab) + len(added)})
    bigger = CharRNN(config)
    state = model.state_dict()
    new = bigger.state_dict()
    for name, value in state.items():
        if name == "rnn.weight_ih_l0":  # (gates, V): one input column per character
            new[name][:, : len(vocab)] = value
        elif name == "head.weight":  # (V, H): one output row per character
            new[name][: len(vocab)] = value
        elif name == "head.bias":
            new[name][: len(vocab)] = value
        else:
            new[name].copy_(value)
    for j, ch in enumerate(added, start=len(vocab)):
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        source = index.get(base) if len(base) == 1 else None
        if source is not None:
            new["rnn.weight_ih_l0"][:, j] = state["rnn.weight_ih_l0"][:, source]
            new["head.weight"][j] = state["head.weight"][source]
        else:
            new["rnn.weight_ih_l0"][:, j] = state["rnn.weight_ih_l0"].mean(1)
            new["head.weight"][j] = state["head.weight"].mean(0)
        new["head.bias"][j] = state["head.bias"].min()
    bigger.load_state_dict(new)
    return bigger

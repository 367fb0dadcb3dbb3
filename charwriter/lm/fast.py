"""A fast single-character step for inference, built from the trained `nn.LSTM`/`nn.GRU` weights.

Calling `nn.LSTM` on one character costs milliseconds at 512×2 on a CPU: oneDNN re-prepares the weights on every
call. Generating text is one step per character, so we step by hand: layer 1's input matmul with a one-hot
vector is a row gather from a precomputed table (input weights transposed, both biases folded in), and each later
layer is one matmul of `[input, hidden]` against the concatenated weights. The tables are derived from the
model's parameters when `FastRNN` is built; the model stays the single source of truth (rebuild after training),
and a test checks the step against `nn.LSTM` with `torch.allclose`.

Priming a long context is fastest as one `nn.LSTM` call over the whole sequence (`prime`).
"""

from __future__ import annotations

import torch

from charwriter.lm.model import CharRNN


class FastRNN:
    """Inference-only stepping for a `CharRNN`; states have `nn.LSTM`'s layout, (layers, batch, hidden)."""

    def __init__(self, model: CharRNN):
        model.eval()
        self.model = model
        self.cell = model.config.cell
        self.hidden_size = model.config.hidden_size
        self.num_layers = model.config.num_layers
        rnn = model.rnn
        with torch.no_grad():
            # Layer 1: one-hot @ W_ih^T is row `idx` of W_ih^T; fold both biases into that table.
            self.table = (rnn.weight_ih_l0.t() + rnn.bias_ih_l0).contiguous()  # (V, G*H)
            if self.cell == "lstm":
                self.table += rnn.bias_hh_l0
            self.w_hh = [getattr(rnn, f"weight_hh_l{l}").t().contiguous() for l in range(self.num_layers)]  # (H, G*H)
            self.b_hh = [getattr(rnn, f"bias_hh_l{l}") for l in range(self.num_layers)]
            # Later layers: one matmul of [x, h] against [W_ih; W_hh]^T.
            self.w_cat = [None] + [
                torch.cat([getattr(rnn, f"weight_ih_l{l}"), getattr(rnn, f"weight_hh_l{l}")], 1).t().contiguous()
                for l in range(1, self.num_layers)
            ]
            self.b_cat = [None] + [
                getattr(rnn, f"bias_ih_l{l}") + getattr(rnn, f"bias_hh_l{l}") for l in range(1, self.num_layers)
            ]
            self.w_ih = [None] + [getattr(rnn, f"weight_ih_l{l}").t().contiguous() for l in range(1, self.num_layers)]
            self.b_ih = [None] + [getattr(rnn, f"bias_ih_l{l}") for l in range(1, self.num_layers)]
            self.head_w = model.head.weight.t().contiguous()  # (H, V)
            self.head_b = model.head.bias

    def init_state(self, batch_size: int):
        return self.model.init_state(batch_size, "cpu")

    @torch.no_grad()
    def prime(self, idx: torch.Tensor, state=None):
        """Run a whole sequence through `nn.LSTM` at once. idx (B, T) -> logits of the last char (B, V), state."""
        logits, state = self.model(idx, state)
        return logits[:, -1], state

    @torch.no_grad()
    def step(self, idx: torch.Tensor, state=None):
        """One character per row. idx (B,) -> logits (B, V), new state."""
        batch = idx.shape[0]
        if state is None:
            state = self.init_state(batch)
        if self.cell == "lstm":
            return self._step_lstm(idx, state)
        return self._step_gru(idx, state)

    def _step_lstm(self, idx, state):
        h_all, c_all = state
        new_h, new_c = [], []
        x = None
        H = self.hidden_size
        for l in range(self.num_layers):
            h, c = h_all[l], c_all[l]
            if l == 0:
                gates = torch.addmm(self.table[idx], h, self.w_hh[0])  # (B, 4H)
            else:
                gates = torch.addmm(self.b_cat[l], torch.cat([x, h], 1), self.w_cat[l])
            i, f, g, o = gates.split(H, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            new_h.append(h)
            new_c.append(c)
            x = h
        logits = torch.addmm(self.head_b, x, self.head_w)
        return logits, (torch.stack(new_h), torch.stack(new_c))

    def _step_gru(self, idx, h_all):
        H = self.hidden_size
        new_h = []
        x = None
        for l in range(self.num_layers):
            h = h_all[l]
            gi = self.table[idx] if l == 0 else torch.addmm(self.b_ih[l], x, self.w_ih[l])
            gh = torch.addmm(self.b_hh[l], h, self.w_hh[l])
            ir, iz, inn = gi.split(H, 1)
            hr, hz, hn = gh.split(H, 1)
            r = torch.sigmoid(ir + hr)
            z = torch.sigmoid(iz + hz)
            n = torch.tanh(inn + r * hn)
            h = (1 - z) * n + z * h
            new_h.append(h)
            x = h
        logits = torch.addmm(self.head_b, x, self.head_w)
        return logits, torch.stack(new_h)

"""A fast single-character step for inference, built on the trained `nn.LSTM`/`nn.GRU` weights.

`nn.LSTM` re-prepares its weights on every call, which costs milliseconds for one character, and generating text is
one step per character; so `FastRNN` steps by hand, reading the module's own parameters (the model stays the one
source of truth; layer 1's one-hot matmul is a row gather from a small table). A step is bound by memory speed, so
its matmuls may read weights at bf16, fp16 or int8 (`FastRNN(model, precision)`; `charwriter.lm.precision` picks),
several rows step as one batch, and a known sequence is read in one quantized C++ call (`run`). Use one torch
thread for it. Tests hold each path to `nn.LSTM` and `nn.GRU`; the design and its measurements are in
docs/engine.md.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from charwriter.lm.model import CharRNN


WIDE = 4  # rows from which contiguous (in, out) weight copies beat the transposed views (see above)

PRECISIONS = ("fp32", "bf16", "fp16", "int8")
"""What the step's matmuls can read their weights as (the model itself always stays fp32)."""


def _int8_packed(weight: torch.Tensor, bias: torch.Tensor | None):
    """fbgemm's packed int8 copy of `weight` (out, in), one symmetric scale per output row, with its fp32 bias."""
    import warnings

    scales = (weight.abs().amax(1) / 127).clamp(min=1e-12).double()
    with warnings.catch_warnings():  # quantize_per_channel is marked deprecated; fbgemm's packing still takes it
        warnings.simplefilter("ignore")
        q = torch.quantize_per_channel(weight, scales, torch.zeros(len(scales), dtype=torch.long), 0, torch.qint8)
        return torch.ops.quantized.linear_prepack(q, bias)


@lru_cache(1)
def has_vnni() -> bool:
    """Whether fbgemm's int8 matmul adds u8 × s8 products exactly here (AVX512-VNNI's vpdpbusd), tried on one row
    where the AVX2 and plain AVX-512 kernels (vpmaddubsw) saturate a pair's sum at 32,767. Tried rather than read
    from the CPU's flags: fbgemm has no AVX-VNNI kernel (avx_vnni, as on many laptops) and obeys
    FBGEMM_ENABLE_INSTRUCTIONS, so the flags can claim VNNI where the kernel in use saturates."""
    try:
        packed = _int8_packed(torch.ones(8, 64), None)  # every weight 127
        x = torch.ones(1, 64)
        x[0, 0] = 0.0  # dynamic quantization maps [0, 1] onto u8 [0, 255]: pairs of 255 × 127, twice 32,767
        out = torch.ops.quantized.linear_dynamic(x, packed, False)
    except (RuntimeError, NotImplementedError):  # no int8 kernel at all: int8 is not offered (precision.available)
        return False
    return bool((out - 63.0).abs().max() < 0.5)  # saturated pairs give ~32


def reduced_linear(weight: torch.Tensor, bias: torch.Tensor | None, precision: str, vnni: bool):
    """x (B, in) fp32 -> x @ weight.T + bias as fp32, reading `weight` (out, in) at `precision` (not fp32)."""
    weight = weight.detach().float()
    bias = None if bias is None else bias.detach().float().contiguous()
    if precision == "bf16":
        wt = weight.to(torch.bfloat16).t()  # the (out, in) copy's transposed view: oneDNN's fastest at small batch
        if bias is None:
            return lambda x: torch.mm(x.to(torch.bfloat16), wt).float()
        return lambda x: torch.mm(x.to(torch.bfloat16), wt).float().add_(bias)
    if precision == "fp16":
        packed = torch.ops.quantized.linear_prepack_fp16(weight.contiguous(), bias)
        return lambda x: torch.ops.quantized.linear_dynamic_fp16(x, packed)
    if precision == "int8":
        packed = _int8_packed(weight, bias)
        reduce_range = not vnni  # 7-bit activations: a pair's sum stays under 2 × 127 × 127, inside int16
        return lambda x: torch.ops.quantized.linear_dynamic(x, packed, reduce_range)
    raise ValueError(f"unknown precision {precision!r} (one of {', '.join(PRECISIONS)})")


def _lstm_update(i_and_f, i, f, g, o, c_prev, c, h):
    """The LSTM cell on its gates' pre-activations, in place: c = σf·c_prev + σi·tanh g, h = σo·tanh c. -> h"""
    i_and_f.sigmoid_()
    g.tanh_()
    o.sigmoid_()
    torch.mul(f, c_prev, out=c)
    c.addcmul_(i, g)
    torch.tanh(c, out=h)
    return h.mul_(o)


class FastRNN:
    """Inference-only stepping for a `CharRNN`; states have `nn.LSTM`'s layout, (layers, batch, hidden).

    Not thread-safe (the gate buffers are shared); the editor's engine uses it from one worker at a time.
    """

    def __init__(self, model: CharRNN, precision: str = "fp32", vnni: bool | None = None):
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r} (one of {', '.join(PRECISIONS)})")
        model.eval()
        self.model = model
        self.precision = precision
        self.vnni = has_vnni() if vnni is None else vnni
        """int8: activations at 8 bits, which only an exact kernel adds without saturating (`has_vnni`, measured
        unless a test picks the kernel)."""
        self.cell = model.config.cell
        self.hidden_size = model.config.hidden_size
        self.num_layers = model.config.num_layers
        self.runs_fast = self.cell == "lstm" and precision in ("int8", "fp16")
        """`run` reads a sequence in one call, cheaper than a step per character: an LSTM at int8 or fp16, whose
        quantized kernels keep the whole loop in C++ (measured at 768×2, int8: 16 characters 2.0 ms against
        4.5 ms stepped). fp32's `nn.LSTM` pays ~8 ms a call to prepare its weights, and bf16 has no such kernel."""
        rnn = model.rnn
        layers = range(self.num_layers)
        # Views of the module's parameters, (out, in) layout: nothing copied.
        self.w_ih = [getattr(rnn, f"weight_ih_l{l}") for l in layers]
        self.w_hh = [getattr(rnn, f"weight_hh_l{l}") for l in layers]
        self.b_ih = [getattr(rnn, f"bias_ih_l{l}") for l in layers]
        self.b_hh = [getattr(rnn, f"bias_hh_l{l}") for l in layers]
        self.head_b = model.head.bias
        # Transposed views, made once: (in, out) for addmm. Still the parameters' storage.
        self.w_ih_t = [w.t() for w in self.w_ih]
        self.w_hh_t = [w.t() for w in self.w_hh]
        self.head_w_t = model.head.weight.t()  # (H, V)
        self.rebuild()
        self._gates: dict[int, list[tuple]] = {}

    @torch.no_grad()
    def rebuild(self) -> None:
        """Recompute the derived tables from the parameters (after the weights changed)."""
        # Layer 1: one-hot @ W_ih^T is row `idx` of W_ih^T. An LSTM adds both biases to the gates; a GRU keeps
        # b_hh apart (it sits inside r * (W_hn h + b_hn)).
        self.table = (self.w_ih[0].t() + self.b_ih[0]).contiguous()  # (V, G*H)
        if self.cell == "lstm":
            self.table += self.b_hh[0]
        self.b_sum = [None] + [self.b_ih[l] + self.b_hh[l] for l in range(1, self.num_layers)]  # LSTM layers ≥ 2
        self._wide: tuple | None = None  # (w_ih_t, w_hh_t, head_w_t) as contiguous copies, for batches ≥ WIDE
        self._reduced: list | None = None
        if self.precision != "fp32":
            self._reduced = self._reduced_layers()
        self._sequence: list | None = None  # `run`'s cell parameters (`prepare_run`)

    def _reduced_layers(self) -> list:
        """Per layer, the matmuls at the reduced precision. LSTM: layer 1 h -> gates (its biases are in the table),
        then [x, h] -> gates with both biases. GRU: x -> gi and h -> gh apart (r multiplies W_hn h + b_hn)."""
        p, vnni = self.precision, self.vnni
        layers = []
        for l in range(self.num_layers):
            if self.cell == "lstm" and l == 0:
                layers.append(reduced_linear(self.w_hh[0], None, p, vnni))
            elif self.cell == "lstm":
                both = torch.cat([self.w_ih[l], self.w_hh[l]], dim=1)
                layers.append(reduced_linear(both, self.b_sum[l], p, vnni))
            else:
                ih = None if l == 0 else reduced_linear(self.w_ih[l], self.b_ih[l], p, vnni)
                layers.append((ih, reduced_linear(self.w_hh[l], self.b_hh[l], p, vnni)))
        return layers

    @torch.no_grad()
    def run(self, codes: list[int], state):
        """Read `codes` in order from `state` (batch 1): -> logits after each (T, V), the state after the last.
        One C++ call where `runs_fast`, else a step per character. The given state is never modified."""
        if not self.runs_fast:
            return self.run_stepped(codes, state)
        self.prepare_run()
        x = torch.nn.functional.one_hot(torch.tensor(codes), self.table.shape[0]).float()[:, None]  # (T, 1, V)
        dtype = torch.qint8 if self.precision == "int8" else torch.float16
        out, h, c = torch.quantized_lstm(x, state, self._sequence, True, self.num_layers, 0.0, False, False, False,
                                         dtype=dtype, use_dynamic=True)
        return torch.addmm(self.head_b, out[:, 0], self.head_w_t), (h, c)

    def run_stepped(self, codes: list[int], state):
        """`run`, a step per character."""
        out = []
        for code in codes:
            logits, state = self.step(torch.tensor([code]), state)
            out.append(logits)
        return torch.cat(out), state

    def prepare_run(self) -> None:
        """Pack `run`'s weights now (~50 ms at 768×2) rather than in the first call, a keystroke's."""
        if self.runs_fast and self._sequence is None:
            self._sequence = self._sequence_params()

    def _sequence_params(self) -> list:
        """Per layer, the quantized cell `torch.quantized_lstm` reads: the same per-row int8 (or fp16) weights as
        the step's, packed apart for the input and the hidden state."""
        params = []
        for l in range(self.num_layers):
            w_ih, w_hh = self.w_ih[l].detach().float(), self.w_hh[l].detach().float()
            b_ih, b_hh = self.b_ih[l].detach().float().contiguous(), self.b_hh[l].detach().float().contiguous()
            if self.precision == "int8":
                params.append(torch.ops.quantized.make_quantized_cell_params_dynamic(
                    _int8_packed(w_ih, b_ih), _int8_packed(w_hh, b_hh), b_ih, b_hh, not self.vnni))
            else:
                params.append(torch.ops.quantized.make_quantized_cell_params_fp16(
                    torch.ops.quantized.linear_prepack_fp16(w_ih.contiguous(), b_ih),
                    torch.ops.quantized.linear_prepack_fp16(w_hh.contiguous(), b_hh)))
        return params

    def init_state(self, batch_size: int):
        return self.model.init_state(batch_size, "cpu")

    @torch.no_grad()
    def prime(self, idx: torch.Tensor, state=None):
        """Run a whole sequence through `nn.LSTM` at once. idx (B, T) -> logits of the last char (B, V), state."""
        logits, state = self.model(idx, state)
        return logits[:, -1], state

    @torch.no_grad()
    def step(self, idx: torch.Tensor, state=None):
        """One character per row. idx (B,) -> logits (B, V), new state. The given state is never modified."""
        batch = idx.shape[0]
        if state is None:
            state = self.init_state(batch)
        if self._reduced is not None:
            return self._step_lstm_reduced(idx, state) if self.cell == "lstm" else self._step_gru_reduced(idx, state)
        if self.cell == "lstm":
            return self._step_lstm(idx, state)
        return self._step_gru(idx, state)

    def _buffers(self, batch: int) -> list[tuple]:
        """Per layer: the (B, 4H) gate buffer and its slices, made once per batch size (slicing costs µs a call)."""
        buffers = self._gates.get(batch)
        if buffers is None:
            H = self.hidden_size
            buffers = []
            for _ in range(self.num_layers):
                gates = torch.empty(batch, self.table.shape[1])
                buffers.append((gates, gates[:, : 2 * H], *gates.split(H, 1)))
            self._gates[batch] = buffers
        return buffers

    def _weights(self, batch: int) -> tuple:
        """(w_ih_t, w_hh_t, head_w_t) for this batch size: the parameters' views, or contiguous copies when wide."""
        if batch < WIDE:
            return self.w_ih_t, self.w_hh_t, self.head_w_t
        if self._wide is None:
            with torch.no_grad():
                self._wide = ([w.contiguous() for w in self.w_ih_t], [w.contiguous() for w in self.w_hh_t],
                              self.head_w_t.contiguous())
        return self._wide

    def _step_lstm(self, idx, state):
        h_all, c_all = state
        new_h, new_c = torch.empty_like(h_all), torch.empty_like(c_all)
        w_ih_t, w_hh_t, head_w_t = self._weights(idx.shape[0])
        x = None
        for l, (gates, i_and_f, i, f, g, o) in enumerate(self._buffers(idx.shape[0])):
            if l == 0:
                torch.index_select(self.table, 0, idx, out=gates)
            else:
                torch.addmm(self.b_sum[l], x, w_ih_t[l], out=gates)
            gates.addmm_(h_all[l], w_hh_t[l])  # (B, 4H): i, f, g, o
            x = _lstm_update(i_and_f, i, f, g, o, c_all[l], new_c[l], new_h[l])
        logits = torch.addmm(self.head_b, x, head_w_t)
        return logits, (new_h, new_c)

    def _step_lstm_reduced(self, idx, state):
        h_all, c_all = state
        H = self.hidden_size
        new_h, new_c = torch.empty_like(h_all), torch.empty_like(c_all)
        x = None
        for l, matmul in enumerate(self._reduced):
            if l == 0:
                gates = matmul(h_all[0]).add_(torch.index_select(self.table, 0, idx))
            else:
                gates = matmul(torch.cat([x, h_all[l]], 1))
            x = _lstm_update(gates[:, : 2 * H], *gates.split(H, 1), c_all[l], new_c[l], new_h[l])
        logits = torch.addmm(self.head_b, x, self.head_w_t)
        return logits, (new_h, new_c)

    def _step_gru_reduced(self, idx, h_all):
        H = self.hidden_size
        new_h = torch.empty_like(h_all)
        x = None
        for l, (ih, hh) in enumerate(self._reduced):
            h = h_all[l]
            gi = self.table[idx] if l == 0 else ih(x)
            gh = hh(h)
            ir, iz, inn = gi.split(H, 1)
            hr, hz, hn = gh.split(H, 1)
            r = torch.sigmoid(ir + hr)
            z = torch.sigmoid(iz + hz)
            n = torch.tanh(inn + r * hn)
            torch.addcmul(n, z, h - n, out=new_h[l])
            x = new_h[l]
        logits = torch.addmm(self.head_b, x, self.head_w_t)
        return logits, new_h

    def _step_gru(self, idx, h_all):
        H = self.hidden_size
        new_h = torch.empty_like(h_all)
        x = None
        for l in range(self.num_layers):
            h = h_all[l]
            gi = self.table[idx] if l == 0 else torch.addmm(self.b_ih[l], x, self.w_ih_t[l])
            gh = torch.addmm(self.b_hh[l], h, self.w_hh_t[l])
            ir, iz, inn = gi.split(H, 1)
            hr, hz, hn = gh.split(H, 1)
            r = torch.sigmoid(ir + hr)
            z = torch.sigmoid(iz + hz)
            n = torch.tanh(inn + r * hn)
            torch.addcmul(n, z, h - n, out=new_h[l])  # (1 - z) * n + z * h
            x = new_h[l]
        logits = torch.addmm(self.head_b, x, self.head_w_t)
        return logits, new_h

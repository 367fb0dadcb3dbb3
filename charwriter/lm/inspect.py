"""Inside the model, character by character: how surprised it was by each character, what it expected instead, and
what each LSTM cell did (Karpathy 2015, "The Unreasonable Effectiveness of Recurrent Neural Networks").

`read_text_through` reads a text as one stream from the zero state, each character predicted from everything before
it (the first from a new line, as `charwriter generate` starts), and keeps, per character: its log-probability, the
model's top guesses for it, and every layer's cell state (tanh of it, in [-1, 1]) and hidden state after it.
`find_cells` correlates every cell with simple features of the text (inside double quotes, position in the line,
after a sentence end, inside a word), so a learner can see which cells track what. No Textual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from charwriter.lm.model import CharRNN
from charwriter.lm.sample import default_start, split_mapped
from charwriter.lm.steps import BLOCK, SURPRISE_STEPS, WARMUP, surprise_level  # noqa: F401 (re-exported)

TOP = 5


@dataclass
class Reading:
    """What the model made of a text, per character of `text` (the characters it could read)."""

    text: str
    logp: torch.Tensor  # (N,) natural-log probability of each character, given all before it
    top: list[list[tuple[str, float]]]  # (N,) the model's TOP guesses for each position, with probabilities
    cells: torch.Tensor  # (N, layers, H) tanh of each cell state after the character (LSTM; GRU: the hidden state)
    hidden: torch.Tensor  # (N, layers, H) the hidden state after the character
    after: list[tuple[str, float]]  # the TOP guesses for the character after the text

    @property
    def bits(self) -> torch.Tensor:
        return -self.logp / math.log(2)

    @property
    def loss(self) -> float:
        """Mean nats/char: `charwriter eval`'s measure, over this one stream."""
        return float(-self.logp.mean()) if len(self.logp) else 0.0


@torch.no_grad()
def read_text_through(model: CharRNN, vocab: list[str], text: str) -> Reading:
    """Read `text` (as the editor reads it: look-alikes mapped, unknown characters skipped) one character at a time."""
    from charwriter.lm.fast import FastRNN

    codes, _ = split_mapped(text, vocab)
    shown = "".join(vocab[c] for c in codes)
    fast = FastRNN(model.eval())
    state = fast.init_state(1)
    logits, state = fast.step(torch.tensor([default_start(vocab)]), state)
    lstm = model.config.cell == "lstm"
    n, layers, hidden = len(codes), model.config.num_layers, model.config.hidden_size
    all_logits = torch.empty(n + 1, len(vocab))  # row i: the prediction for character i (row n: after the text)
    cells = torch.empty(n, layers, hidden)
    hiddens = torch.empty(n, layers, hidden)
    all_logits[0] = logits[0]
    inputs = torch.tensor(codes).view(-1, 1)
    for i in range(n):
        logits, state = fast.step(inputs[i], state)
        all_logits[i + 1] = logits[0]
        h = state[0] if lstm else state
        hiddens[i] = h[:, 0]
        cells[i] = state[1][:, 0] if lstm else h[:, 0]
    if lstm:
        cells.tanh_()
    logprobs = torch.log_softmax(all_logits, -1)  # all at once: per step this was most of the time
    logp = logprobs[torch.arange(n), inputs[:, 0]]
    values, indices = logprobs.exp().topk(min(TOP, len(vocab)), -1)
    guesses = [[(vocab[j], v) for v, j in zip(vs, js)] for vs, js in zip(values.tolist(), indices.tolist())]
    top, after = guesses[:n], guesses[n]
    return Reading(shown, logp, top, cells, hiddens, after)


# --- the cell finder ----------------------------------------------------------------------------------------------

SENTENCE_END = ".!?"


def features(text: str) -> dict[str, torch.Tensor]:
    """Simple facts about each character of `text`, as numbers a cell might track."""
    quote, column, after_end, word = [], [], [], []
    inside, col, ended = False, 0, False
    for ch in text:
        if ch == '"':
            inside = not inside
        quote.append(float(inside))
        col = 0 if ch == "\n" else col + 1
        column.append(float(col))
        after_end.append(float(ended))
        if ch in SENTENCE_END:
            ended = True
        elif not ch.isspace() and ch not in "\"')":
            ended = False
        word.append(float(ch.isalnum()))
    return {"inside double quotes": torch.tensor(quote), "position in the line": torch.tensor(column),
            "after a sentence end": torch.tensor(after_end), "inside a word": torch.tensor(word)}


@dataclass
class Found:
    feature: str
    layer: int  # 0-based
    cell: int
    r: float  # Pearson correlation of the cell's activation with the feature, over the text


def find_cells(reading: Reading, per_feature: int = 3) -> list[Found]:
    """For each feature, the cells whose activation (tanh of the cell state) correlates most with it, strongest
    first (|r|, a negative r is a cell that runs the other way)."""
    n = len(reading.text)
    acts = reading.cells.reshape(n, -1)  # (N, layers * H)
    hidden = reading.cells.shape[2]
    a = acts - acts.mean(0)
    a_norm = a.norm(dim=0).clamp_min(1e-9)
    out = []
    for name, values in features(reading.text).items():
        v = values - values.mean()
        if float(v.norm()) == 0:
            continue  # the text never varies in this (no quotes at all, say)
        r = (a * v[:, None]).sum(0) / (a_norm * v.norm())
        for index in r.abs().topk(min(per_feature, len(r))).indices.tolist():
            out.append(Found(name, index // hidden, index % hidden, float(r[index])))
    return out


def parse_cell(spec: str, layers: int, hidden: int) -> tuple[int, int]:
    """'LAYER:INDEX', 1-based layer, 0-based cell, as the finder prints them -> (layer, cell), 0-based; ValueError
    saying what is allowed."""
    try:
        layer_text, index_text = spec.split(":")
        layer, index = int(layer_text), int(index_text)
    except ValueError:
        raise ValueError(f"{spec!r}: give LAYER:INDEX, for example 2:37") from None
    if not 1 <= layer <= layers or not 0 <= index < hidden:
        raise ValueError(f"{spec}: this model has layers 1 to {layers} and cells 0 to {hidden - 1}")
    return layer - 1, index


# --- the editor's views: a document read in blocks ---------------------------------------------------------------

@dataclass
class Unit:
    """One LSTM unit to watch: 0-based layer and index; `kind` "cell" (tanh of the cell state) or "hidden"."""

    layer: int
    index: int
    kind: str = "cell"

    def label(self) -> str:
        return f"{self.layer + 1}:{self.index} {'tanh(cell state)' if self.kind == 'cell' else 'hidden state'}"

    def short_label(self) -> str:
        return f"{self.layer + 1}:{self.index} {'tanh(c)' if self.kind == 'cell' else 'h'}"


class _Lane(NamedTuple):
    """One block as a lane of the batch: the codes the model reads for it, its warm-up first, and for each code the
    character of the block it belongs to (negative: a warm-up character)."""

    block: int
    length: int  # the block's characters
    codes: list[int]
    owner: list[int]


@torch.inference_mode()
def read_blocks(model: CharRNN, codes_of, base, text: str, blocks: list[int], unit: Unit | None = None,
                autocast: bool = False, block: int = BLOCK, warmup: int = WARMUP
                ) -> dict[int, tuple[list[float], list[float] | None]]:
    """Per character of each block b of `text` (characters b*block up to (b+1)*block): its log-probability in nats
    (NaN where the model reads no code for it; the sum where it reads several) and, with `unit`, that unit's
    activation after it (NaN where no code). All blocks are read at once, as lanes of one batch, each layer in one
    call over the whole sequence (no Python per character: the editor's worker thread would wait for the event
    loop's lock at every step); `autocast`: bf16 matmuls.

    codes_of(ch): the codes the model reads for a character; base: (state, logits) after a new line, batch 1
    (`Engine._base`)."""
    lanes = []
    for b in blocks:
        lo, hi = b * block, min(len(text), (b + 1) * block)
        codes: list[int] = []
        owner: list[int] = []
        for i in range(max(0, lo - warmup), hi):
            got = codes_of(text[i])
            codes += got
            owner += [i - lo] * len(got)  # negative: a warm-up character
        lanes.append(_Lane(b, hi - lo, codes, owner))
    if not any(lane.codes for lane in lanes):
        return {b: ([math.nan] * n, [math.nan] * n if unit else None) for b, n, _, _ in lanes}
    logp, acts = _read_lanes(model, base, lanes, unit, autocast)
    return _per_character(lanes, logp, acts)


def _read_lanes(model: CharRNN, base, lanes: list[_Lane], unit: Unit | None, autocast: bool):
    """Each lane's log-probability of each of its codes, given those before it, (L, T) in numpy; with `unit`, the
    unit's activation after each code, (L, T) too (else None)."""
    from torch import _VF

    steps = max(len(lane.codes) for lane in lanes)
    idx = torch.zeros(len(lanes), steps, dtype=torch.long)
    for row, (_, _, codes, _) in enumerate(lanes):
        idx[row, : len(codes)] = torch.tensor(codes, dtype=torch.long)
    config = model.config
    lstm = config.cell == "lstm"
    state, first_logits = base
    expand = lambda t: t.expand(-1, len(lanes), -1).contiguous()  # noqa: E731
    h_all, c_all = (expand(state[0]), expand(state[1])) if lstm else (expand(state), None)
    x = F.one_hot(idx.t(), config.vocab_size).float()  # (T, L, V), time-major as the kernels want it
    weights = model.rnn._flat_weights
    act = None
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        for layer in range(config.num_layers):
            w = weights[4 * layer : 4 * layer + 4]
            h0 = h_all[layer : layer + 1]
            inputs = x
            if lstm:
                x, _, _ = _VF.lstm(x, (h0, c_all[layer : layer + 1]), w, True, 1, 0.0, False, False, False)
            else:
                x, _ = _VF.gru(x, h0, w, True, 1, 0.0, False, False, False)
            if unit is not None and layer == unit.layer:
                act = _unit_activation(unit, lstm, config.hidden_size, inputs, h0, x, w)
        logits = model.head(x).float()  # (T, L, V)
    logp_all = torch.log_softmax(torch.cat([first_logits.float().expand(1, len(lanes), -1), logits[:-1]]), -1)
    logp = logp_all.gather(2, idx.t().unsqueeze(2)).squeeze(2).t().numpy()  # (L, T): code t given those before
    return logp, act.t().numpy() if act is not None else None


def _unit_activation(unit: Unit, lstm: bool, hidden_size: int, inputs: torch.Tensor, h0: torch.Tensor,
                     out: torch.Tensor, w: list[torch.Tensor]) -> torch.Tensor:
    """The unit's activation after each step, (T, L), from its layer's `inputs`, first hidden state `h0`, output
    `out` (the hidden states) and weights `w`."""
    h = out[:, :, unit.index].float()  # (T, L)
    if not lstm or unit.kind == "hidden":
        return h
    # h = o * tanh(c), and the output gate o > 0 comes from this step's input and the last h
    row = 3 * hidden_size + unit.index
    before = torch.cat([h0.float(), out[:-1].float()])  # h_{t-1}: (T, L, H)
    gate = inputs.float() @ w[0][row].float() + before @ w[1][row].float() + float(w[2][row] + w[3][row])
    return (h / torch.sigmoid(gate)).clamp(-1, 1)


def _per_character(lanes: list[_Lane], logp, acts) -> dict[int, tuple[list[float], list[float] | None]]:
    """`read_blocks`' answer from the codes' log-probabilities and activations, (L, T): per character of each block,
    the sum over its codes (NaN: none) and the activation after its last code."""
    import numpy as np

    out: dict[int, tuple[list[float], list[float] | None]] = {}
    for row, (b, n, codes, owner) in enumerate(lanes):
        where = np.asarray(owner, dtype=np.int64)
        keep = where >= 0
        sums = np.zeros(n)
        seen = np.zeros(n, dtype=bool)
        np.add.at(sums, where[keep], logp[row, : len(codes)][keep])
        seen[where[keep]] = True
        values = np.where(seen, sums, np.nan).tolist()
        activations = None
        if acts is not None:
            last = np.full(n, np.nan)
            last[where[keep]] = acts[row, : len(codes)][keep]  # a character of several codes: after its last
            activations = last.tolist()
        out[b] = (values, activations)
    return out

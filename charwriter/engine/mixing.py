"""Mixing the model with the document memory: each next-character distribution as the suggestions use it, the
model's log-probabilities with the memory's change for the few codes that followed the row's contexts.
"""

from __future__ import annotations

import math
from operator import itemgetter

import torch
import torch.nn.functional as F

from charwriter.lm.memory import DocumentMemory


class ModelProbs:
    """A row's model probabilities, read lazily from its log-probabilities (a numpy view): the memory learns from
    one of them per character typed (`DocumentMemory.learn`), so turning the whole row into probabilities every step
    is waste."""

    __slots__ = ("logp", "row")

    def __init__(self, logp, row: int):
        self.logp, self.row = logp, row

    def __getitem__(self, code: int) -> float:
        return math.exp(float(self.logp[self.row, code]))


class Mixed:
    """Next-character log-probabilities of R rows as the suggestions use them, in two parts: the model's (R, V),
    and per row the document memory's change. A row's mixture is its model share times the model's distribution,
    plus the memory's shares on the few codes that followed its contexts; so every code moves by log(share) but
    those few, whose values are kept here (`own`). A beam step reads each row's best few and a greedy step its
    best one: both come from the model's own ranking and those few codes, in plain Python. The whole (R, V)
    mixture costs a handful of torch calls, each 5-20 µs right after an LSTM step, and is made only where it is
    read whole (sampling, the cursor's guesses, evaluation)."""

    __slots__ = ("model", "keep", "own", "_full")

    def __init__(self, model: torch.Tensor, keep: list[float] | None = None, own: list[dict] | None = None):
        self.model = model  # (R, V): the model's log-probabilities
        self.keep = keep  # per row: log of the model's share (0.0 where the memory had nothing to add); None: no memory
        self.own = own  # per row: {code: mixed log-probability} for the codes that followed its contexts
        self._full: torch.Tensor | None = None

    def full(self) -> torch.Tensor:
        """The mixture as one (R, V) tensor."""
        if self.own is None:
            return self.model
        if self._full is None:
            size = self.model.shape[1]
            cells = [r * size + code for r, own in enumerate(self.own) for code in own]
            full = self.model + torch.tensor(self.keep)[:, None]
            if cells:
                full.put_(torch.tensor(cells), torch.tensor([v for own in self.own for v in own.values()]))
            self._full = full
        return self._full

    def top(self, n: int) -> tuple[list[list[float]], list[list[int]]]:
        """Each row's n likeliest codes and their log-probabilities, likeliest first. A code outside the model's n
        likeliest that did not follow the row's contexts moved as much as those n: it cannot be among them."""
        top = self.model.topk(min(n, self.model.shape[1]), -1)
        values, codes = top.values.tolist(), top.indices.tolist()
        if self.own is not None:
            for r, own in enumerate(self.own):
                if own:
                    keep, row = self.keep[r], codes[r]
                    pairs = [(own[c] if c in own else v + keep, c) for v, c in zip(values[r], row)]
                    pairs += [(v, c) for c, v in own.items() if c not in row]
                    pairs.sort(key=itemgetter(0), reverse=True)
                    values[r], codes[r] = [v for v, _ in pairs[:n]], [c for _, c in pairs[:n]]
        return values, codes

    def best(self) -> tuple[list[int], list[float]]:
        """Each row's likeliest code and its log-probability."""
        values, codes = self.model.max(-1)
        values, codes = values.tolist(), codes.tolist()
        for r, own in enumerate(self.own or ()):
            if own:
                best = own.get(codes[r], values[r] + self.keep[r])
                for code, value in own.items():
                    if value > best:
                        best, codes[r] = value, code
                values[r] = best
        return codes, values

    def at(self, codes: list[int]) -> list[float]:
        """Each row's log-probability of its code."""
        values = self.model.gather(1, torch.tensor(codes)[:, None])[:, 0].tolist()
        if self.own is not None:
            for r, (own, code) in enumerate(zip(self.own, codes)):
                if own:
                    values[r] = own[code] if code in own else values[r] + self.keep[r]
        return values

    def rows(self, index: list[int]) -> "Mixed":
        return Mixed.cat([(self, r) for r in index])

    @staticmethod
    def cat(parts: list[tuple["Mixed", int]]) -> "Mixed":
        """Row r of each part, as one."""
        model = torch.cat([m.model[r : r + 1] for m, r in parts])
        if all(m.own is None for m, _ in parts):
            return Mixed(model)
        return Mixed(model, [m.keep[r] if m.own is not None else 0.0 for m, r in parts],
                      [m.own[r] if m.own is not None else {} for m, r in parts])



def next_logp(logits: torch.Tensor, memory: DocumentMemory | None, contexts: list,
              reach: list | None = None) -> tuple[Mixed, list]:
    """Log-probabilities of the next character (R rows): the model's, mixed with the document memory's (each
    row's `context`, and the `reach` of the orders that can have occurred there, None: all); and per row
    the memory's `Step` (None where it had nothing to add).

    `DocumentMemory.mix_rows` in log space, kept as the model's log-probabilities and each row's changes
    (`Mixed`): the memory's few codes are computed here in plain Python from a numpy view of the model's."""
    logp = F.log_softmax(logits, -1)
    if memory is None:
        return Mixed(logp), [None] * len(logits)
    steps = memory.steps(contexts, reach or [None] * len(logits))
    keep, own, model = [0.0] * len(steps), [{}] * len(steps), None
    exp, log = math.exp, math.log
    for r, step in enumerate(steps):
        if step is None:
            continue
        if model is None:
            model = logp.numpy()
        step.model = ModelProbs(model, r)
        share, row = max(step.weights[0], 1e-30), model[r]
        # the shortest context's followers include every longer one's (a context's suffix followed it too)
        if len(step.follow) == 2:  # `MIX_ORDERS`: written out, as this runs for most rows of every step
            (_, near, far), (shorter, longer) = step.weights, step.follow
            own[r] = {code: log(share * exp(row[code]) + (near * p + far * longer.get(code, 0.0)))
                      for code, p in shorter.items()}
        else:
            own[r] = {code: log(share * exp(row[code]) + extra) for code, extra in step.shares().items()}
        keep[r] = log(share)
    return Mixed(logp, keep, own), steps

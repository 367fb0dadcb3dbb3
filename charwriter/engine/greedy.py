"""The first version's opening, kept for the benchmarks that compare it with the beam (`EngineSettings.ghost =
"greedy"`): K distinct first characters, then every row goes on, greedily or sampled, and the rows are ranked by
their scores.
"""

from __future__ import annotations

import torch

from charwriter.engine.decode import Opened, Row, Run, sample_from
from charwriter.engine.mixing import Mixed
from charwriter.lm import state as states


class GreedyOpening:
    beam = False

    def open(self, run: Run, state, logp: Mixed, steps: list, context: int) -> Opened | None:
        k = run.k
        rows = [Row([], [], [], context, None) for _ in range(k)]
        codes = first_chars(run, logp.full()).tolist()
        return Opened(rows, list(range(k)), states.expand(state, k), logp.rows([0] * k), steps * k, codes, [])


def first_chars(run: Run, logp: torch.Tensor) -> torch.Tensor:
    """Distinct first characters: the K likeliest when greedy, else the likeliest then K-1 sampled ones."""
    s, k = run.settings, run.k
    masked = logp.masked_fill(~run.decoder.printable, float("-inf"))  # a suggestion offers something to insert
    if run.greedy:
        return masked[0].topk(k).indices
    chosen = [int(masked[0].argmax())]
    for r in range(1, k):  # without replacement: each draw from the distribution without the ones drawn
        masked[0, chosen[-1]] = float("-inf")
        chosen.append(int(sample_from(masked, run.uniforms[0, r : r + 1], s.temperature, s.top_k, s.top_p)))
    return torch.tensor(chosen)

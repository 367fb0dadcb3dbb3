"""Sampling: the seed's prime-then-sample, with temperature, top-k, top-p and greedy decoding.

Characters of the prime that the model has never seen are mapped to look-alikes it knows, as the editor maps what
the writer types (`translate`), and skipped when there is none (the seed raised KeyError); the caller decides how
to tell the user. `pick_next` and `translate` are shared with the editor's engine.
"""

from __future__ import annotations

from typing import Iterator

import torch

from charwriter.lm.fast import FastRNN
from charwriter.lm.model import CharRNN
from charwriter.lm.rules import LOOKALIKES, default_start, document_start, translate  # noqa: F401 - shared, re-exported


def unseen_characters(text: str, vocab: list[str]) -> list[str]:
    """The characters of `text` that a model with this vocabulary has never seen, but for typographic look-alikes
    (curly quotes, dashes, odd spaces: read as the plain ones): letters like é, ß or £ that fine-tuning would read
    without their accent or drop, unless it extends the vocabulary."""
    known = set(vocab)
    return sorted(ch for ch in set(text) if ch not in known and ch not in LOOKALIKES and not ch.isspace())


def split_mapped(text: str, vocab: list[str]) -> tuple[list[int], str]:
    """`split_known` after `translate`: codes of the text as the editor reads it, and what had to be skipped."""
    index = {ch: i for i, ch in enumerate(vocab)}
    codes, skipped, seen = [], [], {}
    for ch in text:
        mapped = seen.get(ch)
        if mapped is None:
            mapped = seen[ch] = translate(ch, index)
            if not mapped and ch not in skipped:
                skipped.append(ch)
        codes.extend(index[c] for c in mapped)
    return codes, "".join(skipped)


def split_known(text: str, vocab: list[str]) -> tuple[list[int], str]:
    """Codes of the characters in the vocabulary, and the distinct characters that were skipped."""
    lookup = {ch: i for i, ch in enumerate(vocab)}
    codes, skipped = [], []
    for ch in text:
        code = lookup.get(ch)
        if code is None:
            if ch not in skipped:
                skipped.append(ch)
        else:
            codes.append(code)
    return codes, "".join(skipped)


def masked_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None) -> torch.Tensor:
    """logits (B, V) -> the sampling distribution (B, V) after temperature, top-k and top-p."""
    logits = logits.float() / temperature
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, -1)
    if top_p is not None and 0 < top_p < 1:
        sorted_probs, order = probs.sort(-1, descending=True)
        cumulative = sorted_probs.cumsum(-1)
        drop = cumulative - sorted_probs > top_p  # keep the smallest prefix whose mass reaches top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return probs


def pick_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
              greedy: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """logits (B, V) -> next character codes (B,)."""
    if greedy or temperature <= 0:
        return logits.argmax(-1)
    probs = masked_probs(logits, temperature, top_k, top_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(model: CharRNN, vocab: list[str], prime: str, length: int, top_k: int | None = None,
             top_p: float | None = None, temperature: float = 1.0, greedy: bool = False,
             seed: int | None = None, precision: str = "fp32") -> Iterator[str]:
    """Prime the model with `prime` (read as the editor reads it: look-alikes mapped, the rest skipped), then yield `length` sampled characters, each step
    at `precision` (`charwriter.lm.fast.PRECISIONS`; the prime is read at fp32)."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    codes, _ = split_mapped(prime, vocab)
    if not codes:
        codes = document_start(vocab)
    fast = FastRNN(model, precision)
    logits, state = fast.prime(torch.tensor([codes]))
    for _ in range(length):
        nxt = pick_next(logits, temperature, top_k, top_p, greedy, generator)
        yield vocab[int(nxt)]
        logits, state = fast.step(nxt, state)

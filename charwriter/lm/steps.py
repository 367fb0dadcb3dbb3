"""What the inside views share, without torch: the surprise steps, and how the editor reads a document in blocks.

`charwriter inspect` (`charwriter.lm.inspect`) and the editor's views (`charwriter.screens.inside`, which must not
import torch before the model loads) both read these.
"""

from __future__ import annotations

SURPRISE_STEPS = (1.0, 3.0, 6.0)  # bits: below 1 the model all but knew it; above 6 it was one in 64 or rarer

BLOCK = 128
"""The editor's views read a document in blocks of this many characters; each is read after `WARMUP` characters."""
WARMUP = 128
"""Characters read before a block, from a new line's state, as every context window begins: an edit changes the
figures of its own block and of the block after it, never further, and any part of a long document is read alone
(the visible screen's 15–20 blocks: about 0.1 s on two cores with native bf16)."""


def surprise_level(bits: float) -> int:
    """0 (expected) to 3 (a surprise): the colour step a character's surprise falls in."""
    return sum(bits >= step for step in SURPRISE_STEPS)

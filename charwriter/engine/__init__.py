"""The suggestion engine: incremental inference for the editor. On every keystroke `Engine.suggest(text before the
cursor)` reads only what changed into the model's state, then decodes K continuations: the likeliest ways to finish
the word at the cursor, the first going on as the grey text, mixed with what the writer's own document says.

The modules: `settings` (torch-free), `context` (reading the context: lanes and snapshots), `mixing` (the model and
the document memory), `decode` (a suggestion run), `beam` and `greedy` (how the continuations open), `draft` (the
memory's guesses read in one run), `shown` (what the writer is shown), `core` (the `Engine`). The design, and why:
docs/engine.md.

The names below are imported when first used, so that `charwriter.settings` can read the engine's settings
(`charwriter.engine.settings`) without importing torch.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "Engine": "core", "ALL_THREADS": "core",
    "EngineSettings": "settings", "MEMORY_MAX_CHARS": "settings",
    "Suggestion": "shown", "worth_showing": "shown", "FAR_BELOW": "shown",
    "sample_from": "decode",
    "WORD_EXTRA": "charwriter.lm.rules", "common_prefix_length": "charwriter.lm.memory",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    where = _WHERE[name]
    module = importlib.import_module(where if "." in where else f"{__name__}.{where}")
    return getattr(module, name)  # not cached here: a test that changes a module's constant is seen

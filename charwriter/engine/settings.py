"""The engine's settings, each described once: its default, why, and for those the writer sets, the name in the
user's settings file and the values it may take (`charwriter.settings.Settings` is built from these). No torch: the
editor reads the user's settings before its first frame.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields

from charwriter.lm.config import Option
from charwriter.lm.rules import GHOST_CONFIDENCE, GHOST_FLOOR, NO_REPEAT, WRAP_WIDTH

MEMORY_MAX_CHARS = 5_000_000  # above this the memory's arrays (8 keys a character) would take gigabytes and half a
# minute to build: a document this long is written with the model alone (and only its end is read)
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
"""The `precision` setting's values (`charwriter.lm.precision.CHOICES`, without importing torch)."""


def _setting(default, help: str, user: str | None = None, **bounds):
    """A field of `EngineSettings`; `user`: its name in the user's settings (`Settings`), where the writer sets it,
    and `bounds` (Option's low, high, choices) the values the writer may give it."""
    return field(default=default, metadata={"option": Option(help, **bounds), "user": user})


@dataclass
class EngineSettings:
    k: int = _setting(9, "continuations, most likely first: the ghost text plus the other likeliest words, for the"
                      " pane", user="suggestions", low=1, high=9)
    max_len: int = _setting(48, "L characters at most: about a line of the side pane, and generation time grows with"
                            " it", user="max_length", low=1, high=500)
    temperature: float = _setting(1.0, "the seed's sampling: for a resampled ghost text (Ctrl+R) and"
                                  " `ghost=\"greedy\"` rows", user="temperature", low=0.1, high=2.0)
    top_k: int | None = _setting(5, "the seed's sampling: only the 5 likeliest characters, so drawn text stays"
                                 " plausible", user="top_k", low=1, high=1000)
    top_p: float | None = _setting(None, "nucleus sampling instead of (or with) top-k")
    greedy: bool = _setting(False, "True: never sample, even when resampling (deterministic tests)", user="greedy")
    context_chars: int = _setting(1024, "C: cap on the context; an LSTM forgets, and reading more costs time on every"
                                  " jump")
    state_every: int = _setting(64, "N: cached state every N characters; an edit re-reads at most N - 1 characters")
    seed: int | None = _setting(None, "reseed before every suggestion: the same context gives the same suggestions")
    quick_chars: int = _setting(128, "the context of `set_context(quick=True)`: first suggestions on a big document"
                                " at once")
    threads: int | None = _setting(1, "torch threads (process-wide!): steps are memory-bound, and 2 threads on 2 busy"
                                   " cores spin against each other (65 ms a step instead of 0.6 ms); None leaves"
                                   " torch's setting alone")
    ghost: str = _setting("beam", "how the continuations open: \"beam\", the K likeliest distinct first words (beam"
                          " search, then greedy or sampled), or \"greedy\", the likeliest first characters (kept for"
                          " benchmarks/keystrokes.py, which compares them)", choices=("beam", "greedy"))
    ghost_floor: float = _setting(GHOST_FLOOR, "draw the grey text only when its first word has this probability (0:"
                                  " always)", user="grey_floor", low=0.0, high=1.0)
    ghost_confidence: float = _setting(GHOST_CONFIDENCE, "end the ghost text at the last word the model gives this"
                                       " cumulative probability (0: off); a shorter grey text that is right more"
                                       " often is accepted whole with one key")
    document_words_after: int = _setting(8, "pane alternatives from the beam before the document's own words that"
                                         " finish the word being typed (its names and long words, which the model may"
                                         " never rank high); they fill what is left")
    recent_words: bool = _setting(True, "the words the writer used in the text just read (the model's window) that"
                                  " finish the word being typed, or after a space followed the last word, right after"
                                  " the grey text: a document's own terms and phrases, which the model may rank below"
                                  " its usual words (`shown.recent_words`, `shown.recent_followers`)")
    beam_width: int = _setting(10, "beams for the first word: wider finds likelier words, each beam is a row of every"
                               " step")
    memory: bool = _setting(True, "the document memory: names and phrases of the writer's own document"
                            " (charwriter.lm.memory)", user="memory")
    no_repeat: int = _setting(NO_REPEAT, "a continuation never repeats a run of this many characters of itself or the"
                              " text just before it (0: off); loops and restatements of what was just accepted are"
                              " what a writer rejects")
    guesses: bool = _setting(True, "the memory's guesses, read in one run where the precision has one"
                             " (`charwriter.engine.draft`); False: every character stepped (the same suggestions:"
                             " benchmarks/suggest_latency.py compares the time)")
    words: bool = _setting(True, "judge words by the document and the word list (`charwriter.engine.shown`); False:"
                           " the model alone")
    typography: bool = _setting(True, "suggestions in the document's own quotes, apostrophes, dashes and ellipses")
    wrap_width: int = _setting(WRAP_WIDTH, "the model reads the text before the cursor with lines longer than its"
                               " corpus's broken at a space before this column, as a hard-wrapped book has them"
                               " (`rules.wrapped_view`; 0: as written): a writer's paragraph is one long line")
    precision: str = _setting("auto", "the step's matmuls: \"auto\" measures fp32/bf16/fp16/int8 once per model and"
                              " machine and takes the fastest that agrees with fp32 (charwriter.lm.precision); or one"
                              " of them", user="precision", choices=PRECISIONS)

    @classmethod
    def of_user(cls, user, **more) -> "EngineSettings":
        """The engine's settings for the user's (`charwriter.settings.Settings`), with `more` changed or added."""
        return cls(**({name: getattr(user, user_name) for name, user_name in USER_NAMES.items()} | more))


_FIELDS = {f.name: f for f in fields(EngineSettings)}
USER_NAMES = {name: f.metadata["user"] for name, f in _FIELDS.items() if f.metadata["user"]}
"""Engine setting -> its name in the user's settings, for those the writer sets."""


def user_field(name: str, default=MISSING):
    """The user's setting for the engine's `name`: the engine's default (or `default`, where the app's differs from
    the engine's, as the grey text's floor), and its bounds (the field's `option` metadata)."""
    f = _FIELDS[name]
    return field(default=f.default if default is MISSING else default,
                 metadata={"option": f.metadata["option"], "engine": name})

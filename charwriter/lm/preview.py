"""The first grey text before torch has loaded: the model file read with numpy, one greedy continuation.

`import torch` takes seconds, longer than everything else a launch does (`benchmarks/startup.py`). While the app imports
it, `Preview` reads the same model file into numpy (refused by the same checks as `charwriter.lm.checkpoint`'s,
`charwriter.lm.modelfile`) and continues the last `CONTEXT` characters before the cursor greedily, by the engine's
rules for a ghost text (`charwriter.lm.rules`): a window that opens like a paragraph (the zero state, a newline),
no character that is not printed, never ending inside a word, no loop, no restatement. The engine's suggestions
(its beam-searched first word, the pane's alternatives, the document memory) replace it once torch is ready.

Arithmetic in fp32, one character at a time (a matrix-vector product per layer); `tests/test_preview.py` checks its
logits against `nn.LSTM`'s and `nn.GRU`'s.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from charwriter.errors import ModelFileError, shown
from charwriter.lm.modelfile import (FORMAT, PICK_ANOTHER, ModelConfig, check_checksum, check_format, check_metadata,
                                     check_weights, read_metadata)
from charwriter.lm.lexicon import bundled as bundled_lexicon
from charwriter.lm.lexicon import GUESS, trusted, without_capitals, writes_capitals
from charwriter.lm.rules import (GHOST_CONFIDENCE, NO_REPEAT, PARTIAL_WORD, RECENT_CHARS, REPEAT_TRIES,
                                 WORD_EXTRA, _repeats, NEVER_SHOWN, char_classes, default_start, document_start,
                                 WRAP_TAIL, finished, first_word_logprob, grow, never_taken, no_second_space,
                                 translate, wrapped_view, writers_style)

CONTEXT = 128  # characters read before the cursor: the engine's first read of a document is this long too


def _describe(weight: np.ndarray) -> tuple[tuple[int, ...], str, float]:
    dtype, largest = str(weight.dtype), 0.0
    if weight.dtype in (np.float32, np.float16) and weight.size:
        largest = float(np.abs(weight).max()) if np.isfinite(weight).all() else float("inf")
    return tuple(weight.shape), dtype, largest


def _bytes_of(weight: np.ndarray) -> tuple[str, tuple[int, ...], np.ndarray]:
    return str(weight.dtype), tuple(weight.shape), np.ascontiguousarray(weight).reshape(-1).view(np.uint8)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1)  # tanh: no overflow warning for large negative x


class _Row:
    def __init__(self):
        self.chars: list[str] = []
        self.lps: list[float] = []
        self.ending = self.capped = False


class Preview:
    """A model file's LSTM or GRU in numpy, for one continuation at a time."""

    def __init__(self, vocab: list[str], config: ModelConfig, weights: dict[str, np.ndarray]):
        self.vocab, self.config = vocab, config
        self.index = {ch: i for i, ch in enumerate(vocab)}
        self.kinds = char_classes(vocab)
        self.shown = np.array([kind != NEVER_SHOWN for kind in self.kinds])
        w = {k: v.astype(np.float32) for k, v in weights.items()}
        self.lstm = config.cell == "lstm"
        self.layers = []  # per layer: input weights (layer 0: a row per character), recurrent weights, biases
        for l in range(config.num_layers):
            w_ih, w_hh = w[f"rnn.weight_ih_l{l}"], w[f"rnn.weight_hh_l{l}"]
            b_ih, b_hh = w[f"rnn.bias_ih_l{l}"], w[f"rnn.bias_hh_l{l}"]
            if self.lstm:  # the two biases add up; GRU keeps b_hh inside the reset gate's product
                b_ih, b_hh = b_ih + b_hh, np.zeros_like(b_hh)
            self.layers.append((np.ascontiguousarray(w_ih.T) if l == 0 else w_ih, w_hh, b_ih, b_hh))
        self.head_w, self.head_b = w["head.weight"], w["head.bias"]

    @classmethod
    def load(cls, path: str | Path) -> "Preview":
        """Read and check a model file; `ModelFileError` if it cannot be used, or is a training checkpoint or has
        bf16 weights, which numpy cannot hold (the engine reads those)."""
        path = Path(path)
        meta = read_metadata(path)  # refuses what is not a regular file before opening it
        check_format(meta, path, FORMAT, "model")
        vocab, config, storage = check_metadata(meta, path)
        if storage == "bf16":
            raise ModelFileError(f"{path} stores bf16 weights, which numpy cannot read{PICK_ANOTHER}")
        from safetensors.numpy import load_file

        try:
            tensors = load_file(str(path))
        except Exception as error:  # safetensors' own errors, or numpy's for a dtype it lacks
            raise ModelFileError(f"not a readable safetensors file ({shown(str(error))}): {shown(path)}"
                                 f"{PICK_ANOTHER}") from None
        check_checksum(meta, tensors, path, _bytes_of)
        check_weights(tensors, config, storage, path, _describe)
        return cls(vocab, config, tensors)

    def encode(self, text: str) -> list[int]:
        """Codes of the text as the engine reads it (look-alikes mapped, the rest skipped)."""
        return [self.index[c] for ch in text for c in translate(ch, self.index)]

    def read(self, codes: list[int]) -> tuple[np.ndarray, list]:
        """Logits (V,) after reading `codes` from the zero state, and the state: per layer h, or (h, c)."""
        H = self.config.hidden_size
        state = [(np.zeros(H, np.float32), np.zeros(H, np.float32)) if self.lstm else np.zeros(H, np.float32)
                 for _ in self.layers]
        logits = None
        for code in codes:
            logits, state = self.step(code, state)
        return logits, state

    def step(self, code: int, state: list) -> tuple[np.ndarray, list]:
        H, new, x = self.config.hidden_size, [], None
        for l, ((w_ih, w_hh, b_ih, b_hh), s) in enumerate(zip(self.layers, state)):
            gi = (w_ih[code] if l == 0 else w_ih @ x) + b_ih
            if self.lstm:
                h, c = s
                g = gi + w_hh @ h
                i, f, o = _sigmoid(g[:H]), _sigmoid(g[H : 2 * H]), _sigmoid(g[3 * H :])
                c = f * c + i * np.tanh(g[2 * H : 3 * H])
                x = o * np.tanh(c)
                new.append((x, c))
            else:
                gh = w_hh @ s + b_hh
                r, z = _sigmoid(gi[:H] + gh[:H]), _sigmoid(gi[H : 2 * H] + gh[H : 2 * H])
                n = np.tanh(gi[2 * H :] + r * gh[2 * H :])
                x = (1 - z) * n + z * s
                new.append(x)
        return self.head_w @ x + self.head_b, new

    def suggest(self, text: str, max_len: int = 48, no_repeat: int = NO_REPEAT,
                floor: float = GHOST_CONFIDENCE, grey_floor: float = 0.0) -> tuple[str, float]:
        """The ghost text for the cursor after `text` and its mean log-probability per character: greedy, up to
        `max_len` characters (a word that crosses it is finished); "" when nothing is worth showing, or when the
        model gives its first word less than `grey_floor` (the engine's `ghost_floor`: the pane would keep it).
        `text`: the text before the cursor, all of it or at least its last `CONTEXT` characters."""
        window = wrapped_view(text[-WRAP_TAIL:])[-CONTEXT:]  # as the engine reads it (`EngineSettings.wrap_width`)
        start = document_start(self.vocab) if len(text) < CONTEXT else [default_start(self.vocab)]
        codes = start + self.encode(window)
        recent = "".join(self.vocab[c] for c in codes[len(start):])[-RECENT_CHARS:]
        logits, state = self.read(codes)
        row = _Row()
        for _ in range(max_len + WORD_EXTRA + 1):
            logp = logits - logits.max()
            logp -= np.log(np.exp(logp).sum())
            if not row.chars:  # a suggestion offers something to insert: its first character is printed
                logp = np.where(self.shown, logp, -np.inf)
            order = np.argsort(-logp)[:REPEAT_TRIES].tolist()
            code = order[0]
            said = "".join(row.chars)
            if no_repeat and _repeats(recent, said, self.vocab[code], no_repeat):
                code = next((c for c in order if not _repeats(recent, said, self.vocab[c], no_repeat)), code)
            if not grow(row, self.vocab[code], float(logp[code]), self.kinds[code], max_len, floor):
                break
            logits, state = self.step(code, state)
        ghost, score = finished(row, floor)
        if grey_floor > 0 and first_word_logprob(ghost, row.lps) < math.log(grey_floor):
            return "", 0.0
        return as_the_writer_writes(text, ghost, score, self.normalise)

    def normalise(self, text: str) -> str:
        """The text as the model reads it (`Codec.normalise`)."""
        return "".join(translate(ch, self.index) for ch in text)


def as_the_writer_writes(text: str, ghost: str, score: float,
                         normalise: Callable[[str], str] = lambda text: text) -> tuple[str, float]:
    """The engine's rules for what a writer sees (`Engine._real_words`, `in_the_writers_case`, `writers_style`): no
    second space, no repeated sentence end, no word in capitals the writer does not write so; the grey text stops
    before a word that neither the word list nor the document knows, or is rated a guess when that is its first; the
    document's own quotes, dashes and spelling."""
    ghost = no_second_space(text[-CONTEXT:], ghost)
    if not ghost or never_taken(text[-8:], ghost):
        return "", 0.0
    if not writes_capitals(text[-64:]):
        ghost = without_capitals(PARTIAL_WORD.search(text[-64:]).group(0), ghost, lambda word: word in text)
    lexicon = bundled_lexicon()
    if lexicon is not None and lexicon.english_enough(text[-2000:]):
        kept = trusted(PARTIAL_WORD.search(text[-64:]).group(0), ghost,
                       lambda word: lexicon.knows(word) or word in text)
        if kept or not ghost:
            ghost = kept
        else:
            score = min(score, GUESS)  # its first word is unknown: shown as the engine shows it, a guess
    return writers_style(text, normalise)(ghost), score if ghost else 0.0



_CACHE: dict[str, Preview] = {}
_CACHE_LOCK = threading.Lock()


def preview_of(path: str | Path) -> Preview:
    """`Preview.load`, once per file: the app begins reading it beside Textual's start and the model worker takes
    it from here (waiting if it is still being read). One file at a time; `forget` when the engine has loaded."""
    key = str(Path(path).resolve())
    with _CACHE_LOCK:
        if key not in _CACHE:
            preview = Preview.load(path)
            _CACHE.clear()
            _CACHE[key] = preview
        return _CACHE[key]


def forget() -> None:
    """Drop the cached preview (its fp32 weights): the engine has taken over."""
    with _CACHE_LOCK:
        _CACHE.clear()

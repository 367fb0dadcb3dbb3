"""Reading a text corpus, its vocabulary, the train/validation split and the seed's batching.

A corpus is any UTF-8 text file, read as a model holds text (`charwriter.lm.alphabet`): CRLF and CR become LF, odd
spaces spaces, a BOM or a soft hyphen is dropped, so `anna.txt` yields the seed's 83 characters. The vocabulary is
the *sorted* set of characters (the seed used `tuple(set(text))`, whose order changes between Python processes) and
travels inside every model file.

Batching follows the seed: the training text is cut into `batch_size` contiguous streams read side by side in
windows of `seq_len` characters, so the hidden state carried from one window to the next continues the same
stream. Unlike the seed, the last target of the last window is the true next character, not a wrap-around.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from charwriter.errors import CorpusError, shown
from charwriter.lm.alphabet import check_vocab, model_text
from charwriter.lm.config import DEFAULT_GLOB
from charwriter.textfile import STDIN, read_text_file

MAX_CORPUS_BYTES = 2_000_000_000  # a sanity cap: the encoded corpus lives in memory


def normalise_text(text: str) -> str:
    """The text as a model holds it (`charwriter.lm.alphabet`): CRLF and CR to LF, any space to a space, control
    characters to spaces, invisible formatting (a BOM, soft hyphens) dropped; the same text whatever wrote it."""
    return model_text(text)


def read_text(path: str | Path, encoding: str = "utf-8", what: str = "corpus") -> str:
    """Read a text file, normalised, or raise a `CorpusError` with one line saying what is wrong and what to do."""
    text = normalise_text(read_text_file(
        path, what=what, encoding=encoding, max_bytes=MAX_CORPUS_BYTES, error=CorpusError,
        advice="convert it to UTF-8 or pass --encoding (for example --encoding cp1252)",
        utf16_advice="pass --encoding utf-16, or convert it to UTF-8"))
    if not text.strip():
        where = "standard input" if str(path) == STDIN else shown(Path(path).expanduser())
        raise CorpusError(f"{what} is empty: {where} — give a file with some text in it")
    return text


GUTENBERG_START = re.compile(r"^\*\*\* ?START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK[^\n]*\n", re.M | re.I)
GUTENBERG_END = re.compile(r"^\*\*\* ?END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK", re.M | re.I)


def gutenberg_body(text: str) -> str:
    """The book inside a Project Gutenberg file: what lies between its START and END lines (either may be
    missing); any other text is returned as it is."""
    return cut_boilerplate(text)[0]


def cut_boilerplate(text: str) -> tuple[str, str | None]:
    """A Project Gutenberg file's book without its header and licence, and what was cut, said for a progress line
    (None: no `*** START OF` / `*** END OF` line, nothing cut). A model trained on the whole file learns the licence
    as if it were the book: anna.txt's last 19,072 characters are licence, which its model scores at 2.6 nats/char."""
    start = GUTENBERG_START.search(text)
    end = GUTENBERG_END.search(text, start.end() if start else 0)
    lo, hi = start.end() if start else 0, end.start() if end else len(text)
    if not lo and hi == len(text):
        return text, None
    body = text[lo:hi]
    if not body.strip():  # markers around nothing: not a book to train on, keep the file as it is
        return text, None
    cut = [f"header ({lo:,} characters)"] if lo else []
    cut += [f"licence ({len(text) - hi:,} characters)"] if hi < len(text) else []
    return body, "cut the Project Gutenberg " + " and ".join(cut)


MAX_FOLDER_FILES = 10_000


def folder_files(folder: Path, glob: str = DEFAULT_GLOB) -> list[Path]:
    """The files of a folder that match any of the comma-separated patterns, recursively, in a stable order
    (hidden files and folders left out)."""
    patterns = [p.strip() for p in glob.split(",") if p.strip()]
    found = set()
    for pattern in patterns:
        for path in folder.rglob(pattern):
            if not any(part.startswith(".") for part in path.relative_to(folder).parts) and not path.is_dir():
                found.add(path)
                if len(found) > MAX_FOLDER_FILES:
                    raise CorpusError(f"more than {MAX_FOLDER_FILES:,} files match {glob} in {folder} — give a"
                                      " narrower --glob or a smaller folder")
    return sorted(found, key=lambda p: str(p.relative_to(folder)))


def read_folder(folder: Path, encoding: str = "utf-8", keep_boilerplate: bool = True,
                glob: str = DEFAULT_GLOB) -> tuple[str, str]:
    """Every readable text file of a folder, joined by blank lines, each read as a corpus file is (the same checks;
    a Project Gutenberg book cut to its text unless `keep_boilerplate`); -> the text and what was used and skipped."""
    files = folder_files(folder, glob)
    if not files:
        raise CorpusError(f"no files matching {glob} in {folder} — put text files there, or pass --glob (for"
                          " example --glob '*.txt,*.rst')")
    parts, skipped, cut = [], [], 0
    for path in files:
        try:
            text = read_text(path, encoding=encoding)
        except CorpusError as error:
            skipped.append(f"{path.relative_to(folder)} ({str(error).split(': ')[0]})")
            continue
        if not keep_boilerplate:
            text, was_cut = cut_boilerplate(text)
            cut += was_cut is not None
        parts.append(text.strip("\n"))
    if not parts:
        raise CorpusError(f"none of the {len(files)} files in {folder} could be read: {', '.join(skipped[:3])}"
                          " — give UTF-8 text files (or pass --encoding)")
    text = "\n\n".join(parts) + "\n"
    reading = f"read {len(parts)} file{'s' if len(parts) != 1 else ''} ({len(text):,} characters) from {folder}"
    if cut:
        reading += f"; cut the Project Gutenberg header and licence of {cut}"
    if skipped:
        reading += f"; skipped {len(skipped)}: {', '.join(skipped[:5])}" + (" …" if len(skipped) > 5 else "")
    return text, reading


def build_vocab(text: str) -> list[str]:
    return sorted(set(text))


def encode(text: str, vocab: list[str]) -> torch.Tensor:
    """Text to a compact integer tensor: uint8 while the vocabulary fits, int32 beyond."""
    lookup = {ch: i for i, ch in enumerate(vocab)}
    dtype = np.uint8 if len(vocab) <= 256 else np.int32
    codes = np.fromiter((lookup[ch] for ch in text), dtype=dtype, count=len(text))
    return torch.from_numpy(codes)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_point(n: int, val_fraction: float) -> int:
    """Index where validation begins: the seed's tail split, `int(len * (1 - val_frac))`."""
    return int(n * (1 - val_fraction))


def min_corpus_chars(batch_size: int, seq_len: int, val_fraction: float) -> int:
    """Smallest corpus with one full training batch and one validation window."""
    need_train = batch_size * seq_len + 1
    need_val = seq_len + 1 if val_fraction > 0 else 0
    n = max(need_train + need_val, math.ceil(need_train / max(1e-9, 1 - val_fraction)))
    while split_point(n, val_fraction) < need_train or n - split_point(n, val_fraction) < need_val:
        n += 1
    return n


class Streams:
    """A text cut into `batch_size` contiguous streams, read in windows of `seq_len` (the seed's get_batches)."""

    def __init__(self, data: torch.Tensor, batch_size: int, seq_len: int):
        self.batch_size = batch_size
        self.seq_len = seq_len
        self.num_batches = (len(data) - 1) // (batch_size * seq_len)
        n = self.num_batches * batch_size * seq_len
        self.inputs = data[:n].view(batch_size, -1)  # (B, num_batches * T)
        self.targets = data[1 : n + 1].view(batch_size, -1)

    def __len__(self) -> int:
        return self.num_batches

    def shard(self, rank: int, world: int) -> "Streams":
        """This process's share of the streams (rows), for data-parallel training; the windows stay aligned."""
        lo, hi = rank * self.batch_size // world, (rank + 1) * self.batch_size // world
        part = Streams.__new__(Streams)
        part.batch_size, part.seq_len, part.num_batches = hi - lo, self.seq_len, self.num_batches
        part.inputs, part.targets = self.inputs[lo:hi], self.targets[lo:hi]
        return part

    def batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        cols = slice(i * self.seq_len, (i + 1) * self.seq_len)
        return self.inputs[:, cols].long(), self.targets[:, cols].long()

    def __iter__(self):
        for i in range(self.num_batches):
            yield self.batch(i)


@dataclass
class Corpus:
    """A text ready for training: vocabulary, encoded data and the tail split."""

    name: str
    text: str
    vocab: list[str]
    data: torch.Tensor  # (N,) uint8 or int32 character codes
    val_fraction: float
    sha256: str
    reading: str | None = None  # how the text was read: the files used and skipped, what was cut, if anything

    @classmethod
    def from_file(cls, path: str | Path, val_fraction: float = 0.1, encoding: str = "utf-8", vocab=None,
                  keep_boilerplate: bool = True, glob: str = DEFAULT_GLOB) -> "Corpus":
        """A text file, or a folder of them (`read_folder`). `keep_boilerplate=False`: a Project Gutenberg file's
        book only (`cut_boilerplate`)."""
        path = Path(path).expanduser()
        if path.is_dir():
            text, reading = read_folder(path, encoding, keep_boilerplate, glob)
        else:
            text, reading = read_text(path, encoding=encoding), None
            if not keep_boilerplate:
                text, reading = cut_boilerplate(text)
        corpus = cls.from_text(text, name=path.name, val_fraction=val_fraction, vocab=vocab)
        corpus.reading = reading
        return corpus

    @classmethod
    def from_text(cls, text: str, name: str = "text", val_fraction: float = 0.1, vocab=None) -> "Corpus":
        text = normalise_text(text)
        if vocab is None:
            vocab = build_vocab(text)
        else:
            # A fixed vocabulary (fine-tuning) reads the text as the editor does: curly quotes as straight ones,
            # accented letters without their accent; what has no look-alike is dropped.
            from charwriter.lm.sample import translate

            index = {ch: i for i, ch in enumerate(vocab)}
            mapped: dict[str, str] = {}
            text = "".join(mapped[ch] if ch in mapped else mapped.setdefault(ch, translate(ch, index)) for ch in text)
            if not text:
                raise CorpusError(f"{name}: none of its characters are in the model's vocabulary"
                                  " — give a text in the model's alphabet, or train a new model on it")
        problem = check_vocab(list(vocab))
        if problem:  # the loader's own rule: a model this corpus trains must load
            raise CorpusError(f"{name}: {problem} — a model cannot hold them; give a text with fewer distinct"
                              " characters")
        return cls(name, text, list(vocab), encode(text, vocab), val_fraction, sha256_text(text))

    @property
    def split(self) -> int:
        return split_point(len(self.data), self.val_fraction)

    @property
    def train_data(self) -> torch.Tensor:
        return self.data[: self.split]

    @property
    def val_data(self) -> torch.Tensor:
        return self.data[self.split :]

    def unigram_entropy(self) -> float:
        """Nats per character of the training split's character frequencies: the loss of a model that has learnt
        only how often each character occurs (where a fresh model first sits, the "unigram plateau")."""
        counts = torch.bincount(self.train_data.long(), minlength=len(self.vocab)).double()
        shares = counts[counts > 0] / counts.sum()
        return float(-(shares * shares.log()).sum())

    def check_size(self, batch_size: int, seq_len: int, where: str = "") -> None:
        need = min_corpus_chars(batch_size, seq_len, self.val_fraction)
        if len(self.data) < need:
            raise CorpusError(
                f"corpus too small: {where or self.name} has {len(self.data):,} characters, batch {batch_size} × "
                f"seq {seq_len} with {self.val_fraction:g} held out needs at least {need:,}"
                f" — use a longer text or a smaller --batch-size/--seq-len"
            )

    def train_streams(self, batch_size: int, seq_len: int) -> Streams:
        return Streams(self.train_data, batch_size, seq_len)

    def val_streams(self, batch_size: int, seq_len: int) -> Streams:
        """Validation streams: the seed's batching, with fewer streams when the held-out text is short."""
        val = self.val_data
        streams = max(1, min(batch_size, (len(val) - 1) // seq_len))
        return Streams(val, streams, seq_len)

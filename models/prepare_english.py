"""Build the general English model's training text from ../shared/data/english/ (the recipe in models/README.md).

    python models/prepare_english.py ../shared/data/english english.txt
    python models/prepare_english.py --words english.txt ../shared/data/anna.txt models/words-en.txt.gz

The second builds the word list that judges suggestions (`charwriter.lm.lexicon`): every word of the prepared
corpus and of anna.txt's training split (its first 90 %) used at least twice, lower case, most frequent first.

What it keeps, maps and drops, and why:
- The seed's 83 characters (the vocabulary of anna-karenina.safetensors, which the general model starts from) are
  kept, but for the underscore: Project Gutenberg writes italics as `_word_`, markup a writer never types, so every
  `_` is removed and the model never learns to suggest one.
- Curly quotes and apostrophes become straight ones, an em dash `--` (the corpus's own convention for it), an
  ellipsis `...`, accented letters lose their accent, ligatures are spelt out (ae, oe). The editor reads a
  writer's curly quotes and dashes the same way, and writes its suggestions back in the document's own style.
- `[Illustration: …]`, `[Footnote …]` and page-number brackets are editorial apparatus, not prose: dropped.
  Other brackets become parentheses. What has no look-alike in the vocabulary (Greek, tables' `|`) is dropped.
- The books are shuffled (seed 1) so the held-out tail is not one author's.
"""

from __future__ import annotations

import random
import re
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from charwriter.lm.data import normalise_text  # noqa: E402
from charwriter.lm.rules import translate  # noqa: E402

VOCAB = list("\n !\"$%&'()*,-./0123456789:;?@ABCDEFGHIJKLMNOPQRSTUVWXYZ`abcdefghijklmnopqrstuvwxyz")
MAP = {"\u2014": "--", "\u2015": "--", "\u2013": "-", "\u2026": "...", "\u00e6": "ae", "\u00c6": "Ae",
       "\u0153": "oe", "\u0152": "Oe", "[": "(", "]": ")", "{": "(", "}": ")", "_": "", "\u00a3": "L",
       "\u00bd": " 1/2", "\u00bc": " 1/4", "\u00be": " 3/4", "\u00b0": " degrees"}
APPARATUS = re.compile(r"\[(?:Illustration|Footnote|Transcriber|Sidenote|Pg|Page)[^\]]*\]\n?", re.I)


def clean(text: str) -> str:
    text = APPARATUS.sub("", normalise_text(text))
    index = {ch: i for i, ch in enumerate(VOCAB)}
    mapped: dict[str, str] = {}
    for ch in set(text):
        mapped[ch] = MAP[ch] if ch in MAP else translate(unicodedata.normalize("NFC", ch), index)
    text = "".join(mapped[ch] for ch in text)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def main(folder: str, out: str) -> None:
    files = sorted(Path(folder).glob("*.txt"))
    random.Random(1).shuffle(files)
    text = "\n\n".join(clean(p.read_text(encoding="utf-8")) for p in files) + "\n"
    Path(out).write_text(text, encoding="utf-8")
    print(f"{len(files)} books, {len(text):,} characters, {len(set(text))} symbols -> {out}")


def words(corpus: str, anna: str, out: str) -> None:
    import gzip
    from collections import Counter

    from charwriter.lm.lexicon import WORD

    counts = Counter(w.lower() for w in WORD.findall(Path(corpus).read_text(encoding="utf-8")))
    seed = normalise_text(Path(anna).read_text(encoding="utf-8"))
    counts.update(w.lower() for w in WORD.findall(seed[: int(len(seed) * 0.9)]))
    kept = sorted((w for w, n in counts.items() if n >= 2), key=lambda w: (-counts[w], w))
    with gzip.GzipFile(out, "wb", mtime=0) as f:  # mtime 0: the same bytes on every rebuild
        f.write("".join(f"{w}\t{counts[w]}\n" for w in kept).encode("utf-8"))
    print(f"{len(kept):,} words used twice or more -> {out}")


if __name__ == "__main__":
    if sys.argv[1] == "--words":
        words(*sys.argv[2:5])
    else:
        main(*sys.argv[1:3])

"""Build the general English model's training text from ../shared/data/english/ (the recipe in models/README.md).

    python models/prepare_english.py ../shared/data/english english.txt

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


if __name__ == "__main__":
    main(*sys.argv[1:3])

"""Build the general English model's training text from ../shared/data/english/ (the recipe in models/README.md).

    python models/prepare_english.py ../shared/data/english english.txt
    python models/prepare_english.py --words english.txt ../shared/data/anna.txt models/words-en.txt.gz  # wordfreq too

The second builds the word list that judges suggestions (`charwriter.lm.lexicon`): every word of the prepared
corpus and of anna.txt's training split (its first 90 %) used at least twice, and today's 25,000 commonest English
words (wordfreq, `pip install wordfreq` for this step only), lower case, most frequent first.

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


MODERN_WORDS = 25_000
"""Today's commonest English words (wordfreq's list) join the books' words: the corpus is 1700s–1920s, and a writer
of modern prose types "okay", "weekend" and "website", which no book here holds."""


NOT_PROPOSED = set("""
    dick dicks pussy cock cocks penis vagina tits boobs horny raped rape rapes rapist jerking
    lol lmao wtf tbh idk omg btw smh imo alot
""".split())
NOT_PROPOSED_STEMS = ("fuck", "shit", "cunt", "nigg", "fagg", "bitch", "whore", "slut", "porn", "asshole", "retard",
                      "dumbass", "goddamn", "piss")
"""Kept out of the list: obscenities and slurs (the list also proposes completions, and a writer who uses one has it
in the document, which counts too) and chat shorthand, not prose. The stems keep words out of the books' part too."""


def modern_words(scale: int, books: dict[str, int]) -> dict[str, int]:
    """wordfreq's `MODERN_WORDS` commonest English words that are plain words of three letters or more (the shorter
    ones it adds are mostly abbreviations), each with its frequency as a count in a text of `scale` words; not a
    contraction written without its apostrophe ("thats", "didnt": the `books` have "that's"). wordfreq (57 MB of
    data for 40 languages) is needed only here, at build time."""
    from wordfreq import top_n_list, word_frequency

    from charwriter.lm.lexicon import WORD

    def unapostrophed(w: str) -> bool:
        return any(books.get(w[:i] + "'" + w[i:], 0) >= 2 for i in range(1, len(w)))

    return {w: max(2, round(word_frequency(w, "en") * scale)) for w in top_n_list("en", MODERN_WORDS)
            if len(w) > 2 and WORD.fullmatch(w) and w not in NOT_PROPOSED
            and not any(stem in w for stem in NOT_PROPOSED_STEMS) and not unapostrophed(w)}


def words(corpus: str, anna: str, out: str) -> None:
    import gzip
    from collections import Counter

    from charwriter.lm.lexicon import WORD

    counts = Counter(w.lower() for w in WORD.findall(Path(corpus).read_text(encoding="utf-8")))
    seed = normalise_text(Path(anna).read_text(encoding="utf-8"))
    counts.update(w.lower() for w in WORD.findall(seed[: int(len(seed) * 0.9)]))
    for word, count in modern_words(sum(counts.values()), counts).items():  # a book's count stands where it has one
        if counts[word] < 2:
            counts[word] = count
    kept = sorted((w for w, n in counts.items() if n >= 2 and not w.startswith(NOT_PROPOSED_STEMS)),
                  key=lambda w: (-counts[w], w))  # the books' slurs too (a 19th-century novel has them)
    with gzip.GzipFile(out, "wb", mtime=0) as f:  # mtime 0: the same bytes on every rebuild
        f.write("".join(f"{w}\t{counts[w]}\n" for w in kept).encode("utf-8"))
    print(f"{len(kept):,} words used twice or more -> {out}")


if __name__ == "__main__":
    if sys.argv[1] == "--words":
        words(*sys.argv[2:5])
    else:
        main(*sys.argv[1:3])

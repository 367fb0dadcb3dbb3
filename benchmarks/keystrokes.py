"""Keystroke savings: how many keys the suggestions save a writer typing a text, the headline figure for charwriter.

A simulated writer types N characters of TEXT starting at POS (default: P passages of 1,000 characters spread over
the held-out last 10 %), with all of TEXT before POS already in the document, as if they had written it
(`--history N` keeps only the last N characters; `--history 0` starts from an empty document). At every keystroke the
engine computes suggestions as the app does (`Engine.suggest` with the app's settings, the document memory
included, and the model adapted to the document before the passage as the app adapts it in the background after
the document opens: `charwriter.lm.adapt`, timed and reported; `--no-adapt` leaves it out), and the writer, in this
order of preference:

- accepts the whole grey text with one key (Tab) when all of it is what they were about to type;
- else accepts it word by word, one key per word (Alt+Right), while the words match;
- else picks a pane alternative (two keys: Alt+S and its number) when all of it matches and that saves more;
- a suggestion that ends with the space the model expects after a word counts as matching when a punctuation mark or
  Enter comes instead: the editor lets the writer's next key take the space's place;
- else types one character.

`--tab-only` measures a writer who never reads the pane, as most users of an editor's inline completion.

Printed per text: characters, keys, keystroke savings rate KSR = 1 - keys / characters, the share of characters the
grey text alone saved, characters per accept, the time per keystroke, and the held-out loss on the same passages
(nats/char, each character predicted from everything before it) of the model alone and with the memory; then a line
`KSR <text name>: 0.xxx` per text. Texts are read as `charwriter train` reads them (UTF-8, BOM and CRLF handled) and
a Project Gutenberg file's header and licence are left out (they are not the writer's prose).

    python benchmarks/keystrokes.py ../shared/data/anna.txt ../shared/data/pride-and-prejudice.txt
    python benchmarks/keystrokes.py TEXT --compare memory      # with and without the memory, side by side
    python benchmarks/keystrokes.py TEXT --compare adapt       # with and without adapting the model to the document
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from charwriter.engine import Engine, EngineSettings
from charwriter.lm.adapt import adapt, adaptable
from charwriter.lm.checkpoint import load_model
from charwriter.lm.data import gutenberg_body, read_text
from charwriter.lm.lexicon import bundled as bundled_lexicon
from charwriter.lm.lexicon import first_unknown
from charwriter.lm.rules import PARTIAL_WORD
from charwriter.lm.registry import resolve_model
from charwriter.settings import Settings
from charwriter.widgets.editor import TAKES_THE_SPACE

NEXT_WORD = re.compile(r"\s*[^\s]+")  # the editor's Alt+Right: the next word with the spaces before it


@dataclass
class Tally:
    chars: int = 0
    keys: int = 0
    grey_saved: int = 0  # characters inserted by Tab or Alt+Right, less the keys they took
    pane_saved: int = 0
    accepts: int = 0
    accepted_chars: int = 0
    latencies: list[float] = field(default_factory=list)
    static_nats: float = 0.0
    memory_nats: float = 0.0
    scored: int = 0
    grey_shown: int = 0  # keystrokes where a grey text was shown
    grey_taken: int = 0  # ... and the writer took at least one word of it (Tab or Alt+Right)
    pane_words: int = 0  # the pane's alternatives that complete or add a word
    pane_known: int = 0  # ... a word the word list or the document knows

    def add(self, other: "Tally") -> None:
        for name in ("chars", "keys", "grey_saved", "pane_saved", "accepts", "accepted_chars", "static_nats",
                     "memory_nats", "scored", "grey_shown", "grey_taken", "pane_words", "pane_known"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latencies += other.latencies

    @property
    def ksr(self) -> float:
        return 1 - self.keys / max(1, self.chars)

    @property
    def precision(self) -> float:
        """The grey text's acceptance rate: of the keystrokes that showed one, the share where a word was taken."""
        return self.grey_taken / max(1, self.grey_shown)

    @property
    def known_share(self) -> float:
        return self.pane_known / max(1, self.pane_words)


def app_settings(**changes) -> EngineSettings:
    """The engine settings the app uses by default (charwriter.settings.Settings), seeded for repeatable runs."""
    return EngineSettings.of_user(Settings(), seed=0, threads=1, **changes)


def best_action(suggestions, rest: str, pane: bool = True) -> tuple[int, int, str]:
    """(characters inserted, keys pressed, kind) for the writer's best move, or (1, 1, "type"). A kind ending in "+"
    took the space the suggestion ended with back: the writer's next key types the punctuation mark in its place.
    pane: False for a writer who only ever takes the grey text."""
    options = [(1, 1, "type")]
    if suggestions and suggestions[0].inline:
        grey = suggestions[0].text
        options += accepting(grey, rest, 1, "tab")
        if not options[1:]:
            chars = words = 0
            for match in NEXT_WORD.finditer(grey):
                if not rest.startswith(grey[: match.end()]):
                    break
                chars, words = match.end(), words + 1
            if words:
                options.append((chars, words, "word"))
    for alternative in (suggestions[1:] if suggestions and suggestions[0].inline else suggestions) if pane else []:
        options += accepting(alternative.text, rest, 2, "pick")
    return max(options, key=lambda o: (o[0] - o[1], not o[2].startswith("pick")))


def accepting(text: str, rest: str, keys: int, kind: str) -> list[tuple[int, int, str]]:
    """Inserting `text` as the editor does (`Editor.accept`): all of it when it is what comes next; or, when it ends
    with the space the model expected and a punctuation mark or Enter comes instead, all but that space."""
    if rest.startswith(text):
        return [(len(text), keys, kind)]
    if text.endswith(" ") and rest.startswith(text[:-1]) and rest[len(text) - 1 : len(text)] in TAKES_THE_SPACE:
        return [(len(text) - 1, keys, kind + "+")]
    return []


def type_passage(engine: Engine, history: str, target: str, pane: bool = True) -> Tally:
    """The simulated writer types `target` after `history` (`pane`: False, taking only the grey text)."""
    tally = Tally(chars=len(target))
    engine.remember(history)  # opening the document: the memory is built before the first keystroke here
    engine.suggest(history)
    typed = 0
    space_taken = False  # the last move ended "+": the writer types the punctuation mark over the accepted space
    while typed < len(target):
        if space_taken:
            space_taken = False
            typed, tally.keys = typed + 1, tally.keys + 1
            continue
        started = time.perf_counter()
        suggestions = engine.suggest(history + target[:typed])
        tally.latencies.append((time.perf_counter() - started) * 1000)
        chars, keys, kind = best_action(suggestions, target[typed:], pane)
        if suggestions and suggestions[0].inline and suggestions[0].text.strip():
            tally.grey_shown += 1
            tally.grey_taken += kind.startswith(("tab", "word"))
        count_pane_words(tally, suggestions[1:], history + target[:typed])
        typed += chars
        tally.keys += keys
        if kind.startswith(("tab", "word")):
            tally.grey_saved += chars - keys
        elif kind.startswith("pick"):
            tally.pane_saved += chars - keys
        space_taken = kind.endswith("+")
        if kind != "type":
            tally.accepts += 1
            tally.accepted_chars += chars
    return tally


def count_pane_words(tally: Tally, alternatives, document: str) -> None:
    """How many of the pane's alternatives complete or add a word, and how many of those words exist: every word
    they complete or add is one the word list knows or the document used."""
    lexicon = bundled_lexicon()
    start = PARTIAL_WORD.search(document[-64:]).group(0)
    recent = document[-200_000:]

    def knows(word: str) -> bool:
        return (lexicon is not None and lexicon.knows(word)) or bool(re.search(rf"\b{re.escape(word)}\b", recent))

    for alternative in alternatives:
        if not any(ch.isalpha() for ch in alternative.text):
            continue
        tally.pane_words += 1
        tally.pane_known += first_unknown(start, alternative.text, knows) is None


def score_passage(engine: Engine, history: str, target: str, tally: Tally) -> None:
    """Each character's loss given everything before it: the model alone and mixed with the memory."""
    engine.remember(history)
    for i, ch in enumerate(target):
        codes = engine.encode(ch)
        if len(codes) != 1:
            continue  # a character the model spells with several codes, or skips: not scored
        static, mixed = engine.next_logp(history + target[:i])
        tally.static_nats -= float(static[codes[0]])
        tally.memory_nats -= float(mixed[codes[0]])
        tally.scored += 1


def one_line_paragraphs(text: str) -> str:
    """A hard-wrapped book as a writer's editor holds it: each paragraph one line (a line break that is not part of
    a blank line becomes a space); the same length, so the passages are the same characters."""
    return re.sub(r"(?<!\n)\n(?!\n)", " ", text)


def passages(text: str, args) -> list[tuple[int, int]]:
    if args.start is not None:
        return [(args.start, args.chars)]
    split = int(len(text) * 0.9)
    tail = len(text) - split
    return [(split + int((i + 0.5) * tail / args.passages) - args.chars // 2, args.chars)
            for i in range(args.passages)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else math.nan


ADAPTED: dict = {}  # (text name, passage start) -> the adapted weights, shared by the variants of one run


def adapted_weights(loaded, name: str, start: int, history: str):
    """The model adapted to the document before the passage, as the app adapts it after opening the document
    (`charwriter.lm.adapt`), or None when the app would not adapt it or the adaptation was not better."""
    key = (name, start, len(history))
    if key not in ADAPTED:
        result = adapt(loaded, history) if adaptable(history) else None
        if result is not None:
            print(f"  adapted to the {result.chars:,} chars before {start:,} in {result.seconds:.0f} s ({result.steps}"
                  f" steps, one thread): its held-out tail {result.before:.4f} -> {result.after:.4f} nats/char,"
                  f" {'kept' if result.kept else 'dropped'}", flush=True)
        ADAPTED[key] = result.model if result is not None else None
    return ADAPTED[key]


def run(loaded, name: str, text: str, settings: EngineSettings, args, adapting: bool = True,
        keep: int | None = None) -> Tally:
    """The passages of `text` typed with these settings; `keep`: the characters of the document before each passage
    (None: all of it, a long document; 0: a new document)."""
    total = Tally()
    for start, chars in passages(text, args):
        history = text[max(0, start - keep) if keep is not None else 0 : start]
        target = text[start : start + chars]
        weights = adapted_weights(loaded, name, start, history) if adapting else None

        def engine() -> Engine:
            fresh = Engine(loaded, settings)
            return fresh.with_weights(weights) if weights is not None else fresh

        tally = type_passage(engine(), history, target, pane=not args.tab_only)
        if not args.no_loss:
            score_passage(engine(), history, target, tally)
        total.add(tally)
    return total


def report(name: str, label: str, t: Tally) -> None:
    per_accept = t.accepted_chars / t.accepts if t.accepts else 0.0
    line = (f"{name} [{label}]: {t.chars:,} chars, {t.keys:,} keys, KSR {t.ksr:.3f} (grey text {t.grey_saved / t.chars:.3f},"
            f" pane {t.pane_saved / t.chars:.3f}), grey text precision {t.precision:.3f} ({t.grey_taken:,} of"
            f" {t.grey_shown:,}), pane words known {t.known_share:.3f} ({t.pane_known:,} of {t.pane_words:,}),"
            f" {per_accept:.1f} chars per accept, keystroke p50"
            f" {percentile(t.latencies, 0.5):.1f} ms p95 {percentile(t.latencies, 0.95):.1f} ms")
    if t.scored:
        line += (f"; loss {t.static_nats / t.scored:.4f} nats/char model alone, {t.memory_nats / t.scored:.4f} with"
                 f" memory ({(t.memory_nats - t.static_nats) / t.scored:+.4f})")
    print(line, flush=True)


DOCUMENTS = [("long document", None), ("new document", 0)]  # all of the text before a passage, or none

VARIANTS = {
    "memory": [("memory on", {}), ("memory off", {"memory": False})],
    "no-repeat": [("no-repeat 12", {}), ("no-repeat off", {"no_repeat": 0})],
    "k": [("K=3", {"k": 3, "beam_width": 6}), ("K=5", {"k": 5, "beam_width": 8}), ("K=9", {"k": 9, "beam_width": 10})],
    "ghost-floor": [("grey text always", {"ghost_floor": 0.0}), ("first word p>=0.03", {"ghost_floor": 0.03}),
                    ("p>=0.05", {"ghost_floor": 0.05}), ("p>=0.08", {"ghost_floor": 0.08})],
    "confidence": [("whole", {"ghost_confidence": 0.0}), ("p>=0.1", {"ghost_confidence": 0.1}),
                   ("p>=0.25", {"ghost_confidence": 0.25})],
    "document-words": [("document words after 2", {}), ("after 0", {"document_words_after": 0}),
              ("after 8", {"document_words_after": 8}), ("none", {"document_words_after": 99})],
    "recent-words": [("recent words", {}), ("no recent words", {"recent_words": False})],
    "ghost": [("beam", {"ghost": "beam"}), ("greedy", {"ghost": "greedy"})],
    "adapt": [("adapted", {}), ("not adapted", {"adapt": False})],
    "words": [("word list", {}), ("model's words", {"words": False})],
    "typography": [("the document's typography", {}), ("plain", {"typography": False})],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", nargs="+", help="UTF-8 text files")
    parser.add_argument("--model", default=None, help="model name or path (default: the bundled model)")
    parser.add_argument("--start", type=int, default=None, help="type from this character on (one passage)")
    parser.add_argument("--chars", type=int, default=1000, help="characters per passage (default 1000)")
    parser.add_argument("--passages", type=int, default=3, help="passages over the last 10 %% (default 3)")
    parser.add_argument("--history", type=int, default=None, help="keep only the last N characters before a passage"
                        " (default: both a long document, all of the text before it, and a new document, none)")
    parser.add_argument("--no-memory", action="store_true", help="the document memory off")
    parser.add_argument("--no-adapt", action="store_true", help="do not adapt the model to the document")
    parser.add_argument("--compare", choices=sorted(VARIANTS), help="run the variants of one setting side by side")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL:NAME=VALUE,…",
                        help="an engine setting variant to run side by side, e.g. 'wide:k=9,beam_width=16'")
    parser.add_argument("--no-loss", action="store_true", help="skip the per-character loss (faster)")
    parser.add_argument("--tab-only", action="store_true", help="a writer who never reads the pane: only the grey"
                        " text is taken (Tab, or word by word), as with an editor's inline completion")
    parser.add_argument("--one-line-paragraphs", action="store_true",
                        help="join each paragraph's lines into one, as a writer's editor holds them (a book is"
                        " hard-wrapped)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    loaded = load_model(resolve_model(args.model))
    base = app_settings(memory=not args.no_memory)
    variants = VARIANTS[args.compare] if args.compare else []
    for spec in args.variant:
        label, _, assignments = spec.partition(":")
        changes = {}
        for assignment in filter(None, assignments.split(",")):
            name, _, value = assignment.partition("=")
            kind = type(getattr(base, name))
            changes[name] = value.lower() in ("1", "true", "on") if kind is bool else kind(value)
        variants.append((label, changes))
    variants = variants or [("memory on" if base.memory else "memory off", {})]
    print(f"model {loaded.name}; K={base.k} L={base.max_len} temperature {base.temperature} top-k {base.top_k};"
          f" {'adapted' if not args.no_adapt else 'not adapted'}; torch threads 1", flush=True)
    documents = DOCUMENTS if args.history is None else [(f"history {args.history:,}", args.history)]
    results = []
    for path in args.texts:
        text = gutenberg_body(read_text(path))
        if args.one_line_paragraphs:
            text = one_line_paragraphs(text)
        name = Path(path).name
        for document, keep in documents:
            for label, changes in variants:
                changes = dict(changes)
                adapting = changes.pop("adapt", not args.no_adapt)
                tally = run(loaded, name, text, replace(base, **changes), args, adapting, keep)
                report(name, f"{document}, {label}", tally)
                results.append((name, f"{document}, {label}" if len(variants) > 1 else document, tally))
    print(f"{'text':<40} {'document':<32} {'KSR':>6} {'grey':>6} {'precision':>9} {'known':>6}")
    for name, label, tally in results:
        print(f"{name:<40} {label:<32} {tally.ksr:6.3f} {tally.grey_saved / max(1, tally.chars):6.3f}"
              f" {tally.precision:9.3f} {tally.known_share:6.3f}")
    for name, label, tally in results:
        print(f"KSR {name} [{label}]: {tally.ksr:.3f}")


if __name__ == "__main__":
    sys.exit(main())

"""charwriter's peers typed by the same simulated writer: presage and Onboard's word predictor, on the same passages.

The writer is `keystrokes.type_passage` (Tab, word by word, a pane pick or one character, whichever saves most), the
passages are keystrokes.py's (3 × 1,000 characters of the last 10 %). A peer predicts whole words; its grey text is
its first one, inserted as the editor would insert it (the rest of the word being typed and a space, or the next
word and a space), and its pane the next eight. Each peer is trained on the same text as a charwriter model:
`--corpus english` (../data/english.txt, what the general model trains on; `models/prepare_english.py` builds it)
or `--corpus anna` (anna.txt's first 90 %, the anna model's training split). It learns the document before the
passage (long document) or nothing (new document, `--history 0`), and each word as the writer finishes it: presage
through its own online learning, Onboard through its `CachedDynamicModel` (the model its keyboard learns into).

Printed per text and peer, for a long and a new document: KSR, the share of characters the grey text saved, and the
grey text's precision (of the keystrokes where a grey text was shown, the share where the writer took at least one
word of it), all counted by keystrokes.py's `Tally`. Built n-gram databases and models are cached (`--cache`).
Nothing is installed here: a missing peer gets one line saying how to install it, and the run goes on. Each passage
runs in a child process, because presage aborts on a failed assertion (`numerator <= denominator`) when its online
learning has counted a bigram but not its first word (a new document's first word, for one): that passage is
reported and the run goes on.

    python benchmarks/peers.py ../shared/data/pride-and-prejudice.txt ../shared/data/held-out/wells-kipps.txt
    python benchmarks/peers.py ../shared/data/anna.txt --corpus anna --history 0
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import faulthandler
import hashlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_cache_dir

from charwriter.errors import CorpusError
from keystrokes import DOCUMENTS, Tally, gutenberg_body, passages, read_text, type_passage

ROOT = Path(__file__).resolve().parent.parent
K = 9  # suggestions per keystroke, as charwriter's default: the grey text and eight in the pane
PRESAGE_INSTALL = "apt-get install presage libpresage-data libpresage-dev"
WINDOW = 1000  # characters of the document a peer reads before the cursor: its n-grams need the last few words only


class PeerMissing(Exception):
    """A peer is not installed or cannot run here; the message says how to install it."""


@dataclass
class Suggestion:
    text: str
    inline: bool = True  # a peer's first word completion is always its grey text


def needs_space(text: str) -> bool:
    """Whether a next word typed after `text` begins with a space: not after a space, a dash or an opening mark."""
    if not text or text[-1].isspace() or text[-1] in "“‘([-—":
        return False
    if text[-1] in "\"'":  # a straight quote opens when a space comes before it
        return not (len(text) < 2 or text[-2].isspace())
    return True


def completions(text: str, prefix: str, words, k: int = K) -> list[Suggestion]:
    """A word predictor's words as the editor would insert them after `text`, whose last `len(prefix)` characters
    are the word being typed: the rest of the word and a space (the typed prefix keeps its case), or the next word and
    a space, after a space when the text needs one. Words that do not continue the prefix are left out."""
    typed = text[len(text) - len(prefix):] if prefix else ""
    if typed.lower() != prefix.lower():
        return []  # the peer's prefix is not the text's (a number it calls <num>): nothing it says fits
    lead = " " if not prefix and needs_space(text) else ""
    out: list[Suggestion] = []
    for word in words:
        if not word.lower().startswith(typed.lower()) or word.startswith("<"):
            continue
        insert = lead + word[len(typed):] + " "
        if insert.strip() and all(s.text != insert for s in out):
            out.append(Suggestion(insert))
        if len(out) == k:
            break
    return out


def finished_at(text: str) -> int:
    """Where the text's last finished word ends: at its last whitespace (the word after it is still being typed)."""
    at = len(text)
    while at and not text[at - 1].isspace():
        at -= 1
    return max(0, at - 1)


# ---------------------------------------------------------------------------------------------------------- presage

class Presage:
    """presage (presage.sourceforge.io) through its C API: its installed configuration (/etc/presage.xml) with the
    system n-gram database built from the training text, and a fresh user database per document that learns the
    document (`presage_learn`) and then each word as it is finished (presage's ONLINE_LEARNING). It predicts in
    lowercase (its default LOWERCASE_MODE); the typed prefix keeps the writer's case."""

    CALLBACK = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)  # returns a char*; c_void_p, as ctypes cannot
    # return a Python-owned char* from a callback without leaking it

    def __init__(self, database: Path, folder: Path):
        lib = presage_library()
        self.lib = lib
        self.past = ctypes.create_string_buffer(b"")
        self.future = ctypes.create_string_buffer(b"")
        self._callbacks = (self.CALLBACK(lambda _: ctypes.addressof(self.past)),
                           self.CALLBACK(lambda _: ctypes.addressof(self.future)))
        config = folder / "presage.xml"
        write_presage_config(config, database, folder / "user.db")
        self.handle = ctypes.c_void_p()
        check(lib.presage_new_with_config(self._callbacks[0], None, self._callbacks[1], None, str(config).encode(),
                                          ctypes.byref(self.handle)), "presage_new_with_config")
        self.set("Presage.Selector.SUGGESTIONS", str(K))
        self.last: tuple[str, list[Suggestion]] | None = None

    def set(self, variable: str, value: str) -> None:
        check(self.lib.presage_config_set(self.handle, variable.encode(), value.encode()), variable)

    def remember(self, history: str) -> None:
        boundary = finished_at(history)
        if boundary:
            check(self.lib.presage_learn(self.handle, history[:boundary].encode()), "presage_learn")
        # presage learns what changed since its last look at the text: the first look must not learn the window
        self.set("Presage.ContextTracker.ONLINE_LEARNING", "no")
        self.suggest(history)
        self.set("Presage.ContextTracker.ONLINE_LEARNING", "yes")

    def suggest(self, text: str) -> list[Suggestion]:
        # Asked twice at one position (the writer's first keystroke), presage would offer other words the second
        # time (REPEAT_SUGGESTIONS no): a client asks once per change.
        if self.last is not None and self.last[0] == text:
            return self.last[1]
        self.past = ctypes.create_string_buffer(text[-WINDOW:].encode())
        result = ctypes.POINTER(ctypes.c_char_p)()
        check(self.lib.presage_predict(self.handle, ctypes.byref(result)), "presage_predict")
        words, i = [], 0
        while result[i]:
            words.append(result[i].decode("utf-8", "replace"))
            i += 1
        self.lib.presage_free_string_array(result)
        prefix = ctypes.c_char_p()
        check(self.lib.presage_prefix(self.handle, ctypes.byref(prefix)), "presage_prefix")
        typed = prefix.value.decode("utf-8", "replace")
        self.lib.presage_free_string(prefix)
        self.last = (text, completions(text, typed, words))
        return self.last[1]

    def close(self) -> None:
        self.lib.presage_free(self.handle)


def presage_library():
    name = ctypes.util.find_library("presage")
    if not name:
        raise PeerMissing(f"presage is not installed: {PRESAGE_INSTALL}")
    lib = ctypes.CDLL(name)
    pointer = ctypes.c_void_p
    lib.presage_new_with_config.argtypes = [Presage.CALLBACK, pointer, Presage.CALLBACK, pointer, ctypes.c_char_p,
                                            ctypes.POINTER(pointer)]
    lib.presage_predict.argtypes = [pointer, ctypes.POINTER(ctypes.POINTER(ctypes.c_char_p))]
    lib.presage_prefix.argtypes = [pointer, ctypes.POINTER(ctypes.c_char_p)]
    lib.presage_learn.argtypes = [pointer, ctypes.c_char_p]
    lib.presage_config_set.argtypes = [pointer, ctypes.c_char_p, ctypes.c_char_p]
    lib.presage_free.argtypes = [pointer]
    lib.presage_free_string.argtypes = [ctypes.c_char_p]
    lib.presage_free_string_array.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
    return lib


def check(code: int, what: str) -> None:
    if code != 0:
        raise RuntimeError(f"presage: {what} failed with error code {code}")


def write_presage_config(path: Path, database: Path, user_database: Path) -> None:
    installed = Path("/etc/presage.xml")
    if not installed.is_file():
        raise PeerMissing(f"presage's configuration {installed} is missing: {PRESAGE_INSTALL}")
    tree = ElementTree.parse(installed)
    for predictor, db in (("DefaultSmoothedNgramPredictor", database), ("UserSmoothedNgramPredictor", user_database)):
        node = tree.find(f"Predictors/{predictor}/DBFILENAME")
        if node is None:
            raise PeerMissing(f"{installed} has no {predictor}: reinstall it ({PRESAGE_INSTALL})")
        node.text = str(db)
    tree.write(path, encoding="UTF-8", xml_declaration=True)


def build_presage_database(corpus: Path, database: Path) -> None:
    """presage's own recipe: `text2ngram -n 1|2|3 -l -f sqlite` into one database (-l: lowercase, as it predicts)."""
    if not shutil.which("text2ngram"):
        raise PeerMissing(f"presage's text2ngram is not installed: {PRESAGE_INSTALL}")
    partial = database.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    for n in (1, 2, 3):
        done = subprocess.run(["text2ngram", "-n", str(n), "-l", "-f", "sqlite", "-o", str(partial), str(corpus)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"text2ngram -n {n} failed: {(done.stderr or done.stdout).strip()[-300:]}")
    partial.replace(database)


# ---------------------------------------------------------------------------------------------------------- Onboard

class Onboard:
    """Onboard's word predictor (its `pypredict` package, no GTK): the trained `DynamicModelKN(3)` overlaid with a
    `CachedDynamicModel` that learns the document and each finished word, queried with the options and smoothing
    Onboard's own keyboard uses (WPEngine, WordSuggestions)."""

    def __init__(self, pypredict, system):
        self.pp = pypredict
        self.user = pypredict.CachedDynamicModel(3)
        # WPEngine._get_prediction: absolute discounting for every model, and the recency settings it tuned
        for model in (system, self.user):
            model.smoothing = "abs-disc"
        self.user.recency_ratio = 0.811
        self.user.recency_halflife = 96
        self.user.recency_smoothing = "jelinek-mercer"
        self.user.recency_lambdas = [0.404, 0.831, 0.444]
        self.model = pypredict.overlay([system, self.user])
        self.learned_to = 0  # the document is learnt up to here

    def remember(self, history: str) -> None:
        self.learn(history)

    def learn(self, text: str) -> None:
        """Count the n-grams that end at each word finished since the last call, as `learn_tokens` would."""
        boundary = finished_at(text)
        if boundary <= self.learned_to:
            return
        start = max(0, self.learned_to - 200)  # enough words before the new ones for their trigrams
        tokens, spans = self.pp.tokenize_text(text[start:boundary])
        # WPEngine.learn_text: a trailing single quote is dropped (too many false positives)
        tokens = [t[:-1] or "<unk>" if t.endswith("'") else t for t in tokens]
        for i, span in enumerate(spans):
            if start + span[1] > self.learned_to:
                for ngram in ngrams_ending(tokens, i):
                    self.user.count_ngram(ngram, 1, True)
        self.learned_to = boundary

    def suggest(self, text: str) -> list[Suggestion]:
        self.learn(text)
        tokens, _ = self.pp.tokenize_context(text[-WINDOW:])
        if text[-1:].isspace() and tokens and tokens[-1]:
            tokens.append("")  # its word-end test is a regex `$`, which matches before a final newline: a bug
        words = self.model.predict(tokens, K * 8, options=onboard_options(self.pp.LanguageModel, tokens))
        return completions(text, tokens[-1] if tokens else "", words)


def ngrams_ending(tokens: list[str], i: int, order: int = 3) -> list[list[str]]:
    """The n-grams that Onboard's `learn_tokens` counts ending at tokens[i]: none with <unk>, none reaching back
    before a sentence start <s> (which one may begin with)."""
    if tokens[i] == "<unk>":
        return []
    start = i
    while start > max(0, i - order + 1) and tokens[start] != "<s>" and tokens[start - 1] != "<unk>":
        start -= 1
    return [tokens[j : i + 1] for j in range(start, i + 1)]


def onboard_options(LanguageModel, tokens: list[str]) -> int:
    """WordSuggestions._get_prediction_options without Shift: case-sensitive for a capitalised word inside a
    sentence (and only capitalised words then), case-insensitive elsewhere."""
    if not tokens:
        return 0
    prefix = tokens[-1]
    sentence_begin = len(tokens) >= 2 and tokens[-2] == "<s>"
    capitalized = prefix[:1].isupper()
    if not sentence_begin and capitalized:
        return LanguageModel.IGNORE_NON_CAPITALIZED
    return LanguageModel.CASE_INSENSITIVE if sentence_begin and capitalized else LanguageModel.CASE_INSENSITIVE_SMART


def import_pypredict(folder: Path | None):
    """Onboard's `pypredict`, from a `dpkg -x` of the onboard package (or its Onboard folder) or the system's."""
    candidates = [folder] if folder else [Path(user_cache_dir("charwriter")) / "peers" / "onboard", Path("/")]
    for root in candidates:
        for onboard in (root / "usr/lib/python3/dist-packages/Onboard", root):
            if (onboard / "pypredict").is_dir():
                sys.path.insert(0, str(onboard))
                try:
                    with warnings.catch_warnings():  # its regexes' escapes, written for an older Python
                        warnings.simplefilter("ignore", DeprecationWarning)
                        import pypredict
                except ImportError as error:
                    raise PeerMissing(f"Onboard's pypredict in {onboard} does not import with Python "
                                      f"{sys.version.split()[0]} ({error}): unpack an onboard package built for it")
                return pypredict
    where = folder or candidates[0]
    raise PeerMissing(f"Onboard's word predictor not found in {where}: apt-get download onboard && dpkg -x"
                      f" onboard_*.deb {where} (or unpack it elsewhere and pass --onboard DIR)")


def build_onboard_model(pypredict, corpus: Path, path: Path) -> None:
    model = pypredict.DynamicModelKN(3)
    tokens, _ = pypredict.tokenize_text(corpus.read_text(encoding="utf-8"))
    model.learn_tokens(tokens)
    partial = path.with_suffix(".partial")
    model.save(str(partial))
    partial.replace(path)


# ---------------------------------------------------------------------------------------------------------- harness

def isolated(work, *args):
    """`work(*args)` in a forked child process: (its result, None), or (None, why) when it failed or died (presage
    aborts on a failed assertion), so one passage is lost and not the run."""
    sys.stdout.flush()  # a child would print again what the parent had not yet written
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    with tempfile.TemporaryFile() as errors:
        def child() -> None:
            os.dup2(errors.fileno(), 2)
            faulthandler.disable()  # pytest's would print the abort's Python stack on its own copy of stderr
            try:
                send.send((work(*args), None))
            except Exception as error:  # the child's failure becomes the parent's line, not a traceback
                send.send((None, f"{type(error).__name__}: {error}"))

        process = context.Process(target=child)
        process.start()
        send.close()
        try:
            result, why = receive.recv()
        except EOFError:
            result, why = None, None
        process.join()
        if result is None and why is None:
            errors.seek(0)
            said = errors.read().decode("utf-8", "replace").strip().splitlines()
            code = process.exitcode
            death = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            why = f"{death}{': ' + said[-1][-200:] if said else ''}"
    return result, why


@dataclass
class Peer:
    name: str
    make: object  # a function (passage folder) -> a fresh adapter for one document


def presage_peer(corpus: Path, cache: Path) -> Peer:
    presage_library()
    database = cache / f"presage-{corpus.stem}.db"
    if not database.exists():
        started = time.perf_counter()
        build_presage_database(corpus, database)
        print(f"  built presage's database {database} in {time.perf_counter() - started:.0f} s", flush=True)
    return Peer("presage", lambda folder: Presage(database, folder))


def onboard_peer(corpus: Path, cache: Path, folder: Path | None) -> Peer:
    pypredict = import_pypredict(folder)
    path = cache / f"onboard-{corpus.stem}.lm"
    started = time.perf_counter()
    if not path.exists():
        build_onboard_model(pypredict, corpus, path)
        print(f"  built Onboard's model {path} in {time.perf_counter() - started:.0f} s", flush=True)
    system = pypredict.DynamicModelKN(3)
    system.load(str(path))  # loaded once; each passage's child process shares it
    return Peer("Onboard", lambda _: Onboard(pypredict, system))


def run_passage(peer: Peer, history: str, target: str, pane: bool = True) -> Tally:
    """The simulated writer types `target` after `history` with a fresh document's suggestions from the peer."""
    with tempfile.TemporaryDirectory(prefix="charwriter-peer-") as folder:
        engine = peer.make(Path(folder))
        try:
            return type_passage(engine, history, target, pane)
        finally:
            getattr(engine, "close", lambda: None)()


def run(peer: Peer, text: str, keep: int | None, args) -> tuple[Tally, list[str]]:
    """The peer on each passage of `text`, each in a child process, with `keep` characters of the document before it
    (None: all); what went wrong, one line per lost passage."""
    total, failures = Tally(), []
    for start, chars in passages(text, args):
        history = text[max(0, start - keep) if keep is not None else 0 : start]
        result, why = isolated(run_passage, peer, history, text[start : start + chars], not args.tab_only)
        if result is None:
            failures.append(f"passage at {start:,}: {why}")
        else:
            total.add(result)
    return total, failures


def refuse(message: str) -> None:
    """Bad input: one line on stderr and exit code 2, as the charwriter command line does."""
    print(f"peers: {message}", file=sys.stderr)
    sys.exit(2)


CORPORA = {"english": ROOT.parent / "data" / "english.txt", "anna": ROOT.parent / "shared" / "data" / "anna.txt"}


def training_text(corpus: str, cache: Path, measured: list[Path]) -> Path:
    """The training text as a file in the cache, named by its content: english.txt whole, anna.txt's first 90 %
    (the anna model's training split: keystrokes.py types the last 10 %), or any other file whole."""
    path = CORPORA.get(corpus, Path(corpus)).expanduser()
    if corpus == "english" and not path.is_file():
        refuse(f"training text {path} not found: build it with"
               f" python models/prepare_english.py ../shared/data/english {path}")
    if corpus != "anna" and any(path.resolve() == m.resolve() for m in measured):
        refuse(f"{path} is both the training text and a text measured: train on another text")
    if path.name == "pride-and-prejudice.txt" or "held-out" in path.resolve().parts:
        refuse(f"{path} stands for a writer's unseen text: no model of ours trains on it")
    text = gutenberg_body(read_text(path)) if corpus == "anna" else read_text(path, what="training text")
    if corpus == "anna":
        text = text[: int(len(text) * 0.9)]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    copy = cache / f"{path.stem}-{digest}.txt"
    if not copy.exists():
        copy.write_text(text, encoding="utf-8")
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", nargs="+", type=Path, help="UTF-8 text files to type")
    parser.add_argument("--corpus", default="english",
                        help="the peers' training text: english (../data/english.txt), anna (anna.txt's first 90 %%)"
                             " or a file")
    parser.add_argument("--history", type=int, default=None,
                        help="keep only the last N characters before a passage (default: both 0 and all of them)")
    parser.add_argument("--peers", default="presage,onboard", help="comma-separated: presage, onboard")
    parser.add_argument("--onboard", type=Path, default=None, help="where the onboard package was unpacked (dpkg -x)")
    parser.add_argument("--cache", type=Path, default=Path(user_cache_dir("charwriter")) / "peers",
                        help="where built databases and models are kept")
    parser.add_argument("--start", type=int, default=None, help="type from this character on (one passage)")
    parser.add_argument("--chars", type=int, default=1000, help="characters per passage (default 1000)")
    parser.add_argument("--passages", type=int, default=3, help="passages over the last 10 %% (default 3)")
    parser.add_argument("--tab-only", action="store_true", help="a writer who only takes the grey text, never the"
                        " pane (keystrokes.py's --tab-only)")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    try:
        texts = [(path.name, gutenberg_body(read_text(path, what="text"))) for path in args.texts]
        corpus = training_text(args.corpus, args.cache, args.texts)
    except CorpusError as error:
        refuse(str(error))
    print(f"peers trained on {args.corpus} ({corpus.stat().st_size:,} bytes, {corpus}); K={K}", flush=True)
    peers = []
    for wanted in filter(None, (p.strip().lower() for p in args.peers.split(","))):
        try:
            if wanted == "presage":
                peers.append(presage_peer(corpus, args.cache))
            elif wanted == "onboard":
                peers.append(onboard_peer(corpus, args.cache, args.onboard))
            else:
                refuse(f"unknown peer {wanted!r}: choose from presage, onboard")
        except PeerMissing as missing:
            print(f"  {missing}", flush=True)
    documents = DOCUMENTS if args.history is None else [(f"history {args.history:,}", args.history)]
    rows = []
    for name, text in texts:
        for peer in peers:
            cells = []
            for label, keep in documents:
                started = time.perf_counter()
                t, failures = run(peer, text, keep, args)
                grey = t.grey_saved / max(1, t.chars)
                print(f"{name} [{peer.name}, {label}]: {t.chars:,} chars, {t.keys:,} keys, KSR {t.ksr:.3f}"
                      f" (grey text {grey:.3f}, pane {t.pane_saved / max(1, t.chars):.3f}), grey text precision"
                      f" {t.precision:.3f} ({t.grey_taken:,} of {t.grey_shown:,}), pane words known"
                      f" {t.known_share:.3f}, {time.perf_counter() - started:.0f} s", flush=True)
                for failure in failures:
                    print(f"  {peer.name} lost the {failure}", flush=True)
                cells.append(f"{t.ksr:.3f}  {grey:.3f}  {t.precision:.3f}" + ("*" if failures else "")
                             if t.chars else "aborts")
            rows.append((name, peer.name, cells))
    print("\nKSR, grey text's share, grey text's precision (* some passages lost):")
    print(f"{'text':<36} {'peer':<8} " + " ".join(f"{label:<22}" for label, _ in documents))
    for name, peer, cells in rows:
        print(f"{name:<36} {peer:<8} " + " ".join(f"{cell:<22}" for cell in cells))


if __name__ == "__main__":
    sys.exit(main())

"""The rules every continuation follows, shared by the engine and the numpy preview (no torch here).

What a model reads for a character it has never seen (`translate`), where a continuation may stop (never inside a
word, at a sentence end, before a loop, at the last word the model is sure enough of), and what it must not repeat
(a run of its own text or of the text just before it: an accepted suggestion is not offered again).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

from charwriter.lm.alphabet import model_char

SENTENCE_ENDS = ".!?"
CLOSING = "\"')]\u201d\u2019"
WORD_EXTRA = 16  # a continuation that reaches L inside a word may run this far past L to finish it
RECENT_CHARS = 96  # a continuation must not repeat a run of `no_repeat` characters of this much text before it
REPEAT_TRIES = 4  # a character that would repeat gives way to the likeliest of this many that do not
SPACE = " "  # a continuation that ends a word where the model expects a space brings it (a phone keyboard's way:
# the editor lets a punctuation mark typed next take its place)
RESTATE_MIN = 4  # a continuation that starts by saying again the last this-many-or-more characters is a restatement
GHOST_CONFIDENCE = 0.1  # the ghost text ends at the last word the model gives this cumulative probability
GHOST_FLOOR = 0.0  # the grey text is drawn only when the model gives its first word at least this probability; below
# it the continuation waits in the pane (Alt+Down draws it); 0 draws it always
NO_REPEAT = 12  # no run of this many characters of the continuation or the text before it is said again
PARTIAL_WORD = re.compile(r"[\w'-]*\Z")  # the part of a word before the cursor (\Z: `$` would also match before
# a final newline, and take the word above the cursor for the one begun)
WORD_START = re.compile(r"[\w'-]*")  # the part of a word a continuation begins with


LOOKALIKES = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4`", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2212", "-"),
    **dict.fromkeys("\u2014\u2015", "--"),  # an em dash is "--" in the plain texts models learn from
    "\u2026": "...",
    "\t": " ",
}
"""Characters a model trained on plain text may lack, and what it knows that looks the same (odd spaces and line
separators are the alphabet's rule: `model_char`)."""
SPELT_OUT = {
    "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ß": "ss", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d",
    "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i",
}
"""Letters Unicode does not decompose, as English books spell them: "Cæsar" is read as "Caesar", not "Csar". Unlike
the look-alikes, a model that has never seen them may learn them (`charwriter train --extend-vocab`)."""


def translate(ch: str, index: dict[str, int]) -> str:
    """What the model with this vocabulary (`index`: character -> code) reads for `ch`: itself, a look-alike
    (curly quotes, dashes, odd spaces), the letter without its accent, or "" (skipped). The editor's policy, and
    `generate`'s for its prime."""
    if ch in index:
        return ch
    ruled = model_char(ch)  # what training would have made of it: a no-break space is a space, a soft hyphen nothing
    if ruled != ch:
        return translate(ruled, index) if ruled else ""
    decomposed = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    for candidate in (LOOKALIKES.get(ch), SPELT_OUT.get(ch), decomposed, " " if ch.isspace() else None):
        if candidate and all(c in index for c in candidate):
            return candidate
    return ""


def default_start(vocab: list[str]) -> int:
    """What a window is read after: a newline if the model knows one (a window starts within the text, and the
    books' lines are wrapped: after one newline the text goes on)."""
    return vocab.index("\n") if "\n" in vocab else 0


def document_start(vocab: list[str]) -> list[int]:
    """What a document's first character is read after: a blank line, as before a paragraph (after one newline an
    empty document was offered indentation, as in the books' verse, and lower-case words)."""
    return [default_start(vocab)] * (2 if "\n" in vocab else 1)


def is_word_char(ch: str) -> bool:
    """A character of a word: a letter or a digit, an apostrophe or a hyphen. The one definition, for the engine's
    stopping rules, the document memory's word index and the suggestions pane."""
    return ch.isalnum() or ch in "'-"


def end_at_word(text: str, following: str) -> str:
    """`text` cut where a writer would stop: if it ends inside a word that goes on (`following`), back to the end
    of the last whole word; trailing spaces dropped."""
    if following and is_word_char(following) and text and is_word_char(text[-1]):
        end = len(text)
        while end and is_word_char(text[end - 1]):
            end -= 1
        text = text[:end]
    stripped = text.rstrip(" ")
    return stripped if stripped or len(text) < 2 else text  # an indentation alone is kept


def _repeats(recent: str, row: str, ch: str, n: int) -> bool:
    """Would `ch` make the row restate the text just before it, or begin a word that repeats a run of n characters
    of either? A repeat is judged where a word begins, never inside one: a name that occurred a line above
    ("Stepan Arkadyevitch") is spelt as it was, not bent into "Arkidyevitch" to avoid its own letters, and the
    word that would go on a repeated run gives way to another."""
    said = recent + row
    grown = row + ch
    if len(grown) >= RESTATE_MIN and recent.endswith(grown):
        return True
    if not is_word_char(ch) or (said and is_word_char(said[-1])):
        return False
    return len(said) >= n - 1 and (said[len(said) - n + 1 :] + ch) in said


def confident_prefix(text: str, lps: list[float], floor: float) -> int:
    """Length of the longest start of `text` that ends where a word ends and that the model gives at least
    probability `floor` in all (`lps`: each character's log-probability); never less than the first word, except
    that an indentation (two or more spaces) the model is sure of stands alone when the word after it is unsure."""
    limit, total, best, seen_word = math.log(floor), 0.0, None, False
    indent = len(text) - len(text.lstrip(" "))
    for i, ch in enumerate(text):
        if seen_word and not is_word_char(ch):  # text[:i] ends at a word end
            if best is not None and total < limit:
                return best
            if best is None and total < limit and indent >= 2 and math.fsum(lps[:indent]) >= limit:
                return indent
            best = i
        seen_word = seen_word or is_word_char(ch)
        total += lps[i]
    if best is None and total < limit and indent >= 2 and math.fsum(lps[:indent]) >= limit:
        return indent
    return len(text) if best is None or total >= limit else best


WRAP_LONG = 75  # the bundled models' corpora are hard-wrapped (Project Gutenberg's): 99.97 % of their lines are
# this long or shorter, so a line that is longer is a writer's paragraph, and a wrapped book reads as it is
WRAP_WIDTH = 60  # where such a line is broken: the cursor then sits well before the column where the model expects a
# break (measured on the English model's own held-out text, unwrapped: docs/benchmarks.md)
WRAP_TAIL = 4096  # the wrapped view is made of this much text before the cursor (the model reads at most 1,024)
WRAP_ANCHOR = 8192  # a line longer than this is wrapped from a multiple of it, so the view is the same as it grows


def wrapped_view(text: str, width: int = WRAP_WIDTH, offset: int = 0) -> str:
    """`text` as a hard-wrapped corpus has it: within its last `WRAP_TAIL` characters, each line longer than
    `WRAP_LONG` broken at its last space before `width` columns (the space becomes a newline: the same length, so
    positions hold). A writer's paragraph is one long line; a model trained on wrapped books puts most of its
    probability on a line break after ~70 columns, and its words after that lose a tenth of theirs. `offset`: where
    `text` starts in the document (the wrap of a very long line is anchored at absolute positions)."""
    if width <= 0 or len(text) <= WRAP_LONG:
        return text
    start = max(0, len(text) - WRAP_TAIL)
    line = text.rfind("\n", max(0, start - WRAP_ANCHOR), start) + 1
    if line == 0 and start > WRAP_ANCHOR:  # no line start near: a multiple of the anchor, fixed as the text grows
        line = max(0, start - (offset + start) % WRAP_ANCHOR)
    lines = text[line:].split("\n")
    if all(len(each) <= WRAP_LONG for each in lines):
        return text  # a wrapped text (the usual book): as it is, without copying it on every keystroke
    return text[:line] + "\n".join(_wrapped(each, width) if len(each) > WRAP_LONG else each for each in lines)


def _wrapped(line: str, width: int) -> str:
    chars, column, space = list(line), 0, -1
    for i, ch in enumerate(chars):
        column += 1
        if ch == " ":
            space = i
        if column > width and space >= 0:
            chars[space] = "\n"
            column, space = i - space, -1
    return "".join(chars)


def holds_a_word(chars) -> bool:
    """Does this start of a continuation hold a whole word (a word character, then one that ends the word)?"""
    seen_word = False
    for ch in chars:
        if is_word_char(ch):
            seen_word = True
        elif seen_word:
            return True
    return False


def first_word_logprob(text: str, lps: list[float]) -> float:
    """The log-probability the model gave the start of `text` up to the end of its first word (what the grey text
    adds or finishes first; all of `text` when it holds no word)."""
    seen_word = False
    for i, ch in enumerate(text):
        if seen_word and not is_word_char(ch):
            return math.fsum(lps[:i])
        seen_word = seen_word or is_word_char(ch)
    return math.fsum(lps[: len(text)])


LOOP_CHARS = 8  # a continuation that repeats this many characters of itself has started to loop


def loop_start(text: str) -> int:
    """Where `text` starts repeating itself ("the street the street the s" -> 11), or its length.

    Greedy decoding of a character model falls into loops; a writer wants the first lap, not three. The cut lands
    on the start of the first repeated run of `LOOP_CHARS` characters; trailing spaces go too. Never 0.
    """
    for i in range(1, len(text) - LOOP_CHARS + 1):
        if text.find(text[i : i + LOOP_CHARS]) < i:
            cut = len(text[:i].rstrip())
            return cut or len(text)
    return len(text)


PLAIN, SENTENCE_END, CLOSES, NEVER_SHOWN = range(4)


def char_classes(vocab: list[str]) -> list[int]:
    """Per code, for the stopping rules: plain, a sentence end, a closing quote or bracket, or a character a
    suggestion never shows (a newline, a tab: not printed)."""
    return [NEVER_SHOWN if not (ch == " " or (ch.isprintable() and not ch.isspace())) else SENTENCE_END
            if ch in SENTENCE_ENDS else CLOSES if ch in CLOSING else PLAIN for ch in vocab]


def grow(row, ch: str, lp: float, kind: int, max_len: int, floor: float) -> bool | None:
    """Offer the next character `ch` (log-probability `lp`, `char_classes` kind) to a continuation being written
    (`row`: its `chars`, `lps`, `ending` and `capped`). None: it stops before it; False: `ch` is its last character;
    True: it goes on. floor: the ghost text's `confident_prefix` floor (0: none), past which it would be cut anyway."""
    if kind == NEVER_SHOWN or (row.ending and kind == PLAIN):
        return None  # the ghost text never shows an unseen character; after a sentence end only a closing one
    if len(row.chars) >= max_len and not is_word_char(ch):
        return None  # the word that crossed L has ended: stop before what follows it
    row.chars.append(ch)
    row.lps.append(lp)
    if row.ending and kind == CLOSES:
        return False
    if len(row.chars) >= max_len and (not is_word_char(ch) or len(row.chars) >= max_len + WORD_EXTRA):
        row.capped = is_word_char(ch)
        return False
    row.ending = row.ending or kind == SENTENCE_END
    # The ghost text will end before this character's word, inside it or at its end, once its sum fell below the
    # floor (sums only fall): the rest would be cut anyway. The sum first: `confident_prefix` only when it can cut.
    if floor > 0 and sum(row.lps) < math.log(floor) and \
            confident_prefix("".join(row.chars), row.lps, floor) < len(row.chars) - 1:
        return False
    return True


def finished(row, floor: float, after: str = "") -> tuple[str, float]:
    """A written continuation as shown, and its mean log-probability per character: cut at the start of a loop,
    at the last word the model gives `floor` in all (0: no cut), never inside a word; with the space the model
    expects after a last whole word (`after`: what follows the row, if known)."""
    full = "".join(row.chars)
    cut = loop_start(full)
    if floor > 0:
        cut = min(cut, confident_prefix(full, row.lps, floor))
    following = full[cut] if cut < len(full) else "a" if row.capped else ""  # "a": the word went on
    text = end_at_word(full[:cut], following)
    if not text:
        return "", 0.0
    after = full[len(text)] if len(text) < len(full) else after
    score = math.fsum(row.lps[: len(text)]) / len(text)
    return (text + SPACE if after == SPACE and is_word_char(text[-1]) else text), score


# --- the writer's typography ------------------------------------------------------------------------------------

TYPOGRAPHY_SAMPLE = 20_000  # a document's typography is read from this much text before the cursor
OPENS_AFTER = "([{\u201c\u2018\u2014\u2013-/"  # a quote after these (or a space) opens


@dataclass(frozen=True)
class Typography:
    """How a document writes what a plain-text model writes one way: its quotes, apostrophes, dashes, ellipses."""

    double: str = '""'  # opening and closing double quote
    single: str = "''"  # opening single quote, and the closing one that is also the apostrophe
    dash: str = "--"  # what the model's "--" (a dash between words) becomes
    ellipsis: str = "..."


def typography_of(text: str) -> Typography:
    """The document's own forms, the more frequent of each kind in `text`. Where it has neither, the form of a
    writer whose editor sets curly quotes, if the document shows one (curly double quotes but no apostrophe yet:
    word processors and phones curl both and turn "--" into an em dash); else plain, what a keyboard types."""
    curly_doubles, straight_doubles = text.count("\u201c") + text.count("\u201d"), text.count('"')
    curly_singles, straight_singles = text.count("\u2019") + text.count("\u2018"), text.count("'")
    em, en, plain = text.count("\u2014"), text.count(" \u2013 "), text.count("--")
    smart = curly_doubles + curly_singles + em + en > straight_doubles + straight_singles + plain
    curly_double = curly_doubles > straight_doubles or (smart and not straight_doubles)
    curly_single = curly_singles > straight_singles or (smart and not straight_singles)
    spaced_em = text.count(" \u2014 ")  # "broken \u2014 again": a spaced em dash, as a spaced en dash
    # " - ": a keyboard's dash between words (a list's "- " starts a line)
    forms = {"\u2014": em - spaced_em, " \u2014 ": spaced_em, " \u2013 ": en, "--": plain, " - ": text.count(" - ")}
    dash = max(forms, key=forms.get) if max(forms.values()) else "\u2014" if smart else "--"
    ellipsis = "\u2026" if text.count("\u2026") > text.count("...") else "..."
    return Typography("\u201c\u201d" if curly_double else '""', "\u2018\u2019" if curly_single else "''", dash, ellipsis)


def restyle(text: str, before: str, style: Typography) -> str:
    """A continuation the model wrote in plain characters, in the document's typography; `before`: the text just
    before it (whether a quote opens or closes depends on what precedes it)."""
    if style == Typography() or not any(ch in text for ch in "\"'-."):
        return text
    if style.dash != "--" and "--" in text:
        if style.dash.startswith(" "):
            text = re.sub(r" ?-- ?", style.dash, text)
            text = text[1:] if text.startswith(" ") and before[-1:].isspace() else text  # "said " + " \u2014 "
        else:
            text = text.replace("--", style.dash)
    if style.ellipsis != "...":
        text = text.replace("...", style.ellipsis)
    out, previous = [], before[-1:] or " "
    for ch in text:
        if ch in "\"'":
            opens = previous.isspace() or previous in OPENS_AFTER
            pair = style.double if ch == '"' else style.single
            if not (ch == "'" and previous.isalnum()):  # an apostrophe inside a word closes
                ch = pair[0] if opens else pair[1]
            else:
                ch = pair[1]
        out.append(ch)
        previous = ch
    return "".join(out)


BEYOND_ASCII = re.compile(r"[^\W\x00-\x7f]")  # a letter or digit beyond ASCII (not a curly quote or a dash)
SPELT_OTHERWISE = re.compile(r"\w*[^\W\x00-\x7f]\w*")  # a word with one


def spellings(before: str, normalise: Callable[[str], str]) -> dict[str, str]:
    """The document's own spelling of each of its words the model reads otherwise ("café" read as "cafe", "Cæsar"
    as "Caesar"): the model's reading -> the writer's word (the last one written, where two are read alike). Run
    on every keystroke: each distinct word is read once, and a document in curly quotes costs no more than the scan."""
    if before.isascii() or not BEYOND_ASCII.search(before):
        return {}
    out: dict[str, str] = {}
    for word in dict.fromkeys(reversed(SPELT_OTHERWISE.findall(before))):  # the last written first
        read = normalise(word)
        if read != word:
            out.setdefault(read, word)
    return out


def respell(text: str, start: str, spelt: dict[str, str], normalise: Callable[[str], str]) -> str:
    """A continuation with each word it completes or adds spelt as the document spells it; `start`: the letters
    of the word at the cursor, which its first word finishes (kept as typed)."""
    if not spelt:
        return text

    def own(match: re.Match) -> str:
        typed = start if match.start() == 0 else ""
        word = spelt.get(normalise(typed) + match.group(0))
        return word[len(typed) :] if word is not None and word.startswith(typed) else match.group(0)

    return re.sub(r"\w+", own, text)


def writers_style(before: str, normalise: Callable[[str], str]) -> Callable[[str], str]:
    """What turns a continuation the model wrote into the writer's: the document's quotes, dashes and ellipses
    (`restyle`) and its own spelling of its words (`respell`). before: the text before the cursor (its last
    `TYPOGRAPHY_SAMPLE` characters are read); normalise: the model's reading of a text."""
    before = before[-TYPOGRAPHY_SAMPLE:]
    style, spelt = typography_of(before), spellings(before, normalise)
    start = PARTIAL_WORD.search(before[-64:]).group(0)
    return lambda text: respell(restyle(text, before, style), start, spelt, normalise)


SENTENCE_DONE = re.compile("[.!?][\"')\\]\u201d\u2019]*\\Z")


INDENTED = re.compile(r"\n[ \t]+\S")  # a line that begins with spaces and has something after them
DOUBLE_SPACED = re.compile(r"\S {2,}\S")  # two spaces or more between words (some writers' sentence ends)


def no_second_space(before: str, text: str) -> str:
    """`text` without the spaces it begins with where the writer has just typed a space after something on the line
    ("# " in Markdown, where the model reads only the space and offered "    "), and at a line's start unless the
    text before (`before`: the model's window) has an indented line: the books' verse and letters are indented, a
    writer's lines are not, unless the document is (a letter quoted in a novel, six spaces in). Within a line, one
    space where the model offers more, unless the text before has two between words ("myself.  The")."""
    line = before[before.rfind("\n") + 1 :]
    if line.strip():
        if line[-1].isspace():
            return text.lstrip(" \t")
        return " " + text.lstrip(" ") if text.startswith("  ") and not DOUBLE_SPACED.search(before) else text
    return text if INDENTED.search(before) or line else text.lstrip(" \t")


DASHES = "-\u2013\u2014"


def ends_with_dash(text: str) -> bool:
    """`text` ends with a whole dash (not a word's hyphen): "--", as the model reads an em dash, or an en or em dash."""
    return text.endswith(("--", "\u2013", "\u2014"))


CLITIC = re.compile(r"'(?:s|t|d|m|ll|re|ve)\b")  # "'s", "'ll": a word's ending, never a word of its own


def never_taken(before: str, text: str) -> bool:
    """A continuation a writer would never take: a second sentence end right after one (`."` then "."), a stop or a
    comma right after a comma ("ago," then "."), a dash or hyphen right after a dash ("broken \u2014" then
    "\u2014\u2014": the books' long rules), a word's ending where no word is ("broken \u2014" then "'s"), or only
    punctuation that says again what was just typed. `before`: the text just before it, as the model reads it."""
    if not text:
        return False
    if CLITIC.match(text) and not before[-1:].isalnum():
        return True
    if text[0] in ".!?,;:" and (SENTENCE_DONE.search(before) or before.endswith((",", ";", ":"))):
        return True
    if text[0] in DASHES and ends_with_dash(before):
        return True  # after one hyphen a second may follow: "--" is the books' (and a keyboard's) dash
    mark = text.strip()
    return bool(mark) and not any(ch.isalnum() for ch in mark) and before.rstrip().endswith(mark)

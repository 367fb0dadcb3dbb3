"""What a model's vocabulary may hold: one rule, read by the trainer (which maps every character of a corpus into
it), by the loader (which refuses a file holding anything else) and by the editor (which reads a document alike).

A model's characters are shown in a terminal and typed by a writer. It holds what prints, the newline and the tab,
and the invisible characters that change how a text reads: ZWJ joins emoji, ZWNJ and the direction marks shape
Arabic, Persian and Hebrew. Every other character is mapped on purpose: any space (no-break, narrow, ideographic) is
a space to a writer; line and paragraph separators, NEL and CR end a line; a control character (an escape sequence
the terminal would obey) becomes a space, as a form feed always did; invisible formatting (soft hyphen, zero-width
space, BOM, the bidi overrides that would reverse the rest of a line on screen) is dropped. Private-use characters
and code points this Python's Unicode tables do not know yet are kept: a model trained where Unicode is newer loads.
"""

from __future__ import annotations

import unicodedata

MAX_VOCAB = 1 << 16  # distinct characters: beyond this a file asks for absurd memory (and no text has so many)

KEPT_FORMAT = frozenset("\u200c\u200d\u200e\u200f\u061c")  # ZWNJ, ZWJ, LRM, RLM, ALM
NEWLINES = frozenset("\r\x85\u2028\u2029")


def _noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def model_char(ch: str) -> str:
    """What a model reads for the character `ch`: `ch` itself, a space, a newline, or "" (dropped)."""
    if ch in "\n\t ":
        return ch
    if ch in NEWLINES:
        return "\n"
    category = unicodedata.category(ch)
    if category == "Zs" or category == "Cc":
        return " "
    if category == "Cf":
        return ch if ch in KEPT_FORMAT else ""
    if category == "Cs" or (category == "Cn" and _noncharacter(ord(ch))):
        return ""
    return ch


def model_text(text: str) -> str:
    """`text` as a model reads it: CRLF as one newline, then every character by `model_char`."""
    text = text.replace("\r\n", "\n")
    table = {ord(ch): model_char(ch) for ch in set(text)}
    table = {code: to for code, to in table.items() if to != chr(code)}
    return text.translate(table) if table else text


def check_vocab(vocab) -> str | None:
    """What is wrong with a model's vocabulary (None: nothing): distinct single characters, each one a model may
    hold (`model_char` keeps it), at most `MAX_VOCAB` of them."""
    if not isinstance(vocab, list) or not vocab:
        return "the vocabulary is not a non-empty list"
    if len(vocab) > MAX_VOCAB:
        return f"the vocabulary holds {len(vocab):,} characters, more than {MAX_VOCAB:,}"
    for ch in vocab:
        if not isinstance(ch, str) or len(ch) != 1:
            return f"vocabulary entry {ascii(ch)[:40]} is not one character"
        if model_char(ch) != ch:
            return f"vocabulary entry {ascii(ch)} is a control or formatting character, a surrogate or an odd space"
    if len(set(vocab)) != len(vocab):
        return "the vocabulary holds a character twice"
    return None

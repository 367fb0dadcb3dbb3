"""Keys that arrive faster than anyone types are taken as one paste.

A terminal without bracketed paste (tmux `paste-buffer` without `-p`, some ssh set-ups) sends pasted text as if it
were typed. Textual's input parser turns each character into a key event, in Python (about 0.1 ms a character on a
busy 2-core EPYC), and the editor made each one an edit of its own: an undo step, a rewrap, a suggestion request.
A 1 MB paste was still going after 13 minutes. Here a run of at least `FLOOD_CHARS` plain characters (printable,
Enter, Tab) that arrives in one read goes to the app as one `Flood` event: a paste for the editor, as if the terminal
had bracketed it, and the keys they are for any other widget; the rest (a writer's keys, one or two a read; escape
sequences; control keys) takes Textual's way, in order.
`FloodDriver` also reads on while more of a flood is waiting, so that a big paste is a few edits, not hundreds.
"""

from __future__ import annotations

import inspect
import os
import re
import selectors
from codecs import getincrementaldecoder

from textual import events
from textual._ansi_sequences import ANSI_SEQUENCES_KEYS
from textual._parser import ParseError, Read1
from textual._xterm_parser import XTermParser

FLOOD_CHARS = 16
"""Plain characters in one read that make a paste: nobody types 16 keys within one read of the terminal (a read
takes what arrived since the last, a few milliseconds of typing)."""
READ_BYTES = 4096  # Textual's read size
FLOOD_READ_BYTES = 256 * 1024  # a flood is gathered up to this much into one paste, so the screen shows progress
FLOOD_WAIT_S = 0.005  # after a full read, wait this long for the next part of a flood (a terminal writes as the pty drains)

_FLOOD = re.compile(f"[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]{{{FLOOD_CHARS},}}")
"""A run of plain characters: anything but control characters, except Tab, Enter (CR) and LF."""
_BRACKETED_PASTE = ("\x1b[200~", "\x1b[201~")
SEQUENCE_STARTS = "[O]P_^\\X\x1b"  # after ESC these begin a longer sequence (CSI, SS3, OSC, DCS, APC, PM, ST, SOS)
_MARKER_CHARS = len(_BRACKETED_PASTE[0])


class Flood(events.Event):
    """Plain characters that came faster than anyone types: the editor takes them as one paste, any other widget as
    the keys they are (`CharwriterApp.on_event`), so that a dialog's Enter or a form's Tab still work."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        """As the terminal sent it (a line break as Enter, CR)."""

    def as_paste(self) -> events.Paste:
        return events.Paste(self.text.replace("\r\n", "\n").replace("\r", "\n"))

    def as_keys(self) -> list[events.Key]:
        """The key events Textual's parser makes of the text."""
        return [event for event in XTermParser(False).feed(self.text) if isinstance(event, events.Key)]


class FloodParser(XTermParser):
    """Textual's parser, with runs of `FLOOD_CHARS` plain characters turned into one `Flood` event while it is
    between sequences (not inside an escape sequence or a bracketed paste, which it goes on handling itself)."""

    _in_paste = False
    _seen = ""  # the last characters given to Textual's parser: a bracketed paste marker may span two reads

    def feed(self, data: str):
        if not data:
            yield from super().feed(data)
            return
        pos = 0
        for match in _FLOOD.finditer(data):
            yield from self._parse(data[pos : match.start()])
            start, end = match.span()
            while start < end and not self._between_sequences():  # the end of an escape sequence, say
                yield from self._parse(data[start])
                start += 1
            if end - start >= FLOOD_CHARS:
                yield Flood(data[start:end])
            else:
                yield from self._parse(data[start:end])
            pos = end
        yield from self._parse(data[pos:])

    def _parse(self, data: str):
        if not data:
            return
        seen = self._seen + data
        starts, ends = seen.rfind(_BRACKETED_PASTE[0]), seen.rfind(_BRACKETED_PASTE[1])
        if starts >= 0 or ends >= 0:
            self._in_paste = starts > ends
        self._seen = seen[-_MARKER_CHARS:]
        yield from super().feed(data)

    def _sequence_to_key_events(self, sequence: str, alt: bool = False):
        # ESC and a character that begins no longer sequence is Alt and that key (Alt+T: ESC t), reported at once.
        # Textual waits 100 ms for more, and when the writer's next keys arrive first it reads them all as one
        # unknown sequence and types "^" and the letters.
        if len(sequence) == 2 and sequence[0] == "\x1b" and sequence[1] not in SEQUENCE_STARTS \
                and sequence not in ANSI_SEQUENCES_KEYS:
            yield from super()._sequence_to_key_events(sequence[1], alt=True)
            return
        yield from super()._sequence_to_key_events(sequence, alt)

    def _between_sequences(self) -> bool:
        awaiting = self._awaiting
        return isinstance(awaiting, Read1) and awaiting.timeout is None and not self._tokens and not self._in_paste


def _parser_as_expected() -> bool:
    parser = XTermParser(False)
    return isinstance(getattr(parser, "_awaiting", None), Read1) and hasattr(parser, "_tokens")


def flood_driver(driver_class: type) -> type:
    """`FloodDriver` in place of Textual's Linux driver (when its input loop still has the shape repeated here);
    any other driver as it is."""
    try:
        from textual.drivers.linux_driver import LinuxDriver
    except ImportError:  # Windows
        return driver_class
    if driver_class is not LinuxDriver or not _input_loop_as_in_textual(LinuxDriver) or not _parser_as_expected():
        return driver_class

    class FloodDriver(LinuxDriver):
        def run_input_thread(self) -> None:
            """Textual's input loop (Textual 8), with `FloodParser` and a flood read whole (up to
            `FLOOD_READ_BYTES`) before it is parsed."""
            selector = selectors.SelectSelector()
            selector.register(self.fileno, selectors.EVENT_READ)
            fileno = self.fileno
            parser = FloodParser(self._debug)
            decode = getincrementaldecoder("utf-8")().decode

            def read_all(final: bool) -> str:
                data = chunk = os.read(fileno, READ_BYTES)
                while len(chunk) == READ_BYTES and len(data) < FLOOD_READ_BYTES and selector.select(FLOOD_WAIT_S):
                    chunk = os.read(fileno, READ_BYTES)
                    data += chunk
                return decode(data, final=final)

            def process(selector_events, final: bool = False) -> None:
                for index, (_key, mask) in enumerate(selector_events):
                    if mask & selectors.EVENT_READ:
                        text = read_all(final and index == len(selector_events) - 1)
                        if not text:
                            break
                        for event in parser.feed(text):
                            self.process_message(event)
                for event in parser.tick():
                    self.process_message(event)

            try:
                while not self.exit_event.is_set():
                    process(selector.select(0.1))
                selector.unregister(self.fileno)
                process(selector.select(0.1), final=True)
            finally:
                selector.close()
                try:
                    for _event in parser.feed(""):
                        pass
                except (EOFError, ParseError):
                    pass

    return FloodDriver


def _input_loop_as_in_textual(driver_class: type) -> bool:
    """Textual's `run_input_thread` still reads, parses and posts the way `FloodDriver` repeats."""
    try:
        source = inspect.getsource(driver_class.run_input_thread)
    except (OSError, TypeError):
        return False
    return all(part in source for part in (
        "selectors.SelectSelector()", "XTermParser(self._debug)", "read(fileno, 1024 * 4)",
        "for event in feed(unicode_data)", "self.process_message(event)", "for event in tick()",
        "while not self.exit_event.is_set()", "for event in feed(\"\")"))

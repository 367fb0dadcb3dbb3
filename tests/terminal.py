"""charwriter in a real pseudo-terminal, read through a terminal emulator (pyte).

The Pilot hands the app key events; a terminal hands it bytes (Alt+A is ESC then "a", Ctrl+Home is ESC [1;5H),
and Textual's parser turns those into keys. These tests start the `charwriter` command on a pty, write the bytes a
terminal (xterm, GNOME Terminal, tmux) sends, and read what is drawn, colours included, from pyte's screen.
Nothing sleeps for a fixed time: every step waits for what it expects on the screen, with a deadline.
"""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pyte

# The bytes xterm sends (without the kitty keyboard protocol, which Textual asks for and xterm ignores).
KEYS = {
    "enter": b"\r", "tab": b"\t", "shift+tab": b"\x1b[Z", "escape": b"\x1b", "backspace": b"\x7f",
    "up": b"\x1b[A", "down": b"\x1b[B", "right": b"\x1b[C", "left": b"\x1b[D",
    "home": b"\x1b[H", "end": b"\x1b[F", "pageup": b"\x1b[5~", "pagedown": b"\x1b[6~",
    "ctrl+up": b"\x1b[1;5A", "ctrl+down": b"\x1b[1;5B", "ctrl+right": b"\x1b[1;5C", "ctrl+left": b"\x1b[1;5D",
    "ctrl+home": b"\x1b[1;5H", "ctrl+end": b"\x1b[1;5F",
    "alt+up": b"\x1b[1;3A", "alt+down": b"\x1b[1;3B", "alt+right": b"\x1b[1;3C", "alt+left": b"\x1b[1;3D",
    "f1": b"\x1bOP", "f2": b"\x1bOQ", "f3": b"\x1bOR", "f4": b"\x1bOS",
    "f5": b"\x1b[15~", "f6": b"\x1b[17~", "f7": b"\x1b[18~", "f8": b"\x1b[19~", "f12": b"\x1b[24~",
}


def key_bytes(key: str) -> bytes:
    """What a terminal sends for `key`: "ctrl+s" is a control byte, "alt+a" is ESC then "a"."""
    if key in KEYS:
        return KEYS[key]
    if key.startswith("ctrl+") and len(key) == 6:
        return bytes([ord(key[-1].lower()) - ord("a") + 1])
    if key.startswith("alt+") and len(key) == 5:
        return b"\x1b" + key[-1].encode()
    raise ValueError(f"no terminal bytes known for {key!r}")


def _die_with_parent() -> None:
    """In the child: a test run killed outright (a timeout) takes its charwriter along (Linux; elsewhere a no-op)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def autosaved(home) -> str | None:
    """The text in the autosave of the one charwriter running with this CHARWRITER_HOME (None: none yet)."""
    for path in Path(home).rglob("autosave/*.json"):
        try:
            return path.read_text(encoding="utf-8").partition("\n")[2]
        except OSError:  # replaced while read
            return None
    return None


class Terminal:
    """A `charwriter` process on a pseudo-terminal of `columns` x `rows`, its output fed to a pyte screen."""

    def __init__(self, args: list[str], columns: int = 120, rows: int = 34, env: dict | None = None,
                 cwd: str | None = None) -> None:
        self.screen = pyte.Screen(columns, rows)
        self.stream = pyte.ByteStream(self.screen)
        self._lock = threading.Lock()
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        environment = {**os.environ, **(env or {}), "TERM": "xterm-256color", "COLORTERM": "",
                       "LINES": str(rows), "COLUMNS": str(columns), "TEXTUAL_ANIMATIONS": "none"}
        environment.pop("NO_COLOR", None)
        self.process = subprocess.Popen([sys.executable, "-m", "charwriter", *args], stdin=slave, stdout=slave,
                                        stderr=slave, env=environment, cwd=cwd, start_new_session=True,
                                        close_fds=True, preexec_fn=_die_with_parent)
        os.close(slave)
        self.master = master
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the process closed the terminal
                return
            if not data:
                return
            with self._lock:
                self.stream.feed(data)

    # --- reading the screen -------------------------------------------------------------------------------------

    def lines(self) -> list[str]:
        with self._lock:
            return list(self.screen.display)

    def text(self) -> str:
        return "\n".join(self.lines())

    def row_of(self, needle: str) -> int:
        for y, line in enumerate(self.lines()):
            if needle in line:
                return y
        raise AssertionError(f"{needle!r} is not on the screen:\n{self.text()}")

    def cells(self, y: int, start: int, end: int) -> list:
        """pyte's characters (data, fg, bg, italics, …) of row `y`, columns `start` to `end`."""
        with self._lock:
            row = self.screen.buffer[y]
            return [row[x] for x in range(start, end)]

    def wait(self, condition, seconds: float = 60.0, what: str = "") -> None:
        """Until `condition()` holds (polled every 20 ms); fail with the screen after `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                self._reader.join(timeout=5)  # the last output
                if condition():
                    return
                raise AssertionError(f"charwriter exited ({self.process.returncode}) waiting for {what}:\n"
                                     f"{self.text()}")
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what or condition}:\n{self.text()}")

    def wait_for(self, needle: str, seconds: float = 60.0) -> None:
        self.wait(lambda: needle in self.text(), seconds, repr(needle))

    def wait_gone(self, needle: str, seconds: float = 60.0) -> None:
        self.wait(lambda: needle not in self.text(), seconds, f"{needle!r} to go")

    # --- typing ---------------------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def type(self, text: str) -> None:
        """Type `text` as a terminal sends it (a new line is Enter, CR)."""
        self.write(text.replace("\n", "\r").encode())

    def press(self, *keys: str) -> None:
        for key in keys:
            self.write(key_bytes(key))
            if key == "escape" or (key.startswith("alt+") and len(key) == 5):
                # A lone ESC (or ESC and a letter: Alt) is told from the start of a longer sequence by a pause
                # (Textual's ESCDELAY, 100 ms); bytes that follow at once are read as part of one unknown sequence.
                # Send the next bytes after that pause, as a person's next key comes.
                time.sleep(0.25)

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=10)
        try:
            os.close(self.master)
        except OSError:
            pass
        self._reader.join(timeout=5)

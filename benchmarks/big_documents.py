"""Big documents in the real app: open time, key-to-screen latency and memory for a 10 MB document on one line and
with ordinary lines, and a 1 MB paste from a terminal without bracketed paste (targets: p95 ≤ 100 ms a key; the
paste in the document within 30 s, under 1 GB, and in the autosave).

Runs `charwriter FILE` on a pseudo-terminal read by pyte (`tests/terminal.py`, the pty tests' harness), so every
cost counts: Textual's input parser, the editor, the screen's work, drawing. Latency is measured from writing a
key's byte to the pty until that character is drawn as typed text (not as grey suggestion text) at the cursor.
The big files live in a temporary folder.

    python benchmarks/big_documents.py                       # all three cases with the default model (english)
    python benchmarks/big_documents.py --cases paste --paste-mb 0.1 --model PATH
    python benchmarks/big_documents.py --no-adapt             # the editor alone, without the adaptation's process
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from terminal import Terminal, autosaved  # noqa: E402  - the pty tests' harness

WORDS = ("the quiet house stood by the river and every morning she walked along the water to the old mill where her "
         "brother kept his books and papers he would read to her of distant cities and long winters and she listened "
         "while the light moved across the floor").split()
MARKER = "qwzxjvkybpgfmdluchtnroeaisQWZXJVKYBPGFMDLU"  # distinct characters: each key's echo is told apart


def prose(chars: int, line_chars: int | None, seed: int = 0) -> str:
    """English-like sentences; `line_chars`: a line break after about that many characters (None: one line)."""
    rng = random.Random(seed)
    out, size, line = [], 0, 0
    while size < chars:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 14)))
        sentence = sentence[0].upper() + sentence[1:] + rng.choice(".,.!?")
        line += len(sentence) + 1
        out.append(sentence + ("\n" if line_chars and line >= line_chars else " "))
        if line_chars and line >= line_chars:
            line = 0
        size += len(sentence) + 1
    return "".join(out)[:chars].rstrip(" ") + "."


def memory_kb(pid: int) -> dict[str, int]:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return {k: int(v.split()[0]) for k, v in re.findall(r"^(VmHWM|VmRSS):\s+(.*)$", status, re.M)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def status_line(term: Terminal) -> str:
    return term.lines()[-2]


def start(doc: Path, home: Path, model: str, columns: int, rows: int, adapt: bool = True) -> tuple[Terminal, float]:
    """The app on `doc`; returns it once the model's first suggestions are shown, with the seconds that took.
    `adapt` False: the adaptation to the document (a process of its own, a minute or more of a core on a document
    over 20,000 characters) is switched off in the settings, to see the editor's own cost."""
    if not adapt:
        settings = home / "config" / "settings.json"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps({"adapt": False}), encoding="utf-8")
    began = time.monotonic()
    term = Terminal([str(doc), "--model", model], columns, rows, env={"CHARWRITER_HOME": str(home)})
    term.wait(lambda: re.search(r"latency \d+ ms", status_line(term)) is not None, 600, "the first suggestions")
    return term, time.monotonic() - began


def typed_at_cursor(term: Terminal, text: str) -> bool:
    """`text` is on the screen as typed text (its cells not grey italics: not the suggestion)."""
    for y, line in enumerate(term.lines()):
        x = line.find(text)
        if x >= 0 and not any(cell.italics for cell in term.cells(y, x, x + len(text))):
            return True
    return False


def type_keys(term: Terminal, keys: int, budget_s: float, gap_s: float) -> list[float]:
    """Type `keys` characters (fewer if `budget_s` runs out), each after the last appeared and `gap_s` passed (a
    writer's pace); the latency of each, in ms."""
    latencies: list[float] = []
    term.type(" ")  # a word of its own, after the document's last character
    time.sleep(1.0)
    spent = time.monotonic()
    for i in range(min(keys, len(MARKER))):
        sent = time.monotonic()
        term.type(MARKER[i])
        term.wait(lambda: typed_at_cursor(term, MARKER[: i + 1]), 600, f"key {i + 1} on the screen")
        latencies.append(1000 * (time.monotonic() - sent))
        if time.monotonic() - spent > budget_s:
            break
        time.sleep(gap_s)
    return latencies


def document_case(name: str, text: str, args, work: Path) -> dict:
    doc, home = work / f"{name}.txt", work / f"home-{name}"
    doc.write_text(text, encoding="utf-8")
    term, opened = start(doc, home, args.model, args.columns, args.rows, not args.no_adapt)
    try:
        latencies = type_keys(term, args.keys, args.key_budget_s, args.gap_ms / 1000)
        mem = memory_kb(term.process.pid)
    finally:
        term.close()
    return {"case": name, "open_s": opened, "keys": len(latencies), "p50_ms": statistics.median(latencies),
            "p95_ms": percentile(latencies, 0.95), "max_ms": max(latencies), "peak_mb": mem.get("VmHWM", 0) / 1024}


def paste_case(args, work: Path) -> dict:
    doc, home = work / "paste.txt", work / "home-paste"
    paste = prose(int(args.paste_mb * 1_000_000), 70, seed=2) + " Pastend"
    term, opened = start(doc, home, args.model, args.columns, args.rows)
    data = paste.replace("\n", "\r").encode()  # a terminal sends Enter for a line break, as tmux paste-buffer does
    written = [0]
    peak = [0]

    def writer() -> None:
        for i in range(0, len(data), 4096):  # the pty takes what its buffer holds; a terminal writes on as it drains
            try:
                os.write(term.master, data[i : i + 4096])
            except OSError:
                return
            written[0] = i + 4096

    began = time.monotonic()
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    tail = "Pastend"  # a word of its own: never split by the wrapping
    on_screen = in_autosave = None
    try:
        while time.monotonic() - began < args.paste_budget_s and term.process.poll() is None:
            peak[0] = max(peak[0], memory_kb(term.process.pid).get("VmHWM", 0))
            if on_screen is None and not thread.is_alive() and typed_at_cursor(term, tail):
                on_screen = time.monotonic() - began
            if on_screen is not None and autosaved(home) == paste:
                in_autosave = time.monotonic() - began
                break
            time.sleep(0.25)
        peak[0] = max(peak[0], memory_kb(term.process.pid).get("VmHWM", 0))
        saved = autosaved(home) or ""
    finally:
        term.close()
    return {"case": f"paste {args.paste_mb:g} MB", "open_s": opened, "sent_kb": min(written[0], len(data)) / 1000,
            "on_screen_s": on_screen, "autosaved_s": in_autosave, "autosave_exact": saved == paste,
            "autosave_chars": len(saved), "peak_mb": peak[0] / 1024}


def cpu() -> str:
    info = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = re.search(r"Model name:\s*(.*)", info)
    flags = re.search(r"Flags:\s*(.*)", info)
    have = set(flags.group(1).split()) if flags else set()
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile") if f in have]
    return f"{model.group(1) if model else '?'}, {os.cpu_count()} cores, {' '.join(wanted) or 'no AVX'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="one-line,lines,paste")
    parser.add_argument("--model", default="english")
    parser.add_argument("--size-mb", type=float, default=10.0)
    parser.add_argument("--paste-mb", type=float, default=1.0)
    parser.add_argument("--keys", type=int, default=30)
    parser.add_argument("--gap-ms", type=float, default=150.0, help="pause after each key appears")
    parser.add_argument("--key-budget-s", type=float, default=180.0, help="stop typing a case after this long")
    parser.add_argument("--paste-budget-s", type=float, default=300.0)
    parser.add_argument("--no-adapt", action="store_true", help="switch the adaptation to the document off")
    parser.add_argument("--columns", type=int, default=120)
    parser.add_argument("--rows", type=int, default=34)
    args = parser.parse_args()
    print(f"CPU: {cpu()}; load average {os.getloadavg()[0]:.1f}; model {args.model}"
          f"{'; adaptation off' if args.no_adapt else ''}", flush=True)
    size = int(args.size_mb * 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for case in args.cases.split(","):
            if case == "one-line":
                row = document_case("one-line", prose(size, None), args, work)
            elif case == "lines":
                row = document_case("lines", prose(size, 70, seed=1), args, work)
            elif case == "paste":
                row = paste_case(args, work)
            else:
                parser.error(f"no case {case!r}")
            print("  ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
                  flush=True)


if __name__ == "__main__":
    main()

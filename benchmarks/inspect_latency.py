"""The editor's inside views: how soon the visible screen is coloured, how long the rest takes, and whether typing
waits for it (target: the visible screen within 200 ms of the key, keys not delayed).

Drives the real app headless with Textual's Pilot (120×34) on a 20,000-character document (the first characters of
TEXT, read as `charwriter train` reads it), with the bundled model or `--model`. For each view (the surprise view,
then the cell view of a unit) it presses the key with the cursor at the top and times: every visible line coloured;
every line of the document coloured (the background's work); then it types keys while the background colours and
measures keypress-to-document as `keypress_latency.py` does, against the same keys typed with the view off.

    python benchmarks/inspect_latency.py ../shared/data/anna.txt [--chars 20000] [--model M] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


async def wait_until(pilot, condition, seconds: float = 60.0, what=lambda: "") -> float:
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > seconds:
            raise SystemExit(f"timed out waiting for {what()}")
        await asyncio.sleep(0.002)
    return time.perf_counter() - started


def visible_rows(editor) -> set[int]:
    info = editor.wrapped_document._offset_to_line_info
    top, height = editor.scroll_offset.y, editor.scrollable_content_region.height
    return {info[y][0] for y in range(top, min(len(info), top + height))
            if info[y] is not None and editor.document[info[y][0]]}


async def type_keys(app, pilot, keys: str) -> list[float]:
    """Keypress-to-document latency of each key, in ms."""
    from textual import events

    editor = app.writer.editor
    done: list[float] = []
    original = editor.edit

    def timed(edit):
        result = original(edit)
        done.append(time.perf_counter())
        return result

    editor.edit = timed
    latencies = []
    for ch in keys:
        before = len(done)
        started = time.perf_counter()
        app.post_message(events.Key({" ": "space"}.get(ch, ch), ch))
        while len(done) == before:
            await asyncio.sleep(0.0005)
        latencies.append((done[-1] - started) * 1000)
        await asyncio.sleep(0.06)
    editor.edit = original
    return latencies


async def measure(document: Path, model: str | None, repeats: int) -> None:
    from charwriter.app import CharwriterApp
    from charwriter.lm.inspect import Unit
    from charwriter.settings import Settings

    app = CharwriterApp(file=str(document), model=model, settings=Settings(adapt=False))
    async with app.run_test(size=(120, 34)) as pilot:
        writer = app.writer
        await wait_until(pilot, lambda: writer.engine is not None and writer.status.latency_ms is not None, 120)
        editor = writer.editor
        engine = writer.engine
        print(f"model {engine.name} at {engine.precision.precision}; document {editor.character_count():,} chars,"
              f" {editor.document.line_count} lines; 120×34", flush=True)
        editor.move_cursor((0, 0))
        editor.scroll_home(animate=False)
        await pilot.pause(0.3)
        baseline = await type_keys(app, pilot, "abcdefghij" * 2)
        for label, mode, unit in (("surprise view", "surprise", None), ("cell view 2:0", "cell", Unit(1, 0))):
            firsts, alls, keys = [], [], []
            for _ in range(repeats):
                writer.set_inside("")
                writer._inside_cache = {}  # nothing read before: the first toggle of a document
                await pilot.pause(0.2)
                rows = visible_rows(editor)
                started = time.perf_counter()
                writer.set_inside(mode, unit)
                await wait_until(pilot, lambda: rows <= editor.inside_rows(), 60,
                                 lambda: f"the visible rows ({sorted(rows - editor.inside_rows())[:5]} missing)")
                firsts.append((time.perf_counter() - started) * 1000)
                keys += await type_keys(app, pilot, "klmnopqrst")  # while the background colours the rest
                lines = {r for r in range(editor.document.line_count) if editor.document[r]}
                await wait_until(pilot, lambda: lines <= editor.inside_rows(), 120,
                                 lambda: f"the whole document ({sorted(lines - editor.inside_rows())[:5]} missing; {[(r, editor.document[r][:40], editor._inside.get(r, ('-',))[0][:40]) for r in sorted(lines - editor.inside_rows())[:2]]})")
                alls.append((time.perf_counter() - started) * 1000)
            print(f"{label}: visible screen coloured after p50 {statistics.median(firsts):.0f} ms (max"
                  f" {max(firsts):.0f}); whole document after {statistics.median(alls) / 1000:.1f} s;"
                  f" keys typed meanwhile p50 {percentile(keys, 0.5):.1f} ms p95 {percentile(keys, 0.95):.1f} ms",
                  flush=True)
        print(f"keys with the view off: p50 {percentile(baseline, 0.5):.1f} ms p95 {percentile(baseline, 0.95):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", help="a UTF-8 text: its first --chars characters are the document")
    parser.add_argument("--chars", type=int, default=20_000)
    parser.add_argument("--model", default=None, help="model name or path (default: the bundled model)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from charwriter.lm.data import gutenberg_body, read_text
    from charwriter.lm.precision import cpu_summary

    print(f"CPU: {cpu_summary()}")
    text = gutenberg_body(read_text(args.text))[: args.chars]
    with tempfile.TemporaryDirectory() as tmp:
        document = Path(tmp) / "document.txt"
        document.write_text(text, encoding="utf-8")
        asyncio.run(measure(document, args.model, args.repeats))


if __name__ == "__main__":
    main()

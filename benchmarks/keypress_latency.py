"""Keypress-to-document latency of the writing screen while suggestion runs are in flight (target: p95 ≤ 16 ms).

Drives the real app headless with Textual's Pilot and a 512×2 LSTM (untrained weights: the speed is the same),
types a paragraph at a fast typist's pace with jitter, so that most keys land while a suggestion run is working in
its thread, and measures from posting each key event to the end of the editor's edit for it. The same run without
a model is the baseline: what Textual itself costs on this machine.

    python benchmarks/keypress_latency.py [--chars 300] [--interval-ms 70]
    python benchmarks/keypress_latency.py --interval-ms 12   # a burst: keys faster than the debounce, one run
    python benchmarks/keypress_latency.py --doc-mb 20         # typing at the end of a 20 MB document
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

TEXT = ("Happy families are all alike; every unhappy family is unhappy in its own way. Everything was in confusion "
        "in the Oblonskys' house. The wife had discovered that the husband was carrying on an intrigue with a French "
        "girl, who had been a governess in their family, and she had announced to her husband that she could not go "
        "on living in the same house with him. ")


def make_model(path: Path) -> None:
    from charwriter.lm.checkpoint import save_model
    from charwriter.lm.model import CharRNN, ModelConfig

    vocab = sorted(set(TEXT) | set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n!?-:\"()"))[:83]
    vocab += [chr(0x100 + i) for i in range(83 - len(vocab))]  # pad to the seed's 83 symbols
    model = CharRNN(ModelConfig(vocab_size=83))  # 512×2, as the bundled model
    save_model(path, model, vocab, {"corpus": "untrained"})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def measure(model: Path | None, chars: int, interval_ms: float, seed: int = 0,
                  document: Path | None = None) -> dict:
    from textual import events

    from charwriter.app import CharwriterApp
    from charwriter.settings import Settings

    opened = time.perf_counter()
    app = CharwriterApp(file=document, model=str(model) if model else None, settings=Settings())
    rng = random.Random(seed)
    latencies: list[float] = []
    in_flight = 0
    runs = 0
    first_suggestion = None
    async with app.run_test(size=(100, 30)) as pilot:
        shown = time.perf_counter() - opened
        writer = app.writer
        for _ in range(1200):  # wait for the model (torch import and load happen in a worker), then a suggestion
            await pilot.pause(0.05)
            if model is None:
                break
            if writer.engine is not None and writer.status.latency_ms is not None:
                first_suggestion = time.perf_counter() - opened
                break
        if model is not None and writer.engine is None:
            raise SystemExit("the model did not load")
        before_typing = writer.editor.text
        engine = writer.engine
        if engine is not None:
            original = engine.suggest

            def counted(*args, **kwargs):
                nonlocal runs
                runs += 1
                return original(*args, **kwargs)

            engine.suggest = counted
        editor = writer.editor
        done: list[float] = []
        original_edit = editor.edit

        def timed_edit(edit):
            result = original_edit(edit)
            done.append(time.perf_counter())
            return result

        editor.edit = timed_edit
        text = (TEXT * (chars // len(TEXT) + 1))[:chars]
        for ch in text:
            busy = any(w.group == "suggest" and w.is_running for w in app.workers)
            in_flight += busy
            before = len(done)
            key = {" ": "space", "\n": "enter"}.get(ch, ch)
            started = time.perf_counter()
            app.post_message(events.Key(key, ch))
            while len(done) == before:
                await asyncio.sleep(0.0005)
                if time.perf_counter() - started > 5:
                    raise SystemExit(f"key {key!r} did not reach the editor in 5 s (a dialog open?)")
            latencies.append((done[-1] - started) * 1000)
            await asyncio.sleep(max(0.0, rng.uniform(0.5, 1.5) * interval_ms / 1000 - latencies[-1] / 1000))
        await pilot.pause(0.2)
        assert editor.text == before_typing + text, "keys were lost"
        run_ms = engine.last_latency_ms if engine is not None else None
    return {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95), "max": max(latencies),
            "mean": statistics.fmean(latencies), "keys": len(latencies), "in_flight": in_flight, "runs": runs,
            "run_ms": run_ms, "shown_s": shown, "first_s": first_suggestion}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=300, help="characters to type (default 300)")
    parser.add_argument("--interval-ms", type=float, default=70, help="mean time between keys (default 70 ≈ 170 wpm)")
    parser.add_argument("--doc-mb", type=float, default=0, help="type at the end of a document this big (MB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "untrained-512x2.safetensors"
        make_model(path)
        document = None
        if args.doc_mb:
            document = Path(tmp) / "big.txt"
            paragraph = TEXT + "\n\n"
            document.write_text(paragraph * int(args.doc_mb * 1e6 / len(paragraph)), encoding="utf-8")
        for label, model in (("no model (Textual alone)", None), ("512×2 LSTM, app defaults", path)):
            # A fresh home each time: no settings, and no autosave of the last run to offer back.
            os.environ["CHARWRITER_HOME"] = tempfile.mkdtemp(prefix="home-", dir=tmp)
            r = asyncio.run(measure(model, args.chars, args.interval_ms, document=document))
            extra = (f"; {r['in_flight']}/{r['keys']} keys arrived during a suggestion run, {r['runs']} runs,"
                     f" the last took {r['run_ms']:.0f} ms" if model else "")
            if document is not None:
                first = f", first suggestions after {r['first_s']:.1f} s" if r["first_s"] else ""
                extra += f"; the {args.doc_mb:g} MB document was shown after {r['shown_s']:.1f} s{first}"
            print(f"{label:28s} keypress→document p50 {r['p50']:5.1f} ms  p95 {r['p95']:5.1f} ms  "
                  f"max {r['max']:6.1f} ms  ({r['keys']} keys{extra})")
    print("target: p95 ≤ 16 ms" + ("; first suggestions ≤ 2 s" if args.doc_mb else ""))


if __name__ == "__main__":
    main()

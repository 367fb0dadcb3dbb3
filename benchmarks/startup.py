"""Launch to first frame and launch to first suggestions of `charwriter write`, median of several fresh processes.

Each run starts a new Python process (imports included, as a user's launch), opens a short document with the
bundled model (or `--model`) through Textual's Pilot, and reports when the first frame was drawn and when the first
suggestions arrived, measured from the moment the parent started the process. The first run is cold (disk cache,
the precision probe when its answer is not cached yet); the median is over the warm ones.

    python benchmarks/startup.py [--runs 5] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import asyncio, json, os, sys, time
start = float(os.environ["STARTUP_T0"])
from charwriter.__main__ import make_app
from charwriter.screens.write import WriteScreen

shown, previewed = [], []
handler, preview_handler = WriteScreen.on_suggestions_ready, WriteScreen.on_preview_ready

def on_suggestions_ready(self, message):  # stamped at the refresh that draws them, not when a poll notices
    handler(self, message)
    if self.editor.continuations and not shown:
        self.call_after_refresh(lambda: shown or shown.append(time.time() - start))

def on_preview_ready(self, message):
    preview_handler(self, message)
    if self.editor.continuations and not previewed and not shown:
        self.call_after_refresh(lambda: previewed or previewed.append(time.time() - start))

WriteScreen.on_suggestions_ready = on_suggestions_ready
WriteScreen.on_preview_ready = on_preview_ready

async def main():
    app = make_app(sys.argv[1], sys.argv[2] or None)
    async with app.run_test(size=(100, 30)) as pilot:
        frame = time.time() - start
        writer = app.writer
        loading = writer.status.model
        for _ in range(600):
            await asyncio.sleep(0.05)  # a light watch: a busy poll would take the interpreter from the loading
            if shown:
                break
        grey = min(previewed + shown) if previewed + shown else None
        print(json.dumps({"frame": frame, "grey": grey, "preview": bool(previewed),
                          "suggestions": shown[0] if shown else None, "loading_shown": loading,
                          "precision": writer.engine.precision.precision if writer.engine else None}))

asyncio.run(main())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", default="", help="model name or path (default: the bundled model)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        document = Path(tmp) / "story.txt"
        document.write_text("The house was quiet and dark, and he thought of her as she had been that morning, "
                            "standing by the window with the letter in her hand. He", encoding="utf-8")
        env = dict(os.environ, CHARWRITER_HOME=os.environ.get("CHARWRITER_HOME", str(Path(tmp) / "home")))
        results = []
        for run in range(args.runs + 1):
            env["STARTUP_T0"] = repr(time.time())
            out = subprocess.run([sys.executable, "-c", CHILD, str(document), args.model], env=env,
                                 capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                raise SystemExit(f"run {run} failed:\n{out.stderr[-2000:]}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(result)
            label = "cold" if run == 0 else f"warm {run}"
            print(f"{label:7s} first frame {result['frame']:.2f} s  first grey text {result['grey']:.2f} s"
                  f" ({'the numpy preview' if result['preview'] else 'the engine'})  the engine's suggestions"
                  f" {result['suggestions']:.2f} s  (status while loading: {result['loading_shown']!r}; precision"
                  f" {result['precision']})")
        warm = results[1:]
        print(f"median of {len(warm)} warm runs: first frame {statistics.median(r['frame'] for r in warm):.2f} s,"
              f" first suggestions (grey text) {statistics.median(r['grey'] for r in warm):.2f} s   (target ≤ 1.5 s),"
              f" the engine's suggestions {statistics.median(r['suggestions'] for r in warm):.2f} s")


if __name__ == "__main__":
    main()

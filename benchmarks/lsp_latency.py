"""Suggestion latency over the Language Server Protocol, side by side with the engine called directly.

Types the keystrokes of `suggest_latency.py` (`--keystrokes` characters at the end of a `--doc-chars` document
taken from CORPUS) twice per keystroke: into an engine in this process (`Engine.suggest`, the text before the cursor
and the document), and into `charwriter lsp` over stdio, as an editor does (a `didChange` inserting the character,
then `textDocument/inlineCompletion` at the cursor, timed until its answer arrives). The two take turns, keystroke by
keystroke, so a busy moment on the machine hits both alike; the typing is repeated `--repeats` times with a fresh
engine and a fresh server, and each keystroke keeps its fastest time (as `timeit` does). The server runs with the
same settings as the engine (the defaults, adapting off, the precision chosen here) and a private CHARWRITER_HOME;
the grey text both give is compared on every keystroke.

    python benchmarks/lsp_latency.py ../shared/data/anna.txt [--model PATH] [--precision int8]

Target: the p95 over stdio at most 1.2 times the engine's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import replace

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

from charwriter.engine import Engine
from charwriter.lm.checkpoint import load_model
from charwriter.lm.data import read_text
from charwriter.lm.precision import cpu_summary
from charwriter.lm.registry import resolve_model
from charwriter.session import engine_settings
from charwriter.settings import Settings

URI = "file:///benchmark/draft.md"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def end_of(text: str) -> lsp.Position:
    """The position after `text` (UTF-16 columns, as LSP counts by default)."""
    last = text[text.rfind("\n") + 1 :]
    return lsp.Position(text.count("\n"), len(last.encode("utf-16-le")) // 2)


class Server:
    """`charwriter lsp` in a child process, driven as an editor drives it."""

    def __init__(self, model: str, precision: str, threads: int) -> None:
        self.command = [sys.executable, "-m", "charwriter", "lsp", "--model", model, "--precision", precision,
                        "--threads", str(threads)]
        self.client = LanguageClient("lsp-latency", "1")
        self.version = 1

    async def open(self, text: str) -> None:
        await self.client.start_io(*self.command)
        await self.client.initialize_async(lsp.InitializeParams(capabilities=lsp.ClientCapabilities(),
                                                                initialization_options={"adapt": False}))
        self.client.initialized(lsp.InitializedParams())
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            lsp.TextDocumentItem(uri=URI, language_id="markdown", version=1, text=text)))
        await self.inline(end_of(text))  # the model loads and the first answer reads the end of the context
        await self.inline(end_of(text))  # after the rest of the window is read (queued behind it)

    async def inline(self, position: lsp.Position) -> list[str]:
        answer = await self.client.text_document_inline_completion_async(lsp.InlineCompletionParams(
            context=lsp.InlineCompletionContext(trigger_kind=lsp.InlineCompletionTriggerKind.Automatic),
            text_document=lsp.TextDocumentIdentifier(uri=URI), position=position))
        return [item.insert_text for item in answer.items] if answer is not None else []

    async def type(self, at: lsp.Position, ch: str) -> tuple[float, list[str]]:
        """A keystroke: the change and the request at the cursor after it; (milliseconds, the items)."""
        self.version += 1
        after = lsp.Position(at.line + 1, 0) if ch == "\n" else lsp.Position(at.line, at.character + 1)
        started = time.perf_counter()
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(uri=URI, version=self.version),
            [lsp.TextDocumentContentChangePartial(range=lsp.Range(at, at), text=ch)]))
        items = await self.inline(after)
        return (time.perf_counter() - started) * 1000, items

    async def close(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


async def run(args) -> None:
    text = read_text(args.corpus)
    path = resolve_model(args.model)
    loaded = load_model(path)
    settings = replace(Settings(adapt=False), precision=args.precision)
    chosen = Engine(loaded, engine_settings(settings, args.threads)).precision  # "auto": measured here, once
    settings = replace(settings, precision=chosen.precision)
    config = loaded.config
    print(f"model {loaded.name}: {config.cell} {config.hidden_size}×{config.num_layers}, vocab {len(loaded.vocab)};"
          f" K={settings.suggestions} L={settings.max_length}; precision {chosen.precision}; torch threads"
          f" {args.threads}")
    print(f"CPU: {cpu_summary()}")
    end = args.doc_chars
    times = {"engine": None, "lsp": None}
    same = 0
    for repeat in range(max(1, args.repeats)):
        engine = Engine(loaded, engine_settings(settings, args.threads), chosen)
        engine.remember(text[:end])  # opening the document is not a keystroke
        engine.suggest(text[:end])
        server = Server(str(path), chosen.precision, args.threads)
        await server.open(text[:end])
        run_times = {"engine": [], "lsp": []}
        same = 0
        try:
            for i in range(args.keystrokes):
                before = text[: end + i]
                started = time.perf_counter()
                out = engine.suggest(text[: end + i + 1])
                run_times["engine"].append((time.perf_counter() - started) * 1000)
                ms, items = await server.type(end_of(before), text[end + i])
                run_times["lsp"].append(ms)
                typed = items[0][: len(items[0]) - len(out[0].text)] if items and out else ""
                same += bool(items and out and items[0] == typed + out[0].text)
        finally:
            await server.close()
        times = {name: run_times[name] if times[name] is None else list(map(min, times[name], run_times[name]))
                 for name in times}
    print(f"each keystroke's fastest of {max(1, args.repeats)} runs; {args.keystrokes} keystrokes at the end of"
          f" {end:,} chars")
    for name, label in (("engine", "engine, called directly"), ("lsp", "charwriter lsp, didChange + inline")):
        latencies = times[name]
        print(f"{label:36s} p50 {percentile(latencies, 0.5):5.1f} ms  p95 {percentile(latencies, 0.95):5.1f} ms"
              f"  max {max(latencies):5.1f} ms")
    ratio = percentile(times["lsp"], 0.95) / percentile(times["engine"], 0.95)
    print(f"ratio (lsp p95 / engine p95): {ratio:.2f}   (p50:"
          f" {percentile(times['lsp'], 0.5) / percentile(times['engine'], 0.5):.2f}); target p95 <= 1.2"
          f" -> {'met' if ratio <= 1.2 else 'NOT met'}")
    print(f"grey text the same over stdio as from the engine on {same}/{args.keystrokes} keystrokes (last run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--model", help="model name or path (default: the bundled model)")
    parser.add_argument("--keystrokes", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--doc-chars", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both sides (default 1)")
    parser.add_argument("--precision", default="auto", help="the engine's precision, both sides (default auto)")
    args = parser.parse_args()
    # The server reads the settings file: a private home gives it the defaults, as the engine here has.
    os.environ["CHARWRITER_HOME"] = tempfile.mkdtemp(prefix="charwriter-lsp-latency-")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

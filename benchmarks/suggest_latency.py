"""Suggestion latency, side by side: charwriter's engine against the seed's prime-then-sample, per keystroke.

Types `--keystrokes` characters at the end of a `--doc-chars` document taken from CORPUS and times each
keystroke until K suggestions of up to L characters are ready (`Engine.suggest`), and separately the
keystrokes where the window start moves on (every N characters: the engine's lanes make these cost one batched
step too). The seed's way, timed on a few
keystrokes only (each costs seconds): from the zero state, prime the same context window one `nn.LSTM` call per
character with a numpy one-hot input (the notebook's `predict`), then sample K continuations of L characters, one
call per character (kinder to the seed than re-priming for each continuation). Then times the first suggestions
after opening a 2 MB document (`set_context(quick=True)`) and the full-window refinement after them.

    python benchmarks/suggest_latency.py ../shared/data/anna.txt [--model PATH]

Speed does not depend on the weights: without a model file it builds an untrained 512×2 LSTM with the corpus's
vocabulary.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from charwriter.engine import Engine, EngineSettings
from charwriter.lm.checkpoint import LoadedModel, load_model
from charwriter.lm.data import build_vocab, read_text
from charwriter.lm.model import CharRNN, ModelConfig


SEED_K = 3  # continuations the seed's way is asked for: the three the first version showed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@torch.no_grad()
def seed_suggest(model: CharRNN, vocab: list[str], context: str, k: int, length: int, top_k: int) -> list[str]:
    """The notebook's `sample`: one nn.LSTM call per character from the zero state, numpy one-hot, top-k choice."""
    lookup = {ch: i for i, ch in enumerate(vocab)}
    size = len(vocab)

    def predict(code: int, h):
        x = np.zeros((1, 1, size), dtype=np.float32)
        x[0, 0, code] = 1.0
        out, h = model.rnn(torch.from_numpy(x), h)
        p = F.softmax(model.head(out.reshape(-1, model.config.hidden_size)), dim=1).numpy().squeeze()
        top = p.argsort()[-top_k:]
        return int(np.random.choice(top, p=p[top] / p[top].sum())), h

    h = model.init_state(1)
    nxt = 0
    for ch in context:
        nxt, h = predict(lookup[ch], h)
    out = []
    for _ in range(k):
        row, code, hr = [], nxt, h
        for _ in range(length):
            row.append(vocab[code])
            code, hr = predict(code, hr)
        out.append("".join(row))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--model", help="a 512×2 model file (default: an untrained one with the corpus's vocabulary)")
    parser.add_argument("--keystrokes", type=int, default=200)
    parser.add_argument("--doc-chars", type=int, default=20_000)
    parser.add_argument("--seed-keystrokes", type=int, default=5)
    parser.add_argument("--k", type=int, default=EngineSettings.k, help="continuations (default: the app's)")
    parser.add_argument("--max-len", type=int, default=EngineSettings.max_len)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the engine's setting; default 1)")
    args = parser.parse_args()

    text = read_text(args.corpus)
    if args.model:
        loaded = load_model(args.model)
    else:
        torch.manual_seed(0)
        vocab = build_vocab(text)
        model = CharRNN(ModelConfig(vocab_size=len(vocab))).eval()
        loaded = LoadedModel(model, vocab, model.config)
    settings = EngineSettings(k=args.k, max_len=args.max_len, seed=0, threads=args.threads)
    engine = Engine(loaded, settings)
    config = loaded.config
    print(f"model {loaded.name}: {config.cell} {config.hidden_size}×{config.num_layers}, vocab {len(loaded.vocab)};"
          f" K={settings.k} L={settings.max_len} C={settings.context_chars} N={settings.state_every};"
          f" torch threads {torch.get_num_threads()}")

    end = args.doc_chars

    def type_keys(engine: Engine) -> tuple[list[float], list[float]]:
        engine.remember(text[:end])  # open the document: not a keystroke
        engine.suggest(text[:end])
        latencies, at_boundary = [], []
        for i in range(args.keystrokes):
            started = time.perf_counter()
            engine.suggest(text[: end + i + 1])
            latencies.append((time.perf_counter() - started) * 1000)
            if engine.window_start(end + i + 1) != engine.window_start(end + i):
                at_boundary.append(latencies[-1])
        return latencies, at_boundary

    results = {}
    for memory in (False, True):  # the same keystrokes with the document memory off, then on
        engine = Engine(loaded, replace(settings, memory=memory))
        latencies, at_boundary = type_keys(engine)
        results[memory] = latencies
        p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
        print(f"engine, memory {'on ' if memory else 'off'}, {args.keystrokes} keystrokes at the end of {end:,} chars:"
              f" p50 {p50:.1f} ms  p95 {p95:.1f} ms  p99 {percentile(latencies, 0.99):.1f} ms"
              f"  max {max(latencies):.1f} ms")
        if at_boundary:
            print(f"  of which {len(at_boundary)} moved the window start on: "
                  + "  ".join(f"{ms:.1f}" for ms in at_boundary) + " ms")
    p50, p95 = percentile(results[True], 0.5), percentile(results[True], 0.95)
    print(f"ratio (memory on p95 / memory off p95): {p95 / percentile(results[False], 0.95):.2f}"
          f"   (p50: {p50 / percentile(results[False], 0.5):.2f})")

    window = engine.normalise(engine.window)
    np.random.seed(0)
    seed_times = []
    for i in range(args.seed_keystrokes):
        started = time.perf_counter()
        seed_suggest(loaded.model, loaded.vocab, window, SEED_K, settings.max_len, settings.top_k or 5)
        seed_times.append((time.perf_counter() - started) * 1000)
    seed_p50 = statistics.median(seed_times)
    print(f"seed sample(), {SEED_K} × {settings.max_len} chars, {args.seed_keystrokes} keystrokes over the same"
          f" {len(window)}-char context:"
          f" p50 {seed_p50:.0f} ms  max {max(seed_times):.0f} ms")
    print(f"ratio (seed p50 / engine p50): {seed_p50 / p50:.0f}×   (seed p50 / engine p95): {seed_p50 / p95:.0f}×")

    fresh = Engine(loaded, settings)
    document = (text * (1 + 2_000_000 // len(text)))[:2_000_000]
    started = time.perf_counter()
    fresh.set_context(document, quick=True)
    first = fresh.suggest()
    quick_ms = (time.perf_counter() - started) * 1000
    quick_chars = len(fresh.window)
    started = time.perf_counter()
    fresh.suggest(document)
    full_ms = (time.perf_counter() - started) * 1000
    print(f"opening a {len(document):,}-char document: first suggestions after {quick_ms:.0f} ms"
          f" ({quick_chars}-char quick context, {len(first)} suggestions);"
          f" full {settings.context_chars}-char window and suggestions {full_ms:.0f} ms later")
    started = time.perf_counter()
    base = fresh.memory.build(document)  # the app does this on a worker thread, outside the engine's lock
    fresh.memory.install(document, base)
    build_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    fresh.suggest(document + " ")
    print(f"  its document memory built off the event loop in {build_ms:.0f} ms (suggestions come from the model"
          f" alone until then); the next keystroke with it {(time.perf_counter() - started) * 1000:.0f} ms")


if __name__ == "__main__":
    main()

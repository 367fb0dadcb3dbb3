"""Suggestion latency, side by side: charwriter's engine against the seed's prime-then-sample, per keystroke.

Types `--keystrokes` characters at the end of a `--doc-chars` document taken from CORPUS and times each
keystroke until K suggestions of up to L characters are ready (`Engine.suggest`), and separately the
keystrokes where the window start moves on (every N characters: the engine's lanes make these cost one batched
step too). Each keystroke is timed on every engine in turn, and the whole typing is done `--repeats` times with
fresh engines: a keystroke's time is its fastest of those runs (as `timeit` does), since a busy moment on a shared
machine only ever adds time, and the runs are otherwise the same work. The memory's cost is then timed again with
its engines alone (memory off, on, and on with every character stepped instead of reading its guesses in one run;
at the chosen precision), as in the app, where one engine runs: the fp32
engines typing between their keystrokes stream their weights through the caches (28 MB for a 768×2 model), which
evicts the memory's data too (both figures are printed). The seed's way, timed on a few
keystrokes only (each costs seconds): from the zero state, prime the same context window one `nn.LSTM` call per
character with a numpy one-hot input (the notebook's `predict`), then sample K continuations of L characters, one
call per character (kinder to the seed than re-priming for each continuation). Then times the first suggestions
after opening a 2 MB document (`set_context(quick=True)`) and the full-window refinement after them.

    python benchmarks/suggest_latency.py ../shared/data/anna.txt [--model PATH] [--baseline MODEL]

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
from charwriter.lm.registry import resolve_model
from charwriter.lm.data import build_vocab, read_text
from charwriter.lm.model import CharRNN, ModelConfig
from charwriter.lm.precision import cpu_summary


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
    parser.add_argument("--model", help="a model name or file (default: an untrained 512×2 with the corpus's"
                        " vocabulary)")
    parser.add_argument("--keystrokes", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="type the keystrokes this many times, fresh engines"
                        " each time; a keystroke's time is its fastest (default 3)")
    parser.add_argument("--doc-chars", type=int, default=20_000)
    parser.add_argument("--seed-keystrokes", type=int, default=5)
    parser.add_argument("--k", type=int, default=EngineSettings.k, help="continuations (default: the app's)")
    parser.add_argument("--max-len", type=int, default=EngineSettings.max_len)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the engine's setting; default 1)")
    parser.add_argument("--precision", default="auto", help="the engine's precision, against fp32 (default auto)")
    parser.add_argument("--baseline", metavar="MODEL", help="also time this model's fp32 engine (memory on) in the same"
                        " run, for example the bundled 512×2 against a bigger model")
    args = parser.parse_args()

    text = read_text(args.corpus)
    if args.model:
        loaded = load_model(resolve_model(args.model))
    else:
        torch.manual_seed(0)
        vocab = build_vocab(text)
        model = CharRNN(ModelConfig(vocab_size=len(vocab))).eval()
        loaded = LoadedModel(model, vocab, model.config)
    settings = EngineSettings(k=args.k, max_len=args.max_len, seed=0, threads=args.threads)
    torch.set_num_threads(args.threads)
    config = loaded.config
    print(f"model {loaded.name}: {config.cell} {config.hidden_size}×{config.num_layers}, vocab {len(loaded.vocab)};"
          f" K={settings.k} L={settings.max_len} C={settings.context_chars} N={settings.state_every};"
          f" torch threads {torch.get_num_threads()}")

    end = args.doc_chars
    chosen = Engine(loaded, replace(settings, precision=args.precision))
    choice = chosen.precision
    print(f"CPU: {cpu_summary()}")
    print(f"precision: {choice.reason}" + (
        "; probe, one step at 1 and 10 rows: " + ", ".join(f"{p} {us:.0f} µs" for p, us in choice.step_us.items())
        if choice.step_us else ""))

    def type_keys(make_engines) -> tuple[dict, dict]:
        """Each keystroke is timed on every engine in turn, so a busy moment on the machine hits them alike; the
        typing is repeated with fresh engines and each keystroke keeps its fastest time."""
        times, ghosts = None, None
        for _ in range(max(1, args.repeats)):
            engines = make_engines()
            for engine in engines.values():
                engine.remember(text[:end])  # open the document: not a keystroke
                engine.suggest(text[:end])
            run = {name: [] for name in engines}
            shown = {name: [] for name in engines}
            for i in range(args.keystrokes):
                for name, engine in engines.items():
                    started = time.perf_counter()
                    out = engine.suggest(text[: end + i + 1])
                    run[name].append((time.perf_counter() - started) * 1000)
                    shown[name].append(out[0].text if out else "")
            if times is None:
                times, ghosts = run, shown
            else:
                times = {name: [min(a, b) for a, b in zip(times[name], run[name])] for name in times}
                if shown != ghosts:
                    print("note: a repeat gave other grey text on the same keystrokes (timings compare unlike work)")
        return times, ghosts, engines

    def line(label: str, latencies: list[float]) -> None:
        print(f"{label:34s} {args.keystrokes} keystrokes at the end of {end:,} chars: p50"
              f" {percentile(latencies, 0.5):5.1f} ms  p95 {percentile(latencies, 0.95):5.1f} ms  p99"
              f" {percentile(latencies, 0.99):5.1f} ms  max {max(latencies):5.1f} ms")

    baseline = load_model(resolve_model(args.baseline)) if args.baseline else None

    def make_engines() -> dict:
        engines = {}
        for memory in (False, True):
            engines[("fp32", memory)] = Engine(loaded, replace(settings, memory=memory, precision="fp32"))
            if choice.precision != "fp32":
                engines[(choice.precision, memory)] = Engine(loaded, replace(settings, memory=memory,
                                                                            precision=choice.precision))
        if baseline is not None:
            engines[("baseline", True)] = Engine(baseline, replace(settings, memory=True, precision="fp32"))
        return engines

    times, ghosts, engines = type_keys(make_engines)
    print(f"each keystroke's fastest of {max(1, args.repeats)} runs")
    base_times = times.pop(("baseline", True), None)
    for (precision, memory), latencies in times.items():
        line(f"engine {precision}, memory {'on' if memory else 'off'}", latencies)
    p50, p95 = percentile(times[(choice.precision, True)], 0.5), percentile(times[(choice.precision, True)], 0.95)
    off = times[(choice.precision, False)]
    alone = {False: replace(settings, memory=False), True: settings, "stepped": replace(settings, guesses=False)}
    pair, _, last = type_keys(lambda: {name: Engine(loaded, replace(value, precision=choice.precision))
                                       for name, value in alone.items()})
    line(f"engine {choice.precision}, memory off, alone", pair[False])
    line(f"engine {choice.precision}, memory on, alone", pair[True])
    line(f"engine {choice.precision}, memory on, no guesses", pair["stepped"])
    guessed, gain = last[True].guessed, percentile(pair[True], 0.95) / percentile(pair["stepped"], 0.95)
    print(f"the memory's guesses (last repeat): {guessed['runs']} runs, {guessed['chars']} characters guessed,"
          f" {guessed['taken']} taken into the grey text, {guessed['again']} runs again for the state before a guess"
          f" left; the memory on p95 with them / without: {gain:.2f}")
    print(f"ratio (memory on p95 / memory off p95): {percentile(pair[True], 0.95) / percentile(pair[False], 0.95):.2f}"
          f"   (p50: {percentile(pair[True], 0.5) / percentile(pair[False], 0.5):.2f}), at {choice.precision}, the two"
          f" engines alone; with the fp32 engines typing between keystrokes: {p95 / percentile(off, 0.95):.2f}"
          f" (p50: {p50 / percentile(off, 0.5):.2f})")
    fp32_on, fp32_off = times[("fp32", True)], times[("fp32", False)]
    print(f"ratio (fp32 engine p50 / engine p50): {percentile(fp32_on, 0.5) / p50:.2f}   (memory off:"
          f" {percentile(fp32_off, 0.5) / percentile(off, 0.5):.2f}; p95: {percentile(fp32_on, 0.95) / p95:.2f})"
          f", engine at {choice.precision}")
    if base_times is not None:
        line(f"baseline {baseline.name} ({baseline.config.hidden_size}×{baseline.config.num_layers}) fp32, memory on",
             base_times)
        print(f"ratio (baseline fp32 p50 / engine p50): {percentile(base_times, 0.5) / p50:.2f}   (p95:"
              f" {percentile(base_times, 0.95) / p95:.2f}): above 1, {loaded.name} at {choice.precision} is faster")
    same = sum(a == b for a, b in zip(ghosts[("fp32", True)], ghosts[(choice.precision, True)]))
    print(f"grey text the same as the fp32 engine's on {same}/{args.keystrokes} keystrokes"
          f" ({same / args.keystrokes:.1%})")
    engine = engines[(choice.precision, True)]
    settings = replace(settings, precision=choice.precision)

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

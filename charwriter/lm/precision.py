"""Which precision the inference step runs at on this machine, measured rather than assumed.

`choose(model, ...)` builds the step at each precision this torch offers (`fast.PRECISIONS`), checks that each
reduced one agrees with fp32 on the model's own text (mean KL divergence per character and the share of positions
where the likeliest character is the same), times a few steps at the batch sizes the editor uses (one row, and the
beam's rows), and picks the fastest faithful one. fp32 is the fallback and wins unless another is clearly faster
in the same measurement. The answer is cached per model file, CPU and torch version, so the probe (a few hundred
milliseconds, in the model-loading worker) runs once.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import torch

from charwriter.lm.fast import PRECISIONS, FastRNN, has_vnni
from charwriter.lm.model import CharRNN

CHOICES = ("auto",) + PRECISIONS
"""What `--precision` and the setting accept."""

MAX_KL = 0.002
"""Nats per character a reduced precision may differ from fp32 by (mean KL on the probe's text): the validation
loss moves by about this much at most (the issue's budget is 0.003)."""
MIN_AGREEMENT = 0.97
"""Share of the probe's positions where the likeliest next character must be fp32's."""
MIN_GAIN = 1.15
"""A reduced precision must be this much faster than fp32 in the probe's own timing to be chosen (noise margin)."""
PROBE_CHARS = 40


@dataclass
class Choice:
    precision: str
    reason: str
    step_us: dict[str, float] = field(default_factory=dict)  # per precision: probe time (µs) for one step per batch
    kl: dict[str, float] = field(default_factory=dict)
    agreement: dict[str, float] = field(default_factory=dict)


@lru_cache(1)
def cpu_summary() -> str:
    """The CPU's model name and the features that decide reduced-precision speed, e.g. 'Intel(R) Xeon(R) ... ·
    AVX512 · avx512_bf16 amx_bf16 avx512_vnni'."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name in ("", platform.processor() or platform.machine()):
                name = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    wanted = ("avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni", "avx_vnni", "avx512_fp16", "bf16", "i8mm")
    capability = torch.backends.cpu.get_cpu_capability()
    return " · ".join(p for p in (name, capability, " ".join(f for f in wanted if f in flags)) if p)


def _build(model: CharRNN, precision: str) -> FastRNN | None:
    """The step at this precision, or None where this torch cannot run it (no fbgemm packing, say)."""
    try:
        fast = FastRNN(model, precision)
        with torch.inference_mode():
            fast.step(torch.zeros(1, dtype=torch.long))
    except (RuntimeError, NotImplementedError):
        return None
    return fast


def available(model: CharRNN) -> list[str]:
    """The precisions whose step can be built here."""
    return [p for p in PRECISIONS if _build(model, p) is not None]


def _probe_text(fast: FastRNN, vocab_size: int, start: int) -> torch.Tensor:
    """The fp32 model's own greedy text from `start`, as codes: text it finds natural, without shipping any."""
    codes = [start]
    with torch.inference_mode():
        logits, state = fast.step(torch.tensor([start]))
        for _ in range(PROBE_CHARS - 1):
            nxt = int(logits.argmax(-1))
            codes.append(nxt)
            logits, state = fast.step(torch.tensor([nxt]), state)
    return torch.tensor(codes)


def _log_probs(fast: FastRNN, codes: torch.Tensor) -> torch.Tensor:
    out = []
    with torch.inference_mode():
        state = None
        for code in codes.tolist():
            logits, state = fast.step(torch.tensor([code]), state)
            out.append(torch.log_softmax(logits.float(), -1))
    return torch.cat(out)


def _time_step(fast: FastRNN, batches: tuple[int, ...], repeats: int = 3, steps: int = 4) -> float:
    """µs for one step at each batch size, summed; the best of `repeats` (the machine may be busy)."""
    total = 0.0
    with torch.inference_mode():
        for batch in batches:
            idx = torch.zeros(batch, dtype=torch.long)
            state = fast.init_state(batch)
            fast.step(idx, state)  # first use: buffers, packed copies
            best = float("inf")
            for _ in range(repeats):
                started = time.perf_counter()
                for _ in range(steps):
                    fast.step(idx, state)
                best = min(best, (time.perf_counter() - started) / steps)
            total += best * 1e6
    return total


def probe(model: CharRNN, start: int = 0, batches: tuple[int, ...] = (1, 10)) -> Choice:
    """Measure every precision available here and choose (see the module docstring)."""
    reference = FastRNN(model, "fp32")
    codes = _probe_text(reference, model.config.vocab_size, start)
    ref_logp = _log_probs(reference, codes)
    choice = Choice("fp32", "fp32: no reduced precision is faster here")
    choice.step_us["fp32"] = _time_step(reference, batches)
    for precision in PRECISIONS[1:]:
        fast = _build(model, precision)
        if fast is None:
            continue
        logp = _log_probs(fast, codes)
        kl = float((ref_logp.exp() * (ref_logp - logp)).sum(-1).mean())
        agree = float((logp.argmax(-1) == ref_logp.argmax(-1)).float().mean())
        choice.kl[precision], choice.agreement[precision] = kl, agree
        if kl > MAX_KL or agree < MIN_AGREEMENT:
            continue  # not faithful enough for this model: never chosen, whatever its speed
        choice.step_us[precision] = _time_step(fast, batches)
    fastest = min(choice.step_us, key=choice.step_us.get)
    if fastest != "fp32" and choice.step_us["fp32"] >= MIN_GAIN * choice.step_us[fastest]:
        ratio = choice.step_us["fp32"] / choice.step_us[fastest]
        choice.precision = fastest
        choice.reason = f"{fastest}: {ratio:.1f}× fp32's step here, KL {choice.kl[fastest]:.5f} nats/char"
    return choice


def _cache_path() -> Path:
    from charwriter import paths

    return paths.cache_dir() / "precision.json"


def _cache_key(model_path: Path, batches: tuple[int, ...]) -> str | None:
    try:
        st = model_path.stat()
    except OSError:
        return None
    raw = (f"{model_path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{cpu_summary()}|vnni={has_vnni()}|"
           f"{torch.__version__}|{batches}")
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def choose(model: CharRNN, model_path: Path | None = None, start: int = 0,
           batches: tuple[int, ...] = (1, 10)) -> Choice:
    """`probe`'s choice, from the cache when this model file was probed on this machine before."""
    key = _cache_key(model_path, batches) if model_path is not None else None
    cache: dict = {}
    if key is not None:
        try:
            cache = json.loads(_cache_path().read_text(encoding="utf-8"))
            hit = cache.get(key) if isinstance(cache, dict) else None
            if isinstance(hit, dict) and hit.get("precision") in PRECISIONS:
                return Choice(**{k: hit[k] for k in ("precision", "reason", "step_us", "kl", "agreement") if k in hit})
        except (OSError, ValueError, TypeError):
            cache = {}
    choice = probe(model, start, batches)
    if key is not None:
        from charwriter import atomic

        cache = cache if isinstance(cache, dict) else {}
        cache[key] = asdict(choice)
        try:
            path = _cache_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic.atomic_write_text(path, json.dumps(dict(list(cache.items())[-64:]), indent=1))
        except OSError:
            pass  # no cache: the next load probes again
    return choice


def resolve(requested: str, model: CharRNN, model_path: Path | None = None, start: int = 0,
            batches: tuple[int, ...] = (1, 10)) -> Choice:
    """`requested` ("auto" or a precision) as a `Choice`; a precision this torch cannot run is one clear error."""
    if requested == "auto":
        return choose(model, model_path, start, batches)
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r} (one of {', '.join(CHOICES)})")
    if requested != "fp32" and requested not in available(model):
        from charwriter.errors import UserError

        raise UserError(f"precision {requested} is not available with this torch build on this CPU — use "
                        f"--precision auto or fp32")
    return Choice(requested, f"{requested}: as asked")


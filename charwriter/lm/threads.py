"""How many torch threads a command uses: what the user asked for, or what a short measurement says pays off now.

Two OpenMP threads on two cores that something else is also using spin against each other: a hidden-64 model
trained 25× slower with two threads than with one while other work ran. So the default is measured at start: a
matmul shaped like the model's own step (batch × hidden against hidden × 4·hidden) is timed at one thread and at
every usable core, and the cores are used only if that is clearly faster right now (a small model, or a machine
already busy, gets one thread).
"""

from __future__ import annotations

import os
import time

GAIN = 1.3
"""All cores must make the probe's matmul this much faster than one thread to be used."""
PROBE_SECONDS = 0.03
"""Each measurement's length; the probe takes four (one thread, all, one, all): about a tenth of a second."""


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _time_matmul(a, b, threads: int, seconds: float = PROBE_SECONDS) -> float:
    """µs per matmul at this many threads, averaged over `seconds`: long enough to span the scheduler's time
    slices, so that a core another program holds shows up as the stall it will be."""
    import torch

    torch.set_num_threads(threads)
    torch.mm(a, b)  # the pool starts
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        torch.mm(a, b)
        count += 1
    return elapsed / count * 1e6


def choose_threads(requested: int | None, batch: int, hidden: int, processes: int = 1) -> tuple[int, str]:
    """Set torch's thread count and say why: (threads, a few words for the progress line)."""
    import torch  # here, so that `usable_cores` stays importable without torch (the app's run service uses it)

    if requested:
        torch.set_num_threads(requested)
        return requested, f"{requested} thread{'s' if requested > 1 else ''} (--threads)"
    cores = max(1, usable_cores() // max(1, processes))
    if cores == 1:
        torch.set_num_threads(1)
        return 1, "1 thread (one core" + (" per process)" if processes > 1 else ")")
    generator = torch.Generator().manual_seed(0)  # never the global one: a run's own random numbers stay its own
    a = torch.randn(max(1, batch), hidden, generator=generator)
    b = torch.randn(hidden, 4 * hidden, generator=generator)
    runs = [_time_matmul(a, b, n) for n in (1, cores, 1, cores)]
    one, many = min(runs[0::2]), max(runs[1::2])  # all cores' worse: a busy moment is what a run would meet
    threads = cores if one >= GAIN * many else 1
    torch.set_num_threads(threads)
    return threads, (f"{threads} thread{'s' if threads > 1 else ''} (measured: a {max(1, batch)}×{hidden} step matmul"
                     f" {one:.0f} µs on 1 thread, {many:.0f} µs on {cores})")

"""Data-parallel training under torchrun, on the CPU with the gloo backend."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import make_text

ARGS = ["--hidden-size", "16", "--num-layers", "2", "--dropout", "0", "--batch-size", "8", "--seq-len", "16",
        "--epochs", "1", "--lr", "5e-3", "--eval-every", "10", "--sample-length", "5", "--events", "-"]


def train(args, env, processes=1):
    if processes == 1:
        cmd = [sys.executable, "-m", "charwriter", "train", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
               "-m", "charwriter", "train", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def curves(events):
    steps = {e["step"]: e["loss"] for e in events if e["type"] == "step"}
    vals = {e["step"]: e["val_loss"] for e in events if e["type"] == "val"}
    return steps, vals


def assert_close(a: dict, b: dict, tol=2e-3):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=tol), (k, a[k], b[k])


def test_two_processes_match_one_and_resume_with_either(tmp_path, isolated_home):
    corpus = tmp_path / "c.txt"
    corpus.write_text(make_text(12_000))
    env = dict(os.environ, CHARWRITER_HOME=str(isolated_home), OMP_NUM_THREADS="1")
    single = train([str(corpus), *ARGS, "--out", str(tmp_path / "one")], env)
    double = train([str(corpus), *ARGS, "--out", str(tmp_path / "two")], env, processes=2)
    assert double[0]["processes"] == 2 and len([e for e in double if e["type"] == "config"]) == 1
    steps1, vals1 = curves(single)
    steps2, vals2 = curves(double)
    assert len(steps1) > 40
    assert_close(steps1, steps2)
    assert_close(vals1, vals2)

    # Stop a 2-process run mid-epoch, then resume it with 2 processes and, from a copy, with 1.
    stop_at = len(steps1) // 2 + 3
    part = train([str(corpus), *ARGS, "--out", str(tmp_path / "part"), "--max-steps", str(stop_at)], env, 2)
    assert part[-1]["reason"] == "max-steps" and part[-1]["step"] == stop_at
    shutil.copytree(tmp_path / "part", tmp_path / "part1")
    for run, processes in (("part", 2), ("part1", 1)):
        resumed = train(["--resume", str(tmp_path / run), "--events", "-"], env, processes)
        assert resumed[0]["resumed_at_step"] == stop_at and resumed[-1]["reason"] == "finished"
        steps, vals = curves(resumed)
        assert_close(steps, {k: v for k, v in steps1.items() if k > stop_at})
        assert_close(vals, {k: v for k, v in vals1.items() if k > stop_at})

"""The suggestions of the bundled models, held to a reference: a change that was meant to leave them alone (a
refactor, a faster step) must give the same texts and the same scores to their last printed digit.

A writer types passages of anna.txt and Pride and Prejudice after the part of the book just before them (the
document memory on, the app's default settings, a seeded engine): each keystroke asks for suggestions, the writer
takes the grey text when it is what comes next and now and then deletes two characters. The contexts and the
suggestions they gave when the reference was made live in `golden/suggestions.json`, one run per precision this
CPU offers; a precision (or an int8 kernel) the reference lacks is skipped with the reason.

Each keystroke's suggestions are kept as a digest of their printed texts and scores. The suite compares a sample
that takes seconds: each precision types its own passage for `QUICK` keystrokes. `CHARWRITER_GOLDEN=full` compares
every passage at every precision for all `KEYSTROKES` (half a minute per precision and passage on one core): run it
after any change to the engine or the model's step.

Make the reference again, only after a change meant to alter the suggestions:

    python tests/test_golden.py ../shared/data/anna.txt ../shared/data/pride-and-prejudice.txt
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

REFERENCE = Path(__file__).parent / "golden" / "suggestions.json"
KEYSTROKES = 150  # per passage
QUICK = 30  # keystrokes per passage compared by default
FULL = os.environ.get("CHARWRITER_GOLDEN") == "full"
HISTORY = 1_500  # characters of the book before a passage: the document, for the memory and the window
DELETE_EVERY = 30  # every so many keystrokes the writer deletes two characters (an edit, not only typing)
DIGITS = 4  # a score as it is kept and compared: mean log-probability per character, nats
VARIANTS = {"greedy-ghost": ({"ghost": "greedy"}, False, 30), "resample": ({}, True, 20)}
"""Runs on the first passage at fp32 only: the first version's ghost text, kept for the benchmarks, and Ctrl+R's
resampled grey text (name -> settings changed, resample, keystrokes; the sample compares a third of them: the greedy
rows cost 0.4 s a keystroke)."""


def kernel(precision: str) -> str:
    """The reference's key for a precision: int8 runs another kernel without VNNI, and bf16 rounds otherwise where
    the CPU emulates it (fp32 and fp16 gave the same digests with torch, oneDNN and MKL held to AVX2)."""
    from charwriter.lm.fast import has_vnni
    from charwriter.lm.train import native_bf16_cpu

    if precision == "int8":
        return f"int8-{'vnni' if has_vnni() else '7bit'}"
    if precision == "bf16":
        return "bf16" if native_bf16_cpu() else "bf16-emulated"
    return precision


def settings(precision: str, **changes):
    """The app's default settings (the user's `Settings` as the app hands them to the engine), one thread, seeded."""
    from charwriter.session import engine_settings
    from charwriter.settings import Settings

    return replace(engine_settings(Settings(precision=precision), threads=1), seed=0, **changes)


def typed(engine, history: str, target: str, keystrokes: int, resample: bool = False) -> tuple[list, int]:
    """Each keystroke's suggestions (their `digest`), and how much of `target` the writer got through."""
    engine.remember(history)
    out, done = [], 0
    for i in range(keystrokes):
        suggestions = engine.suggest(history + target[:done], resample=resample)
        out.append(digest(suggestions))
        grey = suggestions[0].text if suggestions else ""
        if i % DELETE_EVERY == DELETE_EVERY - 1 and done >= 2:
            done -= 2
        elif grey and target[done:].startswith(grey):
            done += len(grey)
        else:
            done += 1
    return out, done


def digest(suggestions) -> str:
    """A keystroke's suggestions as printed, in 8 hex digits: texts, scores, the first word's log-probability and
    whether the grey text is drawn."""
    printed = json.dumps([[s.text, f"{s.mean_logprob:.{DIGITS}f}", f"{s.first_word:.{DIGITS}f}", s.inline]
                          for s in suggestions], ensure_ascii=False)
    return hashlib.sha256(printed.encode()).hexdigest()[:8]


def run(passage: dict, precision: str, changes: dict | None = None, resample: bool = False,
        keystrokes: int = KEYSTROKES) -> tuple[list, int]:
    from charwriter.engine import Engine

    engine = Engine(loaded(passage["model"]), settings(precision, **(changes or {})))
    return typed(engine, passage["history"], passage["target"], keystrokes, resample)


_LOADED: dict = {}


def loaded(name: str):
    from charwriter.lm.checkpoint import load_model
    from charwriter.lm.registry import resolve_model

    if name not in _LOADED:
        _LOADED[name] = load_model(resolve_model(name))
    return _LOADED[name]


def _reference() -> dict:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


def _runs() -> list:
    from charwriter.lm import precision

    if not REFERENCE.exists():  # being made (`python tests/test_golden.py`)
        return []
    offered = precision.available(loaded("english").model)
    reference = _reference()["runs"]
    params = []
    for name in offered:
        key = kernel(name)
        marks = [] if key in reference else [pytest.mark.skip(reason=f"the reference has no {key} run (made on"
                                                              f" {_reference()['machine']})")]
        params.append(pytest.param(name, marks=marks, id=key))
    return params


def first_difference(got: list, want: list, name: str) -> str | None:
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return f"{name}: keystroke {i} gives other suggestions than the reference's (digest {a}, not {b})"
    return None if len(got) == len(want) else f"{name}: {len(got)} keystrokes, the reference has {len(want)}"


@pytest.mark.parametrize("precision", _runs())
def test_the_suggestions_are_the_reference_ones(precision):
    reference = _reference()
    want = {name: digests.split() for name, digests in reference["runs"][kernel(precision)].items()}
    keystrokes = KEYSTROKES if FULL else QUICK
    passages = reference["passages"]
    if not FULL:  # each precision its own passage: every passage and every step still checked once
        passages = [passages[sorted(reference["runs"]).index(kernel(precision)) % len(passages)]]
    for passage in passages:
        got, _ = run(passage, precision, keystrokes=keystrokes)
        problem = first_difference(got, want[passage["name"]][:keystrokes], f"{passage['name']} at {precision}")
        assert problem is None, problem


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_other_ghost_texts_are_the_reference_ones(variant):
    reference = _reference()
    changes, resample, keystrokes = VARIANTS[variant]
    keystrokes = keystrokes if FULL else keystrokes // 3
    got, _ = run(reference["passages"][0], "fp32", changes, resample, keystrokes)
    problem = first_difference(got, reference["variants"][variant].split()[:keystrokes], variant)
    assert problem is None, problem


def capture(anna: str, pride: str) -> dict:
    """The reference: two passages of each book from its held-out last tenth (as benchmarks/keystrokes.py takes
    them), the general model on one and the Anna Karenina model on the other, at every precision offered here."""
    from charwriter.lm import precision
    from charwriter.lm.data import gutenberg_body, read_text
    from charwriter.lm.precision import cpu_summary

    passages = []
    for label, path in (("anna", anna), ("pride", pride)):
        text = gutenberg_body(read_text(path))
        split = int(len(text) * 0.9)
        for i, model in enumerate(("english", "anna-karenina")):
            start = split + int((i + 0.5) * (len(text) - split) / 2)
            passages.append({"name": f"{label}-{i + 1}", "model": model, "history": text[start - HISTORY : start],
                             "target": text[start : start + 8 * KEYSTROKES]})
    runs = {}
    for name in precision.available(loaded("english").model):
        runs[kernel(name)] = {}
        for passage in passages:
            digests, done = run(passage, name)
            runs[kernel(name)][passage["name"]] = " ".join(digests)
            passage["needed"] = max(passage.get("needed", 0), done + 1)
        print(f"{kernel(name)}: done", flush=True)
    variants = {name: " ".join(run(passages[0], "fp32", changes, resample, keystrokes)[0])
                for name, (changes, resample, keystrokes) in VARIANTS.items()}
    for passage in passages:  # only what the writer reached (and the character after it)
        passage["target"] = passage["target"][: passage.pop("needed") + 1]
    return {"machine": f"{cpu_summary()}, torch {torch.__version__}", "passages": passages, "runs": runs,
            "variants": variants}


if __name__ == "__main__":
    torch.set_num_threads(1)
    made = capture(*sys.argv[1:3])
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(json.dumps(made, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{REFERENCE}: {REFERENCE.stat().st_size:,} bytes")

"""The bundled models (the general English one, the default, and the seed's Anna Karenina one): their metadata,
their quality on English, and that a wheel carries them and the word list."""

from __future__ import annotations

import math
import re
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from charwriter import paths
from charwriter.lm.checkpoint import load_model
from charwriter.lm.registry import resolve_model

ROOT = Path(__file__).resolve().parent.parent
PARAGRAPH = (
    "It was a bright cold morning in the country, and the old house was full of guests. Levin went out to the "
    "fields before breakfast, thinking about the peasants and the new machines, and about what his brother had "
    "said to him the evening before. \"You are always like that,\" said Kitty, smiling at him as he came in.\n"
)


BUNDLED = {"english": "english-rest.txt", "anna-karenina": "anna.txt"}  # name -> the corpus it was trained on last


def test_the_general_english_model_is_the_default():
    assert paths.DEFAULT_MODEL == "english"
    assert resolve_model(None) == paths.bundled_models_dir() / "english.safetensors"


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_each_bundled_model_describes_itself(name):
    path = resolve_model(name)
    assert path == paths.bundled_models_dir() / f"{name}.safetensors"
    assert path.stat().st_size <= 15_000_000
    loaded = load_model(path)
    assert len(loaded.vocab) == 83 and loaded.vocab == sorted(loaded.vocab)
    assert loaded.config.cell == "lstm" and loaded.config.hidden_size >= 256
    t = loaded.training
    assert t["corpus"] == BUNDLED[name] and len(t["corpus_sha256"]) == 64
    assert t["best_val_loss"] < 1.35 and t["steps"] > 1000


@pytest.mark.parametrize("name", sorted(BUNDLED))
@torch.no_grad()
def test_each_bundled_model_is_far_better_than_uniform_on_english(name):
    loaded = load_model(resolve_model(name))
    lookup = {c: i for i, c in enumerate(loaded.vocab)}
    codes = torch.tensor([[lookup[c] for c in PARAGRAPH]])
    logits, _ = loaded.model(codes[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits[0], codes[0, 1:]).item()
    assert loss < 0.5 * math.log(len(loaded.vocab)), loss  # uniform is log(83) = 4.42 nats/char


@pytest.mark.skipif(os.environ.get("CHARWRITER_SKIP_WHEEL") == "1", reason="no network to build a wheel")
def test_a_non_editable_install_lists_the_bundled_model(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(wheels.glob("charwriter-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for name in (*(f"{model}.safetensors" for model in BUNDLED), "words-en.txt.gz"):
        assert f"charwriter/bundled/{name}" in names, name
    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                              str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    code = (f"import sys; sys.path.insert(0, {str(target)!r}); from charwriter import paths; "
            "print(paths.bundled_models_dir()); from charwriter.__main__ import main; main(['models'])")
    env = dict(os.environ, COLUMNS="200")
    listing = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                             timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[0] == str(target / "charwriter" / "bundled")
    line = next(l for l in listing.stdout.splitlines() if "anna-karenina" in l)
    assert "bundled" in line


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_a_new_document_or_paragraph_is_offered_a_sentence_not_indentation_or_a_heading(name):
    """An empty document is read as a paragraph's start (after a blank line): before, after the one newline every
    window starts with, the English model offered "  " (verse indentation) and the Anna model lower-case words.
    After a space (a Markdown heading's "# "), no suggestion brings another; no heading in capitals."""
    from charwriter.engine import Engine, EngineSettings

    engine = Engine(load_model(resolve_model(name)), EngineSettings(precision="fp32"))
    for context in ("", "# ", "The end.\n\n"):
        engine.remember(context)
        out = engine.suggest(context)
        words = [s.text.lstrip("\"'(").split(" ")[0] for s in out]  # a dialogue's opening quote is a start too
        assert words and all(word[:1].isupper() and (word == "I" or not word.isupper()) for word in words), \
            (context, [s.text for s in out])


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_no_suggestion_opens_with_a_dash_right_after_one(name):
    """The books hold long rules ("------"): after a dash the writer typed, plain or em, the model offered "----"
    as the grey text, "\u2014\u2014" in a curly document; then, read as the end of a word, a lone space. A hyphen
    inside a word still goes on ("well-" -> "known"), and one hyphen may become a dash ("--")."""
    from charwriter.engine import Engine, EngineSettings

    engine = Engine(load_model(resolve_model(name)), EngineSettings(precision="fp32"))
    for context in ("The boiler's broken --", "\u201cThe boiler\u2019s broken \u2014", "She waited \u2013", "It was--"):
        engine.remember(context)
        out = engine.suggest(context)
        assert not any(s.text[:1] in "-\u2013\u2014" or not s.text.strip() for s in out), \
            (context, [s.text for s in out])
    out = engine.suggest("It was a well-")
    assert out and out[0].text[:1].isalpha(), [s.text for s in out]


CURLY = ("The train was late again, so Priya spent an hour on a cold platform. \u201cYou look like you slept in a "
         "hedge,\u201d said Tom. \u201cI slept in a chair. The boiler\u2019s broken \u2014 again \u2014 and the "
         "landlord says he\u2019ll send someone on Thursday.\u201d\n\n\u201cThat\u2019s four days of cold showers,"
         "\u201d he said. She opened her laptop and looked at the spreadsheet she had promised to finish.")


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_a_curly_document_gets_curly_quotes_and_its_own_dashes_from_the_bundled_models(name):
    """From the first curly mark on, over every fifth keystroke of a writer's paragraph: no straight quote, no "--",
    no unspaced em dash where the writer spaces theirs (the tiny-model test in test_words covers the mapping)."""
    from charwriter.engine import Engine, EngineSettings

    engine = Engine(load_model(resolve_model(name)), EngineSettings(precision="fp32"))
    curly = 0
    for end in range(CURLY.index("\u201c") + 1, len(CURLY), 5):
        context = CURLY[:end]
        texts = [s.text for s in engine.suggest(context)]
        assert not any(mark in text for text in texts for mark in ('"', "'", "--")), (context[-20:], texts)
        if "\u2014 " in context:
            assert not any(re.search("\\w\u2014|\u2014\\w", text) for text in texts), (context[-20:], texts)
        curly += any(ch in text for text in texts for ch in "\u201c\u201d\u2019\u2014")
    assert curly >= 3  # the models do write quotes and apostrophes here: the test can fail

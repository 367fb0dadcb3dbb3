"""The README tells a new user what they need: two Quick start commands, the CPU-only torch, where the corpus comes
from, and where charwriter keeps things; its examples use paths a user has, not this project's workspace."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_quick_start_is_two_commands_and_ci_runs_the_second_verbatim():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)\n```", section, re.S)
    assert len(blocks) == 2 and all(len(block.strip().splitlines()) == 1 for block in blocks)
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert blocks[1].strip() in ci


def test_the_readme_says_how_to_get_cpu_torch_where_the_corpus_comes_from_and_what_charwriter_home_holds():
    assert "https://download.pytorch.org/whl/cpu" in README
    assert "Project Gutenberg" in README and "Anna Karenina" in README
    for place in ("/data/runs/", "/data/models/", "/data/autosave/", "/config/settings.json", "/cache/precision.json"):
        assert place in README, place
    assert "../shared" not in README  # a user's clone has no such folder

"""The README is a first page that stays true: the two Quick start commands exactly (CI runs the second), the
CPU-only torch, where the corpus comes from, where charwriter keeps things, keys that are real bindings, and links
into docs/ that lead somewhere. The long story lives in docs/; its key table and key ids are held to the bindings
too."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
WRITING = (ROOT / "docs" / "writing.md").read_text(encoding="utf-8")

QUICK_START = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 -e . && charwriter",
    "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 -e '.[test]' && pytest",
)


def test_quick_start_is_the_two_commands_and_ci_runs_the_second_verbatim():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)\n```", section, re.S)
    assert tuple(block.strip() for block in blocks) == QUICK_START
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert QUICK_START[1] in ci.splitlines()


def test_the_readme_says_how_to_get_cpu_torch_where_the_corpus_comes_from_and_what_charwriter_home_holds():
    assert "https://download.pytorch.org/whl/cpu" in README
    assert "Project Gutenberg" in README and "Anna Karenina" in README
    for place in ("/data/runs/", "/data/models/", "/data/autosave/", "/config/settings.json", "/cache/precision.json"):
        assert place in README, place
    assert "../shared" not in README  # a user's clone has no such folder


def test_the_readme_is_a_first_page():
    """About 200 lines: the measurements and the design live in docs/ (the README's table links there)."""
    assert len(README.splitlines()) <= 210
    assert "docs/benchmarks.md" in README.split("## How useful and how fast", 1)[1]


def _bindings() -> tuple[set[str], set[str]]:
    """Every key bound where the writer types (the app, the writing screen, the editor and TextArea's own keys, the
    find bar, the suggestions pane), and the ids of the app's, the screen's and the editor's bindings."""
    from charwriter.app import CharwriterApp
    from charwriter.screens.write import WriteScreen
    from charwriter.widgets.editor import Editor
    from charwriter.widgets.find_bar import FindBar
    from charwriter.widgets.suggestions import SuggestionsPane

    keys, ids = {CharwriterApp.COMMAND_PALETTE_BINDING}, set()
    for owner in (CharwriterApp, WriteScreen, Editor, FindBar, SuggestionsPane):
        for cls in owner.__mro__:
            for binding in vars(cls).get("BINDINGS", ()):
                key = binding[0] if isinstance(binding, tuple) else binding.key
                keys.update(k.strip() for k in key.split(","))
                if owner in (CharwriterApp, WriteScreen, Editor) and getattr(binding, "id", None):
                    ids.add(binding.id)
    return keys, ids


def _table_keys(text: str) -> list[str]:
    """The keys in the first column of a `| Key | Does |` table, as Textual names them ("Alt+Right" -> alt+right)."""
    table = text.split("| Key | Does |", 1)[1].split("\n\n", 1)[0]
    keys = []
    for row in table.splitlines()[2:]:
        cell = re.sub(r"\(.*?\)", "", row.split("|")[1])  # "Alt+Right (Ctrl+Right while …)": the key itself
        for key in cell.split("/"):
            key = key.strip().lower()
            keys.append({"esc": "escape"}.get(key, key))
    return keys


def test_every_key_in_the_key_tables_is_a_real_binding():
    bound, _ = _bindings()
    for text in (README, WRITING):
        keys = _table_keys(text)
        assert len(keys) >= 20
        missing = [key for key in keys if key not in bound]
        assert not missing, f"keys in a key table that nothing binds: {missing}"


def test_the_key_ids_in_the_docs_are_the_bindings_ids():
    """`set_keymap` takes these ids: the list in docs/writing.md is every one, and only those."""
    _, ids = _bindings()
    listed = re.search(r"Every key has\s+an id \((.*?)\), so", WRITING, re.S)
    assert listed is not None
    assert set(re.findall(r"`([a-z_]+)`", listed.group(1))) == ids


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_to_a_doc_leads_to_a_file_and_a_heading_that_exist():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    checked = 0
    for page in pages:
        for target, anchor in re.findall(r"\]\(([\w./-]+\.md)(?:#([\w-]+))?\)", page.read_text(encoding="utf-8")):
            linked = (page.parent / target).resolve()
            assert linked.is_file(), f"{page.name} links to {target}, which does not exist"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)
                assert anchor in {_slug(h) for h in headings}, f"{page.name} links to {target}#{anchor}: no heading"
            checked += 1
    assert checked >= 10


def test_the_command_lines_pointer_to_the_readme_leads_to_a_section():
    """`charwriter lsp --help` (in the command list) names a README section: it exists."""
    from charwriter.__main__ import build_parser

    pointers = re.findall(r"README: ([^)]+)\)", build_parser().format_help())
    assert pointers
    for title in pointers:
        assert re.search(rf"^## {re.escape(title)}", README, re.M), title

"""charwriter in a real pseudo-terminal (`tests/terminal.py`): the bytes a terminal sends, the screen it draws.

Each test starts the `charwriter` command with the session's tiny model, at 120x34 and at 80x24, and waits for
what it expects on the screen (never a fixed sleep).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from charwriter.settings import Settings
from conftest import make_text
from terminal import Terminal, autosaved

SIZES = [pytest.param((120, 34), id="120x34"), pytest.param((80, 24), id="80x24")]


@pytest.fixture
def start(tmp_path, tiny_model_path, isolated_home):
    """`start(args, size)`: charwriter running on a pty with the tiny model, once its model has loaded."""
    started = []

    def run(args: list[str], size: tuple[int, int], writer: bool = True) -> Terminal:
        """`writer` False: a command other than the editor (no --model, no model to wait for)."""
        model = ["--model", str(tiny_model_path)] if writer else []
        Settings(grey_floor=0.0).save()  # a tiny model is sure of nothing: grey text always
        term = Terminal([*args, *model], *size, env={"CHARWRITER_HOME": str(isolated_home)}, cwd=str(tmp_path))
        started.append(term)
        if writer:
            term.wait(lambda: "model loading" not in term.lines()[-2] and "model" in term.lines()[-2], 60, "the model")
        return term

    yield run
    for term in started:
        term.close()


def wrap_width(term: Terminal) -> int:
    """Columns of text in the editor's rows: its box less the borders, the padding and the cursor's cell."""
    return term.lines()[0].index("╮") + 1 - 5


def press_to_focus(term: Terminal, key: str, text: str) -> None:
    """Press `key` and wait until the widget showing `text` has the focus (Textual moves the focus after the key
    that asked for it: keys sent at once would still reach the old one). A focused input, a highlighted option,
    is drawn on another background."""
    y = term.row_of(text)
    x = term.lines()[y].index(text)
    unfocused = term.cells(y, x, x + 1)[0].bg
    term.press(key)
    term.wait(lambda: term.cells(y, x, x + 1)[0].bg != unfocused, what=f"the focus on {text!r}")


def wait_for_cursor(term: Terminal, placeholder: str) -> None:
    """Until the empty input showing `placeholder` has the focus: its cursor is drawn on the placeholder's first
    character (blinking: polled until seen)."""

    def look(cell):
        return cell.fg, cell.bg, cell.reverse

    def drawn() -> bool:
        lines = term.lines()
        y = next((y for y, line in enumerate(lines) if placeholder in line), None)
        if y is None:
            return False
        x = lines[y].index(placeholder)
        first, second = term.cells(y, x, x + 2)
        return look(first) != look(second)

    term.wait(drawn, what=f"the cursor in {placeholder!r}")


def editor_lines(term: Terminal) -> list[str]:
    """The editor's rows of text (inside its box), without trailing spaces."""
    right = term.lines()[0].index("╮")
    return [line[2:right - 1].rstrip() for line in term.lines()[1:-3]]


@pytest.mark.parametrize("size", SIZES)
def test_grey_text_wrapped_onto_the_next_row_keeps_the_suggestion_style(start, tmp_path, size):
    """A continuation that does not fit on the cursor's row goes on below in grey italics, never as typed text."""
    term = start(["write", str(tmp_path / "story.txt")], size)
    phrase = "Zorvath Quellin marched to the river."
    term.type(f"{phrase}\n{phrase}\n")
    # The third "Zorvath" ends two cells before the wrap, so the memory's " Quellin" must go on the next row.
    line = "a " * ((wrap_width(term) - 2 - len("Zorvath")) // 2) + "Zorvath"
    term.type(line)
    term.wait(lambda: any(row.strip() == "Quellin" for row in editor_lines(term)), what="Quellin below the line")
    y = [row.strip() for row in editor_lines(term)].index("Quellin") + 1
    typed = term.cells(y - 1, 2, 3)[0]
    ghost = [c for c in term.cells(y, 2, 2 + len("Quellin"))]
    assert "".join(c.data for c in ghost) == "Quellin"
    assert all(c.italics and c.fg != typed.fg for c in ghost), [(c.data, c.fg, c.italics) for c in ghost]


@pytest.mark.parametrize("size", SIZES)
def test_alt_keys_in_the_find_bar_run_their_bindings(start, tmp_path, size):
    """Alt+A (ESC a) replaces every match and Alt+C (ESC c) makes the search case-sensitive; neither types its
    letter into the field that has the focus."""
    story = tmp_path / "story.txt"
    story.write_text("Marta met marta by the river. Marta waved.\n", encoding="utf-8")
    term = start(["write", str(story)], size)
    term.press("ctrl+f")
    term.wait_for("alt+c Case")  # the footer shows the find bar's keys once its field has the focus
    term.type("Marta")
    term.press("alt+c")
    term.wait_for("Find (Aa)")
    press_to_focus(term, "tab", "replace with")
    term.type("Greta")
    term.press("alt+a")
    term.wait_for("replaced 2")
    term.wait_for("Greta met marta by the river. Greta waved.")
    assert "Gretaa" not in term.text() and "Martac" not in term.text()


@pytest.mark.parametrize("size", SIZES)
def test_alt_keys_in_the_editor_never_type_their_letter(start, tmp_path, size):
    """Alt+T types a tab (not a "t"); an Alt key with no binding types nothing."""
    story = tmp_path / "story.txt"
    term = start(["write", str(story)], size)
    term.type("one")
    term.press("alt+t")
    term.type("two")
    term.press("alt+x")
    term.type("three")
    term.wait(lambda: "three" in term.text(), what="three")
    term.press("ctrl+s")
    term.wait_for("saved")
    assert story.read_text(encoding="utf-8") == "one\ttwothree"


def test_an_alt_key_followed_at_once_by_more_keys_is_still_alt(start, tmp_path):
    """ESC t and the next letters in one write (a fast typist, a busy machine, a macro): Alt+T then the letters, not
    "^" and the letters (Textual's parser waits 100 ms after ESC and reads what came meanwhile as one sequence)."""
    story = tmp_path / "story.txt"
    term = start(["write", str(story)], (120, 34))
    term.type("one")
    term.write(b"\x1btwo")  # Alt+T, "wo"
    term.write(b"\x1bxthree\x1b[D\x1b[C")  # an Alt key with no binding, a word, Left and Right
    term.wait(lambda: "three" in term.text(), what="three")
    term.press("ctrl+s")
    term.wait_for("saved")
    assert story.read_text(encoding="utf-8") == "one\twothree"


@pytest.mark.parametrize("size", SIZES)
def test_ctrl_home_and_ctrl_end_go_to_the_ends_of_the_document(start, tmp_path, size):
    """Ctrl+Home (ESC [1;5H) goes to the document's first character, Ctrl+End (ESC [1;5F) to its last, scrolling."""
    story = tmp_path / "story.txt"
    story.write_text("".join(f"line {n}\n" for n in range(1, 81)) + "the end", encoding="utf-8")
    term = start(["write", str(story)], size)
    term.press("ctrl+home")
    term.wait(lambda: editor_lines(term)[0] == "line 1", what="line 1 at the top")
    term.type("First ")
    term.wait_for("First line 1")
    term.press("ctrl+end")
    term.wait(lambda: "the end" in term.text(), what="the end in view")
    term.type(". Last")
    term.wait_for("the end. Last")
    term.press("ctrl+s")
    term.wait_for("saved")
    text = story.read_text(encoding="utf-8")
    assert text.startswith("First line 1\n") and text.endswith("the end. Last")


@pytest.mark.parametrize("size", SIZES)
def test_open_picks_a_recent_document_with_down_and_enter(start, size):
    """Open (Ctrl+O) says "↓ to pick, Enter opens": ↓ reaches the recent documents, Enter opens the highlighted
    one; Enter on the empty path field opens the newest."""
    with tempfile.TemporaryDirectory(prefix="cw", dir="/tmp") as folder:  # paths short enough for one row
        for name in ("alpha.txt", "beta.txt"):
            Path(folder, name).write_text(f"Text of {name[:-4]}.\n", encoding="utf-8")
        term = start(["write", f"{folder}/alpha.txt"], size)
        term.press("ctrl+o")
        wait_for_cursor(term, "path/to/file.txt")
        term.type(f"{folder}/beta.txt\n")
        term.wait_for("Text of beta.")  # the document before it: alpha.txt (beta.txt is open, so not offered)
        term.press("ctrl+o")
        wait_for_cursor(term, "path/to/file.txt")
        term.wait_for(f"{folder}/alpha.txt")
        press_to_focus(term, "down", f"{folder}/alpha.txt")
        term.press("enter")
        term.wait_for("Text of alpha.")
        term.press("ctrl+o")
        wait_for_cursor(term, "path/to/file.txt")
        term.press("enter")
        term.wait_for("Text of beta.")


def train_tiny_run(tmp_path, home) -> None:
    """A finished one-epoch run named "tiny" in the test's charwriter home, trained by the command line."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(make_text(3_000), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "charwriter", "train", str(corpus), "--hidden-size", "16", "--num-layers",
                    "1", "--batch-size", "4", "--seq-len", "16", "--dropout", "0", "--eval-every", "20",
                    "--sample-length", "10", "--epochs", "1", "--name", "tiny", "--precision", "fp32"],
                   check=True, capture_output=True, env={**os.environ, "CHARWRITER_HOME": str(home)}, timeout=120)


@pytest.mark.parametrize("size", SIZES)
def test_extend_dialog_shows_its_epochs_field(start, tmp_path, isolated_home, size):
    """F7 on a finished run: "Epochs in all" and its field on one row, the field's number visible, and what is
    typed there extends the run."""
    train_tiny_run(tmp_path, isolated_home)
    term = start(["write"], size)
    term.press("ctrl+t")
    term.wait_for("New run")
    if size[0] < 110:  # a narrow terminal shows the form, the past runs and the curves in turn
        term.press("f3")
    else:  # back from the corpus field: the curves, then the past runs
        term.wait_for("finished")
        term.press("shift+tab")
        term.wait(lambda: "Smooth" in term.lines()[-1], what="the curves' keys")
        term.press("shift+tab")
    term.wait(lambda: "Delete run" in term.lines()[-1], what="the past runs' keys")
    term.press("enter")
    term.wait_for("Settings:")
    term.press("f7")
    # One epoch done: it offers two in all, selected, so that a number typed replaces it.
    term.wait(lambda: re.search(r"Epochs in all\s+2\b", term.text()), what="the epochs field showing 2")
    term.type("3")
    term.wait(lambda: re.search(r"Epochs in all\s+3\b", term.text()), what="the epochs field showing 3")
    term.press("enter")
    # Extended to three: the second epoch on the screen, or the third (a tiny run may finish between two looks).
    term.wait(lambda: re.search(r"Epoch [23]/3", term.text()), what="the run extended to 3 epochs")


@pytest.mark.parametrize("size", SIZES)
def test_cell_view_dialog_fits_with_its_unit_field_and_checkbox(start, tmp_path, size):
    """F8: the cell finder's list, the LAYER:INDEX field and the hidden-state checkbox all on the screen; a unit
    typed there colours the text."""
    story = tmp_path / "story.txt"
    story.write_text(make_text(1_500), encoding="utf-8")
    term = start(["write", str(story)], size)
    term.press("f8")
    term.wait_for("Enter: colour the text by it")  # the finder has filled the list
    assert "LAYER:INDEX" in term.text() and "hidden state" in term.text()
    dialog = term.lines()[term.row_of("Cell view"):]
    bottom = next(y for y, line in enumerate(dialog) if "╰" in line)
    assert any("hidden state" in line for line in dialog[:bottom])  # inside the dialog's box, not cut off
    press_to_focus(term, "tab", "or a unit: LAYER:INDEX")
    term.type("1:0\n")
    term.wait_gone("Cell view")


@pytest.mark.parametrize("size", SIZES)
def test_charwriter_file_opens_the_file_like_an_editor(start, tmp_path, size):
    """`charwriter story.txt` opens it, as `vim story.txt` does; a file named like a command: `charwriter ./train`."""
    (tmp_path / "story.txt").write_text("Once upon a time.\n", encoding="utf-8")
    (tmp_path / "train").write_text("A file called train.\n", encoding="utf-8")
    term = start(["story.txt"], size)  # run in tmp_path
    term.wait_for("Once upon a time.")
    assert "story.txt" in term.lines()[-2]
    other = start(["./train"], size)
    other.wait_for("A file called train.")


def test_arguments_without_a_command_are_the_editors():
    from charwriter.__main__ import build_parser, with_command

    parser = build_parser()

    def parsed(*argv):
        return vars(parser.parse_args(with_command(list(argv), parser.commands)))

    assert parsed("story.txt") == {"command": "write", "file": "story.txt", "model": None, "precision": None}
    assert parsed("./train")["file"] == "./train"
    assert parsed("--model", "small", "notes.md")["model"] == "small"
    assert parsed("train", "corpus.txt")["command"] == "train"
    assert parsed()["command"] is None  # the editor with a new document


def test_models_and_runs_are_tables_on_a_terminal_and_tab_separated_when_piped(tmp_path, isolated_home):
    """As ls and git do: a table drawn for a person in a terminal, one tab-separated line per entry for a pipe."""
    train_tiny_run(tmp_path, isolated_home)
    env = {**os.environ, "CHARWRITER_HOME": str(isolated_home)}
    for command, header in (("runs", "best val"), ("models", "val loss")):
        term = Terminal([command], 120, 34, env=env)
        try:
            term.wait_for(f"charwriter {command}")
            term.wait(lambda: term.process.poll() is not None, what="the command's end")
            lines = term.lines()
            assert any("┃ name" in line and header in line for line in lines), term.text()
            assert any(line.startswith("│ tiny ") for line in lines) and "\t" not in term.text()
        finally:
            term.close()
        piped = subprocess.run([sys.executable, "-m", "charwriter", command], capture_output=True, text=True,
                               env=env, timeout=60)
        rows = piped.stdout.splitlines()
        assert rows[0].startswith("name\t") and rows[0].endswith("\tpath")
        assert any(row.startswith("tiny\t") and len(row.split("\t")) == len(rows[0].split("\t")) for row in rows)


@pytest.mark.parametrize("size", SIZES)
def test_train_tui_fills_the_form_from_the_command_line(start, tmp_path, size):
    """`charwriter train --tui FILE --hidden-size 64 --epochs 1 --name short` shows those in the form, not 512, 20
    and a generated name; an option the form has no field for is said."""
    (tmp_path / "corpus.txt").write_text(make_text(3_000), encoding="utf-8")
    term = start(["train", "--tui", "corpus.txt", "--hidden-size", "64", "--epochs", "1", "--lr", "0.003",
                  "--name", "short", "--max-steps", "5"], size, writer=False)
    expected = [r"Hidden size\s+64\b", r"Epochs\s+1\b", r"Learn rate\s+0\.003\b", r"Run name\s+short\b",
                r"Corpus\s+corpus\.txt"]
    term.wait(lambda: all(re.search(pattern, term.text()) for pattern in expected), what="the form filled in")
    term.wait_for("--max-steps")  # not on the form: said in a notification


@pytest.mark.parametrize("size", SIZES)
def test_help_lists_undo_redo_and_the_keys_the_readme_promises(start, tmp_path, size):
    """F1, scrolled to its end, shows undo and redo and every key of the README's table that has a binding."""
    term = start(["write", str(tmp_path / "story.txt")], size)
    term.press("f1")
    term.wait_for("Help — Esc to close")
    top = term.row_of("Help — Esc to close")

    def page() -> str:  # the help's rows (the editor around it changes on its own)
        return "\n".join(term.lines()[top:top + size[1] - 5])

    def settled() -> str:  # the page once the terminal has drawn all of it (a scroll arrives in several writes)
        last = page()
        while True:
            time.sleep(0.3)
            if page() == last:
                return last
            last = page()

    seen = settled()
    while not re.search(r"\^p\s+Palette", seen):  # page through it to its last row (a narrow terminal: in parts)
        before = page()
        term.press("pagedown")
        term.wait(lambda: page() != before, what="the help to scroll")
        seen += settled()
    for action in ("Undo", "Redo", "Cut", "Paste", "Start", "End", "Find", "Save as", "Focus", "Surprise", "Cells",
                   "Resample", "Temp+", "Temp-", "Next", "Previous", "Word", "Pick", "Tab char", "Model", "Train"):
        assert action in seen, action
    for key in ("^z", "^y", "^home", "^end", "alt+t", "alt+s", "f12", "f4", "f5", "f8", "^o", "^f"):
        assert key in seen.lower(), key


@pytest.mark.parametrize("size", SIZES)
def test_find_bar_leaves_no_selection_and_save_as_offers_the_name(start, tmp_path, size):
    """Esc leaves the cursor after the match, unselected: the next keys typed go in beside it, never over it.
    Save as (F12) starts from the document's own path."""
    story = tmp_path / "story.txt"
    story.write_text("Marta met Pell by the river.\n", encoding="utf-8")
    term = start(["write", str(story)], size)
    term.press("ctrl+f")
    term.wait_for("alt+c Case")
    term.type("Pell\n")
    term.wait_for("1 of 1")
    term.press("escape")
    term.wait(lambda: "alt+c Case" not in term.lines()[-1], what="the find bar to close")
    term.type("ine")
    term.wait_for("Pelline")
    term.press("ctrl+s")
    term.wait_for("saved")
    assert story.read_text(encoding="utf-8") == "Marta met Pelline by the river.\n"
    term.press("f12")
    term.wait_for("Save the document to:")
    term.wait_for(str(story)[-40:])  # the field holds the path (its end, where a narrow field scrolls to)


@pytest.mark.parametrize("size", SIZES)
def test_f5_turns_the_cell_view_off_as_its_title_says(start, tmp_path, size):
    story = tmp_path / "story.txt"
    story.write_text(make_text(800), encoding="utf-8")
    term = start(["write", str(story)], size)
    term.press("f8")
    term.wait_for("Enter: colour the text by it")
    press_to_focus(term, "tab", "or a unit: LAYER:INDEX")
    term.type("1:0\n")
    term.wait_for("F5 off")
    assert "Cell" in term.lines()[0]
    term.press("f5")
    term.wait_gone("F5 off")
    assert "Surprise" not in term.text()


@pytest.mark.parametrize("size", SIZES)
def test_the_footer_shows_what_a_writer_needs_most_first(start, tmp_path, size):
    term = start(["write", str(tmp_path / "story.txt")], size)
    footer = term.lines()[-1]
    shown = [key for key in ("^q Quit", "f1 Help", "^s Save", "^o Open", "^f Find", "tab Accept") if key in footer]
    assert len(shown) == 6, footer
    if size[0] >= 120:
        assert "f2 Model" in footer and "alt+s Pick" in footer, footer


@pytest.mark.parametrize("size", SIZES)
def test_a_long_run_says_its_time_and_an_enter_starts_nothing(start, tmp_path, size):
    """The seed's defaults (512 x 2, 20 epochs) on a corpus: Start asks first, with the time it will take, and an
    Enter pressed at once (Cancel has the focus) starts nothing."""
    (tmp_path / "corpus.txt").write_text(make_text(300_000), encoding="utf-8")
    term = start(["train", "--tui", "corpus.txt"], size, writer=False)
    term.wait_for("per epoch")  # the form has checked the corpus
    term.press("f5")
    term.wait_for("in all")
    assert "20 epochs of about" in term.text()
    term.press("enter")
    term.wait_gone("in all")
    assert "Epoch 1/20" not in term.text() and "training" not in term.lines()[-1]


def test_a_paste_without_bracketed_paste_is_taken_whole_and_autosaved(start, tmp_path, isolated_home):
    """A terminal without bracketed paste (tmux paste-buffer without -p) sends 300 kB of text as if typed, line
    breaks as Enter, as fast as the pty takes it: it lands in the document exactly (one paste, not 300,000 keys: that
    took 740 characters a second), the autosave holds it, and Ctrl+S writes it."""
    story = tmp_path / "story.txt"
    term = start(["write", str(story)], (120, 34))
    text = make_text(300_000, seed=5) + " Pastend"
    data = text.replace("\n", "\r").encode()

    def send() -> None:
        for i in range(0, len(data), 4096):  # a terminal writes on as the pty drains
            term.write(data[i : i + 4096])

    sender = threading.Thread(target=send, daemon=True)
    sender.start()

    term.wait(lambda: autosaved(isolated_home) == text, 60, "the whole paste in the autosave")
    sender.join(timeout=5)
    term.wait_for("Pastend")
    term.press("ctrl+s")
    term.wait(lambda: story.exists() and story.read_text(encoding="utf-8") == text, 30, "the paste saved")

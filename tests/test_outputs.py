"""Nothing the writer owns is overwritten without asking: every command that writes a file refuses to write over
one of its own inputs and asks before replacing a file of another kind (`--force` for scripts, one line where there
is no terminal to ask in); the editor asks before saving over a read-only file."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from charwriter.__main__ import main
from charwriter.lm.checkpoint import load_model
from conftest import make_text

STORY = "The quiet house stood by the river. She walked along the water.\n"


def one_line_refusal(code: int, capsys) -> str:
    """The refusal: exit 2 and one line (after any warnings), no traceback."""
    *warnings, err = capsys.readouterr().err.splitlines()
    assert code == 2 and err.startswith("charwriter: "), err
    assert all(line.startswith("charwriter: warning: ") for line in warnings), warnings
    return err


@pytest.fixture
def story(tmp_path) -> Path:
    path = tmp_path / "story.txt"
    path.write_text(STORY, encoding="utf-8")
    return path


def test_inspect_html_never_writes_over_the_text_or_the_model(story, tiny_model_path, capsys):
    model_bytes = tiny_model_path.read_bytes()
    for target, what in ((story, "the text being inspected"), (tiny_model_path, "the model")):
        code = main(["inspect", str(story), "--model", str(tiny_model_path), "--html", str(target), "--force"])
        assert what in one_line_refusal(code, capsys)
    assert story.read_text(encoding="utf-8") == STORY and tiny_model_path.read_bytes() == model_bytes
    link = story.parent / "link.html"  # the same file under another name
    link.symlink_to(story)
    assert "the text being inspected" in one_line_refusal(
        main(["inspect", str(story), "--model", str(tiny_model_path), "--html", str(link)]), capsys)
    assert story.read_text(encoding="utf-8") == STORY


def test_inspect_html_asks_before_replacing_another_file_and_replaces_its_own_page(story, tiny_model_path, capsys):
    notes = story.parent / "notes.html"
    notes.write_text("<p>my notes</p>", encoding="utf-8")
    args = ["inspect", str(story), "--model", str(tiny_model_path), "--html", str(notes)]
    assert "--force" in one_line_refusal(main(args), capsys)  # no terminal to ask in: one line, nothing written
    assert notes.read_text(encoding="utf-8") == "<p>my notes</p>"
    assert main(args + ["--force"]) == 0
    page = notes.read_text(encoding="utf-8")
    assert "charwriter inspect" in page and "my notes" not in page
    capsys.readouterr()
    assert main(args) == 0  # its own page: replaced without a question
    assert "wrote" in capsys.readouterr().err


def test_export_asks_before_replacing_a_file_that_is_not_a_model(tiny_model_path, tmp_path, capsys):
    other = tmp_path / "photo.safetensors"
    other.write_bytes(b"not a model at all")
    args = ["export", str(tiny_model_path), str(other)]
    assert "is not a charwriter model" in one_line_refusal(main(args), capsys)
    assert other.read_bytes() == b"not a model at all"
    assert main(args + ["--force"]) == 0
    assert load_model(other).vocab == load_model(tiny_model_path).vocab
    assert main(args) == 0  # a charwriter model: replaced without a question
    folder = tmp_path / "folder.safetensors"
    folder.mkdir()
    assert "is a folder" in one_line_refusal(main(["export", str(tiny_model_path), str(folder)]), capsys)


def test_export_asks_in_a_terminal_and_keeps_the_file_on_no(tiny_model_path, tmp_path):
    other = tmp_path / "mine.safetensors"
    for answer, kept in ((b"n\n", True), (b"y\n", False)):
        other.write_bytes(b"the writer's own file")
        primary, secondary = pty.openpty()
        child = subprocess.Popen([sys.executable, "-m", "charwriter", "export", str(tiny_model_path), str(other)],
                                 stdin=secondary, stdout=secondary, stderr=secondary, cwd=Path(__file__).parent.parent)
        os.close(secondary)
        said = b""
        while b"[y/N]" not in said:
            said += os.read(primary, 1024)
        os.write(primary, answer)
        assert child.wait(timeout=60) == (2 if kept else 0)
        os.close(primary)
        assert (other.read_bytes() == b"the writer's own file") == kept
        assert b"is not a charwriter model: replace it?" in said


def test_train_out_never_writes_over_its_inputs_or_a_foreign_model(tiny_model_path, tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(make_text(3000), encoding="utf-8")
    small = ["--epochs", "1", "--max-steps", "1", "--batch-size", "4", "--seq-len", "16", "--hidden-size", "8",
             "--eval-every", "0", "--threads", "1", "--precision", "fp32", "--device", "cpu"]
    assert "is a file" in one_line_refusal(main(["train", str(corpus), "--out", str(corpus), *small]), capsys)
    assert corpus.read_text(encoding="utf-8") == make_text(3000)
    # Fine-tuning a model that sits in the folder the run would write its best.safetensors into.
    folder = tmp_path / "exported"
    folder.mkdir()
    shutil.copy(tiny_model_path, folder / "best.safetensors")
    before = (folder / "best.safetensors").read_bytes()
    code = main(["train", str(corpus), "--init-from", str(folder / "best.safetensors"), "--out", str(folder), *small])
    assert "the model it fine-tunes" in one_line_refusal(code, capsys)
    assert (folder / "best.safetensors").read_bytes() == before
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "last.safetensors").write_bytes(b"someone else's file")
    assert "--force" in one_line_refusal(main(["train", str(corpus), "--out", str(foreign), *small]), capsys)
    assert (foreign / "last.safetensors").read_bytes() == b"someone else's file"
    books = tmp_path / "books"
    books.mkdir()
    (books / "a.txt").write_text(make_text(3000), encoding="utf-8")
    assert "the corpus folder" in one_line_refusal(main(["train", str(books), "--out", str(books), *small]), capsys)


async def test_the_editor_asks_before_saving_over_a_read_only_file(tmp_path, tiny_model_path):
    """A file of mode 444 is the writer's "do not touch": Ctrl+S says so and offers Save as or an explicit
    overwrite (which keeps it read-only), as vim and micro do."""
    from charwriter.app import CharwriterApp
    from charwriter.dialogs.confirm import ConfirmScreen
    from charwriter.dialogs.path_prompt import PathPrompt
    from charwriter.settings import Settings
    from textual.widgets import Input

    path = tmp_path / "final.txt"
    path.write_text("Final text.", encoding="utf-8")
    path.chmod(0o444)
    app = CharwriterApp(file=str(path), model=str(tiny_model_path),
                        settings=Settings(greedy=True, precision="fp32", adapt=False))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.writer.editor.insert(" More.")
        for choice in ("cancel", "overwrite", "save_as"):
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen) and "read-only" in app.screen.question
            await pilot.click(f"#{choice}")
            await pilot.pause()
            expected = "Final text." if choice == "cancel" else "Final text. More."
            assert path.read_text(encoding="utf-8") == expected
        assert isinstance(app.screen, PathPrompt)
        app.screen.query_one(Input).value = str(tmp_path / "copy.txt")
        await pilot.press("enter")
        await pilot.pause()
        assert (tmp_path / "copy.txt").read_text(encoding="utf-8") == "Final text. More."
    assert path.stat().st_mode & 0o777 == 0o444

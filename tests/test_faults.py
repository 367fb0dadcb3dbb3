"""Faults and impossible values get one line, never a traceback: a full disk while checkpointing, a model too big
for the memory, folders that cannot take a file, a symbolic link loop, a 10,000-character name."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from safetensors import SafetensorError

from charwriter.__main__ import main
from charwriter.lm import checkpoint as checkpoint_module
from charwriter.lm.checkpoint import load_checkpoint
from conftest import make_text

TINY = ["--hidden-size", "8", "--num-layers", "1", "--batch-size", "4", "--seq-len", "16", "--epochs", "1",
        "--eval-every", "0", "--threads", "1", "--precision", "fp32", "--device", "cpu"]
AS_ROOT = pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                             reason="root writes and reads through any permission: nothing to refuse")


def one_line(code: int, capsys, progress: bool = False) -> str:
    """Exit 2 and one line (after any warnings, or a run's progress lines), no traceback."""
    output = capsys.readouterr().err
    *before, err = output.splitlines()
    assert code == 2 and err.startswith("charwriter: ") and len(err) < 400, err
    assert "Traceback" not in output
    assert progress or all(line.startswith("charwriter: warning: ") for line in before), before
    return err


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(6000), encoding="utf-8")
    return path


def fill_the_disk(monkeypatch, after: int = 0) -> None:
    """safetensors reports a full disk as its own error: let the file writes after the first `after` fail so."""
    real, calls = checkpoint_module.save_file, []

    def save_file(*args, **kwargs):
        calls.append(1)
        if len(calls) > after:
            raise SafetensorError('Error while serializing: I/O error: No space left on device (os error 28)')
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoint_module, "save_file", save_file)


def test_a_full_disk_while_checkpointing_is_one_line_and_the_last_checkpoint_is_kept(corpus, tmp_path, capsys,
                                                                                     monkeypatch):
    run = tmp_path / "run"
    assert main(["train", str(corpus), "--out", str(run), *TINY, "--max-steps", "3"]) == 0
    before = load_checkpoint(run / "checkpoint.safetensors").progress["step"]
    capsys.readouterr()
    fill_the_disk(monkeypatch)
    assert "the disk is full" in one_line(main(["train", "--resume", str(run), "--max-steps", "6"]), capsys, True)
    assert load_checkpoint(run / "checkpoint.safetensors").progress["step"] == before  # atomic: still whole
    assert not list(run.glob(".*.tmp"))
    fresh = tmp_path / "fresh"
    assert "the disk is full" in one_line(main(["train", str(corpus), "--out", str(fresh), *TINY, "--max-steps", "2"]),
                                          capsys, True)


def test_a_model_too_big_for_the_memory_is_refused_before_it_is_allocated(corpus, tmp_path, capsys, monkeypatch):
    from charwriter.lm import train

    monkeypatch.setattr(train, "free_memory", lambda device: 8 * 10**9)
    allocated = []
    monkeypatch.setattr(train, "CharRNN", lambda config: allocated.append(config))
    args = ["train", str(corpus), "--out", str(tmp_path / "big"), "--hidden-size", "8192", "--num-layers", "16",
            "--batch-size", "4", "--seq-len", "16", "--precision", "fp32"]
    err = one_line(main(args), capsys)
    assert "needs about 13" in err and "8.0 GB is free" in err and "--hidden-size" in err and not allocated


def test_folders_that_cannot_take_the_file_are_one_line(tiny_model_path, corpus, tmp_path, capsys, monkeypatch):
    story = tmp_path / "story.txt"
    story.write_text("The quiet house stood by the river.\n", encoding="utf-8")
    inspect = ["inspect", str(story), "--model", str(tiny_model_path), "--html"]
    assert "is a folder" in one_line(main([*inspect, str(tmp_path)]), capsys)
    assert "cannot write" in one_line(main([*inspect, "/proc/charwriter-test/page.html"]), capsys)
    assert "cannot write" in one_line(main(["export", str(tiny_model_path), "/proc/charwriter-test.safetensors"]),
                                      capsys)
    assert "is a file" in one_line(main(["train", str(corpus), "--out", str(story / "run"), *TINY]), capsys)
    monkeypatch.setenv("CHARWRITER_HOME", str(story))  # a home that is a file: no runs folder can be made there
    assert "is a file" in one_line(main(["train", str(corpus), *TINY]), capsys)


def test_a_run_whose_checkpoint_is_a_folder_is_not_restarted(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(corpus), "--out", str(run), *TINY, "--max-steps", "2"]) == 0
    (run / "checkpoint.safetensors").unlink()
    (run / "checkpoint.safetensors").mkdir()
    capsys.readouterr()
    assert "is a directory" in one_line(main(["train", "--resume", str(run)]), capsys)
    assert (run / "events.jsonl").exists() and not list(run.glob("events.before-*"))  # nothing set aside


def test_a_symbolic_link_loop_and_a_long_name_are_said_in_one_readable_line(tiny_model_path, tmp_path, capsys):
    loop = tmp_path / "a.safetensors"
    loop.symlink_to(tmp_path / "b.safetensors")
    (tmp_path / "b.safetensors").symlink_to(loop)
    assert "symbolic link loop" in one_line(main(["generate", "--model", str(loop), "--length", "2"]), capsys)
    from safetensors.torch import load_file, save_file

    from charwriter.lm.modelfile import CHECKSUM_KEY
    from safetensors import safe_open

    with safe_open(str(tiny_model_path), framework="pt") as f:
        meta = json.loads(f.metadata()["charwriter"])
    del meta[CHECKSUM_KEY]  # as a file from before checksums, so that its tensors' names are what is refused
    tensors = {**load_file(str(tiny_model_path)), "w" * 10_000: torch.zeros(2)}
    long_name = tmp_path / "long.safetensors"
    save_file(tensors, str(long_name), metadata={"charwriter": json.dumps(meta)})
    err = one_line(main(["generate", "--model", str(long_name), "--length", "2"]), capsys)
    assert "wrong tensors" in err and "…" in err  # the name is cut in the middle; the line ends with what to do


@AS_ROOT
def test_permission_denied_is_said_as_such(tiny_model_path, corpus, tmp_path, capsys):
    locked = tmp_path / "locked.safetensors"
    shutil.copy(tiny_model_path, locked)
    locked.chmod(0)
    assert "permission denied" in one_line(main(["generate", "--model", str(locked), "--length", "2"]), capsys)
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    assert "permission denied" in one_line(main(["train", str(corpus), "--out", str(folder / "run"), *TINY]), capsys)
    assert "permission denied" in one_line(main(["export", str(tiny_model_path), str(folder / "m.safetensors")]),
                                           capsys)


async def test_the_editor_goes_on_when_its_settings_and_autosaves_cannot_be_written(tmp_path, tiny_model_path,
                                                                                     monkeypatch):
    """A charwriter home that cannot hold files (a file where the folder should be: what a read-only home does to
    a writer, and root cannot be refused by permissions): changing a setting says once that it is not saved, and
    the document itself still saves."""
    from charwriter.app import CharwriterApp
    from charwriter.settings import Settings

    home = tmp_path / "home-is-a-file"
    home.write_text("not a folder")
    monkeypatch.setenv("CHARWRITER_HOME", str(home))
    story = tmp_path / "story.txt"
    story.write_text("Once upon a time.", encoding="utf-8")
    app = CharwriterApp(file=str(story), model=str(tiny_model_path),
                        settings=Settings(greedy=True, precision="fp32", adapt=False))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        for key in ("ctrl+up", "ctrl+up", "ctrl+down"):
            await pilot.press(key)
            await pilot.pause()
        unsaved = [n.message for n in app._notifications if "settings not saved" in n.message]
        assert len(unsaved) == 1 and "\n" not in unsaved[0]  # said once, in one line
        app.writer.editor.insert(" The end.")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.is_running
    assert story.read_text(encoding="utf-8") == "Once upon a time. The end."

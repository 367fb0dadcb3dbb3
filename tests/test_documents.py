"""Documents (open, atomic save, refusals), the autosave file, the settings file, and `charwriter write BADFILE`."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from charwriter import documents
from charwriter.__main__ import main
from charwriter.documents import Autosave, DocumentError, read_document, save_document
from charwriter.settings import Settings


def test_save_and_read_round_trip(tmp_path):
    path = tmp_path / "sub" / "story.txt"
    text = "Happy families are all alike;\nevery unhappy family — «unhappy» in its own way. ☃\n"
    save_document(path, text)
    assert read_document(path) == text
    assert [p.name for p in path.parent.iterdir()] == ["story.txt"]  # no temporary file left behind


def test_crlf_and_bom_survive(tmp_path):
    path = tmp_path / "dos.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\n")
    assert read_document(path) == "one\r\ntwo\r\n"  # BOM dropped, line endings kept as they are


def test_save_keeps_permissions_and_writes_through_symlinks(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    save_document(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_missing_file_reads_empty_only_when_allowed(tmp_path):
    assert read_document(tmp_path / "new.txt", missing_ok=True) == ""
    with pytest.raises(DocumentError, match="not found"):
        read_document(tmp_path / "new.txt")
    with pytest.raises(DocumentError, match="not found"):
        read_document(tmp_path / "no-such-dir" / "new.txt", missing_ok=True)


@pytest.mark.parametrize("content, message", [
    (b"PK\x03\x04\x00\x00binary", "looks binary"),
    (b"caf\xe9 au lait", "not valid utf-8"),
])
def test_refuses_binary_and_non_utf8(tmp_path, content, message):
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(DocumentError, match=message):
        read_document(path)


def test_refuses_oversized_files(tmp_path, monkeypatch):
    monkeypatch.setattr(documents, "MAX_DOCUMENT_BYTES", 1000)
    path = tmp_path / "big.txt"
    path.write_text("a" * 1001)
    with pytest.raises(DocumentError, match="too large"):
        read_document(path)


def test_refuses_directories(tmp_path):
    with pytest.raises(DocumentError, match="directory"):
        read_document(tmp_path)
    with pytest.raises(DocumentError, match="directory"):
        save_document(tmp_path, "x")


def test_cli_write_refuses_a_binary_file_with_one_line(tmp_path, capsys):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert main(["write", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "binary" in err and str(path) in err


def test_autosave_write_read_clear(tmp_path, isolated_home):
    doc = tmp_path / "story.txt"
    saved = Autosave(doc)
    assert saved.read() is None
    saved.write("unsaved words")
    assert saved.path.parent == isolated_home / "data" / "autosave"
    recovered = Autosave(doc).read()
    assert recovered.text == "unsaved words" and recovered.document == doc.resolve()
    assert Autosave(None).read() is None  # the untitled buffer has its own file
    saved.clear()
    assert Autosave(doc).read() is None
    saved.clear()  # clearing twice is fine


def test_each_process_autosaves_to_its_own_file_and_only_ended_ones_are_orphans(tmp_path, isolated_home):
    import subprocess

    doc = tmp_path / "story.txt"
    ended = subprocess.Popen(["true"])
    ended.wait()
    alive = subprocess.Popen(["sleep", "30"])
    try:
        Autosave(doc, pid=alive.pid).write("another window, still open")
        Autosave(doc, pid=ended.pid).write("left by a crash")
        Autosave(None, pid=ended.pid).write("untitled, crashed")
        Autosave(tmp_path / "story.txt.bak", pid=ended.pid).write("a different document")
        mine = Autosave(doc)
        mine.write("this window")
        assert Autosave(doc, pid=alive.pid).read().text == "another window, still open"  # nothing overwritten
        assert [r.text for r in Autosave(doc, pid=10**9).orphans()] == ["left by a crash"]  # this window is open
        mine.clear()
        orphans = Autosave(doc).orphans()
        assert [r.text for r in orphans] == ["left by a crash"]  # not the open window's, not another document's
        assert orphans[0].path == Autosave(doc, pid=ended.pid).path and orphans[0].document == doc.resolve()
        assert [r.text for r in Autosave(None).orphans()] == ["untitled, crashed"]
    finally:
        alive.kill()
        alive.wait()
    assert sorted(r.text for r in Autosave(doc).orphans()) == ["another window, still open", "left by a crash"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process identities come from /proc (Linux)")
def test_a_crashed_sessions_autosave_is_offered_when_its_process_number_was_reused(tmp_path, isolated_home):
    import subprocess

    doc = tmp_path / "story.txt"
    alive = subprocess.Popen(["sleep", "30"])
    try:
        reused = Autosave(doc, pid=alive.pid)
        assert reused.process is not None
        reused.process = reused.process.rsplit(":", 1)[0] + ":1"  # written by an earlier holder of that number
        reused.write("left by a crash before a reboot")
        assert [r.text for r in Autosave(doc).orphans()] == ["left by a crash before a reboot"]
        Autosave(doc, pid=alive.pid).write("the window that number belongs to now")  # its real identity
        assert Autosave(doc).orphans() == []
    finally:
        alive.kill()
        alive.wait()


def test_an_autosave_from_an_older_version_is_still_offered(tmp_path, isolated_home):
    doc = tmp_path / "story.txt"
    old = Autosave(doc)
    old.write("from before per-process files")
    old.path.rename(old.path.with_name(f"{old.stem}.json"))
    assert [r.text for r in Autosave(doc).orphans()] == ["from before per-process files"]


def test_a_broken_autosave_reads_as_none(isolated_home):
    saved = Autosave(None)
    saved.path.parent.mkdir(parents=True)
    saved.path.write_text("{not json")
    assert saved.read() is None


def test_settings_round_trip_and_defaults(isolated_home):
    assert Settings.load() == Settings()
    Settings(model="tiny", temperature=0.7).save()
    assert Settings.path() == isolated_home / "config" / "settings.json"
    loaded = Settings.load()
    assert loaded.model == "tiny" and loaded.temperature == 0.7 and loaded.suggestions == 9 and loaded.memory


def test_settings_tolerate_broken_and_foreign_files(isolated_home):
    Settings.path().parent.mkdir(parents=True)
    Settings.path().write_text("[1, 2")
    assert Settings.load() == Settings()
    assert "not valid settings" in Settings.problem and "settings.broken.json" in Settings.problem
    # The hand-edited file survives the next save, which rewrites settings.json.
    Settings(temperature=0.5).save()
    assert (Settings.path().parent / "settings.broken.json").read_text() == "[1, 2"
    assert Settings.load().temperature == 0.5 and Settings.problem is None
    Settings.path().write_text(json.dumps({"temperature": "hot", "suggestions": 5, "model": 7, "from_the_future": 1}))
    loaded = Settings.load()
    assert loaded.temperature == 1.0 and loaded.suggestions == 5 and loaded.model is None
    assert "temperature" in Settings.problem and "model" in Settings.problem


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_follows_the_umask_and_the_folder_is_synced(tmp_path, monkeypatch, umask):
    """Documents, settings and model files alike: a new file gets 0666 less the umask (not a temporary file's
    0600), an existing one keeps its mode, and the folder is fsynced after the rename."""
    from charwriter import atomic

    monkeypatch.setattr(atomic, "_UMASK", umask)
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    new = tmp_path / "new.txt"
    save_document(new, "text")
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask
    assert synced == [False, True]  # the file, then its folder
    os.chmod(new, 0o604)
    save_document(new, "more text")
    assert stat.S_IMODE(new.stat().st_mode) == 0o604 and new.read_text() == "more text"


def test_autosaves_keep_the_text_unescaped_and_older_files_still_read(isolated_home):
    import json as json_module

    from charwriter.documents import read_autosave

    text = 'line one\n"quoted" \\ back\u200d\n{"format": "not a header"}\n'
    autosave = Autosave(None)
    autosave.write(text)
    raw = autosave.path.read_text(encoding="utf-8")
    assert raw.endswith(text)  # the text as it is, after one line of JSON
    assert autosave.read().text == text
    older = autosave.path.with_name("untitled-1.json")  # written by an earlier charwriter: all JSON
    older.write_text(json_module.dumps({"document": None, "pid": 1, "saved_at": "2026-01-01T10:00:00",
                                        "text": text}), encoding="utf-8")
    assert read_autosave(older).text == text

"""Cache entries: a manifest of every file's digest, verified on read, written atomically."""

from __future__ import annotations

import json

import pytest

from nlpcompress.storage.entry import (
    MANIFEST,
    entry_problem,
    staged_entry,
    temp_folder,
    valid_entry,
    write_manifest,
)


def _entry(folder):
    with staged_entry(folder) as tmp:
        (tmp / "a.txt").write_text("alpha")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.bin").write_bytes(b"\x00\x01")
    return folder


def test_a_staged_entry_lists_every_file_and_verifies(tmp_path):
    folder = _entry(tmp_path / "e")
    manifest = json.loads((folder / MANIFEST).read_text())
    assert sorted(manifest["files"]) == ["a.txt", "sub/b.bin"]
    assert manifest["files"]["a.txt"]["bytes"] == 5
    # sha256("alpha")
    assert manifest["files"]["a.txt"]["sha256"].startswith("8ed3f6ad685b959e")
    assert entry_problem(folder) is None and valid_entry(folder, "test")
    assert not temp_folder(folder).exists()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda f: (f / "a.txt").write_text("alphA"), "changed after it was written"),
        (lambda f: (f / "a.txt").write_text(""), "has 0 bytes, the manifest says 5"),
        (lambda f: (f / "sub" / "b.bin").unlink(), "sub/b.bin is missing"),
        (lambda f: (f / MANIFEST).unlink(), "no manifest.json"),
        (lambda f: (f / MANIFEST).write_text("{"), "unreadable"),
    ],
)
def test_a_damaged_entry_is_named_and_removed(tmp_path, caplog, damage, reason):
    folder = _entry(tmp_path / "e")
    damage(folder)
    assert reason in entry_problem(folder)
    with caplog.at_level("WARNING"):
        assert not valid_entry(folder, "tokenized data")
    assert not folder.exists()
    assert f"tokenized data cache {folder}" in caplog.text and "rebuilding" in caplog.text


def test_extra_files_do_not_invalidate_an_entry(tmp_path):
    folder = _entry(tmp_path / "e")
    (folder / "cache-123.arrow").write_bytes(b"written by a reader")
    assert entry_problem(folder) is None


def test_a_failed_writer_leaves_the_old_entry_and_no_temporary_folder(tmp_path):
    folder = _entry(tmp_path / "e")
    with pytest.raises(RuntimeError), staged_entry(folder) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("killed")
    assert (folder / "a.txt").read_text() == "alpha" and entry_problem(folder) is None
    assert not temp_folder(folder).exists()


def test_a_killed_writers_leftovers_are_cleared_by_the_next_writer(tmp_path):
    folder = tmp_path / "e"
    left = temp_folder(folder)
    left.mkdir()
    (left / "half.bin").write_bytes(b"x")
    assert entry_problem(folder) == "missing"
    _entry(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt", MANIFEST, "sub"]


def test_rewriting_the_manifest_accepts_the_current_bytes(tmp_path):
    folder = _entry(tmp_path / "e")
    (folder / "a.txt").write_text("beta")
    write_manifest(folder)
    assert entry_problem(folder) is None

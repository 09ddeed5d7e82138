"""The tokenized-data cache: a corrupted or edited entry is rebuilt, never used or crashed on."""

from __future__ import annotations

import json

import pytest

from nlpcompress.config.schema import DataConfig
from nlpcompress.data.datamodule import TextClassificationDataModule

CFG = DataConfig(name="tiny", source="tiny", max_length=16)


def _setup(tokenizer, cache):
    dm = TextClassificationDataModule(CFG, tokenizer, cache)
    dm.setup()
    return dm


def _entry(cache):
    (folder,) = [p for p in (cache / "tokenized").iterdir() if p.is_dir()]
    return folder


def _corrupt_arrow(folder):
    arrow = sorted((folder / "splits").rglob("*.arrow"))[0]
    arrow.write_bytes(b"not arrow at all" * 10)


def _edit_labels(folder):
    (folder / "labels.json").write_text(json.dumps(["negative", "positive", "neutral"]))


@pytest.mark.parametrize("damage", [_corrupt_arrow, _edit_labels])
def test_a_damaged_entry_is_rebuilt_with_one_line_naming_it(tmp_path, tokenizer, caplog, damage):
    first = _setup(tokenizer, tmp_path)
    folder = _entry(tmp_path)
    damage(folder)
    with caplog.at_level("WARNING"):
        second = _setup(tokenizer, tmp_path)
    assert not second.cache_hit and second.label_names == first.label_names
    assert second.split_sizes() == first.split_sizes()
    assert f"tokenized data cache {folder}" in caplog.text
    assert _setup(tokenizer, tmp_path).cache_hit  # the rebuilt entry verifies


def test_an_entry_without_manifest_is_rebuilt(tmp_path, tokenizer):
    _setup(tokenizer, tmp_path)
    (_entry(tmp_path) / "manifest.json").unlink()
    assert not _setup(tokenizer, tmp_path).cache_hit
    assert (_entry(tmp_path) / "manifest.json").is_file()

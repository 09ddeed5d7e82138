"""A data file edited in place is new data: new digest, new tokenized cache, new config hash."""

from __future__ import annotations

from nlpcompress.cli import run_config
from nlpcompress.config.schema import DataConfig
from nlpcompress.data.datamodule import TextClassificationDataModule
from nlpcompress.data.digest import data_digest


def _write(path, labels):
    rows = "".join(f"sentence number {i},{labels[i % len(labels)]}\n" for i in range(60))
    path.write_text("text,label\n" + rows, encoding="utf-8")


def test_digest_follows_bytes_not_path(tmp_path):
    live = tmp_path / "live.csv"
    _write(live, ["a", "b"])
    cfg = DataConfig(name="live", source="local", path=str(live))
    first = data_digest(cfg)
    assert first == data_digest(cfg)  # stable
    copy = tmp_path / "copy.csv"
    copy.write_bytes(live.read_bytes())
    assert data_digest(DataConfig(name="live", source="local", path=str(copy))) == first
    _write(live, ["a", "b", "c"])
    assert data_digest(cfg) != first


def test_generated_and_missing_data_have_no_digest(tmp_path):
    assert data_digest(DataConfig(name="tiny", source="tiny")) is None
    missing = DataConfig(name="x", source="local", path=str(tmp_path / "nope.csv"))
    assert data_digest(missing) is None


def test_edit_in_place_rebuilds_tokenized_cache(tmp_path, tokenizer):
    live = tmp_path / "live.csv"
    _write(live, ["a", "b"])
    cfg = DataConfig(name="live", source="local", path=str(live), max_length=16)
    before = TextClassificationDataModule(cfg, tokenizer, tmp_path / "cache")
    before.setup()
    assert before.num_labels == 2
    _write(live, ["a", "b", "c"])
    after = TextClassificationDataModule(cfg, tokenizer, tmp_path / "cache")
    after.setup()
    assert after.cache_key() != before.cache_key()
    assert (after.cache_hit, after.num_labels) == (False, 3)


def test_config_hash_changes_with_the_data_digest(compose_cfg):
    cfg = run_config(compose_cfg(["model=tiny_bert", "data=tiny"]))
    assert cfg.config_hash("aaaa") != cfg.config_hash("bbbb")
    assert cfg.config_hash(None) == cfg.config_hash()


def test_same_bytes_by_another_path_share_the_cache(tmp_path, tokenizer):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    _write(a / "train.csv", ["x", "y"])
    (b / "train.csv").write_bytes((a / "train.csv").read_bytes())
    keys = [
        TextClassificationDataModule(
            DataConfig(name="d", source="local", path=str(folder)), tokenizer, tmp_path
        ).cache_key()
        for folder in (a, b)
    ]
    assert keys[0] == keys[1]

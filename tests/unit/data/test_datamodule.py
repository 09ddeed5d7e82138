"""Data: sources, split sizes, determinism, the tokenization cache, and every bad input."""

from __future__ import annotations

import bz2
from pathlib import Path

import pandas as pd
import pytest

from nlpcompress.config.errors import DataError
from nlpcompress.config.schema import DataConfig
from nlpcompress.data.datamodule import TextClassificationDataModule
from nlpcompress.data.readers import read_source
from nlpcompress.data.splits import complete_splits

SHARED_SST2 = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "sst2"


def splits_of(cfg: DataConfig):
    return complete_splits(read_source(cfg, 0), cfg, cfg.path or cfg.name)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_tiny_split_sizes_are_stratified_and_deterministic():
    cfg = DataConfig(name="tiny", source="tiny", tiny_size=200)
    a, b = splits_of(cfg), splits_of(cfg)
    assert (len(a.train), len(a.validation), len(a.test)) == (162, 18, 20)
    assert a.test["label"].value_counts().to_dict() == {0: 10, 1: 10}
    pd.testing.assert_frame_equal(a.test, b.test)
    assert a.num_labels == 2


def test_rotten_tomatoes_offline_source_checksum_and_split():
    cfg = DataConfig(
        name="rt",
        source="rotten_tomatoes",
        sha256="26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
    )
    s = splits_of(cfg)
    total = len(s.train) + len(s.validation) + len(s.test)
    assert total == 12752  # 12,808 fresh/rotten snippets less 56 duplicate texts
    assert abs(len(s.test) - 0.1 * total) < 5
    assert set(s.train["label"]) == {0, 1}
    assert set(s.test["text"]).isdisjoint(s.train["text"])


def test_rotten_tomatoes_wrong_checksum_is_refused():
    with pytest.raises(DataError, match="sha256"):
        splits_of(DataConfig(name="rt", source="rotten_tomatoes", sha256="0" * 64))


@pytest.mark.skipif(not SHARED_SST2.is_dir(), reason="shared SST-2 files not present")
def test_sst2_local_files_with_different_text_columns():
    cfg = DataConfig(
        name="sst2",
        source="hub",
        path=str(SHARED_SST2),
        text_column="sentence",
        split_text_columns={"validation": "content", "test": "content"},
    )
    s = splits_of(cfg)
    assert (len(s.train), len(s.validation), len(s.test)) == (67349, 872, 1821)


def test_multiclass_string_labels_csv_work_without_code_changes(tmp_path):
    rows = "\n".join(f"review {i} text,{['bad', 'ok', 'good'][i % 3]}" for i in range(90))
    write(tmp_path / "train.csv", "review,stars\n" + rows + "\n")
    s = splits_of(
        DataConfig(
            name="x", source="local", path=str(tmp_path), text_column="review", label_column="stars"
        )
    )
    assert s.num_labels == 3 and s.label_names == ["bad", "good", "ok"]
    assert set(s.validation["label"]) == {0, 1, 2}


def test_json_and_parquet_are_read(tmp_path):
    df = pd.DataFrame({"text": [f"t{i}" for i in range(40)], "label": [i % 2 for i in range(40)]})
    df.to_json(tmp_path / "train.jsonl", orient="records", lines=True)
    df.to_parquet(tmp_path / "test.parquet")
    s = splits_of(DataConfig(name="x", source="local", path=str(tmp_path)))
    assert len(s.test) == 40


@pytest.mark.parametrize(
    ("files", "kwargs", "message"),
    [
        ({"train.csv": "sentence,label\na,0\nb,1\n"}, {}, "missing column 'text'"),
        (
            {"train.csv": "text,label\na,0\nb,1\n", "test.csv": "text,label\n"},
            {},
            "the split is empty",
        ),
        (
            {"train.csv": "text,label\na,0\nb,1\nc,0\n", "test.csv": "text,label\nz,7\n"},
            {},
            "not in the training label set",
        ),
        ({"train.csv": "text,label\na,0\nb,0\n"}, {}, "need at least 2"),
        ({"train.tsv": "text\tlabel\na\t0\nb\t\n"}, {}, "missing labels"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, files, kwargs, message):
    for name, text in files.items():
        write(tmp_path / name, text)
    with pytest.raises(DataError) as info:
        splits_of(DataConfig(name="x", source="local", path=str(tmp_path), **kwargs))
    assert message in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_non_utf8_file_is_named(tmp_path):
    (tmp_path / "train.csv").write_bytes("text,label\ncaf\xe9,0\nb,1\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"train\.csv.*UTF-8"):
        splits_of(DataConfig(name="x", source="local", path=str(tmp_path)))


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "train.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="unreadable"):
        splits_of(DataConfig(name="x", source="local", path=str(bad)))
    with pytest.raises(DataError, match="neither a file nor a folder"):
        splits_of(DataConfig(name="x", source="local", path=str(tmp_path / "nope")))


def test_compressed_csv_is_read(tmp_path):
    (tmp_path / "train.csv.bz2").write_bytes(
        bz2.compress(b"text,label\n" + b"".join(b"w%d,%d\n" % (i, i % 2) for i in range(50)))
    )
    assert splits_of(DataConfig(name="x", source="local", path=str(tmp_path))).num_labels == 2


def test_tokenization_is_cached_on_disk(tmp_path, tokenizer):
    cfg = DataConfig(name="tiny", source="tiny", max_length=16)
    first = TextClassificationDataModule(cfg, tokenizer, tmp_path)
    first.setup()
    second = TextClassificationDataModule(cfg, tokenizer, tmp_path)
    second.setup()
    assert (first.cache_hit, second.cache_hit) == (False, True)
    batch = next(iter(second.train_dataloader()))
    assert batch["input_ids"].shape[1] <= 16
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "labels", "idx"}
    other = TextClassificationDataModule(
        DataConfig(name="tiny", source="tiny", max_length=12), tokenizer, tmp_path
    )
    assert other.cache_key() != second.cache_key()

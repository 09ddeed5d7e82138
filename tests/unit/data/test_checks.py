"""Row checks: probable label typos, an explicit label list, and empty texts are refused with
the file, the label and the rows named (or empty texts dropped and counted)."""

from __future__ import annotations

import logging

import pytest

from nlpcompress.config.errors import ConfigError, DataError
from nlpcompress.config.schema import DataConfig
from nlpcompress.config.typed import build_section
from nlpcompress.data.checks import canonical_label, describe_rows
from nlpcompress.data.readers import read_source
from nlpcompress.data.splits import complete_splits


def splits_of(folder, **kwargs):
    cfg = DataConfig(name="x", source="local", path=str(folder), **kwargs)
    return complete_splits(read_source(cfg, 0), cfg, cfg.path)


def csv_rows(labels, n=40, sep=","):
    return "".join(f"review {i}{sep}{labels[i % len(labels)]}\n" for i in range(n))


def write_csv(path, labels, extra="", sep=","):
    path.write_text(f"text{sep}label\n" + csv_rows(labels, sep=sep) + extra, encoding="utf-8")
    return path


def refusal(folder, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        splits_of(folder, **kwargs)
    return str(info.value)


@pytest.mark.parametrize(
    ("value", "key"),
    [(1, "1"), (1.0, "1"), (" 1.0 ", "1"), ("0.50", "0.5"), (0.5, "0.5"), ("NA", "NA")],
)
def test_numbers_are_one_label_whatever_their_spelling(value, key):
    assert canonical_label(value) == key


@pytest.mark.parametrize("value", [None, float("nan"), "", "   "])
def test_missing_labels_have_no_key(value):
    assert canonical_label(value) is None


def test_row_lists_say_what_they_count_and_are_cut_at_ten():
    assert describe_rows([7], "line") == "line 7"
    assert describe_rows([2, 5], "data row") == "data rows 2, 5 (1-based, header line not counted)"
    assert describe_rows(list(range(1, 13)), "row").endswith("10, ... (12 in all) (1-based)")


def test_one_na_among_0_1_labels_is_refused_naming_file_label_and_row(tmp_path):
    write_csv(tmp_path / "train.csv", ["0", "1"], extra="typo row,NA\n")
    message = refusal(tmp_path)
    assert str(tmp_path / "train.csv") in message
    assert "'NA' at data row 41 (1-based, header line not counted)" in message
    assert "data.min_label_count=2" in message


def test_one_half_among_float_labels_is_refused(tmp_path):
    write_csv(tmp_path / "train.tsv", ["0.0", "1.0"], extra="x\t0.5\ny\t1.0\n", sep="\t")
    message = refusal(tmp_path)
    assert "train.tsv" in message and "'0.5' at data row 41 " in message


def test_a_rare_label_can_be_accepted_by_lowering_min_label_count(tmp_path):
    write_csv(tmp_path / "train.csv", ["0", "1"], extra="odd one,2\n")
    s = splits_of(tmp_path, min_label_count=1)
    assert s.label_names == ["0", "1", "2"]


def test_float_and_int_spellings_of_a_label_are_one_class(tmp_path):
    write_csv(tmp_path / "train.csv", ["0.0", "1.0"])
    (tmp_path / "test.csv").write_text("text,label\na,0\nb,1\nc,1\n", encoding="utf-8")
    s = splits_of(tmp_path)
    assert s.label_names == ["0", "1"]
    assert s.test["label"].tolist() == [0, 1, 1]
    assert (len(s.train), len(s.validation)) == (36, 4)


def test_explicit_labels_refuse_others_and_set_the_class_order(tmp_path):
    write_csv(tmp_path / "train.csv", ["neg", "pos"], extra="a,NA\nb,NA\nc,N/A\n")
    message = refusal(tmp_path, labels=["pos", "neg"])
    assert str(tmp_path / "train.csv") in message
    assert "labels not in data.labels ['pos', 'neg']" in message
    assert "'N/A' at data row 43 " in message and "'NA' at data rows 41, 42 " in message
    write_csv(tmp_path / "train.csv", ["neg", "pos"])
    s = splits_of(tmp_path, labels=["pos", "neg"])
    assert s.label_names == ["pos", "neg"]
    odd = s.train["text"].str.split().str[1].astype(int) % 2 == 1  # odd rows are "pos"
    assert (s.train["label"] == (~odd).astype(int)).all()


def test_explicit_labels_check_every_split_file(tmp_path):
    write_csv(tmp_path / "train.csv", ["0", "1"])
    (tmp_path / "dev.csv").write_text("text,label\na,0\nb,1\nc,2\n", encoding="utf-8")
    message = refusal(tmp_path, labels=[0, 1])
    assert str(tmp_path / "dev.csv") in message and "[validation]" in message
    assert "'2' at data row 3 " in message


def test_explicit_labels_accept_a_rare_label_and_name_classes(tmp_path):
    write_csv(tmp_path / "train.csv", ["0", "1"], extra="odd one,2\n")
    s = splits_of(tmp_path, labels=[0, 1, 2], label_names=["neg", "pos", "mixed"])
    assert s.label_names == ["neg", "pos", "mixed"] and s.num_labels == 3


def test_a_label_of_a_test_file_not_in_training_names_file_and_rows(tmp_path):
    write_csv(tmp_path / "train.csv", ["0", "1"])
    (tmp_path / "test.csv").write_text("text,label\na,0\nb,7\nc,7\n", encoding="utf-8")
    message = refusal(tmp_path)
    assert str(tmp_path / "test.csv") in message
    assert "not in the training label set ['0', '1']: '7' at data rows 2, 3 " in message


def test_text_label_names_order_the_classes_and_keep_their_own_names(tmp_path):
    write_csv(tmp_path / "train.csv", ["bad", "good", "ok"])
    assert splits_of(tmp_path, label_names=["ok", "bad"]).label_names == ["ok", "bad", "good"]


def test_empty_and_whitespace_texts_are_refused_naming_rows(tmp_path):
    write_csv(tmp_path / "train.csv", ["0", "1"], extra='"",0\n   ,1\n')
    message = refusal(tmp_path)
    assert str(tmp_path / "train.csv") in message
    assert "empty, whitespace-only or null text in column 'text' at data rows 41, 42 " in message
    assert "data.drop_empty=true" in message


def test_drop_empty_drops_them_and_logs_the_count(tmp_path, caplog):
    write_csv(tmp_path / "train.csv", ["0", "1"], extra='"",0\n   ,1\n')
    with caplog.at_level(logging.WARNING, logger="nlpcompress.data.checks"):
        s = splits_of(tmp_path, drop_empty=True)
    assert len(s.train) + len(s.validation) + len(s.test) == 40
    assert "dropped 2 rows with empty text from" in caplog.text
    assert "train.csv [train]: data rows 41, 42" in caplog.text


def test_jsonl_null_text_is_refused_naming_the_line(tmp_path):
    lines = [f'{{"text": "t{i}", "label": {i % 2}}}' for i in range(20)]
    lines[1:1] = ["", '{"text": null, "label": 1}']  # a blank line 2, the null on line 3
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    message = refusal(tmp_path)
    assert str(tmp_path / "train.jsonl") in message
    assert "null text in column 'text' at line 3;" in message
    s = splits_of(tmp_path, drop_empty=True)
    assert len(s.train) + len(s.validation) + len(s.test) == 20


@pytest.mark.parametrize(
    ("overrides", "key", "allowed"),
    [
        ({"min_label_count": 0}, "data.min_label_count", "an integer >= 1"),
        ({"min_label_count": "2"}, "data.min_label_count", "an integer"),
        ({"drop_empty": "yes"}, "data.drop_empty", "true or false"),
        ({"labels": ["pos"]}, "data.labels", "at least 2 distinct"),
        ({"labels": ["a", "a"]}, "data.labels", "at least 2 distinct"),
        ({"labels": "pos,neg"}, "data.labels", "a list"),
        ({"labels": ["a", "b"], "label_names": ["x"]}, "data.label_names", "2 names"),
    ],
)
def test_new_keys_are_validated_before_any_work(overrides, key, allowed):
    with pytest.raises(ConfigError) as info:
        build_section(DataConfig, {"name": "x", "source": "tiny", **overrides}, "data")
    assert info.value.key == key and allowed in info.value.allowed


def test_labels_that_are_one_number_twice_are_refused(tmp_path):
    write_csv(tmp_path / "train.csv", ["0", "1"])
    with pytest.raises(ConfigError, match=r"data\.labels=\['1', '1\.0'\]"):
        splits_of(tmp_path, labels=["1", "1.0"])

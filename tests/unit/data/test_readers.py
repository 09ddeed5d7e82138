"""Readers: errors give the file, the line and (for bad UTF-8) the byte offset in the file."""

from __future__ import annotations

import bz2

import pytest

from nlpcompress.config.errors import DataError
from nlpcompress.data.readers import read_table

HEADER_AND_ROWS = b"text,label\n" + b"".join(b"w%d,%d\n" % (i, i % 2) for i in range(12))


def refusal(path) -> str:
    with pytest.raises(DataError) as info:
        read_table(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_bad_utf8_in_a_csv_gives_the_byte_offset_in_the_file_and_the_line(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(HEADER_AND_ROWS + "caf\xe9,0\n".encode("latin-1"))
    offset = len(HEADER_AND_ROWS) + 3
    assert f"byte {offset} of the file (line 14, byte 4 of the line) is b'\\xe9'" in refusal(path)


def test_bad_utf8_in_a_compressed_file_counts_decompressed_bytes(tmp_path):
    path = tmp_path / "train.csv.bz2"
    path.write_bytes(bz2.compress(HEADER_AND_ROWS + b"\xff,1\n"))
    assert f"byte {len(HEADER_AND_ROWS)} of the file (decompressed) (line 14," in refusal(path)


def test_bad_utf8_in_jsonl_gives_the_offset_and_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"text": "a", "label": 0}\n{"text": "caf\xe9", "label": 1}\n')
    assert "byte 39 of the file (line 2, byte 14 of the line)" in refusal(path)


@pytest.mark.parametrize(
    ("second_line", "problem"),
    [
        ('{"text": "b", label: 1}', "line 2 is not valid JSON (Expecting property name"),
        ("[1, 2]", "line 2 is a JSON list, not an object"),
    ],
)
def test_bad_jsonl_lines_are_named_by_line_number(tmp_path, second_line, problem):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "a", "label": 0}\n' + second_line + "\n", encoding="utf-8")
    assert problem in refusal(path)


def test_jsonl_rows_are_numbered_by_file_line_skipping_blank_lines(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "a", "label": 0}\n\n{"text": "b", "label": 1}\n', encoding="utf-8")
    df = read_table(path)
    assert df.index.tolist() == [1, 3] and df.attrs["row_unit"] == "line"
    assert df["text"].tolist() == ["a", "b"]


def test_json_documents_are_read_and_their_errors_give_the_line(tmp_path):
    path = tmp_path / "train.json"
    path.write_text('[\n {"text": "a", "label": 0},\n {"text": "b", "label": 1}\n]\n')
    df = read_table(path)
    assert df["label"].tolist() == [0, 1] and df.index.tolist() == [1, 2]
    path.write_text('[\n {"text": "a", "label": 0}\n {"text": "b", "label": 1}\n]\n')
    assert "not valid JSON at line 3, column 2: Expecting ',' delimiter" in refusal(path)


def test_csv_rows_are_numbered_from_one_after_the_header(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(HEADER_AND_ROWS)
    df = read_table(path)
    assert (df.index[0], df.index[-1], df.attrs["row_unit"]) == (1, 12, "data row")

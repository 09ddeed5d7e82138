"""Row checks on one raw split: empty text, missing labels, and labels that look like typos.

Labels are compared as canonical strings (:func:`canonical_label`), so ``1``, ``1.0`` and
``"1"`` are one label whatever the file format made of them. Every refusal is a
:class:`~nlpcompress.config.errors.DataError` naming the file and the rows; rows are numbered
as the reader numbered them (``row_unit`` in the frame's ``attrs``): ``line`` is the file line
(JSONL), ``data row`` is 1-based with the CSV/TSV header line not counted, ``row`` is 1-based.
"""

from __future__ import annotations

import logging
import math
import numbers

import numpy as np
import pandas as pd

from nlpcompress.config.errors import ConfigError, DataError
from nlpcompress.config.schema import DataConfig

log = logging.getLogger(__name__)
ROWS_SHOWN = 10


def canonical_label(value: object) -> str | None:
    """A label as a string key; None when it is missing (null, NaN, empty).

    Integral numbers lose their ``.0`` (``1.0`` and ``"1.0"`` -> ``"1"``), other numbers are
    written shortest (``"0.50"`` -> ``"0.5"``), text is stripped.

    Example:
        >>> [canonical_label(v) for v in (1, 1.0, " 1.0 ", "0.50", "NA", float("nan"))]
        ['1', '1', '1', '0.5', 'NA', None]
    """
    if value is None or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return None if math.isnan(float(value)) else _number_text(float(value))
    text = str(value).strip()
    if not text:
        return None
    try:
        return str(int(text))
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return _number_text(number) if math.isfinite(number) else text


def _number_text(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def sort_key(label: str) -> tuple:
    """Numbers first, by value; then text."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def describe_rows(rows: list[int], unit: str) -> str:
    """``data rows 3, 7 (1-based, header line not counted)``; at most ``ROWS_SHOWN`` listed."""
    shown = ", ".join(str(r) for r in rows[:ROWS_SHOWN])
    if len(rows) > ROWS_SHOWN:
        shown += f", ... ({len(rows)} in all)"
    plural = unit + ("s" if len(rows) > 1 else "")
    note = {"data row": " (1-based, header line not counted)", "row": " (1-based)"}
    return f"{plural} {shown}{note.get(unit, '')}"


def _rows(df: pd.DataFrame, mask: pd.Series) -> list[int]:
    return [int(r) for r in df.loc[mask, "row"]]


def check_split(df: pd.DataFrame, cfg: DataConfig, split: str, where: str) -> pd.DataFrame:
    """Refuse (or drop) empty texts and missing labels; labels become canonical strings.

    Args:
        df: a raw split (columns ``text``, ``label``, and ``row`` when the reader numbered them).
        cfg: the data config (``drop_empty``, ``labels``, column names for messages).
        split: train, validation or test.
        where: the file (or source) named in errors.

    Returns:
        The split with ``text`` as str, ``label`` as canonical str, and a ``row`` column.

    Raises:
        DataError: the split is empty, a text is empty, a label is missing, or a label is not
            in ``data.labels``.
    """
    unit = df.attrs.get("row_unit", "row")
    if "row" not in df.columns:
        df = df.assign(row=np.arange(1, len(df) + 1))
    text_col = cfg.split_text_columns.get(split, cfg.text_column)
    if len(df) == 0:
        raise DataError(where, "the split is empty")
    empty = df["text"].isna() | (df["text"].astype(str).str.strip() == "")
    if empty.any():
        rows = describe_rows(_rows(df, empty), unit)
        if not cfg.drop_empty:
            raise DataError(
                where,
                f"empty, whitespace-only or null text in column {text_col!r} at {rows}; "
                "fix those rows, or set data.drop_empty=true to drop them",
            )
        log.warning("data: dropped %d rows with empty text from %s: %s", empty.sum(), where, rows)
        df = df[~empty]
        if len(df) == 0:
            raise DataError(where, "the split is empty after dropping empty texts")
    labels = df["label"].map(canonical_label).astype(object)
    missing = labels.isna()
    if missing.any():
        rows = describe_rows(_rows(df, missing), unit)
        raise DataError(where, f"missing labels in column {cfg.label_column!r} at {rows}")
    df = df.assign(text=df["text"].astype(str), label=labels)
    if cfg.labels is not None:
        refuse_labels_outside(df, allowed_labels(cfg), where, "data.labels")
    return df


def allowed_labels(cfg: DataConfig) -> list[str]:
    """``data.labels`` as canonical keys, in class order."""
    keys = [canonical_label(v) for v in cfg.labels]
    if None in keys or len(set(keys)) != len(keys):
        raise ConfigError(
            "data.labels", cfg.labels, "distinct labels (1 and 1.0 are the same label)"
        )
    return keys


def refuse_labels_outside(df: pd.DataFrame, allowed: list[str], where: str, what: str) -> None:
    """Raise DataError naming each label of ``df`` not in ``allowed`` (``what``) and its rows."""
    unit = df.attrs.get("row_unit", "row")
    outside = ~df["label"].isin(allowed)
    if not outside.any():
        return
    found = [
        f"{label!r} at {describe_rows(_rows(df, df['label'] == label), unit)}"
        for label in sorted(df.loc[outside, "label"].unique(), key=sort_key)
    ]
    raise DataError(where, f"labels not in {what} {allowed}: " + "; ".join(found))


def refuse_rare_labels(df: pd.DataFrame, cfg: DataConfig, where: str) -> None:
    """Raise DataError when a label occurs in fewer than ``data.min_label_count`` rows.

    One ``NA`` among thousands of 0/1 labels is a typo, not a class.
    """
    counts = df["label"].value_counts()
    rare = sorted(counts[counts < cfg.min_label_count].index, key=sort_key)
    if not rare:
        return
    unit = df.attrs.get("row_unit", "row")
    found = [
        f"{label!r} at {describe_rows(_rows(df, df['label'] == label), unit)}" for label in rare
    ]
    raise DataError(
        where,
        f"labels in fewer than data.min_label_count={cfg.min_label_count} rows of column "
        f"{cfg.label_column!r} (typos?): " + "; ".join(found) + "; fix those rows, or list the "
        "allowed labels in data.labels (or lower data.min_label_count)",
    )

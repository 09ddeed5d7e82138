"""Check raw splits and complete them into train/validation/test with integer labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nlpcompress.config.errors import DataError
from nlpcompress.config.schema import DataConfig
from nlpcompress.data.checks import (
    allowed_labels,
    check_split,
    refuse_labels_outside,
    refuse_rare_labels,
    sort_key,
)


@dataclass
class LabelledSplits:
    """Three splits with columns ``text`` (str) and ``label`` (int in ``0..num_labels-1``)."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    label_names: list[str]

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def items(self):
        return (("train", self.train), ("validation", self.validation), ("test", self.test))


def stratified_split(
    df: pd.DataFrame, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split off ``fraction`` of each label's rows (seeded): ``(rest, held_out)``."""
    rng = np.random.default_rng(seed)
    held = []
    for _, group in df.groupby("label", sort=True):
        idx = group.index.to_numpy().copy()
        rng.shuffle(idx)
        held.extend(idx[: max(1, round(len(idx) * fraction))])
    held_mask = df.index.isin(held)
    return df[~held_mask].reset_index(drop=True), df[held_mask].reset_index(drop=True)


def class_order(train: pd.DataFrame, cfg: DataConfig, where: str) -> list[str]:
    """The canonical label of each class id, in id order.

    ``data.labels`` when set; otherwise the training labels, numbers by value, text sorted,
    except that text labels listed in ``data.label_names`` come first, in that order.
    """
    if cfg.labels is not None:
        order = allowed_labels(cfg)
    else:
        order = sorted(train["label"].unique().tolist(), key=sort_key)
        listed = [n for n in (cfg.label_names or []) if n in set(order)]
        order = listed + [v for v in order if v not in listed]
    present = train["label"].nunique()
    if present < 2:
        raise DataError(
            where,
            f"the training split has {present} distinct label(s) in column {cfg.label_column!r}; need at least 2",
        )
    return order


def class_names(order: list[str], cfg: DataConfig) -> list[str]:
    """Display names of the class ids: ``data.label_names`` when they name ids rather than
    label values (e.g. ``[negative, positive]`` for 0/1), else the labels themselves."""
    if cfg.labels is not None:
        return list(cfg.label_names) if cfg.label_names else [str(v) for v in cfg.labels]
    if cfg.label_names and not set(cfg.label_names) & set(order):
        names = list(cfg.label_names)
        return (names + order[len(names) :])[: len(order)]
    return order


def complete_splits(raw: dict[str, pd.DataFrame], cfg: DataConfig, source: str) -> LabelledSplits:
    """Validate and complete the splits.

    Rows are checked first (:func:`nlpcompress.data.checks.check_split`): empty texts are
    refused (or dropped with ``data.drop_empty``), labels are compared as canonical strings
    (``1`` == ``1.0``). Class ids follow :func:`class_order`. Every validation/test label must
    be a training label; a training label in fewer than ``data.min_label_count`` rows is
    refused as a probable typo (unless ``data.labels`` lists the allowed labels). Missing
    validation/test splits are carved from train (stratified, ``split_seed``).

    Raises:
        DataError: empty split, empty text, a missing, unknown or rare label; each names the
            file and the rows.
    """
    where = {k: v.attrs.get("source") or source for k, v in raw.items()}
    where = {k: f"{w} [{k}]" for k, w in where.items()}
    frames = {k: check_split(v, cfg, k, where[k]).reset_index(drop=True) for k, v in raw.items()}
    order = class_order(frames["train"], cfg, where["train"])
    for split, df in frames.items():
        if split != "train" and cfg.labels is None:
            refuse_labels_outside(df, order, where[split], "the training label set")
    if cfg.labels is None:
        refuse_rare_labels(frames["train"], cfg, where["train"])
    mapping = {v: i for i, v in enumerate(order)}
    for split, df in frames.items():
        frames[split] = pd.DataFrame(
            {"text": df["text"], "label": df["label"].map(mapping).astype(int)}
        )
    train = frames["train"]
    if "test" not in frames:
        train, frames["test"] = stratified_split(train, cfg.test_fraction, cfg.split_seed)
    if "validation" not in frames:
        train, frames["validation"] = stratified_split(
            train, cfg.validation_fraction, cfg.split_seed + 1
        )
    if len(train) == 0:
        raise DataError(where["train"], "nothing left to train on after splitting")
    return LabelledSplits(train, frames["validation"], frames["test"], class_names(order, cfg))

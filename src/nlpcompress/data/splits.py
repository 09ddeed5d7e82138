"""Check raw splits and complete them into train/validation/test with integer labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nlpcompress.config.errors import DataError
from nlpcompress.config.schema import DataConfig


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


def _label_set(train: pd.DataFrame, cfg: DataConfig, source: str) -> list:
    values = sorted(train["label"].unique().tolist(), key=lambda v: (str(type(v)), v))
    if len(values) < 2:
        raise DataError(
            source,
            f"the training split has {len(values)} distinct label(s) in column {cfg.label_column!r}; need at least 2",
        )
    return values


def complete_splits(raw: dict[str, pd.DataFrame], cfg: DataConfig, source: str) -> LabelledSplits:
    """Validate and complete the splits.

    Missing validation/test splits are carved from train (stratified, ``split_seed``).
    Integer labels keep their values (0..K-1 must be the set); string labels are mapped to
    ids in sorted order (or in ``label_names`` order when given).

    Raises:
        DataError: empty split, empty text, a label outside the training label set.
    """
    frames = {k: v.reset_index(drop=True) for k, v in raw.items()}
    for split, df in frames.items():
        if len(df) == 0:
            raise DataError(f"{source} [{split}]", "the split is empty")
        if df["label"].isna().any() or (df["label"].astype(str).str.strip() == "").any():
            raise DataError(f"{source} [{split}]", f"missing labels in column {cfg.label_column!r}")
        frames[split] = df.assign(text=df["text"].astype(str))
    train = frames["train"]
    values = _label_set(train, cfg, f"{source} [train]")
    if cfg.label_names:
        names = list(cfg.label_names)
        if all(isinstance(v, str) for v in values):
            values = [v for v in names if v in set(values)] + [v for v in values if v not in names]
    else:
        names = [str(v) for v in values]
    ints = all(isinstance(v, int | np.integer) for v in values)
    if ints and sorted(values) != list(range(len(values))):
        mapping = {v: i for i, v in enumerate(sorted(values))}
    else:
        mapping = {v: i for i, v in enumerate(values)}
    if not cfg.label_names and ints:
        names = [str(v) for v in sorted(values)]
    for split, df in frames.items():
        unknown = set(df["label"].unique().tolist()) - set(mapping)
        if unknown:
            raise DataError(
                f"{source} [{split}]",
                f"labels {sorted(map(str, unknown))[:5]} are not in the training label set {sorted(map(str, mapping))}",
            )
        frames[split] = df.assign(label=df["label"].map(mapping).astype(int))
    train = frames["train"]
    if "test" not in frames:
        train, frames["test"] = stratified_split(train, cfg.test_fraction, cfg.split_seed)
    if "validation" not in frames:
        train, frames["validation"] = stratified_split(
            train, cfg.validation_fraction, cfg.split_seed + 1
        )
    if len(train) == 0:
        raise DataError(f"{source} [train]", "nothing left to train on after splitting")
    if len(names) < len(mapping):
        names = names + [str(v) for v in list(mapping)[len(names) :]]
    return LabelledSplits(train, frames["validation"], frames["test"], names[: len(mapping)])

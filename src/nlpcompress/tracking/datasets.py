"""A run's data as MLflow dataset inputs (the UI's Dataset column), one per split.

Each split is an MLflow ``Dataset`` named after ``data.name`` and tagged with its
``mlflow.data.context`` (``train``, ``validation``, ``test``). MLflow keeps one dataset per
(name, digest) in an experiment, so each split has its own digest:
``stable_hash([data_digest or the data config, split, rows])``; the run's ``data_digest``
(of the files read, see :mod:`nlpcompress.data.digest`) is in every profile. The source is
written the way MLflow's own sources are (``{"uri": ...}`` for files, ``{"path": ...}`` for
the hub), so the UI shows it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT as CONTEXT_TAG  # "mlflow.data.context"

from nlpcompress.config.errors import DataError
from nlpcompress.config.hashing import stable_hash
from nlpcompress.config.schema import DataConfig
from nlpcompress.data.digest import source_files

# The data config keys that do not change the rows.
LOADER_KEYS = ("batch_size", "eval_batch_size", "num_workers")


def split_source(cfg: DataConfig, split: str) -> tuple[str, str]:
    """``(source_type, source JSON)`` of one split: its file, the hub id, or ``generated``."""
    try:
        files = source_files(cfg)
    except DataError:
        files = {}
    if files:
        path = files.get(split) or files.get("train") or next(iter(files.values()))
        return "local", json.dumps({"uri": str(path.resolve())})
    if cfg.source == "hub" and cfg.hub_name:
        source = {"path": cfg.hub_name, "config_name": cfg.hub_config}
        if split in cfg.hub_splits:
            source["split"] = cfg.hub_splits[split]
        return "hugging_face", json.dumps(source)
    return "generated", json.dumps({"uri": f"generated:{cfg.source}"})


def dataset_inputs(
    cfg: DataConfig,
    split_sizes: Mapping[str, int],
    num_labels: int,
    digest: str | None,
) -> list[DatasetInput]:
    """One :class:`DatasetInput` per split, with the split sizes and label count as profile.

    Args:
        cfg: the data section.
        split_sizes: rows by split (``train``, ``validation``, ``test``).
        num_labels: number of classes.
        digest: the run's data digest (None for generated or hub data).
    """
    identity = digest or {k: v for k, v in dataclasses.asdict(cfg).items() if k not in LOADER_KEYS}
    sizes = {f"{split}_rows": int(n) for split, n in split_sizes.items()}
    inputs = []
    for split, rows in split_sizes.items():
        source_type, source = split_source(cfg, split)
        profile = {
            "num_rows": int(rows),
            **sizes,
            "num_labels": int(num_labels),
            "data_digest": digest or "none",
        }
        dataset = Dataset(
            name=cfg.name,
            digest=stable_hash([identity, split, int(rows)]),
            source_type=source_type,
            source=source,
            profile=json.dumps(profile),
        )
        inputs.append(DatasetInput(dataset, tags=[InputTag(CONTEXT_TAG, split)]))
    return inputs

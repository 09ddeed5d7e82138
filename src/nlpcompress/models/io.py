"""What goes into a classifier and what comes out: batch -> forward kwargs, output -> logits.

Shared by training, measuring, exporting and every technique, so it sits low (``models``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_inputs(
    batch: Mapping[str, torch.Tensor], model: nn.Module | None = None
) -> dict[str, torch.Tensor]:
    """The keys of a batch that the model's forward takes (drops ``labels``, ``idx``).

    With ``model``, also drops inputs its forward does not accept (DistilBERT-like models
    take no ``token_type_ids``).
    """
    keys = [k for k in MODEL_INPUTS if k in batch]
    if model is not None:
        accepted = _forward_params(type(model))
        if accepted is not None:
            keys = [k for k in keys if k in accepted]
    return {k: batch[k] for k in keys}


@functools.cache
def _forward_params(cls: type) -> frozenset[str] | None:
    """Named parameters of ``cls.forward``; None when it takes ``**kwargs``."""
    params = inspect.signature(cls.forward).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params)


def logits_of(output: Any) -> torch.Tensor:
    """Logits from a model output (a tensor, a ModelOutput, or a tuple)."""
    if isinstance(output, torch.Tensor):
        return output
    if hasattr(output, "logits"):
        return output.logits
    return output[0]

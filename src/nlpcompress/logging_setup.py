"""Quiet, single-copy logs: library noise that says nothing about the run is dropped."""

from __future__ import annotations

import logging
import warnings

NOISE = (
    "litlogger",
    "Failed to load",
    "is an Enum subclass",
    "`Trainer(limit_val_batches=1.0)`",
    "`Trainer(val_check_interval=1.0)`",
    "TPU available",
    "GPU available",
    # onnxruntime.quantization logs every tensor through the root logger
    "get_tensor_type returns",
    "Quantization parameters for tensor",
)
# Python warnings of the libraries that say nothing about the run: once per job in every sweep.
NOISY_WARNINGS = (
    # torch deprecates LeafSpec(); Lightning 2.6's _pytree still calls it on every fit
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(token in message for token in NOISE)


def quiet_warnings() -> None:
    """Ignore the Python warnings in :data:`NOISY_WARNINGS`; every other warning still shows."""
    for message in NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


def quiet_libraries() -> None:
    """Drop known noise; route Lightning's messages through the root (Hydra's) handlers only.

    ``import lightning`` puts an ``INFO: ...`` stderr handler on the ``lightning`` logger, and it
    runs after this function (the heavy imports come after the config check). Records of
    ``lightning.pytorch`` / ``lightning.fabric`` that propagated would pass it and then Hydra's
    root handlers: every Lightning line twice, the copy without the noise filter. So those two
    loggers write to the root's handlers themselves and do not propagate.
    """
    quiet_warnings()
    drop = _DropNoise()
    for name in (
        "torchao",
        "torch.utils._pytree",
        "lightning.pytorch",
        "lightning.fabric",
        "lightning",
    ):
        logger = logging.getLogger(name)
        logger.addFilter(drop)
        for handler in logger.handlers:
            handler.addFilter(drop)
    root = logging.getLogger()
    for handler in root.handlers:
        handler.addFilter(drop)
    for name in ("lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        logger.handlers[:] = root.handlers  # a copy of the list: Hydra's console and file
        logger.propagate = not root.handlers
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
    logging.getLogger("torchao").setLevel(logging.ERROR)

"""Quiet, single-copy logs: library noise that says nothing about the run is dropped."""

from __future__ import annotations

import logging

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


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(token in message for token in NOISE)


def quiet_libraries() -> None:
    """Drop known noise; route Lightning's messages through the root (Hydra's) handlers only."""
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
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    for handler in logging.getLogger().handlers:
        handler.addFilter(drop)
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
    logging.getLogger("torchao").setLevel(logging.ERROR)

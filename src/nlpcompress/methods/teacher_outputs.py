"""The teacher's outputs over the training split, computed once and kept on disk.

Used by every method that distils from a frozen teacher: ``method=distill`` and QAT with
``method.distill=true`` (BinaryBERT / BiT). A training step then reads the teacher's logits and
hidden states by example index (:class:`~nlpcompress.distill.cache.TeacherCache`) instead of
running the teacher.
"""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn
from torch.utils.data import DataLoader

from nlpcompress.distill.cache import (
    TeacherCache,
    cache_key,
    compute_teacher_cache,
    hidden_bytes,
    load_or_compute,
)
from nlpcompress.distill.students import hidden_width
from nlpcompress.methods.base import MethodContext

log = logging.getLogger(__name__)


def teacher_cache_metrics(cache: TeacherCache | None, forward_calls: int) -> dict[str, float]:
    """What a run that distils logs about its teacher: whether the cache served it, how long the
    cache took to build (0 when read from disk) and how many teacher passes training still ran."""
    return {
        "time/teacher_cache_s": cache.build_seconds if cache is not None else 0.0,
        "distill/teacher_cache_used": float(cache is not None),
        "distill/teacher_cache_from_disk": float(cache is not None and cache.from_disk),
        "distill/teacher_forward_calls": float(forward_calls),
    }


def training_split_outputs(
    ctx: MethodContext,
    teacher: nn.Module,
    teacher_id: str,
    layers: list[int],
    embeddings: bool,
    max_mb: int,
    max_mb_key: str,
) -> tuple[TeacherCache | None, str]:
    """The teacher's outputs over the training split, from the on-disk cache (built on a miss).

    Args:
        teacher_id: what identifies the teacher's weights (its baseline cache key).
        layers: the teacher layers whose hidden states are kept (empty: logits only).
        embeddings: also keep the embedding outputs.
        max_mb: the most the hidden states may take (float16); beyond it, no cache.
        max_mb_key: the config key of ``max_mb``, for the log line.

    Returns:
        ``(cache or None, what it holds or why there is none)``.
    """
    dm = ctx.datamodule
    train = dm.splits["train"]
    if layers or embeddings:
        tokens = int(sum(len(ids) for ids in train["input_ids"]))
        need = hidden_bytes(tokens, hidden_width(teacher), len(layers) + int(embeddings))
        if need > max_mb * 2**20:
            log.warning(
                "teacher hidden states need %.0f MB > %s=%d: no cache, the teacher runs every step",
                need / 2**20,
                max_mb_key,
                max_mb,
            )
            return None, f"off: hidden states need {need / 2**20:.0f} MB > {max_mb_key}"
    key = cache_key(teacher_id, dm.data_fingerprint(), layers, embeddings)
    path = Path(ctx.cfg.paths.cache_dir) / "teacher_outputs" / key
    loader = DataLoader(
        train.with_format("torch"),
        batch_size=dm.cfg.eval_batch_size,
        shuffle=False,
        collate_fn=dm.collate,
    )
    what = "logits" + (f"+hidden{layers}" if layers else "") + ("+embeddings" if embeddings else "")
    log.info(
        "teacher outputs (%s) of %d training examples: one teacher pass, or the cache",
        what,
        len(train),
    )
    cache = load_or_compute(
        path, lambda: compute_teacher_cache(teacher, loader, len(train), layers, embeddings)
    )
    log.info(
        "teacher outputs %s",
        "read from the cache" if cache.from_disk else f"computed in {cache.build_seconds:.0f} s",
    )
    return cache, what

"""``method=baseline``: the fine-tuned fp32 model itself, measured like any other form."""

from __future__ import annotations

from nlpcompress.methods.base import CompressedModel, MethodContext


def run_baseline(ctx: MethodContext) -> CompressedModel:
    """Returns the cached (or just trained) baseline; nothing is compressed."""
    return CompressedModel(model=ctx.baseline.model, form="fp32 dense", materialized=True)

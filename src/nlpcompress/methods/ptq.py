"""``method=ptq``: post-training quantization of the cached fine-tuned baseline (no training)."""

from __future__ import annotations

from dataclasses import dataclass

from nlpcompress.config.schema import MethodConfig
from nlpcompress.methods.base import CompressedModel, MethodContext
from nlpcompress.methods.registry import register_method
from nlpcompress.quant.workflow import calibrate, quant_result, quantize_for_method, validate_quant


@dataclass(frozen=True)
class PTQMethodConfig(MethodConfig):
    """PTQ has no knobs of its own: everything is in the ``quant`` group."""

    name: str = "ptq"


@register_method("ptq", config_cls=PTQMethodConfig, sections=("quant",), validate=validate_quant)
def run_ptq(ctx: MethodContext) -> CompressedModel:
    """Quantize the baseline's weights (calibrating activation ranges when asked)."""
    q = ctx.cfg.section("quant")
    model, _, metrics = quantize_for_method(ctx, q)
    ranges = calibrate(model, ctx, q.calib_batches)
    if ranges:
        metrics["quant/calibrated_layers"] = float(len(ranges))
    return quant_result(ctx, model, q, metrics)

"""Steps the quantization methods (ptq, qat, mixed_precision) share: validation, allocation,
calibration, the result. The maths is in :mod:`nlpcompress.quant`; this is its wiring."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from nlpcompress.config.errors import ConfigError
from nlpcompress.export import quant as qdeploy
from nlpcompress.measure.accuracy import evaluate_splits
from nlpcompress.methods.base import CompressedModel, MethodContext
from nlpcompress.models.io import logits_of, model_inputs
from nlpcompress.quant.config import QuantConfig
from nlpcompress.quant.modules import (
    WeightQuantizer,
    finish_calibration,
    quantized_modules,
    start_calibration,
)
from nlpcompress.quant.policy import (
    check_against_model,
    layer_bits,
    quantizable_modules,
    quantize_model,
    spec_for,
)
from nlpcompress.quant.sensitivity import allocate_bits, allocation_table, measure_sensitivity
from nlpcompress.quant.skeleton import model_skeleton
from nlpcompress.quant.storage import export_quantized

if TYPE_CHECKING:
    from nlpcompress.config.run import RunConfig


def validate_quant(cfg: RunConfig) -> None:
    """Checks that need the model's module names and shapes (built on the meta device)."""
    q: QuantConfig = cfg.section("quant")
    check_against_model(q, model_skeleton(cfg.model))
    ternary_steps = getattr(cfg.method, "ternary_max_steps", 0)
    if ternary_steps and (q.form != "split_binary" or cfg.method.name != "qat"):
        raise ConfigError(
            "method.ternary_max_steps",
            ternary_steps,
            "0 unless method=qat and quant.form=split_binary (the ternary stage of QAT; here "
            f"method={cfg.method.name}, quant.form={q.form})",
        )
    if q.act_bits is not None and q.calib_batches < 1:
        raise ConfigError(
            "quant.calib_batches",
            q.calib_batches,
            f"an integer >= 1: quant.act_bits={q.act_bits} needs calibration batches to fix activation ranges",
        )


def calibrate(model: nn.Module, ctx: MethodContext, batches: int) -> dict[str, tuple[float, float]]:
    """Fix activation ranges on ``batches`` training batches (no-op without activation quant)."""
    start_calibration(model)
    ranges = {}
    if any(
        getattr(m, "act_quantizer", None) is not None for m in quantized_modules(model).values()
    ):
        model.eval()
        with torch.no_grad():
            for batch in itertools.islice(ctx.datamodule.train_dataloader(), batches):
                model(**model_inputs(batch, model))
        ranges = finish_calibration(model)
    return ranges


def sensitivity_allocation(
    ctx: MethodContext, model: nn.Module, q: QuantConfig
) -> tuple[dict[str, int], dict[str, float]]:
    """Per-layer bits from measured sensitivity under ``q.budget_bits``; logs the table."""
    batches = list(itertools.islice(ctx.datamodule.val_dataloader(), q.sensitivity_batches))
    modules = quantizable_modules(model)
    layers = [
        n for n, (bits, _) in layer_bits(q, model).items() if isinstance(modules[n], nn.Linear)
    ]

    def predict(m: nn.Module):
        m.eval()
        logits = torch.cat([logits_of(m(**model_inputs(b, m))) for b in batches])
        return logits, torch.cat([b["labels"] for b in batches])

    def quantize_weight(name: str, weight: torch.Tensor, bits: int) -> torch.Tensor:
        spec = spec_for(q, modules[name], bits, from_policy=True)
        return WeightQuantizer(spec, weight).eval()(weight)

    rows = measure_sensitivity(model, layers, list(q.candidate_bits), quantize_weight, predict)
    chosen = allocate_bits(rows, list(q.candidate_bits), q.budget_bits)
    table = allocation_table(rows, chosen, list(q.candidate_bits))
    path = Path(ctx.run_dir) / "bit_allocation.csv"
    path.write_text(table)
    ctx.tracker.log_artifact(path)
    total = sum(r.params for r in rows)
    avg = sum(r.params * chosen[r.name] for r in rows) / total
    return chosen, {"quant/allocated_avg_bits": avg, "quant/budget_bits": float(q.budget_bits)}


def quantize_for_method(
    ctx: MethodContext, q: QuantConfig, split: bool = True
) -> tuple[nn.Module, dict[str, int] | None, dict[str, float]]:
    """A fresh copy of the start model with fake-quant wrappers (allocation first if budgeted).

    ``split=False`` leaves a ``split_binary`` model ternary (QAT's ternary stage).
    """
    model = (ctx.start_model if ctx.start_model is not None else ctx.baseline.fresh_copy()).eval()
    overrides, metrics = None, {}
    if q.budget_bits is not None:
        overrides, metrics = sensitivity_allocation(ctx, model, q)
    quantize_model(model, q, overrides, split=split)
    return model, overrides, metrics


def describe(model: nn.Module, q: QuantConfig) -> tuple[str, dict[str, str], dict[str, float]]:
    """Form string, tags and ``quant/*`` metrics of a quantized model."""
    lin = [
        m
        for m in quantized_modules(model).values()
        if isinstance(m.weight_quantizer, WeightQuantizer) and hasattr(m, "in_features")
    ]
    n = sum(m.weight.numel() for m in lin) or 1
    avg_bits = sum(m.weight.numel() * m.weight_quantizer.spec.bits for m in lin) / n
    forms = sorted({m.weight_quantizer.spec.form for m in lin})
    emb = f"emb int{q.embedding_bits}" if q.embedding_bits else "emb fp32"
    act = f" a{q.act_bits}" if q.act_bits else ""
    form = f"{'/'.join(forms)} w{avg_bits:g}{act} {q.granularity if q.form == 'int' else ''} ({emb})".replace(
        "  ", " "
    )
    tags = {
        "quant": q.name,
        "bits": str(q.bits),
        "embedding_bits": str(q.embedding_bits),
        "quant_form": q.form,
        "granularity": q.granularity,
    }
    return (
        form,
        tags,
        {"quant/avg_linear_bits": avg_bits, "quant/embedding_bits": float(q.embedding_bits or 32)},
    )


def quant_result(
    ctx: MethodContext, model: nn.Module, q: QuantConfig, metrics: dict[str, float]
) -> CompressedModel:
    """The :class:`CompressedModel` of a fake-quant model: packed export, honest deployment."""
    model.eval()
    form, tags, qmetrics = describe(model, q)
    int8 = qdeploy.has_int8_kernel(model)
    backend = ctx.cfg.deploy.backend
    opset = ctx.cfg.deploy.opset

    def deploy(backend_: str, workdir: Path):
        if int8 and backend_ == "onnxruntime":
            return qdeploy.ort_int8(model, workdir, opset, per_channel=q.ort_per_channel)
        if int8 and backend_ == "torch":
            return qdeploy.torch_int8(model, per_channel=q.granularity == "per_channel")
        return qdeploy.simulated(model, backend_, workdir, opset)

    if int8:
        form += {
            "onnxruntime": " -> ORT QInt8 dynamic",
            "torch": " -> torch.ao dynamic int8 Linear",
            "auto": " -> int8 kernels (deploy=auto picks the runtime)",
        }[backend]
        # the runtime re-quantizes activations itself: also report the stored form's accuracy
        metrics = metrics | {
            f"stored_form/{k}": v
            for k, v in evaluate_splits(model, ctx.datamodule, ("test",)).items()
        }
    else:
        form += " (simulated: dequantized fp32 compute)"
    tags["int8_kernel"] = str(int8).lower()
    return CompressedModel(
        model=model,
        form=form,
        materialized=int8,
        export=lambda stem: export_quantized(model, stem),
        deploy=deploy,
        tags=tags,
        metrics=metrics | qmetrics,
    )

"""``method=pipeline``: chain compression stages, each starting from the previous stage's model.

E.g. ``pipeline.stages=[distill,prune,qat]`` (the "Deep Compression" / "Prune Once for All"
order): the distilled student is pruned, then quantization-aware fine-tuned. Each stage is a
registered method run with ``ctx.start_model`` set to the previous stage's model and its own
method knobs (``pipeline.methods.<stage>``); its accuracy is logged under
``stage<i>_<name>/...``. Zeros made by an earlier stage stay zero while later stages train
(:class:`KeepZeros`), so the final export carries both the sparsity and the bits configured.
The run's export, deployment and ``materialized`` flag are those of the last stage.
``vocab_prune`` may only come last: it shrinks the previous stage's model in place (that
stage's export and deployment then store and run the smaller table) and hands the runner
its tokenizer and re-tokenized splits.
"""

from __future__ import annotations

import dataclasses

import lightning as L
import torch
from torch import nn

from nlpcompress.config.typed import build_section
from nlpcompress.measure.accuracy import evaluate_splits
from nlpcompress.methods.base import CompressedModel, MethodContext
from nlpcompress.methods.configs import PipelineConfig
from nlpcompress.methods.registry import method_spec


def stage_method_config(p: PipelineConfig, stage: str):
    spec = method_spec(stage)
    return build_section(
        spec.config_cls, {"name": stage, **p.methods.get(stage, {})}, f"pipeline.methods.{stage}"
    )


def validate_pipeline(cfg) -> None:
    """Every stage is a known method with valid knobs and its sections are configured."""
    p = cfg.section("pipeline")
    for stage in p.stages:
        spec = method_spec(stage)
        stage_cfg = dataclasses.replace(cfg, method=stage_method_config(p, stage))
        for needed in spec.sections:
            cfg.section(needed)
        spec.validate(stage_cfg)


class KeepZeros(L.Callback):
    """Keeps weights that were zero at the start of a stage at zero (W <- W * M after each step).

    Masks are matched to parameters by name suffix, so wrappers that rename a Linear's weight
    (``...query.weight`` -> ``...query.linear.weight``) still match when shapes agree.
    """

    def __init__(self, masks: dict[str, torch.Tensor]):
        self.masks = masks
        self.bound: list[tuple[nn.Parameter, torch.Tensor]] = []

    @staticmethod
    def masks_of(model: nn.Module, min_sparsity: float = 0.01) -> dict[str, torch.Tensor]:
        out = {}
        for name, param in model.named_parameters():
            if param.ndim == 2 and "embeddings" not in name:
                mask = param.detach() != 0
                if 1.0 - mask.float().mean().item() >= min_sparsity:
                    out[name] = mask
        return out

    def on_train_start(self, trainer, pl_module) -> None:
        self.bound = []
        params = dict(pl_module.named_parameters())
        for name, mask in self.masks.items():
            layer, _, leaf = name.rpartition(".")
            for pname, param in params.items():
                if param.shape == mask.shape and pname.endswith(leaf) and layer in pname:
                    self.bound.append((param, mask))
                    break
        self.apply()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.apply()

    @torch.no_grad()
    def apply(self) -> None:
        for param, mask in self.bound:
            param.mul_(mask.to(param.dtype))


def _with_callbacks(make_trainer, extra: list):
    def make(**overrides):
        overrides["callbacks"] = list(overrides.get("callbacks") or []) + extra
        return make_trainer(**overrides)

    return make


def run_pipeline(ctx: MethodContext) -> CompressedModel:
    """Run the stages in order; log each stage's accuracy; return the last stage's result."""
    p: PipelineConfig = ctx.cfg.section("pipeline")
    model, result = ctx.start_model, None
    for i, stage in enumerate(p.stages, start=1):
        prefix = f"stage{i}_{stage}"
        callbacks = (
            [KeepZeros(KeepZeros.masks_of(model))] if (p.keep_zeros and model is not None) else []
        )
        stage_ctx = dataclasses.replace(
            ctx,
            cfg=dataclasses.replace(ctx.cfg, method=stage_method_config(p, stage)),
            stage=prefix,
            start_model=model,
            previous=result,
            make_trainer=_with_callbacks(ctx.make_trainer, callbacks),
        )
        result = method_spec(stage).run(stage_ctx)
        model = result.model.eval()
        dm = result.datamodule or ctx.datamodule  # re-tokenized by a vocabulary-pruning stage
        stage_metrics = evaluate_splits(model, dm) | result.metrics
        # logged as each stage ends (kept if a later stage fails), so not returned again
        ctx.tracker.log_metrics({f"{prefix}/{k}": v for k, v in stage_metrics.items()})
    tags = dict(result.tags) | {"stages": ",".join(p.stages)}
    return dataclasses.replace(
        result,
        form=f"pipeline {'+'.join(p.stages)}: {result.form}",
        tags=tags,
    )

"""``method=prune``: unstructured (magnitude, movement), N:M and structured pruning.

* magnitude / movement / nm: masks during fine-tuning from the cached baseline
  (cubic or one-shot schedule), baked into the weights at the end. The stored form is
  sparse (bitmask or CSR per tensor); the timed model is the dense one with zeros, so
  ``materialized=false`` (no sparse kernel runs here).
* structured: heads and FFN neurons ranked by importance, removed physically, then
  fine-tuned: a smaller dense model (``materialized=true``).
"""

from __future__ import annotations

import copy
import itertools
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nlpcompress.config import metric_names as names
from nlpcompress.config.errors import ConfigError
from nlpcompress.config.run import RunConfig
from nlpcompress.export.deploy import Deployable, default_deploy
from nlpcompress.methods.base import CompressedModel, MethodContext
from nlpcompress.methods.prune_module import PruningModule
from nlpcompress.methods.teacher_outputs import teacher_cache_metrics, training_split_outputs
from nlpcompress.models.io import logits_of, model_inputs
from nlpcompress.prune.bert import encoder_layers, prunable_linears
from nlpcompress.prune.collapse import COLLAPSED, layer_token_cosines
from nlpcompress.prune.config import PruneConfig
from nlpcompress.prune.masking import attach_masks, pruned_weight_ratio, update_masks
from nlpcompress.prune.masks import sparsity_of
from nlpcompress.prune.movement import bake
from nlpcompress.prune.schedule import SparsitySchedule
from nlpcompress.prune.storage import export_pruned, is_sparse_candidate, quantize_rows_int8
from nlpcompress.prune.structured import (
    head_importance,
    layer_shapes,
    neuron_importance,
    remove_heads,
    remove_neurons,
    select_units,
    taylor_gradients,
)
from nlpcompress.report.layer_plot import write_layer_sparsity
from nlpcompress.training.module import ClassifierModule
from nlpcompress.training.trainer import reseed

log = logging.getLogger(__name__)


def _model_shape(cfg: RunConfig) -> tuple[int, int, int]:
    """``(num_heads, hidden_size, intermediate_size)`` of the configured model, without loading weights."""
    if cfg.model.source == "random":
        return cfg.model.num_heads, cfg.model.hidden_size, cfg.model.intermediate_size

    from nlpcompress.models.presets import load_config

    hf = load_config(cfg.model, 2)
    return hf.num_attention_heads, hf.hidden_size, hf.intermediate_size


def validate(cfg: RunConfig) -> None:
    """Cross-section checks, before any work."""
    p: PruneConfig = cfg.section("prune")
    max_steps = p.max_steps if p.max_steps > 0 else cfg.trainer.max_steps
    if p.end_step is not None and max_steps > 0 and p.end_step >= max_steps:
        raise ConfigError(
            "prune.end_step",
            p.end_step,
            f"a step before the end of training ({max_steps} steps)",
        )
    if p.start_step > 0 and max_steps > 0 and p.start_step >= max_steps:
        raise ConfigError(
            "prune.start_step",
            p.start_step,
            f"a step before the end of training ({max_steps} steps)",
        )
    if p.kind == "structured":
        heads, hidden, ffn = _model_shape(cfg)
        if round(p.heads_fraction * heads) >= heads:
            raise ConfigError(
                "prune.heads_fraction",
                p.heads_fraction,
                f"a fraction that keeps at least one of the {heads} heads of every layer",
            )
        if round(p.ffn_fraction * ffn) >= ffn:
            raise ConfigError(
                "prune.ffn_fraction",
                p.ffn_fraction,
                f"a fraction that keeps at least one of {ffn} FFN neurons",
            )
    if p.kind == "nm":
        heads, hidden, ffn = _model_shape(cfg)
        if hidden % p.m or ffn % p.m:
            raise ConfigError(
                "prune.m", p.m, f"a divisor of the Linear input widths {hidden} and {ffn}"
            )


def step_limit(ctx: MethodContext) -> int:
    """``prune.max_steps`` when set, else ``trainer.max_steps`` (-1: no limit)."""
    p = ctx.cfg.section("prune")
    return p.max_steps if p.max_steps > 0 else ctx.cfg.trainer.max_steps


def training_steps(ctx: MethodContext, epochs: int) -> int:
    """Optimizer steps of the fine-tune: ``epochs * batches`` capped by the step limit."""
    steps = epochs * len(ctx.datamodule.train_dataloader())
    limit = step_limit(ctx)
    return min(steps, limit) if limit > 0 else steps


def make_schedule(p: PruneConfig, total_steps: int) -> SparsitySchedule:
    """The schedule of this run; ConfigError when it does not fit in the training length."""
    start = p.start_step or int(p.start_fraction * total_steps)
    end = p.end_step if p.end_step is not None else max(start, int(p.end_fraction * total_steps))
    if start >= total_steps:
        raise ConfigError(
            "prune.start_step",
            start,
            f"a step before the end of training ({total_steps} steps)",
        )
    if end >= total_steps:
        raise ConfigError(
            "prune.end_step", end, f"a step before the end of training ({total_steps} steps)"
        )
    kind = "one_shot" if p.kind == "nm" else p.schedule
    return SparsitySchedule(kind, p.target_sparsity, start, end, p.frequency, p.initial_sparsity)


def _fit(ctx: MethodContext, module: ClassifierModule, epochs: int) -> None:
    trainer = ctx.make_trainer(max_epochs=epochs, max_steps=step_limit(ctx), checkpoint=False)
    reseed(ctx.cfg.seed)
    trainer.fit(module, datamodule=ctx.datamodule)


def _start_model(ctx: MethodContext) -> nn.Module:
    """A pipeline's previous stage, else the fine-tuned baseline, or with
    ``prune.start_from=pretrained`` the pretrained encoder with a new head."""
    if ctx.start_model is not None:
        return copy.deepcopy(ctx.start_model)
    section = ctx.cfg.sections.get("prune")
    if section is not None and section.start_from == "pretrained":
        from nlpcompress.models.presets import build_classifier

        return build_classifier(ctx.cfg.model, ctx.datamodule.num_labels)
    return ctx.baseline.fresh_copy()


def _epochs(ctx: MethodContext, p: PruneConfig) -> int:
    return p.epochs or ctx.cfg.trainer.max_epochs


def _round_int8(model: nn.Module) -> None:
    """Replace the weights the stored form keeps in int8 by their int8 per-row values, so
    the evaluated model is exactly the stored one (prune, then quantize)."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if is_sparse_candidate(name, t):
                q, scale = quantize_rows_int8(t)
                t.copy_(q.float() * scale[:, None])


def run_unstructured(ctx: MethodContext, p: PruneConfig) -> tuple[nn.Module, dict[str, float]]:
    """Magnitude, movement or N:M masks, with fine-tuning (or one-shot without)."""
    model = _start_model(ctx)
    start_state = copy.deepcopy(model.state_dict()) if p.rewind else None
    targets = prunable_linears(model, p.include_embeddings)
    masks = attach_masks(targets, p.kind, p.movement_mode)
    epochs = _epochs(ctx, p)
    probe_batch = _probe_batch(ctx)
    metrics: dict[str, float] = {}
    if p.finetune:
        total = training_steps(ctx, epochs)
        schedule = make_schedule(p, total)
        module = PruningModule(
            model,
            ctx.cfg.trainer,
            ctx.datamodule.num_labels,
            targets,
            masks,
            p.kind,
            schedule,
            p.scope,
            p.n,
            p.m,
            p.movement_lambda if p.movement_mode == "soft" else 0.0,
            p.scores_learning_rate,
            temperature=p.distill_temperature,
            alpha=p.distill_alpha,
            probe_batch=probe_batch,
            **_kd_teacher(ctx, p),
        )
        _fit(ctx, module, epochs)
        metrics.update(_kd_metrics(module))
        metrics["prune/prune_events"] = float(len(module.prune_events))
        metrics["prune/train_steps"] = float(total)
        metrics["prune/peak_cut_rate"] = schedule.peak_cut_rate()
    if p.kind != "movement" or not p.finetune:
        # Make sure the target is met even if training stopped before the last prune step.
        update_masks(masks, targets, p.kind, p.target_sparsity, p.scope, p.n, p.m)
    metrics["prune/pruned_weight_ratio"] = pruned_weight_ratio(masks, targets)
    bake(model)
    if p.rewind:
        model = _rewind(ctx, p, model, start_state, epochs)
        targets = prunable_linears(model, p.include_embeddings)
    if p.int8:
        _round_int8(model)
    metrics |= collapse_metrics(ctx, model, probe_batch)
    per_matrix = {n: sparsity_of([m.weight.detach()]) for n, m in targets.items()}
    stem = ctx.run_dir / (ctx.stage.strip("/").replace("/", "_") + "_prune_layers").lstrip("_")
    for path in write_layer_sparsity(per_matrix, stem):
        ctx.tracker.log_artifact(path)
    metrics[names.SPARSITY_ACTUAL] = sparsity_of([m.weight.detach() for m in targets.values()])
    metrics["sparsity/target"] = p.target_sparsity
    metrics["sparsity/max_matrix"] = max(per_matrix.values())
    metrics["sparsity/min_matrix"] = min(per_matrix.values())
    return model, metrics


def _probe_batch(ctx: MethodContext) -> dict[str, torch.Tensor]:
    """The first validation batch: the fixed input of the token-cosine collapse check."""
    return next(iter(ctx.datamodule.val_dataloader()))


def collapse_metrics(
    ctx: MethodContext, model: nn.Module, batch: dict[str, torch.Tensor]
) -> dict[str, float]:
    """``prune/token_cosine``: the last layer's mean token cosine
    (:func:`~nlpcompress.prune.collapse.token_cosine`) on ``batch`` (:func:`_probe_batch`),
    beside the fp32 baseline's (``prune/token_cosine_fp32``); a warning names a collapsed
    model."""
    value = layer_token_cosines(model, batch)[-1]
    out = {"prune/token_cosine": value}
    if ctx.baseline is not None:
        out["prune/token_cosine_fp32"] = layer_token_cosines(ctx.baseline.model, batch)[-1]
    if value > COLLAPSED:
        log.warning(
            "the pruned model's tokens all point one way (last-layer token cosine %.3f > %.1f): "
            "it predicts one class whatever the input; fine-tuning with its mask fixed does "
            "not undo this. A slower cut (prune.end_fraction, more epochs) avoids it in some "
            "runs (experiments/movement_pruning.md).",
            value,
            COLLAPSED,
        )
    return out


def _kd_teacher(ctx: MethodContext, p: PruneConfig) -> dict:
    """``teacher`` and ``cache`` for :class:`PruningModule` when ``prune.distill``: a copy of the
    fp32 baseline (put in eval mode and frozen; the baseline itself is timed later) and its logits
    over the training split, read from the on-disk teacher cache that ``method=distill`` and QAT
    with KD share (built on a miss), so no training step runs the teacher; without it
    (``prune.distill_cache=false``) the teacher runs at every step."""
    if not p.distill:
        return {"teacher": None, "cache": None}
    if ctx.baseline is None:
        raise ConfigError(
            "prune.distill", True, "false: this run has no fp32 baseline to distil from"
        )
    teacher = copy.deepcopy(ctx.baseline.model).eval()
    if not p.distill_cache:
        return {"teacher": teacher, "cache": None}
    cache, _ = training_split_outputs(ctx, teacher, ctx.baseline.key, [], False, 0, "prune.distill")
    return {"teacher": teacher, "cache": cache}


def _kd_metrics(module: PruningModule) -> dict[str, float]:
    """The teacher-cache metrics of a pruning run that distilled (none otherwise)."""
    if not module.distills:
        return {}
    return teacher_cache_metrics(module.cache, module.teacher_calls)


def _rewind(
    ctx: MethodContext, p: PruneConfig, pruned: nn.Module, start_state: dict, epochs: int
) -> nn.Module:
    """Lottery-ticket rewind: surviving weights back to their starting values, final mask
    fixed, fine-tuned again with the same budget."""
    final_masks = {
        n: (m.weight.detach() != 0).float()
        for n, m in prunable_linears(pruned, p.include_embeddings).items()
    }
    model = _start_model(ctx)
    model.load_state_dict(start_state)
    targets = prunable_linears(model, p.include_embeddings)
    masks = attach_masks(targets, "magnitude")
    for name, mask in masks.items():
        mask.mask.copy_(final_masks[name])
    module = PruningModule(
        model, ctx.cfg.trainer, ctx.datamodule.num_labels, targets, masks, None, None
    )
    _fit(ctx, module, epochs)
    return bake(model)


def _loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return F.cross_entropy(logits_of(model(**model_inputs(batch, model))), batch["labels"])


def run_structured(ctx: MethodContext, p: PruneConfig) -> tuple[nn.Module, dict[str, float]]:
    """Rank heads and FFN neurons, remove the least important, fine-tune the smaller model."""
    model = _start_model(ctx)
    grads = None
    if p.importance == "taylor":
        batches = itertools.islice(iter(ctx.datamodule.train_dataloader()), p.importance_batches)
        grads = taylor_gradients(model, batches, _loss)
    heads = select_units(head_importance(model, p.importance, grads), p.heads_fraction, p.scope)
    neurons = select_units(neuron_importance(model, p.importance, grads), p.ffn_fraction, p.scope)
    before = sum(t.numel() for t in model.parameters())
    encoder_before = sum(t.numel() for t in encoder_layers(model).parameters())
    remove_heads(model, heads)
    remove_neurons(model, neurons)
    kd_metrics: dict[str, float] = {}
    if p.finetune:
        module = PruningModule(
            model,
            ctx.cfg.trainer,
            ctx.datamodule.num_labels,
            {},
            {},
            None,
            None,
            temperature=p.distill_temperature,
            alpha=p.distill_alpha,
            **_kd_teacher(ctx, p),
        )
        _fit(ctx, module, _epochs(ctx, p))
        kd_metrics = _kd_metrics(module)
    if p.int8:
        _round_int8(model)
    head_counts, ffn_sizes = layer_shapes(model)
    after = sum(t.numel() for t in model.parameters())
    encoder_after = sum(t.numel() for t in encoder_layers(model).parameters())
    layers = len(encoder_layers(model))
    return model, {
        "prune/heads_kept": float(sum(head_counts)),
        "prune/heads_removed": float(sum(len(h) for h in heads)),
        "prune/ffn_kept": float(sum(ffn_sizes)),
        "prune/ffn_removed": float(sum(len(n) for n in neurons)),
        "prune/params_ratio": after / before,
        "prune/layers": float(layers),
        # structured: the fraction of the Transformer layers' parameters removed
        names.SPARSITY_ACTUAL: 1.0 - encoder_after / encoder_before,
        **kd_metrics,
    }


def deploy_structured(model: nn.Module, backend: str, workdir: Path, opset: int = 17) -> Deployable:
    """The smaller model itself on torch; on ONNX Runtime its fused export, where the
    attention fusion is told the pruned width (see ``export.deploy._fusion_shape``)."""
    return default_deploy(model, backend, workdir, opset)


def run_prune(ctx: MethodContext) -> CompressedModel:
    """Prune the baseline as ``prune`` says; the runner evaluates, exports and times it."""
    p: PruneConfig = ctx.cfg.section("prune")
    if p.kind == "structured":
        model, metrics = run_structured(ctx, p)
        heads, ffn = layer_shapes(model)
        form = f"structured: heads {heads}, FFN {ffn}" + (", int8 weights" if p.int8 else "")
        materialized = True
    else:
        model, metrics = run_unstructured(ctx, p)
        pattern = f"{p.n}:{p.m}" if p.kind == "nm" else f"{metrics[names.SPARSITY_ACTUAL]:.1%}"
        form = f"{p.kind} sparse {pattern} (masked dense compute, sparse storage)" + (
            ", int8 values" if p.int8 else ""
        )
        materialized = False
    model.eval()

    def export(stem: Path):
        return export_pruned(model, stem, int8=p.int8)

    tags = {
        "prune_kind": p.kind,
        "prune_scope": p.scope,
        "prune_schedule": p.schedule,
        "sparsity": f"{p.target_sparsity:g}",
        "int8": str(p.int8).lower(),
    }
    if p.kind == "structured":
        tags |= {
            "heads_fraction": f"{p.heads_fraction:g}",
            "ffn_fraction": f"{p.ffn_fraction:g}",
            "importance": p.importance,
        }
    if p.kind == "nm":
        tags["nm"] = f"{p.n}:{p.m}"
    deploy = None
    if p.kind == "structured":

        def deploy(backend: str, workdir: Path) -> Deployable:
            return deploy_structured(model, backend, workdir, ctx.cfg.deploy.opset)

    return CompressedModel(
        model=model,
        form=form,
        materialized=materialized,
        export=export,
        deploy=deploy,
        tags=tags,
        metrics=metrics,
    )

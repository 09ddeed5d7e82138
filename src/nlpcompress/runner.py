"""One run: data -> baseline -> method -> deploy -> evaluate -> export -> size -> speed -> log.

Every method is measured here, the same way, so that runs compare in one table.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from filelock import FileLock

from nlpcompress.config import metric_names as names
from nlpcompress.config.run import RunConfig
from nlpcompress.data.datamodule import TextClassificationDataModule
from nlpcompress.data.stats import split_token_stats
from nlpcompress.export.candidates import candidate_forms
from nlpcompress.export.dense import export_dense
from nlpcompress.export.deploy import (
    Deployable,
    OnnxDeployable,
    TorchDeployable,
    default_deploy,
    export_onnx,
    predictor_of,
)
from nlpcompress.export.tokenizer import save_tokenizer
from nlpcompress.measure.accuracy import evaluate_splits
from nlpcompress.measure.backend_choice import (
    candidate_metrics,
    choose,
    mark_chosen,
    measure_candidates,
    write_candidates_csv,
)
from nlpcompress.measure.resources import StageTimer, peak_rss_mb
from nlpcompress.measure.size import encoder_bytes, layer_records, size_metrics, write_layer_csv
from nlpcompress.measure.speed import compare, latency_by_length
from nlpcompress.methods.base import CompressedModel, MethodContext
from nlpcompress.methods.registry import MethodSpec, method_spec
from nlpcompress.models.assets import max_positions
from nlpcompress.models.presets import load_tokenizer
from nlpcompress.quant.modules import has_quantized_weights
from nlpcompress.storage.format import ExportedArtifact, read_artifact
from nlpcompress.tracking.model_log import example_inputs, log_deployed_model_safely
from nlpcompress.tracking.run import RunTracker
from nlpcompress.training.baseline import Baseline, get_baseline
from nlpcompress.training.distributed import is_global_zero, world_size
from nlpcompress.training.trainer import make_trainer

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    metrics: dict[str, float]
    result: CompressedModel
    baseline: Baseline | None


def prepare_data(cfg: RunConfig) -> TextClassificationDataModule:
    dm = TextClassificationDataModule(
        cfg.data, load_tokenizer(cfg.model), Path(cfg.paths.cache_dir)
    )
    dm.setup()
    return dm


def execute(cfg: RunConfig, tracker: RunTracker) -> RunOutcome:
    """Carry out one run; metrics are logged to ``tracker`` and returned."""
    timer = StageTimer()
    run_dir = start_run(cfg)
    spec = method_spec(cfg.method.name)
    with timer.stage("data"):
        dm = prepare_data(cfg)
    log_data(dm, tracker)
    baseline = run_baseline(cfg, dm, tracker, run_dir, timer) if spec.needs_baseline else None
    with timer.stage("method"):
        result = run_method(spec, cfg, dm, baseline, tracker, run_dir)
    if not is_global_zero():
        # DDP ranks > 0 only take part in the method's training; rank 0 does all that follows.
        return RunOutcome({}, result, baseline)
    result.model.eval()
    metrics: dict[str, float] = dict(result.metrics)
    with timer.stage("deploy"):
        if cfg.deploy.backend == "auto":
            deployed, chosen = deploy_measured(result, result.datamodule or dm, cfg, run_dir)
            metrics |= chosen.metrics
            tracker.log_artifact(chosen.csv)
            result.tags |= chosen.tags
        else:
            deployed = deploy_model(result, cfg, run_dir)
    with timer.stage("evaluate"):
        # a method that changed the vocabulary hands back its tokenizer and the re-tokenized splits
        metrics |= evaluate_deployed(deployed, result.datamodule or dm, cfg)
    with timer.stage("export"):
        artifact, tokenizer_files = export_model(result, run_dir)
        metrics |= size_and_layers(artifact, baseline, tracker, run_dir, cfg)
        metrics |= extra_sizes(tokenizer_files, deployed)
    if cfg.measure.enabled and baseline is not None:
        with timer.stage("speed"):
            metrics |= speed_vs_baseline(deployed, baseline, cfg)
    metrics |= derived_metrics(metrics, baseline, result) | timer.metrics()
    log_run(metrics, result, artifact, tokenizer_files, tracker, cfg)
    if cfg.logger.log_model:
        batch = next(iter((result.datamodule or dm).test_dataloader()))
        log_deployed_model_safely(tracker, deployed, example_inputs(batch))
    return RunOutcome(metrics, result, baseline)


def start_run(cfg: RunConfig) -> Path:
    """Threads, the run folder and the seeds; returns the run folder."""
    if cfg.trainer.num_threads:
        torch.set_num_threads(cfg.trainer.num_threads)
    run_dir = Path(cfg.paths.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    return run_dir


def log_data(dm: TextClassificationDataModule, tracker: RunTracker) -> None:
    """Split sizes, the number of classes and the training split's token lengths (``data/*``),
    and each split as an MLflow dataset input (the UI's Dataset column)."""
    sizes = dm.split_sizes()
    tracker.log_metrics(
        {f"data/{k}_size": v for k, v in sizes.items()}
        | {"data/num_labels": dm.num_labels}
        | {f"data/{k}": v for k, v in split_token_stats(dm.splits["train"]).items()}
    )
    tracker.log_dataset(dm.cfg, sizes, dm.num_labels, dm.content_digest())


def trainer_factory(cfg: RunConfig, run_dir: Path, tracker: RunTracker, log_prefix: str = ""):
    """``make(**overrides) -> Trainer`` logging its curves into this run under ``log_prefix``;
    a call's own ``log_prefix=`` wins (a stage trained before a method's last fit, so that two
    fits never share the steps of one curve)."""

    def make(log_prefix: str = log_prefix, **overrides):
        logger = tracker.lightning_logger(prefix=log_prefix)
        return make_trainer(cfg.trainer, run_dir, logger, **overrides)

    return make


def run_baseline(
    cfg: RunConfig,
    dm: TextClassificationDataModule,
    tracker: RunTracker,
    run_dir: Path,
    timer: StageTimer,
) -> Baseline:
    """The fp32 baseline (fine-tuned here or read from the cache), its tags and ``fp32/*``."""
    with timer.stage("baseline"):
        # The baseline's own curves (when it is fine-tuned in this run) are logged under
        # baseline/ so they never share steps with the method's train/loss.
        baseline = get_baseline(cfg, dm, trainer_factory(cfg, run_dir, tracker, "baseline/"))
    tracker.set_tags(
        {"baseline_from_cache": str(baseline.from_cache).lower(), "baseline_key": baseline.key}
    )
    tracker.log_metrics({f"{names.FP32_PREFIX}{k}": v for k, v in baseline.metrics.items()})
    return baseline


def run_method(
    spec: MethodSpec,
    cfg: RunConfig,
    dm: TextClassificationDataModule,
    baseline: Baseline | None,
    tracker: RunTracker,
    run_dir: Path,
) -> CompressedModel:
    """The method itself: ``spec.run(ctx)``."""
    make = trainer_factory(cfg, run_dir, tracker)
    return spec.run(MethodContext(cfg, dm, baseline, make, tracker, run_dir))


def deploy_model(result: CompressedModel, cfg: RunConfig, run_dir: Path) -> Deployable:
    """The method's model on ``deploy.backend`` (the method's own deploy when it has one)."""
    return _deploy_on(result, cfg.deploy.backend, cfg, run_dir)


@dataclass
class MeasuredDeploy:
    """What ``deploy=auto`` found: per-candidate metrics, their CSV and the tags of the choice."""

    metrics: dict[str, float]
    csv: Path
    tags: dict[str, str]


def deploy_measured(
    result: CompressedModel, dm: TextClassificationDataModule, cfg: RunConfig, run_dir: Path
) -> tuple[Deployable, MeasuredDeploy]:
    """``deploy=auto``: build the candidate forms, measure them, deploy the fastest within
    ``deploy.max_acc_drop`` points of the best validation accuracy."""

    def deploy(backend: str, workdir: Path) -> Deployable:
        return _deploy_on(result, backend, cfg, workdir)

    forms = candidate_forms(
        deploy,
        cfg.deploy.candidates,
        run_dir / "deploy_candidates",
        cfg.deploy.opset,
        requantize=not has_quantized_weights(result.model),
    )
    results = measure_candidates(forms, dm, cfg.measure)
    name = choose(results, cfg.deploy.max_acc_drop)
    results = mark_chosen(results, name)
    for r in results:
        log.info(
            "deploy=auto: %-17s val acc %6.2f  p50 %8.2f ms  %s",
            r.name,
            r.val_acc,
            r.latency_ms_p50,
            "<- chosen" if r.chosen else "",
        )
    csv_path = write_candidates_csv(results, run_dir / "deploy_candidates.csv")
    tags = {"deploy_backend": name, "deploy_candidates": ",".join(forms)}
    return forms[name], MeasuredDeploy(candidate_metrics(results), csv_path, tags)


def _deploy_on(result: CompressedModel, backend: str, cfg: RunConfig, workdir: Path) -> Deployable:
    deployed = (
        result.deploy(backend, workdir)
        if result.deploy
        else default_deploy(result.model, backend, workdir, cfg.deploy.opset)
    )
    if result.tokenizer is not None:
        deployed.vocab_size = len(result.tokenizer)  # timed ids must exist in its table
    return deployed


def export_model(result: CompressedModel, run_dir: Path) -> tuple[ExportedArtifact, list[Path]]:
    """Write the stored form (and the method's tokenizer) under ``run_dir/model``."""
    artifact = (
        result.export(run_dir / "model")
        if result.export
        else export_dense(result.model, run_dir / "model")
    )
    tokenizer_files = (
        save_tokenizer(result.tokenizer, run_dir / "model") if result.tokenizer is not None else []
    )
    return artifact, tokenizer_files


def extra_sizes(tokenizer_files: list[Path], deployed: Deployable) -> dict[str, float]:
    """``size/tokenizer_bytes`` (a method's own tokenizer) and ``size/deploy_bytes`` (ONNX)."""
    metrics = {}
    if tokenizer_files:
        metrics["size/tokenizer_bytes"] = float(sum(p.stat().st_size for p in tokenizer_files))
    if isinstance(deployed, OnnxDeployable):
        metrics["size/deploy_bytes"] = float(deployed.file_bytes)
    return metrics


def derived_metrics(
    metrics: dict[str, float], baseline: Baseline | None, result: CompressedModel
) -> dict[str, float]:
    """Accuracy drops vs fp32, the method's derived metrics and the peak memory."""
    out: dict[str, float] = {}
    if baseline is not None:
        fp32 = baseline.metrics
        out[names.TEST_ACC_DROP] = 100.0 * (fp32[names.TEST_ACC] - metrics[names.TEST_ACC])
        out[names.VAL_ACC_DROP] = 100.0 * (fp32[names.VAL_ACC] - metrics[names.VAL_ACC])
    if result.derived_metrics is not None:
        out |= result.derived_metrics(metrics | out)
    out["resources/peak_rss_mb"] = peak_rss_mb()
    return out


def log_run(
    metrics: dict[str, float],
    result: CompressedModel,
    artifact: ExportedArtifact,
    tokenizer_files: list[Path],
    tracker: RunTracker,
    cfg: RunConfig,
) -> None:
    """Metrics, tags (with the timing quality) and, with ``logger.log_model``, the model files."""
    tracker.log_metrics(metrics)
    if names.LOAD_AVG in metrics:
        # The run's own threads account for a load of about the core count (1-minute average).
        busy = metrics[names.LOAD_AVG] > 1.5 * (os.cpu_count() or 1)
        result.tags.setdefault(
            "speed_quality",
            f"noisy: load {metrics[names.LOAD_AVG]:.1f} on {os.cpu_count()} cores"
            if busy
            else "ok",
        )
    tracker.set_tags(
        {
            "materialized": str(result.materialized).lower(),
            "form": result.form,
            "deploy_backend": cfg.deploy.backend,  # deploy=auto: the choice, in result.tags
            "world_size": world_size(),
        }
        | result.tags
    )
    if cfg.logger.log_model:
        for path in artifact.files:
            tracker.log_artifact(path, "model")
        for path in tokenizer_files:
            tracker.log_artifact(path, f"model/{path.parent.name}")


def evaluate_deployed(
    deployed: Deployable, dm: TextClassificationDataModule, cfg: RunConfig
) -> dict[str, float]:
    """Accuracy of the form that is deployed (the ONNX model itself on onnxruntime)."""
    return evaluate_splits(predictor_of(deployed, cfg.measure.threads), dm)


def size_and_layers(
    artifact: ExportedArtifact,
    baseline: Baseline | None,
    tracker: RunTracker,
    run_dir: Path,
    cfg: RunConfig,
) -> dict[str, float]:
    records = layer_records(artifact)
    fp32_bytes = fp32_encoder = None
    if baseline is not None:
        fp32_bytes = baseline.fp32_bytes
        tensors, _ = read_artifact(baseline.stem)
        fp32_encoder = encoder_bytes(ExportedArtifact(baseline.stem, baseline.stem, tensors))
    tracker.log_artifact(write_layer_csv(records, run_dir / "layers.csv"))
    return size_metrics(artifact, fp32_bytes, records, fp32_encoder)


def fp32_onnx(baseline: Baseline, cfg: RunConfig, runtime: str = "onnxruntime") -> OnnxDeployable:
    """The baseline's fused fp32 ONNX export (cached next to the baseline), run by ``runtime``."""
    path = baseline.folder / f"fp32_opset{cfg.deploy.opset}.onnx"
    with FileLock(str(path) + ".lock"):
        if not path.is_file():
            export_onnx(baseline.model, path, opset=cfg.deploy.opset)
    return OnnxDeployable(path, runtime)


def speed_vs_baseline(deployed: Deployable, baseline: Baseline, cfg: RunConfig) -> dict[str, Any]:
    """Time the deployed form and the PyTorch fp32 baseline side by side (and fp32 on the deployed ONNX runtime).

    With ``measure.seq_lengths``, also their batch-1 p50 latency at each length.
    """
    candidates: dict[str, Deployable] = {
        "fp32_torch": TorchDeployable(baseline.model),
        "model": deployed,
    }
    if isinstance(deployed, OnnxDeployable):
        # the same-runtime reference: the fp32 file on the runtime the model is deployed on
        candidates["fp32_same_runtime"] = fp32_onnx(baseline, cfg, deployed.backend)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    res = compare(candidates, cfg.measure)
    by_length = latency_by_length(
        {"fp32_torch": candidates["fp32_torch"], "model": deployed},
        cfg.measure,
        timed_lengths(cfg, baseline),
    )
    load = max(load_before, os.getloadavg()[0])
    same = res["fp32_same_runtime"] if "fp32_same_runtime" in res else res["fp32_torch"]
    model, ref = res["model"], res["fp32_torch"]
    return {
        names.LATENCY_P50: model.latency_ms_p50,
        "speed/latency_ms_p90": model.latency_ms_p90,
        "speed/throughput": model.throughput,
        "speed/fp32_latency_ms_p50": ref.latency_ms_p50,
        "speed/fp32_throughput": ref.throughput,
        names.SPEEDUP: ref.latency_ms_p50 / model.latency_ms_p50,
        "speed/throughput_speedup_vs_fp32": model.throughput / ref.throughput,
        names.SPEEDUP_SAME_BACKEND: same.latency_ms_p50 / model.latency_ms_p50,
        "speed/threads": float(cfg.measure.threads),
        "speed/seq_length": float(cfg.measure.seq_length),
        "time/speed_measure_s": time.perf_counter() - start,
        # Other processes on the cores make torch's threads wait on each other: figures taken at a
        # load well above the core count are noisy (tag speed_quality says so).
        names.LOAD_AVG: load,
    } | {
        f"speed/{prefix}latency_ms_p50_seq{length}": p50[name]
        for length, p50 in by_length.items()
        for name, prefix in (("model", ""), ("fp32_torch", "fp32_"))
    }


def timed_lengths(cfg: RunConfig, baseline: Baseline) -> list[int]:
    """``measure.seq_lengths`` less those beyond the model's positions (each skip logged)."""
    model_config = getattr(baseline.model, "config", None)
    limit = max_positions(cfg.model) or getattr(model_config, "max_position_embeddings", None)
    kept = []
    for length in cfg.measure.seq_lengths:
        if limit is not None and length > limit:
            log.info("measure.seq_lengths: skipping %d, model has %d positions", length, limit)
        else:
            kept.append(length)
    return kept

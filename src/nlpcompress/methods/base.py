"""The contract between the runner and a compression method.

A method receives a :class:`MethodContext` (typed config, data, the cached fine-tuned
fp32 baseline, a way to build Lightning trainers) and returns a :class:`CompressedModel`.
The runner then evaluates, exports, sizes, times and logs it the same way for every
method (see :mod:`nlpcompress.runner`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

if TYPE_CHECKING:
    import lightning as L
    from transformers import PreTrainedTokenizerBase

    from nlpcompress.config.run import RunConfig
    from nlpcompress.data.datamodule import TextClassificationDataModule
    from nlpcompress.export.deploy import Deployable
    from nlpcompress.tracking.run import RunTracker
    from nlpcompress.training.baseline import Baseline


@dataclass
class MethodContext:
    """What a method gets to work with.

    Attributes:
        cfg: the validated run config (``cfg.section("quant")`` for method sections).
        datamodule: set up, with ``num_labels``, ``tokenizer`` and the three splits.
        baseline: the cached fine-tuned fp32 model (``baseline.model``, its metrics), or
            None for methods registered with ``needs_baseline=False``.
        make_trainer: ``make_trainer(max_epochs=..., max_steps=..., callbacks=[...], **overrides)``
            returns a Lightning Trainer that logs to this run's MLflow run; with
            ``log_prefix="ternary/"`` its curves are logged under that prefix (an earlier
            stage of the method, so that two fits never share the steps of ``train/loss``).
        tracker: this run's MLflow tracker (``log_metrics``, ``log_artifact``, ``set_tags``).
        run_dir: a folder private to this run for exports and scratch files.
        stage: prefix for metrics when this method runs as a stage of a pipeline ("" alone).
        start_model: the model to start from (a pipeline's previous stage); defaults to
            a copy of the baseline model.
        previous: the previous stage's result in a pipeline (its export and deployment), or
            None; ``previous.model`` is ``start_model``.
    """

    cfg: RunConfig
    datamodule: TextClassificationDataModule
    baseline: Baseline | None
    make_trainer: Callable[..., L.Trainer]
    tracker: RunTracker
    run_dir: Path
    stage: str = ""
    start_model: nn.Module | None = None
    previous: CompressedModel | None = None


@dataclass
class CompressedModel:
    """What a method hands back to the runner.

    Attributes:
        model: the model whose accuracy is reported; ``model(input_ids=..., attention_mask=...)``
            returns logits or an output with ``.logits``. In eval mode.
        form: short human description of the form, e.g. ``"int8 dynamic (ORT QInt8)"``.
        materialized: True when the timed form runs real low-precision kernels or physically
            smaller layers; False for simulations (fake-quant, masks).
        export: ``export(path_stem) -> ExportedArtifact`` writing the stored form; default
            writes every parameter dense in its dtype.
        deploy: ``deploy(backend, workdir) -> Deployable`` the form to time; default is the
            model itself on torch, or its fp32 ONNX export on onnxruntime.
        tags: extra MLflow tags (e.g. ``{"bits": "4"}``).
        metrics: extra metrics the method measured (e.g. ``sparsity/actual``).
        params_for_report: values the report shows (bits, sparsity, teacher, student).
        derived_metrics: ``fn(metrics) -> extra metrics``, called by the runner once accuracy,
            size and speed are measured (e.g. accuracy retention against a teacher).
        tokenizer: the tokenizer the model needs when it is not the preset's (a pruned
            vocabulary); the runner saves it next to the stored form.
        datamodule: the splits tokenized with ``tokenizer``; the runner evaluates on it.
    """

    model: nn.Module
    form: str
    materialized: bool
    export: Callable[[Path], Any] | None = None
    deploy: Callable[[str, Path], Deployable] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    derived_metrics: Callable[[dict[str, float]], dict[str, float]] | None = None
    tokenizer: PreTrainedTokenizerBase | None = None
    datamodule: TextClassificationDataModule | None = None

"""Schemas of the core config groups: data, model, trainer, logger, paths, measure, deploy.

Method-specific groups (quant, prune, distill, pair, pipeline) register their own schema
with :func:`nlpcompress.config.register_section` next to their code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from nlpcompress.config.typed import check, register_section


@register_section("data")
@dataclass(frozen=True)
class DataConfig:
    """Where the labelled text comes from and how it is tokenized.

    ``source``: ``hub`` (``hub_name``/``hub_config``), ``local`` (files under ``path``),
    ``rotten_tomatoes`` (the offline snippets shipped on PyPI) or ``tiny`` (generated).
    Setting ``path`` always reads local files, whatever the source.

    Labels are compared as canonical strings, so ``1``, ``1.0`` and ``"1"`` are one label.
    ``labels``: the allowed label values (as in the file), in class-id order; a row with any
    other label is refused. Unset: the classes are the training labels (numbers by value, text
    sorted), and a label in fewer than ``min_label_count`` training rows is refused as a
    probable typo (one ``NA`` in a 0/1 column). ``label_names``: display names of the class
    ids (``[negative, positive]`` for 0/1); when they are label values themselves (text
    labels), they set the class order as ``labels`` would, without refusing other labels.
    ``drop_empty``: drop rows whose text is empty, whitespace or null (their count is
    logged) instead of refusing the file.
    """

    name: str
    source: Literal["hub", "local", "rotten_tomatoes", "tiny"] = "local"
    hub_name: str | None = None
    hub_config: str | None = None
    path: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    hub_splits: dict[str, str] = field(default_factory=dict)
    text_column: str = "text"
    label_column: str = "label"
    split_text_columns: dict[str, str] = field(default_factory=dict)
    label_names: list[str] | None = None
    labels: list[str | int | float] | None = None
    min_label_count: int = 2
    drop_empty: bool = False
    max_length: int = 64
    batch_size: int = 32
    eval_batch_size: int = 64
    num_workers: int = 0
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 1234
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    sha256: str | None = None
    tiny_size: int = 240

    def __post_init__(self):
        check(self.max_length >= 8, "max_length", self.max_length, "an integer >= 8")
        check(self.batch_size >= 1, "batch_size", self.batch_size, "an integer >= 1")
        check(self.eval_batch_size >= 1, "eval_batch_size", self.eval_batch_size, "an integer >= 1")
        check(self.num_workers >= 0, "num_workers", self.num_workers, "an integer >= 0")
        for key in ("validation_fraction", "test_fraction"):
            value = getattr(self, key)
            check(0.0 < value < 0.5, key, value, "a fraction in (0, 0.5)")
        for key in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, key)
            check(value is None or value >= 1, key, value, "null or an integer >= 1")
        for split in list(self.files) + list(self.split_text_columns) + list(self.hub_splits):
            check(
                split in ("train", "validation", "test"),
                "files",
                split,
                "splits train, validation, test",
            )
        check(
            self.source != "hub" or self.hub_name or self.path,
            "hub_name",
            self.hub_name,
            "a dataset name on the hub when source=hub",
        )
        check(
            self.source != "local" or self.path,
            "path",
            self.path,
            "a file or folder when source=local",
        )
        check(self.tiny_size >= 30, "tiny_size", self.tiny_size, "an integer >= 30")
        self._check_labels()

    def _check_labels(self):
        check(
            self.min_label_count >= 1,
            "min_label_count",
            self.min_label_count,
            "an integer >= 1 (1 accepts a label seen once)",
        )
        if self.labels is None:
            return
        texts = [str(v).strip() for v in self.labels]
        check(
            len(texts) >= 2 and all(texts) and len(set(texts)) == len(texts),
            "labels",
            self.labels,
            "null, or a list of at least 2 distinct, non-empty label values",
        )
        check(
            self.label_names is None or len(self.label_names) == len(self.labels),
            "label_names",
            self.label_names,
            f"null or {len(self.labels)} names, one per entry of data.labels",
        )


@register_section("model")
@dataclass(frozen=True)
class ModelConfig:
    """A pretrained encoder plus a fresh classification head.

    ``source``: ``package`` (a Hugging Face folder inside an installed Python package),
    ``hub`` (a hub id, or a local folder), or ``random`` (a BERT built from the fields
    below, tokenizer taken from ``tokenizer``).
    """

    name: str
    source: Literal["package", "hub", "random"] = "hub"
    pretrained: str | None = None
    tokenizer: str | None = None
    num_layers: int = 2
    hidden_size: int = 128
    num_heads: int = 4
    intermediate_size: int = 256
    dropout: float = 0.1

    def __post_init__(self):
        check(
            self.source == "random" or bool(self.pretrained),
            "pretrained",
            self.pretrained,
            "a package folder or hub id unless source=random",
        )
        check(self.num_layers >= 1, "num_layers", self.num_layers, "an integer >= 1")
        check(
            self.num_heads >= 1 and self.hidden_size % self.num_heads == 0,
            "num_heads",
            self.num_heads,
            f"a divisor of hidden_size={self.hidden_size}",
        )
        check(
            self.intermediate_size >= 1,
            "intermediate_size",
            self.intermediate_size,
            "an integer >= 1",
        )
        check(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "a probability in [0, 1)")


@register_section("trainer")
@dataclass(frozen=True)
class TrainerConfig:
    """Fine-tuning knobs (AdamW, linear warm-up then linear decay, gradient clipping)."""

    max_epochs: int = 1
    max_steps: int = -1
    learning_rate: float = 5e-5
    head_learning_rate: float | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    gradient_clip_val: float = 1.0
    precision: Literal["32-true", "32", "bf16-mixed", "bf16-true", "16-mixed"] = "32-true"
    accelerator: str = "cpu"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    val_check_interval: float | int = 1.0
    limit_val_batches: float | int = 1.0
    log_every_n_steps: int = 10
    enable_progress_bar: bool = True
    deterministic: bool = False
    num_threads: int | None = None

    def __post_init__(self):
        check(
            self.max_epochs >= 1 or self.max_steps > 0,
            "max_epochs",
            self.max_epochs,
            "an integer >= 1 (or max_steps > 0)",
        )
        check(
            self.max_steps == -1 or self.max_steps > 0,
            "max_steps",
            self.max_steps,
            "-1 (no limit) or an integer > 0",
        )
        check(0 < self.learning_rate < 1, "learning_rate", self.learning_rate, "a number in (0, 1)")
        check(self.weight_decay >= 0, "weight_decay", self.weight_decay, "a number >= 0")
        check(0 <= self.warmup_ratio < 1, "warmup_ratio", self.warmup_ratio, "a fraction in [0, 1)")
        check(
            self.gradient_clip_val >= 0,
            "gradient_clip_val",
            self.gradient_clip_val,
            "a number >= 0 (0 disables)",
        )
        check(self.num_nodes >= 1, "num_nodes", self.num_nodes, "an integer >= 1")
        check(
            self.num_threads is None or self.num_threads >= 1,
            "num_threads",
            self.num_threads,
            "null or an integer >= 1",
        )


@register_section("logger")
@dataclass(frozen=True)
class LoggerConfig:
    """MLflow: embedded sqlite store under outputs/ unless a tracking URI is given."""

    tracking_uri: str | None = None
    experiment_name: str = "nlpcompress"
    run_name: str | None = None
    log_model: bool = True
    tags: dict[str, str] = field(default_factory=dict)


@register_section("paths")
@dataclass(frozen=True)
class PathsConfig:
    """Where runs write. ``cache_dir`` holds baselines, tokenized data and teacher outputs."""

    root_dir: str
    output_dir: str
    cache_dir: str
    mlflow_dir: str
    run_dir: str


@register_section("measure")
@dataclass(frozen=True)
class MeasureConfig:
    """Speed measurement: batch-1 latency and batch-``throughput_batch`` throughput.

    ``seq_lengths``: extra sequence lengths at which batch-1 latency is also timed, side by
    side with the fp32 baseline (``speed/latency_ms_p50_seq{L}``); empty: none.
    """

    seq_length: int = 64
    threads: int = 2
    warmup: int = 10
    latency_iters: int = 60
    throughput_batch: int = 32
    throughput_iters: int = 6
    rounds: int = 3
    enabled: bool = True
    seq_lengths: list[int] = field(default_factory=list)

    def __post_init__(self):
        check(self.seq_length >= 8, "seq_length", self.seq_length, "an integer >= 8")
        for i, length in enumerate(self.seq_lengths):
            check(length >= 1, f"seq_lengths[{i}]", length, "a positive integer")
        check(self.threads >= 1, "threads", self.threads, "an integer >= 1")
        check(self.latency_iters >= 5, "latency_iters", self.latency_iters, "an integer >= 5")
        check(
            self.throughput_iters >= 1, "throughput_iters", self.throughput_iters, "an integer >= 1"
        )
        check(self.rounds >= 1, "rounds", self.rounds, "an integer >= 1")
        check(self.warmup >= 1, "warmup", self.warmup, "an integer >= 1")
        check(
            self.throughput_batch >= 1, "throughput_batch", self.throughput_batch, "an integer >= 1"
        )


# The forms ``deploy=auto`` can choose among: eager PyTorch, torch.ao dynamic int8 Linear,
# the fused ONNX Runtime fp32 graph and its ORT dynamic QInt8 quantization.
DEPLOY_CANDIDATES = ("torch", "torch_int8", "onnxruntime", "onnxruntime_int8", "openvino")


@register_section("deploy")
@dataclass(frozen=True)
class DeployConfig:
    """The runtime that the deployed form is exported to and timed on.

    ``backend=auto`` measures instead of assuming: every form in ``candidates`` that the model
    allows is built, evaluated on the validation split and timed side by side, and the
    fastest (batch-1 p50) whose validation accuracy is within ``max_acc_drop`` points of the
    best candidate's is deployed (``deploy_candidates.csv``, tag ``deploy_backend``).
    """

    backend: Literal["torch", "onnxruntime", "auto"] = "torch"
    opset: int = 17
    max_acc_drop: float = 0.3
    candidates: list[str] = field(default_factory=lambda: list(DEPLOY_CANDIDATES))

    def __post_init__(self):
        check(self.opset >= 14, "opset", self.opset, "an ONNX opset >= 14")
        check(self.max_acc_drop >= 0, "max_acc_drop", self.max_acc_drop, "accuracy points >= 0")
        check(
            len(self.candidates) >= 1,
            "candidates",
            self.candidates,
            f"a non-empty list of {', '.join(DEPLOY_CANDIDATES)}",
        )
        for i, name in enumerate(self.candidates):
            check(
                name in DEPLOY_CANDIDATES,
                f"candidates[{i}]",
                name,
                f"one of {', '.join(DEPLOY_CANDIDATES)}",
            )


@register_section("method")
@dataclass(frozen=True)
class MethodConfig:
    """Base schema of ``method``: each method registers a subclass with its own knobs."""

    name: str

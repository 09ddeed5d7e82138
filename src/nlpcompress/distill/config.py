"""The ``distill`` (loss knobs) and ``pair`` (teacher/student) config sections.

``conf/distill/*.yaml`` and ``conf/pair/*.yaml``; ``method=distill`` pulls both in.
Cross-section checks (depths, tokenizers, the teacher being the run's model) live in
:func:`validate_distill`, run before any work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from nlpcompress.config.errors import ConfigError
from nlpcompress.config.schema import MethodConfig, ModelConfig
from nlpcompress.config.typed import check, register_section
from nlpcompress.distill.layer_map import resolve_layer_map
from nlpcompress.models.assets import preset_config


@dataclass(frozen=True)
class LossWeights:
    """The knobs of the objective (see :class:`DistillConfig`; used by
    :class:`~nlpcompress.distill.objective.DistillObjective`)."""

    temperature: float = 2.0
    alpha: float = 0.5
    hidden_weight: float = 0.0
    attention_weight: float = 0.0
    attention_loss: str = "mse"
    embedding_weight: float = 0.0
    value_weight: float = 0.0
    relation_layers: str = "all"

    @property
    def needs_teacher(self) -> bool:
        return self.alpha > 0 or self.intermediate

    @property
    def intermediate(self) -> bool:
        return (
            self.hidden_weight > 0
            or self.attention_weight > 0
            or self.embedding_weight > 0
            or self.value_weight > 0
        )


@register_section("distill")
@dataclass(frozen=True)
class DistillConfig:
    """The distillation loss.

    Attributes:
        name: preset name, used in tags.
        temperature: softmax temperature ``T > 0`` of the logit term.
        alpha: weight of the soft (teacher) term in ``[0, 1]``; 0 is plain fine-tuning.
        hidden_weight: weight of the hidden-state MSE between mapped layers.
        attention_weight: weight of the attention-map loss between mapped layers.
        attention_loss: ``mse`` (TinyBERT, on pre-softmax scores) or ``kl`` (MiniLM, on
            attention distributions).
        embedding_weight: weight of the embedding-output MSE.
        value_weight: weight of MiniLM's value-relation KL between mapped layers.
        relation_layers: ``all`` mapped layers, or ``last`` (MiniLM: the attention and
            value-relation terms on the last layer only).
        intermediate_fraction: two-stage training (TinyBERT, MiniLM): the first fraction of
            the steps trains the intermediate terms only, the rest the logit KD only; 0 sums
            all terms in one stage.
        intermediate_learning_rate: the first (intermediate) stage's peak learning rate;
            null uses the method's. Its dense per-token regression takes a higher rate than
            the prediction stage (TinyBERT's reference code sets each stage's own rate).
        layer_map: ``skip`` (student layer i <- teacher layer (i+1)k-1) or ``last``;
            ``pair.layer_map`` overrides it with an explicit list.
        cache_teacher: compute teacher outputs once per dataset and reuse them from disk.
        cache_hidden: also cache mapped hidden states / embeddings (float16) when hidden
            losses are on; false runs the teacher every step instead.
        cache_max_mb: size limit of the cached hidden states; above it nothing is cached
            and the teacher runs every step.
    """

    name: str = "logit"
    temperature: float = 2.0
    alpha: float = 0.5
    hidden_weight: float = 0.0
    attention_weight: float = 0.0
    attention_loss: Literal["mse", "kl"] = "mse"
    embedding_weight: float = 0.0
    value_weight: float = 0.0
    relation_layers: Literal["all", "last"] = "all"
    intermediate_fraction: float = 0.0
    intermediate_learning_rate: float | None = None
    layer_map: Literal["skip", "last"] = "skip"
    cache_teacher: bool = True
    cache_hidden: bool = True
    cache_max_mb: int = 1024

    def __post_init__(self):
        check(self.temperature > 0, "temperature", self.temperature, "a number > 0")
        check(0.0 <= self.alpha <= 1.0, "alpha", self.alpha, "a number in [0, 1]")
        for key in ("hidden_weight", "attention_weight", "embedding_weight", "value_weight"):
            check(getattr(self, key) >= 0, key, getattr(self, key), "a number >= 0")
        check(
            0.0 <= self.intermediate_fraction < 1.0,
            "intermediate_fraction",
            self.intermediate_fraction,
            "a fraction in [0, 1) (0: one stage)",
        )
        check(
            self.intermediate_learning_rate is None or 0 < self.intermediate_learning_rate < 1,
            "intermediate_learning_rate",
            self.intermediate_learning_rate,
            "null or a number in (0, 1)",
        )
        check(self.cache_max_mb >= 0, "cache_max_mb", self.cache_max_mb, "an integer >= 0")

    def describe(self) -> str:
        """Part of the run name, e.g. ``logit_a0.5_T2``."""
        return f"{self.name}_a{self.alpha:g}_T{self.temperature:g}"

    @property
    def weights(self) -> LossWeights:
        return LossWeights(
            self.temperature,
            self.alpha,
            self.hidden_weight,
            self.attention_weight,
            self.attention_loss,
            self.embedding_weight,
            self.value_weight,
            self.relation_layers,
        )


@dataclass(frozen=True)
class GeneralDistillConfig:
    """General distillation before the task (TinyBERT's first phase; see
    :mod:`nlpcompress.distill.general`): the random student learns the *pretrained* teacher's
    hidden states, attention scores and embeddings on unlabelled text, once, cached; every
    form of task distillation then starts from it.

    Attributes:
        steps: optimiser steps; 0 turns it off (the student starts random).
        learning_rate: peak AdamW learning rate (linear warm-up, then linear decay to 0).
        warmup_fraction: share of the steps spent warming up.
        batch_size: sentences per step.
        corpus: a CSV/TSV/JSON(L)/parquet file of unlabelled text (labels, if any, are never
            read); null uses the text of the run's training split.
        text_column: the corpus file's text column.
        seed: the seed of the student's initialisation, the batch order and dropout; part of
            the cache key, so one general student serves every seed of a sweep (as one
            released General TinyBERT serves every task run).
    """

    steps: int = 0
    learning_rate: float = 1.0e-3
    warmup_fraction: float = 0.06
    batch_size: int = 32
    corpus: str | None = None
    text_column: str = "sentence"
    seed: int = 0

    def __post_init__(self):
        check(self.steps >= 0, "steps", self.steps, "an integer >= 0 (0: off)")
        check(0 < self.learning_rate < 1, "learning_rate", self.learning_rate, "a number in (0, 1)")
        check(
            0 <= self.warmup_fraction < 1,
            "warmup_fraction",
            self.warmup_fraction,
            "a fraction in [0, 1)",
        )
        check(self.batch_size >= 1, "batch_size", self.batch_size, "an integer >= 1")


@dataclass(frozen=True)
class StudentConfig:
    """How the student is built.

    Attributes:
        name: short name for tags (``minilm3``, ``tiny``, ``bilstm``...).
        kind: ``bert`` (any Hugging Face encoder classifier) or ``bilstm``.
        init: ``teacher_layers`` (copy the teacher, keep ``layers``), ``pretrained``
            (``model`` from the hub or a package) or ``random`` (``model`` with
            ``source: random``).
        layers: teacher layers kept by ``init=teacher_layers``.
        model: the student preset for ``init=pretrained|random``.
        tokenizer: the student's tokenizer; null means the teacher's. Inputs are tokenized
            once with the teacher's tokenizer, so it must be the teacher's.
        embedding_dim, hidden_size, num_layers, mlp_hidden, dropout: BiLSTM sizes.
        embedding_init: BiLSTM word embeddings: ``teacher`` (copied, needs
            ``embedding_dim`` = teacher width) or ``random``. A random BERT student
            (``init=random``) keeps random embeddings for either, or takes ``teacher_pca``: its
            word, position and token-type tables are the teacher's projected on the top
            principal directions of the teacher's word embeddings (a narrower student), and
            the learned projections back to the teacher's width start as that projection's
            transpose (:func:`~nlpcompress.distill.students.init_embeddings_from_teacher_pca`).
        general_distill: general distillation of a random BERT student before the task
            (:class:`GeneralDistillConfig`; off by default).
    """

    name: str
    kind: Literal["bert", "bilstm"] = "bert"
    init: Literal["teacher_layers", "pretrained", "random"] = "teacher_layers"
    layers: list[int] = field(default_factory=list)
    model: ModelConfig | None = None
    tokenizer: str | None = None
    embedding_dim: int = 384
    hidden_size: int = 300
    num_layers: int = 1
    mlp_hidden: int = 400
    dropout: float = 0.1
    embedding_init: Literal["teacher", "random", "teacher_pca"] = "teacher"
    general_distill: GeneralDistillConfig = field(default_factory=GeneralDistillConfig)

    def __post_init__(self):
        if self.kind == "bert":
            check(
                self.init != "teacher_layers" or len(self.layers) >= 1,
                "layers",
                self.layers,
                "a non-empty list of teacher layer indices when init=teacher_layers",
            )
            check(
                self.init == "teacher_layers" or self.model is not None,
                "model",
                self.model,
                f"a model preset (name, source, ...) when init={self.init}",
            )
            check(
                self.init != "random" or self.model is None or self.model.source == "random",
                "model.source",
                self.model.source if self.model else None,
                "random when init=random",
            )
        else:
            check(
                self.init in ("random", "teacher_layers") and not self.layers,
                "init",
                self.init,
                "random for kind=bilstm (no transformer layers to copy; word embeddings via embedding_init)",
            )
        check(
            self.embedding_init != "teacher_pca" or (self.kind == "bert" and self.init == "random"),
            "embedding_init",
            self.embedding_init,
            "teacher or random (teacher_pca only for kind=bert with init=random)",
        )
        check(
            self.general_distill.steps == 0 or (self.kind == "bert" and self.init == "random"),
            "general_distill.steps",
            self.general_distill.steps,
            "0 unless kind=bert and init=random (general distillation trains a random student)",
        )
        check(
            self.general_distill.steps == 0 or self.embedding_init != "teacher_pca",
            "embedding_init",
            self.embedding_init,
            "teacher or random with general_distill.steps > 0 (the general student starts "
            "random and replaces every weight, the PCA-initialised embeddings included)",
        )
        for key in ("embedding_dim", "hidden_size", "num_layers", "mlp_hidden"):
            check(getattr(self, key) >= 1, key, getattr(self, key), "an integer >= 1")
        check(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "a probability in [0, 1)")


@register_section("pair")
@dataclass(frozen=True)
class PairConfig:
    """A teacher and a student.

    Attributes:
        name: the pair's name (``minilm6_to_minilm3``...).
        teacher: the model preset of the teacher; the run's ``model`` group must be it
            (the teacher is that model's cached fine-tuned baseline).
        student: how the student is built.
        layer_map: explicit map, ``layer_map[i]`` = teacher layer of student layer ``i``;
            null uses ``distill.layer_map``.
        teacher_checkpoint: a stored model (``path/stem`` of ``.safetensors``/``.json``)
            used as the teacher instead of the baseline.
    """

    name: str
    teacher: str
    student: StudentConfig
    layer_map: list[int] | None = None
    teacher_checkpoint: str | None = None

    def describe(self) -> str:
        """Part of the run name: the pair."""
        return self.name


@dataclass(frozen=True)
class DistillMethodConfig(MethodConfig):
    """``method=distill`` knobs: training length and learning rate of the student.

    Attributes:
        max_epochs: student epochs; null keeps ``trainer.max_epochs``.
        max_steps: student steps; null keeps ``trainer.max_steps``.
        learning_rate: student learning rate; null keeps ``trainer.learning_rate``.
    """

    name: str = "distill"
    max_epochs: int | None = None
    max_steps: int | None = None
    learning_rate: float | None = None

    def __post_init__(self):
        check(
            self.max_epochs is None or self.max_epochs >= 1,
            "max_epochs",
            self.max_epochs,
            "null or an integer >= 1",
        )
        check(
            self.max_steps is None or self.max_steps >= 1,
            "max_steps",
            self.max_steps,
            "null or an integer >= 1",
        )
        check(
            self.learning_rate is None or 0 < self.learning_rate < 1,
            "learning_rate",
            self.learning_rate,
            "null or a number in (0, 1)",
        )


@dataclass(frozen=True)
class PresetShape:
    """What validation needs to know about a model preset without loading its weights."""

    layers: int
    width: int
    heads: int
    tokenizer: str


def preset_shape(model: ModelConfig) -> PresetShape | None:
    """Depth, width, heads and tokenizer of a preset; None when its config is unreachable
    (a hub id without network: checked again once the model is built)."""
    tokenizer = model.tokenizer or model.pretrained or model.name
    if model.source == "random":
        return PresetShape(model.num_layers, model.hidden_size, model.num_heads, tokenizer)
    conf = preset_config(model)
    if conf is None:
        return None
    layers = conf.get("num_hidden_layers", conf.get("n_layers"))
    width = conf.get("hidden_size", conf.get("dim"))
    heads = conf.get("num_attention_heads", conf.get("n_heads"))
    if layers is None or width is None:
        return None
    return PresetShape(int(layers), int(width), int(heads or 0), tokenizer)


def student_tokenizer(student: StudentConfig, teacher_tokenizer: str) -> str:
    if student.tokenizer:
        return student.tokenizer
    if student.kind == "bert" and student.init != "teacher_layers" and student.model is not None:
        return student.model.tokenizer or student.model.pretrained or student.model.name
    return teacher_tokenizer


def student_depth(student: StudentConfig) -> int | None:
    """Transformer depth of the student (0 for a BiLSTM; None if unknown before loading)."""
    if student.kind == "bilstm":
        return 0
    if student.init == "teacher_layers":
        return len(student.layers)
    shape = preset_shape(student.model)
    return shape.layers if shape else None


def validate_distill(cfg) -> None:
    """Cross-section checks of ``method=distill``, before any work.

    Raises:
        ConfigError: the teacher is not the run's model; a student or a layer map outside
            either model's depth; tokenizers differ; intermediate losses on a BiLSTM.
    """
    distill: DistillConfig = cfg.section("distill")
    pair: PairConfig = cfg.section("pair")
    check(
        pair.teacher == cfg.model.name,
        "pair.teacher",
        pair.teacher,
        f"the run's model (model={cfg.model.name}); the teacher is the fine-tuned baseline of `model`, "
        f"so run with model={pair.teacher}",
    )
    student = pair.student
    teacher_shape = preset_shape(cfg.model)
    teacher_tok = cfg.model.tokenizer or cfg.model.pretrained or cfg.model.name
    intermediate = distill.weights.intermediate
    s_tok = student_tokenizer(student, teacher_tok)
    if s_tok != teacher_tok:
        need = "token-aligned losses (hidden/attention/embedding)" if intermediate else "its inputs"
        raise ConfigError(
            "pair.student.tokenizer",
            s_tok,
            f"the teacher's tokenizer {teacher_tok!r}: the data is tokenized once with it and "
            f"the student needs the same token ids for {need}",
        )
    if student.kind == "bilstm":
        for key in ("hidden_weight", "attention_weight", "embedding_weight", "value_weight"):
            check(
                getattr(distill, key) == 0,
                f"distill.{key}",
                getattr(distill, key),
                "0 for a BiLSTM student (it has no transformer layers to match): use distill=logit",
            )
        if student.embedding_init == "teacher" and teacher_shape is not None:
            check(
                student.embedding_dim == teacher_shape.width,
                "pair.student.embedding_dim",
                student.embedding_dim,
                f"the teacher's width {teacher_shape.width} with embedding_init=teacher",
            )
        return
    if teacher_shape is None:
        return
    if student.init == "teacher_layers":
        bad = [i for i in student.layers if not 0 <= i < teacher_shape.layers]
        check(
            not bad,
            "pair.student.layers",
            list(student.layers),
            f"indices in 0..{teacher_shape.layers - 1} (the teacher has {teacher_shape.layers} layers)",
        )
    depth = student_depth(student)
    if depth is None:
        return
    if pair.layer_map is not None:
        check(
            len(pair.layer_map) == depth,
            "pair.layer_map",
            list(pair.layer_map),
            f"one teacher layer per student layer ({depth} entries)",
        )
        bad = [t for t in pair.layer_map if not 0 <= t < teacher_shape.layers]
        check(
            not bad,
            "pair.layer_map",
            list(pair.layer_map),
            f"teacher layers in 0..{teacher_shape.layers - 1} (the teacher has {teacher_shape.layers} layers)",
        )
    elif intermediate:
        try:
            resolve_layer_map(distill.layer_map, depth, teacher_shape.layers)
        except ValueError as err:
            raise ConfigError("distill.layer_map", distill.layer_map, str(err)) from None

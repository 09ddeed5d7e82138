"""``method=distill``: train a student (``pair``) to copy the run's fine-tuned model (``distill``).

The run's ``model`` is the teacher: its cached fine-tuned baseline. The student is trained
with :class:`~nlpcompress.distill.objective.DistillObjective` for the trainer's (or the
method's) steps, then evaluated, exported and timed by the runner against the teacher.
``distill.alpha=0`` with no intermediate terms is the same student fine-tuned without KD.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import lightning as L
import torch
from torch import nn

from nlpcompress.config import metric_names as names
from nlpcompress.config.errors import ConfigError
from nlpcompress.distill.builders import export_bilstm
from nlpcompress.distill.cache import TeacherCache
from nlpcompress.distill.config import (
    DistillConfig,
    DistillMethodConfig,
    GeneralDistillConfig,
    PairConfig,
    StudentConfig,
)
from nlpcompress.distill.general import GD_WEIGHTS, general_key
from nlpcompress.distill.layer_map import resolve_layer_map
from nlpcompress.distill.objective import DistillObjective
from nlpcompress.distill.students import (
    BiLSTMClassifier,
    bert_student,
    bilstm_student,
    hidden_width,
    init_embeddings_from_teacher_pca,
    layer_dropped_student,
    num_layers,
)
from nlpcompress.methods.base import CompressedModel, MethodContext
from nlpcompress.methods.distill_module import DistillationModule
from nlpcompress.methods.teacher_outputs import teacher_cache_metrics, training_split_outputs
from nlpcompress.training.general_distill import GeneralStudent, general_distilled
from nlpcompress.training.trainer import fit_best

log = logging.getLogger(__name__)


def load_teacher(ctx: MethodContext, pair: PairConfig) -> tuple[nn.Module, str, float]:
    """``(teacher, cache id, test accuracy)``: the baseline, or ``pair.teacher_checkpoint``."""
    if pair.teacher_checkpoint:
        from nlpcompress.measure.accuracy import evaluate_splits
        from nlpcompress.storage.entry import file_digest
        from nlpcompress.storage.format import load_model

        stem = Path(pair.teacher_checkpoint)
        if not stem.with_suffix(".json").is_file():
            raise ConfigError(
                "pair.teacher_checkpoint",
                pair.teacher_checkpoint,
                "the stem of a stored model (.json + .safetensors)",
            )
        teacher = load_model(stem)
        check_teacher_labels(teacher, ctx.datamodule.num_labels)
        acc = evaluate_splits(teacher, ctx.datamodule, ("test",))[names.TEST_ACC]
        return teacher, "ckpt-" + file_digest(stem.with_suffix(".safetensors")), acc
    return ctx.baseline.model, ctx.baseline.key, ctx.baseline.metrics[names.TEST_ACC]


def check_teacher_labels(teacher: nn.Module, num_labels: int) -> None:
    """ConfigError unless the teacher was fine-tuned on as many labels as the task has."""
    got = getattr(getattr(teacher, "config", None), "num_labels", None)
    if got is not None and got != num_labels:
        raise ConfigError(
            "pair.teacher",
            got,
            f"a teacher fine-tuned on this task's {num_labels} labels (it predicts {got})",
        )


def build_student(
    student: StudentConfig, teacher: nn.Module, num_labels: int, vocab_size: int, pad_id: int
) -> nn.Module:
    """The student described by ``student`` (see :class:`StudentConfig`)."""
    if student.kind == "bilstm":
        return bilstm_student(
            teacher,
            vocab_size,
            num_labels,
            embedding_dim=student.embedding_dim,
            hidden_size=student.hidden_size,
            num_layers=student.num_layers,
            mlp_hidden=student.mlp_hidden,
            dropout=student.dropout,
            padding_idx=pad_id,
            embedding_init=student.embedding_init,
        )
    if student.init == "teacher_layers":
        return layer_dropped_student(teacher, student.layers)
    return bert_student(student.model, num_labels)


@torch.no_grad()
def init_from_teacher_pca(
    student: nn.Module, teacher: nn.Module, objective: DistillObjective
) -> None:
    """``embedding_init=teacher_pca``: the student's embedding tables are the teacher's times
    ``P`` (its top principal directions), and each learned projection student -> teacher
    width starts as ``W = P`` (``y = x P^T``, the map back), bias 0."""
    p = init_embeddings_from_teacher_pca(student, teacher)
    for proj in [*(objective.hidden_proj or []), objective.embedding_proj]:
        if proj is not None:
            proj.weight.copy_(p)
            proj.bias.zero_()


@dataclass
class AppliedGeneralStudent:
    """What :func:`general_distill_student` did: the cache outcome, the projections it
    trained (state-dict keys of a :class:`DistillObjective`) and the run's tags."""

    result: GeneralStudent
    projections: dict[str, torch.Tensor]
    tags: dict[str, str]


def check_general_corpus(gd: GeneralDistillConfig) -> None:
    """ConfigError naming ``pair.student.general_distill.corpus`` when it is set and is not a
    file (checked when the method starts, so that a preset naming shared data validates on a
    machine without it)."""
    if gd.steps > 0 and gd.corpus is not None and not Path(gd.corpus).expanduser().is_file():
        raise ConfigError(
            "pair.student.general_distill.corpus",
            gd.corpus,
            "an existing CSV/TSV/JSON(L)/parquet file of unlabelled text, or null (the text of "
            "the run's training split)",
        )


def general_corpus(
    ctx: MethodContext, gd: GeneralDistillConfig
) -> tuple[str, Callable[[], list[list[int]]]]:
    """What identifies the unlabelled corpus in the cache key, and how to read it as token
    ids (called on a cache miss only): the run's training split (null ``corpus``) or the
    text column of ``corpus``, identified by the file's bytes."""
    dm = ctx.datamodule
    if gd.corpus is None:
        dm.setup()
        return "train-split:" + dm.cache_key(), lambda: list(dm.splits["train"]["input_ids"])
    from nlpcompress.data.datamodule import tokenizer_fingerprint
    from nlpcompress.data.readers import read_table
    from nlpcompress.storage.entry import file_digest

    path = Path(gd.corpus).expanduser()

    def read() -> list[list[int]]:
        frame = read_table(path)
        if gd.text_column not in frame.columns:
            raise ConfigError(
                "pair.student.general_distill.text_column",
                gd.text_column,
                f"a column of {path} (its columns are {list(frame.columns)})",
            )
        texts = [t for t in frame[gd.text_column].astype(str).tolist() if t.strip()]
        return dm.tokenizer(texts, truncation=True, max_length=dm.cfg.max_length)["input_ids"]

    digest = file_digest(path)
    return f"file:{digest}:{gd.text_column}:{tokenizer_fingerprint(dm.tokenizer)}", read


def general_distill_student(
    ctx: MethodContext,
    distill: DistillConfig,
    pair: PairConfig,
    student: nn.Module,
    teacher: nn.Module,
) -> AppliedGeneralStudent:
    """Replace the random ``student``'s weights by its general-distilled ones
    (:mod:`nlpcompress.distill.general`): trained from the run's *pretrained* model preset
    on unlabelled text, or read from the cache."""
    from nlpcompress.models.presets import build_classifier

    gd = pair.student.general_distill
    layer_map = resolve_layer_map(
        distill.layer_map, num_layers(student), num_layers(teacher), pair.layer_map
    )
    widths = hidden_width(student), hidden_width(teacher)
    objective = DistillObjective(GD_WEIGHTS, layer_map, *widths)
    corpus_id, read_corpus = general_corpus(ctx, gd)
    key = general_key(
        asdict(pair.student.model), asdict(ctx.cfg.model), gd, corpus_id, layer_map,
        ctx.datamodule.cfg.max_length,
    )  # fmt: skip
    num_labels = ctx.datamodule.num_labels
    result = general_distilled(
        student,
        objective,
        lambda: bert_student(pair.student.model, num_labels),
        lambda: DistillObjective(GD_WEIGHTS, layer_map, *widths),
        lambda: build_classifier(ctx.cfg.model, num_labels),
        gd,
        read_corpus,
        ctx.datamodule.tokenizer.pad_token_id or 0,
        key,
        Path(ctx.cfg.paths.cache_dir),
    )
    log.info("general student %s (%s)", key, "from the cache" if result.from_cache else "trained")
    tags = {
        "distill.general": f"{gd.steps} steps, lr {gd.learning_rate:g}",
        "distill.general_key": key,
        "distill.general_cache": "hit" if result.from_cache else "built",
    }
    return AppliedGeneralStudent(result, objective.state_dict(), tags)


def layer_map_for(
    distill: DistillConfig, pair: PairConfig, student: nn.Module, teacher: nn.Module
) -> list[int]:
    """The layer map, checked against the built models' depths (ConfigError otherwise)."""
    if not distill.weights.intermediate:
        return []
    try:
        return resolve_layer_map(
            distill.layer_map, num_layers(student), num_layers(teacher), pair.layer_map
        )
    except ValueError as err:
        raise ConfigError(
            "pair.layer_map" if pair.layer_map is not None else "distill.layer_map",
            pair.layer_map or distill.layer_map,
            str(err),
        ) from None


def teacher_cache(
    ctx: MethodContext,
    distill: DistillConfig,
    teacher: nn.Module,
    teacher_id: str,
    layer_map: list[int],
) -> tuple[TeacherCache | None, str]:
    """The teacher-output cache for the training split, or None, and why."""
    w = distill.weights
    if not distill.cache_teacher or not w.needs_teacher:
        return None, "off"
    relations = w.attention_weight > 0 or w.value_weight > 0
    if relations and distill.intermediate_fraction <= 0:
        return None, "off: attention / value-relation losses need a teacher pass each step"
    if relations:
        # Two stages: the intermediate stage runs the teacher for its attention maps; the
        # prediction stage needs only its logits, which are cached.
        layers, embeddings = [], False
    else:
        if (w.hidden_weight > 0 or w.embedding_weight > 0) and not distill.cache_hidden:
            return None, "off: cache_hidden=false and hidden losses need a teacher pass each step"
        layers = layer_map if w.hidden_weight > 0 else []
        embeddings = w.embedding_weight > 0
    return training_split_outputs(
        ctx, teacher, teacher_id, layers, embeddings, distill.cache_max_mb, "distill.cache_max_mb"
    )


def run_distill(ctx: MethodContext) -> CompressedModel:
    """Distil the run's fine-tuned model into the ``pair`` student; see the module docstring."""
    cfg = ctx.cfg
    distill: DistillConfig = cfg.section("distill")
    pair: PairConfig = cfg.section("pair")
    method: DistillMethodConfig = cfg.method
    check_general_corpus(pair.student.general_distill)
    dm = ctx.datamodule
    teacher, teacher_id, teacher_acc = load_teacher(ctx, pair)
    check_teacher_labels(teacher, dm.num_labels)
    teacher.eval()

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    tok = dm.tokenizer
    # The teacher's embedding table covers every id the tokenizer can produce.
    get_emb = getattr(teacher, "get_input_embeddings", None)
    vocab = get_emb().num_embeddings if callable(get_emb) else len(tok)
    student = build_student(
        pair.student, teacher, dm.num_labels, vocab, tok.pad_token_id or 0
    ).train()
    layer_map = layer_map_for(distill, pair, student, teacher)
    objective = DistillObjective(
        distill.weights, layer_map, hidden_width(student), hidden_width(teacher)
    )
    if pair.student.embedding_init == "teacher_pca":
        init_from_teacher_pca(student, teacher, objective)
    general = None
    if pair.student.general_distill.steps > 0:
        general = general_distill_student(ctx, distill, pair, student, teacher)
        # TinyBERT's checkpoint carries its projections into the task stage: so do ours,
        # where the task objective has projections of the same shape.
        objective.load_state_dict(general.projections, strict=False)

    cache, cache_what = teacher_cache(ctx, distill, teacher, teacher_id, layer_map)
    needs_teacher = distill.weights.needs_teacher
    trainer_cfg = replace(
        cfg.trainer, learning_rate=method.learning_rate or cfg.trainer.learning_rate
    )
    module = DistillationModule(
        student,
        teacher if needs_teacher else None,
        objective,
        trainer_cfg,
        dm.num_labels,
        cache,
        intermediate_fraction=distill.intermediate_fraction,
        intermediate_lr_factor=(distill.intermediate_learning_rate or trainer_cfg.learning_rate)
        / trainer_cfg.learning_rate,
    )
    overrides = {}
    if method.max_epochs is not None:
        overrides["max_epochs"] = method.max_epochs
    if method.max_steps is not None:
        overrides["max_steps"] = method.max_steps
    trainer = ctx.make_trainer(default_root_dir=str(ctx.run_dir / "distill"), **overrides)
    train_s = fit_best(trainer, module, dm, seed=cfg.seed)
    student = module.model.eval()

    steps = max(1, int(trainer.global_step))
    s_params = sum(p.numel() for p in student.parameters())
    t_params = sum(p.numel() for p in teacher.parameters())
    metrics = {
        "time/distill_train_s": train_s,
        "time/distill_train_s_per_step": train_s / steps,
        "distill/steps": float(steps),
        **teacher_cache_metrics(cache, sum(module.teacher_calls)),
        "distill/teacher_forward_calls_last_epoch": float(
            module.teacher_calls[-1] if module.teacher_calls else 0
        ),
        "distill/student_params": float(s_params),
        "distill/teacher_params": float(t_params),
        "distill/param_ratio": s_params / t_params,
        "teacher/test_acc": teacher_acc,
        **(general.result.metrics if general else {}),
    }
    baseline_is_teacher = not pair.teacher_checkpoint

    def derived(measured: dict[str, float]) -> dict[str, float]:
        out = {}
        if names.TEST_ACC in measured and teacher_acc > 0:
            out["test/acc_retention_vs_teacher"] = measured[names.TEST_ACC] / teacher_acc
        if baseline_is_teacher and names.SPEEDUP in measured:
            # The runner times the fp32 baseline side by side, and the baseline is the teacher.
            out["speed/speedup_vs_teacher"] = measured[names.SPEEDUP]
        return out

    kind = (
        "BiLSTM"
        if isinstance(student, BiLSTMClassifier)
        else f"{num_layers(student)}-layer h{hidden_width(student)}"
    )
    return CompressedModel(
        model=student,
        form=f"distilled student {pair.student.name} ({kind}, fp32)",
        materialized=True,
        export=(lambda stem: export_bilstm(student, stem))
        if isinstance(student, BiLSTMClassifier)
        else None,
        tags={
            "teacher": pair.teacher,
            "student": pair.student.name,
            "pair": pair.name,
            "distill": distill.name,
            "distill.alpha": str(distill.alpha),
            "distill.temperature": str(distill.temperature),
            "distill.layer_map": ",".join(map(str, layer_map)) or "none",
            "distill.teacher_cache": cache_what,
            **(general.tags if general else {}),
        },
        metrics=metrics,
        derived_metrics=derived,
    )

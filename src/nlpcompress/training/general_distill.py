"""General distillation's training loop and cache entry (TinyBERT's first phase; the loss,
batches and cache key are in :mod:`nlpcompress.distill.general`).

Entries are verified and written atomically like every cache (:mod:`nlpcompress.storage.entry`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import FileLock
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from nlpcompress.distill.config import GeneralDistillConfig
from nlpcompress.distill.general import corpus_batches
from nlpcompress.distill.objective import DistillObjective
from nlpcompress.distill.outputs import run_model
from nlpcompress.export.dense import export_dense
from nlpcompress.storage.entry import discard, staged_entry, valid_entry
from nlpcompress.storage.format import load_state_dict
from nlpcompress.training.module import linear_warmup_decay

log = logging.getLogger(__name__)


@dataclass
class GeneralStudent:
    """The outcome of :func:`general_distilled`.

    Attributes:
        key: the cache key.
        folder: the cache entry.
        from_cache: whether this run reused it.
        metrics: ``general/*``: steps, seconds, sentences and the last 50 steps' mean loss
            terms.
    """

    key: str
    folder: Path
    from_cache: bool
    metrics: dict[str, float]


def train_general(
    student: nn.Module,
    teacher: nn.Module,
    objective: DistillObjective,
    batches,
    gd: GeneralDistillConfig,
) -> dict[str, float]:
    """Run ``gd.steps`` steps of :data:`~nlpcompress.distill.general.GD_WEIGHTS`'s loss (AdamW, linear warm-up and decay,
    gradient norm clipped at 1); returns ``general/*`` metrics. Dropout draws from the global
    generator (:func:`general_distilled` seeds it)."""
    teacher.eval()
    student.train()
    params = [p for p in [*student.parameters(), *objective.parameters()] if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=gd.learning_rate, weight_decay=0.01)
    warmup = int(gd.warmup_fraction * gd.steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: linear_warmup_decay(s, warmup, gd.steps)
    )
    layers = objective.layer_map
    recent: dict[str, list[float]] = {}
    start = time.perf_counter()
    bar = tqdm(range(gd.steps), desc="general distillation", unit="step", disable=None)
    for _ in bar:
        batch = next(batches)
        with torch.no_grad():
            t = run_model(teacher, batch, hidden=True, embeddings=True, attentions=True,
                          layers=layers)  # fmt: skip
        s = run_model(student, batch, hidden=True, embeddings=True, attentions=True)
        loss, parts = objective(s, t, None, batch["attention_mask"], phase="intermediate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        for k, v in parts.items():
            recent.setdefault(k, []).append(float(v))
            del recent[k][:-50]
        bar.set_postfix(loss=f"{float(loss.detach()):.3f}", refresh=False)
    seconds = time.perf_counter() - start
    return {
        "general/steps": float(gd.steps),
        "general/train_s": seconds,
        **{f"general/{k}_loss_last50": sum(v) / len(v) for k, v in recent.items()},
    }


def general_distilled(
    student: nn.Module,
    objective: DistillObjective,
    make_student: Callable[[], nn.Module],
    make_objective: Callable[[], DistillObjective],
    make_teacher: Callable[[], nn.Module],
    gd: GeneralDistillConfig,
    read_corpus: Callable[[], list[list[int]]],
    pad_id: int,
    key: str,
    cache_dir: Path,
) -> GeneralStudent:
    """Load the general student for ``key`` into ``student`` (and its projections into
    ``objective``); on a cache miss, train it first and cache it.

    A miss builds a fresh student, objective and teacher with the factories and trains them
    under ``gd.seed`` inside :func:`torch.random.fork_rng`: the general student depends on its
    recipe only, never on which job of a sweep built it, and the caller's random state is the
    same after a miss as after a hit.

    Args:
        student: the run's freshly built student; its weights are replaced in place.
        objective: an objective with :data:`~nlpcompress.distill.general.GD_WEIGHTS`'s terms (it owns the projections).
        make_student, make_objective: build a random student / objective (on a miss).
        make_teacher: builds the pretrained teacher (on a miss).
        gd: the recipe.
        read_corpus: the unlabelled corpus as token ids (teacher's tokenizer); called on a
            miss only, so a run that finds the entry neither reads nor tokenizes it.
        pad_id: the padding id.
        key: from :func:`general_key`.
        cache_dir: the run's cache folder (entries go under ``general_students/``).
    """
    folder = Path(cache_dir) / "general_students" / key
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{folder}.lock"):
        if valid_entry(folder, "general student"):
            try:
                return _load(folder, key, student, objective, from_cache=True)
            except (OSError, ValueError, KeyError, RuntimeError) as err:
                discard(folder, "general student", f"it does not load ({err})")
        corpus_ids = read_corpus()
        log.info("general distillation: %d steps on %d sentences", gd.steps, len(corpus_ids))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(gd.seed)
            fresh, fresh_objective = make_student(), make_objective()
            metrics = train_general(
                fresh,
                make_teacher(),
                fresh_objective,
                corpus_batches(corpus_ids, pad_id, gd.batch_size, gd.seed),
                gd,
            )
        metrics["general/sentences"] = float(len(corpus_ids))
        with staged_entry(folder) as tmp:
            export_dense(fresh, tmp / "student")
            save_file(
                {k: v.detach().contiguous() for k, v in fresh_objective.state_dict().items()},
                tmp / "projections.safetensors",
            )
            (tmp / "general.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
        return _load(folder, key, student, objective, from_cache=False)


def _load(
    folder: Path, key: str, student: nn.Module, objective: DistillObjective, from_cache: bool
) -> GeneralStudent:
    state, _ = load_state_dict(folder / "student")
    student.load_state_dict(state, strict=False)
    objective.load_state_dict(load_file(folder / "projections.safetensors"))
    metrics = json.loads((folder / "general.json").read_text(encoding="utf-8"))
    return GeneralStudent(key, folder, from_cache, metrics)

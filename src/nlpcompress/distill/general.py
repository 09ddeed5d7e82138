"""General distillation: TinyBERT's first phase (Jiao et al., 2020, section 3.2).

Before any task training, a randomly initialised student learns the *pretrained* teacher's
(not the fine-tuned one's) intermediate layers on unlabelled text:

.. math::
    L_{GD} = \\frac{1}{|M|} \\sum_i \\mathrm{MSE}(W_i h^s_i, h^t_{M(i)})
           + \\frac{1}{|M|} \\sum_i \\mathrm{MSE}(A^s_i, A^t_{M(i)})
           + \\mathrm{MSE}(W_e e^s, e^t)

(``h``: layer outputs, ``A``: pre-softmax attention scores, ``e``: embedding outputs, ``M``:
the layer map, ``W``: learned projections from the student's width to the teacher's). No
labels and no logits are used. TinyBERT's task-specific stage, and every other form of
task distillation, then starts from this student, as the paper's ablations all start from
General TinyBERT; its projections are handed on with it (the reference code keeps its
``fit_dense`` layer in the checkpoint).

The result is cached once per (student preset, teacher preset, corpus, tokenizer, layer map,
recipe): a run that finds it on disk does no general distillation. Entries are verified and
written atomically like every cache (:mod:`nlpcompress.storage.entry`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from filelock import FileLock
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from nlpcompress.config.hashing import stable_hash
from nlpcompress.distill.config import GeneralDistillConfig, LossWeights
from nlpcompress.distill.objective import DistillObjective
from nlpcompress.distill.outputs import run_model
from nlpcompress.export.dense import export_dense
from nlpcompress.storage.entry import discard, staged_entry, valid_entry
from nlpcompress.storage.format import load_state_dict
from nlpcompress.training.module import linear_warmup_decay

log = logging.getLogger(__name__)

#: TinyBERT's general-distillation loss: hidden states, attention scores and embeddings, MSE.
GD_WEIGHTS = LossWeights(
    hidden_weight=1.0, attention_weight=1.0, embedding_weight=1.0, attention_loss="mse"
)


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


def corpus_batches(input_ids: list[list[int]], pad_id: int, batch_size: int, seed: int):
    """Endless shuffled batches of token ids, padded to each batch's longest sentence."""
    g = torch.Generator().manual_seed(seed)
    n = len(input_ids)
    while True:
        for chunk in torch.randperm(n, generator=g).split(batch_size):
            rows = [input_ids[i] for i in chunk.tolist()]
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for j, r in enumerate(rows):
                ids[j, : len(r)] = torch.tensor(r)
                mask[j, : len(r)] = 1
            yield {"input_ids": ids, "attention_mask": mask}


def general_key(
    student_model: dict, teacher_model: dict, gd: GeneralDistillConfig, corpus: str,
    layer_map: list[int], max_length: int,
) -> str:  # fmt: skip
    """Cache key: everything that changes the general student."""
    recipe = asdict(gd)
    recipe.pop("corpus", None)  # named by its content digest instead
    return stable_hash(
        {
            "version": 2,  # 2: the student and projections start from the recipe's seed
            "student": student_model,
            "teacher": teacher_model,
            "recipe": recipe,
            "corpus": corpus,
            "layer_map": list(layer_map),
            "max_length": max_length,
            "loss": asdict(GD_WEIGHTS),
        }
    )


def train_general(
    student: nn.Module,
    teacher: nn.Module,
    objective: DistillObjective,
    batches,
    gd: GeneralDistillConfig,
) -> dict[str, float]:
    """Run ``gd.steps`` steps of :data:`GD_WEIGHTS`'s loss (AdamW, linear warm-up and decay,
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
    corpus_ids: list[list[int]],
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
        objective: an objective with :data:`GD_WEIGHTS`'s terms (it owns the projections).
        make_student, make_objective: build a random student / objective (on a miss).
        make_teacher: builds the pretrained teacher (on a miss).
        gd: the recipe.
        corpus_ids: the unlabelled corpus, tokenized with the teacher's tokenizer.
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

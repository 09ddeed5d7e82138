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
recipe): a run that finds it on disk does no general distillation. This module holds the loss,
the batches and the cache key; the training loop and the cache entry are in
:mod:`nlpcompress.training.general_distill`.
"""

from __future__ import annotations

from dataclasses import asdict

import torch

from nlpcompress.config.hashing import stable_hash
from nlpcompress.distill.config import GeneralDistillConfig, LossWeights

#: TinyBERT's general-distillation loss: hidden states, attention scores and embeddings, MSE.
GD_WEIGHTS = LossWeights(
    hidden_weight=1.0, attention_weight=1.0, embedding_weight=1.0, attention_loss="mse"
)


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

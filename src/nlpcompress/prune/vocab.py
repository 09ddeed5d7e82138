"""Vocabulary pruning (TextPruner, Yang et al. 2022): keep the word-embedding rows of the
tokens a task uses, and renumber them.

Kept set ``K = C ∪ S ∪ T_k``: ``C`` the ids of the training corpus tokenized with the
original tokenizer (no truncation), ``S`` the special tokens, ``T_k`` the first ``k``
ordinary entries of the original vocabulary (:func:`first_k_ids`). New ids follow the
original order: ``new(i) = |{j ∈ K : j < i}|``, so the rows of the pruned table are
``E' = E[sorted(K)]`` and ``E'[new(i)] = E[i]`` for every kept ``i``. A model that looks up
``new(i)`` where it looked up ``i`` computes exactly what it computed before; only the
lookup table is smaller, by ``(V - |K|) * H`` values.

Plain torch: no tokenizer here (see :mod:`nlpcompress.prune.vocab_tokenizer`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn

from nlpcompress.quant.modules import QuantEmbedding

# Bracketed entries ([PAD], [unused17]) are never produced from text by WordPiece.
_PLACEHOLDER = re.compile(r"^\[[^\[\]]+\]$")


def kept_ids(
    corpus_ids: Iterable[Sequence[int]], special_ids: Iterable[int], extra_ids: Iterable[int] = ()
) -> list[int]:
    """``sorted(C ∪ S ∪ extra)``: every id in the corpus, the special ids and ``extra_ids``."""
    kept = set(special_ids) | set(extra_ids)
    for ids in corpus_ids:
        kept.update(ids)
    return sorted(kept)


def first_k_ids(vocab: Mapping[str, int], k: int) -> list[int]:
    """The ``k`` lowest ids of ``vocab`` that are not bracketed placeholders or specials.

    A stand-in for "the k most frequent tokens of a reference list": WordPiece vocabularies
    are roughly frequency-ordered after their placeholders. For BERT's uncased vocab the
    first ~1000 such ids are the single characters (``!`` = 999, ``"`` = 1000, ...), then
    words from the most frequent (``the`` = 1996, ``of``, ``and``, ...).
    """
    ordered = sorted((i, t) for t, i in vocab.items() if not _PLACEHOLDER.match(t))
    return [i for i, _ in ordered[:k]]


def id_map(kept: Sequence[int], vocab_size: int, fill: int) -> torch.Tensor:
    """``old -> new`` as a ``(vocab_size,)`` long tensor; removed ids map to ``fill``."""
    table = torch.full((vocab_size,), fill, dtype=torch.long)
    table[torch.as_tensor(list(kept), dtype=torch.long)] = torch.arange(len(kept))
    return table


def word_embedding(model: nn.Module) -> nn.Module:
    """The input word-embedding module (``get_input_embeddings()``); refuses tied outputs."""
    get = getattr(model, "get_input_embeddings", None)
    if not callable(get):
        raise TypeError(
            f"vocab pruning needs a model with get_input_embeddings(); {type(model).__name__} has none"
        )
    out = getattr(model, "get_output_embeddings", lambda: None)()
    if out is not None:
        raise TypeError("vocab pruning of a model with tied output embeddings is not supported")
    return get()


@torch.no_grad()
def select_embedding_rows(emb: nn.Module, kept: Sequence[int]) -> None:
    """Keep rows ``kept`` of an ``nn.Embedding`` or a fake-quant :class:`QuantEmbedding`, in place.

    In place, so that closures holding the module (a pipeline stage's export) see the new
    table. A quantized table's learned per-row steps (LSQ) are selected with their rows;
    per-row scales are recomputed from the same rows, hence unchanged. A per-tensor scale is
    recomputed over the kept rows (it may shrink: still the exact stored form).
    """
    index = torch.as_tensor(list(kept), dtype=torch.long, device=emb.weight.device)
    old_rows = emb.weight.shape[0]
    pad = emb.padding_idx
    emb.weight = nn.Parameter(
        emb.weight.detach()[index].clone(), requires_grad=emb.weight.requires_grad
    )
    emb.num_embeddings = len(kept)
    emb.padding_idx = int(id_map(kept, old_rows, -1)[pad]) if pad is not None else None
    if emb.padding_idx == -1:
        emb.padding_idx = None
    if isinstance(emb, QuantEmbedding):
        q = emb.weight_quantizer
        if q.scale is not None and q.scale_shape[0] == old_rows:
            scale = q.scale.detach().reshape(q.scale_shape)[index]
            q.scale = nn.Parameter(scale.reshape(-1).clone())
            q.scale_shape = (len(kept), *q.scale_shape[1:])
        q._cache = None


def prune_vocab(model: nn.Module, kept: Sequence[int]) -> None:
    """Shrink ``model``'s word embeddings to rows ``kept`` (sorted) and fix its config.

    ``config.vocab_size`` becomes ``len(kept)`` and ``config.pad_token_id`` the pad token's
    new id, so the stored form's metadata rebuilds the smaller model.
    """
    if list(kept) != sorted(set(kept)):
        raise ValueError("kept ids must be sorted and unique (new ids follow the original order)")
    emb = word_embedding(model)
    if kept and kept[-1] >= emb.weight.shape[0]:
        raise ValueError(f"kept id {kept[-1]} >= vocabulary size {emb.weight.shape[0]}")
    config = getattr(model, "config", None)
    old_pad = getattr(config, "pad_token_id", None)
    old_rows = emb.weight.shape[0]
    select_embedding_rows(emb, kept)
    if config is not None:
        config.vocab_size = len(kept)
        if old_pad is not None:
            new_pad = int(id_map(kept, old_rows, -1)[old_pad])
            config.pad_token_id = new_pad if new_pad >= 0 else None

"""``method=vocab_prune``: vocabulary pruning (TextPruner, Yang et al. 2022), no training.

Keeps the word-embedding rows of the tokens the training split uses (tokenized with the
model's tokenizer, untruncated), the special tokens and optionally ``method.keep_top_k``
entries of the original vocabulary (:func:`~nlpcompress.prune.vocab.first_k_ids`); renumbers
them in the original order; writes a BERT WordPiece tokenizer with the kept tokens
(:mod:`nlpcompress.prune.vocab_tokenizer`, where it is shown why every training word keeps
its ids). Validation and test are re-tokenized with it, so a test word with a removed piece
is measured as the deployed model sees it: spelled from other kept pieces, or ``[UNK]``
when no kept piece matches (on rotten_tomatoes with MiniLM's vocab: 45% of the 30522 rows
kept, 0.01% of test tokens ``[UNK]``).

Alone it prunes the fine-tuned baseline (stored dense fp32). As the last stage of a pipeline
(``pipeline.stages=[...,vocab_prune]``) it shrinks the previous stage's model in place and
keeps that stage's stored form and deployment (int8 codes, sparse tensors, ...).

Metrics: ``size/vocab_kept`` (kept / original rows), ``vocab/kept_tokens``,
``vocab/corpus_tokens`` (distinct training ids), ``vocab/unk_rate_test`` and
``vocab/unk_rate_test_original`` (fraction of non-special test tokens that are ``[UNK]``,
pruned vs original tokenizer), ``vocab/changed_rows_test`` (test rows whose ids are not the
renumbered original ids).
"""

from __future__ import annotations

import copy
import dataclasses

from nlpcompress.config.errors import ConfigError
from nlpcompress.data.datamodule import TextClassificationDataModule
from nlpcompress.data.retokenized import RetokenizedDataModule, split_texts
from nlpcompress.measure.accuracy import evaluate_splits
from nlpcompress.methods.base import CompressedModel, MethodContext
from nlpcompress.prune.vocab import first_k_ids, id_map, kept_ids, prune_vocab, word_embedding
from nlpcompress.prune.vocab_tokenizer import (
    corpus_ids,
    pruned_tokenizer,
    unk_rate,
    wordpiece_problem,
)


def validate(cfg) -> None:
    """The model's tokenizer must be a BERT WordPiece one (loaded here: local and quick)."""
    from nlpcompress.models.presets import load_tokenizer

    problem = wordpiece_problem(load_tokenizer(cfg.model))
    if problem is not None:
        raise ConfigError(
            "model.tokenizer",
            cfg.model.tokenizer or cfg.model.pretrained,
            f"a BERT WordPiece tokenizer for vocab_prune ({problem})",
        )


def _test_ids(dm: TextClassificationDataModule) -> list[list[int]]:
    return [list(ids) for ids in dm.splits["test"]["input_ids"]]


def vocab_metrics(
    kept: list[int],
    rows_before: int,
    corpus: set[int],
    original: TextClassificationDataModule,
    pruned: TextClassificationDataModule,
) -> dict[str, float]:
    """The ``size/vocab_kept`` and ``vocab/*`` metrics (see the module docstring)."""
    new_ids, old_ids = _test_ids(pruned), _test_ids(original)
    remap = id_map(kept, rows_before, pruned.tokenizer.unk_token_id).tolist()
    changed = sum(new != [remap[i] for i in old] for new, old in zip(new_ids, old_ids, strict=True))
    return {
        "size/vocab_kept": len(kept) / rows_before,
        "vocab/kept_tokens": float(len(kept)),
        "vocab/original_tokens": float(rows_before),
        "vocab/corpus_tokens": float(len(corpus)),
        "vocab/unk_rate_test": unk_rate(new_ids, pruned.tokenizer),
        "vocab/unk_rate_test_original": unk_rate(old_ids, original.tokenizer),
        "vocab/changed_rows_test": changed / max(1, len(new_ids)),
    }


def run_vocab_prune(ctx: MethodContext) -> CompressedModel:
    """Prune the vocabulary of the baseline (or of the previous pipeline stage's model)."""
    k = ctx.cfg.method.keep_top_k
    previous = ctx.previous
    if previous is not None:
        model = previous.model  # in place: the previous stage's export and deployment see it
    elif ctx.start_model is not None:
        model = copy.deepcopy(ctx.start_model)
    else:
        model = ctx.baseline.fresh_copy()
    tok = ctx.datamodule.tokenizer
    corpus: set[int] = set()
    for ids in corpus_ids(tok, split_texts(ctx.cfg.data, "train")):
        corpus.update(ids)
    kept = kept_ids([sorted(corpus)], tok.all_special_ids, first_k_ids(tok.get_vocab(), k))
    rows_before = word_embedding(model).weight.shape[0]
    new_tok = pruned_tokenizer(tok, kept, ctx.run_dir / "vocab_tokenizer")
    prune_vocab(model, kept)
    model.eval()
    dm = RetokenizedDataModule(ctx.cfg.data, new_tok, ctx.cfg.paths.cache_dir)
    dm.setup()
    metrics = vocab_metrics(kept, rows_before, corpus, ctx.datamodule, dm)
    tags = {"vocab_pruned": "true", "vocab_keep_top_k": str(k)}
    what = f"vocab {len(kept)}/{rows_before} tokens"
    if previous is None:
        return CompressedModel(
            model=model,
            form=f"vocab-pruned fp32 ({what})",
            materialized=True,
            tags=tags,
            metrics=metrics,
            tokenizer=new_tok,
            datamodule=dm,
        )
    if any(key.startswith("stored_form/") for key in previous.metrics):
        # the previous stage measured its stored form on the original ids: measure it again
        metrics |= {
            f"stored_form/{key}": v for key, v in evaluate_splits(model, dm, ("test",)).items()
        }
    return dataclasses.replace(
        previous,
        form=f"{previous.form}, {what}",
        tags=previous.tags | tags,
        metrics=previous.metrics | metrics,
        tokenizer=new_tok,
        datamodule=dm,
    )

"""The run's splits under another tokenizer (e.g. a vocabulary-pruned one), and raw texts.

:class:`RetokenizedDataModule` is a :class:`TextClassificationDataModule` whose cache key also
holds a hash of the tokenizer's vocabulary: the plain tokenizer fingerprint (class, vocab size,
lowercasing) cannot tell two pruned vocabularies of one size apart. The preset's own data
module keeps its key, so existing caches stay valid.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from nlpcompress.config.hashing import stable_hash
from nlpcompress.config.schema import DataConfig
from nlpcompress.data.datamodule import TextClassificationDataModule
from nlpcompress.data.readers import read_source
from nlpcompress.data.splits import complete_splits


class RetokenizedDataModule(TextClassificationDataModule):
    """Same rows, labels and batches; ids from ``tokenizer``; cached under its vocab hash."""

    def cache_key(self) -> str:
        return stable_hash({"base": super().cache_key(), "vocab": vocab_digest(self.tokenizer)})


def vocab_digest(tokenizer: PreTrainedTokenizerBase) -> str:
    """Hash of the vocabulary (its tokens in id order)."""
    vocab = tokenizer.get_vocab()
    return stable_hash(sorted(vocab, key=vocab.__getitem__))


def split_texts(cfg: DataConfig, split: str = "train") -> list[str]:
    """The raw texts of one split, exactly the rows the data module tokenizes
    (same reading, carving and ``max_train_samples`` / ``max_eval_samples`` cut)."""
    labelled = complete_splits(read_source(cfg, cfg.split_seed), cfg, str(cfg.path or cfg.name))
    df = dict(labelled.items())[split]
    limit = cfg.max_train_samples if split == "train" else cfg.max_eval_samples
    if limit is not None:
        df = df.iloc[:limit]
    return df["text"].tolist()

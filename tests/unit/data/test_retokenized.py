"""Re-tokenized splits: same rows as the run's data module, cached under the vocabulary's hash."""

from __future__ import annotations

from nlpcompress.config.schema import DataConfig
from nlpcompress.data.datamodule import TextClassificationDataModule
from nlpcompress.data.retokenized import RetokenizedDataModule, split_texts, vocab_digest
from nlpcompress.prune.vocab import kept_ids
from nlpcompress.prune.vocab_tokenizer import corpus_ids, pruned_tokenizer

CFG = DataConfig(name="tiny", source="tiny", tiny_size=60, max_length=32)


def test_split_texts_are_the_rows_the_data_module_tokenizes(tokenizer, tmp_path):
    dm = TextClassificationDataModule(CFG, tokenizer, tmp_path)
    dm.setup()
    texts = split_texts(CFG, "train")
    assert len(texts) == len(dm.splits["train"]) == 48
    ids = tokenizer(texts, truncation=True, max_length=32)["input_ids"]
    assert ids == [list(r) for r in dm.splits["train"]["input_ids"]]
    assert len(split_texts(CFG, "test")) == len(dm.splits["test"])


def test_cache_key_holds_the_vocabulary(tokenizer, tmp_path):
    specials = tokenizer.all_special_ids
    a = pruned_tokenizer(tokenizer, kept_ids([[1996, 2143]], specials), tmp_path / "a")
    b = pruned_tokenizer(tokenizer, kept_ids([[1996, 2307]], specials), tmp_path / "b")
    assert len(a) == len(b) == 7 and vocab_digest(a) != vocab_digest(b)
    keys = {
        TextClassificationDataModule(CFG, tokenizer, tmp_path).cache_key(),
        RetokenizedDataModule(CFG, a, tmp_path).cache_key(),
        RetokenizedDataModule(CFG, b, tmp_path).cache_key(),
        # the plain key of a and b is the same: same class and vocabulary size
        TextClassificationDataModule(CFG, a, tmp_path).cache_key(),
    }
    assert len(keys) == 4
    assert (
        TextClassificationDataModule(CFG, a, tmp_path).cache_key()
        == TextClassificationDataModule(CFG, b, tmp_path).cache_key()
    )


def test_retokenized_splits_use_the_pruned_ids(tokenizer, tmp_path):
    texts = split_texts(CFG, "train")
    kept = kept_ids(corpus_ids(tokenizer, texts), tokenizer.all_special_ids)
    ptok = pruned_tokenizer(tokenizer, kept, tmp_path / "tok")
    dm = RetokenizedDataModule(CFG, ptok, tmp_path)
    dm.setup()
    assert max(max(r) for r in dm.splits["train"]["input_ids"]) == len(kept) - 1
    batch = next(iter(dm.val_dataloader()))
    assert int(batch["input_ids"].max()) < len(kept)

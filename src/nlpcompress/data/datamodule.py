"""LightningDataModule over Hugging Face ``datasets`` with an on-disk tokenization cache."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import datasets
import lightning as L
import pyarrow
import torch
from filelock import FileLock
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from nlpcompress.config.hashing import stable_hash
from nlpcompress.config.schema import DataConfig
from nlpcompress.data.digest import data_digest
from nlpcompress.data.readers import read_source
from nlpcompress.data.splits import complete_splits
from nlpcompress.storage.entry import discard, staged_entry, valid_entry

_UNSET = object()


@contextlib.contextmanager
def _no_progress_bars():
    """Without ``datasets``' progress bars: a cache write is quick and its bars are noise."""
    was_enabled = datasets.utils.logging.is_progress_bar_enabled()
    datasets.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            datasets.utils.logging.enable_progress_bar()


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    return stable_hash(
        [
            type(tokenizer).__name__,
            tokenizer.vocab_size,
            tokenizer.model_max_length,
            tokenizer.init_kwargs.get("do_lower_case"),
        ]
    )


class TextClassificationDataModule(L.LightningDataModule):
    """Train/validation/test text classification with cached tokenization.

    Batches are dicts: ``input_ids``, ``attention_mask``, ``token_type_ids`` (padded per
    batch), ``labels`` and ``idx`` (the row's position in its split, for cached teacher
    outputs). ``num_labels`` and ``label_names`` come from the data.

    Args:
        cfg: the data config.
        tokenizer: the model's tokenizer.
        cache_dir: where tokenized splits are cached (keyed by data config + tokenizer).
    """

    def __init__(self, cfg: DataConfig, tokenizer: PreTrainedTokenizerBase, cache_dir: str | Path):
        super().__init__()
        self.cfg, self.tokenizer, self.cache_dir = cfg, tokenizer, Path(cache_dir)
        self.splits: datasets.DatasetDict | None = None
        self.label_names: list[str] = []
        self.cache_hit = False
        self._digest: str | None | object = _UNSET
        self.collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def cache_key(self) -> str:
        cfg = self.cfg
        fields = {
            k: getattr(cfg, k)
            for k in (
                "name",
                "source",
                "hub_name",
                "hub_config",
                "path",
                "files",
                "hub_splits",
                "text_column",
                "label_column",
                "split_text_columns",
                "label_names",
                "max_length",
                "validation_fraction",
                "test_fraction",
                "split_seed",
                "max_train_samples",
                "max_eval_samples",
                "sha256",
                "tiny_size",
            )
        }
        # The bytes of the files, not their path: a file edited in place is new data, and the
        # same files reached by another path are the same data.
        # keys that change the rows or the class ids, only when set (older keys stay valid)
        fields.update({k: getattr(cfg, k) for k in ("labels", "drop_empty") if getattr(cfg, k)})
        fields["digest"] = self.content_digest()
        if fields["digest"] is not None:
            fields.pop("path")
        return stable_hash({"data": fields, "tokenizer": tokenizer_fingerprint(self.tokenizer)})

    def content_digest(self) -> str | None:
        """Digest of the data files' bytes (:func:`~nlpcompress.data.digest.data_digest`),
        computed once per data module."""
        if self._digest is _UNSET:
            self._digest = data_digest(self.cfg)
        return self._digest

    def data_fingerprint(self) -> str:
        """Identifies the tokenized data (for teacher-output caches)."""
        return self.cache_key()

    def prepare_data(self) -> None:
        self.setup()

    def setup(self, stage: str | None = None) -> None:
        if self.splits is not None:
            return
        folder = self.cache_dir / "tokenized" / self.cache_key()
        folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            if valid_entry(folder, "tokenized data") and self._read(folder):
                self.cache_hit = True
                return
            self.splits, self.label_names = self._build()
            with staged_entry(folder) as tmp, _no_progress_bars():
                self.splits.save_to_disk(str(tmp / "splits"))
                (tmp / "labels.json").write_text(json.dumps(self.label_names))

    def _read(self, folder: Path) -> bool:
        """Load a verified entry; False (entry discarded) when it still cannot be read."""
        try:
            splits = datasets.load_from_disk(str(folder / "splits"))
            labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
            if not isinstance(labels, list) or not labels:
                raise ValueError(f"labels.json holds {labels!r}, not a list of label names")
        except (OSError, ValueError, TypeError, pyarrow.ArrowException) as err:
            discard(folder, "tokenized data", f"unreadable ({type(err).__name__}: {err})")
            return False
        self.splits, self.label_names = splits, labels
        return True

    def _build(self) -> tuple[datasets.DatasetDict, list[str]]:
        cfg = self.cfg
        source = cfg.path or cfg.name
        labelled = complete_splits(read_source(cfg, cfg.split_seed), cfg, str(source))
        parts = {}
        for split, df in labelled.items():
            limit = cfg.max_train_samples if split == "train" else cfg.max_eval_samples
            if limit is not None:
                df = df.iloc[:limit]
            ds = datasets.Dataset.from_dict(
                {
                    "text": df["text"].tolist(),
                    "labels": df["label"].tolist(),
                    "idx": list(range(len(df))),
                }
            )
            parts[split] = ds.map(
                self._tokenize,
                batched=True,
                remove_columns=["text"],
                desc=f"tokenizing {split}",
                load_from_cache_file=False,
            )
        return datasets.DatasetDict(parts), labelled.label_names

    def _tokenize(self, batch: dict[str, list]) -> dict[str, list]:
        return self.tokenizer(batch["text"], truncation=True, max_length=self.cfg.max_length)

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        self.setup()
        ds = self.splits[split].with_format("torch")
        return DataLoader(
            ds,
            batch_size=batch_size,
            shuffle=shuffle,
            collate_fn=self.collate,
            num_workers=self.cfg.num_workers,
            generator=torch.Generator().manual_seed(self.cfg.split_seed) if shuffle else None,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True, self.cfg.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", False, self.cfg.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.cfg.eval_batch_size)

    def split_sizes(self) -> dict[str, int]:
        self.setup()
        return {k: len(v) for k, v in self.splits.items()}

"""The fine-tuned fp32 baseline, trained once and cached on disk.

Cache key: hash of the data (source, splits, tokenizer, max length, batch size), the model
preset, the trainer config and the seed. The entry is the dense fp32 stored form
(``model.safetensors`` + ``model.json``) plus ``baseline.json`` holding its metrics, under a
manifest of every file's sha256 (:mod:`nlpcompress.storage.entry`): an entry whose files do not
match it (truncated weights, an emptied or edited ``model.json``) is rebuilt with one log line,
and a killed fine-tune never leaves a half entry. A file lock makes parallel sweep jobs wait for
one fine-tune instead of each running their own.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from filelock import FileLock
from torch import nn

from nlpcompress.config.hashing import stable_hash
from nlpcompress.config.run import RunConfig
from nlpcompress.data.datamodule import TextClassificationDataModule
from nlpcompress.export.dense import export_dense
from nlpcompress.measure.accuracy import evaluate_splits
from nlpcompress.models.presets import build_classifier
from nlpcompress.storage.entry import discard, staged_entry, temp_folder, valid_entry
from nlpcompress.storage.format import load_model
from nlpcompress.training.distributed import barrier, is_global_zero
from nlpcompress.training.module import ClassifierModule
from nlpcompress.training.trainer import fit_best

log = __import__("logging").getLogger(__name__)


@dataclass
class Baseline:
    """A fine-tuned fp32 classifier and what it measured.

    Attributes:
        model: the model in eval mode (treat as read-only; methods copy it).
        metrics: ``val/acc``, ``val/f1``, ``test/acc``, ``test/f1``.
        folder: the cache entry.
        key: the cache key.
        from_cache: whether this run reused it.
        train_seconds: the fine-tune's wall time when it was trained.
    """

    model: nn.Module
    metrics: dict[str, float]
    folder: Path
    key: str
    from_cache: bool
    train_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> Path:
        """The dense fp32 stored form; its bytes are the ``size/ratio_vs_fp32`` reference."""
        return self.folder / "model"

    @property
    def fp32_bytes(self) -> int:
        return sum(
            p.stat().st_size
            for p in (self.stem.with_suffix(".safetensors"), self.stem.with_suffix(".json"))
        )

    def fresh_copy(self) -> nn.Module:
        """An independent copy of the model, for a method to change."""
        import copy

        return copy.deepcopy(self.model)


def baseline_key(cfg: RunConfig, datamodule: TextClassificationDataModule, model_cfg=None) -> str:
    trainer = asdict(cfg.trainer)
    trainer.pop("enable_progress_bar", None)
    trainer.pop("num_threads", None)
    return stable_hash(
        {
            "data": datamodule.cache_key(),
            "batch_size": cfg.data.batch_size,
            "model": asdict(model_cfg or cfg.model),
            "trainer": trainer,
            "seed": cfg.seed,
        }
    )


def _read_entry(folder: Path) -> dict[str, Any] | None:
    """``baseline.json`` of a verified entry; None (entry removed) when there is none."""
    if not valid_entry(folder, "baseline"):
        return None
    try:
        meta = json.loads((folder / "baseline.json").read_text(encoding="utf-8"))
        meta["metrics"]  # noqa: B018 - an entry without metrics is not one
        return meta
    except (OSError, ValueError, KeyError, TypeError) as err:
        discard(folder, "baseline", f"baseline.json is unreadable ({err})")
        return None


def _load_entry(folder: Path, key: str) -> Baseline | None:
    meta = _read_entry(folder)
    if meta is None:
        return None
    try:
        model = load_model(folder / "model")
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        discard(folder, "baseline", f"the model does not load ({type(err).__name__}: {err})")
        return None
    return Baseline(model, meta["metrics"], folder, key, True, meta.get("train_seconds", 0.0))


def get_baseline(
    cfg: RunConfig,
    datamodule: TextClassificationDataModule,
    make_trainer: Callable[..., L.Trainer],
    model_cfg=None,
) -> Baseline:
    """Load the cached baseline for this config, or fine-tune and cache it.

    Args:
        cfg: the run config (data, model, trainer, seed determine the baseline).
        datamodule: set-up data.
        make_trainer: this run's trainer factory (curves go to this run's MLflow run).
        model_cfg: another model preset than ``cfg.model`` (e.g. a distillation teacher).
    """
    key = baseline_key(cfg, datamodule, model_cfg)
    folder = Path(cfg.paths.cache_dir) / "baselines" / key
    folder.parent.mkdir(parents=True, exist_ok=True)
    # DDP ranks > 0 take no lock: rank 0 holds it while they train with it. They decide like
    # rank 0 did (an entry that existed before the fit is read; else they join the fit).
    rank_zero = is_global_zero()
    with FileLock(str(folder) + ".lock") if rank_zero else contextlib.nullcontext():
        cached = _load_entry(folder, key)
        if cached is not None:
            return cached
        return _train(cfg, datamodule, make_trainer, folder, key, model_cfg or cfg.model)


def _train(cfg, datamodule, make_trainer, folder: Path, key: str, model_cfg) -> Baseline:
    L.seed_everything(cfg.seed, workers=True)
    model = build_classifier(model_cfg, datamodule.num_labels)
    module = ClassifierModule(model, cfg.trainer, datamodule.num_labels)
    if not is_global_zero():  # DDP: rank 0 evaluates and writes the entry; read it once written
        make_trainer(default_root_dir=str(temp_folder(folder))).fit(module, datamodule=datamodule)
        barrier()
        meta = _read_entry(folder)
        if meta is None:
            raise RuntimeError(f"rank 0 did not write the baseline cache entry {folder}")
        return Baseline(load_model(folder / "model"), meta["metrics"], folder, key, False)
    with staged_entry(folder) as scratch:
        seconds = fit_best(make_trainer(default_root_dir=str(scratch)), module, datamodule)
        model = module.model.eval()
        metrics = evaluate_splits(model, datamodule)
        export_dense(model, scratch / "model")
        meta = {
            "key": key,
            "metrics": metrics,
            "train_seconds": seconds,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        (scratch / "baseline.json").write_text(json.dumps(meta, indent=2))
        shutil.rmtree(scratch / "checkpoints", ignore_errors=True)
    barrier()  # DDP: the other ranks may read the entry now
    return Baseline(model, metrics, folder, key, False, seconds)

"""The classifier module learns; the LR schedule follows its formula; the baseline is cached."""

from __future__ import annotations

import dataclasses
from functools import partial

import pytest
import torch

from nlpcompress.cli import run_config
from nlpcompress.data.datamodule import TextClassificationDataModule
from nlpcompress.models.presets import build_classifier, load_tokenizer
from nlpcompress.training.baseline import get_baseline
from nlpcompress.training.module import ClassifierModule, linear_warmup_decay
from nlpcompress.training.trainer import make_trainer


def test_linear_warmup_decay_formula():
    w, total = 10, 110
    assert linear_warmup_decay(0, w, total) == 0.0
    assert linear_warmup_decay(5, w, total) == pytest.approx(0.5)
    assert linear_warmup_decay(10, w, total) == pytest.approx(1.0)
    assert linear_warmup_decay(60, w, total) == pytest.approx(0.5)
    assert linear_warmup_decay(110, w, total) == 0.0
    assert linear_warmup_decay(200, w, total) == 0.0


@pytest.fixture
def tiny_cfg(compose_cfg, tmp_path):
    raw = compose_cfg(
        [
            "model=tiny_bert",
            "data=tiny",
            # one epoch (21 steps) at 2e-3 learns data=tiny, as debug=fast does (4 epochs: 37 s)
            "trainer.max_epochs=1",
            "trainer.learning_rate=0.002",
            "trainer.enable_progress_bar=false",
            f"paths.cache_dir={tmp_path / 'cache'}",
        ]
    )
    return run_config(raw)


def datamodule(cfg):
    dm = TextClassificationDataModule(cfg.data, load_tokenizer(cfg.model), cfg.paths.cache_dir)
    dm.setup()
    return dm


def test_classifier_module_learns_tiny_data(tiny_cfg, tmp_path):
    torch.manual_seed(0)
    dm = datamodule(tiny_cfg)
    module = ClassifierModule(
        build_classifier(tiny_cfg.model, dm.num_labels), tiny_cfg.trainer, dm.num_labels
    )
    trainer = make_trainer(tiny_cfg.trainer, tmp_path, checkpoint=False)
    trainer.fit(module, datamodule=dm)
    assert trainer.callback_metrics["val/acc"] > 0.8
    assert module.model.training  # dropout was on while training


def test_baseline_is_cached_and_a_corrupted_entry_is_rebuilt(tiny_cfg, tmp_path):
    # 3 steps: this test is about the cache (it fine-tunes four times), not about learning
    trainer = dataclasses.replace(tiny_cfg.trainer, max_epochs=1, max_steps=3)
    cfg = dataclasses.replace(tiny_cfg, trainer=trainer)
    dm = datamodule(cfg)
    factory = partial(make_trainer, cfg.trainer, tmp_path / "run")
    first = get_baseline(cfg, dm, factory)
    second = get_baseline(cfg, dm, factory)
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.metrics == first.metrics
    ids = torch.randint(0, 1000, (2, 8))
    with torch.no_grad():
        torch.testing.assert_close(
            second.model(input_ids=ids).logits, first.model(input_ids=ids).logits
        )
    payload = first.folder / "model.safetensors"
    payload.write_bytes(payload.read_bytes()[:-10] + b"0123456789")
    third = get_baseline(cfg, dm, factory)
    assert third.from_cache is False  # checksum mismatch -> fine-tuned again
    for edit in ("", (third.folder / "model.json").read_text().replace("gelu", "relu")):
        (third.folder / "model.json").write_text(edit)  # emptied, then edited in place
        again = get_baseline(cfg, dm, factory)
        assert again.from_cache is False and "gelu" in (again.folder / "model.json").read_text()
    other_seed = dataclasses.replace(cfg, seed=cfg.seed + 1)
    from nlpcompress.training.baseline import baseline_key

    assert baseline_key(other_seed, dm) != baseline_key(cfg, dm)


def test_fit_best_with_a_seed_trains_the_same_whatever_drew_from_the_generator_before(
    tiny_cfg, tmp_path
):
    from torch.utils.data import DataLoader

    from nlpcompress.training.trainer import fit_best

    dm = datamodule(tiny_cfg)
    cfg = dataclasses.replace(tiny_cfg.trainer, max_steps=4)

    def train(seed, draws: int) -> torch.Tensor:
        torch.manual_seed(0)
        model = build_classifier(tiny_cfg.model, dm.num_labels)  # the same start every time
        for _ in range(draws):  # e.g. a teacher cache built: an unshuffled loader's base seed
            iter(DataLoader(list(range(4))))
        module = ClassifierModule(model, cfg, dm.num_labels)
        fit_best(make_trainer(cfg, tmp_path, checkpoint=False), module, dm, seed=seed)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(train(seed=3, draws=0), train(seed=3, draws=1))
    # without the re-seed, the draw changes the dropout masks and so the trained weights
    assert not torch.equal(train(seed=None, draws=0), train(seed=None, draws=1))

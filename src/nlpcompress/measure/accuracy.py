"""Accuracy and macro-F1 of a model, or of a deployed runtime form, on the data splits."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score
from tqdm.auto import tqdm

from nlpcompress.models.io import logits_of, model_inputs

Predictor = Callable[[dict[str, torch.Tensor]], torch.Tensor]


def torch_predictor(model: torch.nn.Module) -> Predictor:
    """Batch -> logits for a torch model."""

    def predict(batch):
        return logits_of(model(**model_inputs(batch, model)))

    return predict


@torch.no_grad()
def accuracy_f1(
    predict: Predictor,
    batches: Iterable[dict[str, torch.Tensor]],
    num_labels: int,
    desc: str = "evaluating",
) -> dict[str, float]:
    """``acc`` (micro) and ``f1`` (macro over classes) of ``predict`` on ``batches``.

    A progress bar named ``desc`` shows on a terminal (none in logs or under pytest).
    """
    preds, labels = [], []
    for batch in tqdm(batches, desc=desc, unit="batch", leave=False, disable=None):
        preds.append(predict(batch).argmax(-1))
        labels.append(batch["labels"])
    p, y = torch.cat(preds), torch.cat(labels)
    return {
        "acc": float(multiclass_accuracy(p, y, num_labels, average="micro")),
        "f1": float(multiclass_f1_score(p, y, num_labels, average="macro")),
    }


def evaluate_splits(
    model_or_predict, datamodule, splits: tuple[str, ...] = ("val", "test")
) -> dict[str, float]:
    """``{"val/acc", "val/f1", "test/acc", "test/f1"}`` for a model or a predictor function."""
    if isinstance(model_or_predict, torch.nn.Module):
        model_or_predict.eval()
        predict = torch_predictor(model_or_predict)
    else:
        predict = model_or_predict
    loaders = {"val": datamodule.val_dataloader, "test": datamodule.test_dataloader}
    out = {}
    for split in splits:
        scores = accuracy_f1(
            predict, loaders[split](), datamodule.num_labels, f"evaluating {split}"
        )
        for name, value in scores.items():
            out[f"{split}/{name}"] = value
    return out

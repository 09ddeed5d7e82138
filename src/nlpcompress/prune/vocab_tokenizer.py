"""The tokenizer of a vocabulary-pruned BERT: the kept WordPiece entries, renumbered.

The pruned tokenizer is a ``BertTokenizerFast`` built from a ``vocab.txt`` holding the kept
tokens in new-id order (line ``n`` = the token with new id ``n``), with the original's
normalizer (lowercasing, accents, CJK) and pre-tokenizer, which :func:`pruned_tokenizer`
checks are identical.

Why every word of the training corpus gets the same (renumbered) ids. Normalization and
pre-tokenization do not read the vocabulary, so both tokenizers split a text into the same
words. WordPiece then segments each word greedily, longest match first: at position ``p``
it emits the longest vocabulary entry that is a prefix of the rest of the word (``##``-
prefixed after the first piece) and continues after it; if no entry matches, the *whole
word* becomes ``[UNK]``. Let the original segmentation of a word be ``t_1 ... t_m`` with
every ``t_j`` in the kept set ``K ⊂ V`` (true for every word of the training corpus, whose
pieces are ``K`` by construction). At the start of ``t_j`` the longest prefix in ``V`` is
``t_j``; ``t_j ∈ K``, and any longer prefix is not in ``V ⊇ K``; so the longest prefix in
``K`` is ``t_j`` too, and by induction the pruned tokenizer emits ``t_1 ... t_m``, i.e. the
ids ``new(t_1) ... new(t_m)``. Special tokens are kept and matched before WordPiece.

A word whose original segmentation uses a removed piece ``t_j ∉ K``: at that position the
pruned tokenizer can only match a strictly shorter kept prefix, or none. With none (the
usual case for a word of unseen characters), the whole word is ``[UNK]``; otherwise it is
spelled from other kept pieces, which the model never saw together in training.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from transformers import BertTokenizerFast, PreTrainedTokenizerBase

_SAME = ("normalizer", "pre_tokenizer", "decoder")
_SPECIAL_ATTRS = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def backend_json(tokenizer: PreTrainedTokenizerBase) -> dict | None:
    """The ``tokenizers`` pipeline of a fast tokenizer as a dict, or None for a slow one."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return json.loads(backend.to_str()) if backend is not None else None


def wordpiece_problem(tokenizer: PreTrainedTokenizerBase) -> str | None:
    """Why ``tokenizer`` cannot be vocab-pruned here, or None when it is a BERT WordPiece one."""
    doc = backend_json(tokenizer)
    if doc is None:
        return f"{type(tokenizer).__name__} is not a fast (tokenizers) tokenizer"
    model, norm = doc.get("model") or {}, doc.get("normalizer") or {}
    if model.get("type") != "WordPiece" or model.get("continuing_subword_prefix") != "##":
        return f"its model is {model.get('type')}, not WordPiece with ## continuations"
    if (
        norm.get("type") != "BertNormalizer"
        or (doc.get("pre_tokenizer") or {}).get("type") != "BertPreTokenizer"
    ):
        return "its normalizer / pre-tokenizer are not BERT's"
    return None


def corpus_ids(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[list[int]]:
    """Ids of every token of ``texts``: no special tokens, no truncation (so that every
    piece of every word is counted, also past ``data.max_length``)."""
    if not texts:
        return []
    return tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)[
        "input_ids"
    ]


def pruned_tokenizer(
    tokenizer: PreTrainedTokenizerBase, kept: Sequence[int], folder: Path
) -> BertTokenizerFast:
    """Write ``folder/vocab.txt`` (kept tokens in new-id order) and build the tokenizer on it.

    Args:
        tokenizer: the original BERT WordPiece tokenizer.
        kept: sorted original ids to keep (all special ids among them).
        folder: where ``vocab.txt`` is written.

    Raises:
        ValueError: a special token is not kept, or the rebuilt pipeline differs from the
            original in anything but the vocabulary.
    """
    missing = set(tokenizer.all_special_ids) - set(kept)
    if missing:
        raise ValueError(f"special token ids {sorted(missing)} must be kept")
    token_of = {i: t for t, i in tokenizer.get_vocab().items()}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("".join(token_of[i] + "\n" for i in kept), encoding="utf-8")
    norm = backend_json(tokenizer)["normalizer"]
    new = BertTokenizerFast(
        vocab=_read_vocab(vocab_file),
        do_lower_case=norm["lowercase"],
        strip_accents=norm["strip_accents"],
        tokenize_chinese_chars=norm["handle_chinese_chars"],
        model_max_length=tokenizer.model_max_length,
        **{k: str(getattr(tokenizer, k)) for k in _SPECIAL_ATTRS},
    )
    _check_same_pipeline(tokenizer, new)
    return new


def _read_vocab(path: Path) -> dict[str, int]:
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    return {token: i for i, token in enumerate(lines)}


def _check_same_pipeline(old: PreTrainedTokenizerBase, new: PreTrainedTokenizerBase) -> None:
    a, b = backend_json(old), backend_json(new)
    model_a = {k: v for k, v in a["model"].items() if k != "vocab"}
    model_b = {k: v for k, v in b["model"].items() if k != "vocab"}
    for key in _SAME:
        if a.get(key) != b.get(key):
            raise ValueError(f"pruned tokenizer's {key} differs: {b.get(key)} vs {a.get(key)}")
    if model_a != model_b:
        raise ValueError(f"pruned tokenizer's WordPiece settings differ: {model_b} vs {model_a}")


def unk_rate(rows: Iterable[Sequence[int]], tokenizer: PreTrainedTokenizerBase) -> float:
    """Fraction of the non-special tokens of ``rows`` (id lists) that are ``[UNK]``."""
    special = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
    unk = total = 0
    for ids in rows:
        for i in ids:
            if i not in special:
                total += 1
                unk += i == tokenizer.unk_token_id
    return unk / total if total else 0.0

"""A model's own tokenizer, stored next to its stored form (``<stem>.tokenizer/``).

Written when a method changed the vocabulary (vocabulary pruning): the stored model's ids
mean nothing without it. ``AutoTokenizer.from_pretrained(folder)`` loads it back.
"""

from __future__ import annotations

from pathlib import Path

from transformers import PreTrainedTokenizerBase


def tokenizer_folder(stem: Path) -> Path:
    """Where the tokenizer of the stored form ``stem`` lives: ``<stem>.tokenizer/``."""
    stem = Path(stem)
    return stem.with_name(stem.name + ".tokenizer")


def save_tokenizer(tokenizer: PreTrainedTokenizerBase, stem: Path) -> list[Path]:
    """Save ``tokenizer`` for the stored form ``stem``; returns the files written.

    A WordPiece tokenizer also gets its ``vocab.txt`` (one token per line, in id order), which
    ``save_pretrained`` of a fast tokenizer may leave out.
    """
    folder = tokenizer_folder(stem)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(folder))
    vocab_txt = folder / "vocab.txt"
    wordpiece = getattr(tokenizer, "vocab_files_names", {}).get("vocab_file") == "vocab.txt"
    if wordpiece and not vocab_txt.exists():
        vocab = tokenizer.get_vocab()
        vocab_txt.write_text(
            "".join(t + "\n" for t in sorted(vocab, key=vocab.__getitem__)), encoding="utf-8"
        )
    return sorted(p for p in folder.iterdir() if p.is_file())

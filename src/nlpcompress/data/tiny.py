"""A small, generated, learnable sentiment set for tests: no files, no downloads."""

from __future__ import annotations

import random

POSITIVE = [
    "great",
    "wonderful",
    "moving",
    "brilliant",
    "funny",
    "charming",
    "superb",
    "delightful",
]
NEGATIVE = ["terrible", "boring", "awful", "dull", "clumsy", "tedious", "weak", "painful"]
FILLER = [
    "the",
    "film",
    "was",
    "a",
    "story",
    "with",
    "acting",
    "and",
    "plot",
    "quite",
    "really",
    "its",
]


def tiny_rows(n: int, seed: int = 0) -> list[dict[str, object]]:
    """``n`` rows ``{"text", "label"}``, balanced: label 1 sentences hold positive words.

    Each sentence has 6-12 filler words and 2 sentiment words, so a 2-layer model
    learns it in a few steps while random guessing stays at 50%.
    """
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = rng.choices(FILLER, k=rng.randint(6, 12)) + rng.choices(
            POSITIVE if label else NEGATIVE, k=2
        )
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    rng.shuffle(rows)
    return rows

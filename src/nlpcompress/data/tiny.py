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

    Each sentence has 2-5 filler words and 3 sentiment words: a keyword rule dense enough
    that a randomly initialised 2-layer model learns it in ~20 steps of 8 (``debug=fast``)
    while chance stays at 50%. With 6-12 filler words and 2 sentiment words it stayed at
    chance after 20 such steps, so no tiny test could tell a working method from a broken one.
    """
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = rng.choices(FILLER, k=rng.randint(2, 5)) + rng.choices(
            POSITIVE if label else NEGATIVE, k=3
        )
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    rng.shuffle(rows)
    return rows

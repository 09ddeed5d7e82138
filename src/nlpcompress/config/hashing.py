"""Stable hashes of configs and cache keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Config keys that do not change a run's result: where it is written and logged, whether a
# sweep skips it, what a sweeper reads from it, how progress is shown. Left out of
# RunConfig.config_hash and of the report's grouping of repeats (which leaves out the seed too).
# An entry covers the key and every key below it (``paths`` covers ``paths.cache_dir``).
RESULT_NEUTRAL_KEYS = (
    "paths",
    "logger",
    "resume",
    "task_name",
    "objective",
    "objective_max_acc_drop",
    "trainer.enable_progress_bar",
)


def is_result_neutral(key: str) -> bool:
    """Whether the dotted config key ``key`` is, or is below, one of :data:`RESULT_NEUTRAL_KEYS`."""
    return any(key == k or key.startswith(k + ".") for k in RESULT_NEUTRAL_KEYS)


def stable_hash(payload: Any, length: int = 16) -> str:
    """sha256 of the canonical JSON of ``payload``, shortened."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]

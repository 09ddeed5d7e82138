"""What the data *is*, not where it lives: a digest of the bytes of the files a run reads.

Caches (tokenized splits, baselines, teacher outputs) and the config hash are keyed on it, so
editing a data file in place gives new tokens, a new baseline and a new config hash, and a
resumed sweep re-runs the job instead of skipping it.

``data_digest = sha256(canonical JSON of {split: sha256(file bytes)})[:16]``
"""

from __future__ import annotations

import functools
from pathlib import Path

from nlpcompress.config.hashing import stable_hash
from nlpcompress.config.schema import DataConfig
from nlpcompress.data.readers import find_split_files, rotten_tomatoes_file
from nlpcompress.storage.entry import file_digest


def source_files(cfg: DataConfig) -> dict[str, Path]:
    """The files a run with ``cfg`` reads, by split; empty for generated or hub data."""
    if cfg.path:
        return find_split_files(cfg)
    if cfg.source == "rotten_tomatoes":
        return {"train": rotten_tomatoes_file()}
    return {}


def data_digest(cfg: DataConfig) -> str | None:
    """Digest of the bytes of every file the data is read from.

    Returns None when there is nothing local to digest (generated ``tiny`` data, whose rows
    are a function of the config, or a hub dataset) or when the files cannot be found (the
    run then fails reading them, with the file named).
    """
    from nlpcompress.config.errors import DataError

    try:
        files = source_files(cfg)
    except DataError:
        return None
    if not files or not all(p.is_file() for p in files.values()):
        return None
    return stable_hash({split: file_sha256(path) for split, path in sorted(files.items())})


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes; recomputed only when its size or mtime changed (the CLI,
    the data module and a sweep's jobs in one process ask for the same files)."""
    stat = path.stat()
    return _sha256_at(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256_at(path: str, size: int, mtime_ns: int) -> str:
    return file_digest(Path(path))

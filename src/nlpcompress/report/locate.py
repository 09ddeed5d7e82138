"""Which MLflow store holds an experiment: the explicit one, else the default, else the index.

A run made with another ``paths.root_dir`` logs to ``<root_dir>/outputs/mlflow/mlflow.db``;
each run records its store in the user's store index (:mod:`nlpcompress.tracking.stores`).
When the experiment is not in the report's default store, the indexed sqlite stores are
looked through (read-only, with ``sqlite3``: opening a store with MLflow would be slow and
could create or migrate it). Remote stores in the index are not contacted.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from nlpcompress.tracking.stores import index_path, known_stores, sqlite_path


def root_store(root_dir: str | Path) -> str:
    """The embedded store of a ``paths.root_dir``: ``sqlite:///<DIR>/outputs/mlflow/mlflow.db``."""
    return f"sqlite:///{Path(root_dir).expanduser().resolve() / 'outputs' / 'mlflow' / 'mlflow.db'}"


def experiment_activity(uri: str, experiment: str) -> int | None:
    """When the active experiment ``experiment`` in a sqlite store last changed (ms since the
    epoch: its newest run's start, else its own update time; 0 if neither is known), or None
    when the store is not a readable sqlite file or lacks the experiment."""
    path = sqlite_path(uri)
    if path is None or not path.is_file():
        return None
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute(
                "SELECT experiment_id, last_update_time FROM experiments"
                " WHERE name = ? AND lifecycle_stage = 'active'",
                (experiment,),
            ).fetchone()
            if row is None:
                return None
            (latest,) = con.execute(
                "SELECT MAX(start_time) FROM runs WHERE experiment_id = ?", (row[0],)
            ).fetchone()
        finally:
            con.close()
    except sqlite3.Error:  # not an MLflow store, or locked past the timeout
        return None
    return int(latest or row[1] or 0)


@dataclass
class StoreChoice:
    """The store to read, and the line that says why when it is not the one asked for.

    Attributes:
        uri: the tracking URI to use.
        note: one line for the user, or None when ``uri`` is the default or explicit store.
        candidates: the indexed stores that hold the experiment, newest first.
    """

    uri: str
    note: str | None = None
    candidates: list[str] = field(default_factory=list)


def choose_store(experiment: str, default_uri: str, index: str | Path | None = None) -> StoreChoice:
    """The default store if it holds ``experiment`` (or is not sqlite, so cannot be checked
    cheaply), else the indexed store holding it; among several, the one whose experiment
    changed last, with all of them listed in the note."""
    if sqlite_path(default_uri) is None or experiment_activity(default_uri, experiment) is not None:
        return StoreChoice(default_uri)
    found = []
    for uri in known_stores(index):
        if uri != default_uri and (when := experiment_activity(uri, experiment)) is not None:
            found.append((when, uri))
    if not found:
        return StoreChoice(default_uri)
    found.sort(reverse=True)
    uris = [uri for _, uri in found]
    where = f"experiment {experiment!r} is not in {default_uri}"
    source = index if index is not None else index_path()
    if len(uris) == 1:
        note = f"{where}; using {uris[0]} (from the store index {source})"
    else:
        note = (
            f"{where}; it is in {len(uris)} indexed stores ({', '.join(uris)}); using the newest, "
            f"{uris[0]} (pass --tracking-uri or --root-dir to choose)"
        )
    return StoreChoice(uris[0], note, uris)

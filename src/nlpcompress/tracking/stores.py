"""A user-level index of the MLflow stores this user's runs were logged to (standard library only).

A run made with another ``paths.root_dir`` logs to ``<root_dir>/outputs/mlflow/mlflow.db``,
which ``nlpcompress-report`` and ``make ui`` would not look at. Each run therefore appends its
tracking URI to one line of an index file, and the report looks through :func:`known_stores`
when the experiment is not in its default store.

The index is ``$NLPCOMPRESS_STORE_INDEX``, else ``$XDG_STATE_HOME/nlpcompress/stores.txt``,
else ``~/.local/state/nlpcompress/stores.txt``. Writers only append one short line (a single
``O_APPEND`` write, so parallel jobs do not interleave); readers de-duplicate. Nothing here
raises on an unwritable or unreadable home: the index is a convenience, never a reason for a
run to fail.
"""

from __future__ import annotations

import os
from pathlib import Path

INDEX_ENV = "NLPCOMPRESS_STORE_INDEX"
SQLITE_PREFIX = "sqlite:///"


def index_path() -> Path:
    """Where the store index lives (see the module docstring for the precedence)."""
    if os.environ.get(INDEX_ENV):
        return Path(os.environ[INDEX_ENV]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "nlpcompress" / "stores.txt"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``sqlite:////abs/x.db`` -> ``/abs/x.db``), else None."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    return Path(uri.removeprefix(SQLITE_PREFIX).split("?", 1)[0])


def _normalise(uri: str) -> str:
    """A relative sqlite path made absolute, so the entry means the same from any directory."""
    uri = uri.strip()
    path = sqlite_path(uri)
    if path is not None and not path.is_absolute():
        return f"{SQLITE_PREFIX}{path.resolve()}"
    return uri


def _read(index: Path) -> list[str]:
    """Unique entries, most recently appended first; [] when the index cannot be read."""
    try:
        lines = index.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    seen: list[str] = []
    for line in reversed(lines):
        if line.strip() and line.strip() not in seen:
            seen.append(line.strip())
    return seen


def remember_store(uri: str, index: str | Path | None = None) -> None:
    """Append ``uri`` to the store index unless it is already there; never raises.

    Args:
        uri: a tracking URI, e.g. ``sqlite:////home/me/proj/outputs/mlflow/mlflow.db``.
        index: the index file (default: :func:`index_path`).
    """
    if not uri or not uri.strip() or "\n" in uri:
        return
    try:
        path = Path(index) if index is not None else index_path()
        entry = _normalise(uri)
        if entry in _read(path):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{entry}\n".encode())
        finally:
            os.close(fd)
    except (OSError, RuntimeError, ValueError):
        return  # no home, a read-only one, a full disk: not a reason to fail the run


def _exists(uri: str) -> bool:
    path = sqlite_path(uri)
    if path is not None:
        return path.is_file()
    if uri.startswith("file:"):
        return Path(uri.removeprefix("file://").removeprefix("file:")).is_dir()
    return False


def known_stores(index: str | Path | None = None, include_remote: bool = False) -> list[str]:
    """The indexed stores that still exist, most recently added first.

    Local stores (``sqlite:///``, ``file:``) are kept when their file or folder exists. Remote
    ones (``http(s)://``, ``postgresql://``...) cannot be checked without contacting them, so
    they are left out unless ``include_remote``.
    """
    try:
        path = Path(index) if index is not None else index_path()
    except RuntimeError:  # no home directory to resolve ``~``
        return []
    return [
        uri
        for uri in _read(path)
        if _exists(uri) or (include_remote and not uri.startswith(("sqlite:", "file:")))
    ]

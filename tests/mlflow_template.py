"""New SQLite MLflow stores in tests start as a copy of one migrated empty store.

MLflow creates a SQLite store by running every Alembic migration (~3 s on the 2-core AVX2
machine when idle, more when busy), and nearly every integration test makes a new store. Here
the first store of a test session is migrated by MLflow as usual and kept under the test cache;
every later one receives a copy of it through SQLite's backup API, on the connection MLflow has
already opened, so the result is the same schema at the same Alembic head (MLflow still checks
the revision with ``_verify_schema`` after this). Stores other than SQLite are untouched.

:func:`install` runs in the pytest workers and in the CLI children forked by
:mod:`tests.cli_fork`; the template's path travels in ``NLPCOMPRESS_TEST_MLFLOW_TEMPLATE``.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

ENV = "NLPCOMPRESS_TEST_MLFLOW_TEMPLATE"


def template_path(cache: Path) -> Path:
    """Where the migrated empty store of this MLflow version lives under the test cache."""
    import mlflow

    return cache / f"mlflow-empty-{mlflow.__version__}.db"


def ensure_template(path: Path) -> Path:
    """Create the migrated empty store at ``path`` once (atomic: workers may race)."""
    if path.exists():
        return path
    from mlflow.store.db.utils import _initialize_tables, create_sqlalchemy_engine_with_retry

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".db.tmp")
    os.close(fd)
    os.unlink(tmp)
    engine = create_sqlalchemy_engine_with_retry(f"sqlite:///{tmp}")
    _initialize_tables(engine)
    engine.dispose()
    os.replace(tmp, path)
    return path


def install(path: str | Path | None = None) -> None:
    """Make MLflow fill new SQLite stores from the template at ``path`` (or ``$ENV``)."""
    path = path or os.environ.get(ENV)
    if not path or not Path(path).exists():
        return
    import mlflow.store.db.utils as db_utils
    import mlflow.store.model_registry.sqlalchemy_store as registry_store

    original = getattr(db_utils._initialize_tables, "__wrapped__", db_utils._initialize_tables)

    def initialize_from_template(engine):
        if engine.url.get_backend_name() != "sqlite":
            return original(engine)
        raw = engine.raw_connection()
        try:
            with sqlite3.connect(str(path)) as source:
                source.backup(raw.driver_connection)
        finally:
            raw.close()

    initialize_from_template.__wrapped__ = original
    db_utils._initialize_tables = initialize_from_template
    registry_store._initialize_tables = initialize_from_template

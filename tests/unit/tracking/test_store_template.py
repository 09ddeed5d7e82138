"""The tests' SQLite stores made from the migrated template are the stores MLflow would make."""

from __future__ import annotations

import sqlite3

import mlflow.store.db.utils as db_utils
import mlflow.store.model_registry.sqlalchemy_store as registry_store
from mlflow.store.db.utils import _get_latest_schema_revision
from mlflow.tracking import MlflowClient

from tests import mlflow_template


def _revision(db) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("select version_num from alembic_version").fetchone()[0]


def test_a_store_from_the_template_is_at_mlflow_head_and_works(tmp_path, monkeypatch):
    for module in (db_utils, registry_store):  # restored after the test
        monkeypatch.setattr(module, "_initialize_tables", module._initialize_tables)
    template = mlflow_template.ensure_template(tmp_path / "template.db")
    mlflow_template.install(template)  # what conftest does with the session's template
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    client = MlflowClient(f"sqlite:///{db}")
    run = client.create_run(client.create_experiment("e"))
    client.log_metric(run.info.run_id, "test/acc", 0.875)
    client.create_registered_model("m")

    assert _revision(db) == _revision(template) == _get_latest_schema_revision()
    reopened = MlflowClient(f"sqlite:///{db}")
    assert reopened.get_run(run.info.run_id).data.metrics == {"test/acc": 0.875}
    assert [m.name for m in reopened.search_registered_models()] == ["m"]

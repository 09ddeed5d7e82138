"""The report finds an experiment logged to another root_dir's store through the store index."""

from __future__ import annotations

import os

from mlflow.tracking import MlflowClient

from nlpcompress.report.cli import main
from nlpcompress.report.locate import choose_store, experiment_activity, root_store
from nlpcompress.tracking.stores import remember_store


def _store(root, experiment, start_ms=None):
    db = root / "outputs" / "mlflow" / "mlflow.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{db}"
    client = MlflowClient(uri)
    exp_id = client.create_experiment(experiment, artifact_location=(root / "art").as_uri())
    run = client.create_run(exp_id, start_time=start_ms, tags={"method": "baseline"})
    client.log_metric(run.info.run_id, "test/acc", 0.9)
    client.log_param(run.info.run_id, "method.name", "baseline")
    client.set_terminated(run.info.run_id, "FINISHED")
    return uri


def test_root_store_and_activity(tmp_path):
    assert root_store(tmp_path) == f"sqlite:///{tmp_path}/outputs/mlflow/mlflow.db"
    uri = _store(tmp_path / "r", "x", start_ms=1_700_000_000_000)
    assert experiment_activity(uri, "x") == 1_700_000_000_000
    assert experiment_activity(uri, "other") is None
    assert experiment_activity(f"sqlite:///{tmp_path / 'none.db'}", "x") is None


def test_choose_store_default_index_and_newest(tmp_path):
    index = tmp_path / "stores.txt"
    default = _store(tmp_path / "default", "here")
    old = _store(tmp_path / "old", "away", start_ms=1_600_000_000_000)
    new = _store(tmp_path / "new", "away", start_ms=1_700_000_000_000)
    for uri in (default, old):
        remember_store(uri, index)
    assert choose_store("here", default, index).uri == default
    assert choose_store("here", default, index).note is None
    one = choose_store("away", default, index)
    assert one.uri == old and one.note == (
        f"experiment 'away' is not in {default}; using {old} (from the store index {index})"
    )
    remember_store(new, index)
    both = choose_store("away", default, index)
    assert both.uri == new and both.candidates == [new, old]
    assert f"it is in 2 indexed stores ({new}, {old}); using the newest, {new}" in both.note
    missing = choose_store("nowhere", default, index)
    assert missing.uri == default and missing.note is None


def test_report_cli_root_dir_and_index(tmp_path, monkeypatch, capsys):
    uri = _store(tmp_path / "elsewhere", "far")
    out = ["--experiment", "far", "--no-log", "--out"]
    assert main([*out, str(tmp_path / "a"), "--root-dir", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "a" / "results.csv").is_file()

    index = tmp_path / "stores.txt"
    remember_store(uri, index)
    monkeypatch.setenv("NLPCOMPRESS_STORE_INDEX", str(index))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    capsys.readouterr()
    assert main([*out, str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert f"experiment 'far' is not in sqlite:///{tmp_path / 'empty.db'}; using {uri}" in err
    assert not os.path.exists(tmp_path / "empty.db")

"""``--register-best``: each Pareto-optimal configuration's logged model becomes a version."""

from __future__ import annotations

import pytest
from mlflow.entities import LoggedModelOutput, Metric, Param
from mlflow.tracking import MlflowClient

from nlpcompress.report.cli import main
from nlpcompress.report.register import LABEL_TAG, PARETO_TAG

EXPERIMENT = "reg"
BASE = {"data.name": "tiny", "model.name": "tiny_bert"}
# (method, bits, seed, (acc, size bytes, latency ms), logs a model)
RUNS = [
    ("baseline", None, 1, (0.90, 90e6, 10.0), True),  # best accuracy: on both fronts
    ("ptq", 8, 1, (0.86, 23e6, 4.0), True),  # on both fronts; its seed 2 is more accurate
    ("ptq", 8, 2, (0.88, 23e6, 4.2), True),
    ("qat", 4, 1, (0.85, 30e6, 12.0), True),  # dominated by ptq int8
    ("prune", None, 1, (0.70, 5e6, 2.0), False),  # on both fronts, but no logged model
]


def _store(folder) -> tuple[str, dict]:
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp_id = client.create_experiment(EXPERIMENT, artifact_location=(folder / "a").as_uri())
    ids = {}
    for method, bits, seed, (acc, size, latency), logs_model in RUNS:
        params = {**BASE, "method.name": method, "seed": seed}
        if bits:
            params |= {"quant.bits": bits, "quant.form": "int"}
        # a noisy timing suffixes the printed Pareto label: the winner must still be found
        tags = {"speed_quality": "noisy: load 9.0 on 2 cores"} if method == "ptq" else {}
        run_id = client.create_run(exp_id, run_name=f"{method}-{seed}", tags=tags).info.run_id
        client.log_batch(
            run_id,
            metrics=[
                Metric("test/acc", acc, 0, 0),
                Metric("size/bytes", size, 0, 0),
                Metric("speed/latency_ms_p50", latency, 0, 0),
            ],
            params=[Param(k, str(v)) for k, v in params.items()],
        )
        if logs_model:
            model = client.create_logged_model(exp_id, name="model", source_run_id=run_id)
            client.log_outputs(run_id, models=[LoggedModelOutput(model.model_id, step=0)])
            client.finalize_logged_model(model.model_id, "READY")
        client.set_terminated(run_id, "FINISHED")
        ids[(method, seed)] = run_id
    return uri, ids


@pytest.fixture
def store(tmp_path):
    return _store(tmp_path)


def _versions(uri: str, name: str) -> dict[str, dict]:
    versions = MlflowClient(uri).search_model_versions(f"name = '{name}'")
    return {v.run_id: v for v in versions}


def test_register_best_registers_the_pareto_winners(store, tmp_path, capsys):
    uri, ids = store
    args = ["--tracking-uri", uri, "--experiment", EXPERIMENT, "--out", str(tmp_path / "r")]
    assert main([*args, "--no-log", "--register-best"]) == 0
    out = capsys.readouterr().out
    assert "ptq int8 (speed noisy)" in out

    versions = _versions(uri, "reg-pareto")
    assert set(versions) == {ids[("baseline", 1)], ids[("ptq", 2)]}
    best = versions[ids[("ptq", 2)]]
    model_id = MlflowClient(uri).get_run(ids[("ptq", 2)]).outputs.model_outputs[0].model_id
    assert best.source == f"models:/{model_id}"
    # (the sqlite registry keeps no model_id column: the source names the logged model)
    assert best.run_id == ids[("ptq", 2)]
    assert best.tags[PARETO_TAG] == "size,latency"
    assert best.tags[LABEL_TAG].startswith("ptq")
    assert f"registered reg-pareto version {best.version}: {best.tags[LABEL_TAG]}" in out
    assert out.count("registered reg-pareto version") == 2

    # again, under a given name too: nothing registered twice
    assert main([*args, "--no-log", "--register-best"]) == 0
    assert "already registered reg-pareto" in capsys.readouterr().out
    assert len(_versions(uri, "reg-pareto")) == 2
    assert main([*args, "--no-log", "--register-best", "--register-name", "tiny-best"]) == 0
    assert set(_versions(uri, "tiny-best")) == set(versions)


def test_without_the_flag_nothing_is_registered(store, tmp_path):
    uri, _ids = store
    args = ["--tracking-uri", uri, "--experiment", EXPERIMENT, "--out", str(tmp_path / "r")]
    assert main([*args, "--no-log"]) == 0
    assert MlflowClient(uri).search_registered_models() == []

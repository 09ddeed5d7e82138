"""Each split of a run's data is an MLflow dataset input, read back from a sqlite store."""

from __future__ import annotations

import json

from mlflow.tracking import MlflowClient

from nlpcompress.config.schema import DataConfig
from nlpcompress.tracking.datasets import dataset_inputs

SIZES = {"train": 80, "validation": 10, "test": 12}


def _inputs_by_context(tracker):
    run = MlflowClient(tracker.tracking_uri).get_run(tracker.run_id)
    return {
        {t.key: t.value for t in i.tags}["mlflow.data.context"]: i.dataset
        for i in run.inputs.dataset_inputs
    }


def test_local_files_are_logged_one_input_per_split(tracker, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for split in ("train", "validation", "test"):
        (folder / f"{split}.csv").write_text("text,label\na,0\nb,1\n")
    cfg = DataConfig(name="reviews", path=str(folder))
    tracker.log_dataset(cfg, SIZES, 2, "d1g3st")

    inputs = _inputs_by_context(tracker)
    assert sorted(inputs) == ["test", "train", "validation"]
    train = inputs["train"]
    assert train.name == "reviews"
    assert train.source_type == "local"
    assert json.loads(train.source) == {"uri": str((folder / "train.csv").resolve())}
    assert json.loads(inputs["test"].source)["uri"].endswith("test.csv")
    assert json.loads(train.profile) == {
        "num_rows": 80,
        "train_rows": 80,
        "validation_rows": 10,
        "test_rows": 12,
        "num_labels": 2,
        "data_digest": "d1g3st",
    }
    assert json.loads(inputs["validation"].profile)["num_rows"] == 10
    assert len({d.digest for d in inputs.values()}) == 3


def test_generated_data_has_a_stable_digest_that_follows_the_rows():
    cfg = DataConfig(name="tiny", source="tiny")
    first = dataset_inputs(cfg, SIZES, 2, None)
    again = dataset_inputs(DataConfig(name="tiny", source="tiny", batch_size=7), SIZES, 2, None)
    fewer = dataset_inputs(cfg, {**SIZES, "train": 40}, 2, None)
    assert [i.dataset.digest for i in first] == [i.dataset.digest for i in again]
    assert first[0].dataset.digest != fewer[0].dataset.digest
    assert first[0].dataset.source_type == "generated"
    assert json.loads(first[0].dataset.source) == {"uri": "generated:tiny"}


def test_hub_data_names_the_hub_id():
    cfg = DataConfig(name="sst2", source="hub", hub_name="glue", hub_config="sst2")
    (train, *_rest) = dataset_inputs(cfg, SIZES, 2, None)
    assert train.dataset.source_type == "hugging_face"
    assert json.loads(train.dataset.source) == {"path": "glue", "config_name": "sst2"}


def test_a_ddp_rank_above_zero_logs_nothing(tracker):
    tracker.active = False
    tracker.log_dataset(DataConfig(name="tiny", source="tiny"), SIZES, 2, None)
    assert _inputs_by_context(tracker) == {}

"""The experiments RunTracker creates open in the UI's "Model training" view, with the review view."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from nlpcompress.tracking.conventions import (
    EXPERIMENT_KIND_TAG,
    MODEL_TRAINING_KIND,
    review_view_tags,
)
from nlpcompress.tracking.run import RunTracker


def test_a_new_experiment_gets_the_model_training_kind(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = RunTracker(uri, "fresh", str(tmp_path / "artifacts"))
    exp = MlflowClient(uri).get_experiment(tracker.experiment_id)
    assert exp.tags[EXPERIMENT_KIND_TAG] == "custom_model_development" == MODEL_TRAINING_KIND
    assert exp.artifact_location == (tmp_path / "artifacts").resolve().as_uri()
    for key, value in review_view_tags().items():
        assert exp.tags[key] == value


def test_an_existing_experiment_is_tagged_once_and_a_set_kind_is_kept(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    old = client.create_experiment("old")
    chosen = client.create_experiment("chosen", tags={EXPERIMENT_KIND_TAG: "genai_development"})
    assert RunTracker(uri, "old").experiment_id == old
    RunTracker(uri, "chosen")
    assert client.get_experiment(old).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING_KIND
    assert client.get_experiment(chosen).tags[EXPERIMENT_KIND_TAG] == "genai_development"
    (view_key,) = review_view_tags()
    client.set_experiment_tag(old, view_key, "{}")  # an older nlpcompress's view is refreshed
    RunTracker(uri, "old")
    assert client.get_experiment(old).tags[view_key] == review_view_tags()[view_key]


def test_cpu_flags_names_the_kernel_extensions_present_in_order():
    from nlpcompress.tracking.run import cpu_flags

    epyc = "processor: 0\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n"
    spr = "flags : fpu avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n"
    assert cpu_flags(epyc) == "avx2"
    assert cpu_flags(spr) == "avx2 avx512f avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16"
    assert cpu_flags("flags : fpu sse2\n") == "none"
    assert cpu_flags("") == "none"


def test_a_summary_metric_wins_over_the_curve_of_the_same_name(tracker):
    # a fit validated at steps 249 and 499; its best checkpoint (step 249) is evaluated after
    # the fit and logged as the summary: MLflow must show that value, not the last validation
    curves = tracker.lightning_logger()
    curves.log_metrics({"val/acc": 0.828}, step=249)
    curves.log_metrics({"val/acc": 0.811}, step=499)
    tracker.lightning_logger(prefix="ternary/").log_metrics({"val/acc": 0.7}, step=999)
    tracker.log_metrics({"val/acc": 0.828, "test/acc": 0.8375})
    client = MlflowClient(tracker.tracking_uri)
    metrics = client.get_run(tracker.run_id).data.metrics
    assert metrics["val/acc"] == 0.828 and metrics["ternary/val/acc"] == 0.7
    history = client.get_metric_history(tracker.run_id, "val/acc")
    assert [(h.step, h.value) for h in history][-1] == (999, 0.828)

"""Plot ``prune/token_cosine`` (the last layer's mean token cosine, the collapse check) and the
target sparsity against the training step for every finished run of an MLflow experiment: the
figure of ``experiments/movement_pruning.md`` comes from

    .venv/bin/python benchmarks/token_cosine_curves.py movement_collapse out.png
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from nlpcompress.report.cli import default_tracking_uri  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment")
    ap.add_argument("out")
    ap.add_argument("--tracking-uri", default=None)
    args = ap.parse_args()
    client = MlflowClient(args.tracking_uri or default_tracking_uri())
    experiment = client.get_experiment_by_name(args.experiment)
    runs = client.search_runs(
        [experiment.experiment_id],
        "attributes.status = 'FINISHED'",
        order_by=["attributes.start_time"],
    )
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 5.5))
    for run in runs:
        label = f"{run.info.run_name} (test {run.data.metrics.get('test/acc', float('nan')):.3f})"
        for axis, key in ((top, "prune/token_cosine"), (bottom, "prune/target_sparsity")):
            points = sorted(client.get_metric_history(run.info.run_id, key), key=lambda p: p.step)
            axis.plot([p.step for p in points], [p.value for p in points], label=label)
    top.set_ylabel("last-layer token cosine")
    top.set_ylim(0, 1.05)
    top.legend(fontsize=8)
    bottom.set_ylabel("target sparsity")
    bottom.set_xlabel("training step")
    top.set_title(args.experiment)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()

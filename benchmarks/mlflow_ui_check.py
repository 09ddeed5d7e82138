"""Open the MLflow UI on a tiny sweep in a real headless browser; screenshot it and check it shows
what a reviewer needs: the runs, their dataset inputs, the logged (deployed) models, the source,
and the experiment description holding the results table.

    .venv/bin/python benchmarks/mlflow_ui_check.py [--out outputs/ui-check] [--port 5077]

Needs Chromium (Debian: ``apt-get install chromium``; or ``--chromium PATH``). Steps:
1. a two-job sweep on ``model=tiny_bert data=tiny`` (baseline, int8 PTQ on ONNX Runtime) into a
   fresh sqlite store under ``--out``;
2. ``nlpcompress-report --register-best`` on it (experiment description + registered models);
3. ``mlflow ui`` on that store, then Chromium (``--headless --dump-dom --screenshot``) on the
   experiment's run list (in the review view), one run's page, the logged models and the registered models.
Each page's rendered DOM is searched for the expected text; the PNGs are left under ``--out``.
Exit code 0 when every check passed, 1 otherwise (the missing ones are printed).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "ui-check"
ML_VIEW = "workflowType=machine_learning"  # MLflow 3.17's UI picks the view per browser


@dataclass
class Page:
    name: str
    fragment: str  # after http://host:port/#
    expected: list[str] = field(default_factory=list)


def sweep(out: Path) -> str:
    """Run the tiny two-job sweep; returns the store's URI."""
    cmd = [
        sys.executable,
        "-m",
        "nlpcompress",
        "-m",
        "model=tiny_bert",
        "data=tiny",
        "debug=fast",
        "method=baseline,ptq",
        "deploy=onnxruntime",
        f"paths.output_dir={out}",
        f"paths.cache_dir={out / 'cache'}",
        f"logger.experiment_name={EXPERIMENT}",
    ]
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=900)
    return f"sqlite:///{out / 'mlflow' / 'mlflow.db'}"


def report(uri: str, out: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "nlpcompress.report.cli",
        "--experiment",
        EXPERIMENT,
        "--tracking-uri",
        uri,
        "--out",
        str(out / "report"),
        "--register-best",
    ]
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=300)


def start_ui(uri: str, out: Path, port: int) -> subprocess.Popen:
    mlflow = Path(sys.executable).with_name("mlflow")
    ui = subprocess.Popen(
        [
            str(mlflow),
            "ui",
            "--backend-store-uri",
            uri,
            "--default-artifact-root",
            str(out / "mlflow" / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(out / "mlflow-ui.log", "w"),  # noqa: SIM115 (lives as long as the server)
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                if resp.status == 200:
                    return ui
        except OSError:
            time.sleep(1)
    ui.terminate()
    raise RuntimeError(f"mlflow ui did not answer on port {port} within 120 s (see mlflow-ui.log)")


def render(chromium: str, url: str, png: Path) -> str:
    """The page's DOM after its scripts ran (and a screenshot of it)."""
    common = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=3000,1000",  # wide enough for every review column
        "--virtual-time-budget=20000",
    ]
    subprocess.run(
        [*common, f"--screenshot={png}", url], check=True, timeout=120, capture_output=True
    )
    done = subprocess.run(
        [*common, "--dump-dom", url], check=True, timeout=120, capture_output=True, text=True
    )
    return done.stdout


def pages(uri: str) -> list[Page]:
    from mlflow.tracking import MlflowClient

    from nlpcompress.tracking.conventions import review_page

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    # a filter on a tag does not match runs that lack the tag: keep the job runs here
    found = client.search_runs([exp.experiment_id], max_results=10)
    runs = [r for r in found if r.data.tags.get("nlpcompress.summary") != "true"]
    run = next(r for r in runs if r.data.tags.get("method") == "ptq")
    eid, rid = exp.experiment_id, run.info.run_id
    names = sorted(r.info.run_name for r in runs)
    return [
        Page("runs", review_page(eid)[1:], [*names, "tiny", "test/acc", "materialized"]),
        Page(
            "run",
            f"/experiments/{eid}/runs/{rid}?{ML_VIEW}",
            [run.info.run_name, "tiny", "deployed", "nlpcompress", "test/acc"],
        ),
        Page("models", f"/experiments/{eid}/models?{ML_VIEW}", ["deployed"]),
        Page("registry", "/models", [f"{EXPERIMENT}-pareto"]),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "outputs" / "ui-check"))
    parser.add_argument("--port", type=int, default=5077)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args(argv)
    if not shutil.which(args.chromium):
        print(f"no Chromium at {args.chromium!r}: apt-get install chromium, or --chromium PATH")
        return 1
    out = Path(args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    uri = sweep(out)
    report(uri, out)
    ui = start_ui(uri, out, args.port)
    missing = []
    try:
        for page in pages(uri):
            png = out / f"{page.name}.png"
            dom = render(args.chromium, f"http://127.0.0.1:{args.port}/#{page.fragment}", png)
            (out / f"{page.name}.html").write_text(dom)
            lost = [text for text in page.expected if text not in dom]
            print(f"{page.name:9s} {'ok' if not lost else 'MISSING ' + ', '.join(lost)}  {png}")
            missing += [f"{page.name}: {text}" for text in lost]
    finally:
        ui.terminate()
        ui.wait(timeout=30)
    if missing:
        print("not shown: " + "; ".join(missing))
        return 1
    print("every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

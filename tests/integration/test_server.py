"""The team tracking server: PostgreSQL + ``mlflow server``, a sweep logged through it, read back over REST."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid

import pytest

from nlpcompress.tracking.server import ServerError, pg_bindir, pid_alive, read_state
from tests.conftest import ROOT, TINY

pytestmark = pytest.mark.integration


def _get(uri: str, endpoint: str, **query) -> dict:
    with urllib.request.urlopen(
        f"{uri}{endpoint}?{urllib.parse.urlencode(query)}", timeout=30
    ) as resp:
        return json.loads(resp.read())


def _post(uri: str, endpoint: str, body: dict) -> dict:
    req = urllib.request.Request(
        f"{uri}{endpoint}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _server_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nlpcompress.tracking.server", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def server():
    """Start PostgreSQL + MLflow server as ``make server`` does; stop both by pid afterwards."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip(
            "the PostgreSQL driver is missing: pip install -e '.[server]' (make install does)"
        )
    try:
        pg_bindir()
    except ServerError as err:
        pytest.skip(str(err))
    # Not under tmp_path: pytest makes that 0700, and PostgreSQL runs as the postgres user.
    state_dir = ROOT / "outputs" / "test-server" / uuid.uuid4().hex[:8]
    started = _server_cli("start", "--dir", str(state_dir))
    if started.returncode != 0:
        shutil.rmtree(state_dir, ignore_errors=True)
        pytest.skip(
            f"PostgreSQL/MLflow server could not be started: {started.stderr.strip()[-1500:]}"
        )
    state = read_state(state_dir)
    try:
        yield state, state_dir, started.stdout
    finally:
        _server_cli("stop", "--dir", str(state_dir))
        shutil.rmtree(state_dir, ignore_errors=True)


def test_sweep_logs_to_postgres_backed_server(server, run_cli, tmp_path):
    state, state_dir, printed = server
    assert f"MLFLOW_TRACKING_URI={state.uri}" in printed
    assert state.backend_store_uri.startswith("postgresql+psycopg2://")
    assert pid_alive(state.postgres_pid) and pid_alive(state.mlflow_pid)

    res = run_cli(
        [
            *TINY,
            "method=baseline",
            "measure.enabled=false",
            f"logger.tracking_uri={state.uri}",
            "seed=1,2",
        ],
        multirun=True,
        experiment="team",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert not (
        tmp_path / "out" / "mlflow" / "mlflow.db"
    ).exists()  # nothing went to the embedded store

    exp = _get(state.uri, "/api/2.0/mlflow/experiments/get-by-name", experiment_name="team")[
        "experiment"
    ]
    runs = _post(
        state.uri, "/api/2.0/mlflow/runs/search", {"experiment_ids": [exp["experiment_id"]]}
    )["runs"]
    assert len(runs) == 2
    seeds = set()
    for run in runs:
        assert run["info"]["status"] == "FINISHED"
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        params = {p["key"]: p["value"] for p in run["data"]["params"]}
        assert 0.0 <= metrics["test/acc"] <= 1.0 and metrics["size/bytes"] > 0
        assert "fp32/test/acc" in metrics and "time/method_s" in metrics
        seeds.add(params["seed"])
        # Artifacts are proxied by the server (mlflow-artifacts:) and land in its folder.
        assert run["info"]["artifact_uri"].startswith("mlflow-artifacts:")
        rel = f"{exp['experiment_id']}/{run['info']['run_id']}/artifacts"
        listed = _get(state.uri, "/api/2.0/mlflow-artifacts/artifacts", path=f"{rel}/model")[
            "files"
        ]
        assert {f["path"] for f in listed} == {"model.safetensors", "model.json"}
        stored = state_dir / "artifacts" / rel / "model" / "model.safetensors"
        assert (
            next(f for f in listed if f["path"] == "model.safetensors")["file_size"]
            == stored.stat().st_size
        )
    assert seeds == {"1", "2"}

    stopped = _server_cli("stop", "--dir", str(state_dir))
    assert stopped.returncode == 0
    assert not pid_alive(state.mlflow_pid) and not pid_alive(state.postgres_pid)

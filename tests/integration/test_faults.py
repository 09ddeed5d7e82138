"""The fault matrix: edited data, interrupted and killed jobs, two identical sweeps at once,
and failing jobs. Tiny models; every case asserts the store afterwards (statuses counted, no
RUNNING left, no duplicate hash among FINISHED runs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from filelock import FileLock

from tests.conftest import ROOT, TINY, mlflow_runs, run_cli_process, shared_test_cache

pytestmark = pytest.mark.integration
FAST = [*TINY, "method=baseline", "measure.enabled=false"]


def _uri(out):
    return f"sqlite:///{(out / 'mlflow' / 'mlflow.db').resolve()}"


def _statuses(out) -> Counter:
    return Counter(r.info.status for r in mlflow_runs(_uri(out)))


def _no_duplicate_finished(out) -> None:
    hashes = [
        r.data.tags["config_hash"] for r in mlflow_runs(_uri(out)) if r.info.status == "FINISHED"
    ]
    assert len(hashes) == len(set(hashes)), hashes


def _write(path, labels):
    rows = "".join(
        f"{'good great fine' if i % 2 else 'bad awful poor'} review {i},{labels[i % len(labels)]}\n"
        for i in range(90)
    )
    path.write_text("text,label\n" + rows, encoding="utf-8")


def test_editing_the_data_in_place_gives_new_tokens_baseline_and_hash(tmp_path):
    live = tmp_path / "live.csv"
    _write(live, ["neg", "pos"])
    args = [*FAST, "data=local", f"data.path={live}"]
    cache = tmp_path / "cache"
    first = run_cli_process(args, tmp_path / "out", cache_dir=cache)
    assert first.returncode == 0, first.stderr[-2000:]
    _write(live, ["neg", "pos", "mixed"])
    second = run_cli_process(args, tmp_path / "out", cache_dir=cache)
    assert second.returncode == 0, second.stderr[-2000:]
    new, old = second.runs[0], second.runs[1]
    assert new.data.tags["config_hash"] != old.data.tags["config_hash"]
    assert new.data.tags["data_digest"] != old.data.tags["data_digest"]
    assert new.data.tags["baseline_key"] != old.data.tags["baseline_key"]
    assert (old.data.metrics["data/num_labels"], new.data.metrics["data/num_labels"]) == (2, 3)


def test_corrupted_tokenized_and_baseline_caches_are_rebuilt_with_one_line_each(tmp_path):
    live = tmp_path / "live.csv"
    _write(live, ["neg", "pos"])
    args = [*FAST, "data=local", f"data.path={live}"]
    cache = tmp_path / "cache"
    first = run_cli_process(args, tmp_path / "out", cache_dir=cache)
    assert first.returncode == 0, first.stderr[-2000:]
    (tokens,) = [p for p in (cache / "tokenized").iterdir() if p.is_dir()]
    sorted((tokens / "splits").rglob("*.arrow"))[0].write_bytes(b"garbage" * 50)
    (tokens / "labels.json").write_text('["neg", "pos", "mixed"]')
    (baseline,) = [p for p in (cache / "baselines").iterdir() if p.is_dir()]
    (baseline / "model.json").write_text("")
    second = run_cli_process(args, tmp_path / "out", cache_dir=cache)
    assert second.returncode == 0, second.stderr[-2000:]
    said = second.stdout + second.stderr  # Hydra's log handler writes to stdout
    assert said.count(f"tokenized data cache {tokens}") == 1
    assert said.count(f"baseline cache {baseline}") == 1
    run = second.runs[0]
    assert run.info.status == "FINISHED" and run.data.tags["baseline_from_cache"] == "false"
    assert run.data.metrics["data/num_labels"] == 2
    third = run_cli_process(args, tmp_path / "out", cache_dir=cache)
    assert third.runs[0].data.tags["baseline_from_cache"] == "true"
    assert "rebuilding" not in third.stdout + third.stderr


def _popen(overrides, out, multirun=False):
    args = [sys.executable, "-m", "nlpcompress", *(["-m"] if multirun else [])]
    args += [
        f"paths.output_dir={out}",
        f"paths.cache_dir={shared_test_cache()}",
        "logger.experiment_name=nlpcompress",
        *overrides,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["PYTHONFAULTHANDLER"] = "1"  # a hang is reported with its stacks (_exit_code)
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    """The job gets SIGINT's default action even where pytest was started from a script in the
    background (``cmd &``), which ignores SIGINT for its children: an ignored SIGINT stays
    ignored, Python then installs no ``KeyboardInterrupt`` handler, and the job trains on."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _exit_code(proc, timeout=120):
    """``proc``'s exit code; past ``timeout`` s it is killed and the test fails with its output."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: every thread's stack to stdout
        try:
            output = proc.communicate(timeout=20)[0] or ""
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate()[0] or ""
        # the stacks, not faulthandler's list of ~200 extension modules after them
        stacks = "\n".join(ln for ln in output.splitlines() if not ln.startswith("Extension "))
        raise AssertionError(
            f"still running {timeout} s after the signal:\n{stacks[-12000:]}"
        ) from None


def _wait_training(out, proc, timeout=240, skip=()):
    """Until a RUNNING run has logged a training loss (the job is mid-training)."""
    from mlflow.tracking import MlflowClient

    start = time.time()
    while time.time() - start < timeout:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        db = out / "mlflow" / "mlflow.db"
        try:
            # the jobs open the store under this lock (RunTracker): opening a client checks
            # and migrates the schema, which must not race with a job's own start
            with FileLock(str(db) + ".init.lock"):
                runs = mlflow_runs(_uri(out)) if db.exists() else []
                client = MlflowClient(_uri(out)) if runs else None
            for run in runs:
                history = client.get_metric_history(run.info.run_id, "train/loss")
                if run.info.status == "RUNNING" and history and run.info.run_id not in skip:
                    return run
        except Exception:  # the job may be creating the store's schema right now
            pass
        time.sleep(1.0)
    raise AssertionError("the job never started training")


# A QAT job long enough to be interrupted mid-training (the baseline itself is cached).
LONG_QAT = [*TINY, "method=qat", "quant=int8", "measure.enabled=false", "method.max_steps=4000"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupt_mid_training_ends_the_run_killed_and_exits_non_zero(tmp_path, sig):
    out = tmp_path / "out"
    proc = _popen([*LONG_QAT, "trainer.max_steps=4000", "method.max_epochs=400"], out)
    _wait_training(out, proc)
    proc.send_signal(sig)
    code = _exit_code(proc)
    assert code != 0
    if sig == signal.SIGTERM:
        assert code == 143
    statuses = _statuses(out)
    assert statuses["KILLED"] == 1 and statuses["RUNNING"] == 0, statuses


def test_sigkill_then_resume_reaps_the_dead_run(tmp_path):
    out = tmp_path / "out"
    sweep = [*LONG_QAT, "trainer.max_steps=4000", "method.max_epochs=400"]
    proc = _popen(sweep, out, multirun=True)
    dead = _wait_training(out, proc)
    proc.kill()  # SIGKILL: nothing can close the run
    proc.wait(timeout=60)
    assert _statuses(out)["RUNNING"] == 1
    # resuming the same sweep reaps the dead run before re-running its job
    again = _popen(sweep, out, multirun=True)
    second = _wait_training(out, again, skip={dead.info.run_id})
    assert second.info.run_id != dead.info.run_id
    from mlflow.tracking import MlflowClient

    client = MlflowClient(_uri(out))
    run = client.get_run(dead.info.run_id)
    assert run.info.status == "KILLED" and "process gone" in run.data.tags["error"]
    assert run.data.tags["pid"].isdigit() and run.data.tags["host"]
    again.send_signal(signal.SIGTERM)
    assert _exit_code(again) == 143
    assert _statuses(out) == Counter({"KILLED": 2})


def test_two_identical_sweeps_at_once_finish_each_job_once(tmp_path):
    out = tmp_path / "out"
    args = [*FAST, "seed=1,2"]
    procs = [_popen(args, out, multirun=True) for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=600) == 0, proc.stdout.read()[-3000:]
    statuses = _statuses(out)
    assert statuses == Counter({"FINISHED": 2}), statuses
    _no_duplicate_finished(out)


def test_a_failing_job_makes_the_sweep_exit_non_zero_with_a_summary(tmp_path):
    res = run_cli_process([*FAST, "data.max_length=32,-3"], tmp_path / "out", multirun=True)
    assert res.returncode == 1
    assert "sweep: 1 finished, 1 failed, 0 killed, 0 skipped" in res.stderr
    failed = next(r for r in res.runs if r.info.status == "FAILED")
    assert failed.info.run_name.startswith("invalid-config-")
    assert "data.max_length=-3" in failed.info.run_name
    assert failed.data.tags["config_hash"] and failed.data.params
    tolerant = run_cli_process(
        [*FAST, "data.max_length=32,-3", "sweep.fail_on_error=false"],
        tmp_path / "out",
        multirun=True,
    )
    assert tolerant.returncode == 0
    assert "1 skipped" in tolerant.stderr  # the good job already FINISHED


def test_one_na_label_among_0_1_is_refused_naming_the_file_and_the_label(tmp_path):
    data = tmp_path / "labels.csv"
    _write(data, ["0", "1"])
    with open(data, "a", encoding="utf-8") as fh:
        fh.write("a typo in the label column,NA\n")
    res = run_cli_process([*FAST, "data=local", f"data.path={data}"], tmp_path / "out")
    assert res.returncode != 0
    assert f"bad data in {data} [train]" in res.stderr, res.stderr[-2000:]
    assert "'NA' at data row 91 (1-based, header line not counted)" in res.stderr


def test_a_dead_tracking_server_is_refused_up_front_in_one_line(tmp_path):
    out = tmp_path / "out"
    start = time.monotonic()
    res = run_cli_process([*FAST, "logger.tracking_uri=http://127.0.0.1:9"], out, timeout=120)
    elapsed = time.monotonic() - start
    assert res.returncode == 2, res.stderr[-3000:]
    assert elapsed < 30, elapsed  # not MLflow's minutes of HTTP retries
    lines = [line for line in res.stderr.splitlines() if line.startswith("nlpcompress:")]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert "logger.tracking_uri='http://127.0.0.1:9'" in lines[0]
    assert "nlpcompress-server start" in lines[0]
    assert not (out / "runs").exists()  # refused before Hydra made the run's folder

"""``server stop`` signals a pid from a pid file only while it still runs the server: a stale
file naming a reused pid (another program) or a gone one is removed, and nothing signalled."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nlpcompress.tracking import server
from nlpcompress.tracking.lifecycle import pid_alive
from nlpcompress.tracking.server import is_mlflow_server, is_postgres, main, stop


@pytest.fixture
def spawn():
    """``spawn(*argv)`` -> a process in its own session, killed at the end if still alive."""
    procs = []

    def _spawn(*argv: str) -> subprocess.Popen:
        proc = subprocess.Popen(argv, start_new_session=True)
        procs.append(proc)
        return proc

    yield _spawn
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_a_pid_file_naming_another_program_is_removed_without_signalling_it(
    tmp_path, spawn, capsys
):
    other = spawn("sleep", "30")
    (tmp_path / "mlflow.pid").write_text(f"{other.pid}\n")
    (tmp_path / "postgres.pid").write_text(f"{other.pid}\n")
    assert main(["stop", "--dir", str(tmp_path)]) == 0
    assert pid_alive(other.pid) and other.poll() is None
    assert not (tmp_path / "mlflow.pid").exists() and not (tmp_path / "postgres.pid").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "mlflow.pid" in err[0] and "not the MLflow server" in err[0] and "sleep 30" in err[0]
    assert "postgres.pid" in err[1] and "not PostgreSQL" in err[1]
    assert all("stale pid file" in line and "signalled nothing" in line for line in err)


def test_a_pid_file_naming_a_gone_process_is_removed_saying_so(tmp_path, capsys):
    ended = subprocess.Popen(["true"])
    ended.wait()
    gone = ended.pid  # reaped: no process has this pid now
    (tmp_path / "mlflow.pid").write_text(f"{gone}\n")
    assert stop(tmp_path) == []
    assert not (tmp_path / "mlflow.pid").exists()
    assert f"pid {gone}, which is gone" in capsys.readouterr().err


def test_the_server_itself_is_still_stopped(tmp_path, spawn):
    fake = spawn(sys.executable, "-c", "import time; time.sleep(30)", "mlflow", "server")
    (tmp_path / "mlflow.pid").write_text(f"{fake.pid}\n")
    assert stop(tmp_path) == [fake.pid]
    assert fake.wait(timeout=30) != 0
    assert not (tmp_path / "mlflow.pid").exists()


def test_the_command_lines_that_count_as_the_server():
    assert is_mlflow_server([sys.executable, "-m", "mlflow", "server", "--port", "5000"])
    assert is_mlflow_server([sys.executable, "/venv/bin/mlflow", "server"])
    assert not is_mlflow_server([sys.executable, "-m", "uvicorn", "mlflow.server.app:app"])
    assert not is_mlflow_server(["sleep", "30"])
    assert is_postgres(["/usr/lib/postgresql/16/bin/postgres", "-D", "/x/pgdata"])
    assert not is_postgres(["sleep", "30"]) and not is_postgres([])


def _fake_process(answers):
    """A ``psutil.Process`` stand-in whose ``cmdline()`` gives ``answers`` in turn."""
    answers = iter(answers)

    class Process:
        def __init__(self, pid):
            self.pid = pid

        def cmdline(self):
            return next(answers)

    return Process


def test_a_command_line_read_mid_exec_is_asked_again(monkeypatch):
    """Seen in CI: ``sleep 30`` read as an empty command line just after ``Popen`` returned."""
    monkeypatch.setattr(server.psutil, "Process", _fake_process([[], [], ["sleep", "30"]]))
    assert server._command_line(123) == ["sleep", "30"]


def test_a_command_line_that_stays_empty_counts_as_unreadable(monkeypatch):
    monkeypatch.setattr(server.psutil, "Process", _fake_process([[]] * 100))
    assert server._command_line(123, settle_s=0.1) == []

"""A team MLflow tracking server: PostgreSQL backend store, artifacts served by the server.

``make server`` (``python -m nlpcompress.tracking.server start``) starts, on 127.0.0.1 only:

1. PostgreSQL from the Debian packages (``apt-get install postgresql``), its data folder under
   ``outputs/server/pgdata``, a password-protected role ``mlflow`` and a database ``mlflow``;
2. ``mlflow server --backend-store-uri postgresql://... --serve-artifacts
   --artifacts-destination outputs/server/artifacts``,

writes their process ids (``postgres.pid``, ``mlflow.pid``) and ``server.json`` into the state
folder and prints the URI to put in ``MLFLOW_TRACKING_URI`` or ``logger.tracking_uri``. Runs
then log params, metrics and artifacts through the server (``mlflow-artifacts:`` URIs), so
clients need neither the database driver nor the artifact folder. ``stop`` ends both by their
process ids, checking first that those still run them (a stale pid file is removed, unsignalled);
``status`` says whether they are up. A second ``start`` reuses a running server.

Only the server needs the ``server`` extra (``psycopg2-binary``, the PostgreSQL driver).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from nlpcompress.tracking.lifecycle import pid_alive

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_DIR = PROJECT_ROOT / "outputs" / "server"
PG_USER = "mlflow"


class ServerError(RuntimeError):
    """The server could not be started (the message says why and what to do)."""


@dataclass
class ServerState:
    """What ``start`` wrote to ``server.json``."""

    uri: str
    mlflow_pid: int
    mlflow_port: int
    postgres_pid: int
    postgres_port: int
    backend_store_uri: str
    artifacts_destination: str


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pick_port(requested: int, previous: int | None) -> int:
    """``requested``, else the previous port when still free (a stable URI), else a free one."""
    if requested:
        return requested
    if previous:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", previous))
                return previous
            except OSError:
                pass
    return free_port()


def pg_bindir() -> Path:
    """The newest installed PostgreSQL's ``bin`` folder (Debian puts it off the PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise ServerError(
        "PostgreSQL is not installed (no initdb found): run `apt-get install -y postgresql` "
        "(Debian/Ubuntu) and try again"
    )


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the ``postgres`` system user then."""
    if os.geteuid() != 0:
        return cmd
    try:
        pwd.getpwnam("postgres")
    except KeyError as err:
        raise ServerError(
            "running as root but there is no `postgres` user to run PostgreSQL as "
            "(the Debian package creates it)"
        ) from err
    return ["runuser", "-u", "postgres", "--", *cmd]


def _give_to_postgres(*paths: Path) -> None:
    """As root: hand ``paths`` (not recursively) to the postgres user, who must reach them."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam("postgres")
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)
    for parent in paths[0].resolve().parents:
        if not os.stat(parent).st_mode & 0o001:
            raise ServerError(
                f"{parent} is not searchable by the postgres user (mode "
                f"{oct(os.stat(parent).st_mode & 0o777)}): choose a state folder "
                f"elsewhere with --dir"
            )


def _run(cmd: list[str], env: dict | None = None, what: str = "") -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise ServerError(
            f"{what or cmd[0]} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-1500:]}"
        )
    return done.stdout


def _wait(check, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-2000:] if log and log.is_file() else ""
    raise ServerError(
        f"{what} did not come up within {timeout:.0f} s" + (f"; log {log}:\n{tail}" if tail else "")
    )


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def backend_uri(password: str, port: int) -> str:
    # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3; the pinned driver is psycopg2.
    return f"postgresql+psycopg2://{PG_USER}:{password}@127.0.0.1:{port}/mlflow"


def start_postgres(state_dir: Path, port: int) -> tuple[int, str]:
    """Initialise (once) and start PostgreSQL on 127.0.0.1:``port``; returns (pid, password)."""
    bindir = pg_bindir()
    pgdata = state_dir / "pgdata"
    pwfile = state_dir / "pg_password"
    if not (pgdata / "PG_VERSION").is_file():
        if pgdata.exists():
            shutil.rmtree(pgdata)
        pgdata.mkdir(parents=True)
        # created 0600: the password is never readable by others, not even for a moment
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(24))
        _give_to_postgres(pgdata, pwfile)
        _run(
            _as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    PG_USER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            ),
            what="initdb",
        )
    password = pwfile.read_text().strip()
    log = state_dir / "postgres.log"
    log.touch()
    _give_to_postgres(pgdata, log)
    # TCP on 127.0.0.1 only, no Unix socket (its default folder may not exist or be writable).
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories=''"
    _run(
        _as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(pgdata),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        ),
        what="pg_ctl start",
    )
    pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    env = {"PGPASSWORD": password}
    conn = ["-h", "127.0.0.1", "-p", str(port), "-U", PG_USER]
    exists = _run(
        [
            str(bindir / "psql"),
            *conn,
            "-d",
            "postgres",
            "-tAc",
            "SELECT 1 FROM pg_database WHERE datname = 'mlflow'",
        ],
        env,
        "psql",
    )
    if exists.strip() != "1":
        _run([str(bindir / "createdb"), *conn, "mlflow"], env, "createdb")
    return pid, password


def start_mlflow(state_dir: Path, backend_uri: str, port: int, timeout: float) -> int:
    """``mlflow server`` on 127.0.0.1:``port`` in its own session; returns its pid once healthy."""
    artifacts = state_dir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    log = state_dir / "mlflow.log"
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--serve-artifacts",
        "--artifacts-destination",
        str(artifacts.resolve()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # The backend URI holds the password: pass it through the environment, not the command line.
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": backend_uri}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=state_dir,
        )

    def healthy() -> bool:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise ServerError(
                f"mlflow server exited with code {proc.returncode}; log {log}:\n{tail}"
            )
        return _http_ok(f"http://127.0.0.1:{port}/health")

    _wait(healthy, timeout, "mlflow server", log)
    return proc.pid


def read_state(state_dir: Path) -> ServerState | None:
    try:
        return ServerState(**json.loads((state_dir / "server.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def is_up(state: ServerState | None) -> bool:
    return bool(
        state
        and pid_alive(state.mlflow_pid)
        and pid_alive(state.postgres_pid)
        and _http_ok(f"{state.uri}/health")
    )


def start(
    state_dir: Path = DEFAULT_DIR,
    mlflow_port: int = 0,
    postgres_port: int = 0,
    timeout: float = 180.0,
) -> ServerState:
    """Start PostgreSQL and the MLflow server (or reuse the running pair); returns their state."""
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    old = read_state(state_dir)
    if is_up(old):
        return old
    stop(state_dir)  # whatever is left of a previous pair
    pg_port = pick_port(postgres_port, old and old.postgres_port)
    pg_pid, password = start_postgres(state_dir, pg_port)
    try:
        port = pick_port(mlflow_port, old and old.mlflow_port)
        ml_pid = start_mlflow(state_dir, backend_uri(password, pg_port), port, timeout)
    except BaseException:
        _terminate(pg_pid, signal.SIGINT, 60)
        raise
    state = ServerState(
        uri=f"http://127.0.0.1:{port}",
        mlflow_pid=ml_pid,
        mlflow_port=port,
        postgres_pid=pg_pid,
        postgres_port=pg_port,
        backend_store_uri=backend_uri("***", pg_port),
        artifacts_destination=str(state_dir / "artifacts"),
    )
    (state_dir / "mlflow.pid").write_text(f"{ml_pid}\n")
    (state_dir / "postgres.pid").write_text(f"{pg_pid}\n")
    (state_dir / "server.json").write_text(json.dumps(asdict(state), indent=2))
    return state


def _terminate(pid: int, sig: int, timeout: float, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig) if group else os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL) if group else os.kill(pid, signal.SIGKILL)


def _command_line(pid: int, settle_s: float = 1.0) -> list[str]:
    """``pid``'s command line; empty when it is gone or cannot be read (another user's).

    A process caught inside ``execve`` reads as an empty command line for a moment (the kernel
    has dropped the old image but not yet set up the new arguments), so an empty answer from a
    live pid is asked again for up to ``settle_s`` seconds before it counts.
    """
    deadline = time.monotonic() + settle_s
    while True:
        try:
            argv = psutil.Process(pid).cmdline()
        except psutil.Error:
            return []
        if argv or time.monotonic() >= deadline:
            return argv
        time.sleep(0.05)


def is_mlflow_server(argv: list[str]) -> bool:
    """``python -m mlflow server ...`` (or the ``mlflow server`` script), as :func:`start_mlflow`
    runs it."""
    return "server" in argv and any(Path(arg).name == "mlflow" for arg in argv)


def is_postgres(argv: list[str]) -> bool:
    """The PostgreSQL postmaster (``.../bin/postgres -D ...``)."""
    return bool(argv) and Path(argv[0].split()[0]).name in ("postgres", "postmaster")


def _pid_file_owner(pid_file: Path, what: str, matches) -> tuple[int | None, str]:
    """The pid in ``pid_file`` if it still runs ``what``; else ``(None, why not)``."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None, "holds no pid"
    if not pid_alive(pid):
        return None, f"names pid {pid}, which is gone"
    argv = _command_line(pid)
    if not matches(argv):
        running = " ".join(argv)[:80] or "unreadable"
        return None, f"names pid {pid}, which is not {what} (it runs `{running}`)"
    return pid, ""


def stop(state_dir: Path = DEFAULT_DIR) -> list[int]:
    """Stop the MLflow server (its process group) and PostgreSQL by their pid files.

    A pid is signalled only while it still runs that program: a pid file left by a crash may
    name a pid reused since by another program. Such a file is removed, saying so on stderr.
    PostgreSQL gets SIGINT ("fast" shutdown: clean, no recovery needed at the next start).

    Returns:
        The pids that were running and were stopped.
    """
    state_dir = Path(state_dir).resolve()
    stopped = []
    for name, what, matches, sig, group in (
        ("mlflow.pid", "the MLflow server", is_mlflow_server, signal.SIGTERM, True),
        ("postgres.pid", "PostgreSQL", is_postgres, signal.SIGINT, False),
    ):
        pid_file = state_dir / name
        if not pid_file.is_file():
            continue
        pid, why = _pid_file_owner(pid_file, what, matches)
        if pid is None:
            print(
                f"nlpcompress-server: {pid_file} {why}: removed the stale pid file, "
                f"signalled nothing",
                file=sys.stderr,
            )
        else:
            _terminate(pid, sig, 60, group)
            stopped.append(pid)
        pid_file.unlink()
    return stopped


def main(argv: list[str] | None = None) -> int:
    """``nlpcompress-server start|stop|status [--dir DIR] [--port P] [--postgres-port Q]``."""
    parser = argparse.ArgumentParser(
        prog="nlpcompress-server", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help="state folder (default outputs/server)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="MLflow server port (default: a free one)"
    )
    parser.add_argument(
        "--postgres-port", type=int, default=0, help="PostgreSQL port (default: a free one)"
    )
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds to wait for the server"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            state = start(args.dir, args.port, args.postgres_port, args.timeout)
            print(
                f"MLflow server (PostgreSQL backend, artifacts in {state.artifacts_destination}):\n"
                f"  export MLFLOW_TRACKING_URI={state.uri}\n"
                f"  (or logger.tracking_uri={state.uri}); stop it with `make server-stop`\n"
                f"  pids: mlflow {state.mlflow_pid}, postgres {state.postgres_pid}"
            )
        elif args.command == "stop":
            pids = stop(args.dir)
            print(f"stopped {pids}" if pids else "nothing was running")
        else:
            state = read_state(args.dir)
            up = is_up(state)
            print(f"up: {state.uri}" if up else "down")
            return 0 if up else 1
    except ServerError as err:
        print(f"nlpcompress-server: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The up-front checks refuse a dead tracking server and unwritable folders in seconds, with
one line naming the key; a live store and writable folders pass."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nlpcompress.config.errors import ConfigError
from nlpcompress.tracking.preflight import (
    PROBE_PATH,
    check_run,
    check_store,
    derived_from,
    probe_http,
    store_source,
)

DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens there
RAW_PATHS = {
    "root_dir": "/somewhere",
    "output_dir": "${paths.root_dir}/outputs",
    "cache_dir": "${paths.output_dir}/cache",
    "mlflow_dir": "${paths.output_dir}/mlflow",
}


def _paths(output_dir) -> dict[str, str]:
    return {
        "output_dir": str(output_dir),
        "cache_dir": f"{output_dir}/cache",
        "mlflow_dir": f"{output_dir}/mlflow",
    }


@pytest.fixture
def http_store():
    """``http_store(status)`` -> the URI of a local server answering every GET with ``status``;
    the paths it was asked for land in ``.requests``."""
    servers = []

    def serve(status: int):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.requests = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", server

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_dead_server_is_refused_within_seconds_naming_the_uri_and_what_to_do():
    start = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        check_store("logger.tracking_uri", DEAD)
    assert time.monotonic() - start < 10
    message = str(caught.value)
    assert "\n" not in message
    assert f"logger.tracking_uri='{DEAD}'" in message
    assert "refused" in message.lower()
    assert "nlpcompress-server start" in message


def test_a_server_that_accepts_but_never_answers_is_refused_after_the_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the handshake; nobody ever reads
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(ConfigError, match="timed out|no answer"):
            check_store("logger.tracking_uri", uri, timeout=0.5)
        assert time.monotonic() - start < 3


@pytest.mark.parametrize("status", [200, 401, 403])
def test_a_server_that_answers_passes_with_one_get_of_the_mlflow_api(http_store, status):
    uri, server = http_store(status)
    check_store("logger.tracking_uri", uri + "/")
    assert server.requests == [PROBE_PATH]


@pytest.mark.parametrize(("status", "why"), [(404, "no MLflow API"), (503, "HTTP 503")])
def test_no_mlflow_api_or_a_failing_server_is_refused(http_store, status, why):
    uri, _ = http_store(status)
    with pytest.raises(ConfigError, match=why):
        check_store("logger.tracking_uri", uri)


def test_probe_http_says_why_in_words():
    assert "refused" in probe_http(DEAD + PROBE_PATH, timeout=2).lower()


def test_the_key_is_the_one_that_chose_the_store(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert store_source("http://a:1", tmp_path) == ("logger.tracking_uri", "http://a:1")
    assert store_source(None, tmp_path) == (
        "paths.mlflow_dir",
        f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}",
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", DEAD)
    assert store_source(None, tmp_path) == ("MLFLOW_TRACKING_URI", DEAD)
    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_URI=.*unset MLFLOW_TRACKING_URI"):
        check_run(_paths(tmp_path / "out"), None)


def test_derived_from_follows_the_interpolations_to_the_key_to_change():
    assert derived_from(RAW_PATHS, "cache_dir") == "paths.root_dir"
    assert derived_from(RAW_PATHS, "output_dir") == "paths.root_dir"
    assert derived_from({**RAW_PATHS, "output_dir": "/x"}, "cache_dir") == "paths.output_dir"
    assert derived_from(RAW_PATHS, "root_dir") is None
    assert derived_from({"a": "${paths.b}", "b": "${paths.a}"}, "a") == "paths.b"  # no loop


def test_an_output_dir_that_cannot_be_created_is_refused_naming_the_key_and_its_root(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a folder cannot be made under a file, not even by root
    with pytest.raises(ConfigError) as caught:
        check_run(_paths(blocker / "outputs"), None, RAW_PATHS)
    message = str(caught.value)
    assert "\n" not in message
    assert f"paths.output_dir='{blocker / 'outputs'}'" in message
    assert "paths.root_dir" in message and "Not a directory" in message


def test_an_unwritable_cache_dir_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    paths = {**_paths(tmp_path / "out"), "cache_dir": str(blocker / "cache")}
    with pytest.raises(ConfigError, match=r"paths\.cache_dir="):
        check_run(paths, None)


def test_a_sqlite_store_whose_folder_cannot_be_made_is_refused(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"logger\.tracking_uri="):
        check_run(_paths(tmp_path / "out"), f"sqlite:///{blocker}/db/mlflow.db")
    check_run(_paths(tmp_path / "out"), f"sqlite:///{tmp_path}/db/mlflow.db")
    assert (tmp_path / "db").is_dir()


def test_writable_folders_and_the_embedded_store_pass_and_leave_only_the_folders(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    check_run(_paths(tmp_path / "out"), None, RAW_PATHS)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cache", "mlflow"]
    assert not any((tmp_path / "out" / "mlflow").iterdir())


def test_the_checks_import_neither_torch_nor_mlflow():
    code = (
        "import sys, nlpcompress.tracking.preflight, nlpcompress.cli; "
        "print(sorted(m for m in ('torch', 'mlflow', 'lightning', 'transformers') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "uri", ["garbage", "./mlruns", "/tmp/mlruns", "file:///tmp/mlruns", "s3://b"]
)
def test_a_uri_that_names_no_store_mlflow_opens_is_refused_with_what_is_allowed(uri):
    with pytest.raises(ConfigError) as caught:
        check_store("logger.tracking_uri", uri)
    message = str(caught.value)
    assert f"logger.tracking_uri={uri!r}" in message
    assert "sqlite:///" in message and "http(s)://" in message


@pytest.mark.parametrize(
    "uri", ["postgresql://u@h/db", "postgresql+psycopg2://u@h/db", "databricks"]
)
def test_databases_and_databricks_are_left_to_mlflow(uri):
    check_store("logger.tracking_uri", uri)

"""Checks before any work: the folders a run writes and the tracking store it logs to.

Without them a dead tracking server costs minutes of MLflow's HTTP retries and ends in a
traceback, and an impossible ``paths.*`` folder a raw ``FileNotFoundError``. :func:`check_run`
does both in a few seconds with the standard library only (no MLflow, torch or Lightning) and
raises :class:`~nlpcompress.config.errors.ConfigError` naming the key, so the CLI exits 2 with
one line, as for any bad config.
"""

from __future__ import annotations

import http.client
import os
import re
import ssl
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from nlpcompress.config.errors import ConfigError

# One GET, no retries: a live server answers in milliseconds (its first request, which
# opens the store, in a few seconds). The whole check ends within STORE_TIMEOUT_S + 2 s.
STORE_TIMEOUT_S = 8.0
# A read every MLflow server (2.x, 3.x) serves to GET; the client's first call is its neighbour.
PROBE_PATH = "/api/2.0/mlflow/experiments/search?max_results=1"
# The folders a run creates; the embedded store's folder is checked with the store.
WRITTEN_PATHS = ("output_dir", "cache_dir")
START_SERVER = "start one with `nlpcompress-server start` (`make server`) and use the URI it prints"
_REFERENCE = re.compile(r"\$\{paths\.(\w+)\}")
# The stores MLflow 3 opens: a server, a database (``<dialect>[+driver]://``), Databricks.
# File stores (a bare path, ``file://``) are in maintenance mode and refused by MLflow itself.
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
OTHER_SCHEMES = ("http", "https", "databricks", "databricks-uc")
ALLOWED_STORES = (
    "an MLflow tracking URI: http(s)://host:port (a tracking server), sqlite:///path/to/mlflow.db, "
    "postgresql://, mysql:// or mssql:// (a database) or databricks; file stores (a bare path, "
    "file://) are not supported by MLflow 3: use sqlite:///<folder>/mlflow.db"
)


def store_source(configured: str | None, mlflow_dir: str | Path) -> tuple[str, str]:
    """Where the tracking URI comes from and what it is: ``(key, uri)``.

    Same precedence as :func:`nlpcompress.tracking.run.resolve_tracking_uri`:
    ``logger.tracking_uri`` > ``MLFLOW_TRACKING_URI`` > embedded sqlite under ``mlflow_dir``.
    """
    if configured:
        return "logger.tracking_uri", configured
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return "MLFLOW_TRACKING_URI", os.environ["MLFLOW_TRACKING_URI"]
    return "paths.mlflow_dir", f"sqlite:///{Path(mlflow_dir).resolve() / 'mlflow.db'}"


def derived_from(raw_paths: Mapping[str, object], name: str) -> str | None:
    """The ``paths.*`` key that ``paths.<name>`` is built from, following interpolations.

    ``cache_dir: ${paths.output_dir}/cache`` and ``output_dir: ${paths.root_dir}/outputs``
    give ``paths.root_dir`` for ``cache_dir``; ``None`` when ``name`` is set directly.
    """
    origin, seen = name, {name}
    while True:
        match = _REFERENCE.match(str(raw_paths.get(origin, "")))
        if not match or match.group(1) in seen:
            break
        origin = match.group(1)
        seen.add(origin)
    return None if origin == name else f"paths.{origin}"


def check_writable_dir(key: str, folder: str | Path, origin: str | None = None) -> None:
    """Create ``folder`` if needed and write a temporary file into it.

    Raises:
        ConfigError: naming ``key`` and the folder (and the key it derives from) when the
            folder cannot be created or written.
    """
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        hint = f"; it derives from {origin}, set that to a writable folder" if origin else ""
        raise ConfigError(
            key, str(folder), f"a folder that can be created and written (here: {err}){hint}"
        ) from err


def probe_http(url: str, timeout: float = STORE_TIMEOUT_S) -> str | None:
    """GET ``url`` (an MLflow API read) once; ``None`` when an MLflow server answered, else
    why not in a few words.

    401 and 403 count as an answer (MLflow then reports the credentials itself), as does a TLS
    error (MLflow may trust a CA that urllib does not). Refused, unreachable, unresolvable,
    timed out, 404 (no MLflow API there), 5xx and non-HTTP answers do not.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return None
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return "HTTP 404, no MLflow API at this URI"
        return None if err.code < 500 else f"HTTP {err.code} {err.reason}"
    except urllib.error.URLError as err:
        if isinstance(err.reason, ssl.SSLError):
            return None
        reason = err.reason
        return getattr(reason, "strerror", None) or str(reason)
    except ssl.SSLError:
        return None
    except (OSError, http.client.HTTPException, ValueError) as err:
        return str(err) or type(err).__name__


def _probe_within(url: str, timeout: float) -> str | None:
    """:func:`probe_http` with a hard deadline: urllib's timeout does not cover DNS lookups."""
    result: list[str | None] = []
    worker = threading.Thread(target=lambda: result.append(probe_http(url, timeout)), daemon=True)
    worker.start()
    worker.join(timeout + 2)
    return result[0] if result else f"no answer within {timeout + 2:.0f} s"


def check_store(key: str, uri: str, timeout: float = STORE_TIMEOUT_S) -> None:
    """Refuse a tracking store that cannot work: a URI that names no store MLflow opens, a
    server that does not answer, or a sqlite database whose folder cannot be written. The
    other databases and Databricks are left to MLflow.

    Raises:
        ConfigError: naming ``key`` and the URI, and what to do.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme or uri  # `databricks` alone names the default profile
    if scheme.partition("+")[0] not in DATABASE_SCHEMES and scheme not in OTHER_SCHEMES:
        raise ConfigError(key, uri, ALLOWED_STORES)
    if parts.scheme in ("http", "https"):
        url = uri.rstrip("/") + PROBE_PATH
        why = _probe_within(url, timeout)
        if why:
            unset = f"unset {key}" if key == "MLFLOW_TRACKING_URI" else f"drop {key}"
            raise ConfigError(
                key,
                uri,
                f"a reachable MLflow tracking server (here: {why}); "
                f"{START_SERVER}, or {unset} for the embedded sqlite store",
            )
    elif uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        check_writable_dir(key, db.parent)
        if db.exists() and not os.access(db, os.W_OK):
            raise ConfigError(key, uri, f"a writable sqlite database ({db} is read-only)")


def check_run(
    paths: Mapping[str, str],
    tracking_uri: str | None,
    raw_paths: Mapping[str, object] | None = None,
    timeout: float = STORE_TIMEOUT_S,
) -> None:
    """Check a run's output and cache folders and its tracking store, before any work.

    Args:
        paths: resolved ``paths.*`` (``output_dir``, ``cache_dir``, ``mlflow_dir``).
        tracking_uri: ``logger.tracking_uri`` (``None``: environment or embedded store).
        raw_paths: ``paths.*`` before interpolation, to name the key a bad folder derives from.
        timeout: seconds for the tracking server to answer.

    Raises:
        ConfigError: the first folder or store that cannot work.
    """
    raw = raw_paths or {}
    for name in WRITTEN_PATHS:
        if paths.get(name):
            check_writable_dir(f"paths.{name}", paths[name], derived_from(raw, name))
    key, uri = store_source(tracking_uri, paths["mlflow_dir"])
    if key == "paths.mlflow_dir":  # the embedded store: name the key its folder derives from
        check_writable_dir(key, paths["mlflow_dir"], derived_from(raw, "mlflow_dir"))
    check_store(key, uri, timeout)

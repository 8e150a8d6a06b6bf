"""Atomic writes (temp file in the same folder, then rename) and CSV reading with clear errors."""
from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from shared.errors import UserError


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path``: readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK):
        raise UserError(f"cannot write {path}: the folder {path.parent} is not writable; choose another --out.")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def write_text(path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def write_csv(path, df: pd.DataFrame, **kwargs) -> Path:
    kwargs.setdefault("index", False)
    return atomic_write(path, lambda p: df.to_csv(p, **kwargs))


def write_npy(path, array: np.ndarray) -> Path:
    def _save(p: Path) -> None:
        with open(p, "wb") as f:
            np.save(f, array)

    return atomic_write(path, _save)


def write_npz(path, **arrays) -> Path:
    def _save(p: Path) -> None:
        with open(p, "wb") as f:  # a file object: np.savez would add ".npz" to the temporary name
            np.savez(f, **arrays)

    return atomic_write(path, _save)


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _check_header(path: Path, encoding: str) -> None:
    """pandas renames a repeated column (``LotArea``, ``LotArea.1``); say so instead."""
    with open(path, newline="", encoding=encoding, errors="replace") as f:
        header = next(csv.reader(f), [])
    seen = set()
    for name in header:
        if name in seen:
            raise UserError(f"{path}: column {name!r} appears more than once in the header; keep one of them.")
        seen.add(name)


def read_csv(path, required: Iterable[str] = (), what: str = "", **kwargs) -> pd.DataFrame:
    """Read a CSV; a missing file or missing columns is a one-line UserError naming them."""
    path = Path(path)
    if not path.is_file():
        hint = f" ({what})" if what else ""
        raise UserError(f"missing file {path}{hint}: check --data, or build the demo with scripts/make_demo.py.")
    try:
        df = pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot parse {path}: {exc}") from exc
    _check_header(path, kwargs.get("encoding") or "utf-8")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise UserError(
            f"{path} is missing column(s) {missing}; it has {list(df.columns)[:12]}"
            f"{' ...' if len(df.columns) > 12 else ''}. Use the competition's original file."
        )
    return df

"""Atomic writes (temp file in the same folder, then rename) and CSV reading with clear errors."""
from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from shared.errors import UserError, closest

UMASK = os.umask(0o022)
os.umask(UMASK)  # read once: the process's umask, for the modes of files written through a temporary name


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path``: readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK):
        raise UserError(f"cannot write {path}: the folder {path.parent} is not writable; choose another --out.")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp's 0600 would hide results from the group: modes as open() gives them
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    except OSError as exc:
        if exc.errno in FULL:
            raise disk_full(path.parent) from None
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left on the device / disk quota exceeded


def disk_full(folder: Path) -> UserError:
    """The one-line error for a full disk while writing into ``folder``: what was written before stays whole
    (every file goes to a temporary name first), so a run can be resumed once there is room."""
    return UserError(f"the disk holding {folder} is full (no space left on device): free some space or pass "
                     "--out on another disk; files written before are intact, and a run continues with --resume.")


def inside(base: Path, relative: str, where: str) -> Path:
    """``base / relative`` for a path listed in a data file, refused when it leaves ``base`` (an absolute path,
    ``..``): a data folder's files never point at the rest of the machine."""
    rel = Path(str(relative))
    if rel.is_absolute() or ".." in rel.parts or str(relative).startswith(("~", "\\")):
        raise UserError(f"{where} lists the path {str(relative)!r}, which leaves the data folder {base}; list "
                        "files relative to the data folder (like images/0.jpg).")
    return Path(base) / rel


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file's bytes, read a chunk at a time (a data file may be larger than memory)."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            sha.update(block)
    return sha.hexdigest()


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


SEPARATORS = (",", ";", "\t", "|")  # a CSV from a spreadsheet set to another locale may use ; or tabs


def _header(path: Path, encoding: str) -> tuple[list[str], str]:
    """(the column names, the separator): the one of ``SEPARATORS`` the first line holds most of (a comma on a
    tie or when it holds none). pandas renames a repeated column (``LotArea``, ``LotArea.1``): say so instead."""
    try:
        with open(path, newline="", encoding=encoding) as f:
            first = f.readline()
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text (it holds the byte {exc.object[exc.start]:#04x}): "
                        "save it as UTF-8 (in a spreadsheet: \"CSV UTF-8\") or use the competition's original "
                        "file.") from None
    if not first.strip():
        what = ("is empty (0 bytes)" if path.stat().st_size == 0 else
                "starts with a blank line, where the header (the column names) belongs")
        raise UserError(f"{path} {what}; download or copy the file again, or use the competition's original file.")
    sep = max(SEPARATORS, key=first.count) if any(s in first for s in SEPARATORS) else ","
    header = next(csv.reader([first], delimiter=sep), [])
    seen = set()
    for name in header:
        if name in seen:
            raise UserError(f"{path}: column {name!r} appears more than once in the header; keep one of them.")
        seen.add(name)
    return header, sep


def _as_text(kwargs: dict) -> dict:
    """``kwargs`` where every column read as ``str`` is text exactly as written: an id or a label ``NA``,
    ``None`` or ``null`` stays that text, and only an empty cell is missing; the other columns keep pandas' usual
    missing values (``NA`` in a numeric or category column is missing)."""
    dtype = kwargs.get("dtype")
    if not isinstance(dtype, dict) or "converters" in kwargs:
        return kwargs
    text = [col for col, kind in dtype.items() if kind is str]
    if not text:
        return kwargs
    return {**kwargs, "dtype": {c: k for c, k in dtype.items() if c not in text},
            "converters": {col: _text_cell for col in text}}


def _text_cell(cell: str):
    return cell if cell != "" else np.nan


def _where_it_may_be(path: Path) -> str:
    """What to do about a missing data file: the folder above the data (a file one or two folders down), an
    archive not yet unpacked, or no data at all."""
    folder = path.parent
    if folder.is_dir():
        below = sorted(p for p in [*folder.glob(f"*/{path.name}"), *folder.glob(f"*/*/{path.name}")] if p.is_file())
        if below:
            return f"it is in {below[0].parent}: pass --data {below[0].parent}."
        archives = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in (".zip", ".7z"))
        if archives:
            return f"{folder} holds {archives[0]}: unpack it there (or get the data with scripts/download.py)."
    return "check --data, or build the demo with scripts/make_demo.py."


def read_csv(path, required: Iterable[str] = (), what: str = "", fix: str = "", **kwargs) -> pd.DataFrame:
    """Read a CSV; a missing file or missing columns is a one-line UserError naming them (and the closest column,
    and ``fix``: what to do, where that is not "use the original file", e.g. a flag that named the column).
    Columns read as ``str`` are text as written (see ``_as_text``); the separator is the one the header uses
    (``sep=","`` insists on commas: a file Kaggle reads, like a submission)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a CSV file{f' ({what})' if what else ''}: pass the file itself.")
    if not path.is_file():
        hint = f" ({what})" if what else ""
        raise UserError(f"missing file {path}{hint}: {_where_it_may_be(path)}")
    encoding = kwargs.get("encoding") or "utf-8-sig"  # -sig: a byte-order mark (Excel's "CSV UTF-8") is no name
    columns, sep = _header(path, encoding)
    if kwargs.setdefault("sep", sep) != sep:  # the caller insisted on commas
        raise UserError(f"{path}: its header is separated by {sep!r}: write it with commas (Kaggle reads commas "
                        "only).")
    try:
        df = pd.read_csv(path, **{**_as_text(kwargs), "encoding": encoding})
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text (it holds the byte {exc.object[exc.start]:#04x}): save it as "
                        "UTF-8 (in a spreadsheet: \"CSV UTF-8\") or use the competition's original file.") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"cannot parse {path}: {' '.join(str(exc).split())}; use the competition's original "
                        "file.") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        close = closest(str(missing[0]), [str(c) for c in df.columns])
        hint = (f" Did you mean {close!r}?" if close is not None else "") + (f" {fix}" if fix else
                                                                             " Use the competition's original file.")
        raise UserError(f"{path} is missing column(s) {missing}; it has {list(df.columns)[:12]}"
                        f"{' ...' if len(df.columns) > 12 else ''}.{hint}")
    return df

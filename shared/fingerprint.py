"""What a run was made on, recorded in its config.yaml (``data_fingerprint``) so that a resumed or merged run
proves it sees the same data:

- ``files``: the sha256 of the bytes of each competition file the run reads (train, test and sample submission;
  for detection the COCO json and the image list it predicts), by name inside the data folder, so that a copy of
  the data on another machine or Kaggle kernel matches;
- ``images`` (image competitions): the sha256 of the listing of the images the rows point at, each one's path
  inside the data folder and its size in bytes. Not their pixels: hashing 300,000 images would take minutes, and
  a re-encoded or replaced image almost always changes size;
- ``train_rows`` / ``test_rows``: the number and sha256 of the ids in order, after cleaning (``clean_train``):
  the rows the folds and the predictions index; ``train_target`` (tables): the same of the target's values.
  Blends compare only these (their members may read different feature files).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from shared.errors import UserError
from shared.io import file_sha256

KEY = "data_fingerprint"


def of(spec, data) -> dict:
    """The fingerprint of a loaded dataset (``spec.load``'s result)."""
    data_dir = Path(data.data_dir)
    out = {"files": {name: file_sha256(data_dir / name) for name in spec.outputs.input_files(data)
                     if (data_dir / name).is_file()}}
    images = _image_listing(data, data_dir)
    if images is not None:
        out["images"] = images
    for part, frame in (("train_rows", data.train), ("test_rows", data.test)):
        ids = frame[spec.id_col] if spec.id_col in frame.columns else frame.index.to_series()
        out[part] = {"count": int(len(ids)), "sha256": _text_sha256(ids.astype(str))}
    target = spec.outputs.fingerprinted_target(data)
    if target is not None:
        out["train_target"] = {"count": int(len(target)), "sha256": _text_sha256(target.astype(str))}
    return out


def load_data(spec, config: dict, data_dir: Path | None = None):
    """The dataset as the runner loads it for a run of ``config``."""
    return spec.load_run_data(Path(data_dir or config["data_dir"]), config)


def differences(recorded, current: dict, labels: tuple[str, str] = ("then", "now")) -> list[str]:
    """What differs between two fingerprints, in words (empty when they are the same); ``labels`` name the two
    sides in counts ("500 then, 480 now")."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("files"), dict):
        return ["the recorded data fingerprint is unreadable"]
    out = []
    files_a, files_b = recorded["files"], current.get("files", {})
    for name in sorted(set(files_a) | set(files_b)):
        if name not in files_b:
            out.append(f"{name} is missing")
        elif name not in files_a:
            out.append(f"{name} was not there")
        elif files_a[name] != files_b[name]:
            out.append(f"{name} changed")
    if recorded.get("images") != current.get("images"):
        out.append(f"the image files changed ({_counts(recorded, current, 'images', labels)}; names or sizes)")
    out += _rows_or_target(recorded, current, labels)
    return out


def _rows_or_target(recorded: dict, current: dict, labels: tuple[str, str],
                    parts=("train_rows", "test_rows", "train_target")) -> list[str]:
    what = {"train_rows": "the training rows changed", "test_rows": "the test rows changed",
            "train_target": "the training target changed"}
    return [f"{what[part]} ({_counts(recorded, current, part, labels)}; "
            f"{'its values' if part == 'train_target' else 'ids'} in order after cleaning)"
            for part in parts if part in recorded and part in current and recorded[part] != current[part]]


def check_blend(parts: list[tuple[Path, dict]], current: dict, data_dir: Path, answers: str | None = None) -> None:
    """Refuse to blend runs (path, config) whose rows or training target (``answers``: the file holding it, for
    detection the COCO json) differ from each other's or from the data loaded now (``current``); their features
    may differ (blending feature views is the point)."""
    known = [(path, config[KEY]) for path, config in parts if isinstance(config.get(KEY), dict)]

    def _rows_differ(a, b, labels):
        changed = _rows_or_target(a, b, labels)
        if answers and a.get("files", {}).get(answers) != b.get("files", {}).get(answers):
            changed.append(f"{answers} changed")
        return changed

    for path, fingerprint in known[1:]:
        changed = _rows_differ(known[0][1], fingerprint, ("in the first", "in this one"))
        if changed:
            raise UserError(f"{path} was made on other rows than {known[0][0]} ({'; '.join(changed)}): blend runs "
                            "made on the same training and test rows.")
    if known:
        changed = _rows_differ(known[0][1], current, ("then", "now"))
        if changed:
            raise UserError(f"the data in {data_dir} are not those {known[0][0]} was made on ({'; '.join(changed)}); "
                            "pass --data with the data the runs were made on.")


def check_resume(spec, run_dir: Path, config: dict) -> None:
    """Refuse to resume a run on data other than those it was made on."""
    data = load_data(spec, config)
    changed = differences(config[KEY], of(spec, data))
    if changed:
        raise UserError(f"--resume {run_dir}: the data in {data.data_dir} are not those the run was made on "
                        f"({'; '.join(changed)}); put the original files back, or start a new run without --resume.")


def check_same_data(parts: list[tuple[Path, dict]]) -> None:
    """Refuse partial runs (path, config) made on different data (those without a fingerprint are not compared)."""
    known = [(path, config[KEY]) for path, config in parts if config.get(KEY) is not None]
    for path, fingerprint in known[1:]:
        changed = differences(known[0][1], fingerprint, ("in the first", "in this one"))
        if changed:
            raise UserError(f"{path} was made on other data than {known[0][0]} ({'; '.join(changed)}): merge partial "
                            "runs made on the same data (rerun the folds of one of them on the data of the other).")


def check_current(parts: list[tuple[Path, dict]], current: dict, data_dir: Path) -> None:
    """Refuse runs that record no data fingerprint (nothing proves what they were made on), and data (``current``,
    the fingerprint of what is loaded now) other than those the runs were made on."""
    for path, config in parts:
        if config.get(KEY) is None:
            raise UserError(f"{path} records no data fingerprint, so nothing proves which data it was made on; "
                            "run it again with this version.")
    changed = differences(parts[0][1][KEY], current)
    if changed:
        raise UserError(f"the data in {data_dir} are not those {parts[0][0]} was made on ({'; '.join(changed)}); "
                        "pass --data with the data the runs were made on.")


def _counts(a: dict, b: dict, part: str, labels: tuple[str, str]) -> str:
    def count(fingerprint: dict) -> str:
        value = fingerprint.get(part)
        return str(value.get("count")) if isinstance(value, dict) else "none"

    return f"{count(a)} {labels[0]}, {count(b)} {labels[1]}"


def _text_sha256(values: pd.Series) -> str:
    return hashlib.sha256("\n".join(values).encode("utf-8", "surrogatepass")).hexdigest()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:  # listed in its folder but unreadable (a dangling link): still part of the listing
        return -1


def _image_listing(data, data_dir: Path) -> dict | None:
    """Count and sha256 of 'split, path inside the data folder, size' of every image the rows point at."""
    lines, prefix = [], str(data_dir) + os.sep
    for split, frame in (("train", data.train), ("test", data.test)):
        if "image_path" not in frame.columns:
            continue
        for path in frame["image_path"].astype(str):
            inside = path[len(prefix):] if path.startswith(prefix) else os.path.relpath(path, data_dir)
            lines.append(f"{split}\t{inside}\t{_size(path)}")
    if not lines:
        return None
    return {"count": len(lines), "sha256": _text_sha256(pd.Series(lines))}

"""Checked readers of the files read back from disk that a person may have edited, copied or replaced: a run
folder's arrays (``fold<k>/predictions.npz``, ``test_folds.npy``, ``oof_table.npy``) and weights files
(``--set weights``, a run's ``fold<k>/last.pt``). Nothing in them executes (arrays load without pickle, weights
with ``torch.load(weights_only=True)``), and their content is checked before it is used: the names, numbers
only, the shapes the run expects (from the header, before anything is allocated), finite values. Anything else
is ``Unreadable``: one line naming the file and what to do. A run's config.yaml and metrics.json are read by
``shared.runs.load_config`` / ``load_metrics``."""
from __future__ import annotations

import math
import pickle
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from shared.errors import UserError

Shape = tuple[int, ...]


class Unreadable(UserError):
    """A file read back whose content is not what this code wrote (``problem``), e.g. a foreign or cut-off file."""

    def __init__(self, file: Path, problem: str, fix: str, shown: str | None = None):
        super().__init__(f"{shown or file} {problem}; {fix}")
        self.file, self.problem = Path(file), problem


def read_arrays(file: Path, shapes: Callable[[str], Shape | None] | Mapping[str, Shape], fix: str,
                required: Iterable[str] = (), finite: bool = True) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (or the one array of an ``.npy``, under the name ``""``) as float arrays of the
    shapes ``shapes`` gives by name (a mapping, or a function returning None for a name that does not belong),
    the ``required`` names among them. Read without pickle; each array's header is checked before its data are
    read (a file claiming a billion rows allocates nothing). ``finite``: NaN refused too (infinities always are).
    ``fix``: what to do, in the one-line ``Unreadable``."""
    file = Path(file)
    shape_of = shapes.get if isinstance(shapes, Mapping) else shapes
    if not file.is_file():
        raise Unreadable(file, "is missing" if not file.exists() else "is not a file", fix)
    try:
        with open(file, "rb") as f:
            if file.suffix == ".npz" and not zipfile.is_zipfile(f):
                raise Unreadable(file, "is not an .npz archive (a cut-off, foreign or pickled file)", fix)
            if zipfile.is_zipfile(f):
                with zipfile.ZipFile(f) as archive:
                    members = archive.namelist()
                    foreign = [m for m in members if not m.endswith(".npy")]
                    if foreign:
                        raise Unreadable(file, f"holds {foreign[0]!r}, which is not an array", fix)
                    names = [m[:-len(".npy")] for m in members]
                    _check_names(file, names, shape_of, required, fix)
                    out = {}
                    for name, member in zip(names, members):
                        with archive.open(member) as stream:
                            out[name] = _read_one(file, name, stream, shape_of(name), fix)
            else:
                f.seek(0)  # is_zipfile read its end
                _check_names(file, [""], shape_of, required, fix)
                out = {"": _read_one(file, "", f, shape_of(""), fix)}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as exc:
        raise Unreadable(file, f"is not a complete array file of this code ({_why(exc)})", fix) from None
    for name, array in out.items():
        bad = np.isinf(array) | (np.isnan(array) if finite else False)
        if bad.any():
            raise Unreadable(file, f"holds {int(bad.sum())} non-finite value(s) in {name or 'its array'!r}", fix)
    return out


def _check_names(file: Path, names: list[str], shape_of, required: Iterable[str], fix: str) -> None:
    missing = [n for n in required if n not in names]
    if missing:
        raise Unreadable(file, f"lacks {missing} (it holds {names})", fix)
    foreign = [n for n in names if shape_of(n) is None]
    if foreign:
        raise Unreadable(file, f"holds {foreign} besides what this code writes", fix)


def _read_one(file: Path, name: str, stream, expected: Shape, fix: str) -> np.ndarray:
    """One array of ``stream`` (an .npy), its header checked first: numbers only, ``expected`` values in all
    (``(n,)`` and ``(n, 1)`` are the same column; a ``None`` in ``expected`` is any size, when the file's array
    has that many dimensions; a last ``...``: any further dimensions); returned as floats of shape ``expected``."""
    version = np.lib.format.read_magic(stream)
    header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = header(stream)
    what = repr(name) if name else "its array"
    if dtype.hasobject or dtype.kind not in "biuf":
        raise Unreadable(file, f"holds {dtype} values in {what}, not numbers", fix)
    if None in expected or ... in expected:  # sizes the run's tables do not say (detection's padded boxes)
        head = expected[:-1] if expected[-1] is ... else expected
        if len(shape) < len(head) or (len(shape) != len(head) and head is expected) or any(
                e is not None and e != n for e, n in zip(head, shape)):
            raise Unreadable(file, f"holds {what} of shape {tuple(shape)}, not {_shown(expected)} as this run has", fix)
        expected = tuple(shape)
    if math.prod(shape) != math.prod(expected) or (expected and tuple(shape[:1]) != tuple(expected[:1])):
        raise Unreadable(file, f"holds {what} of shape {tuple(shape)}, not {tuple(expected)} as this run has", fix)
    stream.seek(0)  # read_array reads the header again
    array = np.lib.format.read_array(stream, allow_pickle=False)
    return np.asarray(array, float).reshape(expected)


def _shown(shape: tuple) -> str:
    return "(" + ", ".join("any" if e is None else "..." if e is ... else str(e) for e in shape) + ")"


def _why(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def read_weights(file, setting: str = "--set weights") -> dict:
    """The tensors of a weights file (a ``torch.save`` of a state_dict, or of a checkpoint holding one under
    ``model`` / ``state_dict``; or ``.safetensors``), by name, without the wrappers' prefixes (``module.`` of
    DDP, ``_orig_mod.`` of torch.compile). Loaded with ``weights_only=True``: a pickle of other objects is refused
    and nothing in it runs. ``setting``: how the file was given, for the messages."""
    import torch

    path, shown = Path(file), f"{setting}={file}"
    fix = "pass a state_dict saved with torch.save (or a .safetensors file)"
    if path.is_dir():
        raise UserError(f"{setting}={file} is a folder: pass the weights file itself (.pt, .pth or .safetensors).")
    if not path.is_file():
        raise UserError(f"{setting}={file}: no such file. Download the weights where you are online (or add them "
                        "as a Kaggle dataset) and point to the file.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            loaded = load_file(str(path), device="cpu")
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise Unreadable(path, "holds objects other than tensors and plain values, which are never loaded (they "
                         "could run code)", fix, shown) from None
    except Exception as exc:  # not a torch file at all (text, a truncated download, another format)
        raise Unreadable(path, f"is not a weights file PyTorch reads ({_why(exc)})", fix, shown) from None
    for key in ("state_dict", "model"):  # a checkpoint: the network's state_dict inside it
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
    tensors = {} if not isinstance(loaded, Mapping) else {
        _unwrapped(str(k)): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise Unreadable(path, "holds no named tensors (a state_dict maps names to tensors)", fix, shown)
    return tensors


def _unwrapped(name: str) -> str:
    for prefix in ("_orig_mod.", "module.", "_orig_mod."):  # torch.compile around DDP, DDP, torch.compile
        name = name.removeprefix(prefix)
    return name

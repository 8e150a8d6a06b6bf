"""Output folders that a user may also keep their own files in (data folders, bundle folders): a command
writes into a folder that does not exist, an empty folder, or one holding an earlier output of the same
kind; anything else is refused unless ``force``.

An output is recognised by its marker file, ``.kaggle-templates.json``: its kind and the top-level entries
(files and folders) it wrote. The new output is built in a hidden sibling folder, so a failed command leaves
the folder as it was and nothing half-made behind. Then the earlier output's entries (those its marker
names) and, with ``force``, the entries of the same names as the new ones are moved aside, the new entries
moved in, and what was moved aside deleted. Nothing else in the folder is touched, and the folder itself is
never removed: a user's notes beside the data survive every rebuild."""
from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from shared.errors import UserError

MARKER = ".kaggle-templates.json"


def marker(folder: Path) -> dict | None:
    """The marker an earlier output left in ``folder``, or None (none, or unreadable)."""
    try:
        found = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or not isinstance(found.get("entries"), list):
        return None
    return found


def _earlier(folder: Path, kind: str) -> set[str]:
    """The entries an earlier output of this kind wrote into ``folder`` (empty when there is none)."""
    found = marker(folder)
    if found is None or found.get("kind") != kind:
        return set()
    return {name for name in found["entries"] if isinstance(name, str) and name and "/" not in name
            and name not in (".", "..", MARKER)}


def check(folder: Path, kind: str, force: bool = False, again: bool = True) -> Path:
    """Refuse, before anything is written, a ``folder`` this command may not write into: a file (or a path
    through one), or a folder holding files that are not an earlier ``kind`` (any files at all, when not
    ``again``), unless ``force``."""
    folder = Path(folder)
    for parent in [folder, *folder.parents]:
        if parent.is_symlink() and not parent.exists():
            raise UserError(f"{parent} is a link to nothing: remove it or pass --out another folder.")
        if parent.exists() and not parent.is_dir():
            raise UserError(f"{parent} is a file, not a folder: pass --out a folder (the {kind} is a folder "
                            "of files).")
        if parent.is_dir():
            break
    earlier = marker(folder) if folder.is_dir() else None
    if not folder.is_dir() or force or (again and earlier is not None and earlier.get("kind") == kind):
        return folder  # an earlier output: its files are replaced, the others kept (a clash is refused later)
    found = sorted(p.name for p in folder.iterdir() if p.name != MARKER)
    if found:
        shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
        what = f"files that are not an earlier {kind} ({shown})" if again else f"files ({shown})"
        raise UserError(f"{folder} already holds {what}; nothing was changed. Pass --out a new or empty folder, "
                        "or --force to replace the files of the same names (the others are kept).")
    return folder


@dataclass
class Staging:
    """The hidden folder an output is built in. ``root``: the folder whose entries become the output
    (``path`` unless set, e.g. to the one folder a download is wrapped in); ``keep``: leave it in place when
    the block fails (a download kept for a look)."""
    path: Path
    root: Path
    keep: bool = False


@contextmanager
def writing(folder: Path, kind: str, force: bool = False, again: bool = True, suffix: str = "partial",
            about: dict | None = None) -> Iterator[Staging]:
    """Check ``folder`` (see ``check``), build the output in a fresh hidden sibling folder, and when the block
    ends without error put it in place with its marker (``about``: more fields for the marker). On any error
    the staging folder (unless ``keep``) and the parent folders made for it are removed, and ``folder`` is as
    it was."""
    folder = Path(os.path.abspath(check(folder, kind, force=force, again=again)))  # "." has a parent too
    made = _make_parents(folder.parent)
    try:
        path = _new_folder(folder.parent, f".{folder.name}.{suffix}-")
    except OSError as exc:
        _remove_empty(made)
        raise UserError(f"cannot write into {folder.parent}: {exc.strerror}; make it writable or choose another "
                        "--out.") from None
    stage = Staging(path, path)
    try:
        yield stage
        _put_in_place(stage.root, folder, kind, force, dict(about or {}))
    except BaseException:
        if not stage.keep:
            shutil.rmtree(path, ignore_errors=True)
            _remove_empty(made)
        raise
    shutil.rmtree(path, ignore_errors=True)


def _new_folder(parent: Path, prefix: str) -> Path:
    """A new folder of a name no one else holds (created with the usual permissions, unlike mkdtemp's)."""
    while True:
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, deepest first."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {folder}: {exc.strerror}; choose another --out.") from None
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first; only folders this command created, and only while empty
        try:
            folder.rmdir()
        except OSError:
            return


def _put_in_place(built: Path, folder: Path, kind: str, force: bool, about: dict) -> None:
    """Move the entries of ``built`` (and a new marker) into ``folder``, replacing the earlier output's
    entries and, with ``force``, those of the same names; everything else in ``folder`` stays."""
    new = sorted(p.name for p in built.iterdir() if p.name != MARKER)
    (built / MARKER).write_text(json.dumps({"kind": kind, **about, "entries": new}, indent=2) + "\n",
                                encoding="utf-8")
    if not folder.exists():
        try:
            built.rename(folder)
        except OSError as exc:
            raise UserError(f"could not create {folder}: {exc.strerror}; choose another --out.") from None
        return
    ours = _earlier(folder, kind)
    present = {p.name for p in folder.iterdir()}
    clash = sorted(set(new) & present - ours)
    if clash and not force:
        raise UserError(f"{folder} holds {', '.join(clash)} of its own, which the {kind} would replace; nothing "
                        "was changed. Pass --out a new or empty folder, or --force to replace them.")
    try:
        aside = _new_folder(folder.parent, f".{folder.name}.old-")
    except OSError as exc:
        raise UserError(f"cannot write into {folder.parent}: {exc.strerror}; nothing was changed.") from None
    moved, placed = [], []
    try:
        for name in sorted((ours | set(clash) | {MARKER}) & present):
            os.rename(folder / name, aside / name)
            moved.append(name)
        for name in [*new, MARKER]:  # the marker last: an interrupted swap leaves no marker, so it is refused
            os.rename(built / name, folder / name)
            placed.append(name)
    except OSError as exc:
        try:
            for name in reversed(placed):
                os.rename(folder / name, built / name)
            for name in reversed(moved):
                os.rename(aside / name, folder / name)
        except OSError:
            raise UserError(f"could not replace the {kind} in {folder} ({exc.strerror}); the files it held are "
                            f"in {aside}.") from None
        aside.rmdir()
        raise UserError(f"could not replace the {kind} in {folder} ({exc.strerror}); nothing was changed.") from None
    shutil.rmtree(aside, ignore_errors=True)


def write_demo(spec, out: Path, force: bool = False, **options) -> Path:
    """Build the competition's demo into ``out`` (see ``writing``: an earlier demo there is replaced, real
    data only with ``force``) and return ``out``."""
    out = Path(out)
    with writing(out, "demo", force=force, about={"competition": spec.name, **options}) as stage:
        spec.make_demo(stage.path, **options)
    return out

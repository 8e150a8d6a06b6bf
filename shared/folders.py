"""Output folders that a user may also keep their own files in (data folders, bundle folders): a command
writes into a folder that does not exist, an empty folder, or one holding an earlier output of the same
kind; anything else is refused unless ``force``.

An output is recognised by its marker file, ``.kaggle-templates.json``: its kind, the top-level entries (files
and folders) it wrote, the sha256 of each entry's content, and a checksum of the marker itself. A name is not
enough: an entry of the earlier output is replaced only while its content is still what was written (a user's
real ``train.csv`` copied over the demo's is theirs), and a marker that is damaged, edited or of an older
version vouches for nothing. The new output is built in a hidden sibling folder, so a failed command leaves
the folder as it was and nothing half-made behind; that folder holds a lock while it is built, so that one left
by a killed command is recognised, and removed, by the next. Then the earlier output's unchanged entries and,
with ``force``, the entries of the same names as the new ones are moved aside, the new entries moved in, and
what was moved aside deleted. Nothing else in the folder is touched, and the folder itself is never removed: a
user's notes beside the data survive every rebuild."""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from shared.errors import UserError
from shared.io import file_sha256

try:
    import fcntl
except ImportError:  # no advisory locks (Windows): half-made folders of killed commands are left alone
    fcntl = None

MARKER = ".kaggle-templates.json"
LOCK = ".kaggle-templates.building"  # in a staging folder, locked while its command runs


def digest(path: Path) -> str | None:
    """The sha256 of an entry's content: a file's bytes, or a folder's files and subfolders (each one's path
    inside it and bytes, in name order); None for anything else (a link, a device)."""
    path = Path(path)
    if path.is_symlink():
        return None
    if path.is_file():
        return file_sha256(path)
    if not path.is_dir():
        return None
    tree = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(dirs + files):
            full = Path(root) / name
            rel = full.relative_to(path).as_posix()
            if full.is_symlink() or not (full.is_dir() or full.is_file()):
                return None
            tree.update(f"{rel}/\n".encode() if full.is_dir() else f"{rel}\0{file_sha256(full)}\n".encode())
    return tree.hexdigest()


def _checksum(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()


def marker(folder: Path) -> dict | None:
    """The marker an earlier output left in ``folder``, or None: none, or one that vouches for nothing
    (unreadable, not ours, edited by hand, or of a version that did not record its entries' content)."""
    try:
        found = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or not isinstance(found.get("kind"), str):
        return None
    entries, digests = found.get("entries"), found.get("digests")
    if not isinstance(entries, list) or not isinstance(digests, dict) or set(map(str, entries)) != set(digests):
        return None
    if found.get("checksum") != _checksum({k: v for k, v in found.items() if k != "checksum"}):
        return None
    return found


def _recorded(folder: Path, kind: str) -> dict[str, str]:
    """The entries an earlier output of this kind wrote into ``folder`` and are still there: name -> the digest
    written (empty when there is none)."""
    found = marker(folder)
    if found is None or found["kind"] != kind:
        return {}
    return {name: sha for name, sha in found["digests"].items()
            if name and "/" not in name and name not in (".", "..", MARKER, LOCK)
            and os.path.lexists(Path(folder) / name)}


def _earlier(folder: Path, kind: str) -> tuple[set[str], list[str]]:
    """(the earlier output's entries whose content is still what it wrote, those changed since)."""
    recorded = _recorded(folder, kind)
    same = {name for name, sha in recorded.items() if isinstance(sha, str) and digest(Path(folder) / name) == sha}
    return same, sorted(set(recorded) - same)


def check(folder: Path, kind: str, force: bool = False, again: bool = True) -> Path:
    """Refuse, before anything is written, a ``folder`` this command may not write into: a file (or a path
    through one), or a folder holding files that are not an earlier ``kind`` (any files at all, when not
    ``again``) or an earlier ``kind`` whose files changed since, unless ``force``."""
    folder = Path(folder)
    for parent in [folder, *folder.parents]:
        if parent.is_symlink() and not parent.exists():
            raise UserError(f"{parent} is a link to nothing: remove it or pass --out another folder.")
        if parent.exists() and not parent.is_dir():
            raise UserError(f"{parent} is a file, not a folder: pass --out a folder (the {kind} is a folder "
                            "of files).")
        if parent.is_dir():
            break
    if not folder.is_dir() or force:
        return folder
    earlier = marker(folder)
    if again and earlier is None and _older_marker(folder, kind):
        return folder  # its files are replaced only where the new output's are byte for byte the same
    if again and earlier is not None and earlier["kind"] == kind:
        changed = _earlier(folder, kind)[1]
        if changed:  # the everyday case: the real data unzipped over a demo, then `make demo` again
            raise UserError(f"{folder / changed[0]} is not the file the earlier {kind} wrote (it changed since: your "
                            f"own data?); nothing was changed. Pass --out a new or empty folder, or --force to "
                            "replace it (the files of other names are kept).")
        return folder  # an earlier output: its files are replaced, the others kept (a clash is refused later)
    found = sorted(p.name for p in folder.iterdir() if p.name != MARKER)
    if found:
        shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
        what = f"files that are not an earlier {kind} ({shown})" if again else f"files ({shown})"
        vouch = (f" (its {MARKER} vouches for none of them: damaged, edited, or of an older version)"
                 if again and earlier is None and (folder / MARKER).exists() else "")
        raise UserError(f"{folder} already holds {what}{vouch}; nothing was changed. Pass --out a new or empty folder, "
                        "or --force to replace the files of the same names (the others are kept).")
    return folder


def _older_marker(folder: Path, kind: str) -> bool:
    """Whether ``folder`` holds the marker of an older version (entries named, their content not recorded) of
    this ``kind``: it vouches for nothing, but a file the new output writes byte for byte the same is no loss."""
    try:
        found = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(found, dict) and found.get("kind") == kind and "digests" not in found \
        and isinstance(found.get("entries"), list)


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
    it was. Staging folders that commands killed while building left beside ``folder`` are removed first."""
    folder = Path(os.path.abspath(check(folder, kind, force=force, again=again)))  # "." has a parent too
    made = _make_parents(folder.parent)
    remove_abandoned(folder)
    path = None
    try:
        path = _new_folder(folder.parent, f".{folder.name}.{suffix}-")
        lock = _hold(path / LOCK)
    except OSError as exc:
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
        _remove_empty(made)
        raise UserError(f"cannot write into {folder.parent}: {exc.strerror}; make it writable or choose another "
                        "--out.") from None
    stage = Staging(path, path)
    try:
        yield stage
        _put_in_place(stage.root, folder, kind, force, dict(about or {}))
    except BaseException:
        if stage.keep:
            (path / LOCK).unlink(missing_ok=True)  # kept for a look: no longer a half-made folder to remove
        else:
            shutil.rmtree(path, ignore_errors=True)
            _remove_empty(made)
        raise
    finally:
        os.close(lock)
    shutil.rmtree(path, ignore_errors=True)


def _hold(path: Path) -> int:
    """Create ``path`` and hold an exclusive lock on it until the descriptor is closed (or the process ends,
    however it ends)."""
    fresh = path.with_name(path.name + ".new")  # locked before it has the name others look for
    fd = os.open(fresh, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.rename(fresh, path)
    return fd


def remove_abandoned(folder: Path) -> list[Path]:
    """Remove the staging folders beside ``folder`` that a command killed while building left: hidden folders
    named after it that hold our lock file, which no running command holds. Anything else is left alone (a
    download kept for a look, set-aside files, a folder of someone else's). The ones removed."""
    if fcntl is None:
        return []
    removed = []
    ours = re.compile(rf"\.{re.escape(Path(folder).name)}\.[a-z]+-[0-9a-f]{{8}}")  # as _new_folder names them
    for path in Path(folder).parent.glob(f".{Path(folder).name}.*-*"):
        lock = path / LOCK
        if not ours.fullmatch(path.name) or path.is_symlink() or not path.is_dir() or lock.is_symlink() \
                or not lock.is_file():
            continue
        try:
            fd = os.open(lock, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its command is still building
        except OSError:
            os.close(fd)
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed


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
    new = sorted(p.name for p in built.iterdir() if p.name not in (MARKER, LOCK))
    fields = {"kind": kind, **about, "entries": new, "digests": {name: digest(built / name) for name in new}}
    (built / MARKER).write_text(json.dumps({**fields, "checksum": _checksum(fields)}, indent=2) + "\n",
                                encoding="utf-8")
    if not folder.exists():
        (built / LOCK).unlink(missing_ok=True)  # the staging folder becomes the output: no longer half-made
        try:
            built.rename(folder)
        except OSError as exc:
            raise UserError(f"could not create {folder}: {exc.strerror}; choose another --out.") from None
        return
    ours = _earlier(folder, kind)[0]  # an entry changed since it was written is the user's now
    present = {p.name for p in folder.iterdir()}
    same = {name for name in set(new) & present - ours if digest(folder / name) == fields["digests"][name]}
    clash = sorted(set(new) & present - ours - same)  # the same bytes again are no loss (an older marker's)
    if clash and not force:
        raise UserError(f"{folder} holds {', '.join(clash)} of its own, which the {kind} would replace; nothing "
                        "was changed. Pass --out a new or empty folder, or --force to replace them.")
    try:
        aside = _new_folder(folder.parent, f".{folder.name}.old-")
    except OSError as exc:
        raise UserError(f"cannot write into {folder.parent}: {exc.strerror}; nothing was changed.") from None
    moved, placed = [], []
    try:
        for name in sorted((ours | same | set(clash) | {MARKER}) & present):
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

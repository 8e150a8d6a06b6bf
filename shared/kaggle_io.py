"""Kaggle through its official ``kaggle`` package: credentials, downloading a competition's files into
``data/<competition>/`` (unpacked, ``.7z`` archives too, and checked against the competition's layout), and
submitting a validated file.

``import kaggle`` authenticates at import time and prints a help text (or exits) when no credentials exist,
so this module imports the API class only, and only after it has found credentials itself."""
from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shared import fingerprint, folders
from shared.cli import DEFAULT_FOLDS
from shared.errors import UserError

TOKEN_PAGE = "https://www.kaggle.com/settings/api"
HOW_TO_AUTHENTICATE = (
    f"no Kaggle credentials found: create an API token at {TOKEN_PAGE} (\"Generate New Token\") and either "
    "export KAGGLE_API_TOKEN=<token> or save it to ~/.kaggle/access_token; a legacy kaggle.json key also works "
    "(~/.kaggle/kaggle.json, $KAGGLE_CONFIG_DIR/kaggle.json, or KAGGLE_USERNAME and KAGGLE_KEY), as does "
    "`kaggle auth login`."
)
ARCHIVES = (".zip", ".7z")


def find_credentials(env: dict | None = None, home: Path | None = None) -> str | None:
    """Where the ``kaggle`` package would find credentials, in its own order, or None: an API token
    (``KAGGLE_API_TOKEN``, its value or a file it names; ``~/.kaggle/access_token[.txt]``), a legacy key
    (``KAGGLE_USERNAME`` + ``KAGGLE_KEY``; ``kaggle.json`` in ``$KAGGLE_CONFIG_DIR``, ``~/.kaggle`` or
    ``$XDG_CONFIG_HOME/kaggle``), or the OAuth credentials ``kaggle auth login`` caches."""
    env = os.environ if env is None else env
    home = Path(home) if home is not None else Path.home()
    kaggle_dir = home / ".kaggle"
    if env.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    for name in ("access_token", "access_token.txt"):
        if _non_empty(kaggle_dir / name):
            return str(kaggle_dir / name)
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME and KAGGLE_KEY"
    legacy = config_dir(env, home) / "kaggle.json"
    if _non_empty(legacy):
        return str(legacy)
    if _non_empty(kaggle_dir / "credentials.json"):
        return str(kaggle_dir / "credentials.json")
    return None


def config_dir(env: dict | None = None, home: Path | None = None) -> Path:
    """The folder of ``kaggle.json`` as the package finds it: ``$KAGGLE_CONFIG_DIR``, else ``~/.kaggle`` when it
    exists, else ``$XDG_CONFIG_HOME/kaggle`` (``~/.config/kaggle``)."""
    env = os.environ if env is None else env
    home = Path(home) if home is not None else Path.home()
    if env.get("KAGGLE_CONFIG_DIR"):
        return Path(env["KAGGLE_CONFIG_DIR"])
    if (home / ".kaggle").exists():
        return home / ".kaggle"
    return Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"


def _non_empty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def connect():
    """An authenticated ``KaggleApi``, or a one-line UserError saying how to get credentials. The package's own
    help text (printed when it imports and when authentication fails) is kept off the output."""
    source = find_credentials()
    if source is None:
        raise UserError(HOW_TO_AUTHENTICATE)
    unusable = (f"the Kaggle credentials in {source} are unusable (expired, revoked or malformed): create a new "
                f"API token at {TOKEN_PAGE}.")
    with contextlib.redirect_stdout(io.StringIO()):
        try:  # importing the package's module imports `kaggle`, which tries to authenticate at once
            from kaggle.api.kaggle_api_extended import KaggleApi

            client = KaggleApi()
            client.authenticate()
        except SystemExit:  # every method failed: the package printed its help and called exit()
            raise UserError(unusable) from None
        except Exception as exc:  # a token is checked online: no network, or the server said no
            if type(exc).__module__.split(".")[0] in ("requests", "urllib3", "socket"):
                raise UserError(f"could not reach Kaggle to check the credentials in {source} "
                                f"({type(exc).__name__}); check the connection and retry.") from None
            raise
    return client


def api_error(exc: Exception, slug: str, action: str) -> UserError:
    """The HTTP failure of an API call as one line that says what to do."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status is None:
        found = re.search(r"\b(401|403|404|429)\b", str(exc))
        status = int(found.group(1)) if found else None
    page = f"https://www.kaggle.com/competitions/{slug}"
    if status == 403:
        return UserError(f"Kaggle refused to {action} {slug} (403): accept the competition's rules at {page}/rules "
                         "with the account of your token, then run this again.")
    if status == 401:
        return UserError(f"Kaggle rejected the credentials (401) while trying to {action} {slug}: "
                         f"create a new token at {TOKEN_PAGE}.")
    if status == 404:
        return UserError(f"Kaggle knows no competition {slug!r} (404); check the slug at {page}.")
    if status == 429:
        return UserError(f"Kaggle is rate-limiting this account (429) while trying to {action} {slug}; wait and retry.")
    return UserError(f"could not {action} {slug}: {type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------------------------------- download

def download(spec, dest: Path, force: bool = False, client=None) -> Path:
    """Download the competition's files into ``dest``, unpack them and check the layout. The files land in a
    hidden sibling folder first; ``dest`` gets them only once they are complete and checked. A folder that
    already holds files is refused unless ``force``; then the files of the same names and those of an earlier
    download are replaced, and the others kept (see shared.folders)."""
    dest = Path(dest)
    if not spec.on_kaggle:
        raise UserError(f"{spec.name} is not a Kaggle competition: its real data come with this project; build them "
                        f"with `python scripts/make_demo.py {spec.name} --size full`.")
    with folders.writing(dest, "download", force=force, again=False, suffix="download",
                         about={"competition": spec.slug}) as stage:
        client = client or connect()
        try:
            with contextlib.redirect_stdout(sys.stderr):  # its "Downloading ..." lines: stdout is the data folder
                client.competition_download_files(spec.slug, path=str(stage.path), quiet=False)
        except Exception as exc:
            raise api_error(exc, spec.slug, "download") from None
        unpack_all(stage.path)
        stage.root = layout_root(spec, stage.path)
        try:
            check_layout(spec, stage.root)
        except UserError as exc:
            stage.keep = True
            raise UserError(f"{exc} The download is kept in {stage.path} for a look; {dest} is unchanged.") from None
    return dest


def unpack(archive: Path, into: Path) -> None:
    """Extract a .zip or .7z archive into ``into``, refusing members that would land outside it."""
    archive, into = Path(archive), Path(into)
    into.mkdir(parents=True, exist_ok=True)
    root = into.resolve()
    try:
        if archive.suffix.lower() == ".zip":
            with zipfile.ZipFile(archive) as z:
                names = z.namelist()
                _inside(root, names, archive)
                z.extractall(into)
        elif archive.suffix.lower() == ".7z":
            import py7zr

            with py7zr.SevenZipFile(archive) as z:
                _inside(root, z.getnames(), archive)
                z.extractall(into)
        else:
            raise UserError(f"{archive}: not a .zip or .7z archive.")
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise UserError(f"no space left on the disk of {into} while extracting {archive}; free space and "
                            "run again.") from None
        raise UserError(f"{archive} is damaged or incomplete ({exc}); download it again.") from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{archive} is damaged or incomplete ({exc}); download it again.") from None
    except Exception as exc:  # py7zr's own errors (Bad7zFile, CrcError, ...)
        if type(exc).__module__.startswith("py7zr"):
            raise UserError(f"{archive} is damaged or incomplete ({type(exc).__name__}: {exc}); "
                            "download it again.") from None
        raise


def _inside(root: Path, names: list[str], archive: Path) -> None:
    for name in names:
        if not (root / name).resolve().is_relative_to(root):
            raise UserError(f"{archive}: member {name!r} would be written outside {root}; not extracting it.")


def unpack_all(folder: Path) -> None:
    """Extract every archive in ``folder`` (and those that extraction brings, like CIFAR-10's train.7z inside
    the competition zip) next to itself, deleting each archive once it is extracted."""
    folder = Path(folder)
    for _ in range(5):  # archives inside archives, a few levels at most
        archives = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in ARCHIVES)
        if not archives:
            return
        for archive in archives:
            unpack(archive, archive.parent)
            archive.unlink()


def layout_root(spec, folder: Path) -> Path:
    """The folder that holds the competition's files: ``folder`` itself, or the one subfolder (at most two levels
    down) that holds its training file, as some downloads wrap everything in a folder."""
    folder = Path(folder)
    if (folder / spec.train_file).exists():
        return folder
    found = sorted({p.parent for p in folder.glob(f"*/{spec.train_file}")} |
                   {p.parent for p in folder.glob(f"*/*/{spec.train_file}")})
    return found[0] if len(found) == 1 else folder


def missing_files(spec, data_dir: Path) -> list[str]:
    data_dir = Path(data_dir)
    return [item for item in spec.layout()
            if not ((data_dir / item).is_dir() if item.endswith("/") else (data_dir / item).is_file())]


def check_layout(spec, data_dir: Path, n_folds: int = DEFAULT_FOLDS) -> None:
    """One line naming everything the competition's layout lacks in ``data_dir``; then what a run with its default
    settings (and ``n_folds`` folds) refuses in the data: the same reading and checks of files, columns, ids and
    target, the data fingerprint it records, and every image decoded as training decodes it."""
    data_dir = Path(data_dir)
    missing = missing_files(spec, data_dir)
    if missing:
        present = sorted(p.name + ("/" if p.is_dir() else "") for p in data_dir.iterdir())[:12] if data_dir.is_dir() else []
        raise UserError(f"{data_dir} is not the {spec.title or spec.name} layout: missing {missing} "
                        f"(found {present}); expected {spec.layout()}.")
    from shared.runner import read_data

    data = read_data(spec, data_dir, {}, n_folds)[0]
    fingerprint.of(spec, data)
    images = [path for frame in (data.train, data.test) if "image_path" in frame.columns
              for path in frame["image_path"].astype(str).unique()]
    if images:
        from shared.vision.images import load_rgb

        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:  # decoding releases the GIL
            for _ in pool.map(load_rgb, images):
                pass


# ---------------------------------------------------------------------------------------------------- submit

def check_submission(spec, file: Path, data_dir: Path, predict: str = "test") -> None:
    """Validate a submission file against the competition's data before anything is sent."""
    file = Path(file)
    if not file.is_file():
        raise UserError(f"{file} does not exist; pass the submission file a run wrote (its run directory's "
                        "submission.csv or submission.zip).")
    spec.outputs.check_submission(file, spec.load_run_data(Path(data_dir), {"predict": predict}))


def submit(spec, file: Path, message: str, client=None) -> str:
    """Send a (validated) file; the API's answer as a line. Competitions scored off Kaggle say what to do."""
    if spec.submit_note:
        return f"{file} is valid. {spec.submit_note}"
    client = client or connect()
    try:
        response = client.competition_submit(str(file), message, spec.slug, quiet=False)
    except Exception as exc:
        raise api_error(exc, spec.slug, "submit to") from None
    answer = getattr(response, "message", None) or str(response)
    if answer == getattr(type(client), "COMPETITION_SUBMIT_UPLOAD_FAILED_MESSAGE", None) or "Could not submit" in answer:
        raise UserError(f"Kaggle did not take {file} ({answer}); check the file's size and the competition's daily "
                        "submission limit, then retry.")
    return (f"submitted {file} to {spec.slug}: {answer}; see "
            f"https://www.kaggle.com/competitions/{spec.slug}/submissions")


PAGE_SIZE = 100  # submissions asked for at a time
MAX_PAGES = 10  # --fetch reads at most PAGE_SIZE * MAX_PAGES submissions, the newest first


def submissions(spec, client=None) -> list[dict]:
    """The competition's submissions of this account, newest first, each as text: ref, file_name, date (UTC,
    ``YYYY-MM-DD HH:MM:SS``), description, status (pending, complete, or ``error: why``), public_score and
    private_score (empty until Kaggle shows them)."""
    client = client or connect()
    found: list[dict] = []
    for page in range(1, MAX_PAGES + 1):
        try:
            listed = client.competition_submissions(spec.slug, page_number=page, page_size=PAGE_SIZE) or []
        except Exception as exc:
            raise api_error(exc, spec.slug, "list the submissions of") from None
        found += [_submission(s) for s in listed if s is not None]
        if len(listed) < PAGE_SIZE:
            break
    return found


def _submission(sub) -> dict:
    """One submission of the API (an object with snake_case or camelCase fields, or a dict) as text."""
    def get(snake: str, camel: str):
        if isinstance(sub, dict):
            return sub.get(snake, sub.get(camel))
        return getattr(sub, snake, getattr(sub, camel, None))

    status = get("status", "status")
    status = getattr(status, "name", status)  # an enum in the current package, text in older ones
    status = str(status or "").lower().removeprefix("submissionstatus.")
    why = get("error_description", "errorDescription")
    if status == "error" and why:
        status = f"error: {' '.join(str(why).split())}"
    return {"ref": str(get("ref", "ref") or ""), "file_name": str(get("file_name", "fileName") or ""),
            "date": _utc(get("date", "date")), "description": str(get("description", "description") or ""), "status": status,
            "public_score": _text(get("public_score", "publicScore")),
            "private_score": _text(get("private_score", "privateScore"))}


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _utc(value) -> str:
    """A date of the API (a datetime, naive meaning UTC, or ISO text) as ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    import pandas as pd

    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return ""
    if stamp is pd.NaT:
        return ""
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.strftime("%Y-%m-%d %H:%M:%S")

"""Kaggle integration up to the network: credentials, the API calls we make (a fake client), unpacking
archives into the competition layouts, layout errors, submission checks, the offline kernel bundle (run from a
clean folder with only the bundle on sys.path), and every notebook executed end to end on tiny demo data (these two
are in the integration tier)."""
from __future__ import annotations

import json
import shutil
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, assert_user_error, make_wheel, run_cli, snapshot

import competitions
from shared import kaggle_io, kernel, notebook
from shared.errors import UserError
from shared.folders import MARKER


def _clear_credentials(monkeypatch, home: Path):
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))


# ---------------------------------------------------------------------------------------------- credentials

@pytest.mark.parametrize("form", ["token_env", "token_file", "token_txt", "legacy_env", "kaggle_json",
                                  "config_dir", "xdg", "oauth"])
def test_every_credential_form_is_found(tmp_path, form):
    home = tmp_path / "home"
    if form != "xdg":  # the package reads the XDG folder only when ~/.kaggle does not exist
        (home / ".kaggle").mkdir(parents=True)
    env = {}
    expected = {
        "token_env": lambda: env.update(KAGGLE_API_TOKEN="KGAT_abc") or "KAGGLE_API_TOKEN",
        "token_file": lambda: (home / ".kaggle/access_token").write_text("KGAT_abc") and str(home / ".kaggle/access_token"),
        "token_txt": lambda: (home / ".kaggle/access_token.txt").write_text("t") and str(home / ".kaggle/access_token.txt"),
        "legacy_env": lambda: env.update(KAGGLE_USERNAME="a", KAGGLE_KEY="b") or "KAGGLE_USERNAME and KAGGLE_KEY",
        "kaggle_json": lambda: (home / ".kaggle/kaggle.json").write_text('{"username":"a","key":"b"}')
        and str(home / ".kaggle/kaggle.json"),
        "config_dir": lambda: ((tmp_path / "cfg").mkdir(), env.update(KAGGLE_CONFIG_DIR=str(tmp_path / "cfg")),
                               (tmp_path / "cfg/kaggle.json").write_text("{}")) and str(tmp_path / "cfg/kaggle.json"),
        "xdg": lambda: ((tmp_path / "x/kaggle").mkdir(parents=True), env.update(XDG_CONFIG_HOME=str(tmp_path / "x")),
                        (tmp_path / "x/kaggle/kaggle.json").write_text("{}")) and str(tmp_path / "x/kaggle/kaggle.json"),
        "oauth": lambda: (home / ".kaggle/credentials.json").write_text("{}") and str(home / ".kaggle/credentials.json"),
    }[form]()
    assert kaggle_io.find_credentials(env, home) == expected
    assert kaggle_io.find_credentials({}, tmp_path / "nobody") is None


def test_download_without_credentials_says_how_to_get_them(tmp_path, monkeypatch):
    _clear_credentials(monkeypatch, tmp_path / "home")
    with pytest.raises(UserError, match="KAGGLE_API_TOKEN.*access_token.*kaggle.json"):
        kaggle_io.connect()
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(name, "")  # set but empty is no credential either
    rc, out, err = run_cli("download", "house_prices", "--out", tmp_path / "d")
    line = assert_user_error(rc, err)
    assert "https://www.kaggle.com/settings/api" in line and not (tmp_path / "d").exists()
    assert not list(tmp_path.glob(".d.*"))


def test_unusable_credentials_are_one_quiet_error(tmp_path, monkeypatch, capsys):
    _clear_credentials(monkeypatch, tmp_path / "home")
    (tmp_path / "home" / ".kaggle").mkdir(parents=True)
    (tmp_path / "home" / ".kaggle" / "kaggle.json").write_text("{}")  # found, but holds no key
    with pytest.raises(UserError, match=r"kaggle\.json are unusable .* create a new API token"):
        kaggle_io.connect()
    assert capsys.readouterr().out == ""  # the package's help text is kept off the output


def test_legacy_credentials_authenticate_quietly(tmp_path, monkeypatch, capsys):
    _clear_credentials(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("KAGGLE_USERNAME", "alice")
    monkeypatch.setenv("KAGGLE_KEY", "0123456789abcdef")
    client = kaggle_io.connect()  # no network: a legacy key is only read
    assert client.config_values["username"] == "alice"
    assert capsys.readouterr().out == ""
    assert kernel.kaggle_user() == "alice"


# ---------------------------------------------------------------------------------------------- download

class FakeApi:
    """Stands in for KaggleApi: 'downloads' a local archive, or fails like the API does."""

    def __init__(self, archive: Path | None = None, status: int | None = None, answer="Successfully submitted"):
        self.archive, self.status, self.answer, self.calls = archive, status, answer, []

    def competition_download_files(self, competition, path=None, quiet=True, **_):
        self.calls.append(("download", competition, path))
        if self.status:
            raise _HTTPError(self.status)
        shutil.copy(self.archive, Path(path) / f"{competition}.zip")

    def competition_submit(self, file_name, message, competition, quiet=False):
        self.calls.append(("submit", file_name, message, competition))
        return type("Response", (), {"message": self.answer})()


class _HTTPError(Exception):
    def __init__(self, status):
        super().__init__(f"{status} Client Error")
        self.response = type("Response", (), {"status_code": status})()


def _zip_folder(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, prefix + str(p.relative_to(folder)))
    return archive


def test_download_unpacks_and_checks_the_layout(demo_dir, tmp_path):
    spec = competitions.get("house_prices")
    archive = _zip_folder(demo_dir, tmp_path / "hp.zip")
    fake = FakeApi(archive)
    out = kaggle_io.download(spec, tmp_path / "data" / "house_prices", client=fake)
    [(call, slug, where)] = fake.calls
    assert (call, slug) == ("download", spec.slug) and Path(where).name.startswith(".house_prices.download-")
    assert sorted(p.name for p in out.iterdir()) == sorted([*(p.name for p in demo_dir.iterdir()), MARKER])
    assert not list((tmp_path / "data").glob(".house_prices.*"))
    with pytest.raises(UserError, match="already holds files .*--force"):
        kaggle_io.download(spec, out, client=fake)
    assert kaggle_io.download(spec, out, client=fake, force=True) == out


def _packed_cifar(demos, tmp_path: Path) -> tuple[Path, Path]:
    """The CIFAR-10 tiny demo, and a copy packed as Kaggle attaches it: train.7z and test.7z beside the csvs."""
    import py7zr

    demo = demos("cifar10")
    packed = tmp_path / "packed"
    packed.mkdir()
    for split in ("train", "test"):
        with py7zr.SevenZipFile(packed / f"{split}.7z", "w") as z:
            z.writeall(demo / split, split)
    for name in ("trainLabels.csv", "sampleSubmission.csv"):
        shutil.copy(demo / name, packed / name)
    return demo, packed


def test_cifar_7z_archives_inside_the_zip_become_train_and_test(demos, tmp_path):
    spec = competitions.get("cifar10")
    demo, packed = _packed_cifar(demos, tmp_path)
    archive = _zip_folder(packed, tmp_path / "cifar-10.zip", prefix="cifar-10/")  # wrapped in a folder too
    out = kaggle_io.download(spec, tmp_path / "data" / "cifar10", client=FakeApi(archive))
    assert kaggle_io.missing_files(spec, out) == []
    assert sorted(p.name for p in (out / "train").iterdir()) == sorted(p.name for p in (demo / "train").iterdir())
    assert not list(out.rglob("*.7z"))


def test_notebook_extracts_attached_7z_into_working(demos, tmp_path, monkeypatch):
    spec = competitions.get("cifar10")
    demo, packed = _packed_cifar(demos, tmp_path)
    inputs, working = tmp_path / "input", tmp_path / "working"
    shutil.copytree(packed, inputs / spec.slug)
    monkeypatch.setenv("KAGGLE_INPUT", str(inputs))
    monkeypatch.setenv("KAGGLE_WORKING", str(working))
    monkeypatch.setenv("KAGGLE_TEMP", str(tmp_path / "temp"))
    before = snapshot(inputs)
    data_dir, out_root = notebook.prepare(competitions.get("cifar10"))
    # extracted where the notebook's saved output does not grow; runs go to the output folder
    assert data_dir == tmp_path / "temp" / "data" / "cifar10" and out_root == working / "runs"
    assert kaggle_io.missing_files(spec, data_dir) == []
    assert len(spec.load(data_dir).train) == len(spec.load(demo).train)
    assert snapshot(inputs) == before  # the read-only input is left as it was


def test_layout_errors_name_every_missing_file(demos, tmp_path):
    spec = competitions.get("classify_leaves")
    demo = Path(shutil.copytree(demos("classify_leaves"), tmp_path / "leaves"))
    shutil.rmtree(demo / "images")
    (demo / "sample_submission.csv").unlink()
    with pytest.raises(UserError, match=r"missing \['sample_submission.csv', 'images/'\]"):
        kaggle_io.check_layout(spec, demo)
    cowboy = competitions.get("cowboy_outfits")
    assert cowboy.layout() == ["train.json", "test.csv", "valid.csv", "images/"]
    rc, _, err = run_cli("download", "cowboy_outfits", "--check", tmp_path / "leaves")
    assert "missing ['train.json', 'valid.csv', 'images/']" in assert_user_error(rc, err)


def test_a_failed_download_keeps_the_old_files(demo_dir, tmp_path):
    spec = competitions.get("house_prices")
    dest = tmp_path / "house_prices"
    shutil.copytree(demo_dir, dest)
    before = snapshot(dest)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "train.csv").write_text("Id,SalePrice\n1,2\n")
    with pytest.raises(UserError, match=r"missing \['test.csv', 'sample_submission.csv'\].*is unchanged"):
        kaggle_io.download(spec, dest, force=True, client=FakeApi(_zip_folder(tmp_path / "bad", tmp_path / "b.zip")))
    with pytest.raises(UserError, match=r"accept the competition's rules at https://www.kaggle.com/competitions/"
                                        r"house-prices-advanced-regression-techniques/rules"):
        kaggle_io.download(spec, dest, force=True, client=FakeApi(status=403))
    with pytest.raises(UserError, match="rejected the credentials"):
        kaggle_io.download(spec, dest, force=True, client=FakeApi(status=401))
    assert snapshot(dest) == before


def test_damaged_and_escaping_archives_are_refused(tmp_path):
    (tmp_path / "cut.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserError, match="cut.zip is damaged or incomplete"):
        kaggle_io.unpack(tmp_path / "cut.zip", tmp_path / "x")
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as z:
        z.writestr("../escape.txt", "no")
    with pytest.raises(UserError, match="outside"):
        kaggle_io.unpack(tmp_path / "evil.zip", tmp_path / "y")
    assert not (tmp_path / "escape.txt").exists()


# ---------------------------------------------------------------------------------------------- submit

def test_submit_validates_then_sends(demo_dir, tmp_path):
    spec = competitions.get("house_prices")
    sample = (demo_dir / "sample_submission.csv").read_text()
    good = tmp_path / "submission.csv"
    good.write_text(sample)
    kaggle_io.check_submission(spec, good, demo_dir)
    fake = FakeApi()
    assert "Successfully submitted" in kaggle_io.submit(spec, good, "msg", client=fake)
    assert fake.calls == [("submit", str(good), "msg", spec.slug)]
    with pytest.raises(UserError, match="Kaggle did not take"):
        kaggle_io.submit(spec, good, "msg", client=FakeApi(answer="Could not submit to competition"))
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(sample.splitlines()[:-1]) + "\n")  # one test id short
    rc, _, err = run_cli("submit", "house_prices", bad, "-m", "x", "--data", demo_dir)
    assert "bad.csv" in assert_user_error(rc, err)
    rc, out, err = run_cli("submit", "house_prices", good, "--dry-run", "--data", demo_dir)
    assert rc == 0 and "valid house_prices submission" in out


def test_cowboy_submission_is_checked_and_not_sent(demos, tmp_path):
    from shared.detection import submission as boxes

    spec = competitions.get("cowboy_outfits")
    demo = demos("cowboy_outfits")
    data = spec.load(demo)
    image = data.test.iloc[0]
    detections = [{"image_id": image["id"], "category_id": 87, "bbox": [1.0, 2.0, 10.0, 12.0], "score": 0.5}]
    boxes.write(tmp_path / "submission.zip", detections, data.test, spec.categories)
    kaggle_io.check_submission(spec, tmp_path / "submission.zip", demo)
    fake = FakeApi(status=500)
    line = kaggle_io.submit(spec, tmp_path / "submission.zip", "", client=fake)
    assert "scored off Kaggle" in line and "upload the zip" in line and fake.calls == []
    detections[0]["category_id"] = 5
    boxes_json = tmp_path / "answer.json"
    boxes_json.write_text(json.dumps(detections))
    with pytest.raises(UserError, match="category"):
        kaggle_io.check_submission(spec, boxes_json, demo)


# ---------------------------------------------------------------------------------------------- kernel bundle

def test_kernel_bundle_files_and_metadata(tmp_path):
    spec = competitions.get("classify_leaves")
    weights = tmp_path / "resnet18.pth"
    weights.write_bytes(b"\0" * 10)
    wheel = make_wheel(tmp_path, "ensemble_boxes", "1.0.9")
    fetched = []

    def fake_pip(cmd, check=False):
        fetched.append(cmd)
        make_wheel(Path(cmd[cmd.index("--dest") + 1]), "py7zr", "1.1.4")
        return type("Done", (), {"returncode": 0})()

    out = kernel.build(spec, tmp_path / "bundle", "alice", recipe="baseline", settings={"epochs": 3}, folds=3,
                       wheels=["py7zr"], wheel_files=[wheel], weights=[weights], python_version="3.11",
                       fetch=fake_pip)
    dest = Path(fetched[0][fetched[0].index("--dest") + 1])  # inside the hidden staging folder beside the bundle
    assert fetched == [[sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
                        "3.11", "--dest", str(dest), fetched[0][-1]]]
    assert fetched[0][-1] in ("py7zr", f"py7zr=={kernel.installed_version('py7zr')}")  # the version installed here
    assert dest.parent.parent.parent == tmp_path and dest.parent.parent.name.startswith(".bundle.partial-")
    code, kern = out / "code", out / "kernel"
    meta = json.loads((code / "dataset-metadata.json").read_text())
    assert meta == {"title": "kaggle templates classify leaves", "id": "alice/kaggle-templates-classify-leaves",
                    "licenses": [{"name": "CC0-1.0"}]}
    kmeta = json.loads((kern / "kernel-metadata.json").read_text())
    assert kmeta == {"id": "alice/classify-leaves-baseline", "title": "classify leaves baseline",
                     "code_file": "classify_leaves.ipynb", "language": "python", "kernel_type": "notebook",
                     "is_private": True, "enable_gpu": True, "enable_internet": False,
                     "dataset_sources": ["alice/kaggle-templates-classify-leaves"],
                     "competition_sources": ["classify-leaves"],
                     "kernel_sources": [], "model_sources": []}
    assert (code / "kaggle_templates" / "shared" / "runner.py").is_file()
    assert (code / "kaggle_templates" / "competitions" / "classify_leaves" / "__init__.py").is_file()
    assert not list(code.rglob("__pycache__"))
    assert sorted(p.name for p in (code / "wheels").iterdir()) == [wheel.name, "py7zr-1.1.4-py3-none-any.whl",
                                                                    "requirements.txt"]
    assert (code / "wheels" / "requirements.txt").read_text() == "py7zr==1.1.4\nensemble_boxes==1.0.9\n"
    assert (code / "weights" / "resnet18.pth").read_bytes() == weights.read_bytes()
    nb = json.loads((kern / "classify_leaves.ipynb").read_text())
    params = "".join(next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))["source"])
    assert "RECIPE = 'baseline'" in params and "FOLDS = 3\n" in params
    assert "SETTINGS = {'epochs': 3, 'weights': 'weights/resnet18.pth'}" in params
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    assert not list(tmp_path.glob(".bundle.*"))
    with pytest.raises(UserError, match="unknown recipe|no recipe"):
        kernel.build(spec, tmp_path / "b2", "alice", recipe="nope")
    with pytest.raises(UserError, match="--user"):
        kernel.build(spec, tmp_path / "b3", "not a name")
    with pytest.raises(UserError, match="recipe 'linear' of house_prices takes no weights file"):
        kernel.build(competitions.get("house_prices"), tmp_path / "b5", "alice", recipe="linear", weights=[weights])
    assert not (tmp_path / "b5").exists()
    rc, _, err = run_cli("kernel", "house_prices", "--user", "alice", "--set", "nope=1", "--out", tmp_path / "b4")
    assert "nope" in assert_user_error(rc, err) and not (tmp_path / "b4").exists()


def _kernelspec(tmp_path: Path, monkeypatch) -> None:
    """A 'python3' kernel that is this interpreter, whatever kernels the machine has installed."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "Agg")


def execute(path: Path, cwd: Path, values: dict | None = None, timeout: int = 900):
    """Run a notebook end to end in a fresh kernel (cwd ``cwd``); return it with its outputs."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    if values:
        kernel.set_parameters(nb, values, where=path)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def _text(nb) -> str:
    return "\n".join(o.get("text", "") or json.dumps(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs)


@pytest.mark.integration
def test_kernel_bundle_runs_from_a_clean_folder(demo_dir, tmp_path, monkeypatch):
    """A Kaggle session in miniature: /kaggle/input holds the competition and the code bundle, the notebook
    runs from an empty working folder, and only the bundle provides our code."""
    _kernelspec(tmp_path, monkeypatch)
    spec = competitions.get("house_prices")
    out = kernel.build(spec, tmp_path / "bundle", "alice", recipe="linear", folds=2)
    inputs, working = tmp_path / "input", tmp_path / "working"
    shutil.copytree(out / "code", inputs / kernel.code_slug(spec))
    shutil.copytree(demo_dir, inputs / spec.slug)
    working.mkdir()
    monkeypatch.setenv("KAGGLE_INPUT", str(inputs))
    monkeypatch.setenv("KAGGLE_WORKING", str(working))
    nb = execute(out / "kernel" / "house_prices.ipynb", working)
    text = _text(nb)
    assert f"data {inputs / spec.slug}" in text
    sub = working / "submission.csv"
    assert sub.is_file() and sub.read_text().splitlines()[0] == "Id,SalePrice"
    assert len(sub.read_text().splitlines()) == len((demo_dir / "sample_submission.csv").read_text().splitlines())
    runs = list((working / "runs" / "house_prices").glob("linear-*"))
    assert len(runs) == 1 and json.loads((runs[0] / "metrics.json").read_text())["complete"]
    # the code came from the bundle, not from this clone
    probe = execute(_probe_notebook(tmp_path), working)
    assert str(inputs / kernel.code_slug(spec) / "kaggle_templates") in _text(probe)


def _probe_notebook(tmp_path: Path) -> Path:
    """A two-cell notebook: the notebooks' own code-finding cell, then where `shared` was imported from."""
    import nbformat

    source = json.loads((ROOT / "notebooks" / "house_prices.ipynb").read_text())
    boot = next("".join(c["source"]) for c in source["cells"] if "ROOT = next" in "".join(c["source"]))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(boot),
                                         nbformat.v4.new_code_cell("import shared; print(shared.__file__)")])
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    return path


# ---------------------------------------------------------------------------------------------- notebooks

TINY = {  # each notebook on tiny demo data with a short schedule
    "house_prices": {"RECIPE": "linear", "FOLDS": 2},
    "california_house_prices": {"RECIPE": "linear", "FOLDS": 2},
    "contraception": {"RECIPE": "baseline", "FOLDS": 2, "DEMO_SIZE": "tiny"},
    "cifar10": {"FOLDS": 2, "DEMO_SIZE": "tiny",
                "SETTINGS": {"model": "airbench_small", "epochs": 1, "batch_size": 32, "tta": "none"}},
    "classify_leaves": {"RECIPE": "baseline", "FOLDS": 2, "DEMO_SIZE": "tiny",
                        "SETTINGS": {"img_size": 32, "epochs": 1, "batch_size": 16, "tta": "hflip"}},
    "cowboy_outfits": {"FOLDS": 2, "DEMO_SIZE": "tiny",
                       "SETTINGS": {"epochs": 1, "max_side": 128, "pretrained": False, "tta": "hflip"}},
}


def test_every_competition_has_a_notebook_without_outputs():
    assert sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")) == competitions.names() == sorted(TINY)
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        nb = json.loads(path.read_text())
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in nb["cells"] if c["cell_type"] == "code"), f"{path} is stored with outputs"


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(TINY))
def test_notebook_runs_end_to_end(name, tmp_path, monkeypatch):
    _kernelspec(tmp_path, monkeypatch)
    monkeypatch.setenv("KAGGLE_INPUT", str(tmp_path / "no-kaggle"))  # off Kaggle: the demo is built
    started = time.time()
    nb = execute(ROOT / "notebooks" / f"{name}.ipynb", ROOT / "notebooks",
                 {**TINY[name], "DATA_DIR": str(tmp_path / "data"), "OUT": str(tmp_path / "runs")})
    seconds = time.time() - started
    (run_dir,) = (tmp_path / "runs" / name).glob("*-*")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] and len(metrics["folds"]) == 2
    text = _text(nb)
    assert "CV (out of fold)" in text and "local holdout" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == len(notebook.pictures(run_dir)) + 1 >= 2  # the run's pictures and the look at the data
    assert str(notebook.submission_file(run_dir)) in text
    print(f"{name} notebook: {seconds:.1f} s")


def test_on_kaggle_without_the_competition_attached_is_one_error(tmp_path, monkeypatch):
    (tmp_path / "input" / "some-other-data").mkdir(parents=True)
    monkeypatch.setenv("KAGGLE_INPUT", str(tmp_path / "input"))
    with pytest.raises(UserError, match=r"no house-prices-advanced-regression-techniques under .*attach"):
        notebook.prepare(competitions.get("house_prices"))

"""The pictures of a run and its one-page report: a confusion matrix (or, for many classes, the named top
confusions), residuals, reliability, learning curves with validation loss, readable detection drawings that say
when no box passed the threshold, and report.html embedding every PNG of the run by relative path."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.text
import numpy as np
import pandas as pd
import pytest
from conftest import FAST_LINEAR, last_line, run_cli, synthetic_classification
from PIL import Image

from shared import plots, report
from shared.errors import UserError
from shared.metrics import get_metric
from shared.runs import load_metrics

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def drawn(monkeypatch) -> dict[str, list[str]]:
    """``{file name: every text drawn in it}`` for the pictures saved while the test runs."""
    seen: dict[str, list[str]] = {}
    save = plots.save

    def spy(fig, path):
        fig.canvas.draw()
        seen[Path(path).name] = [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]
        return save(fig, path)

    monkeypatch.setattr(plots, "save", spy)
    return seen


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def images_of(page: Path) -> list[str]:
    parser = _Images()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.sources


def assert_report_embeds_every_png(run_dir: Path) -> str:
    """report.html shows every PNG of the run (its own and its folds'), each by a relative path that exists."""
    page = run_dir / "report.html"
    sources = images_of(page)
    every = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*.png"))
    assert sorted(sources) == every and every
    for src in sources:
        assert not Path(src).is_absolute() and (run_dir / src).read_bytes()[:8] == PNG
    return page.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------- table runs
def test_classification_run_writes_confusion_curves_and_report(demos, tmp_path, drawn):
    rc, out, err = run_cli("run", "cifar10", "--data", demos("cifar10"), "--folds", "2", "--set", "epochs=1",
                           "--set", "model=airbench_small", "--out", tmp_path)
    assert rc == 0, err[-3000:]
    run_dir = Path(last_line(out))
    assert (run_dir / "confusion.png").read_bytes()[:8] == PNG
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    texts = drawn["confusion.png"]
    assert set(classes) <= set(texts)  # 10 classes: the full matrix, every class on both axes
    assert any(re.search(r"accuracy CV \d\.\d{4}", t) for t in texts) and any(run_dir.name in t for t in texts)
    assert (run_dir / "curves.png").is_file() and {"fold 0", "fold 1"} <= set(drawn["curves.png"])
    page = assert_report_embeds_every_png(run_dir)
    shown = set(images_of(run_dir / "report.html"))
    assert {"confusion.png", "curves.png", "fold0/curves.png", "fold1/curves.png"} <= shown
    assert "Settings that differ from the recipe" in page and "airbench_small" in page and "epochs" in page
    first = pd.read_csv(run_dir / "submission.csv", dtype=str).iloc[0]
    assert f"<td>{first['id']}</td><td>{first['label']}</td>" in page  # the submission's first rows
    assert "no tta" in page  # the variant without test-time augmentation


def test_regression_run_writes_residuals_and_report(demo_dir, tmp_path, drawn):
    rc, out, err = run_cli("run", "house_prices", "--data", demo_dir, *FAST_LINEAR, "--set", "alpha=0.001",
                           "--out", tmp_path)
    assert rc == 0, err
    run_dir = Path(last_line(out))
    for name in ("oof.png", "residuals.png", "fold_scores.png"):
        assert (run_dir / name).read_bytes()[:8] == PNG
    assert "log1p prediction - log1p true" in drawn["residuals.png"]
    assert any("rmsle CV 0.1" in t for t in drawn["residuals.png"])
    page = assert_report_embeds_every_png(run_dir)
    metrics = load_metrics(run_dir)
    assert f"{metrics['cv']:.5f}" in page and f"{metrics['holdout']:.5f}" in page
    assert f"{metrics['cv_mean']:.5f} ± {metrics['cv_std']:.5f}" in page
    assert re.search(r"<td>alpha</td><td>0\.001</td><td>[\d.e-]+</td>", page)  # changed: value, then the default
    assert page.count("<tr><td>") >= 3 + 10  # the fold rows, the submission's first 10 rows


def test_binary_run_writes_calibration(tmp_path, drawn):
    data = synthetic_classification(tmp_path / "data", 2)
    rc, out, err = run_cli("run", "tabular", "--data", data, "--target", "target", "--id", "row_id", "--metric",
                           "auc", "--recipe", "linear", "--folds", "3", "--out", tmp_path / "runs")
    assert rc == 0, err
    run_dir = Path(last_line(out))
    assert {"confusion.png", "calibration.png"} <= {p.name for p in run_dir.glob("*.png")}
    assert "observed share of beta" in drawn["calibration.png"]
    assert any("auc CV" in t for t in drawn["calibration.png"])
    assert_report_embeds_every_png(run_dir)


def test_ensembles_and_merges_write_a_report(demo_dir, tmp_path):
    runs = []
    for folds in ("0", "1,2"):
        rc, out, err = run_cli("run", "house_prices", "--data", demo_dir, *FAST_LINEAR, "--only-folds", folds,
                               "--out", tmp_path)
        assert rc == 0, err
        runs.append(Path(last_line(out)))
    assert "a partial run" in (runs[0] / "report.html").read_text()
    rc, out, err = run_cli("merge", *runs, "--out", tmp_path)
    assert rc == 0, err
    merged = Path(last_line(out))
    page = assert_report_embeds_every_png(merged)
    assert "merge of partial runs" in page and runs[0].name in page
    rc, out, err = run_cli("run", "house_prices", "--data", demo_dir, *FAST_LINEAR, "--set", "alpha=0.01",
                           "--out", tmp_path)
    assert rc == 0, err
    rc, out, err = run_cli("ensemble", merged, Path(last_line(out)), "--method", "mean", "--out", tmp_path)
    assert rc == 0, err
    page = assert_report_embeds_every_png(Path(last_line(out)))
    assert "Ensemble members" in page and merged.name in page


# ---------------------------------------------------------------------------------- many classes, curves
def test_176_classes_name_their_top_confusions(tmp_path, drawn):
    """Synthetic probabilities, no training: 176 classes, two planted confusions."""
    rng = np.random.default_rng(0)
    classes = [f"species_{i:03d}" for i in range(176)]
    y = np.repeat(np.arange(176), 20)
    proba = rng.random((len(y), 176)) * 0.5
    proba[np.arange(len(y)), y] += 1.0
    proba[np.flatnonzero(y == 5)[:15], 17] += 2  # 15 of class 5 taken for class 17
    proba[np.flatnonzero(y == 9)[:8], 3] += 2
    run_dir = tmp_path / "classify_leaves" / "timm-1"
    plots.run_plots(run_dir, get_metric("accuracy"), y, proba, [0, 1], [0.99, 0.98], classes)
    texts = drawn["confusion.png"]
    assert "species_005 -> species_017 (15)" in texts and "species_009 -> species_003 (8)" in texts
    assert texts.index("species_005 -> species_017 (15)") < texts.index("species_009 -> species_003 (8)")
    assert "species_005 (5/20)" in texts  # among the worst classes: 5 of its 20 rows right
    assert not [t for t in texts if t == "species_100"]  # no full 176 x 176 matrix
    assert plots.top_confusions(plots.confusion_counts(y, proba, 176), classes, 2) == [
        ("species_005", "species_017", 15), ("species_009", "species_003", 8)]


def _history(epochs: int, valid_loss: bool) -> pd.DataFrame:
    e = np.arange(1, epochs + 1)
    frame = pd.DataFrame({"epoch": e, "train_loss": 2 / e, "lr": 0.1, "train_img_s": 500.0,
                          "valid_accuracy": 1 - 1 / (e + 1), "valid_accuracy_ema": 1 - 1 / (e + 2), "seconds": 1.0})
    if valid_loss:
        frame.insert(2, "valid_loss", 2.2 / e)
    return frame


def test_learning_curves_hold_training_and_validation_loss(tmp_path, drawn):
    run_dir = tmp_path / "cifar10" / "fast-1"
    plots.learning_curves(run_dir / "fold0" / "curves.png", _history(4, valid_loss=True))
    texts = drawn["curves.png"]
    assert {"training loss", "validation loss", "validation accuracy",
            "validation accuracy (EMA weights)"} <= set(texts)
    assert "cifar10 / fast-1 / fold 0: learning curves" in texts
    assert any(t.startswith("best 0.8333 (epoch 4)") for t in texts)

    plots.learning_curves(run_dir / "fold1" / "curves.png", _history(3, valid_loss=False))
    assert "validation loss" not in drawn["curves.png"] and "training loss" in drawn["curves.png"]

    for k in (0, 1, 10):  # fold 10 after fold 1, not between 1 and 2
        (run_dir / f"fold{k}").mkdir(parents=True, exist_ok=True)
        _history(3 + k, valid_loss=k != 1).to_csv(run_dir / f"fold{k}" / "history.csv", index=False)
    assert list(plots.fold_histories(run_dir)) == ["0", "1", "10"]
    assert plots.run_curves(run_dir) == run_dir / "curves.png"
    texts = drawn["curves.png"]
    assert {"fold 0", "fold 1", "fold 10", "training loss", "validation loss"} <= set(texts)
    assert "cifar10 / fast-1: learning curves of 3 fold(s)" in texts
    assert plots.run_curves(tmp_path / "nothing") is None


# ------------------------------------------------------------------------------------------------ detection
def test_no_box_above_threshold_is_said(tmp_path, drawn):
    Image.fromarray(np.full((80, 120, 3), 90, np.uint8)).save(tmp_path / "a.jpg")
    truths = [(np.array([[10.0, 10.0, 40.0, 30.0]]), np.array([1]))] * 3
    predictions = [np.empty((0, 6)), np.array([[12.0, 11.0, 38.0, 30.0, 0.1, 1]]),
                   np.array([[12.0, 11.0, 38.0, 30.0, 0.9, 1]])]
    captions = plots.boxes_plot(tmp_path / "boxes.png", [str(tmp_path / "a.jpg")] * 3, truths, predictions,
                                {1: "hat"}, min_score=0.3, title="cowboy_outfits / frcnn-1")
    assert captions == ["a.jpg: 1 true, 0 predicted; no box above threshold 0.3 (none predicted)",
                        "a.jpg: 1 true, 0 predicted; no box above threshold 0.3 (best score 0.10)",
                        "a.jpg: 1 true, 1 predicted"]
    texts = drawn["boxes.png"]
    assert texts.count("no box above threshold 0.3 (none predicted)") == 1
    assert {"hat 0.90", "true box", "predicted box with its score (score >= 0.3)"} <= set(texts)
    assert (tmp_path / "boxes.png").read_bytes()[:8] == PNG
    # no predictions at all (a look at the data): the true boxes alone, nothing said about a threshold
    assert plots.boxes_plot(tmp_path / "truth.png", [str(tmp_path / "a.jpg")], truths[:1], None, {1: "hat"}) == [
        "a.jpg: 1 true"]
    assert "hat" in drawn["truth.png"] and not [t for t in drawn["truth.png"] if "threshold" in t or "predicted" in t]


@pytest.mark.integration  # a detection run end to end
def test_detection_run_writes_boxes_and_report(demos, tmp_path):
    rc, out, err = run_cli("run", "cowboy_outfits", "--data", demos("cowboy_outfits"), "--folds", "2",
                           "--set", "epochs=1", "--set", "max_side=96", "--set", "proposals=100", "--set",
                           "roi_batch=32", "--set", "pretrained=false", "--out", tmp_path)
    assert rc == 0, err[-3000:]
    run_dir = Path(last_line(out))
    assert (run_dir / "boxes.png").read_bytes()[:8] == PNG
    page = assert_report_embeds_every_png(run_dir)
    assert {"boxes.png", "curves.png", "fold0/curves.png"} <= set(images_of(run_dir / "report.html"))
    assert "Detection (COCO)" in page and "AP50" in page and "submission.zip" in page
    assert "<th>image_id</th>" in page and "<th>category_id</th>" in page


# ------------------------------------------------------------------------------------------------- notebooks
def test_show_gives_the_path_outside_ipython_and_inlined_html_inside(demo_dir, tmp_path, monkeypatch):
    rc, out, err = run_cli("run", "house_prices", "--data", demo_dir, *FAST_LINEAR, "--out", tmp_path)
    assert rc == 0, err
    run_dir = Path(last_line(out))
    assert report.show(run_dir) == run_dir / "report.html"
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    shown = report.show(run_dir)
    assert type(shown).__name__ == "HTML"
    assert shown.data.count('src="data:image/png;base64,') == len(list(run_dir.glob("*.png")))
    assert 'src="oof.png"' not in shown.data
    with pytest.raises(UserError, match="no report.html"):
        report.show(tmp_path)


def test_the_report_shows_every_run_setting():
    from shared.config import RUN_SETTINGS
    from shared.report import RUN_SETTING_KEYS

    assert set(RUN_SETTING_KEYS) == set(RUN_SETTINGS)

"""``report.html``: one page per run, written at the end of every run, merge and ensemble. It shows what was run
(the recipe and the settings changed from its defaults), how it scored (CV ± std over folds, local holdout, each
fold's score and time, variants such as no TTA, ensemble members), every PNG of the run, and the first rows of
the submission. Pictures are linked by relative paths, so the folder can be moved or copied whole;
``show(run_dir)`` displays the page in a notebook with the pictures inlined."""
from __future__ import annotations

import base64
import html
import math
import re
import sys
from pathlib import Path

import pandas as pd

from shared.errors import UserError
from shared.errors import show as show_value
from shared.io import write_text
from shared.plots import run_title
from shared.runs import load_config, load_metrics

SUBMISSION_ROWS = 10  # rows of the submission the page shows
# Run-level pictures first, in this order; the others (and every fold's) after them.
PICTURE_ORDER = ("fold_scores.png", "oof.png", "residuals.png", "confusion.png", "calibration.png", "boxes.png",
                 "curves.png")
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1300px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.4em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; } code { font-size: 0.9em; }
"""


def write(run_dir: Path, spec) -> Path:
    """Write ``run_dir/report.html`` from the run's files (config.yaml, metrics.json, PNGs, submission); ``spec``
    (the competition) gives the recipe's defaults, so that the page lists only the settings that differ, and its
    outputs the parts only their kind has (detection: COCO's figures, the boxes of the submission)."""
    run_dir = Path(run_dir)
    config = load_config(run_dir, required=())
    metrics = load_metrics(run_dir, required=())
    parts = [f"<h1>{_e(config.get('competition', run_dir.parent.name))} / {_e(run_dir.name)}</h1>",
             _scores(metrics), _run_config(config, spec), _folds(metrics), _variants(metrics),
             _members(metrics), spec.outputs.report_section(metrics), _importance(run_dir), _pictures(run_dir),
             _submission(run_dir, spec.outputs), _files(run_dir)]
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{_e(run_title(run_dir))}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(p for p in parts if p) + "\n</body></html>\n")
    return write_text(run_dir / "report.html", page)


def show(run_dir: Path):
    """The run's report for a notebook cell: an ``IPython.display.HTML`` of the page with its pictures inlined
    (a notebook resolves relative paths against itself, not the run), or, outside IPython, the file's path."""
    path = Path(run_dir) / "report.html"
    if not path.is_file():
        raise UserError(f"{run_dir} has no report.html: it is written when a run finishes; finish (or --resume) "
                        "the run, or pass a finished run's folder.")
    shell = sys.modules.get("IPython")
    if shell is None or shell.get_ipython() is None:
        return path
    from IPython.display import HTML

    return HTML(inline_pictures(path.read_text(encoding="utf-8"), path.parent))


def inline_pictures(page: str, folder: Path) -> str:
    """``page`` with each ``<img src="relative.png">`` inside ``folder`` replaced by the picture's bytes."""
    def inline(match: re.Match) -> str:
        relative = html.unescape(match.group(1))
        file = Path(folder) / relative
        if Path(relative).is_absolute() or ".." in Path(relative).parts or not file.is_file():
            return match.group(0)
        data = base64.b64encode(file.read_bytes()).decode("ascii")
        return f'<img src="data:image/png;base64,{data}"'

    return re.sub(r'<img src="([^"]+\.png)"', inline, page)


# ------------------------------------------------------------------------------------------------ sections
def _e(value) -> str:
    return html.escape(str(value))


def _number(value, digits: int = 5) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _e(value)


def _table(header: list[str] | None, rows: list[list], numeric: set[int] = frozenset()) -> str:
    """A table of cells already escaped (``header`` None: a key / value table without a header row)."""
    head = "" if header is None else "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"
    body = "".join("<tr>" + "".join(f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
                                    for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _scores(metrics: dict) -> str:
    name = metrics.get("metric", "score")
    better = "higher" if metrics.get("greater_is_better") else "lower"
    rows = [["CV (all out-of-fold rows)", _number(metrics.get("cv"))],
            ["folds: mean ± std", f"{_number(metrics.get('cv_mean'))} ± {_number(metrics.get('cv_std'))}"],
            ["local holdout", _number(metrics.get("holdout"))]]
    split = metrics.get("time_split")
    if split:
        rows.append([f"time split on {_e(split.get('time_col'))} (from {_e(split.get('valid_from'))})",
                     _number(split.get("score"))])
    if metrics.get("wall_time_s") is not None:
        rows.append(["wall time", f"{metrics['wall_time_s']:.1f} s"])
    if metrics.get("complete") is False:
        rows.append(["complete", "no: a partial run (--only-folds); merge.py joins it with the other folds"])
    return f"<h2>Scores ({_e(name)}, {better} is better)</h2>" + _table(None, rows, {1})


def changed_settings(config: dict, spec) -> list[tuple[str, object, object]] | None:
    """(setting, value in this run, the recipe's default) for each recipe setting the run changed; None when
    the recipe is not one of ``spec`` (an ensemble) or no spec is given."""
    recipes = getattr(spec, "recipes", None) or {}
    recipe = recipes.get(config.get("recipe"))
    if recipe is None:
        return None
    changed = []
    for section, defaults in (("features", recipe.feature_params), ("model", recipe.model_params)):
        values = config.get(section) or {}
        for key in sorted({*defaults, *values}):
            if values.get(key) != defaults.get(key):
                changed.append((key, values.get(key), defaults.get(key)))
    if recipe.log_target is not None and config.get("log_target") != recipe.log_target:
        changed.append(("log_target", config.get("log_target"), recipe.log_target))
    return changed


RUN_SETTING_KEYS = ("log_target", "clean_train", "time_col", "time_valid_fraction", "importance", "importance_repeats",
                    "importance_columns", "importance_rows", "sample_weight", "fold_average", "predict",
                    "positive_class")  # shared.config.RUN_SETTINGS' keys (tests/test_report.py), which imports this


def _short(value) -> str:
    """A setting's value on one line (YAML's spelling: true, null, [256, 128]), cut at 200 characters."""
    if value == "":
        return "—"
    text = show_value(value, setting=True, quote=False)
    return _e(text if len(text) <= 200 else text[:200] + " …")


def _run_config(config: dict, spec) -> str:
    kind = ("ensemble" if config.get("kind") == "ensemble" else "merge of partial runs" if config.get("merged_from")
            else "run")
    recipe = config.get("recipe", "")
    about = getattr((getattr(spec, "recipes", None) or {}).get(recipe), "about", "")
    folds = f"{config.get('n_folds')} ({config.get('fold_kind', '')})"
    if config.get("only_folds"):
        folds += f", this run: {config['only_folds']}"
    rows = [["recipe", f"<b>{_e(recipe)}</b>" + (f" — {_e(about)}" if about else "")], ["kind", _e(kind)],
            ["folds", _e(folds)], ["seed", _e(config.get("seed"))]]
    for key, label in (("method", "blend method"), ("time_limit", "time limit (s)"), ("data_dir", "data"),
                       ("code_version", "code version"), ("command", "command")):
        if config.get(key) not in (None, ""):
            rows.append([label, f"<code>{_e(config[key])}</code>"])
    for key, label in (("members", "members"), ("merged_from", "merged from")):
        if config.get(key):
            rows.append([label, "<br>".join(f"<code>{_e(p)}</code>" for p in config[key])])
    settings = {k: config[k] for k in RUN_SETTING_KEYS if k in config}
    if settings:
        rows.append(["run settings", ", ".join(f"{_e(k)}={_short(v)}" for k, v in settings.items())])
    out = "<h2>Run</h2>" + _table(None, rows)
    changed = changed_settings(config, spec)
    if changed is None:
        return out
    if not changed:
        return out + f"<p>All settings are the recipe's defaults ({_e(recipe)}).</p>"
    return out + (f"<p>Settings that differ from the recipe's defaults ({_e(recipe)}):</p>"
                  + _table(["setting", "this run", "default"],
                           [[_e(k), _short(v), _short(d)] for k, v, d in changed]))


FOLD_TIMES = (("fold_times_s", "time (s)"), ("fit_times_s", "fit (s)"), ("predict_times_s", "predict (s)"),
              ("importance_times_s", "importance (s)"))  # metrics.json's seconds per fold, and their columns


def _folds(metrics: dict) -> str:
    folds = metrics.get("folds") or {}
    if not folds:
        return ""
    alone = metrics.get("holdout_folds") or {}
    times = [(metrics.get(key), label) for key, label in FOLD_TIMES if metrics.get(key) or key == "fold_times_s"]
    header = ["fold", metrics.get("metric", "score")] + (["holdout (this fold's model alone)"] if alone else [])
    header += [label for _, label in times]
    rows = []
    for k, score in folds.items():
        seconds = [((by_fold or {}).get(k), label) for by_fold, label in times]
        rows.append([_e(k), _number(score)] + ([_number(alone.get(k))] if alone else [])
                    + ["—" if s is None else f"{s:.1f}" if label == "time (s)" else f"{s:.2f}" for s, label in seconds])
    return "<h2>Folds</h2>" + _table(header, rows, set(range(1, len(header))))


IMPORTANCE_ROWS = 15  # features the page lists (importance.png draws more, importance.csv has them all)


def _importance(run_dir: Path) -> str:
    """The run's feature importance: its picture, its top rows and a link to importance.csv (table runs)."""
    from shared import importance

    file = run_dir / importance.FILE
    if not file.is_file():
        return ""
    table = pd.read_csv(file, dtype={"feature": str}, keep_default_na=False, na_values=[""])
    means = [c for c in ("permutation_mean", "permutation_std", "shap_mean", "shap_std", "gain_mean", "gain_std")
             if c in table]
    rows = [[_e(row["feature"]), *(_number(row[c], 4) for c in means)] for _, row in table.head(IMPORTANCE_ROWS).iterrows()]
    picture = run_dir / importance.PICTURE
    figure = (f'<figure><img src="{_e(picture.name)}" alt="{_e(picture.name)}"><figcaption>{_e(picture.name)}'
              "</figcaption></figure>" if picture.is_file() else "")
    said = {"permutation": "Permutation: how much the metric got worse on a fold's held-out rows with the column "
                           "shuffled (0: unused; below 0: noise). ",
            "shap": "SHAP: the mean |SHAP value| on those rows (the model's own TreeSHAP, in its raw output: the "
                    "fitted target's space, log-odds for classes). ",
            "gain": "Gain: the model's own importance, as shares. "}
    return ("<h2>Feature importance</h2><p>" + "".join(text for m, text in said.items() if f"{m}_mean" in table)
            + f'Mean ± std over folds; all {len(table)} features in <a href="{_e(file.name)}">{_e(file.name)}</a>.</p>'
            + figure + _table(["feature", *(c.replace("_", " ") for c in means)], rows, set(range(1, len(means) + 1))))


def _variants(metrics: dict) -> str:
    variants = metrics.get("variants") or {}
    if not variants:
        return ""
    rows = [["this run", _number(metrics.get("cv")), _number(metrics.get("holdout"))]]
    rows += [[_e(name.replace("_", " ")), _number(v.get("cv")), _number(v.get("holdout"))]
             for name, v in variants.items()]
    return ("<h2>Variants (the same models, predicted another way)</h2>"
            + _table(["", "CV", "local holdout"], rows, {1, 2}))


def _members(metrics: dict) -> str:
    members = metrics.get("members") or []
    if not members:
        return ""
    frame = pd.DataFrame(members)
    rows = [[_number(v) for v in row] for row in frame.itertuples(index=False)]
    return "<h2>Ensemble members</h2>" + _table(list(frame.columns), rows)


def values_section(title: str, header: list[str], rows: list[list], digits: int = 5, note: str = "") -> str:
    """A section of labelled rows of numbers (``digits`` decimals) and a note under it: the part of the page that
    only one kind of outputs has (``Outputs.report_section``)."""
    cells = [[_e(label)] + [_number(value, digits) for value in values] for label, *values in rows]
    out = f"<h2>{_e(title)}</h2>" + _table(header, cells, set(range(1, len(header))))
    return out + (f"<p>{_e(note)}</p>" if note else "")


def pictures(run_dir: Path) -> list[str]:
    """The run's PNGs relative to it: its own (``PICTURE_ORDER`` first), then each fold's, in fold order."""
    run_dir = Path(run_dir)
    own = sorted(p.name for p in run_dir.glob("*.png"))
    ranked = [n for n in PICTURE_ORDER if n in own] + [n for n in own if n not in PICTURE_ORDER]
    folds = sorted((p for p in run_dir.glob("fold*") if p.is_dir() and p.name[4:].isdigit()),
                   key=lambda p: int(p.name[4:]))
    return ranked + [f"{f.name}/{p.name}" for f in folds for p in sorted(f.glob("*.png"))]


def _pictures(run_dir: Path) -> str:
    names = [n for n in pictures(run_dir) if n != "importance.png"]  # shown in its own section
    if not names:
        return ""
    return "<h2>Pictures</h2>" + "\n".join(
        f'<figure><img src="{_e(n)}" alt="{_e(n)}" loading="lazy"><figcaption>{_e(n)}</figcaption></figure>'
        for n in names)


def _submission(run_dir: Path, outputs) -> str:
    preview = outputs.submission_preview(run_dir, SUBMISSION_ROWS)
    if preview is None:
        return ""
    name, head, total = preview
    rows = [[_e(_cell(v)) for v in row] for row in head.itertuples(index=False)]
    return (f"<h2>Submission</h2><p><a href=\"{_e(name.split()[0])}\">{_e(name)}</a>: the first {len(head)} of "
            f"{total} rows.</p>" + _table([str(c) for c in head.columns], rows))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    return str(value)


def _files(run_dir: Path) -> str:
    names = [n for n in ("config.yaml", "metrics.json", "log.txt", "oof.csv", "test_pred.csv")
             if (run_dir / n).is_file()]
    return "<h2>Files</h2><p>" + " · ".join(f'<a href="{_e(n)}">{_e(n)}</a>' for n in names) + "</p>"

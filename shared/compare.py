"""Side-by-side comparison of runs from their run directories: a markdown table and a PNG. Either the runs
that compare.py has just made (one per recipe, on the same folds), or a leaderboard of run folders that exist:
each run's CV, holdout and wall time beside the settings that set it apart from the others."""
from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from shared import history, plots
from shared.errors import UserError, show
from shared.fingerprint import KEY as FINGERPRINT
from shared.io import write_json, write_text
from shared.runs import Run, load_config, load_metrics

if TYPE_CHECKING:
    from shared.parallel import Plan


def table(runs: list[Run]) -> str:
    """Markdown: one row per run, CV mean ± std over folds, pooled OOF CV, the time-ordered split (for
    competitions that have one), local holdout, wall time; for image runs also the same models without
    test-time augmentation and one fold's model alone on the holdout (mean over folds)."""
    metric = runs[0].metrics["metric"]

    def score(value) -> str:
        return "—" if value is None else f"{value:.4f}"

    def one_fold(m: dict):
        scores = [v for v in (m.get("holdout_folds") or {}).values() if v is not None]
        return sum(scores) / len(scores) if scores else None

    columns = [("recipe", lambda m: m["recipe"]),
               (f"CV {metric} (mean ± std over folds)", lambda m: f"{m['cv_mean']:.4f} ± {m['cv_std']:.4f}"),
               (f"OOF {metric}", lambda m: score(m["cv"]))]
    if any(r.metrics.get("time_split") for r in runs):
        columns.append((f"time split {metric}", lambda m: score((m.get("time_split") or {}).get("score"))))
    tta = any("no_tta" in (r.metrics.get("variants") or {}) for r in runs)
    if tta:
        columns.append((f"OOF {metric} without TTA",
                        lambda m: score(((m.get("variants") or {}).get("no_tta") or {}).get("cv"))))
    columns.append((f"local holdout {metric}", lambda m: score(m.get("holdout"))))
    if tta:
        columns.append(("holdout without TTA",
                        lambda m: score(((m.get("variants") or {}).get("no_tta") or {}).get("holdout"))))
    if any(one_fold(r.metrics) is not None for r in runs):
        columns.append(("holdout, one fold's model (mean)", lambda m: score(one_fold(m))))
    columns.append(("wall time", lambda m: f"{m['wall_time_s']:.0f} s"))
    lines = ["| " + " | ".join(name for name, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(get(r.metrics)) for _, get in columns) + " |" for r in runs]
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    return f"{value:.5f}" if isinstance(value, float) else str(value)


def markdown_table(df) -> str:
    """A pandas frame as a GitHub markdown table (floats to 5 decimals, None as a dash)."""
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |"
              for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def text_table(df) -> str:
    """The same frame as aligned plain text, for the terminal and the log (the same cells as ``markdown_table``)."""
    rows = [list(map(str, df.columns))] + [[_cell(v) for v in row] for row in df.itertuples(index=False)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, runs: list[Run], header: str = "") -> str:
    metric = runs[0].metrics["metric"]
    text = table(runs)
    write_text(out_dir / "compare.md", (header + "\n\n" if header else "") + text)
    write_json(out_dir / "compare.json", [{"run_dir": str(r.path), **r.metrics} for r in runs])
    plots.bar_table(out_dir / "compare.png", [r.metrics["recipe"] for r in runs],
                    [r.metrics["cv_mean"] for r in runs], [r.metrics["cv_std"] for r in runs],
                    [r.metrics.get("holdout") for r in runs], metric, [r.metrics["wall_time_s"] for r in runs])
    return text


def update_readme(readme: Path, key: str, text: str) -> None:
    """Replace the block between ``<!-- results:KEY -->`` and ``<!-- /results:KEY -->`` in ``readme``."""
    content = readme.read_text(encoding="utf-8")
    pattern = re.compile(rf"(<!-- results:{re.escape(key)} -->\n).*?(<!-- /results:{re.escape(key)} -->)", re.S)
    if not pattern.search(content):
        raise UserError(f"{readme} has no '<!-- results:{key} -->' ... '<!-- /results:{key} -->' block to update.")
    write_text(readme, pattern.sub(lambda m: m.group(1) + text + m.group(2), content))


# ------------------------------------------------------------------------------ recipes side by side
def recipes_side_by_side(plan: Plan, run, spec, data_dir: Path, overrides: dict[str, dict],
                         **run_args) -> dict[str, Path]:
    """``compare.py --parallel``: each recipe's ``run`` (``shared.runner.run``, its folds one after another) as a
    Ray task of ``plan`` (``shared.parallel``), all on the same folds; {recipe: its run directory}. The log lines
    of each are named by its recipe; one that fails stops the others, and the runs that finished stay."""
    from shared import parallel
    from shared.log import get_log

    log = get_log()  # the runs' lines, named by recipe, go to stderr as a run's do (their log.txt is their own)
    if not any(type(h) is logging.StreamHandler for h in log.handlers):
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(console)
    log.setLevel(logging.INFO)
    log.propagate = False
    one = parallel.Settings(threads=plan.threads)  # inside its task, a run's folds go one after another
    out_root = Path(run_args["out_root"])
    seen = next(p for p in (out_root, *out_root.resolve().parents) if p.exists())  # made by the runs if missing
    calls = [(name, run, (spec, name, data_dir, run_args["n_folds"], run_args["seed"], run_args["time_limit"],
                          out_root, overrides[name], None, None, one)) for name in overrides]
    return dict(parallel.run_tasks(plan, calls, visible=(Path(data_dir), seen)))


# ------------------------------------------------------------------------------ --set for every recipe
def split_overrides(keys: dict[str, set[str]], overrides: dict) -> dict[str, tuple[dict, list[str]]]:
    """``keys``: each recipe's name -> the keys ``--set`` may name for it. Returns ``{recipe: (the overrides it
    takes, the keys it lacks)}``: a key that some recipes lack is left out for them; a key that none of them has is
    a typo, refused with the keys they know."""
    known = set().union(*keys.values())
    unknown = [k for k in overrides if k not in known]
    if unknown:
        raise UserError(f"--set {unknown[0]}: none of the recipes to compare ({', '.join(keys)}) has such a key; "
                        f"known keys: {sorted(known)}.")
    return {name: ({k: v for k, v in overrides.items() if k in mine}, [k for k in overrides if k not in mine])
            for name, mine in keys.items()}


# ------------------------------------------------------------------------- leaderboard of existing runs
# What a run's config records that is not a setting to compare: what the competition is, bookkeeping, and what an
# ensemble blends (its recipe, ensemble-<method>, already says how). The data are compared by their fingerprint.
NOT_SETTINGS = {"competition", "recipe", "id_col", "target_col", "task", "metric", "classes", "outputs", "kind",
                "method", "members", "weights", "merged_from", "only_folds", "code_version", "command", "data_dir", "sample_file",
                FINGERPRINT, "n_features"}
TABLE_METRICS = ("cv", "cv_mean", "cv_std", "wall_time_s")  # what a run's metrics.json needs for a row


def run_folders(runs: list[Path], roots: list[Path]) -> list[Path]:
    """The folders named by ``--runs`` and every folder holding a config.yaml under the ``--from`` folders
    (not looking inside a run), each once, in the order given (``--from``: sorted by path)."""
    found = []
    for path in map(Path, runs):
        if not path.is_dir():
            raise UserError(f"--runs {path}: no such folder.")
        found.append(path)
    for root in map(Path, roots):
        if not root.is_dir():
            raise UserError(f"--from {root}: no such folder.")
        inside = []
        for folder, subfolders, files in os.walk(root):
            if "config.yaml" in files:
                inside.append(Path(folder))
                subfolders[:] = []  # a run's own fold folders are no runs
            subfolders.sort()
        found += sorted(inside)
    unique, seen = [], set()
    for path in found:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique


def finished_runs(folders: list[Path], competition: str) -> tuple[list[Run], list[str], int]:
    """The finished runs of ``competition`` among ``folders``; one note for each of its folders left out and why
    (unfinished, partial, unreadable, or scored with another metric than the first run), and one note in all for
    the runs of other competitions (a runs folder holds them all); and how many folders were left out."""
    runs, notes, others = [], [], Counter()
    for path in folders:
        run, why = _finished_run(path, competition, runs[0] if runs else None)
        if run is not None:
            runs.append(run)
        elif why.startswith(OTHER):
            others[why[len(OTHER):]] += 1
        else:
            notes.append(f"{path} skipped: {why}")
    if others:
        notes.append(f"{sum(others.values())} run(s) of other competitions left out ("
                     + ", ".join(f"{name}: {n}" for name, n in sorted(others.items())) + ")")
    return runs, notes, len(folders) - len(runs)


OTHER = "a run of another competition: "


def _finished_run(path: Path, competition: str, first: Run | None) -> tuple[Run | None, str]:
    if not (path / "config.yaml").is_file():
        return None, "not a run folder (no config.yaml)"
    try:
        config = load_config(path, required=("competition", "recipe"))
    except UserError as exc:
        return None, str(exc)
    if config["competition"] != competition:
        return None, f"{OTHER}{config['competition']}"
    if not (path / "metrics.json").is_file():
        return None, "unfinished (no metrics.json yet)"
    try:
        metrics = load_metrics(path, required=("metric", *TABLE_METRICS))
    except UserError as exc:
        return None, str(exc)
    if metrics.get("complete", True) is False:
        return None, "it holds only some folds (--only-folds): join its parts with merge.py"
    if first is not None and metrics["metric"] != first.metrics["metric"]:
        return None, f"scored with {metrics['metric']}, not {first.metrics['metric']} like {first.path}"
    return Run(path, config, {"recipe": config["recipe"], **metrics}, None, None, None), ""


def settings(config: dict) -> dict[tuple[str | None, str], object]:
    """A run's settings by the names ``--set`` takes, each under its group: the recipe for its model and feature
    settings (those of two recipes are not compared), None for the run settings, the folds and ``data`` (its data
    fingerprint, else its data folder), which all runs share."""
    out: dict[tuple[str | None, str], object] = {
        (None, k): v for k, v in config.items() if k not in NOT_SETTINGS and k not in ("model", "features")}
    for section in ("features", "model"):
        params = config.get(section)
        for k, v in (params.items() if isinstance(params, dict) else ()):
            out[config.get("recipe"), f"{section}.{k}" if (config.get("recipe"), k) in out else k] = v
    out[None, "data"] = config.get(FINGERPRINT) or config.get("data_dir")
    if config.get("code_version"):  # the commit, "-dirty" for edited code: compared across all runs
        out[None, "code"] = config["code_version"]
    if config.get(N_FEATURES) is not None:  # what its feature code made: compared within a recipe
        out[config.get("recipe"), "columns"] = config[N_FEATURES]
    return out


N_FEATURES = "n_features"  # a run's feature count, as its metrics.json (or, for older runs, its log) records it
LOGGED_FEATURES = re.compile(r"\bfeatures: (\d+) columns\b")


def feature_count(run: Run) -> int | None:
    """The number of feature columns a run fitted on: its metrics.json's, else the log line that says it."""
    if isinstance(run.metrics.get(N_FEATURES), int):
        return run.metrics[N_FEATURES]
    log = run.path / "log.txt"
    found = LOGGED_FEATURES.search(log.read_text(encoding="utf-8", errors="replace")) if log.is_file() else None
    return int(found.group(1)) if found else None


def _key(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def differences(configs: list[dict]) -> list[dict]:
    """For each config, the settings whose value is not the most common one among the configs that have that
    setting (a tie: the value of the earliest of them), as ``{name: value}`` (``data``: the data folder)."""
    flat = [settings(c) for c in configs]
    common = {}
    for key in dict.fromkeys(k for f in flat for k in f):
        values = [_key(f[key]) for f in flat if key in f]
        counts = Counter(values)
        top = max(counts.values())
        common[key] = next(v for v in values if counts[v] == top)
    return [{key[1]: (c.get("data_dir") if key == (None, "data") else v) for key, v in f.items()
             if _key(v) != common[key]} for c, f in zip(configs, flat)]


def rank(runs: list[Run]) -> list[Run]:
    """Best CV first (the pooled out-of-fold score, as the run and the ensemble report it); ties by run name."""
    sign = -1.0 if runs[0].metrics.get("greater_is_better") else 1.0
    return sorted(runs, key=lambda r: (sign * r.metrics["cv"], r.path.name))


def leaderboard_frame(runs: list[Run], diffs: list[dict], submitted: dict | None = None) -> pd.DataFrame:
    """One row per run, in the order given: its rank, scores, wall time and differing settings; with ``submitted``
    ({run folder: its rows of the submission history}), the latest public (and private) leaderboard score of each
    submitted run beside its CV and holdout."""
    metric = runs[0].metrics["metric"]
    submitted = submitted or {}
    private = any(history.latest_score(rows, "private_score") is not None for rows in submitted.values())
    rows = []
    for i, (r, d) in enumerate(zip(runs, diffs), 1):
        row = {"#": i, "run": r.path.name, "recipe": r.metrics["recipe"], f"CV {metric}": f"{r.metrics['cv']:.5f}",
               "folds mean ± std": f"{r.metrics['cv_mean']:.5f} ± {r.metrics['cv_std']:.5f}",
               f"holdout {metric}": r.metrics.get("holdout")}
        if submitted:
            mine = submitted.get(r.path)
            row["public LB"] = None if mine is None else history.latest_score(mine)
            if private:
                row["private LB"] = None if mine is None else history.latest_score(mine, "private_score")
        row["wall time"] = f"{r.metrics['wall_time_s']:.1f} s"
        row["differs from the most common"] = ", ".join(f"{k}={show(v, setting=True, quote=False, compact=True)}"
                                                        for k, v in d.items()) or "—"
        rows.append(row)
    return pd.DataFrame(rows)


def write_leaderboard(out_dir: Path, runs: list[Run], header: str, notes: list[str],
                      histories: tuple[Path, ...] = ()) -> str:
    """compare.md (markdown) and compare.json (each run's metrics, run folder, differing settings and submissions,
    best CV first), compare.png (CV against holdout) and, from the submission histories at ``histories``,
    cv_vs_lb.png (CV against the public leaderboard); returns the plain-text table."""
    configs = [{**r.config, N_FEATURES: feature_count(r)} for r in runs]
    by_path = dict(zip((r.path for r in runs), differences(configs)))  # ties: the earliest given
    runs = rank(runs)
    diffs = [by_path[r.path] for r in runs]
    every, submitted = history.of_runs(list(histories), runs)
    frame = leaderboard_frame(runs, diffs, submitted)
    about_lb = cv_lb(out_dir / LB_PICTURE, every, runs) if len(every) else ""
    skipped = "".join(f"- {note}\n" for note in notes)
    picture = f"\n![CV against public LB]({LB_PICTURE})\n" if (out_dir / LB_PICTURE).is_file() else ""
    write_text(out_dir / "compare.md", f"{header}\n\n{markdown_table(frame)}"
                                        + (f"\n{about_lb}\n{picture}" if about_lb else "")
                                        + (f"\nSkipped:\n\n{skipped}" if skipped else ""))
    write_json(out_dir / "compare.json", [
        {"run_dir": str(r.path), "differs": d, **r.metrics,
         "submissions": submitted[r.path].to_dict(orient="records") if r.path in submitted else []}
        for r, d in zip(runs, diffs)])
    cv_holdout_plot(out_dir / "compare.png", [f"{i} {r.path.name}" for i, r in enumerate(runs, 1)],
                    [r.metrics["cv"] for r in runs], [r.metrics["cv_std"] for r in runs],
                    [r.metrics.get("holdout") for r in runs], runs[0].metrics["metric"])
    return text_table(frame) + (f"\n{about_lb}\n" if about_lb else "")


LB_PICTURE = "cv_vs_lb.png"


def cv_lb(path: Path, rows: pd.DataFrame, runs: list[Run]) -> str:
    """cv_vs_lb.png from the submission history ``rows``: one point per submission that has both a CV (its run's,
    recorded when it was sent) and a public score, labelled by the run's number in the table (``runs``, ranked)
    or its folder name. With fewer than two such submissions no picture is drawn; the line returned says why."""
    number = {r.path.name: i for i, r in enumerate(runs, 1)}
    metric = runs[0].metrics["metric"]
    points = [(f"{number[row.run]} {row.run}" if row.run in number else (row.run or row.message or row.file),
               history.score(row.cv), history.score(row.cv_std) or 0.0, history.score(row.public_score))
              for row in rows.itertuples() if history.score(row.cv) is not None
              and history.score(row.public_score) is not None and row.metric in ("", metric)]
    texts = [v for column in ("cv", "public_score") for v in rows[column] if v.strip() and history.score(v) is None]
    unread = (f" {len(texts)} cell(s) of cv or public_score are not numbers (e.g. {texts[0]!r}; a decimal point, "
              "not a comma): they count as empty until fixed in submissions.csv." if texts else "")
    if len(points) < 2:
        return (f"CV against public LB: {len(points)} of {len(rows)} submission(s) have both a CV and a public "
                "score; the picture needs two (fill scores in with `submit.py COMPETITION --fetch`)." + unread)
    labels, cvs, stds, lbs = map(list, zip(*points))
    cv_lb_plot(path, labels, cvs, stds, lbs, metric)
    return f"CV against public LB: {len(points)} submission(s), in {LB_PICTURE}." + unread


def cv_lb_plot(path: Path, labels: list[str], cvs: list[float], stds: list[float], lbs: list[float],
               metric: str) -> None:
    """The Kaggler's main chart: one point per submission, CV (bars: ± std over folds) against its public
    leaderboard score, each labelled, the line where the two agree, and their correlation from three points."""
    plt = plots.plt
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for n, (label, cv, std, lb) in enumerate(zip(labels, cvs, stds, lbs)):
        ax.errorbar([cv], [lb], xerr=[std], fmt="o", capsize=3, color=f"C{n % 10}")
        ax.annotate(label, (cv, lb), xytext=(4, 4), textcoords="offset points", fontsize=8, color=f"C{n % 10}")
    values = np.array(cvs + lbs, float)
    lo, hi = values.min(), values.max()
    pad = (hi - lo) * 0.05 + 1e-12
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1, label="public LB = CV")
    title = f"{metric}: CV against public LB, one point per submission ({len(cvs)})"
    if len(cvs) >= 3 and np.std(cvs) > 0 and np.std(lbs) > 0:
        title += f"\nPearson r {np.corrcoef(cvs, lbs)[0, 1]:.2f}, Spearman {pd.Series(cvs).corr(pd.Series(lbs), method='spearman'):.2f}"
    ax.set_xlabel(f"CV {metric} (out of fold; bars: ± std over folds)")
    ax.set_ylabel("public leaderboard score")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="best", fontsize=8, frameon=False)
    plots.save(fig, Path(path))


def cv_holdout_plot(path: Path, labels: list[str], cvs: list[float], stds: list[float], holdouts: list,
                    metric: str) -> None:
    """One point per run, numbered as in the table and named in the legend: CV (bars: ± std over folds) against
    the local holdout, with the line where the two agree. Runs without a holdout are named in the title; with none,
    CV per run."""
    plt = plots.plt
    fig, ax = plt.subplots(figsize=(7.5, 5))
    scored = [i for i, h in enumerate(holdouts) if h is not None]
    markers = "osD^vP*Xh<>p"
    if scored:
        for n, i in enumerate(scored):
            ax.errorbar([cvs[i]], [holdouts[i]], xerr=[stds[i]], fmt=markers[n // 10 % len(markers)], capsize=3,
                        color=f"C{n % 10}", label=labels[i])
            ax.annotate(labels[i].split()[0], (cvs[i], holdouts[i]), xytext=(4, 4), textcoords="offset points",
                        fontsize=8, color=f"C{n % 10}")
        values = np.array([cvs[i] for i in scored] + [holdouts[i] for i in scored], float)
        lo, hi = values.min(), values.max()
        pad = (hi - lo) * 0.05 + 1e-12
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1, label="holdout = CV")
        ax.set_ylabel(f"local holdout {metric}")
        left_out = [labels[i] for i in range(len(labels)) if i not in scored]
        title = f"{metric}: CV against local holdout, one point per run"
        if left_out:
            title += f"\n(no holdout, not shown: {', '.join(left_out)})"
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
    else:
        ys = np.arange(len(labels))[::-1]
        ax.errorbar(cvs, ys, xerr=stds, fmt="o", capsize=3)
        ax.set_yticks(ys, labels)
        title = f"{metric}: CV per run (no run has a local holdout)"
    ax.set_xlabel(f"CV {metric} (out of fold; bars: ± std over folds)")
    ax.set_title(title, fontsize=9)
    plots.save(fig, Path(path))

"""Side-by-side comparison of runs from their run directories: a markdown table and a PNG."""
from __future__ import annotations

import re
from pathlib import Path

from shared import plots
from shared.errors import UserError
from shared.io import write_json, write_text
from shared.runs import Run


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


def markdown_table(df) -> str:
    """A pandas frame as a GitHub markdown table (floats to 5 decimals, None as a dash)."""
    def cell(v):
        if v is None or (isinstance(v, float) and v != v):
            return "—"
        return f"{v:.5f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
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
    """Replace the block between ``<!-- results:KEY -->`` and ``<!-- /results:KEY -->`` in README.md."""
    content = readme.read_text(encoding="utf-8")
    pattern = re.compile(rf"(<!-- results:{re.escape(key)} -->\n).*?(<!-- /results:{re.escape(key)} -->)", re.S)
    if not pattern.search(content):
        raise UserError(f"{readme} has no '<!-- results:{key} -->' ... '<!-- /results:{key} -->' block to update.")
    write_text(readme, pattern.sub(lambda m: m.group(1) + text + m.group(2), content))

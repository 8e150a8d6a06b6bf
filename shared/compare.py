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
    competitions that have one), local holdout, wall time."""
    metric = runs[0].metrics["metric"]
    timed = any(r.metrics.get("time_split") for r in runs)
    time_head = f" time split {metric} |" if timed else ""
    lines = [f"| recipe | CV {metric} (mean ± std over folds) | OOF {metric} |{time_head} local holdout {metric} | "
             "wall time |", "|---|---|---|" + "---|" * timed + "---|---|"]
    for r in runs:
        m = r.metrics
        holdout = "—" if m.get("holdout") is None else f"{m['holdout']:.4f}"
        split = m.get("time_split")
        time_cell = (f" {split['score']:.4f} |" if split else " — |") if timed else ""
        lines.append(f"| {m['recipe']} | {m['cv_mean']:.4f} ± {m['cv_std']:.4f} | {m['cv']:.4f} |{time_cell} {holdout} | "
                     f"{m['wall_time_s']:.0f} s |")
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

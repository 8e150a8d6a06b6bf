#!/usr/bin/env python
"""Write the parts of the documentation that come from the code, so that none is typed by hand: each notebook's
table of its competition's recipes (name, the default marked, what it is, from the competition's RECIPES, as
``run.py COMPETITION --list`` says it). tests/test_readme.py fails when one is out of date.

    python scripts/docs.py          # rewrite the recipe table of every notebooks/<competition>.ipynb
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import REPO_ROOT, ArgumentParser, main
from shared.errors import UserError
from shared.io import write_text

HEADER = "| recipe | what it is |\n|---|---|\n"


def recipe_table(spec) -> str:
    """Markdown: one row per recipe of ``spec`` in its RECIPES order, the default marked."""
    rows = [f"| `{name}`{' (default)' if name == spec.default_recipe else ''} | {' '.join(r.about.split())} |"
            for name, r in spec.recipes.items()]
    return HEADER + "\n".join(rows)


def with_table(source: str, table: str, where: Path) -> str:
    """``source`` (a notebook's first cell) with its recipe table replaced by ``table``."""
    start = source.find(HEADER)
    if start < 0:
        raise UserError(f"{where}: its first cell has no '| recipe | what it is |' table to write.")
    end = start + len(HEADER)
    while source.startswith("| ", end):
        end = source.find("\n", end) + 1 or len(source)
    return source[:start] + table + ("\n" if end < len(source) else "") + source[end:].lstrip("\n")


def write_notebooks(folder: Path = REPO_ROOT / "notebooks") -> list[Path]:
    """Rewrite every notebook's recipe table; the notebooks changed."""
    import competitions

    changed = []
    for path in sorted(folder.glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        cell = notebook["cells"][0]
        source = "".join(cell["source"])
        new = with_table(source, recipe_table(competitions.get(path.stem)), path)
        if new != source:
            cell["source"] = new.splitlines(keepends=True)
            write_text(path, json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
            changed.append(path)
    return changed


def docs(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.parse_args(argv)
    changed = write_notebooks()
    print(f"{len(changed)} notebook(s) rewritten" + "".join(f"\n  {p}" for p in changed), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(docs))

#!/usr/bin/env python
"""Write docs/settings.md, the reference of every recipe setting (default, range, meaning), from the declarations
beside the defaults; ``--check`` only says whether the file is current (exit 2 when it is not).

    python scripts/settings_reference.py [--check] [--file docs/settings.md]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import REPO_ROOT, ArgumentParser, main
from shared.errors import UserError

DEFAULT_FILE = REPO_ROOT / "docs" / "settings.md"


def markdown() -> str:
    """The reference of every competition's recipes and of the generic tabular path's."""
    import competitions
    from shared import settings
    from shared.tabular import generic

    entries = []
    for name in competitions.names():
        spec = competitions.get(name)
        entries.append((spec.name, spec.recipes, settings.competition_defaults(spec)))
    entries.append(("tabular", generic.RECIPES, {}))
    return settings.reference(entries)


def settings_reference(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file", type=Path, default=DEFAULT_FILE, help="the reference file (default docs/settings.md)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 2 when the file is not current")
    args = p.parse_args(argv)
    from shared.io import write_text
    from shared.settings import TITLE

    if args.file.exists() and not args.file.is_file():
        raise UserError(f"--file {args.file} is a folder; pass the path of the reference file.")
    text = markdown()
    current = args.file.read_text(encoding="utf-8") if args.file.is_file() else None
    if args.check:
        if current != text:
            raise UserError(f"{args.file} is not current; run `python scripts/settings_reference.py` and commit it.")
        print(args.file)
        return
    if current is not None and not current.startswith(TITLE):
        raise UserError(f"{args.file} exists and is not a settings reference (it does not start with {TITLE!r}); "
                        "it is left as it is: pass another --file.")
    write_text(args.file, text)
    print(args.file)


if __name__ == "__main__":
    sys.exit(main(settings_reference))

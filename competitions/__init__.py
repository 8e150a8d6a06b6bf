"""One package per competition, each exposing ``SPEC`` (a ``shared.spec.CompetitionSpec``).
Adding a competition means adding a folder here; ``get`` finds it by folder name or Kaggle slug."""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from shared.errors import UserError
from shared.spec import CompetitionSpec


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.ispkg)


def get(name: str) -> CompetitionSpec:
    """The spec of a competition given its folder name (``house_prices``) or Kaggle slug."""
    key = name.strip().lower()
    if key in names():  # the folder name: import only that competition (image ones pull in torch)
        return importlib.import_module(f"competitions.{key}").SPEC
    for module_name in names():
        spec = importlib.import_module(f"competitions.{module_name}").SPEC
        if key in (spec.name, spec.slug, spec.name.replace("_", "-")):
            return spec
    raise UserError(f"unknown competition {name!r}; choose one of {names()} (or a Kaggle slug), "
                    "or `tabular` for any CSV competition.")

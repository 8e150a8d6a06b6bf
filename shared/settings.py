"""The settings reference, read from the declarations beside the defaults (``shared.config``: what each setting
accepts, ``describe()``, and what it is, ``doc``): ``listing`` is ``run.py COMPETITION --list`` (plain text for a
terminal or a notebook), made from the code itself, so it cannot go stale."""
from __future__ import annotations

import textwrap

from shared.config import RUN_RANGES, RUN_SETTINGS
from shared.errors import UserError, did_you_mean, show
from shared.spec import Recipe

WIDTH = 100  # characters per line of the text listing: a terminal's or a notebook cell's width
MIN_TEXT_WIDTH = 40  # the last column wraps to fill WIDTH, but is never narrower than this


def shown(value) -> str:
    """A default as one would type it after ``--set key=``: true/false/null, lists in brackets, text bare
    ('' for empty)."""
    return show(value, setting=True, quote=False)


def recipe_settings(recipe: Recipe) -> list[tuple[str, object, object]]:
    """(name, default, declaration) of a recipe's model, then feature, settings."""
    params = {**recipe.model_params, **recipe.feature_params}
    return [(name, default, recipe.ranges[name]) for name, default in params.items()]


def competition_defaults(spec) -> dict:
    """The run settings a competition defaults itself (as the runner passes them to ``shared.config.resolve``)."""
    return spec.run_defaults()


# ----------------------------------------------------------------------------------------------- text
def _table(rows: list[tuple[str, str, str, str]], indent: str = "  ") -> list[str]:
    """Three aligned columns: the setting, its default, and what it is followed by what it accepts (wrapped)."""
    name_w = max(len("setting"), *(len(r[0]) for r in rows))
    default_w = max(len("default"), *(len(r[1]) for r in rows))
    text_w = max(MIN_TEXT_WIDTH, WIDTH - len(indent) - name_w - default_w - 4)
    lines = [(indent + f"{'setting':<{name_w}}  {'default':<{default_w}}  what it is / what it accepts")]
    for name, default, accepts, doc in rows:
        text = (textwrap.wrap(doc, text_w, break_long_words=False, break_on_hyphens=False)
                + textwrap.wrap(accepts, text_w, initial_indent="accepts ", subsequent_indent="  ",
                                break_long_words=False, break_on_hyphens=False))
        for i, part in enumerate(text):
            cells = (name, default) if i == 0 else ("", "")
            lines.append(indent + f"{cells[0]:<{name_w}}  {cells[1]:<{default_w}}  {part}")
    return lines


def listing(name: str, title: str, recipes: dict[str, Recipe], default_recipe: str, competition_defaults: dict,
            only: str | None = None) -> str:
    """``run.py COMPETITION --list [--recipe NAME]``: the recipes (the default marked), each one's settings with
    default, range and meaning, then the run settings."""
    if only is not None and only not in recipes:
        raise UserError(f"unknown recipe {only!r} for {name};{did_you_mean(only, recipes)} "
                        f"choose one of {sorted(recipes)}.")
    lines = [f"{name}: {title}" if title else name, "",
             "recipes (--recipe NAME; * the default):"]
    name_w = max(map(len, recipes))
    for recipe in recipes.values():
        mark = "*" if recipe.name == default_recipe else " "
        about = textwrap.wrap(recipe.about, WIDTH - name_w - 4) or [""]
        lines += [f"{mark} {recipe.name:<{name_w}}  {about[0]}",
                  *(" " * (name_w + 4) + more for more in about[1:])]
    shown_recipes = [recipes[only]] if only is not None else list(recipes.values())
    for recipe in shown_recipes:
        lines += ["", f"recipe {recipe.name} (--set KEY=VALUE):"]
        lines += _table([(key, shown(default), declared.describe(), declared.doc)
                         for key, default, declared in recipe_settings(recipe)])
    defaults = {**RUN_SETTINGS, **competition_defaults}
    if only is not None:
        defaults["log_target"] = recipes[only].log_target
    lines += ["", "run settings, every recipe (--set KEY=VALUE):"]
    lines += _table([(key, shown(defaults[key]), RUN_RANGES[key].describe(), RUN_RANGES[key].doc)
                     for key in RUN_SETTINGS])
    own = [f"{r.name} log_target={shown(r.log_target)}" for r in shown_recipes if r.log_target != defaults["log_target"]]
    if own:
        lines.append("  recipes' own defaults: " + ", ".join(own))
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------- markdown

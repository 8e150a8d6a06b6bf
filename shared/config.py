"""Recipe configuration: defaults from the recipe, ``--set key=value`` overrides, the resolved dict that
is saved in every run (config.yaml)."""
from __future__ import annotations

import copy

import yaml

from shared.errors import UserError
from shared.spec import Recipe


def parse_sets(pairs: list[str] | None) -> dict:
    """``["lr=0.1", "hidden=[256,128]"]`` -> ``{"lr": 0.1, "hidden": [256, 128]}`` (values read as YAML)."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects key=value, got {pair!r}.")
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        out[key.strip()] = _number(parsed)
    return out


def _number(value):
    """YAML 1.1 reads '1e-3' as a string; a user means the number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def resolve(recipe: Recipe, overrides: dict) -> dict:
    """Apply overrides to the recipe's feature/model params; an unknown key is an error listing the known."""
    config = {
        "recipe": recipe.name,
        "features": copy.deepcopy(recipe.feature_params),
        "model": copy.deepcopy(recipe.model_params),
        "log_target": recipe.log_target,
        "clean_train": True,
    }
    for key, value in overrides.items():
        section = next((s for s in ("model", "features") if key in config[s]), None)
        if section is None and key in ("log_target", "clean_train"):
            config[key] = _coerce(key, value, True)
            continue
        if section is None:
            known = sorted([*config["model"], *config["features"], "log_target", "clean_train"])
            raise UserError(f"--set {key}: recipe {recipe.name!r} has no such key; known keys: {known}.")
        default = config[section][key]
        config[section][key] = _coerce(key, value, default)
    return config


def _coerce(key, value, default):
    """Give ``value`` the type of the recipe's default, or say why it cannot have it."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UserError(f"--set {key}={value!r}: expected true or false.")
        return value
    if isinstance(default, (int, float)) and default is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"--set {key}={value!r}: expected a number like {default!r}.")
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise UserError(f"--set {key}={value!r}: expected a whole number like {default!r}.")
            return int(value)
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise UserError(f"--set {key}={value!r}: expected text like {default!r}.")
    if isinstance(default, list) and not isinstance(value, list):
        raise UserError(f"--set {key}={value!r}: expected a list like [256, 128].")
    return value

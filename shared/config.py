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


# Run-level settings (not recipe hyperparameters) that --set accepts too, with their defaults.
RUN_SETTINGS = {
    "log_target": None,  # None: follow the metric (log space for RMSLE); true / false forces it
    "clean_train": True,  # drop the competition's known-bad training rows
    "time_col": "",  # a date column: also score a time-ordered split (train earlier, validate later)
    "time_valid_fraction": 0.2,  # share of the latest rows held out by that split
    "sample_weight": "none",  # none | adversarial (test-likeness) | path to a CSV of id,weight
    "fold_average": "probabilities",  # classes: average the folds' test probabilities, or their logits
    "predict": "test",  # detection: the image list to predict and submit, test.csv or valid.csv
}
_SETTING_TYPES = {"log_target": True}  # an example value of the right type where the default is None


# Automatic adjustments that a stated choice turns off: a recipe's small-data rules (shared.vision.train.fit_schedule)
# may shrink its batch or lengthen its schedule, but `--set epochs=2` means two epochs and `--set batch_size=64`
# (or a stated lr) means that batch and rate. Setting the guard itself (`--set min_updates=...`) still wins.
STATED_WINS = {"epochs": ("min_updates",), "batch_size": ("min_steps_per_epoch",), "lr": ("min_steps_per_epoch",)}


def resolve(recipe: Recipe, overrides: dict, run_defaults: dict | None = None) -> dict:
    """Apply overrides to the recipe's feature/model params and the run settings (``RUN_SETTINGS``,
    with the competition's defaults in ``run_defaults``); an unknown key is an error listing the known."""
    config = {
        "recipe": recipe.name,
        "features": copy.deepcopy(recipe.feature_params),
        "model": copy.deepcopy(recipe.model_params),
        **RUN_SETTINGS,
        "log_target": recipe.log_target,
        **(run_defaults or {}),
    }
    for key, value in overrides.items():
        section = next((s for s in ("model", "features") if key in config[s]), None)
        if section is None and key in RUN_SETTINGS:
            config[key] = _coerce(key, value, _SETTING_TYPES.get(key, RUN_SETTINGS[key]))
            continue
        if section is None:
            known = sorted([*config["model"], *config["features"], *RUN_SETTINGS])
            raise UserError(f"--set {key}: recipe {recipe.name!r} has no such key; known keys: {known}.")
        default = config[section][key]
        config[section][key] = _coerce(key, value, default)
        for guard in STATED_WINS.get(key, ()):
            if guard in config[section] and guard not in overrides:
                config[section][guard] = 0
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
    if isinstance(default, str) and isinstance(value, bool):  # a text setting such as pretrained=auto|true|false
        return str(value).lower()
    if isinstance(default, str) and not isinstance(value, str):
        raise UserError(f"--set {key}={value!r}: expected text like {default!r}.")
    if isinstance(default, list) and not isinstance(value, list):
        raise UserError(f"--set {key}={value!r}: expected a list like [256, 128].")
    return value

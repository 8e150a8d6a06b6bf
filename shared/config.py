"""Recipe configuration: defaults from the recipe, ``--set key=value`` overrides, the resolved dict that
is saved in every run (config.yaml).

Every setting declares what it accepts beside its default (``Recipe.ranges``, ``RUN_RANGES``), in a small
vocabulary: ``Range`` (finite numbers within bounds, whole numbers for integer settings), ``Choice`` (one of
a few values), ``Flag`` (true or false), ``Text`` (free text, optionally matching a pattern or passing a
check), ``Items`` (a list whose items each satisfy one declaration) and ``Either`` (any of several). A
``Rule`` under a tuple of names relates several settings. ``resolve`` checks every resolved value, defaults
and overrides alike, before any work starts.

Each declaration also carries ``doc``, the one line that says what the setting is (``COUNT.with_doc("passes over
the training rows")``, or ``Choice(..., doc="...")``): ``run.py COMPETITION --list``
(``shared.settings``) read it, so the text lives beside the default and the range, where a comment would."""
from __future__ import annotations

import copy
import datetime
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

from shared.errors import UserError, did_you_mean, show
from shared.spec import Recipe

SET_CHARS = 2000  # one --set key=value at most: any setting's value (a list of widths, a path) is far shorter
SET_DEPTH = 3  # brackets within brackets at most: no setting takes more than a list


def parse_sets(pairs: list[str] | None) -> dict:
    """``["lr=0.1", "hidden=[256,128]"]`` -> ``{"lr": 0.1, "hidden": [256, 128]}`` (values read as YAML). What one
    pair may be is bounded before it is read: its length, its nesting, and no YAML anchors (whose aliases can
    expand a short text into gigabytes, or into a list that holds itself)."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects key=value, got {show(pair)}.")
        if len(pair) > SET_CHARS:
            raise UserError(f"--set {show(key.strip(), setting=True, quote=False, limit=60)}=...: {len(pair)} "
                            f"characters, more than the {SET_CHARS} a setting takes; pass the value itself, not a "
                            "file's contents.")
        out[key.strip()] = _read_yaml(key.strip(), value)
    return out


YAML_WORDS = {"on": True, "off": False, "yes": True, "no": False, "y": True, "n": False}  # kept as text, see below


def _read_yaml(key: str, value: str):
    """One --set value as YAML (text that YAML cannot read stays text), refused with one line when it holds an
    anchor or nests deeper than ``SET_DEPTH``."""
    if not value.strip():
        return ""
    if value.strip().lower() in YAML_WORDS:  # YAML 1.1 reads on/off/yes/no as booleans: channels_last=on is "on"
        return value.strip()
    depth, plain = 0, True
    try:
        for token in yaml.scan(value):
            plain = plain and getattr(token, "plain", True)
            if isinstance(token, yaml.AnchorToken):
                raise UserError(f"--set {key}={show(value, limit=60)}: YAML anchors and aliases (&name, *name) are not "
                                "accepted in a setting; write the value out in full.")
            opens = (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken, yaml.BlockSequenceStartToken,
                     yaml.BlockMappingStartToken)
            depth += isinstance(token, opens) - isinstance(token, (yaml.FlowSequenceEndToken,
                                                                   yaml.FlowMappingEndToken, yaml.BlockEndToken))
            if depth > SET_DEPTH:
                raise UserError(f"--set {key}={show(value, limit=60)}: nested more than {SET_DEPTH} brackets deep; "
                                "a setting takes a value or a list.")
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    return _number(parsed) if plain else parsed  # a quoted '1e-3' is text


def _number(value):
    """YAML 1.1 reads '1e-3' as a string; a user means the number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


# ------------------------------------------------------------------------------------- declarations
def _bound(x: float) -> str:
    """A bound as one may type it: whole numbers in full, grouped by thousands as YAML reads them (1_000_000)."""
    return f"{int(x):_}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


class Declaration:
    """What every declaration has besides ``describe`` / ``problem``: ``doc``, the one line saying what the
    setting is, and ``with_doc`` to give a shared declaration (``COUNT``, ``FLAG``) that line."""

    doc: str = ""

    def with_doc(self, doc: str):
        """A copy of this declaration with ``doc`` as its one line."""
        documented = copy.copy(self)
        object.__setattr__(documented, "doc", doc)  # also on the frozen Range
        return documented


@dataclass(frozen=True)
class Range(Declaration):
    """A finite number (NaN and infinities refused) within optional bounds, open or closed; ``integer``
    for whole-number settings (their default is an int)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    doc: str = field(default="", compare=False)

    def describe(self, finite: bool = False) -> str:
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {_bound(self.low)}")
        if self.high is not None:
            bounds.append(f"{'<' if self.high_open else '<='} {_bound(self.high)}")
        kind = ("a finite " if finite or not bounds else "a ") + ("whole number" if self.integer else "number")
        return " ".join([kind, " and ".join(bounds)]).strip()

    def problem(self, value) -> str | None:
        """None when ``value`` is allowed, else what it must be."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be {self.describe()}"
        if (isinstance(value, float) and not math.isfinite(value)) or (isinstance(value, int) and abs(value) >= 2**1024):
            return f"must be {self.describe(finite=True)}"  # a whole number past any float is not finite either
        if self.integer and isinstance(value, float) and not value.is_integer():
            return f"must be {self.describe()}"
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        return f"must be {self.describe()}" if too_low or too_high else None


class Choice(Declaration):
    """One of a few values. A text choice also takes a boolean as its text (``pretrained`` auto|true|false
    accepts false), and a number or boolean option matches only a value of its own type (1 is not true).
    A text close to a text option is told that option ("did you mean 'lasso'?")."""

    def __init__(self, *options, doc: str = ""):
        self.options, self.doc = options, doc

    def describe(self) -> str:
        shown = [o if isinstance(o, str) else show(o, setting=True) for o in self.options]
        return shown[0] if len(shown) == 1 else "one of " + ", ".join(shown)

    def allows(self, value) -> bool:
        if isinstance(value, bool) and not any(isinstance(o, bool) for o in self.options):
            value = str(value).lower()
        return any(type(value) is type(o) and value == o for o in self.options)

    def problem(self, value) -> str | None:
        if self.allows(value):
            return None
        hint = did_you_mean(value, [o for o in self.options if isinstance(o, str)])
        return f"must be {self.describe()}" + (f";{hint}" if hint else "")


class Flag(Declaration):
    """true or false."""

    def __init__(self, doc: str = ""):
        self.doc = doc

    def describe(self) -> str:
        return "true or false"

    def problem(self, value) -> str | None:
        return None if isinstance(value, bool) else "must be true or false"


class Text(Declaration):
    """Free text; with ``pattern`` it must match it whole, with ``check`` (a function that raises UserError
    on a bad value) it must pass it. ``about`` says what is expected (``doc`` what the setting is)."""

    def __init__(self, about: str = "text", pattern: str | None = None,
                 check: Callable[[str], object] | None = None, doc: str = ""):
        self.about, self.pattern, self.check, self.doc = about, pattern, check, doc

    def describe(self) -> str:
        return self.about

    def problem(self, value) -> str | None:
        if not isinstance(value, str):
            return f"must be {self.about}"
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return f"must be {self.about}"
        if self.check is not None:
            try:
                self.check(value)
            except UserError:
                return f"must be {self.about}"
        return None


class Items(Declaration):
    """A list of at most ``most`` items, each satisfying ``item``."""

    def __init__(self, item, most: int, doc: str = ""):
        self.item, self.most, self.doc = item, most, doc

    def describe(self) -> str:
        return f"a list of at most {self.most} items, each {self.item.describe()}"

    def problem(self, value) -> str | None:
        if (not isinstance(value, list) or len(value) > self.most
                or any(self.item.problem(v) is not None for v in value)):
            return f"must be {self.describe()}"
        return None


class Either(Declaration):
    """Any of several declarations: ``Either(Choice(0), Range(low=2, integer=True))`` is 0 or at least 2."""

    def __init__(self, *alternatives, doc: str = ""):
        self.alternatives, self.doc = alternatives, doc

    def describe(self) -> str:
        return " or ".join(a.describe() for a in self.alternatives)

    def problem(self, value) -> str | None:
        if any(a.problem(value) is None for a in self.alternatives):
            return None
        return f"must be {self.describe()}"


@dataclass(frozen=True)
class Rule:
    """A condition on several settings, declared under the tuple of their names:
    ``{("hidden", "dropout"): Rule(lambda hidden, dropout: len(dropout) <= len(hidden), "...")}``."""

    holds: Callable[..., bool]
    about: str


def settings(table: dict) -> tuple[dict, dict]:
    """(defaults, declarations) of a settings table ``{name: (default, declaration)}``: each setting's default,
    what it accepts and what it is (the declaration's ``doc``) written once, together, beside the code that reads
    it. A Rule relating several settings stands under the tuple of their names, with no default."""
    defaults = {key: entry[0] for key, entry in table.items() if not isinstance(key, tuple)}
    declarations = {key: entry if isinstance(key, tuple) else entry[1] for key, entry in table.items()}
    return defaults, declarations


# Shorthands for the common ranges.
POSITIVE = Range(low=0, low_open=True)  # > 0: learning rates, regularisation strengths
NON_NEGATIVE = Range(low=0)  # >= 0: penalties, alphas of Mixup/CutMix, 0 = off
FRACTION = Range(low=0, high=1)  # a share in [0, 1]
OPEN_FRACTION = Range(low=0, high=1, low_open=True, high_open=True)  # strictly between 0 and 1
SHARE = Range(low=0, high=1, low_open=True)  # (0, 1]: sampled fractions of rows or columns
BELOW_ONE = Range(low=0, high=1, high_open=True)  # [0, 1): dropout, smoothing, momentum, EMA decay
FLAG = Flag()
MAX_SECONDS = 30 * 24 * 3600  # a time budget at most: a month (--time-limit and every time_limit setting)
SECONDS = Range(low=0, high=MAX_SECONDS, low_open=True)  # a time budget in seconds


ROWS = 10**9  # a count of training rows at most (a leaf's, a category's): more than any table here, and within
# the 32-bit integers that LightGBM and XGBoost take


def count(high: int, low: int = 1) -> Range:
    """Whole numbers from ``low`` to ``high``: epochs, batch sizes, rounds, widths. Every whole-number setting has
    an upper bound, the most that real use asks for, so that no value can ask for more memory or time than a
    machine has (tests/test_bounds.py checks every recipe's declarations)."""
    return Range(low=low, high=high, integer=True)


# Run-level settings (not recipe hyperparameters) that --set accepts too, with their defaults ...
RUN_SETTINGS, RUN_RANGES = settings({  # name: (default, what it accepts and what it is)
    "log_target": (None, Choice(None, True, False, doc="fit the target in log space: null follows the metric (log for "
                                                       "RMSLE), true or false forces it")),
    "clean_train": (True, FLAG.with_doc("drop the competition's known-bad training rows (from training and CV scoring)")),
    "time_col": ("", Text("a column name, or empty for no time split",
                          doc="a date column: also score a time-ordered split (train earlier, validate later)")),
    "time_valid_fraction": (0.2, OPEN_FRACTION.with_doc("share of the latest rows that the time-ordered split holds out")),
    # table runs' feature importance (shared.importance): gain is free; permutation predicts the held-out rows once
    # more per column (House Prices gbm, full data: about as long again as the fits, its linear base's one-hot view);
    # shap: the boosters' own TreeSHAP on the same rows (shared.importance.MEASURES: what each choice measures)
    "importance": ("gain", Choice("gain", "permutation", "shap", "all", "none", doc="table runs: importance.csv per "
                                  "run: the model's own gain (free), permutation on the held-out rows too (costs "
                                  "predictions), shap (mean |SHAP value| on those rows, the boosters' own TreeSHAP), "
                                  "all three, or none")),
    "importance_repeats": (1, count(100).with_doc("shuffles of each column per fold (the fold's number: their mean)")),
    "importance_columns": (100, count(100_000).with_doc("columns shuffled per fold at most: those of most gain, else "
                                                        "the first; the others get no permutation number")),
    "importance_rows": (1000, count(ROWS).with_doc("held-out rows per fold the shuffled columns are scored on at most "
                                                   "(a seeded sample)")),
    "sample_weight": ("none", Text("none, adversarial, or the path of a CSV of id,weight", pattern=r"\S.*",
                                   doc="training-row weights: none, adversarial (test-likeness) or a CSV of id,weight")),
    "fold_average": ("probabilities", Choice("probabilities", "logits",  # shared.tables.FOLD_AVERAGES
                                             doc="classes: average the fold models' test probabilities, or their logits")),
    "predict": ("test", Choice("test", "valid",  # shared.detection.task.PREDICT_SPLITS
                               doc="detection: the image list to predict and submit, test.csv or valid.csv")),
    "positive_class": (None, Either(Choice(None), Text("a label of the target"), Range(), FLAG,
                                    doc="binary target: the class that AUC, log loss, F1 score and the submitted "
                                        "probability are of; null: the last of the sorted labels")),
})
_SETTING_TYPES = {"log_target": True}  # an example value of the right type where the default is None


# Automatic adjustments that a stated choice turns off: a recipe's small-data rules (shared.vision.train.fit_schedule)
# may shrink its batch or lengthen its schedule, but `--set epochs=2` means two epochs and `--set batch_size=64`
# (or a stated lr) means that batch and rate. Setting the guard itself (`--set min_updates=...`) still wins.
STATED_WINS = {"epochs": ("min_updates",), "batch_size": ("min_steps_per_epoch",), "lr": ("min_steps_per_epoch",)}


def resolve(recipe: Recipe, overrides: dict, run_defaults: dict | None = None, competition: str | None = None) -> dict:
    """Apply overrides to the recipe's feature/model params and the run settings (``RUN_SETTINGS``,
    with the competition's defaults in ``run_defaults``); an unknown key is an error listing the known, and
    a value outside its declared range (``Recipe.ranges``, ``RUN_RANGES``) an error naming the range.
    ``competition`` only names the recipe's competition in those errors."""
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
            listing = f" (`python scripts/run.py {competition} --list` says what each is)" if competition else ""
            raise UserError(f"--set {show(key, setting=True, quote=False, limit=60)}: recipe {recipe.name!r} has no such key;{did_you_mean(key, known)} "
                            f"known keys: {known}{listing}.")
        default = config[section][key]
        # A setting of several kinds (``Either``: "auto" or a share, a name or a number) takes any of them; its
        # declaration checks the value below. The others take the type of their default.
        either = isinstance(recipe.ranges.get(key), Either)
        config[section][key] = value if either else _coerce(key, value, default)
        for guard in STATED_WINS.get(key, ()):
            if guard in config[section] and guard not in overrides:
                config[section][guard] = 0
    check_ranges(config, recipe, overrides, competition)
    return config


def check_ranges(config: dict, recipe: Recipe, overrides: dict, competition: str | None = None) -> None:
    """Every resolved value against its declaration, then the cross-setting rules; the first breach is a
    UserError naming the setting, its value and what it must be."""
    values = {**{k: config[k] for k in RUN_SETTINGS if k in config}, **config["features"], **config["model"]}
    where = f"recipe {recipe.name!r}" + (f" of {competition}" if competition else "")
    declared = {**RUN_RANGES, **recipe.ranges}
    for key, value in values.items():
        declaration = declared.get(key)
        problem = None if declaration is None else declaration.problem(value)
        if problem is not None:
            told = (f"--set {key}={show(overrides[key], setting=True)}" if key in overrides
                    else f"{key}={show(value, setting=True)} (the default)")
            raise UserError(f"{told}: {key} {problem} ({where}).")
    for names, rule in recipe.ranges.items():
        if isinstance(names, tuple) and all(n in values for n in names) and not rule.holds(*(values[n] for n in names)):
            stated = [n for n in names if n in overrides]
            got = ", ".join(f"{n}={show(values[n], setting=True)}" for n in names)
            told = "--set " + " ".join(f"{n}={show(values[n], setting=True)}" for n in stated) if stated else "the defaults"
            raise UserError(f"{told}: {rule.about}; got {got} ({where}).")


def _coerce(key, value, default):
    """Give ``value`` the type of the recipe's default, or say why it cannot have it."""
    told = f"--set {key}={show(value, setting=True)}"
    if isinstance(default, bool):
        value = YAML_WORDS.get(value.lower(), value) if isinstance(value, str) else value  # ema=yes, ema=on
        if not isinstance(value, bool):
            raise UserError(f"{told}: expected true or false.")
        return value
    if isinstance(default, (int, float)) and default is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{told}: expected a number like {default!r}.")
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise UserError(f"{told}: expected a whole number like {default!r}.")
            return int(value)
        if isinstance(value, int) and abs(value) >= 2**1024:  # past any float: the range says "a finite number"
            return math.inf if value > 0 else -math.inf
        return float(value)
    if isinstance(default, str) and isinstance(value, bool):  # a text setting such as pretrained=auto|true|false
        return str(value).lower()
    if isinstance(default, str) and not isinstance(value, str):
        return _not_text(told, key, value)
    if isinstance(default, list) and not isinstance(value, list):
        raise UserError(f"{told}: expected a list like [256, 128].")
    return value


def _not_text(told: str, key: str, value) -> None:
    """A text setting given what YAML reads as something else: say how to make it text (quoting)."""
    if isinstance(value, (list, dict)):
        raise UserError(f"{told}: expected text, not a {type(value).__name__}.")
    kind = ("a date" if isinstance(value, (datetime.date, datetime.time)) else "null" if value is None
            else "a number")
    typed = show(value, setting=True, limit=60)
    raise UserError(f"{told}: expected text, and YAML reads {typed} as {kind}; quote it to mean the text: "
                    f"--set {key}='\"{typed}\"'.")

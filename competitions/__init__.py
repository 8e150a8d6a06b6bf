"""The registry: one package per competition, each exposing ``SPEC`` (a ``shared.spec.CompetitionSpec``).
Adding a competition means adding a folder here (see README.md beside this file); ``get`` finds it by folder
name or Kaggle slug, ``for_arguments`` from a command line (the generic ``tabular`` path too), ``for_run`` from a
run folder's config. The entry points (scripts/, notebooks/) use it; the engine in shared/ takes specs and knows
no competition."""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from shared.errors import UserError, did_you_mean
from shared.runs import load_config
from shared.spec import CompetitionSpec
from shared.tabular import generic


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.ispkg)


def get(name: str) -> CompetitionSpec:
    """The spec of a competition given its folder name (``house_prices``) or Kaggle slug."""
    key = name.strip().lower()
    if key in names():  # the folder name: import only that competition (image ones pull in torch)
        return importlib.import_module(f"competitions.{key}").SPEC
    known = {"tabular": "tabular"}  # every name a command line takes -> the one to suggest
    for module_name in names():
        spec = importlib.import_module(f"competitions.{module_name}").SPEC
        if key in (spec.name, spec.slug, spec.name.replace("_", "-")):
            return spec
        known.update({spec.slug: spec.name, spec.name.replace("_", "-"): spec.name, spec.name: spec.name})
    raise UserError(f"unknown competition {name!r};{did_you_mean(key, known, aliases=known)} choose one of {names()} (or a Kaggle slug), "
                    "or `tabular` for any CSV competition.")


def for_arguments(args) -> tuple[CompetitionSpec, Path]:
    """(spec, data folder) of a command line's ``competition`` and ``--data`` (and, for the generic path,
    ``--target``, ``--id``, ``--metric``)."""
    if args.competition == "tabular":
        if args.data is None:
            raise UserError("the generic tabular path needs --data DIR holding train.csv, test.csv and a sample "
                            "submission (*submission*.csv, or --sample FILE).")
        if args.metric:
            metric(args.metric)  # a competition's own metric works on the generic path too
        return generic.spec_for(args.data, args.target, args.id_col, args.metric, getattr(args, "sample", None)), args.data
    spec = get(args.competition)
    if getattr(args, "resume", None) is None:  # a resumed run's flags are checked against the run (runner)
        from shared.cli import refuse_typed

        own = {"target": spec.target_col, "id_col": spec.id_col, "metric": spec.metric.name}
        other = {dest: flag for dest, flag in GENERIC_FLAGS.items() if getattr(args, dest, None) not in (None, own[dest])}
        refuse_typed(args, other, f"is for the generic path (`tabular`): {spec.name} has its own target "
                                  f"{own['target']!r}, id {own['id_col']!r} and metric {own['metric']!r}; drop it, or "
                                  f"run `tabular --data DIR --target COL --id COL --metric M` on these files.")
    data_dir = args.data or Path("data") / spec.name
    return spec.with_sample(getattr(args, "sample", None), data_dir), data_dir


# The generic path's own flags, by dest: a named competition has these in its spec.
GENERIC_FLAGS = {"target": "--target", "id_col": "--id", "metric": "--metric"}


def for_run(config: dict) -> CompetitionSpec:
    """The spec a run was made with: its competition, or the generic path rebuilt from the columns it records."""
    sample = config.get("sample_file") or None  # where the run's sample submission was, when it recorded it
    if config["competition"] == "tabular":
        return generic.spec_for(Path(config["data_dir"]), config["target_col"], config["id_col"], config["metric"],
                                sample)
    spec = get(config["competition"])
    return spec if sample in (None, spec.sample_submission_file) else spec.with_sample(sample, Path(config["data_dir"]))


def of_runs(run_dirs: list[Path]) -> CompetitionSpec:
    """The spec of the runs passed to ensemble or merge (the first one's; the engine checks the others match)."""
    if not run_dirs:
        raise UserError("pass at least one run folder.")
    return for_run(load_config(Path(run_dirs[0])))


def metric(name: str):
    """A metric by name, also one that a competition registers (``shared.metrics.register``) when it is imported."""
    from shared.metrics import METRICS, get_metric

    if name not in METRICS:
        for module_name in names():
            importlib.import_module(f"competitions.{module_name}")
    return get_metric(name)

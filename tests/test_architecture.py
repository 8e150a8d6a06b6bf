"""The engine's layering, read from the source: no module under shared/ imports a competition (the registry,
``competitions``, is what the entry points use), and the import graph of shared/ has no cycle, counting the
imports inside functions too (those are often how a cycle hides); only ``if TYPE_CHECKING:`` imports, which never
run, are left out. Plus the extension points a new competition relies on: declared on the spec, and used."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / "shared").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Every module ``name`` imports (resolved against ``known`` for ``from pkg import module``), all depths."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):  # `if TYPE_CHECKING:` bodies never run
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def test_the_engine_imports_no_competition():
    offenders = {name: sorted(i for i in imports if i == "competitions" or i.startswith("competitions."))
                 for name, imports in _graph().items()}
    assert not {k: v for k, v in offenders.items() if v}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among the shared/ modules (a module importing its own package's __init__ excepted,
    which Python runs first anyway), or None."""
    edges = {m: {i for i in imports if i in graph and i != m and not m.startswith(i + ".")}
             for m, imports in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_engine_has_no_import_cycle():
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()))


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", ["shared.cli", "shared.notebook", "shared.detection.blend", "shared.tables",
                                  "shared.runner"])
def test_modules_once_tied_to_competitions_are_not(name):
    assert "competitions" not in _graph()[name]


def test_every_competition_declares_its_outputs_and_metric():
    import competitions
    from shared.spec import Outputs

    for name in competitions.names():
        spec = competitions.get(name)
        assert isinstance(spec.outputs, Outputs), name
        assert spec.metric.takes in ("values", "labels", "probabilities", "boxes"), name
        assert spec.outputs.submission_files, name


def test_group_and_time_folds_come_from_the_spec_and_their_column(tmp_path):
    """A spec names the column its group / time folds read; the runner passes it to the folds (no group spans two
    folds; time folds are in order), and other groups give other cached folds."""
    import numpy as np
    import pandas as pd

    from shared import runner
    from shared.tabular import generic

    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame({"id": [f"r{i:03d}" for i in range(2 * n)], "g": rng.integers(0, 12, 2 * n).astype(str),
                          "day": pd.date_range("2020-01-01", periods=2 * n).strftime("%Y-%m-%d"),
                          "x": rng.normal(size=2 * n)})
    frame["y"] = frame["x"] * 2 + rng.normal(size=2 * n)
    frame.iloc[:n].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[n:].drop(columns="y").to_csv(tmp_path / "test.csv", index=False)
    frame.iloc[n:][["id"]].assign(y=0.0).to_csv(tmp_path / "sample_submission.csv", index=False)
    base = generic.spec_for(tmp_path, "y", "id", "rmse")
    from dataclasses import replace

    for kind, col in (("group", "g"), ("time", "day")):
        spec = replace(base, fold_kind=kind, fold_col=col)
        run_dir = runner.run(spec, "linear", tmp_path, n_folds=3, out_root=tmp_path / "runs")
        folds = pd.read_csv(run_dir / "folds.csv", dtype=str).merge(frame[["id", col]], on="id")
        if kind == "group":
            assert (folds.groupby(col)["fold"].nunique() == 1).all()
        else:
            order = folds.sort_values(col)["fold"].astype(int).to_numpy()
            assert (np.diff(order) >= 0).all() and set(order) == {0, 1, 2}
    with pytest.raises(ValueError, match="group folds need fold_col"):
        replace(base, fold_kind="group", fold_col="")

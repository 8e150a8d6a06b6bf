"""The test of a template: a Kaggler changes one competition's loss, net, augmentation or feature in that
competition's folder, in a few lines, and nothing else moves. Each case forks the repository into a temporary
folder, makes the change that docs/templates.md shows (the same text), and checks that

- only files under ``competitions/<that competition>/`` differ from the original;
- the change is in effect (fast tier: the part the recipe builds; integration tier: a run with it);
- the other competitions are as before (fast tier: their recipes' parts and settings; integration tier: a run
  of another competition gives the figures recorded in tests/figures.json for this kind of CPU, to 1e-7).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import figures  # noqa: E402

GUIDE = ROOT / "docs" / "templates.md"


def changes() -> dict[str, list[tuple[str, str, str]]]:
    """docs/templates.md's changes: name -> [(file, the text it replaces, the new text), ...]. Under a '## <name>'
    heading, each edit starts 'In `<file>`' and shows two ```python blocks: the lines as they are, then as changed."""
    out = {}
    for section in GUIDE.read_text(encoding="utf-8").split("\n## ")[1:]:
        name, edits = section.splitlines()[0].strip(), []
        for part in re.split(r"\nIn `", section)[1:]:
            before, after = re.findall(r"```python\n(.*?)```", part, flags=re.S)[:2]
            edits.append((part.split("`", 1)[0], before, after))
        out[name] = edits
    return out


def fork(tmp_path: Path, change: str) -> Path:
    """A copy of the repository with one change of docs/templates.md made to it."""
    root = tmp_path / "fork"
    ignore = shutil.ignore_patterns("__pycache__", ".venv", ".git", "runs", "data", "*.pyc", ".pytest_cache")
    shutil.copytree(ROOT, root, ignore=ignore)
    for file, before, after in changes()[change]:
        text = (root / file).read_text(encoding="utf-8")
        assert text.count(before) == 1, f"{file} no longer holds the lines docs/templates.md changes ({change})"
        (root / file).write_text(text.replace(before, after), encoding="utf-8")
    return root


def changed_files(fork_root: Path) -> set[str]:
    def digests(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for folder in ("competitions", "shared", "scripts") for p in (root / folder).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    ours, theirs = digests(ROOT), digests(fork_root)
    return {f for f in ours.keys() | theirs.keys() if ours.get(f) != theirs.get(f)}


def in_fork(fork_root: Path, code: str) -> dict:
    """Run ``code`` (which prints one JSON line last) with the fork's packages first on the path."""
    done = subprocess.run([sys.executable, "-c", code], cwd=fork_root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(fork_root)})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# What every competition's recipes are: their settings and the source of their parts, as a comparable digest.
DIGEST = """
import hashlib, inspect, json
import competitions
out = {}
for name in competitions.names():
    for rname, r in competitions.get(name).recipes.items():
        parts = getattr(getattr(r.model, "__self__", None), "__dict__", {})
        code = "".join(inspect.getsource(v) for v in parts.values() if callable(v))
        code += "".join(inspect.getsource(v[0] if isinstance(v, tuple) else v)
                        for kind in ("augmentations", "tta_views") for v in dict(parts.get(kind, {})).values()
                        if callable(v[0] if isinstance(v, tuple) else v) and not isinstance(v, type))
        settings = json.dumps([r.model_params, r.feature_params], sort_keys=True, default=str)
        out[f"{name}/{rname}"] = hashlib.sha256((settings + code).encode()).hexdigest()
"""

@functools.cache
def original_recipes() -> dict:
    return in_fork(ROOT, DIGEST + "print(json.dumps(out))")


CASES = {  # change -> (its competition, the probe that shows it in effect, printed as JSON)
    "Focal loss for Classify Leaves": ("classify_leaves", """
import torch
from competitions.classify_leaves.pipeline import PARTS
from competitions.classify_leaves import RECIPES
p = RECIPES["timm"].model_params
criterion = PARTS.loss(p, 3)
logits, hard = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.4, 0.1]]), torch.tensor([0, 2])
soft = torch.nn.functional.one_hot(hard, 3).float()
out.update(kind=type(criterion).__name__, hard=float(criterion(logits, hard)), soft=float(criterion(logits, soft)))
"""),
    "A new House Prices feature": ("house_prices", """
import pandas as pd
from competitions.house_prices import demo
from competitions.house_prices.features import gbm_features
import tempfile, pathlib
d = demo.build(pathlib.Path(tempfile.mkdtemp()) / "hp", size="small")
train, test = pd.read_csv(d / "train.csv"), pd.read_csv(d / "test.csv")
X, _ = gbm_features(train, test, {})
out.update(columns=list(X.columns))
"""),
    "A hand-written CIFAR-10 net as a new recipe": ("cifar10", """
import torch
from competitions.cifar10 import RECIPES
r = RECIPES["handmade"]
net = r.model.__self__.net(r.model_params, 10)
out.update(kind=type(net).__name__, shape=list(net(torch.zeros(2, 3, 32, 32)).shape))
"""),
    "A new CowBoy Outfits augmentation": ("cowboy_outfits", """
from competitions.cowboy_outfits import RECIPES
from competitions.cowboy_outfits.pipeline import AUGMENTATIONS
r = RECIPES["mobile"]
out.update(names=sorted(AUGMENTATIONS), steps=[type(s).__name__ for s in AUGMENTATIONS["flip_blur"]()],
           accepts=r.ranges["augment"].problem("flip_blur") is None)
"""),
}


def test_the_guide_shows_every_case():
    assert set(changes()) == set(CASES)


@pytest.mark.parametrize("change", sorted(CASES))
def test_a_change_in_one_competition_folder_moves_nothing_else(tmp_path, change):
    competition, probe = CASES[change]
    root = fork(tmp_path, change)
    changed = changed_files(root)
    assert changed and all(f.startswith(f"competitions/{competition}/") for f in changed), changed
    before = original_recipes()
    seen = in_fork(root, DIGEST + "recipes, out = out, {}\n" + probe + "\nprint(json.dumps([recipes, out]))")
    after, seen = seen
    for key in before.keys() | after.keys():
        if not key.startswith(f"{competition}/"):
            assert before.get(key) == after.get(key), f"{key} changed with {change!r}"
    if competition == "classify_leaves":
        assert seen["kind"] == "FocalLoss" and 0 < seen["hard"] == pytest.approx(seen["soft"], rel=1e-6)
    elif competition == "house_prices":
        assert "LivLotRatio" in seen["columns"]
    elif competition == "cifar10":
        assert seen == {"kind": "SmallCNN", "shape": [2, 10]}
    else:
        assert "flip_blur" in seen["names"] and seen["accepts"] and "GaussianBlur" in seen["steps"]


# --- integration: a run with the change, and another competition's recorded figures in the same fork -----------
RUNS = {  # change -> (figures.json case run with the change in place, a case the change must leave alone)
    "Focal loss for Classify Leaves": ("classify_leaves/baseline", "cifar10/fast"),
    "A new House Prices feature": ("house_prices/gbm", "california_house_prices/default"),
    "A hand-written CIFAR-10 net as a new recipe": ("cifar10/handmade", "cifar10/fast"),
    "A new CowBoy Outfits augmentation": ("cowboy_outfits/flip_blur", "house_prices/linear"),
}


@pytest.mark.integration
@pytest.mark.parametrize("change", sorted(RUNS))
def test_a_changed_template_runs_and_the_others_keep_their_figures(tmp_path, change):
    root = fork(tmp_path, change)
    changed_case, other = RUNS[change]
    code = f"""
import json, sys, tempfile
from pathlib import Path
sys.path.insert(0, "scripts")
import figures
figures.CASES["cifar10/handmade"] = ("cifar10", "tiny", ["cifar10", "--recipe", "handmade", *figures.SHORT_IMAGES])
figures.CASES["cowboy_outfits/flip_blur"] = ("cowboy_outfits", "tiny", ["cowboy_outfits", "--recipe", "mobile",
                                             "--set", "augment=flip_blur", *figures.SHORT])
with tempfile.TemporaryDirectory() as tmp:
    print(json.dumps({{k: figures.run_case(k, Path(tmp)) for k in ({changed_case!r}, {other!r})}}))
"""
    seen = in_fork(root, code)
    recorded = figures.load()  # to 1e-7 and per kind of CPU, as in tests/test_figures.py
    held = figures.expected(other, recorded)
    assert any(figures.close(seen[other], record) for record in held.values()), f"{other} moved with {change!r}"
    assert seen[changed_case]["cv"] is not None and seen[changed_case]["submission_sha256"]
    # the change is in effect in the run: its figures are none of the recorded ones
    assert all(seen[changed_case] != record for record in figures.expected(changed_case, recorded).values())

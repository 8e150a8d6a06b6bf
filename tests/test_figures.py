"""The refactor guard as a test: every competition's recipes and every tabular zoo member, run on small demos,
give the CV and local-holdout figures recorded in tests/figures.json (``scripts/figures.py record``). On the
machine that recorded them, ``scripts/figures.py check`` holds them bit for bit, submission hashes included; here
they are compared to 1e-7 relative, so that another CPU's last-digit rounding is not mistaken for a change."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import figures  # noqa: E402

RECORDED = json.loads(figures.FIGURES.read_text())


def test_every_case_is_recorded():
    assert set(figures.CASES) == set(RECORDED)


@pytest.mark.integration
@pytest.mark.parametrize("case", sorted(figures.CASES))
def test_a_recipe_gives_its_recorded_figures(tmp_path, case):
    seen, recorded = figures.run_case(case, tmp_path), RECORDED[case]
    for key in ("cv", "holdout"):
        assert seen[key] == pytest.approx(recorded[key], rel=1e-7), (case, key)

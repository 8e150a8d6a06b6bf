"""The refactor guard as a test: every competition's recipes and every tabular zoo member, run on small demos,
give the CV and local-holdout figures recorded in tests/figures.json (``scripts/figures.py record``). On the
machine that recorded them, ``scripts/figures.py check`` holds them bit for bit, submission hashes included; here
they are compared to 1e-7 relative. They are recorded per kind of CPU: another kind rounds the last bits otherwise,
and on these small demos that can flip a split and move a CV in its third digit (seen: 0.06912 against 0.06830)."""
from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import figures  # noqa: E402

RECORDED = figures.load()


def test_every_case_is_recorded():
    assert set(figures.CASES) == {case for cases in RECORDED.values() for case in cases}


A, B = {"cv": 0.5, "holdout": 0.25, "submission_sha256": "a"}, {"cv": 0.51, "holdout": 0.25, "submission_sha256": "b"}


def test_a_run_is_held_to_its_own_kind_of_cpu_and_else_to_every_kind_recorded():
    recorded = {"x86_64 GenuineIntel avx512f": {"c": A, "d": A}, "x86_64 AuthenticAMD avx2": {"c": B}}
    assert figures.expected("c", recorded, "x86_64 AuthenticAMD avx2") == {"x86_64 AuthenticAMD avx2": B}
    assert figures.expected("d", recorded, "x86_64 AuthenticAMD avx2") == {"x86_64 GenuineIntel avx512f": A}
    assert figures.expected("c", recorded, "arm64 Apple") == {"x86_64 GenuineIntel avx512f": A,
                                                              "x86_64 AuthenticAMD avx2": B}
    assert figures.expected("e", recorded, "arm64 Apple") == {}
    assert figures.close({**A, "cv": 0.5 * (1 + 1e-9)}, A) and not figures.close(B, A)
    assert figures.close({**A, "holdout": None}, {**A, "holdout": None}) and not figures.close({**A, "holdout": None}, A)


def test_recording_drops_the_other_cpus_figures_of_a_moved_case_unless_recorded_beside_them():
    recorded = {"intel": {"c": A, "d": A}, "amd": {"d": A}}
    assert figures.merged(recorded, {"c": B}, "amd", beside=False) == {"intel": {"d": A}, "amd": {"c": B, "d": A}}
    assert figures.merged(recorded, {"c": B}, "amd", beside=True) == {"intel": {"c": A, "d": A},
                                                                      "amd": {"c": B, "d": A}}
    assert figures.merged({"intel": {"c": A}}, {"c": B}, "amd", beside=False) == {"amd": {"c": B}}


def test_this_cpu_has_a_name_with_its_architecture():
    assert figures.cpu().startswith(platform.machine())


@pytest.mark.integration
@pytest.mark.parametrize("case", sorted(figures.CASES))
def test_a_recipe_gives_its_recorded_figures(tmp_path, case):
    seen, held = figures.run_case(case, tmp_path), figures.expected(case, RECORDED)
    assert any(figures.close(seen, record) for record in held.values()), \
        (f"{case}: {seen} is none of the figures recorded for {held} (this CPU: {figures.cpu()}); where the code "
         f"did not change and this kind of CPU has none, `python scripts/figures.py record --beside` records them")

"""``shared.pictures``: within ``beside()`` a run's pictures are drawn by a helper process and its report written
once they are, in order; a picture the helper failed to draw is drawn again here (its error raised as without the
helper); ``at_once`` and a helper that cannot start draw at once."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared import pictures
from shared.io import write_text


def test_beside_draws_in_a_helper_and_writes_each_report_after_its_own_pictures_in_order(tmp_path):
    seen = []

    def report(name):
        return lambda: seen.append((name, sorted(p.name for p in tmp_path.glob("*.png"))))

    with pictures.beside():
        for name in ("a", "b", "c"):
            pictures.draw([(write_text, tmp_path / f"{name}.png", name)], then=report(name))
        helper = pictures._helper
        assert helper is not None and helper.pool is not None  # handed to a helper process, not drawn here
    assert pictures._helper is None
    assert [name for name, _ in seen] == ["a", "b", "c"]  # every report, in the runs' order
    for name, drawn in seen:
        assert f"{name}.png" in drawn  # each after its own pictures
    assert {p.read_text() for p in tmp_path.glob("*.png")} == {"a", "b", "c"}


def test_a_picture_the_helper_failed_to_draw_is_drawn_again_here_and_its_error_raised(tmp_path):
    seen = []
    with pytest.raises(json.JSONDecodeError):
        with pictures.beside():
            pictures.draw([(write_text, tmp_path / "fine.png", "x")], then=lambda: seen.append("fine"))
            pictures.draw([(json.loads, "not a picture")], then=lambda: seen.append("broken"))
    assert seen == ["fine"]  # the earlier run's report was written; the broken one's was not
    assert pictures._helper is None


def test_at_once_and_outside_beside_draw_before_returning(tmp_path):
    seen = []
    pictures.draw([(write_text, tmp_path / "outside.png", "x")], then=lambda: seen.append(Path(tmp_path / "outside.png")
                                                                                          .is_file()))
    with pictures.beside():
        with pictures.at_once():  # a staged blend: its pictures must be in its folder before it moves
            pictures.draw([(write_text, tmp_path / "staged.png", "x")],
                          then=lambda: seen.append(Path(tmp_path / "staged.png").is_file()))
            assert seen == [True, True]
        assert pictures._helper is not None and pictures._helper.pool is None  # nothing was handed over
    assert pictures._helper is None


def test_where_no_helper_can_start_every_picture_is_drawn_at_once(tmp_path, monkeypatch):
    def no_process(*args, **kwargs):
        raise OSError("no semaphores here")

    monkeypatch.setattr(pictures, "ProcessPoolExecutor", no_process)
    seen = []
    with pictures.beside():
        pictures.draw([(write_text, tmp_path / "a.png", "x")], then=lambda: seen.append((tmp_path / "a.png").is_file()))
        assert seen == [True]

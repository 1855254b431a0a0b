"""Gradual transitions the detector used to miss (``benchmarks/shot_fixtures.py`` builds them with
ffmpeg's ``xfade`` from the real clips, so their first and last frames are known):

- a 24-frame fade through black that begins 20 frames after the previous transition ended: its
  window reached back into that transition and the two were taken for one;
- a wipe over a moving picture (a bird flapping) whose last strip changes more than the rest of it:
  its span looked like a cut next to motion and was never judged.
"""

from __future__ import annotations

from pathlib import Path

import benchmark_modules
import pytest

from media_platform.video.shots import detect_shots

fixtures_mod = benchmark_modules.load("shot_fixtures")
Part = fixtures_mod.Part


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, shared_media: Path):
    """bird --fade through white (16)--> screen --fade through black (24)--> tree, and
    bird --wipe to the right (14)--> screen."""
    out = tmp_path_factory.mktemp("shot_fades_wipes")
    fades = fixtures_mod.build("fades", [Part("bird", 0, 56), Part("screen", 0, 60, into="fadewhite", into_frames=16),
                                         Part("tree", 0, 64, into="fadeblack", into_frames=24)], out)
    wipe = fixtures_mod.build("wipe", [Part("bird", 0, 56), Part("screen", 0, 60, into="wiperight", into_frames=14)], out)
    return {"fades": (fades, detect_shots(fades.path)), "wipe": (wipe, detect_shots(wipe.path))}


def _transitions(result) -> list[tuple[str, int, int]]:
    return [(s.transition, s.transition_start_frame, s.transition_end_frame) for s in result.shots[1:]]


def _close(found: list[tuple[str, int, int]], truth: list[tuple[str, int, int]], tol: int) -> bool:
    return len(found) == len(truth) and all(
        k == tk and abs(a - ta) <= tol and abs(b - tb) <= tol for (k, a, b), (tk, ta, tb) in zip(found, truth))


def test_long_fade_through_black_soon_after_another_transition(built) -> None:
    fx, result = built["fades"]
    truth = [(k, a, b) for k, (a, b) in zip(fx.kinds, fx.transitions)]
    assert truth == [("fade", 40, 56), ("fade", 76, 100)]
    found = _transitions(result)
    assert _close(found, truth, 3), found  # before: only the first fade was found
    for shot in result.shots[1:]:  # the new shot starts inside its fade
        assert shot.transition_start_frame < shot.start_frame < shot.transition_end_frame


def test_wipe_over_a_moving_picture(built) -> None:
    fx, result = built["wipe"]
    assert list(zip(fx.kinds, fx.transitions)) == [("wipe", (42, 56))]
    found = _transitions(result)
    assert _close(found, [("wipe", 42, 56)], 3), found  # before: no boundary at all

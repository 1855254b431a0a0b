"""Cuts under a broadcast overlay that changes by itself: a ticker scrolling at every frame,
burnt-in subtitles that change every 2.5 s, a lower third and a logo (``benchmarks/shot_fixtures.py``
composites them with ffmpeg over edits of the real clips, so the cuts are known by construction).

The cuts join mirrored and re-framed copies of the same shot: the histograms hardly change and
most of the contrast of the frame is in the overlay, so neither a whole-frame comparison nor one
outside the static cells (the ticker and the subtitles are not static) sees them. Most of the
picture's cells jumping at once against their own recent change does. The detector before this
found none of the five (only the two ordinary cuts of the fixture).
"""

from __future__ import annotations

from pathlib import Path

import benchmark_modules
import pytest

from media_platform.video.shots import ShotDetectorConfig, detect_shots

fixtures_mod = benchmark_modules.load("shot_fixtures")
Part = fixtures_mod.Part


@pytest.fixture(scope="module")
def overlay_dir(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> Path:
    return tmp_path_factory.mktemp("shot_overlay")


@pytest.fixture(scope="module")
def similar_cuts(overlay_dir: Path):
    """Seven cuts 24 frames apart: five between framings of the same shot (as is, mirrored,
    zoomed), two between different shots."""
    parts = [Part("meadow", 0, 24), Part("meadow", 40, 24, "hflip"), Part("meadow", 80, 24, "zoom"),
             Part("meadow", 120, 24), Part("screen", 0, 24), Part("screen", 30, 24, "hflip"),
             Part("bird", 0, 24), Part("bird", 40, 24, "hflip")]
    fx = fixtures_mod.build("similar_cuts", parts, overlay_dir, overlay=True)
    return fx, detect_shots(fx.path)


def test_cuts_between_framings_of_one_shot_under_a_changing_overlay(similar_cuts) -> None:
    fx, result = similar_cuts
    assert fx.cuts() == [24, 48, 72, 96, 120, 144, 168]
    found = result.cut_frames
    # 96 and 144 join different shots; the other five join copies of one shot
    assert found == fx.cuts(), found
    assert all(s.transition == "cut" for s in result.shots[1:])


def test_the_jumps_find_them_without_the_static_mask(similar_cuts) -> None:
    """Leaving the static cells out of the comparison is not what finds them: with the mask
    off they are still found; with the jumps off (the mask alone, or neither) only the two cuts
    between different shots are."""
    fx, _ = similar_cuts
    assert detect_shots(fx.path, ShotDetectorConfig(static_max_fraction=0.0)).cut_frames == fx.cuts()
    similar = {24, 48, 72, 120, 168}
    for cfg in (ShotDetectorConfig(abrupt_min=2.0), ShotDetectorConfig(static_max_fraction=0.0, abrupt_min=2.0)):
        found = detect_shots(fx.path, cfg).cut_frames
        assert {96, 144} <= set(found) and len(similar & set(found)) <= 1, found


def test_one_shot_under_the_overlay_has_no_cut(overlay_dir: Path) -> None:
    """One shot of 7 s under the same overlay: the ticker scrolls at every frame and the
    subtitles change twice; none of it is a cut, and neither is a white flash under it."""
    fx = fixtures_mod.build("one_shot", [Part("meadow", 0, 170, flash=(100, 1, "white"))], overlay_dir, overlay=True)
    assert detect_shots(fx.path).cut_frames == []

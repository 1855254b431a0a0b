"""Series of episodes with known intro, recap, credits and preview spans, assembled with FFmpeg
from real recordings (``../shared/media``: Big Buck Bunny's opening as the intro, MUSAN music
under the credits, radio mixes in the bodies) and generated picture and sound (FFmpeg's life,
cellular-automaton, gradient and Sierpinski sources; espeak-ng speech over seeded noise).

Every segment is rendered once to an intra-only intermediate (FFV1 + PCM, exact frame and
sample counts) and episodes are their concatenation encoded to H.264/AAC, so the truth is exact
by construction. Used by ``benchmarks/markers.py`` and ``tests/test_markers*.py``.

The default season (``season()``):

==== ===========  =====  ============  ===========================  ============================
ep   cold open    recap  intro         body, credits                end
==== ===========  =====  ============  ===========================  ============================
1    4 s          -      full          own shots, shared credits    preview of ep 2
2    9 s          ep 1   full                                       preview of ep 3
3    none         ep 2   shortened                                  preview of ep 4
4    6 s          ep 3   full          (re-encoded: 320x180, low bitrate)  preview of ep 5
5    3 s          -      none (a special)                           black frames
==== ===========  =====  ============  ===========================  ============================

plus a one-episode season (cold open, intro, body, credits).
"""

from __future__ import annotations

import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EpisodeSpec", "Sizes", "SeriesEpisodeFile", "build_season", "season", "solo_season"]

FPS = 24
_WORDS = ("river town baker letter dawn harbour lantern mountain signal captain engine winter garden "
          "mirror station forest journey silver market doctor island secret promise thunder violin "
          "morning desert bridge shadow kitchen library orchard painter sailor tower").split()


@dataclass(frozen=True)
class Sizes:
    """Lengths in seconds (integers keep segment edges on frame boundaries)."""

    intro: int = 15
    short_intro: int = 9
    shot: int = 6
    shots: int = 3
    recap: int = 6
    credits: int = 10
    preview: int = 5
    black_tail: int = 2
    width: int = 480
    height: int = 270


@dataclass(frozen=True)
class EpisodeSpec:
    number: int
    cold_open: int
    recap_of: int | None = None
    intro: str | None = "full"  # "full", "short" or None
    preview_of: int | None = None
    black_tail: bool = False
    low_bitrate: bool = False


@dataclass
class SeriesEpisodeFile:
    path: Path
    number: int
    duration_s: float
    truth: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


def season() -> list[EpisodeSpec]:
    return [
        EpisodeSpec(1, 4, None, "full", 2),
        EpisodeSpec(2, 9, 1, "full", 3),
        EpisodeSpec(3, 0, 2, "short", 4),
        EpisodeSpec(4, 6, 3, "full", 5, low_bitrate=True),
        EpisodeSpec(5, 3, None, None, None, black_tail=True),
    ]


def solo_season() -> list[EpisodeSpec]:
    return [EpisodeSpec(1, 4, None, "full", None)]


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])}...: {proc.stderr.decode(errors='replace')[-800:]}")


def _out(sizes: Sizes) -> list[str]:
    return ["-map", "0:v", "-map", "1:a", "-r", str(FPS), "-s", f"{sizes.width}x{sizes.height}", "-pix_fmt", "yuv420p",
            "-c:v", "ffv1", "-c:a", "pcm_s16le", "-ar", "44100", "-ac", "2", "-shortest"]


class _Segments:
    """Renders and caches the segments of a season."""

    def __init__(self, media: Path, work: Path, sizes: Sizes, series_seed: int) -> None:
        self.media, self.work, self.sizes, self.seed = media, work, sizes, series_seed
        work.mkdir(parents=True, exist_ok=True)
        self.out = _out(sizes)
        self.wh = f"s={sizes.width}x{sizes.height}"

    def _path(self, name: str) -> Path:
        return self.work / f"{name}.mkv"

    def intro(self, kind: str) -> Path:
        out = self._path(f"intro_{kind}")
        if not out.exists():
            d = self.sizes.intro if kind == "full" else self.sizes.short_intro
            bbb = self.media / "video/blender_bbb/big_buck_bunny_0_30.webm"
            _run(["ffmpeg", "-v", "error", "-y", "-ss", "2.5", "-t", str(d), "-i", str(bbb),
                  "-ss", "2.5", "-t", str(d), "-i", str(bbb), *self.out, "-t", str(d), str(out)])
        return out

    def credits(self) -> Path:
        out = self._path("credits")
        if not out.exists():
            d = self.sizes.credits
            music = self.media / "audio/ina_musanmix/musanmix.wav"
            _run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                  f"mandelbrot={self.wh}:rate={FPS}:start_scale=2.5:end_scale=0.8,format=yuv420p",
                  "-t", str(d), "-i", str(music), *self.out, "-t", str(d), str(out)])
        return out

    def black(self, d: int) -> Path:
        out = self._path(f"black_{d}")
        if not out.exists():
            _run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"color=black:{self.wh}:r={FPS}",
                  "-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo", *self.out, "-t", str(d), str(out)])
        return out

    def shot(self, episode: int, j: int, d: int) -> Path:
        """Shot ``j`` of episode ``episode``'s own material, its first ``d`` seconds (the same
        seconds every time it is rendered: sources are seeded)."""
        out = self._path(f"s{self.seed}_e{episode}_shot{j}_{d}")
        if out.exists():
            return out
        seed = self.seed * 1000 + episode * 10 + j
        sources = [
            f"life={self.wh}:rate={FPS}:seed={seed}:ratio=0.3:mold=8:life_color=#ffdd88:death_color=#202050",
            f"cellauto={self.wh}:rate={FPS}:seed={seed}:rule={[30, 90, 110, 150][seed % 4]}:random_fill_ratio=0.5",
            f"gradients={self.wh}:rate={FPS}:seed={seed}:speed=0.03:n={2 + seed % 5}",
            f"sierpinski={self.wh}:rate={FPS}:seed={seed}:type={['carpet', 'triangle'][seed % 2]}",
        ]
        video = sources[(episode + j) % len(sources)] + ",format=yuv420p"
        radio = self.media / f"audio/synth_radio/example-{1 + (episode + j) % 3}.wav"
        if j == 0 and episode <= 3 and radio.exists():
            audio = ["-t", str(d), "-i", str(radio)]
            filt = ["-filter_complex", f"[1:a]apad,atrim=0:{d}[a]", "-map", "0:v", "-map", "[a]"]
        else:
            rng = random.Random(seed)
            text = f"Episode {episode}, scene {j}. " + " ".join(rng.choice(_WORDS) for _ in range(5 * d))
            speech = self.work / f"speech_{seed}_{d}.wav"
            _run(["espeak-ng", "-s", str(150 + seed % 40), "-p", str(30 + seed % 40), "-w", str(speech), text])
            audio = ["-i", str(speech), "-f", "lavfi", "-i", f"anoisesrc=c=pink:seed={seed}:a=0.02:d={d}"]
            filt = ["-filter_complex", f"[1:a]aresample=44100,aformat=channel_layouts=stereo[s];"
                    f"[2:a]aresample=44100,aformat=channel_layouts=stereo[n];"
                    f"[s][n]amix=inputs=2:duration=longest:normalize=0,apad,atrim=0:{d}[a]",
                    "-map", "0:v", "-map", "[a]"]
        out_opts = [o for o in self.out if o not in ("-map", "0:v", "1:a")]
        _run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-t", str(d), "-i", video, *audio, *filt,
              *out_opts, "-t", str(d), str(out)])
        return out


def build_season(
    media: Path, work: Path, specs: list[EpisodeSpec], *, sizes: Sizes = Sizes(), series_seed: int = 1,
    name: str = "ep", reuse: bool = False,
) -> list[SeriesEpisodeFile]:
    """Render the season's episodes as MP4 files under ``work``, with their truth (``reuse``:
    keep episode files already there, from an earlier run with the same arguments)."""
    if shutil.which("ffmpeg") is None or shutil.which("espeak-ng") is None:
        raise RuntimeError("ffmpeg and espeak-ng are needed to build a marker series")
    seg = _Segments(media, work / "segments", sizes, series_seed)
    episodes = []
    for spec in specs:
        parts: list[tuple[Path, int, str | None]] = []
        if spec.cold_open:
            parts.append((seg.shot(spec.number, 9, spec.cold_open), spec.cold_open, None))
        if spec.recap_of is not None:
            parts.append((seg.shot(spec.recap_of, 0, sizes.recap), sizes.recap, "recap"))  # its first shot
        if spec.intro is not None:
            d = sizes.intro if spec.intro == "full" else sizes.short_intro
            parts.append((seg.intro(spec.intro), d, "intro"))
        for j in range(sizes.shots):
            d = sizes.shot + (j + spec.number) % 3
            parts.append((seg.shot(spec.number, j, d), d, None))
        credits_end_black = spec.black_tail
        parts.append((seg.credits(), sizes.credits, "credits"))
        if spec.preview_of is not None:
            last = sizes.shots - 1  # the next episode's last body shot begins with it
            parts.append((seg.shot(spec.preview_of, last, sizes.preview), sizes.preview, "preview_of_next"))
        if credits_end_black:
            parts.append((seg.black(sizes.black_tail), sizes.black_tail, "credits"))
        truth: dict[str, list[tuple[float, float]]] = {}
        t = 0.0
        for _, d, kind in parts:
            if kind is not None:
                spans = truth.setdefault(kind, [])
                if spans and abs(spans[-1][1] - t) < 1e-6:
                    spans[-1] = (spans[-1][0], t + d)  # credits then black frames: one span
                else:
                    spans.append((t, t + d))
            t += d
        listing = work / f"{name}{spec.number}.txt"
        listing.write_text("".join(f"file '{p.resolve()}'\n" for p, _, _ in parts))
        out = work / f"{name}{spec.number}.mp4"
        low = f"{sizes.width * 2 // 3 // 2 * 2}x{sizes.height * 2 // 3 // 2 * 2}"
        video = ["-b:v", f"{sizes.width * sizes.height // 864}k", "-s", low] if spec.low_bitrate else ["-crf", "23"]
        audio_rate = "48k" if spec.low_bitrate else "128k"
        if reuse and out.exists():
            episodes.append(SeriesEpisodeFile(out, spec.number, t, truth))
            continue
        _run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
              "-c:v", "libx264", "-preset", "veryfast", *video, "-g", str(FPS * 4), "-r", str(FPS),
              "-c:a", "aac", "-b:a", audio_rate, "-movflags", "+faststart", str(out)])
        episodes.append(SeriesEpisodeFile(out, spec.number, t, truth))
    return episodes

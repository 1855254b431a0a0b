"""Shot-class fixtures built with ffmpeg from the real clips of ``shared/media/video``.

Each fixture is an edit of known parts: shots of Big Buck Bunny and GoldenEye (inside which
there is no cut) joined by hard cuts (``concat``), cross-dissolves, fades through black or white
and wipes (``xfade``), with flashes (a few frames brightened or white) and one-frame inserts
(a glitch: the frame after resembles the frame before), optionally under a broadcast overlay
(a ticker band with scrolling text, a channel logo and burnt-in subtitles, ``drawbox`` and
``drawtext``) composited over every frame. The ground truth follows from how the file was
built: every boundary's frame and every transition's first and last frame.

Used by ``benchmarks/shot_classes.py`` and ``tests/test_shot_classes.py`` (files go to a
temporary folder; media is never copied into the repository).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MEDIA = Path(os.environ.get("MEDIA_PLATFORM_SHARED_MEDIA", REPO.parent / "shared" / "media")) / "video"
FPS = 24
SOURCES = {
    "bbb": MEDIA / "blender_bbb" / "big_buck_bunny_0_30.webm",
    "ge": MEDIA / "pyscenedetect" / "issue-134-rotate.mp4",
}
#: Source shots: (source, first frame, end frame exclusive); no cut, fade or dissolve inside.
SHOTS = {
    "meadow": ("bbb", 49, 283), "creek": ("bbb", 283, 376), "bird": ("bbb", 376, 551),
    "tree": ("bbb", 551, 720), "panel": ("ge", 0, 90), "screen": ("ge", 90, 210), "pair": ("ge", 210, 240),
}
#: Looks applied to a part (same shot, other picture: "similarly coloured" cuts use these).
LOOKS = {
    "": "",
    "hflip": "hflip",
    "zoom": "crop=iw/1.4:ih/1.4:0:0,scale={w}:{h}",
    "warm": "eq=gamma_r=1.15:gamma_b=0.9",
    "vflip": "vflip",
}
#: How a part begins (the transition from the previous part), with its class.
#: The xfade transition drawing each gradual kind ("dissolve" is xfade's cross-fade, "fade").
XFADE = {"dissolve": "fade"}
INTO = {
    "cut": "cut", "dissolve": "dissolve", "fadeblack": "fade", "fadewhite": "fade",
    "wipeleft": "wipe", "wiperight": "wipe", "wipeup": "wipe", "wipedown": "wipe",
}
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "22", "-pix_fmt", "yuv420p", "-bf", "3",
        "-x264-params", "scenecut=0:keyint=48:b-pyramid=normal"]


@dataclass(frozen=True)
class Part:
    """``frames`` frames of source shot ``shot`` from ``offset``, shown with ``look``.

    ``into``/``into_frames``: how it begins (a key of INTO; the gradual ones overlap the previous
    part by ``into_frames``). ``flash``: (first frame within the part, length, "bright" or "white").
    ``insert``: a glitch of one or two frames between two parts of the same shot (not a shot)."""

    shot: str
    offset: int
    frames: int
    look: str = ""
    into: str = "cut"
    into_frames: int = 0
    flash: tuple[int, int, str] | None = None
    insert: bool = False


@dataclass
class Fixture:
    """A built fixture and its ground truth (0-based frames; transitions are [start, end))."""

    name: str
    path: Path
    frames: int
    boundaries: list[int] = field(default_factory=list)  # first frame of each new shot
    kinds: list[str] = field(default_factory=list)  # class of each boundary: cut/dissolve/fade/wipe
    transitions: list[tuple[int, int]] = field(default_factory=list)  # [start, end) per boundary
    not_cuts: list[tuple[int, int]] = field(default_factory=list)  # flashes and inserts: [start, end)

    def cuts(self) -> list[int]:
        return [b for b, k in zip(self.boundaries, self.kinds, strict=True) if k == "cut"]


def _overlay_filter(w: int, h: int, seconds: float) -> str:
    """A news-style overlay over a fifth of the frame and more: a ticker band with scrolling text
    at the bottom, a lower third (name strap), a channel logo top right, and burnt-in subtitles
    (boxed) above the ticker that change every 2.5 s."""
    band = int(h * 0.14)
    fs = max(8, int(band * 0.55))
    sub_fs = max(8, int(h * 0.065))
    ticker = ("BREAKING - markets close higher +++ storm warning for the coast +++ "
              "election results expected tonight +++ sport - cup final tickets sold out +++ ")
    parts = [
        f"drawbox=x=0:y={h - band}:w={w}:h={band}:color=0x1c2f7a:t=fill",
        f"drawtext=text='{ticker * 3}':fontcolor=white:fontsize={fs}:y={h - band + (band - fs) // 2}"
        f":x=w-mod(t*{max(20, w // 6)}\\,tw+w)",
        f"drawbox=x={w - int(w * 0.16)}:y={int(h * 0.04)}:w={int(w * 0.12)}:h={int(h * 0.12)}:color=0xd02020:t=fill",
        f"drawtext=text='NEWS 24':fontcolor=white:fontsize={max(7, int(h * 0.045))}"
        f":x={w - int(w * 0.155)}:y={int(h * 0.08)}",
    ]
    top = h - band - 2 * sub_fs - int(h * 0.2)
    parts += [
        f"drawbox=x=0:y={top}:w={int(w * 0.7)}:h={int(h * 0.17)}:color=0x30303a:t=fill",
        f"drawbox=x=0:y={top}:w={int(w * 0.02)}:h={int(h * 0.17)}:color=0xd02020:t=fill",
        f"drawtext=text='JANE DOE':fontcolor=white:fontsize={max(8, int(h * 0.07))}:x={int(w * 0.05)}:y={top + 4}",
        f"drawtext=text='reporting live from the coast':fontcolor=0xd0d0d0:fontsize={max(7, int(h * 0.05))}"
        f":x={int(w * 0.05)}:y={top + 6 + max(8, int(h * 0.07))}",
    ]
    lines = ["we are live from the scene", "the fire is still burning", "officials say no one is hurt",
             "more after the break", "back to the studio now", "thank you for watching"]
    n = int(seconds / 2.5) + 1
    for i in range(n):
        text = lines[i % len(lines)]
        parts.append(
            f"drawtext=text='{text}':fontcolor=white:fontsize={sub_fs}:box=1:boxcolor=black@1.0"
            f":boxborderw=4:x=(w-tw)/2:y={h - band - sub_fs - 10}"
            f":enable='between(t\\,{i * 2.5:.3f}\\,{(i + 1) * 2.5 - 0.001:.3f})'"
        )
    return ",".join(parts)


def build(name: str, parts: list[Part], out_dir: Path, *, size: tuple[int, int] = (320, 180),
          overlay: bool = False) -> Fixture:
    """Render ``parts`` into ``out_dir/<name>.mp4`` (cached with its truth) and return both."""
    out_dir.mkdir(parents=True, exist_ok=True)
    w, h = size
    video, truth_file = out_dir / f"{name}.mp4", out_dir / f"{name}.truth.json"
    spec = json.dumps({"parts": [asdict(p) for p in parts], "size": size, "overlay": overlay,
                       "overlay_filter": _overlay_filter(w, h, 1.0) if overlay else ""})
    if video.exists() and truth_file.exists():
        data = json.loads(truth_file.read_text())
        if data["spec"] == spec:
            return Fixture(name, video, data["frames"], data["boundaries"], data["kinds"],
                           [tuple(t) for t in data["transitions"]], [tuple(t) for t in data["not_cuts"]])
    sources = sorted({SHOTS[p.shot][0] for p in parts})
    uses = {s: sum(1 for p in parts if SHOTS[p.shot][0] == s) for s in sources}
    graph: list[str] = []
    args: list[str] = []
    for i, s in enumerate(sources):
        if s == "ge":
            args += ["-noautorotate"]
        args += ["-i", str(SOURCES[s])]
        outs = "".join(f"[{s}{k}]" for k in range(uses[s]))
        graph.append(f"[{i}:v]setpts=N/({FPS}*TB),settb=1/{FPS},fps={FPS},scale={w}:{h},setsar=1,format=yuv420p,split={uses[s]}{outs}")
    used = dict.fromkeys(sources, 0)
    fx = Fixture(name, video, 0)
    length = 0
    for k, p in enumerate(parts):
        src, first, end = SHOTS[p.shot]
        if not (0 <= p.offset and first + p.offset + p.frames <= end):
            raise ValueError(f"part {k} ({p.shot} {p.offset}+{p.frames}) leaves its source shot")
        chain = [f"trim=start_frame={first + p.offset}:end_frame={first + p.offset + p.frames}",
                 "setpts=PTS-STARTPTS", f"settb=1/{FPS}"]
        if LOOKS[p.look]:
            chain.append(LOOKS[p.look].format(w=w, h=h))
        if p.flash:
            a, n, kind = p.flash
            when = f"enable='between(n\\,{a}\\,{a + n - 1})'"
            chain.append(f"eq=brightness=0.45:contrast=0.8:{when}" if kind == "bright"
                         else f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:{when}")
        graph.append(f"[{src}{used[src]}]{','.join(chain)},setsar=1,format=yuv420p[p{k}]")
        used[src] += 1
        if k == 0:
            cur, length = f"p{k}", p.frames
            if p.flash:
                fx.not_cuts.append((p.flash[0], p.flash[0] + p.flash[1]))
            continue
        into = INTO[p.into]
        if into == "cut":
            graph.append(f"[{cur}][p{k}]concat=n=2:v=1:a=0,settb=1/{FPS}[c{k}]")
            start = length
            if p.insert or parts[k - 1].insert:
                fx.not_cuts.append((start, start + 1))
            else:
                fx.boundaries.append(start)
                fx.kinds.append("cut")
                fx.transitions.append((start, start))
            length += p.frames
        else:
            d = p.into_frames
            if not 2 <= d < min(p.frames, parts[k - 1].frames):
                raise ValueError(f"part {k}: transition of {d} frames does not fit")
            graph.append(f"[{cur}][p{k}]xfade=transition={XFADE.get(p.into, p.into)}:duration={d / FPS:.6f}"
                         f":offset={(length - d) / FPS:.6f},settb=1/{FPS}[c{k}]")
            start = length - d
            fx.boundaries.append(start + d // 2)
            fx.kinds.append(into)
            fx.transitions.append((start, start + d))
            length += p.frames - d
        if p.flash:
            fx.not_cuts.append((start + p.flash[0], start + p.flash[0] + p.flash[1]))
        cur = f"c{k}"
    tail = _overlay_filter(w, h, length / FPS) if overlay else "null"
    graph.append(f"[{cur}]{tail},format=yuv420p[out]")
    cmd = ["ffmpeg", "-v", "error", "-y", *args, "-filter_complex", ";".join(graph), "-map", "[out]",
           "-frames:v", str(length), "-r", str(FPS), *X264, str(video)]
    subprocess.run(cmd, check=True)
    fx.frames = length
    truth_file.write_text(json.dumps({"spec": spec, "frames": length, "boundaries": fx.boundaries,
                                      "kinds": fx.kinds, "transitions": fx.transitions,
                                      "not_cuts": fx.not_cuts}))
    return fx


def _alternating(looks: list[str], shots: list[str], frames: int, step: int) -> list[Part]:
    """Consecutive parts of the same few shots in other looks (similar colours on both sides)."""
    out = []
    for k, shot in enumerate(shots):
        first, end = SHOTS[shot][1], SHOTS[shot][2]
        offset = (k * step) % max(1, end - first - frames)
        out.append(Part(shot, offset, frames, looks[k % len(looks)]))
    return out


def fixture_sets() -> dict[str, list[Part]]:
    """The class fixtures: name -> parts. Few seconds each (tests build them at 320x180)."""
    overlay = _alternating(
        ["", "hflip", "zoom", "warm", "vflip"],
        ["meadow", "meadow", "meadow", "creek", "creek", "bird", "bird", "bird", "tree", "tree",
         "screen", "screen", "panel", "panel"], 26, 37)
    montage = [Part("meadow", 0, 30), Part("bird", 10, 3), Part("panel", 5, 2), Part("tree", 20, 4),
               Part("creek", 40, 5, "hflip"), Part("screen", 30, 2), Part("meadow", 150, 3, "zoom"),
               Part("pair", 3, 4), Part("bird", 100, 30), Part("tree", 60, 2, "hflip"), Part("panel", 40, 3),
               Part("creek", 10, 5), Part("screen", 80, 4, "zoom"), Part("meadow", 60, 2, "warm"),
               Part("pair", 0, 30)]
    flashes = [Part("meadow", 0, 40, flash=(12, 1, "white")), Part("creek", 0, 40, flash=(20, 2, "bright")),
               Part("bird", 0, 36, flash=(15, 2, "white")), Part("pair", 0, 1, insert=True),
               Part("bird", 37, 36, flash=(18, 1, "bright")), Part("screen", 0, 40, flash=(22, 2, "white")),
               Part("tree", 0, 40), Part("creek", 0, 1, insert=True), Part("tree", 41, 40, flash=(10, 1, "white"))]
    dissolves = [Part("meadow", 0, 56), Part("bird", 0, 56, into="dissolve", into_frames=8),
                 Part("tree", 0, 60, into="dissolve", into_frames=12), Part("screen", 0, 64, into="dissolve", into_frames=16),
                 Part("meadow", 100, 64, into="dissolve", into_frames=24), Part("creek", 20, 56, into="dissolve", into_frames=10)]
    fades = [Part("bird", 0, 56), Part("meadow", 0, 56, into="fadeblack", into_frames=12),
             Part("screen", 0, 60, into="fadewhite", into_frames=16), Part("tree", 0, 64, into="fadeblack", into_frames=24),
             Part("panel", 0, 60, into="fadewhite", into_frames=10), Part("bird", 80, 60, into="fadeblack", into_frames=16)]
    wipes = [Part("meadow", 0, 56), Part("bird", 0, 56, into="wipeleft", into_frames=10),
             Part("screen", 0, 60, into="wiperight", into_frames=14), Part("tree", 0, 60, into="wipeup", into_frames=12),
             Part("creek", 20, 60, into="wipedown", into_frames=16), Part("panel", 0, 60, into="wipeleft", into_frames=20)]
    return {"overlay": overlay, "montage": montage, "flashes": flashes, "dissolves": dissolves,
            "fades": fades, "wipes": wipes}


def build_all(out_dir: Path, size: tuple[int, int] = (320, 180)) -> dict[str, Fixture]:
    """Every class fixture (the overlay one under the broadcast overlay)."""
    return {name: build(name, parts, out_dir, size=size, overlay=(name == "overlay"))
            for name, parts in fixture_sets().items()}


def match(detected: list[tuple[str, int, int, int]], fx: Fixture, kind: str | None,
          tolerance: int = 1) -> tuple[float, float, float, list[tuple[int, int]]]:
    """Precision, recall, F1 of detected boundaries (kind, boundary frame, transition start, end)
    against the fixture's boundaries of class ``kind`` (None: every class, kinds not compared).

    A cut matches a detection within ``tolerance`` frames; a gradual transition matches a
    detection whose span overlaps its span (± tolerance). When ``kind`` is given, only detections
    of that kind count, and only truths of that kind are to be found. Also returns the
    (start error, end error) of every matched gradual transition."""
    truth = [(k, b, s, e) for k, b, (s, e) in zip(fx.kinds, fx.boundaries, fx.transitions, strict=True)
             if kind is None or k == kind]
    det = [d for d in detected if kind is None or d[0] == kind]
    used: set[int] = set()
    errors: list[tuple[int, int]] = []
    tp = 0
    for k, b, s, e in truth:
        best = None
        for i, (_, db, ds, de) in enumerate(det):
            if i in used:
                continue
            ok = abs(db - b) <= tolerance if k == "cut" else (ds <= e + tolerance and s <= de + tolerance)
            if ok and (best is None or abs(db - b) < abs(det[best][1] - b)):
                best = i
        if best is not None:
            used.add(best)
            tp += 1
            if k != "cut":
                errors.append((det[best][2] - s, det[best][3] - e))
    p = tp / len(det) if det else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0), errors


def detections(shots: list) -> list[tuple[str, int, int, int]]:
    """(kind, boundary, transition start, end) of every boundary of a detector's shots."""
    return [(s.transition or "cut", s.start_frame,
             s.transition_start_frame if s.transition_start_frame is not None else s.start_frame,
             s.transition_end_frame if s.transition_end_frame is not None else s.start_frame)
            for s in shots[1:]]

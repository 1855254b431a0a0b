"""Second SAX pass over an already checked feed body: the raw per-item values feedparser does not
keep (GUIDs verbatim, ``podcast:transcript`` lists, ``podcast:chapters``, ``podcast:license``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import defusedxml.sax

from media_platform.ingest.deadline import Deadline
from media_platform.ingest.feeds.xml_safety import DeadlineChecks

_ITEM_FIELDS_TEXT = {
    "guid",
    "id",
    "duration",
    "episode",
    "season",
    "explicit",
    "episodetype",
    "license",
    "author",
}
MAX_RAW_TRANSCRIPT_LINKS = 64
"""Transcript links kept per item as read (before resolution and de-duplication, which cap
them at :data:`~media_platform.ingest.feeds.model.MAX_TRANSCRIPT_LINKS`)."""
_ITEM_FIELDS_ATTR = {"transcript", "chapters", "license"}


@dataclass
class RawItem:
    text: dict[str, str] = field(default_factory=dict)
    transcripts: list[tuple[str, str | None]] = field(default_factory=list)
    chapters_url: str | None = None
    license_url: str | None = None
    has_guid: bool = False


class _RawCollector(DeadlineChecks):
    """Second pass: raw per-item values feedparser does not keep (namespaces off, local names).

    Records the first occurrence of selected direct children of each ``item``/``entry`` and of
    the channel/feed element, keyed by local name (prefix dropped), so it works with undeclared
    prefixes too.
    """

    def __init__(self, source: str = "feed", deadline: Deadline | None = None) -> None:
        super().__init__(source, deadline)
        self.items: list[RawItem] = []
        self.channel = RawItem()
        self._stack: list[str] = []
        self._item_depth: int | None = None
        self._channel_depth: int | None = None
        self._text: list[str] | None = None
        self._text_key: str | None = None
        self._text_target: RawItem | None = None

    @staticmethod
    def _local(name: str) -> str:
        return name.rsplit(":", 1)[-1].lower()

    def startElement(self, name: str, attrs: Any) -> None:
        super().startElement(name, attrs)
        local = self._local(name)
        depth = len(self._stack)
        self._stack.append(local)
        if (
            self._item_depth is None
            and local in ("item", "entry")
            and name.count(":") <= 1
            and (":" not in name or name.split(":")[0] in ("atom", "rss", "rdf", ""))
        ):
            self._item_depth = depth
            self.items.append(RawItem())
            return
        if (
            self._channel_depth is None
            and local in ("channel", "feed")
            and self._item_depth is None
        ):
            self._channel_depth = depth
            return
        if self._item_depth is not None and depth == self._item_depth + 1:
            target: RawItem | None = self.items[-1]
        elif (
            self._item_depth is None
            and self._channel_depth is not None
            and depth == self._channel_depth + 1
        ):
            target = self.channel
        else:
            target = None
        if target is None:
            return
        if local == "transcript" and attrs.get("url"):
            if len(target.transcripts) < MAX_RAW_TRANSCRIPT_LINKS:  # a hostile item has millions
                target.transcripts.append((attrs.get("url"), attrs.get("type")))
        elif local == "chapters" and attrs.get("url") and target.chapters_url is None:
            target.chapters_url = attrs.get("url")
        if local == "license" and attrs.get("url") and target.license_url is None:
            target.license_url = attrs.get("url")
        if local in _ITEM_FIELDS_TEXT and local not in target.text:
            if local == "guid" and ":" in name:  # podcast:guid is the channel's, not an item GUID
                return
            self._text, self._text_key, self._text_target = [], local, target

    def characters(self, content: str) -> None:
        if self._text is not None:
            self._text.append(content)

    def endElement(self, name: str) -> None:
        super().endElement(name)
        depth = len(self._stack) - 1
        self._stack.pop()
        if (
            self._text is not None
            and self._text_target is not None
            and self._text_key is not None
            and self._local(name) == self._text_key
        ):
            self._text_target.text.setdefault(self._text_key, "".join(self._text).strip())
            if self._text_key in ("guid", "id"):
                self._text_target.has_guid = True
            self._text = self._text_key = self._text_target = None
        if self._item_depth is not None and depth == self._item_depth:
            self._item_depth = None
        if self._channel_depth is not None and depth == self._channel_depth:
            self._channel_depth = None


def collect_raw(body: bytes, source: str = "feed", deadline: Deadline | None = None) -> _RawCollector:
    """Run the second pass over a body :func:`assert_safe_xml` accepted as well-formed."""
    collector = _RawCollector(source, deadline)
    defusedxml.sax.parseString(
        body, collector, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    return collector

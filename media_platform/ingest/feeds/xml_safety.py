"""XML safety: a feed body is checked before anything else parses it.

Feeds are untrusted XML. :func:`assert_safe_xml` parses the body with ``defusedxml.sax`` (expat,
namespace processing off so feeds using undeclared prefixes like ``itunes:`` still pass) with
``forbid_dtd``, ``forbid_entities`` and ``forbid_external`` all on. Any ``<!DOCTYPE``, any
entity declaration (the "billion laughs" bomb needs one) and any external entity/DTD reference
raises :class:`FeedSecurityError` and the feed is rejected outright: podcast feeds have no
legitimate use for DTDs. A body that is not well-formed XML cannot be checked by expat, so it gets
a lexical check instead: any ``<!DOCTYPE`` or ``<!ENTITY`` anywhere in it (also after removing
NUL bytes, for UTF-16/32) rejects it.

Hostile markup costs time, not only memory: elements nested deeper than :data:`MAX_XML_DEPTH`
(a podcast item needs fewer than ten levels) reject the feed, and the pass checks its
:class:`~media_platform.ingest.deadline.Deadline` every few hundred elements.
"""

from __future__ import annotations

import re
import xml.sax
import xml.sax.handler
from typing import Any

import defusedxml
import defusedxml.sax

from media_platform.ingest.deadline import Deadline
from media_platform.ingest.feeds.errors import FeedSecurityError

MAX_XML_DEPTH = 64
"""Deepest element nesting accepted in a feed."""

_CHECK_EVERY = 256
_LEXICAL_DANGER = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class DeadlineChecks(xml.sax.handler.ContentHandler):
    """A SAX handler that refuses nesting deeper than :data:`MAX_XML_DEPTH` and checks the
    deadline every few hundred elements; subclasses call ``super()`` in their element events."""

    def __init__(self, source: str = "feed", deadline: Deadline | None = None) -> None:
        super().__init__()
        self.source = source
        self.deadline = deadline
        self.depth = 0
        self.elements = 0

    def startElement(self, name: str, attrs: Any) -> None:
        self.depth += 1
        self.elements += 1
        if self.depth > MAX_XML_DEPTH:
            raise FeedSecurityError(
                self.source, f"elements nested deeper than {MAX_XML_DEPTH} levels rejected"
            )
        if self.deadline is not None and self.elements % _CHECK_EVERY == 0:
            self.deadline.check(f"{self.source}: parsing the feed")

    def endElement(self, name: str) -> None:
        self.depth -= 1


def assert_safe_xml(body: bytes, source: str = "feed", deadline: Deadline | None = None) -> bool:
    """Reject XML with a DTD, entity declarations, external references or absurd nesting.

    Returns True if the body is well-formed XML, False if it is not well-formed but carries no
    DTD/ENTITY declaration (lexical check). See the module docstring for the reasoning.

    Raises:
        FeedSecurityError: a DTD, entity declaration, external reference or nesting deeper than
            :data:`MAX_XML_DEPTH` was found.
        DeadlineExceeded: ``deadline`` passed while checking.
    """
    try:
        defusedxml.sax.parseString(
            body,
            DeadlineChecks(source, deadline),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        )
    except defusedxml.DefusedXmlException as exc:
        raise FeedSecurityError(
            source, f"unsafe XML rejected ({type(exc).__name__}: {exc})"
        ) from exc
    except xml.sax.SAXException:
        stripped = body.replace(b"\x00", b"")
        if _LEXICAL_DANGER.search(stripped):
            raise FeedSecurityError(
                source, "malformed XML with a DOCTYPE/ENTITY declaration rejected"
            ) from None
        return False
    return True

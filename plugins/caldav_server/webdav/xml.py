"""XML for WebDAV: safe parsing of request bodies, fast string building of answers.

Request bodies go through defusedxml's expat parser: DTDs, entities and
external references are refused, and a tree deeper than :data:`MAX_DEPTH` or
with more than :data:`MAX_ELEMENTS` elements is refused while it is being
read. Answers are built as strings with fixed prefixes for the namespaces
declared on their root element (``D:``, ``C:``, ``CS:``, ``ICAL:``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import lru_cache
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.namespaces import (  # noqa: F401 - re-exported for the layers
    APPLE,
    CALDAV,
    CALSERVER,
    DAV,
    PREFIXES,
    ROOT_NAMESPACES,
    XML_CONTENT_TYPE,
    XML_HEADER,
    escape,
)

MAX_DEPTH = 64
MAX_ELEMENTS = 50_000

Element = ET.Element


def d(local: str) -> str:
    """Clark name in the DAV: namespace."""
    return "{DAV:}" + local


def c(local: str) -> str:
    """Clark name in the CalDAV namespace."""
    return "{" + CALDAV + "}" + local


class _BoundedBuilder(ET.TreeBuilder):
    """A tree builder that refuses too deep or too large documents as they stream in."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.count = 0

    def start(self, tag: Any, attrs: Any) -> Element:  # type: ignore[override]
        self.depth += 1
        self.count += 1
        if self.depth > MAX_DEPTH:
            raise DavError(400, f"The XML body is nested deeper than {MAX_DEPTH} levels.")
        if self.count > MAX_ELEMENTS:
            raise DavError(400, f"The XML body has more than {MAX_ELEMENTS} elements.")
        return super().start(tag, attrs)

    def end(self, tag: Any) -> Element:  # type: ignore[override]
        self.depth -= 1
        return super().end(tag)


def parse(body: bytes) -> Element | None:
    """Parse a request body; None when it is empty. Malformed or hostile XML is a 400."""
    if not body.strip():
        return None
    parser = DefusedXMLParser(target=_BoundedBuilder(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(body)
        root = parser.close()
    except DavError:
        raise
    except DefusedXmlException as exc:
        raise DavError(400, f"The XML body was refused: {type(exc).__name__}.") from None
    except (ET.ParseError, ValueError, UnicodeError, RecursionError) as exc:
        raise DavError(400, f"The XML body is not well-formed: {exc}.") from None
    return root


def escape_attr(text: str) -> str:
    """Escape text for a double-quoted attribute value."""
    return escape(text).replace('"', "&quot;")


def split(clark: str) -> tuple[str, str]:
    """("namespace", "local") of a Clark name; the namespace is "" for none."""
    if clark.startswith("{"):
        ns, _, local = clark[1:].partition("}")
        return ns, local
    return "", clark


@lru_cache(maxsize=4096)
def tags(clark: str) -> tuple[str, str]:
    """The opening (without ``>``) and closing tag strings of an element in an answer."""
    ns, local = split(clark)
    prefix = PREFIXES.get(ns)
    if prefix:
        return f"<{prefix}:{local}", f"</{prefix}:{local}>"
    if not ns:
        return f"<{local}", f"</{local}>"
    return f'<x:{local} xmlns:x="{escape_attr(ns)}"', f"</x:{local}>"


def element(clark: str, content: str | None = None) -> str:
    """``<name>content</name>`` (content already XML), or ``<name/>`` when empty."""
    open_, close = tags(clark)
    if not content:
        return open_ + "/>"
    return f"{open_}>{content}{close}"


def text_element(clark: str, text: str | None) -> str:
    """An element holding escaped text."""
    return element(clark, escape(text) if text else None)


def href(url: str) -> str:
    """A DAV:href element."""
    return f"<D:href>{escape(url)}</D:href>"


def serialize(elem: Element) -> str:
    """An element as self-contained XML (its own namespace declarations)."""
    return ET.tostring(elem, encoding="unicode", short_empty_elements=True)


def child_text(elem: Element | None) -> str:
    """The text of an element and its descendants (for text-valued properties)."""
    if elem is None:
        return ""
    return "".join(elem.itertext())

"""The XML namespaces of DAV answers and the fixed prefixes every answer declares on its root."""

from __future__ import annotations

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CALSERVER = "http://calendarserver.org/ns/"
APPLE = "http://apple.com/ns/ical/"

#: Prefixes used in every answer, declared on its root element.
PREFIXES = {DAV: "D", CALDAV: "C", CALSERVER: "CS", APPLE: "ICAL"}
ROOT_NAMESPACES = "".join(f' xmlns:{p}="{ns}"' for ns, p in PREFIXES.items())
XML_HEADER = '<?xml version="1.0" encoding="utf-8"?>\n'
XML_CONTENT_TYPE = "application/xml; charset=utf-8"


def escape(text: str) -> str:
    """Escape text for element content."""
    if "&" in text or "<" in text or ">" in text:  # three scans are cheaper than three copies
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


class Escaped(str):
    """Text already escaped as element content, carriage returns as ``&#13;`` (:func:`content`):
    written into an answer as it is."""

    __slots__ = ()


def content(text: str) -> str:
    """Text as element content: escaped, its carriage returns as ``&#13;`` so that the XML
    parser's line-end normalisation keeps them (iCalendar lines end in CRLF)."""
    return escape(text).replace("\r", "&#13;")


def unescaped(text: str) -> str:
    """The text :func:`content` escaped."""
    if "&" not in text:
        return text
    return text.replace("&#13;", "\r").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

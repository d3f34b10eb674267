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

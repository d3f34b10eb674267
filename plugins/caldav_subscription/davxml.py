"""Request bodies and multistatus parsing for the few WebDAV/CalDAV requests a client needs.

Parsing goes through defusedxml: DTDs, entities and external references are
refused, so a hostile remote cannot expand a bomb or read local files.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import unquote
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
import httpx

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
ICAL = "http://apple.com/ns/ical/"

_PREFIXES = {DAV: "d", CALDAV: "c", CS: "cs", ICAL: "ic"}


class XMLError(Exception):
    """A response body that is not the XML it should be."""


@dataclass
class DavResponse:
    """One ``DAV:response``: its href, its status (for bare-status responses) and its found props."""

    href: str
    status: int | None
    props: dict[str, ET.Element] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        """The text of a property (Clark name), stripped, or None."""
        el = self.props.get(name)
        if el is None:
            return None
        return (el.text or "").strip() or None

    def hrefs(self, name: str) -> list[str]:
        """The ``DAV:href`` values inside a property."""
        el = self.props.get(name)
        if el is None:
            return []
        return [(h.text or "").strip() for h in el.iter(f"{{{DAV}}}href") if (h.text or "").strip()]

    def children(self, name: str) -> list[str]:
        """Clark names of the child elements of a property (resourcetype, privileges, reports)."""
        el = self.props.get(name)
        return [] if el is None else [child.tag for child in el.iter() if child is not el]


@dataclass
class Multistatus:
    """A parsed 207 body: responses plus the RFC 6578 sync-token when there is one."""

    responses: list[DavResponse]
    sync_token: str | None


def clark(ns: str, local: str) -> str:
    """``{ns}local``."""
    return f"{{{ns}}}{local}"


def _prop_xml(props: list[tuple[str, str]]) -> str:
    return "".join(f"<{_PREFIXES[ns]}:{local}/>" for ns, local in props)


def _root(tag: str, inner: str) -> bytes:
    ns = " ".join(f'xmlns:{p}="{uri}"' for uri, p in _PREFIXES.items())
    return f'<?xml version="1.0" encoding="utf-8"?>\n<{tag} {ns}>{inner}</{tag}>'.encode()


def propfind(props: list[tuple[str, str]]) -> bytes:
    """A PROPFIND body asking for these (namespace, name) properties."""
    return _root("d:propfind", f"<d:prop>{_prop_xml(props)}</d:prop>")


def sync_collection(token: str | None, props: list[tuple[str, str]]) -> bytes:
    """An RFC 6578 sync-collection REPORT body (empty token: the initial full listing)."""
    return _root(
        "d:sync-collection",
        f"<d:sync-token>{escape(token or '')}</d:sync-token><d:sync-level>1</d:sync-level>"
        f"<d:prop>{_prop_xml(props)}</d:prop>",
    )


def calendar_multiget(hrefs: list[str]) -> bytes:
    """An RFC 4791 calendar-multiget REPORT body for these hrefs (paths, percent-encoded)."""
    refs = "".join(f"<d:href>{escape(h)}</d:href>" for h in hrefs)
    return _root("c:calendar-multiget", f"<d:prop><d:getetag/><c:calendar-data/></d:prop>{refs}")


def parse_multistatus(body: bytes) -> Multistatus:
    """Parse a 207 body; raises :class:`XMLError` on anything that is not a DAV:multistatus."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except Exception as exc:  # noqa: BLE001 - whatever a remote sends, this must not raise
        raise XMLError(f"the answer is not well-formed XML ({type(exc).__name__})") from None
    if root.tag != clark(DAV, "multistatus"):
        raise XMLError(f"expected a DAV:multistatus, got {root.tag}")
    responses: list[DavResponse] = []
    for resp in root.findall(clark(DAV, "response")):
        href_el = resp.find(clark(DAV, "href"))
        if href_el is None or not (href_el.text or "").strip():
            continue
        found = DavResponse(href=href_el.text.strip(), status=_status(resp.find(clark(DAV, "status"))))
        for propstat in resp.findall(clark(DAV, "propstat")):
            code = _status(propstat.find(clark(DAV, "status")))
            prop = propstat.find(clark(DAV, "prop"))
            if prop is None or code is None or not 200 <= code < 300:
                continue
            for el in prop:
                found.props[el.tag] = el
        responses.append(found)
    token_el = root.find(clark(DAV, "sync-token"))
    token = (token_el.text or "").strip() if token_el is not None else None
    return Multistatus(responses, token or None)


def _status(el: ET.Element | None) -> int | None:
    if el is None or not el.text:
        return None
    parts = el.text.split()
    if len(parts) >= 2 and parts[1].isdigit():
        return int(parts[1])
    return None


def error_elements(body: bytes) -> list[str]:
    """Clark names inside a ``DAV:error`` body (preconditions), or [] when it is not one."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except Exception:  # noqa: BLE001 - whatever a remote sends, this must not raise
        return []
    if root.tag != clark(DAV, "error"):
        return []
    return [child.tag for child in root]


def href_path(href: str, base: httpx.URL) -> str:
    """The decoded path an href points to, resolved against the URL it came from."""
    return unquote(base.join(href).path)

"""WebDAV and CalDAV from a test: MKCALENDAR, PROPFIND, REPORT, PUT and GET of events, and
207 Multi-Status answers parsed into ``{href: DavResponse}``.

Every helper takes an ``httpx.Client`` (an :func:`kernel.testing.app_client`, or
``LiveServer.client``) authenticated as the user acting, and needs the ``caldav_server``
plugin enabled. Calendars live at ``/dav/cal/<owner>/<name>/``.
"""

from __future__ import annotations

import base64
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import httpx

CALDAV = "urn:ietf:params:xml:ns:caldav"
#: Prefixes for ``ElementTree.find``: D (DAV:), C (CalDAV), CS (CalendarServer), ICAL (Apple).
NS = {"D": "DAV:", "C": CALDAV, "CS": "http://calendarserver.org/ns/", "ICAL": "http://apple.com/ns/ical/"}
#: The namespace declarations of a request body using those prefixes.
DECLARATIONS = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NS.items())
ICALENDAR = {"Content-Type": "text/calendar; charset=utf-8"}


def unique(prefix: str = "cal") -> str:
    """A fresh collection (or resource) name."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def user_of(client: httpx.Client) -> str | None:
    """The user name a client sends with HTTP Basic, or None."""
    if not isinstance(client.auth, httpx.BasicAuth):
        return None
    sent = next(client.auth.auth_flow(httpx.Request("GET", "http://x/")))
    scheme, _, token = sent.headers.get("Authorization", "").partition(" ")
    return base64.b64decode(token).decode().partition(":")[0] if scheme == "Basic" else None


def calendar_path(owner: str, name: str) -> str:
    """The URL path of ``owner``'s calendar ``name``."""
    return f"/dav/cal/{owner}/{name}/"


def mkcalendar(client: httpx.Client, owner: str | None = None, name: str | None = None, body: str = "") -> str:
    """MKCALENDAR in ``owner``'s home (by default the client's user); returns the new calendar's
    path. ``body`` is a whole ``C:mkcalendar`` document, or "" for none. Asserts 201."""
    owner = owner or user_of(client)
    assert owner, "mkcalendar: name the owner (the client sends no user)"
    path = calendar_path(owner, name or unique())
    answer = client.request("MKCALENDAR", path, content=body.encode())
    assert answer.status_code == 201, (answer.status_code, answer.text)
    return path


def prop_xml(props: str) -> str:
    """``<D:prop>`` around property elements written with the :data:`NS` prefixes."""
    return f"<D:prop>{props}</D:prop>"


def propfind(
    client: httpx.Client, path: str, props: str = "<D:allprop/>", depth: str = "0", **headers: str
) -> httpx.Response:
    """PROPFIND with ``props`` as the content of ``D:propfind`` (the :data:`NS` prefixes declared):
    ``"<D:allprop/>"``, ``"<D:propname/>"`` or ``prop_xml("<D:displayname/><C:calendar-timezone/>")``."""
    body = f'<?xml version="1.0"?><D:propfind {DECLARATIONS}>{props}</D:propfind>'
    return client.request("PROPFIND", path, content=body.encode(), headers={"Depth": depth, **headers})


def report(client: httpx.Client, path: str, body: str | bytes, depth: str = "1", **headers: str) -> httpx.Response:
    """REPORT with a whole request document (declare the namespaces, e.g. with :data:`DECLARATIONS`)."""
    content = body.encode() if isinstance(body, str) else body
    return client.request("REPORT", path, content=content, headers={"Depth": depth, **headers})


def calendar_query(
    client: httpx.Client,
    path: str,
    component: str = "VEVENT",
    start: str | None = None,
    end: str | None = None,
    props: str = "<D:getetag/>",
) -> httpx.Response:
    """A CALDAV:calendar-query REPORT for ``component``s, within a time range when ``start``
    or ``end`` is given (UTC, ``20240101T000000Z``)."""
    window = "".join(f' {k}="{v}"' for k, v in (("start", start), ("end", end)) if v)
    time_range = f"<C:time-range{window}/>" if window else ""
    body = (
        f'<C:calendar-query {DECLARATIONS}><D:prop>{props}</D:prop><C:filter><C:comp-filter name="VCALENDAR">'
        f'<C:comp-filter name="{component}">{time_range}</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>'
    )
    return report(client, path, body)


def put_event(
    client: httpx.Client,
    path: str,
    data: bytes | str,
    *,
    if_match: str | None = None,
    if_none_match: str | None = None,
    **headers: str,
) -> httpx.Response:
    """PUT a calendar object resource (``text/calendar``) at ``path``, e.g. ``calendar + "e1.ics"``;
    ``if_match``/``if_none_match`` send those conditions ("*" or an ETag)."""
    sent = {**ICALENDAR, **headers}
    if if_match is not None:
        sent["If-Match"] = if_match
    if if_none_match is not None:
        sent["If-None-Match"] = if_none_match
    return client.put(path, content=data.encode() if isinstance(data, str) else data, headers=sent)


def get_event(client: httpx.Client, path: str) -> httpx.Response:
    """GET a calendar object resource (the answer: its text, its ``ETag`` header)."""
    return client.get(path)


@dataclass
class DavResponse:
    """One DAV:response of a multistatus: its href, its status (for status-only answers), and
    its properties as ``{Clark name: (status, element)}``."""

    href: str
    status: int | None
    props: dict[str, tuple[int, ET.Element]]

    def value(self, name: str) -> ET.Element:
        """A property found with 200 (an AssertionError otherwise); ``name`` in Clark notation."""
        status, elem = self.props[name]
        assert status == 200, (name, status)
        return elem

    def text(self, name: str) -> str:
        """The text of a property found with 200."""
        return "".join(self.value(name).itertext())

    def found(self) -> set[str]:
        """The names of the properties found (200)."""
        return {name for name, (status, _) in self.props.items() if status == 200}


def parse_multistatus(response: httpx.Response) -> dict[str, DavResponse]:
    """The responses of a 207 Multi-Status, by href (asserts the status is 207)."""
    assert response.status_code == 207, (response.status_code, response.text)
    root = ET.fromstring(response.content)
    out: dict[str, DavResponse] = {}
    for resp in root.findall("D:response", NS):
        href = resp.findtext("D:href", namespaces=NS) or ""
        status_text = resp.findtext("D:status", namespaces=NS)
        props: dict[str, tuple[int, ET.Element]] = {}
        for propstat in resp.findall("D:propstat", NS):
            code = int((propstat.findtext("D:status", namespaces=NS) or "HTTP/1.1 0").split()[1])
            for prop in propstat.find("D:prop", NS) or []:
                props[prop.tag] = (code, prop)
        out[href] = DavResponse(href, int(status_text.split()[1]) if status_text else None, props)
    return out


def error_elements(response: httpx.Response) -> list[str]:
    """The Clark names of the children of a DAV:error body (the preconditions a refusal names)."""
    root = ET.fromstring(response.content)
    assert root.tag == "{DAV:}error", response.text
    return [child.tag for child in root]


def root_tag(response: httpx.Response) -> str:
    """The Clark name of an XML answer's root element."""
    return ET.fromstring(response.content).tag

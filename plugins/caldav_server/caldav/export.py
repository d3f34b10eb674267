"""GET on a calendar collection: the whole calendar as one text/calendar document.

The stored objects are joined at the text level (no parsing): each object's
components are copied into one VCALENDAR, and VTIMEZONEs appear once per
TZID.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from starlette.responses import Response

from plugins.caldav_server.webdav.conditions import collection_etag
from plugins.caldav_server.webdav.core_properties import http_date
from plugins.caldav_server.webdav.get import body_response, conditional

if TYPE_CHECKING:
    from plugins.caldav_server.webdav.context import DavContext
    from plugins.caldav_server.webdav.resolve import Target


def merge(objects: Iterable[bytes], name: str | None = None) -> bytes:
    """One VCALENDAR holding every component of the given calendar objects."""
    zones: dict[str, list[str]] = {}
    components: list[str] = []
    for data in objects:
        depth = 0
        block: list[str] = []
        for line in data.decode("utf-8", "replace").splitlines():
            if not line:
                continue
            upper = line[:6].upper()
            if upper.startswith("BEGIN:"):
                depth += 1
                if depth > 1:
                    block.append(line)
            elif upper.startswith("END:"):
                depth -= 1
                if depth > 0:
                    block.append(line)
                if depth == 1:
                    _keep(block, zones, components)
                    block = []
            elif depth >= 2:
                block.append(line)
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//teamcal//CalDAV server//EN"]
    if name:
        head.append("X-WR-CALNAME:" + name.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;"))
    lines = head + [line for zone in zones.values() for line in zone] + components + ["END:VCALENDAR"]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _keep(block: list[str], zones: dict[str, list[str]], components: list[str]) -> None:
    """File one finished top-level component: a VTIMEZONE by TZID, anything else in order."""
    if block[0].upper() == "BEGIN:VTIMEZONE":
        tzid = next((line.split(":", 1)[1] for line in block if line.upper().startswith("TZID")), "")
        zones.setdefault(tzid, block)
    else:
        components.extend(block)


def render_calendar(ctx: DavContext, target: Target) -> Response | None:
    """The GET answer for a calendar collection (None for other targets)."""
    collection = target.collection
    if target.kind != "collection" or collection is None or collection.kind != "calendar":
        return None
    etag = collection_etag(collection)
    early = conditional(ctx, etag, collection.modified)
    if early is not None:
        return early
    data = merge((d for _, d in ctx.store.resources_with_data(collection.id)), collection.display_name)
    headers = {"ETag": etag, "Last-Modified": http_date(collection.modified)}
    return body_response(ctx, data, "text/calendar; charset=utf-8", headers)

"""``GET`` / ``HEAD /feeds/<token>.ics``: one calendar as a text/calendar document, no credentials.

The token in the URL is the only key. Unknown, malformed and revoked tokens,
and tokens of deleted calendars, all get the same plain 404, so a guess learns
nothing about which calendars exist. The document is the CalDAV plugin's
whole-calendar export limited to the calendar's events and tasks, with a
strong ETag (a hash of the bytes) and Last-Modified for conditional polling:
subscription services poll often, and a 304 costs them no body.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from plugins.caldav_server.caldav.export import merge
from plugins.caldav_server.feeds import tokens
from plugins.caldav_server.webdav.conditions import evaluate
from plugins.caldav_server.webdav.core_properties import http_date

if TYPE_CHECKING:
    from starlette.requests import Request

    from kernel import Collection, Host, Principal
    from kernel.store import Store

#: Where feeds live below the server root.
FEEDS_PATH = "/feeds"
#: The components a feed carries (with the VTIMEZONEs they use).
COMPONENTS = ("VEVENT", "VTODO")
#: How often subscribers are asked to poll (RFC 7986 REFRESH-INTERVAL, and Outlook's X-PUBLISHED-TTL).
REFRESH = "PT1H"
_MEDIA_TYPE = "text/calendar; charset=utf-8"


def feed_url(base_url: str, token: str) -> str:
    """The public URL of a feed token."""
    return f"{base_url.rstrip('/')}{FEEDS_PATH}/{token}.ics"


def routes(host: Host) -> list[BaseRoute]:
    """The feed route (Starlette answers other methods with 405)."""

    def may_read(principal: Principal, collection: Collection) -> bool:
        return "read" in host.privileges(principal, collection)

    def endpoint(request: Request) -> Response:
        # a plain function: Starlette runs it in a worker thread, off the event loop
        name: str = request.path_params["name"]
        collection = tokens.calendar_of(host.store, name[: -len(".ics")], may_read) if name.endswith(".ics") else None
        if collection is None:
            return PlainTextResponse("Not found.\n", 404, headers={"Cache-Control": "no-store"})
        return answer(request, document(host.store, collection), collection.modified)

    return [Route(FEEDS_PATH + "/{name}", endpoint, methods=["GET", "HEAD"])]


def document(store: Store, collection: Collection) -> bytes:
    """The calendar's events and tasks as one VCALENDAR, with its name and refresh interval."""
    data = merge(
        (body for resource, body in store.resources_with_data(collection.id) if resource.component in COMPONENTS),
        collection.display_name or collection.name,
    )
    first, rest = data.split(b"\r\n", 1)
    refresh = f"REFRESH-INTERVAL;VALUE=DURATION:{REFRESH}\r\nX-PUBLISHED-TTL:{REFRESH}\r\n".encode()
    return first + b"\r\n" + refresh + rest


def answer(request: Request, data: bytes, modified: float) -> Response:
    """200 with the document (headers only for HEAD), or 304 when the client's copy is current."""
    headers = {
        "ETag": '"' + hashlib.sha256(data).hexdigest()[:40] + '"',
        "Last-Modified": http_date(modified),
        "Cache-Control": "private",
        "X-Robots-Tag": "noindex, nofollow",
    }
    if evaluate(request.headers, headers["ETag"], modified, read=True) == 304:
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        return Response(b"", headers={**headers, "Content-Length": str(len(data))}, media_type=_MEDIA_TYPE)
    return Response(data, headers=headers, media_type=_MEDIA_TYPE)

"""MKCALENDAR (RFC 4791 5.3.1): a calendar collection with its initial properties, atomically."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.mkcol import check_creatable, create, planned
from plugins.caldav_server.webdav.xml import c, d

if TYPE_CHECKING:
    from plugins.caldav_server.webdav.context import DavContext


def mkcalendar(ctx: DavContext) -> Response:
    """Make a calendar; 201, or 403 with a CALDAV:mkcalendar-response naming the refused properties."""
    check_creatable(ctx, c("calendar-collection-location-ok"), d("resource-must-be-null"))
    body = ctx.read_xml()
    if body is not None and body.tag != c("mkcalendar"):
        raise DavError(400, "The body of a MKCALENDAR must be a CALDAV:mkcalendar element.")
    return create(ctx, "calendar", planned(ctx, body, "calendar"), "C:mkcalendar-response")

"""REPORT: dispatch on the body's root element to a registered report (RFC 3253 3.6)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from plugins.caldav_server.webdav.app import call
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.xml import d

if TYPE_CHECKING:
    from plugins.caldav_server.webdav.context import DavContext


def report(ctx: DavContext) -> Response:
    """Run the report the body names; 403 DAV:supported-report for one this target lacks."""
    target = ctx.target
    if target.kind == "unmapped":
        raise DavError(404, "Not found.")
    ctx.require("read")
    body = ctx.read_xml()
    if body is None:
        raise DavError(400, "A REPORT needs a body.")
    found = ctx.app.reports.get(body.tag)
    if found is None or not found.applies(target):
        raise DavError(403, f"The report {body.tag} is not supported here.", d("supported-report"))
    return call(found.handler, ctx, body)

"""GET and HEAD: a resource's stored bytes with its strong ETag; collections as a listing.

Other layers may render a collection themselves through
``DavApp.collection_renderers`` (CalDAV returns a calendar as one
text/calendar document).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from starlette.responses import Response

from plugins.caldav_server.webdav.conditions import evaluate
from plugins.caldav_server.webdav.core_properties import http_date
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.propfind import members
from plugins.caldav_server.webdav.xml import escape, escape_attr

if TYPE_CHECKING:
    from plugins.caldav_server.webdav.context import DavContext


def conditional(ctx: DavContext, etag: str | None, modified: float | None) -> Response | None:
    """304 or 412 for the conditions of a GET or HEAD (``conditions``), or None to go on."""
    status = evaluate(ctx.request.headers, etag, modified, read=True)
    if status == 412:
        raise DavError(412, "The resource changed (If-Match or If-Unmodified-Since failed).")
    if status == 304:
        headers = {"ETag": etag} if etag else {}
        if modified is not None:
            headers["Last-Modified"] = http_date(modified)
        return Response(status_code=304, headers=headers)
    return None


def body_response(ctx: DavContext, data: bytes, content_type: str, headers: dict[str, str]) -> Response:
    """The answer to GET, or to HEAD the same headers without the body."""
    if ctx.request.method == "HEAD":
        headers = {**headers, "Content-Length": str(len(data))}
        return Response(b"", headers=headers, media_type=content_type)
    return Response(data, headers=headers, media_type=content_type)


def get(ctx: DavContext) -> Response:
    """Answer GET and HEAD."""
    target = ctx.target
    if target.kind == "unmapped":
        raise DavError(404, "Not found.")
    ctx.require("read")
    resource, data = target.resource, target.data
    if resource is not None:
        # row and content come from the one statement that resolved the URL (the method
        # reads_content), so the ETag is that of the bytes sent even when a write commits after
        assert data is not None
        early = conditional(ctx, resource.etag, resource.modified)
        if early is not None:
            return early
        headers = {"ETag": resource.etag, "Last-Modified": http_date(resource.modified)}
        return body_response(ctx, data, resource.content_type, headers)
    for render in ctx.app.collection_renderers:
        answer = render(ctx, target)
        if answer is not None:
            return answer
    return listing(ctx)


def listing(ctx: DavContext) -> Response:
    """A small HTML index of the members the principal may read."""
    target = ctx.target
    rows = []
    for child, _ in members(ctx, target):
        label = unquote(child.href.rstrip("/").rsplit("/", 1)[-1]) + ("/" if child.is_collection else "")
        rows.append(f'<li><a href="{escape_attr(child.href)}">{escape(label)}</a></li>')
    title = escape(target.href)
    page = (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><h1>{title}</h1><ul>{''.join(rows)}</ul></body></html>\n"
    )
    return body_response(ctx, page.encode("utf-8"), "text/html; charset=utf-8", {})

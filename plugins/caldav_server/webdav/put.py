"""PUT: create or replace a resource through ``host.writes.put_object``.

The size limit is asked before the body is read, so an oversized body is
refused after at most the limit; If-Match / If-None-Match are checked in the
write transaction (412, nothing written). The answer carries the strong ETag
of the stored bytes only when they are exactly the body: the kernel rewrites
bare CR or LF line breaks as CRLF, and then the ETag is left out (RFC 4791
5.3.4), so the client fetches what was stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from kernel.app import read_body
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.resolve import collection_target

if TYPE_CHECKING:
    from plugins.caldav_server.webdav.context import DavContext


async def put(ctx: DavContext) -> Response:
    """Store the body at the target URL; 201 when created, 204 when replaced."""
    target = ctx.target
    if target.is_collection:
        ctx.require("read")
        raise DavError(405, "PUT on a collection is not allowed.", headers={"Allow": ", ".join(ctx.app.allow(target))})
    if target.parent_missing:
        raise DavError(409, "The parent collection does not exist.")
    collection = target.collection
    if collection is None:
        ctx.require("read")
        raise DavError(409, "Resources live in a collection, not directly in a home.")
    ctx.require("write", dav=("write-content",) if target.resource else ("bind",))
    headers = ctx.request.headers
    content_type = headers.get("content-type")
    for check in ctx.app.put_checks:
        check(ctx, collection, content_type)
    protected = (
        [(target, False)] if target.resource else [(target, False), (collection_target(ctx.hrefs, collection), False)]
    )
    ctx.app.locks.check(ctx, protected)
    limit = ctx.host.object_size_limit(ctx.principal, collection)
    precondition = next((p for p in (f(collection) for f in ctx.app.size_preconditions) if p), None)
    data = await read_body(ctx.request, limit, precondition)
    # again: a LOCK may have been granted while the body was arriving
    ctx.app.locks.check(ctx, protected)
    assert target.name is not None
    stored = ctx.host.writes.put_object(
        collection,
        target.name,
        data,
        principal=ctx.principal,
        content_type=content_type,
        if_match=headers.get("if-match"),
        if_none_match=headers.get("if-none-match"),
        source="caldav",
    )
    headers = {} if stored.rewritten else {"ETag": stored.resource.etag}
    return Response(status_code=201 if stored.created else 204, headers=headers)

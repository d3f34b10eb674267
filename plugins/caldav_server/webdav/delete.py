"""DELETE of a resource (with If-Match, If-Unmodified-Since) or of a whole collection tree.

A resource needs write on its collection; a collection needs admin where it lives
(its owner's home or parent collection), so a team calendar is deleted only by a group
admin or a server admin, never by a member.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from plugins.caldav_server.webdav import conditions
from plugins.caldav_server.webdav.conditions import http_time
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.resolve import collection_target

if TYPE_CHECKING:
    from plugins.caldav_server.webdav.context import DavContext


def delete(ctx: DavContext) -> Response:
    """Delete the target; 204 on success."""
    target = ctx.target
    if target.kind == "unmapped":
        raise DavError(404, "Not found.")
    if target.kind == "resource":
        assert target.collection is not None and target.name is not None
        ctx.require("write", dav=("unbind",))
        conditions.require(ctx)  # If-None-Match here; If-Match and the date again in the transaction
        key = ctx.app.locks.key(ctx, target)
        covering = ctx.app.locks.check(ctx, [(target, False), (collection_target(ctx.hrefs, target.collection), False)])
        ctx.host.writes.delete_object(
            target.collection,
            target.name,
            principal=ctx.principal,
            if_match=ctx.request.headers.get("if-match"),
            if_unmodified_since=http_time(ctx.request.headers.get("if-unmodified-since")),
            source="caldav",
            expected=target.resource,
        )
        ctx.app.locks.remove_resource_locks(covering, key)
        return Response(status_code=204)
    if target.kind != "collection":
        ctx.require("read")
        raise DavError(403, "This collection cannot be deleted.")
    collection = target.collection
    assert collection is not None
    ctx.require("read")
    parent = ctx.parent_of(collection)
    ctx.require("admin", parent, dav=("unbind",))
    conditions.require(ctx)
    ctx.app.locks.check(ctx, [(target, True), (parent, False)])
    ctx.host.writes.delete_collection(collection, principal=ctx.principal, source="caldav")
    ctx.app.locks.remove_tree(ctx.app.locks.key(ctx, target))
    return Response(status_code=204)

"""COPY and MOVE (RFC 4918 9.8, 9.9) of resources and collection trees.

The Destination header may be a path from the root or an absolute URL
(percent-encoded, or raw UTF-8), and names what it decodes to (see ``resolve``);
anything else is a 400, one on another server a 502. ``Overwrite: F`` onto something that exists
is a 412; a missing destination parent is a 409. MOVE needs unbind on the
source's parent, both need bind where the destination goes (also in
another principal's home): for resources that is write on the collection,
for collections (and for replacing one) admin where it lives, so a team
calendar is moved or overwritten only by a group admin or a server admin.
Dead properties travel with the copy; locks do not (a moved source's locks
are released). A resource copied or moved into a calendar meets the calendar's
rules as a PUT would: the PUT checks on its media type here, the write
pipeline's (data, component, UID, limits) in ``host.writes.copy_object``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.responses import Response

from plugins.caldav_server.webdav import conditions
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.resolve import Target, collection_target, header_href

if TYPE_CHECKING:
    from plugins.caldav_server.webdav.context import DavContext


def copy(ctx: DavContext) -> Response:
    """COPY the target to the Destination."""
    return transfer(ctx, move=False)


def move(ctx: DavContext) -> Response:
    """MOVE the target to the Destination."""
    return transfer(ctx, move=True)


def destination(ctx: DavContext) -> Target:
    """The target the Destination header names; 400 when missing or neither an absolute URL
    nor an absolute path (RFC 4918 10.3), 502 when on another server."""
    header = header_href(ctx.request.headers.get("destination", "")).strip()
    if not header:
        raise DavError(400, "COPY and MOVE need a Destination header.")
    try:
        parts = urlsplit(header)
    except ValueError:
        raise DavError(400, "The Destination header is not a URL.") from None
    if not parts.scheme and not header.startswith("/"):
        raise DavError(400, "The Destination header is not a URL: give an absolute URL or a path from the root.")
    host = ctx.request.headers.get("host", "")
    if parts.netloc and host and parts.netloc.lower() != host.lower():
        raise DavError(502, "The destination is on another server.")
    target = ctx.resolve_href(header)
    if target is None:
        raise DavError(502, "The destination is outside this server's DAV space.")
    return target


def overwrite(ctx: DavContext) -> bool:
    """The Overwrite header: T (default) or F."""
    value = ctx.request.headers.get("overwrite", "T").strip().upper()
    if value not in ("T", "F"):
        raise DavError(400, "Overwrite must be T or F.")
    return value == "T"


def _parent_target(ctx: DavContext, dest: Target) -> Target:
    """Where the destination is bound: its parent collection or its owner's home."""
    if dest.kind == "collection":
        assert dest.collection is not None
        return ctx.parent_of(dest.collection)
    if dest.collection is not None:
        return collection_target(ctx.hrefs, dest.collection)
    assert dest.owner is not None
    return Target("home", ctx.hrefs.home(dest.owner), owner=dest.owner)


def transfer(ctx: DavContext, *, move: bool) -> Response:
    """Copy or move a resource or a collection tree; 201 when the destination is new, else 204."""
    src = ctx.target
    if src.kind == "unmapped":
        raise DavError(404, "Not found.")
    ctx.require("read")
    if src.kind not in ("collection", "resource"):
        raise DavError(403, "Only collections and resources can be copied or moved.")
    replace = overwrite(ctx)
    dest = destination(ctx)
    if dest.kind not in ("collection", "resource", "unmapped"):
        raise DavError(403, "The destination cannot be replaced.")
    if dest.href.rstrip("/") == src.href.rstrip("/"):
        raise DavError(403, "The source and the destination are the same.")
    if dest.parent_missing:
        raise DavError(409, "The destination's parent collection does not exist.")
    if move:
        parent = (
            ctx.parent_of(src.collection) if src.kind == "collection" else collection_target(ctx.hrefs, src.collection)
        )  # type: ignore[arg-type]
        ctx.require("admin" if src.kind == "collection" else "write", parent, dav=("unbind",))
    dest_parent = _parent_target(ctx, dest)
    binding_collection = src.kind == "collection" or dest.kind == "collection"
    ctx.require("admin" if binding_collection else "write", dest_parent, dav=("bind",))
    conditions.require(ctx)  # on the source, the Request-URI (RFC 9110 13.2)
    # locks below a URL are looked for only under a collection: a resource has nothing below it
    protected = [(dest, dest.kind == "collection"), (dest_parent, False)]
    if move:
        protected += [(src, src.kind == "collection"), (parent, False)]
    covering = ctx.app.locks.check(ctx, protected)
    existed = dest.kind != "unmapped"
    if not replace and existed:
        raise DavError(412, "The destination exists and Overwrite is F.")
    writes = ctx.host.writes
    if src.kind == "resource":
        assert src.collection is not None and src.name is not None
        parent_collection = dest_parent.collection
        name = dest.collection.name if dest.kind == "collection" and dest.collection else dest.name
        if parent_collection is None or name is None:
            raise DavError(409, "Resources live in a collection, not directly in a home.")
        for check in ctx.app.put_checks:  # the destination's media types (supported-calendar-data)
            check(ctx, parent_collection, src.resource.content_type if src.resource else None)
        writes.copy_object(
            src.collection,
            src.name,
            parent_collection,
            name,
            principal=ctx.principal,
            overwrite=replace,
            move=move,
            source="caldav",
            keep_uid=True,
            # checked before (with If-None-Match) and again where a racing write cannot slip between
            if_match=ctx.request.headers.get("if-match"),
            if_unmodified_since=conditions.http_time(ctx.request.headers.get("if-unmodified-since")),
        )
        if move:  # a lock rooted at the unbound URL goes with it
            ctx.app.locks.remove_resource_locks(covering, ctx.app.locks.key(ctx, src))
        return Response(status_code=204 if existed else 201)
    assert src.collection is not None and dest.owner is not None
    if dest.kind == "collection":
        assert dest.collection is not None
        path = dest.collection.path
    elif dest.kind == "resource":
        assert dest.collection is not None
        path = f"{dest.collection.path}/{dest.name}"
    else:
        path = dest.unmapped_path
    if move:
        if ctx.depth not in (None, "infinity"):
            raise DavError(400, "MOVE of a collection takes Depth: infinity.")
        writes.move_collection(
            src.collection, dest.owner, path, principal=ctx.principal, overwrite=replace, source="caldav"
        )
    else:
        if ctx.depth == "1":
            raise DavError(400, "COPY of a collection takes Depth: 0 or infinity.")
        writes.copy_collection(
            src.collection,
            dest.owner,
            path,
            principal=ctx.principal,
            overwrite=replace,
            depth_infinity=ctx.depth != "0",
            source="caldav",
        )
    if move:
        ctx.app.locks.remove_tree(ctx.app.locks.key(ctx, src))
    return Response(status_code=204 if existed else 201)

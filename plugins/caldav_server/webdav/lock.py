"""LOCK and UNLOCK (RFC 4918 9.10, 9.11): exclusive and shared write locks, refresh,
depth-infinity collection locks, and locks on unmapped URLs (which create an empty resource).

Locking a resource (or an unmapped URL in a collection) needs write on its
collection; locking a collection, which shuts everyone else out of all of it,
needs admin on it. Timeouts are capped (``Locks.timeout``). A lock is released by
the principal who took it, or by anyone holding admin on what it locks (the
calendar's owner, its group's admins, server admins), who learn its token from
DAV:lockdiscovery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from kernel import Rejected
from plugins.caldav_server.webdav import xml
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.locks import Lock
from plugins.caldav_server.webdav.multistatus import document
from plugins.caldav_server.webdav.resolve import collection_target
from plugins.caldav_server.webdav.xml import d

if TYPE_CHECKING:
    from kernel import Collection
    from plugins.caldav_server.webdav.context import DavContext
    from plugins.caldav_server.webdav.resolve import Target

SUPPORTED = (
    "<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>"
    "<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>"
)


def _answer(ctx: DavContext, lock: Lock, status: int) -> Response:
    body = document("D:prop", [f"<D:lockdiscovery>{lock.activelock(ctx.hrefs.root)}</D:lockdiscovery>"])
    return Response(body, status, headers={"Lock-Token": f"<{lock.token}>"}, media_type=xml.XML_CONTENT_TYPE)


def lockable(target: Target) -> bool:
    """Collections, resources and unmapped URLs can be locked."""
    return target.kind in ("collection", "resource", "unmapped")


def lock(ctx: DavContext) -> Response:
    """Take a new lock (200, or 201 when an unmapped URL got an empty resource) or refresh one."""
    target = ctx.target
    if not lockable(target):
        ctx.require("read")
        raise DavError(405, "This URL cannot be locked.", headers={"Allow": ", ".join(ctx.app.allow(target))})
    if target.parent_missing:
        raise DavError(409, "The parent collection does not exist.")
    if target.kind == "collection":
        ctx.require("admin", dav=("write-properties",))
    else:
        ctx.require("write", dav=("write-content",) if target.kind != "unmapped" else ("bind",))
    locks = ctx.app.locks
    path = locks.key(ctx, target)
    timeout = locks.timeout(ctx.request.headers.get("timeout"))
    body = ctx.read_xml()
    if body is None:
        tokens = locks.submitted(ctx)
        for held in locks.covering(path):
            if held.token in tokens and held.principal_id == ctx.principal.id:
                return _answer(ctx, locks.refresh(held, timeout), 200)
        raise DavError(412, "Refreshing a lock needs its token in the If header.", d("lock-token-matches-request-uri"))
    if body.tag != d("lockinfo"):
        raise DavError(400, "The body of a LOCK must be a DAV:lockinfo element.")
    scope_elem = body.find(d("lockscope"))
    scope = "shared" if scope_elem is not None and scope_elem.find(d("shared")) is not None else "exclusive"
    locktype = body.find(d("locktype"))
    if locktype is None or locktype.find(d("write")) is None:
        raise DavError(400, "Only write locks exist.")
    owner = body.find(d("owner"))
    depth = ctx.depth or "infinity"
    if depth == "1":
        raise DavError(400, "A LOCK takes Depth: 0 or infinity.")
    if not target.is_collection:
        depth = "0"
    parent = target.collection
    if target.kind == "unmapped" and (parent is None or target.name is None):
        raise DavError(409, "Resources live in a collection, not directly in a home.")
    locks.submitted(ctx)
    created = False
    with ctx.host.writes.transaction():
        held = locks.conflicting(path, depth, scope)
        if held is not None:
            raise DavError(
                423, "A conflicting lock is held.", d("no-conflicting-lock"), xml.href(ctx.hrefs.root + held.root)
            )
        if target.kind == "unmapped":
            assert parent is not None and target.name is not None
            locks.check(ctx, [(collection_target(ctx.hrefs, parent), False)])
            created = _create_empty(ctx, parent, target.name)
        taken = locks.create(
            path,
            target.href[len(ctx.hrefs.root) :],
            depth,
            scope,
            xml.serialize(owner) if owner is not None else None,
            ctx.principal.id,
            timeout,
        )
    return _answer(ctx, taken, 201 if created else 200)


def _create_empty(ctx: DavContext, parent: Collection, name: str) -> bool:
    """Map a locked URL to an empty resource; False when a racing request already made one."""
    try:
        ctx.host.writes.put_object(parent, name, b"", principal=ctx.principal, if_none_match="*", source="caldav")
    except Rejected as exc:
        if exc.status != 412:
            raise
        return False
    return True


def unlock(ctx: DavContext) -> Response:
    """Release the lock named by the Lock-Token header (one's own, or with admin anyone's); 204."""
    target = ctx.target
    if target.kind == "unmapped":
        raise DavError(404, "Not found.")
    ctx.require("read")
    header = (ctx.request.headers.get("lock-token") or "").strip()
    if not header.startswith("<") or not header.endswith(">"):
        raise DavError(400, "UNLOCK needs a Lock-Token header.")
    locks = ctx.app.locks
    held = locks.by_token(header[1:-1].strip())
    path = locks.key(ctx, target)
    if held is None or not held.covers(path):
        raise DavError(409, "No such lock on this resource.", d("lock-token-matches-request-uri"))
    if held.principal_id != ctx.principal.id:
        ctx.require("admin", dav=("unlock",))
    locks.remove(held.token)
    return Response(status_code=204)


def lockdiscovery(ctx: DavContext, target: Target) -> str | None:
    """The DAV:lockdiscovery value: the active locks covering a target."""
    if not lockable(target) or target.kind == "unmapped":
        return None
    return "".join(held.activelock(ctx.hrefs.root) for held in ctx.app.locks.covering(ctx.app.locks.key(ctx, target)))


def supportedlock(ctx: DavContext, target: Target) -> str | None:
    """The DAV:supportedlock value."""
    return SUPPORTED if lockable(target) and target.kind != "unmapped" else None

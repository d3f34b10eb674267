"""MKCOL (RFC 4918 9.3) and extended MKCOL (RFC 5689).

A plain MKCOL makes a plain collection; a body must be a DAV:mkcol document
(415 otherwise) whose DAV:resourcetype picks the kind (CalDAV registers
C:calendar) and whose other properties are set atomically with the creation.
The creation checks are shared with MKCALENDAR.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from plugins.caldav_server.webdav import conditions, multistatus, xml
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.proppatch import Plan, operations, plan
from plugins.caldav_server.webdav.resolve import Target, collection_target
from plugins.caldav_server.webdav.xml import Element, d

if TYPE_CHECKING:
    from plugins.caldav_server.webdav.context import DavContext


def check_creatable(
    ctx: DavContext, location_precondition: str | None = None, exists_precondition: str | None = None
) -> None:
    """The target must be an unmapped URL whose parent exists, may hold collections, and where
    the principal holds admin (creating a collection in a group's home needs a group admin)."""
    target = ctx.target
    if target.kind != "unmapped":
        ctx.require("read")
        raise DavError(
            405,
            "Something already exists at this URL.",
            exists_precondition,
            headers={"Allow": ", ".join(ctx.app.allow(target))},
        )
    if target.parent_missing:
        raise DavError(409, "The parent collection does not exist.")
    parent = target.collection
    assert target.owner is not None
    parent_target = (
        collection_target(ctx.hrefs, parent)
        if parent
        else Target("home", ctx.hrefs.home(target.owner), owner=target.owner)
    )
    ctx.require("admin", parent_target, dav=("bind",))
    conditions.require(ctx)  # If-Match fails on a URL with nothing at it; If-None-Match: * holds
    if parent is not None and parent.kind != "plain":
        raise DavError(403, "Collections cannot be made inside a calendar.", location_precondition)
    ctx.app.locks.check(ctx, [(target, False), (parent_target, False)])


def planned(ctx: DavContext, root: Element | None, kind: str) -> Plan:
    """The properties a creation body sets, for a collection of ``kind``."""
    ops: list[tuple[str, Element | None]] = []
    if root is not None:
        ops = [(name, value) for name, value in operations(ctx, root) if value is not None]
    return plan(ctx, ops, kind, creating=True)


def create(ctx: DavContext, kind: str, result: Plan, response_root: str) -> Response:
    """Create the collection with the planned properties, or answer the failures (403 + body)."""
    target = ctx.target
    if result.failed:
        body = multistatus.document(response_root, [result.propstats()])
        return Response(body, 403, media_type=xml.XML_CONTENT_TYPE)
    assert target.owner is not None
    ctx.host.writes.create_collection(
        target.owner,
        target.unmapped_path,
        kind,  # type: ignore[arg-type]
        principal=ctx.principal,
        attrs=result.attrs,
        properties={k: v for k, v in result.dead.items() if v is not None},
        source="caldav",
    )
    return Response(status_code=201, headers={"Location": target.href + "/"})


def mkcol(ctx: DavContext) -> Response:
    """Make a plain collection, or with an extended-MKCOL body any registered kind."""
    check_creatable(ctx)
    body = ctx.body
    kind = "plain"
    root = None
    if body.strip():
        content_type = (ctx.request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if not content_type.endswith("xml"):
            raise DavError(415, "MKCOL takes no body, or a DAV:mkcol XML document.")
        root = xml.parse(body)
        if root is None or root.tag != d("mkcol"):
            raise DavError(415, "The body of an extended MKCOL must be a DAV:mkcol element.")
        kind, refused = _kind(ctx, root)
        if refused:
            result = planned(ctx, root, kind)
            result.failed[d("resourcetype")] = (403, (d("valid-resourcetype"),))
            return create(ctx, kind, result, "D:mkcol-response")
    return create(ctx, kind, planned(ctx, root, kind), "D:mkcol-response")


def _kind(ctx: DavContext, root: Element) -> tuple[str, bool]:
    """The collection kind DAV:resourcetype asks for, and whether it asks for an unknown type."""
    kind = "plain"
    for name, value in operations(ctx, root):
        if name != d("resourcetype") or value is None:
            continue
        for child in value:
            if child.tag == d("collection"):
                continue
            if child.tag not in ctx.app.collection_kinds:
                return kind, True
            kind = ctx.app.collection_kinds[child.tag]
    return kind, False

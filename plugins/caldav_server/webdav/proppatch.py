"""PROPPATCH (RFC 4918 9.2): all the changes or none of them.

Writable live properties become collection attributes; protected ones are
refused with 403 DAV:cannot-modify-protected-property; anything else is a
dead property in any namespace (stored as its XML, so Apple's unknown
properties are kept, not refused). When one change fails, the others answer
424 Failed Dependency and nothing is written. The same planning serves the
initial properties of extended MKCOL and MKCALENDAR.

A collection's properties (its name, colour, description, any dead property)
are the collection's own: changing them needs admin, so a team calendar is
renamed or recoloured only by a group admin or a server admin; a resource's
need write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from plugins.caldav_server.webdav import conditions, deadprops, multistatus, xml
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.xml import Element, d

if TYPE_CHECKING:
    from plugins.caldav_server.webdav.context import DavContext

PROTECTED = d("cannot-modify-protected-property")


@dataclass
class Plan:
    """Planned property changes: collection attributes, dead properties, and refusals."""

    order: dict[str, None] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    dead: dict[str, str | None] = field(default_factory=dict)
    #: Refused properties: (status, the precondition elements violated).
    failed: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)

    def propstats(self) -> str:
        """DAV:propstat elements: 200 for every change, or the failures and 424 for the rest."""
        groups: dict[tuple[int, tuple[str, ...]], list[str]] = {}
        for name in self.order:
            key = self.failed.get(name, (424, ()) if self.failed else (200, ()))
            groups.setdefault(key, []).append(xml.element(name))
        parts = []
        for (status, preconditions), props in groups.items():
            error = f"<D:error>{''.join(map(xml.element, preconditions))}</D:error>" if preconditions else ""
            parts.append(
                f"<D:propstat><D:prop>{''.join(props)}</D:prop>"
                f"<D:status>{multistatus.status_line(status)}</D:status>{error}</D:propstat>"
            )
        return "".join(parts)

    def answer(self, href: str) -> str:
        """One DAV:response with :meth:`propstats`."""
        return f"<D:response><D:href>{xml.escape(href)}</D:href>{self.propstats()}</D:response>"


def operations(ctx: DavContext, update: Element) -> list[tuple[str, Element | None]]:
    """(name, new value or None for remove) for each property in DAV:set / DAV:remove, in order.

    More than ``[caldav_server] max_proppatch_properties`` of them is a 413.
    """
    ops: list[tuple[str, Element | None]] = []
    for action in update:
        if action.tag not in (d("set"), d("remove")):
            continue
        prop = action.find(d("prop"))
        if prop is None:
            raise DavError(400, "DAV:set and DAV:remove need a DAV:prop.")
        for elem in prop:
            ops.append((elem.tag, elem if action.tag == d("set") else None))
    limit = ctx.host.settings("caldav_server").max_proppatch_properties
    if len(ops) > limit:
        raise DavError(413, f"The request names {len(ops)} properties; this server takes at most {limit} at once.")
    return ops


def plan(ctx: DavContext, ops: list[tuple[str, Element | None]], kind: str | None, *, creating: bool = False) -> Plan:
    """Sort the changes into attributes of a collection of ``kind`` (None: not a collection),
    dead properties and refusals. ``creating`` lets a MKCOL set DAV:resourcetype."""
    result = Plan()
    registry = ctx.app.properties
    for name, value in ops:
        result.order.setdefault(name)
        if creating and name == d("resourcetype"):
            continue
        live = registry.get(name)
        change = None
        if live is not None:
            if live.setter is None or (live.create_only and not creating):
                result.failed[name] = (403, (PROTECTED,))
                continue
            try:
                change = live.setter(value, kind)
            except DavError as exc:
                result.failed[name] = (exc.status, exc.preconditions)
                continue
        if change is not None:
            result.attrs.update(change)
        else:
            result.dead[name] = xml.serialize(value) if value is not None else None
    return result


def proppatch(ctx: DavContext) -> Response:
    """Apply a DAV:propertyupdate atomically and answer 207."""
    target = ctx.target
    if target.kind == "unmapped":
        raise DavError(404, "Not found.")
    if target.kind in ("root", "principals", "homes"):
        ctx.require("read")
        raise DavError(403, "This collection has no writable properties.", PROTECTED)
    ctx.require("admin" if target.kind in ("collection", "home") else "write", dav=("write-properties",))
    conditions.require(ctx)
    ctx.app.locks.check(ctx, [(target, False)])  # the body has arrived: a handler runs after it
    body = ctx.read_xml()
    if body is None or body.tag != d("propertyupdate"):
        raise DavError(400, "The body of a PROPPATCH must be a DAV:propertyupdate element.")
    ops = operations(ctx, body)
    if not ops:
        raise DavError(400, "DAV:propertyupdate names no property.")
    kind = target.collection.kind if target.kind == "collection" and target.collection else None
    result = plan(ctx, ops, kind)
    if not result.failed:
        headers = ctx.request.headers  # checked above, and for a resource again where no write slips between
        deadprops.save(ctx.host, target, ctx.principal, result.dead, result.attrs, if_match=headers.get("if-match"),
                       if_unmodified_since=conditions.http_time(headers.get("if-unmodified-since")))
    return multistatus.multistatus([result.answer(target.href)])

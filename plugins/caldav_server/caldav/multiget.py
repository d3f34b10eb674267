"""REPORT calendar-multiget (RFC 4791 7.9): named resources of one calendar, fetched together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from anyio import to_thread
from starlette.responses import Response

from plugins.caldav_server.caldav import timezones
from plugins.caldav_server.caldav.calendar_query import dav_error
from plugins.caldav_server.caldav.query_error import QueryError
from plugins.caldav_server.caldav.report_props import CalendarDataRenderer
from plugins.caldav_server.webdav import multistatus
from plugins.caldav_server.webdav.deadprops import ResourceProperties
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.properties import Evaluator
from plugins.caldav_server.webdav.xml import Element, d

if TYPE_CHECKING:
    from kernel import Resource
    from plugins.caldav_server.webdav.context import DavContext


async def calendar_multiget(ctx: DavContext, body: Element) -> Response:
    """Answer each DAV:href: its properties and calendar data, or 404."""
    target = ctx.target
    if target.collection is None or target.kind not in ("collection", "resource"):
        raise DavError(403, "calendar-multiget runs on a calendar.", d("supported-report"))
    collection = target.collection
    try:
        request, renderer = CalendarDataRenderer.from_report(body)
    except QueryError as exc:
        raise dav_error(exc) from None
    tz = timezones.tzinfo(collection.timezone)
    evaluator = Evaluator(ctx, request)
    wanted: list[tuple[str, str | None]] = []
    for elem in body.findall(d("href")):
        href = (elem.text or "").strip()
        try:
            found = ctx.resolve_href(href)
        except DavError:
            found = None
        in_scope = found is not None and found.collection is not None and found.collection.id == collection.id
        wanted.append(
            (href, found.name if in_scope and found is not None and found.kind in ("resource", "unmapped") else None)
        )
    names = [name for _, name in wanted if name]
    rows = ctx.store.resources_with_data(collection.id, names) if names else []

    def work() -> dict[str, tuple[Resource, dict[str, str] | None]]:
        return {r.name: (r, renderer.computed(data, tz)) for r, data in rows}

    try:
        results = work() if renderer.cheap() else await to_thread.run_sync(work)
    except QueryError as exc:
        raise dav_error(exc) from None
    dead = ResourceProperties(ctx.store, collection.id)
    parts = []
    for href, name in wanted:
        found_row = results.get(name) if name else None
        if found_row is None:
            parts.append(multistatus.status_response(href, 404))
            continue
        resource, computed = found_row
        child = ctx.member(resource)
        found, missing = evaluator.evaluate(child, dead.getter(resource.id), computed)
        parts.append(multistatus.response(child.href, found, missing, minimal=ctx.minimal))
    return multistatus.multistatus(parts, minimal=ctx.minimal)

"""REPORT calendar-multiget (RFC 4791 7.9): named resources of one calendar, fetched together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from plugins.caldav_server.caldav import timezones
from plugins.caldav_server.caldav.calendar_query import dav_error
from plugins.caldav_server.caldav.query_error import QueryError
from plugins.caldav_server.caldav.report_props import CalendarDataRenderer
from plugins.caldav_server.webdav import multistatus
from plugins.caldav_server.webdav.deadprops import ResourceProperties
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.properties import Evaluator
from plugins.caldav_server.webdav.resolve import relative_path, split_path
from plugins.caldav_server.webdav.xml import Element, d

if TYPE_CHECKING:
    from kernel import Collection, Resource
    from plugins.caldav_server.webdav.context import DavContext


def calendar_multiget(ctx: DavContext, body: Element) -> Response:
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
    parent = target.href if target.kind == "collection" else target.href[: target.href.rindex("/") + 1]
    prefix = split_path(relative_path(ctx.hrefs, parent) or b"")
    wanted = [(href, member_name(ctx, collection, prefix, href)) for href in
              ((elem.text or "").strip() for elem in body.findall(d("href")))]
    names = [name for _, name in wanted if name]
    rows = ctx.store.resources_with_data(collection.id, names) if names else []

    def work() -> dict[str, tuple[Resource, dict[str, str] | None]]:
        near = renderer.near(ctx.store, collection.id, [r.id for r, _ in rows])
        renderer.preload(ctx.store, rows)
        computed = renderer.computed_page(rows, tz, ctx.budget, near)
        return {r.name: (r, found) for (r, _), found in zip(rows, computed, strict=True)}

    try:
        results = work()
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


def member_name(ctx: DavContext, collection: Collection, prefix: list[str], href: str) -> str | None:
    """The name of the calendar's member an href names, or None when it names something else.

    An href spelled below the request's URL is read without a lookup; any other
    spelling (the calendar's other URL, say) is resolved.
    """
    try:
        raw = relative_path(ctx.hrefs, href)
        segments = split_path(raw) if raw is not None else None
        if segments is not None and len(segments) == len(prefix) + 1 and segments[:-1] == prefix:
            return segments[-1]
        found = ctx.resolve_href(href)
    except DavError:
        return None
    if found is None or found.collection is None or found.collection.id != collection.id:
        return None
    return found.name if found.kind in ("resource", "unmapped") else None

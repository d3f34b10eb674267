"""REPORT calendar-query (RFC 4791 7.8).

The filter's index plan decides the cost: a plain component / time-range
query is answered from the kernel's instance index and the stored bytes,
without parsing a single object; anything else is narrowed by the index
first, then each candidate is parsed and the full filter decides. Parsing
and expansion run in a worker thread, so one heavy query (a rule repeating
every second) never stalls the server's other requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import TYPE_CHECKING

import icalendar
from starlette.responses import Response

from kernel import Budget
from plugins.caldav_server.caldav import filters, timezones
from plugins.caldav_server.caldav.calendar_data import parsed_calendar
from plugins.caldav_server.caldav.query_error import QueryError
from plugins.caldav_server.caldav.report_props import CALENDAR_DATA, CalendarDataRenderer
from plugins.caldav_server.webdav import multistatus, xml
from plugins.caldav_server.webdav.deadprops import ResourceProperties
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.properties import Evaluator
from plugins.caldav_server.webdav.xml import Element, c, d

if TYPE_CHECKING:
    import datetime as dt

    from kernel import Collection, Instance, Resource
    from plugins.caldav_server.webdav.context import DavContext


def dav_error(exc: QueryError) -> DavError:
    """A query-engine refusal as a DAV error."""
    return DavError(exc.status, exc.message, exc.precondition, exc.detail)


def request_timezone(body: Element, collection: Collection) -> dt.tzinfo | None:
    """The zone floating times are read in: CALDAV:timezone(-id) of the request, else the calendar's."""
    text = xml.child_text(body.find(c("timezone"))).strip() or xml.child_text(body.find(c("timezone-id"))).strip()
    if text:
        if text.upper().startswith("BEGIN:") and not timezones.is_valid(text):
            # RFC 4791 7.8 names valid-calendar-data (a 403, 1.3), RFC 7809 valid-timezone
            raise DavError(
                403,
                "CALDAV:timezone must be a VCALENDAR with one VTIMEZONE.",
                c("valid-calendar-data"),
                also=(c("valid-timezone"),),
            )
        found = timezones.tzinfo(text)
        if found is None:
            raise DavError(403, f"Unknown time zone {text!r}.", c("valid-timezone"))
        return found
    return timezones.tzinfo(collection.timezone)


Row = tuple["Resource", bytes, "icalendar.Calendar | None"]


def candidates(
    ctx: DavContext, collection: Collection, flt: filters.CompFilter, tz: dt.tzinfo | None
) -> tuple[list[Row], bool]:
    """The resources the index leaves (with their bytes), and whether they are the exact answer."""
    component, time_range, exact = flt.index_plan()
    store = ctx.store
    if time_range is not None:
        ids = store.time_range(collection.id, time_range.start, time_range.end, tz=tz, component=component,
                               budget=ctx.budget)
        return [(r, data or b"", None) for r, data in store.resources_by_ids(ids, with_data=True)], exact
    return [(r, data, None) for r, data in store.resources_with_data(collection.id, component=component)], exact


def matching(rows: Iterable[Row], flt: filters.CompFilter, tz: dt.tzinfo | None, budget: Budget) -> list[Row]:
    """The rows whose parsed object passes the whole filter (kept with their parse); the work
    is spent from the request's ``budget``."""
    kept: list[Row] = []
    for resource, data, _ in rows:
        try:
            calendar = parsed_calendar(data, budget)
        except ValueError:
            continue
        if flt.matches(calendar, tz, budget):
            kept.append((resource, data, calendar))
    return kept


def calendar_query(ctx: DavContext, body: Element) -> Response:
    """Answer a calendar-query on a calendar (Depth 1) or on one of its objects."""
    target = ctx.target
    collection = target.collection
    if collection is None or collection.kind != "calendar" or target.kind not in ("collection", "resource"):
        raise DavError(403, "calendar-query runs on a calendar.", d("supported-report"))
    try:
        flt = filters.parse_filter(body.find(c("filter")))
        tz = request_timezone(body, collection)
        request, renderer = CalendarDataRenderer.from_report(body)
        evaluator = Evaluator(ctx, request, computed=frozenset({CALENDAR_DATA}))
        results: Iterable[tuple[Resource, dict[str, str] | None]]
        component, time_range, exact = flt.index_plan()
        if exact and time_range is not None and target.resource is None:
            window = renderer.expand_window()
            near: dict[int, list[Instance] | None] | None = None
            if window is not None and (window.start, window.end) == (time_range.start, time_range.end):
                # expand over the filter's own range, as clients ask: the rows the query reads are the ones needed
                near = ctx.store.instances_in_range(collection.id, window.start, window.end, tz=tz,
                                                    component=component, budget=ctx.budget)
                ids = list(near)
            else:
                ids = ctx.store.time_range(collection.id, time_range.start, time_range.end, tz=tz,
                                           component=component, budget=ctx.budget)
            answers = indexed_answers(ctx, collection.id, ids, renderer, tz, evaluator.row_fields, near)
            # Stored bytes stream as read; anything rendered is rendered before the answer
            # starts, so that a refusal (max-instances, over budget) is still a 403 or 507.
            results = answers if renderer.cheap() else list(answers)
        else:
            rows, exact = candidates(ctx, collection, flt, tz)
            if target.resource is not None:
                rows = [row for row in rows if row[0].id == target.resource.id]

            def work() -> list[tuple[Resource, dict[str, str] | None]]:
                kept = rows if exact else matching(rows, flt, tz, ctx.budget)
                near = renderer.near(ctx.store, collection.id, [resource.id for resource, _, _ in kept])
                renderer.preload(ctx.store, [(resource, data) for resource, data, _ in kept])
                return [(resource, renderer.computed(resource, data, tz, ctx.budget, calendar, near.get(resource.id)))
                        for resource, data, calendar in kept]

            results = work()
    except QueryError as exc:
        raise dav_error(exc) from None
    dead = ResourceProperties(ctx.store, collection.id)

    def parts() -> Iterator[str]:
        if target.kind == "collection":  # members: from their rows where the properties allow, a page at a time
            answers = iter(results)
            while page := list(islice(answers, BATCH)):
                yield evaluator.page_responses(target, [r for r, _ in page], dead, [c for _, c in page])
            return
        for resource, computed in results:
            child = ctx.member(resource)
            found, missing = evaluator.evaluate(child, dead.getter(resource.id), computed)
            yield multistatus.response(child.href, found, missing, minimal=ctx.minimal)

    return multistatus.multistatus(parts(), minimal=ctx.minimal)


def indexed_answers(
    ctx: DavContext, collection_id: int, ids: list[int], renderer: CalendarDataRenderer, tz: dt.tzinfo | None,
    fields: tuple[str, ...] | None = None, near: Mapping[int, list[Instance] | None] | None = None,
) -> Iterator[tuple[Resource, dict[str, str] | None]]:
    """The answers of an exact index query, read :data:`BATCH` objects at a time (with
    their index rows near an expand window), so that stored bytes sent as they are stream
    without the server holding all of a query matching 100,000 objects; with ``fields``,
    only those columns of each (the properties asked for say which: ``Evaluator.row_fields``);
    ``near``: the objects' index rows near the expand window when the caller has them."""
    store = ctx.store
    if fields is not None:
        # the index rows near an expand window and the stored plans are found by id (and ETag)
        fields = tuple(dict.fromkeys(("id", "etag", *fields)))
    if near is None:
        near = renderer.near(store, collection_id, ids)  # one look at the time index, not one a batch
    for first in range(0, len(ids), BATCH):
        batch = store.resources_by_ids(ids[first : first + BATCH], with_data=True, fields=fields)
        renderer.preload(store, batch)
        yield from zip((resource for resource, _ in batch), renderer.computed_page(batch, tz, ctx.budget, near),
                       strict=True)


#: Objects read per query while an indexed answer streams.
BATCH = 500

"""REPORT free-busy-query (RFC 4791 7.10): busy time of a calendar as one VFREEBUSY.

Candidates come from the kernel's time-range index (plus any stored
VFREEBUSY objects); only those are parsed, in a worker thread. Needs read
(which carries CALDAV:read-free-busy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from plugins.caldav_server.caldav import timezones
from plugins.caldav_server.caldav.calendar_data import parsed_calendar
from plugins.caldav_server.caldav.calendar_query import dav_error
from plugins.caldav_server.caldav.freebusy import free_busy
from plugins.caldav_server.caldav.query_error import QueryError
from plugins.caldav_server.caldav.timerange import parse_time_range
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.xml import Element, c, d

if TYPE_CHECKING:
    from plugins.caldav_server.webdav.context import DavContext


def free_busy_query(ctx: DavContext, body: Element) -> Response:
    """Answer 200 with a text/calendar VFREEBUSY for the requested range."""
    target = ctx.target
    collection = target.collection
    if target.kind != "collection" or collection is None or collection.kind != "calendar":
        raise DavError(403, "free-busy-query runs on a calendar.", d("supported-report"))
    elem = body.find(c("time-range"))
    if elem is None:
        raise DavError(400, "free-busy-query needs a CALDAV:time-range.")
    try:
        window = parse_time_range(elem, both=True, precondition=None)
    except QueryError as exc:
        raise dav_error(exc) from None
    assert window.start is not None and window.end is not None
    tz = timezones.tzinfo(collection.timezone)
    store = ctx.store
    ids = set(store.time_range(collection.id, window.start, window.end, tz=tz, budget=ctx.budget))
    ids.update(r.id for r in store.resources(collection.id, component="VFREEBUSY"))
    stored = [data or b"" for _, data in store.resources_by_ids(ids, with_data=True)]
    start, end = window.start, window.end

    def work() -> str:
        objects = []
        for data in stored:
            try:
                objects.append(parsed_calendar(data, ctx.budget))
            except ValueError:
                continue
        return free_busy(objects, start, end, tz, ctx.budget)

    text = work()
    return Response(text, 200, media_type="text/calendar; charset=utf-8")

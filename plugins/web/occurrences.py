"""The occurrences of a calendar's events in a time range, for the calendar view.

The instance index picks the events (``host.store.instances_in_ranges``: only objects
with an instance in the range are read, and the index of every calendar shown is read in
one round trip, their events in one more). An object of one VEVENT (an event, or a
series without overrides) is shown from the index rows the query read, which hold each
occurrence's start, end and RECURRENCE-ID as the kernel's expansion made them, and three
lines of its text (``plugins.web.eventtext``); any other (a series with overrides, one
indexed short of the range) is expanded within the range by the kernel's bounded
expansion (``kernel.recurrence``, the same that indexes and answers CalDAV queries). So
overrides, EXDATEs and time zones come out as a CalDAV client would see them. What is
read of each object is kept by its ETag (``plugins.web.readings``), so a range shown
again parses nothing. Floating times and all-day dates are read in the browser's zone.
Everything spends from the request's budget (507 past it).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from kernel import floating_to_utc, recurrence
from plugins.web.eventdata import json_time
from plugins.web.readings import Readings, readings_of

if TYPE_CHECKING:
    from kernel import Budget, Collection, Host, Instance


def occurrences(
    host: Host, shown: list[tuple[Collection, bool]], start: int, end: int, tz: dt.tzinfo, budget: Budget
) -> list[dict[str, Any]]:
    """The event occurrences overlapping [start, end) (UTC seconds) of these calendars (each
    with whether the viewer may edit it), as FullCalendar events, calendar by calendar."""
    hits = host.store.instances_in_ranges(
        [c.id for c, _ in shown], start, end, tz=tz, component="VEVENT", budget=budget
    )
    rows = {rid: found for by_id in hits.values() for rid, found in by_id.items()}
    stored: dict[int, list[tuple[Any, bytes | None]]] = {}
    for resource, data in host.store.resources_by_ids(list(rows), with_data=True):
        stored.setdefault(resource.collection_id, []).append((resource, data))
    readings = readings_of(host)
    found: list[dict[str, Any]] = []
    for collection, writable in shown:
        found += _of_calendar(
            readings, collection, stored.get(collection.id, []), rows, start, end, tz, budget, writable
        )
    return found


def _of_calendar(
    readings: Readings, collection: Collection, stored: list[tuple[Any, bytes | None]],
    rows: dict[int, list[Instance] | None], start: int, end: int, tz: dt.tzinfo, budget: Budget, writable: bool,
) -> list[dict[str, Any]]:
    """The occurrences of one calendar's objects found in the range (rows with their data, by
    name; ``rows``: the index rows the query read, by object id)."""
    found: list[dict[str, Any]] = []
    for resource, data in stored:
        near = rows.get(resource.id)
        reading = readings.of(resource.etag, bytes(data or b""), budget, near)
        for span in reading.spans(start, end, tz, budget, near):
            if not _overlaps(span.start, span.end, start, end, tz):
                continue
            rid = span.recurrence_id
            found.append({  # an occurrence is named by its RECURRENCE-ID, written as json_time writes it
                "id": f"{collection.id}/{resource.name}" + (f"/{json_time(rid)}" if rid is not None else ""),
                "calendar": collection.id,
                "name": resource.name,
                "title": span.title or "(no title)",
                "start": json_time(span.start),
                "end": json_time(span.end),
                "allDay": not isinstance(span.start, dt.datetime),
                "recurring": rid is not None,
                "recurrenceId": json_time(rid) if rid is not None else None,
                "location": span.location,
                "editable": writable,
            })
    return found


def _seconds(value: dt.date, tz: dt.tzinfo) -> int:
    """UTC seconds of a date or date-time; dates and floating times are read in ``tz``."""
    key = recurrence.to_key(value)
    return floating_to_utc(key, tz) if recurrence.is_floating(value) else key


def _overlaps(s: dt.date, e: dt.date, start: int, end: int, tz: dt.tzinfo) -> bool:
    first, last = _seconds(s, tz), _seconds(e, tz)
    if last <= first:
        return start <= first < end
    return first < end and last > start

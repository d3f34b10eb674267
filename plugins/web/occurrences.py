"""The occurrences of a calendar's events in a time range, for the calendar view.

The instance index picks the events (``host.store.time_ranges``: only objects with
an instance in the range are read, and the index of every calendar shown is read in
one round trip, their events in one more); each one found is expanded within the range
by the kernel's bounded expansion (``kernel.recurrence``, the same that indexes
and answers CalDAV queries), so overrides, EXDATEs and time zones come out as a
CalDAV client would see them. Floating times and all-day dates are read in the
browser's zone. Everything spends from the request's budget (507 past it).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from kernel import floating_to_utc, recurrence
from kernel.icaltext import read_calendar
from plugins.web.eventdata import json_time

if TYPE_CHECKING:
    from kernel import Budget, Collection, Host

_DAY = 86400


def occurrences(
    host: Host, shown: list[tuple[Collection, bool]], start: int, end: int, tz: dt.tzinfo, budget: Budget
) -> list[dict[str, Any]]:
    """The event occurrences overlapping [start, end) (UTC seconds) of these calendars (each
    with whether the viewer may edit it), as FullCalendar events, calendar by calendar."""
    hits = host.store.time_ranges([c.id for c, _ in shown], start, end, tz=tz, component="VEVENT", budget=budget)
    stored: dict[int, list[tuple[Any, bytes | None]]] = {}
    for resource, data in host.store.resources_by_ids([i for ids in hits.values() for i in ids], with_data=True):
        stored.setdefault(resource.collection_id, []).append((resource, data))
    found: list[dict[str, Any]] = []
    for collection, writable in shown:
        found += _of_calendar(collection, stored.get(collection.id, []), start, end, tz, budget, writable)
    return found


def _of_calendar(
    collection: Collection, stored: list[tuple[Any, bytes | None]], start: int, end: int, tz: dt.tzinfo,
    budget: Budget, writable: bool,
) -> list[dict[str, Any]]:
    """The occurrences of one calendar's objects found in the range (rows with their data, by name)."""
    found: list[dict[str, Any]] = []
    for resource, data in stored:
        try:
            calendar = read_calendar(bytes(data or b""), budget)
        except ValueError:
            continue  # stored before a limit it now fails; CalDAV clients still get it raw
        events = [c for c in calendar.subcomponents if c.name == "VEVENT"]
        recurring = any(c.get(p) is not None for c in events for p in ("RRULE", "RDATE", "RECURRENCE-ID"))
        if not recurring:
            spans = [(events[0], events[0]["DTSTART"].dt, _end(events[0]), None)] if events else []
        else:
            series = recurrence.build_series(calendar, "VEVENT")
            lo, hi = recurrence.key_bounds(series, start - recurrence.reach(series, "VEVENT"), end + 1, tz)
            spans = [(o.component, o.start, o.end, o.recurrence_id) for o in recurrence.scan(series, lo, hi, budget)]
        for component, s, e, rid in spans:
            if not _overlaps(s, e, start, end, tz):
                continue
            found.append({  # an occurrence is named by its RECURRENCE-ID, written as json_time writes it
                "id": f"{collection.id}/{resource.name}" + (f"/{json_time(rid)}" if rid is not None else ""),
                "calendar": collection.id,
                "name": resource.name,
                "title": str(component.get("SUMMARY", "")) or "(no title)",
                "start": json_time(s),
                "end": json_time(e),
                "allDay": not isinstance(s, dt.datetime),
                "recurring": recurring,
                "recurrenceId": json_time(rid) if rid is not None else None,
                "location": str(component.get("LOCATION", "")),
                "editable": writable,
            })
    return found


def _end(event: Any) -> dt.date:
    start = event["DTSTART"].dt
    if event.get("DTEND") is not None:
        return event["DTEND"].dt
    if event.get("DURATION") is not None:
        return start + event["DURATION"].dt
    return start + dt.timedelta(days=1) if not isinstance(start, dt.datetime) else start


def _seconds(value: dt.date, tz: dt.tzinfo) -> int:
    """UTC seconds of a date or date-time; dates and floating times are read in ``tz``."""
    key = recurrence.to_key(value)
    return floating_to_utc(key, tz) if recurrence.is_floating(value) else key


def _overlaps(s: dt.date, e: dt.date, start: int, end: int, tz: dt.tzinfo) -> bool:
    first, last = _seconds(s, tz), _seconds(e, tz)
    if last <= first:
        return start <= first < end
    return first < end and last > start

"""CALDAV:min-date-time and max-date-time (RFC 4791 5.2.6, 5.2.7, 5.3.2.1).

Every DATE and DATE-TIME value of a calendar object must lie in the
deployment's ``[limits] min_date_time .. max_date_time``: each property value
(DTSTART, DTEND, DUE, RDATE, EXDATE, RECURRENCE-ID, COMPLETED, CREATED,
DTSTAMP, LAST-MODIFIED, an absolute TRIGGER ...), each rule's UNTIL, and the
start of each instance of a rule that ends. Two things are left out on
purpose: VTIMEZONE components (their DTSTART of 1601 or 1970 describes the
zone, not the calendar), and the instances of a rule without end, which
would refuse every "repeat forever" event (its first instance still counts).
Dates and floating times compare as if they were UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kernel import ObjectInfo, Rejected, recurrence
from plugins.limits.settings import Settings

CALDAV = "{urn:ietf:params:xml:ns:caldav}"
_CALENDAR_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")


def check_dates(settings: Settings, calendar: Any, info: ObjectInfo, expansions: int) -> None:
    """Refuse (403 CALDAV:min-date-time / max-date-time) a value outside the configured range;
    a rule is expanded to at most ``expansions`` instances (the object passed max-instances)."""
    low, high = settings.min_date_time, settings.max_date_time
    if low is None and high is None:
        return
    lowest, highest = _extremes(calendar, info, expansions)
    if lowest is None or highest is None:
        return
    if low is not None and lowest[0] < low.epoch:
        raise Rejected(
            403, CALDAV + "min-date-time", f"{lowest[1]} is before {low}, the earliest date this calendar takes."
        )
    if high is not None and highest[0] > high.epoch:
        raise Rejected(
            403, CALDAV + "max-date-time", f"{highest[1]} is after {high}, the latest date this calendar takes."
        )


Found = tuple[int, str]


def _extremes(calendar: Any, info: ObjectInfo, expansions: int) -> tuple[Found | None, Found | None]:
    """The earliest and latest date of the object, each with a few words saying where it is."""
    seen: list[Found] = []
    for component in calendar.walk():
        if component.name in ("VTIMEZONE", "STANDARD", "DAYLIGHT"):
            continue
        for name, value in component.property_items(recursive=False):
            for moment in _moments(value):
                seen.append((recurrence.to_key(moment), f"{name} of a {component.name} ({_show(moment)})"))
    if info.recurring:  # a single instance is its own DTSTART (or, undated, spans all time)
        for instance in info.instances:
            seen.append((instance.start, f"an instance starting {_show_key(instance.start)}"))
        if not info.unbounded and info.indexed_until is not None:
            seen.extend(_past_the_index(calendar, info, expansions))
    if not seen:
        return None, None
    return min(seen), max(seen)


def _past_the_index(calendar: Any, info: ObjectInfo, expansions: int) -> list[Found]:
    """Instances of a rule that ends but runs past the kernel's index (its last ones)."""
    try:
        series = recurrence.build_series(calendar, info.component)
        found, _ = recurrence.expand(series, expansions, recurrence.MAX_KEY)
    except (recurrence.TooComplex, ValueError):
        return []
    return [(recurrence.to_key(o.start), f"an instance starting {_show(o.start)}") for o in found[-1:]]


def _moments(value: Any) -> list[dt.date]:
    """The dates and date-times a property value holds (lists, periods and UNTIL included)."""
    if isinstance(value, list):
        return [m for item in value for m in _moments(item)]
    if isinstance(value, (str, bytes)):
        return []
    inner = getattr(value, "dt", None)
    if isinstance(inner, dt.date):
        return [inner]
    if isinstance(inner, tuple):  # a PERIOD: its start, and its end when it is a date-time
        return [m for m in inner if isinstance(m, dt.date)]
    dts = getattr(value, "dts", None)
    if isinstance(dts, list) and value not in dts:  # RDATE / EXDATE lists
        return [m for item in dts for m in _moments(item)]
    if hasattr(value, "get") and value.__class__.__name__ == "vRecur":
        return [m for m in value.get("UNTIL", []) if isinstance(m, dt.date)]
    return []


def _show(moment: dt.date) -> str:
    return moment.isoformat()


def _show_key(key: int) -> str:
    return recurrence.naive(key).isoformat()

"""The answer to a CALDAV:free-busy-query REPORT (RFC 4791 section 7.10).

Busy time comes from VEVENT instances, typed by STATUS and TRANSP (7.10's
table: transparent and cancelled events are free, tentative ones
BUSY-TENTATIVE, others BUSY), and from the FREEBUSY periods of stored
VFREEBUSY components (FBTYPE kept, FREE left out). Periods are cut to the
asked-for range and coalesced per type when they overlap or touch (7.10
SHOULD, and section 11's privacy advice). VTODO, VJOURNAL and VAVAILABILITY
do not contribute. Instances are found with the same bounded expansion as
the filters, spent from the request's budget (``kernel.budget``): a range
that would need more instances than it allows is answered 507, never with
busy time silently left out.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable

import icalendar

from kernel import Budget
from plugins.caldav_server.caldav.instances import ObjectTimes, first, freebusy_periods, utc_seconds
from plugins.caldav_server.caldav.timerange import TimeRange

PRODID = "-//teamcal//CalDAV free-busy//EN"
#: The order FBTYPE groups are written in.
_ORDER = ("BUSY", "BUSY-UNAVAILABLE", "BUSY-TENTATIVE")


def event_fbtype(event: icalendar.Component) -> str | None:
    """The FBTYPE a VEVENT instance stands for, None when it leaves the time free."""
    if str(first(event, "TRANSP") or "OPAQUE").strip().upper() == "TRANSPARENT":
        return None
    status = str(first(event, "STATUS") or "CONFIRMED").strip().upper()
    if status == "CANCELLED":
        return None
    return "BUSY-TENTATIVE" if status == "TENTATIVE" else "BUSY"


def busy_periods(calendar: icalendar.Calendar, window: TimeRange,
                 tz: dt.tzinfo | None, budget: Budget) -> Iterable[tuple[str, int, int]]:
    """(FBTYPE, start, end) of one object's busy time within ``window`` (epoch seconds, cut to it)."""
    times = ObjectTimes(calendar, tz, budget)
    lo, hi = window.start, window.end
    for hit in times.hits("VEVENT", window):
        fbtype = event_fbtype(hit.component)
        start, end, _ = hit.span
        if fbtype is not None and end > start:
            yield fbtype, max(start, lo), min(end, hi)
    for component in times.components("VFREEBUSY"):
        for start_value, end_value, fbtype in freebusy_periods(component):
            start, end = utc_seconds(start_value, tz), utc_seconds(end_value, tz)
            if fbtype != "FREE" and end > start and start < hi and end > lo:
                yield fbtype, max(start, lo), min(end, hi)


def coalesce(periods: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Periods merged where they overlap or touch, sorted."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(periods):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _utc(seconds: int) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))


def free_busy(objects: Iterable[icalendar.Calendar], start: int, end: int,
              tz: dt.tzinfo | None = None, budget: Budget | None = None) -> str:
    """A VCALENDAR with one VFREEBUSY for [start, end) (epoch seconds) over ``objects``.

    Floating times are read in ``tz`` (the calendar's time zone, RFC 4791 7.3);
    the instances examined are spent from ``budget`` (the request's; a fresh
    default one when None).
    """
    window = TimeRange(start, end)
    budget = budget or Budget()
    by_type: dict[str, list[tuple[int, int]]] = {}
    for calendar in objects:
        for fbtype, lo, hi in busy_periods(calendar, window, tz, budget):
            by_type.setdefault(fbtype, []).append((lo, hi))
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "BEGIN:VFREEBUSY",
        f"DTSTAMP:{_utc(int(time.time()))}", f"DTSTART:{_utc(start)}", f"DTEND:{_utc(end)}",
    ]
    order = [t for t in _ORDER if t in by_type] + sorted(t for t in by_type if t not in _ORDER)
    for fbtype in order:
        for lo, hi in coalesce(by_type[fbtype]):
            lines.append(f"FREEBUSY;FBTYPE={fbtype}:{_utc(lo)}/{_utc(hi)}")
    lines += ["END:VFREEBUSY", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"

"""CALDAV:time-range (RFC 4791 section 9.9): parsing and the overlap test.

A range is a pair of epoch seconds, either end open (None). What is tested
against it is a *span* ``(start, end, flags)`` in epoch seconds, with the
kernel's flags saying which comparisons are inclusive, so that every row of
the RFC 4791 9.9 tables is one span: a range [qs, qe) overlaps a span when
``(qs < end or (flags & INCLUSIVE_END and qs <= end)) and
(qe > start or (flags & INCLUSIVE_START and qe >= start))``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from kernel import INCLUSIVE_END, INCLUSIVE_START
from plugins.caldav_server.caldav.query_error import CALDAV, QueryError

Span = tuple[int, int, int]

#: "date with UTC time" (RFC 5545 3.3.5, form #2); a missing Z is read as UTC too.
_UTC = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})[Zz]?")


@dataclass(frozen=True)
class TimeRange:
    """A time range in epoch seconds: [start, end), None for an open end."""

    start: int | None
    end: int | None

    def overlaps(self, span: Span) -> bool:
        """Whether this range overlaps a span by the RFC 4791 9.9 rules its flags encode."""
        start, end, flags = span
        qs, qe = self.start, self.end
        if qs is not None and not (qs < end or (flags & INCLUSIVE_END and qs <= end)):
            return False
        return qe is None or qe > start or bool(flags & INCLUSIVE_START and qe >= start)

    def contains_instant(self, moment: int) -> bool:
        """(start <= moment) and (end > moment): the rule for properties and alarm triggers."""
        return (self.start is None or self.start <= moment) and (self.end is None or self.end > moment)


def parse_utc(text: str, precondition: str | None = CALDAV + "valid-filter", status: int = 400) -> int:
    """Epoch seconds of an iCalendar "date with UTC time" such as ``20060104T000000Z``."""
    found = _UTC.fullmatch(text.strip())
    if found is None:
        raise QueryError(status, precondition, f"{text!r} is not a date with UTC time (YYYYMMDDTHHMMSSZ).")
    year, month, day, hour, minute, second = (int(part) for part in found.groups())
    if not (year >= 1 and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        raise QueryError(status, precondition, f"{text!r} is not a valid date.")
    if hour > 23 or minute > 59 or second > 60:
        raise QueryError(status, precondition, f"{text!r} is not a valid time of day.")
    return calendar.timegm((year, month, day, hour, minute, min(second, 59)))


def parse_time_range(
    elem: Element,
    *,
    both: bool = False,
    precondition: str | None = CALDAV + "valid-filter",
) -> TimeRange:
    """The range of a CALDAV:time-range (or expand, limit-*) element.

    At least one of start and end must be given (both when ``both``), and
    end must be after start; otherwise 400 with ``precondition``.
    """
    name = elem.tag.rsplit("}", 1)[-1]
    raw_start, raw_end = elem.get("start"), elem.get("end")
    if raw_start is None and raw_end is None:
        raise QueryError(400, precondition, f"CALDAV:{name} needs a start or an end.")
    if both and (raw_start is None or raw_end is None):
        raise QueryError(400, precondition, f"CALDAV:{name} needs both start and end.")
    start = None if raw_start is None else parse_utc(raw_start, precondition)
    end = None if raw_end is None else parse_utc(raw_end, precondition)
    if start is not None and end is not None and end <= start:
        raise QueryError(400, precondition, f"The end of CALDAV:{name} must be after its start.")
    return TimeRange(start, end)

"""RFC 4791 section 9.9 on parsed calendar objects: when components, alarms and properties are.

Every row of the 9.9 tables becomes a span ``(start, end, flags)`` in epoch
seconds (see ``timerange``); floating date-times and dates are read in the
zone the query gives (UTC when None). Recurring components are expanded by
the kernel's bounded expansion (``kernel.recurrence``, on
recurring-ical-events and dateutil), the same code that fills the
time-range index, lazily and window by window, so a rule without end costs
no more than the range asked about.

Bounds: every occurrence an :class:`ObjectTimes` examines is spent from the
request's budget (``kernel.budget``, shared by all the objects a request
touches); past it the request ends with ``OverBudget`` (507), never with an
answer that silently left instances out.

Building a series costs about half a millisecond, so the series of the last
:data:`SERIES_CACHE_SIZE` parsed objects are kept (about 20 KB each, with the
object) and shared between threads; each has a lock held while a window of
it is computed, because the kernel's scan swaps the series' rules meanwhile.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import NamedTuple

import icalendar

from kernel import (
    INCLUSIVE_END,
    INCLUSIVE_START,
    NEG_INF,
    POS_INF,
    Budget,
    OverBudget,
    end_of,
    floating_to_utc,
    recurrence,
)
from plugins.caldav_server.caldav.timerange import Span, TimeRange

#: Recurrence series kept for parsed objects queried again (see ``calendar_data.parsed_calendar``).
SERIES_CACHE_SIZE = 512

_cache_lock = threading.Lock()
_series_cache: OrderedDict[tuple[int, str], tuple[icalendar.Calendar, object, threading.Lock]] = OrderedDict()
_RECURRENCE_PROPERTIES = ("RRULE", "RDATE", "RECURRENCE-ID")


class Hit(NamedTuple):
    """One instance of a component: its span, the component that defines it
    (master or override), its start and end values as written (start None for a
    VTODO without DTSTART) and its RECURRENCE-ID value (None when not recurring)."""

    span: Span
    component: icalendar.Component
    start: dt.date | None
    end: dt.date | None
    recurrence_id: dt.date | None


def first(component: icalendar.Component, name: str):
    """The first value of a property (None when absent)."""
    value = component.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def date_value(component: icalendar.Component, name: str) -> dt.date | None:
    """The date or date-time of a property (None when absent or not a date)."""
    value = getattr(first(component, name), "dt", None)
    return value if isinstance(value, dt.date) else None


def duration_value(component: icalendar.Component, name: str = "DURATION") -> dt.timedelta | None:
    """The duration of a property (None when absent or not a duration)."""
    value = getattr(first(component, name), "dt", None)
    return value if isinstance(value, dt.timedelta) else None


def is_zoned(value: dt.date) -> bool:
    """True for a date-time bound to a zone (UTC or TZID), False for dates and floating times."""
    return isinstance(value, dt.datetime) and value.tzinfo is not None and value.utcoffset() is not None


def utc_seconds(value: dt.date, tz: dt.tzinfo | None) -> int:
    """Epoch seconds of a date or date-time; dates and floating times are read in ``tz``."""
    if is_zoned(value):
        try:
            return int(value.timestamp())
        except (OverflowError, ValueError):
            return recurrence.to_key(value)
    return floating_to_utc(recurrence.to_key(value), tz)


def occurrence_span(
    name: str, component: icalendar.Component, start: dt.date, end: dt.date, tz: dt.tzinfo | None
) -> Span:
    """The 9.9 span of one instance of a component that has a DTSTART."""
    s, e = utc_seconds(start, tz), utc_seconds(end, tz)
    if name == "VTODO":
        if "DURATION" in component:
            return s, e, INCLUSIVE_END | (INCLUSIVE_START if e == s else 0)
        if "DUE" in component:
            return s, e, (INCLUSIVE_START | INCLUSIVE_END) if e == s else 0
        return s, s, INCLUSIVE_END
    if name == "VJOURNAL":
        if isinstance(start, dt.datetime):
            return s, s, INCLUSIVE_END
        return s, utc_seconds(start + dt.timedelta(days=1), tz), 0
    if name == "VFREEBUSY":
        return s, e, INCLUSIVE_END
    return s, e, INCLUSIVE_END if e == s else 0


def _todo_without_start(component: icalendar.Component, tz: dt.tzinfo | None) -> Span:
    """The VTODO rows of 9.9 without DTSTART (DUE, COMPLETED, CREATED, or always)."""
    due = date_value(component, "DUE")
    if due is not None:
        moment = utc_seconds(due, tz)
        return moment, moment, INCLUSIVE_START
    completed, created = date_value(component, "COMPLETED"), date_value(component, "CREATED")
    stamps = [utc_seconds(v, tz) for v in (completed, created) if v is not None]
    if completed is not None:
        return min(stamps), max(stamps), INCLUSIVE_START | INCLUSIVE_END
    if stamps:
        return stamps[0], POS_INF, 0
    return NEG_INF, POS_INF, INCLUSIVE_START | INCLUSIVE_END


def single_hits(name: str, component: icalendar.Component, tz: dt.tzinfo | None) -> list[Hit]:
    """The instances of a component read on its own (no recurrence)."""
    if name == "VFREEBUSY":
        return [Hit(span, component, None, None, None) for span in freebusy_spans(component, tz)]
    if name == "VAVAILABILITY":
        return [Hit(availability_span(component, tz), component, None, None, None)]
    start = date_value(component, "DTSTART")
    if start is None:
        if name != "VTODO":
            return []
        return [Hit(_todo_without_start(component, tz), component, None, date_value(component, "DUE"), None)]
    end = end_of(name, component, start)
    return [Hit(occurrence_span(name, component, start, end, tz), component, start, end, None)]


def freebusy_periods(component: icalendar.Component) -> Iterator[tuple[dt.datetime, dt.datetime, str]]:
    """(start, end, FBTYPE) of every period of every FREEBUSY property of a VFREEBUSY."""
    values = component.get("FREEBUSY")
    for value in values if isinstance(values, list) else [values] if values is not None else []:
        period = getattr(value, "dt", None)
        if not isinstance(period, tuple) or len(period) != 2 or not isinstance(period[0], dt.datetime):
            continue
        start, end = period
        if isinstance(end, dt.timedelta):
            end = start + end
        if isinstance(end, dt.datetime):
            yield start, end, str(value.params.get("FBTYPE", "BUSY")).upper()


def freebusy_spans(component: icalendar.Component, tz: dt.tzinfo | None) -> list[Span]:
    """A VFREEBUSY's 9.9 spans: DTSTART..DTEND, else each FREEBUSY period, else none."""
    start, end = date_value(component, "DTSTART"), date_value(component, "DTEND")
    if start is not None and end is not None:
        return [(utc_seconds(start, tz), utc_seconds(end, tz), INCLUSIVE_END)]
    return [(utc_seconds(s, tz), utc_seconds(e, tz), 0) for s, e, _ in freebusy_periods(component)]


def availability_span(component: icalendar.Component, tz: dt.tzinfo | None) -> Span:
    """RFC 7953 3.1: a VAVAILABILITY spans DTSTART (without one, all time before) to DTEND or
    DTSTART + DURATION (without either, all time after)."""
    start = date_value(component, "DTSTART")
    end = date_value(component, "DTEND")
    if start is not None and end is None and "DURATION" in component:
        end = end_of("VAVAILABILITY", component, start)
    return (NEG_INF if start is None else utc_seconds(start, tz),
            POS_INF if end is None else utc_seconds(end, tz), 0)


def triggers_hit(first_trigger: int, step: int, repeat: int, window: TimeRange) -> bool:
    """Whether any of the triggers first + k*step (k = 0..repeat) falls in the window."""
    k = 0
    if window.start is not None and first_trigger < window.start:
        if step <= 0 or repeat <= 0:
            return False
        k = math.ceil((window.start - first_trigger) / step)
        if k > repeat:
            return False
    return window.contains_instant(first_trigger + k * step)


class ObjectTimes:
    """The instances of one calendar object's components, with floating times read in ``tz``."""

    def __init__(self, calendar: icalendar.Calendar, tz: dt.tzinfo | None, budget: Budget) -> None:
        self.calendar = calendar
        self.tz = tz
        self.top = [c for c in calendar.subcomponents if c.name != "VTIMEZONE"]
        self.budget = budget
        self._series: dict[str, tuple[object, threading.Lock | None]] = {}

    def components(self, name: str) -> list[icalendar.Component]:
        """The top-level components of one type."""
        return [c for c in self.top if c.name == name]

    def is_recurring(self, name: str) -> bool:
        """Whether the components of a type form a recurrence set (RRULE, RDATE or overrides)."""
        components = self.components(name)
        return len(components) > 1 or any(p in c for c in components for p in _RECURRENCE_PROPERTIES)

    def series(self, name: str):
        """The kernel's recurrence series of a type, or None (not recurring, or not expandable)."""
        if name not in self._series:
            self._series[name] = (None, None)
            if name != "VFREEBUSY" and self.is_recurring(name):
                self._series[name] = _cached_series(self.calendar, name)
        return self._series[name][0]

    def hits(self, name: str, window: TimeRange) -> Iterator[Hit]:
        """The instances of the top-level ``name`` components overlapping ``window``, lazily."""
        series = self.series(name)
        if series is None:
            for component in self.components(name):
                for hit in single_hits(name, component, self.tz):
                    if window.overlaps(hit.span):
                        yield hit
            return
        yield from self._recurring_hits(name, series, window)

    def _recurring_hits(self, name: str, series, window: TimeRange) -> Iterator[Hit]:
        slack = recurrence.reach(series, name)
        low = recurrence.MIN_KEY if window.start is None else window.start - slack
        high = recurrence.MAX_KEY if window.end is None else window.end + 1
        tz = self.tz
        lo, hi = recurrence.key_bounds(series, low, high, tz)
        lock = self._series[name][1]
        occurrences = recurrence.scan(series, lo, hi, self.budget)
        while True:
            try:
                with lock:
                    occ = next(occurrences)
            except StopIteration:
                return
            except OverBudget:
                raise
            except Exception:  # noqa: BLE001 - a rule running off year 9999, odd data: no more
                return
            span = occurrence_span(name, occ.component, occ.start, occ.end, tz)
            if window.overlaps(span):
                yield Hit(span, occ.component, occ.start, occ.end, occ.recurrence_id)

    def any_hit(self, names: list[str], window: TimeRange) -> bool:
        """Whether any component of these types has an instance in ``window``."""
        return any(next(self.hits(name, window), None) is not None for name in names)

    def alarm_hit(self, parent_name: str, parent: icalendar.Component,
                  alarm: icalendar.Component, window: TimeRange) -> bool:
        """Whether a VALARM of ``parent`` triggers in ``window`` (9.9: start <= trigger < end),
        for any instance of the parent, repetitions (REPEAT, DURATION) included."""
        trigger = first(alarm, "TRIGGER")
        value = getattr(trigger, "dt", None)
        try:
            repeat = max(0, int(str(first(alarm, "REPEAT") or 0)))
        except ValueError:
            repeat = 0
        every = duration_value(alarm)
        step = int(every.total_seconds()) if every is not None else 0
        if step <= 0:
            repeat = 0
        if isinstance(value, dt.date):
            return triggers_hit(utc_seconds(value, self.tz), step, repeat, window)
        if not isinstance(value, dt.timedelta):
            return False
        offset = int(value.total_seconds())
        related_end = str(trigger.params.get("RELATED", "START")).upper() == "END"
        for hit in self._parent_hits(parent_name, parent, window, offset, offset + repeat * step):
            anchor = self._anchor(hit, related_end)
            if anchor is not None and triggers_hit(anchor + offset, step, repeat, window):
                return True
        return False

    def _parent_hits(self, name: str, parent: icalendar.Component, window: TimeRange,
                     first_offset: int, last_offset: int) -> Iterator[Hit]:
        """The parent's instances whose triggers (anchor + first..last offset) may fall in the window."""
        series = self.series(name) if any(c is parent for c in self.top) else None
        if series is None:
            yield from single_hits(name, parent, self.tz)
            return
        # An anchor in [start - last offset, end - first offset) can trigger in the window; an
        # END anchor lies up to the longest instance after its start.
        before = max(last_offset, 0) + recurrence.max_duration(series) + recurrence.DST_SLACK + 1
        wide = TimeRange(
            None if window.start is None else window.start - before,
            None if window.end is None else window.end - min(first_offset, 0) + 1,
        )
        for hit in self._recurring_hits(name, series, wide):
            if hit.component is parent:
                yield hit

    def _anchor(self, hit: Hit, related_end: bool) -> int | None:
        """The instant an alarm of this instance is related to (RFC 5545 3.8.6.3)."""
        value = hit.end if related_end else hit.start
        if value is None:  # VTODO without DTSTART: its DUE stands in for both
            value = date_value(hit.component, "DUE")
        return None if value is None else utc_seconds(value, self.tz)


def _build_series(calendar: icalendar.Calendar, name: str):
    try:
        found = recurrence.build_series(calendar, name)
        recurrence.check_rules(found)
    except Exception:  # noqa: BLE001 - several UIDs or a rule too large: no expansion
        return None
    return found


def _cached_series(calendar: icalendar.Calendar, name: str) -> tuple[object, threading.Lock]:
    """The series of a calendar object and its lock, built once while the object stays cached.

    The entry holds the calendar itself, so an id is never mistaken for a later object's.
    """
    key = (id(calendar), name)
    with _cache_lock:
        entry = _series_cache.get(key)
        if entry is not None and entry[0] is calendar:
            _series_cache.move_to_end(key)
            return entry[1], entry[2]
    found = _build_series(calendar, name)
    with _cache_lock:
        entry = _series_cache.get(key)
        if entry is not None and entry[0] is calendar:  # built by another thread meanwhile
            return entry[1], entry[2]
        lock = threading.Lock()
        _series_cache[key] = (calendar, found, lock)
        if len(_series_cache) > SERIES_CACHE_SIZE:
            _series_cache.popitem(last=False)
    return found, lock


def property_instants(component: icalendar.Component, name: str, value, tz: dt.tzinfo | None) -> list[int]:
    """The instants of one date or date-time property value (each item of a list property)."""
    items = [d.dt for d in value.dts] if hasattr(value, "dts") else [getattr(value, "dt", None)]
    found = []
    for item in items:
        if isinstance(item, tuple):  # a PERIOD: its start
            item = item[0]
        if isinstance(item, dt.date):
            found.append(utc_seconds(item, tz))
    return found


def effective_property_instants(component: icalendar.Component, name: str, tz: dt.tzinfo | None) -> list[int]:
    """DTEND of a VEVENT or DUE of a VTODO that only has DTSTART + DURATION (9.9, last note)."""
    if (component.name, name) not in (("VEVENT", "DTEND"), ("VTODO", "DUE")):
        return []
    start, duration = date_value(component, "DTSTART"), duration_value(component)
    if start is None or duration is None:
        return []
    return [utc_seconds(end_of(component.name, component, start), tz)]

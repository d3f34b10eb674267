"""What the calendar view keeps of the events it has read, by ETag, so that showing a range
again (the same month, or the next one holding the same series) does not parse them again.

Reading an object (icalendar's parse) is most of what a month costs: about 0.3 ms an event,
and a month of a team's calendars holds hundreds. An object's ETag is a digest of its content
(``kernel.make_etag``), so what was read of it holds for every object with that content. A
single event is kept as its title, location, start and end; a recurring one as its series
(``kernel.recurrence``), expanded per request within the range asked, one request at a time
(expanding rebases the series' rules while it runs). A host's readings are held within
:data:`READINGS_BYTES`, the least recently used dropped first.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kernel import FLOATING, Instance, recurrence
from kernel.icaltext import read_calendar
from plugins.web.eventtext import EventText, event_text

if TYPE_CHECKING:
    from kernel import Budget, Host

#: What a host's readings may hold, as :func:`_cost` counts them.
READINGS_BYTES = 16 * 1024 * 1024
#: What one single event's reading is counted as: its four fields and the cache's entry
#: (tracemalloc: about 800 bytes for a short event).
_SINGLE_BYTES = 800
#: A parsed recurring object is counted as this many times its text (tracemalloc: about 19
#: for a weekly event with an override and a time zone).
_PARSED_PER_BYTE = 20
#: Where a host keeps its readings (``host.state``).
STATE = "web.readings"


@dataclass(frozen=True)
class Span:
    """One occurrence as the view shows it."""

    title: str
    location: str
    start: dt.date
    end: dt.date
    recurrence_id: dt.date | None = None


@dataclass
class Reading:
    """What the view needs of one stored object. Read from its text (``text``): its one
    VEVENT's title, location and value type, its occurrences then taken from the index
    rows of each request. Parsed: ``single`` for an event that does not recur (empty when
    the object holds no event or cannot be read), ``series`` for one that does."""

    text: EventText | None = None
    single: tuple[Span, ...] = ()
    series: Any = None  # recurring_ical_events' Series
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def spans(self, low: int, high: int, tz: dt.tzinfo, budget: Budget, rows: list[Instance] | None) -> list[Span]:
        """Its occurrences that may overlap [low, high) (UTC seconds; floating times read in
        ``tz``): from ``rows`` (the object's index rows near the range) when read from its
        text, else from its parse, spending the expansion from ``budget``."""
        if self.text is not None and rows is not None:
            return [_span(self.text, row) for row in sorted(rows)]
        if self.series is None:
            return list(self.single)
        with self.lock:
            series = self.series
            lo, hi = recurrence.key_bounds(series, low - recurrence.reach(series, "VEVENT"), high + 1, tz)
            return [
                Span(_text(o.component, "SUMMARY"), _text(o.component, "LOCATION"), o.start, o.end, o.recurrence_id)
                for o in recurrence.scan(series, lo, hi, budget)
            ]


class Readings:
    """A host's readings by ETag, within a byte budget, safe from any thread."""

    def __init__(self, capacity: int = READINGS_BYTES) -> None:
        self.capacity = capacity
        self._kept: OrderedDict[str, tuple[Reading, int]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def of(self, etag: str, data: bytes, budget: Budget, rows: list[Instance] | None) -> Reading:
        """The reading of the object with this ETag and content, kept or made now and kept.
        ``rows`` are its index rows near the range (None when the index stops short of it):
        with them, an object of one VEVENT is read from its text (``eventtext``); without
        them, or for any other object, it is parsed, spent from ``budget``."""
        indexed = rows is not None and all(recurrence.MIN_KEY <= r.start <= r.end <= recurrence.MAX_KEY for r in rows)
        with self._lock:
            kept = self._kept.get(etag)
            if kept is not None and (indexed or kept[0].text is None):
                self._kept.move_to_end(etag)
                return kept[0]
        text = event_text(data) if indexed and kept is None else None
        reading = Reading(text=text) if text is not None else _read(data, budget)
        cost = _SINGLE_BYTES if reading.series is None else _SINGLE_BYTES + _PARSED_PER_BYTE * len(data)
        with self._lock:
            if etag in self._kept:  # read anew: parsed where the text was kept, or by another thread
                self._held -= self._kept.pop(etag)[1]
            self._kept[etag] = (reading, cost)
            self._held += cost
            while self._held > self.capacity and len(self._kept) > 1:
                _, (_, dropped) = self._kept.popitem(last=False)
                self._held -= dropped
        return reading

    def __len__(self) -> int:
        return len(self._kept)


def readings_of(host: Host) -> Readings:
    """The host's readings, made on first use."""
    return host.state(STATE, Readings)


def _read(data: bytes, budget: Budget) -> Reading:
    try:
        calendar = read_calendar(data, budget)
    except ValueError:
        return Reading()  # stored before a limit it now fails; CalDAV clients still get it raw
    events = [c for c in calendar.subcomponents if c.name == "VEVENT"]
    if any(c.get(p) is not None for c in events for p in ("RRULE", "RDATE", "RECURRENCE-ID")):
        return Reading(series=recurrence.build_series(calendar, "VEVENT"))
    if not events:
        return Reading()
    event = events[0]
    return Reading(single=(Span(_text(event, "SUMMARY"), _text(event, "LOCATION"), event["DTSTART"].dt, _end(event)),))


def _span(text: EventText, row: Instance) -> Span:
    """One occurrence of an event read from its text, as its index row holds it."""
    rid = row.recurrence_id
    return Span(
        text.title, text.location, _moment(text.all_day, row.flags, row.start), _moment(text.all_day, row.flags, row.end),
        None if rid is None else _recurrence_id(rid),
    )


def _moment(all_day: bool, flags: int, key: int) -> dt.date:
    """A key of the index as the parse gives the value: a date (its midnight is held as if it
    were UTC), a floating date-time (its wall clock, the same way) or a zoned one (in UTC)."""
    moment = recurrence.naive(key)
    if all_day:
        return moment.date()
    return moment if flags & FLOATING else moment.replace(tzinfo=dt.UTC)


def _recurrence_id(text: str) -> dt.date:
    """A RECURRENCE-ID as the index writes it (a DATE, a floating date-time, or UTC with Z)."""
    if len(text) == 8:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    moment = dt.datetime.strptime(text.rstrip("Z"), "%Y%m%dT%H%M%S")
    return moment.replace(tzinfo=dt.UTC) if text.endswith("Z") else moment


def _text(component: Any, name: str) -> str:
    return str(component.get(name, ""))


def _end(event: Any) -> dt.date:
    start = event["DTSTART"].dt
    if event.get("DTEND") is not None:
        return event["DTEND"].dt
    if event.get("DURATION") is not None:
        return start + event["DURATION"].dt
    return start + dt.timedelta(days=1) if not isinstance(start, dt.datetime) else start

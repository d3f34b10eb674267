"""Repairs of time zones: Windows zone names, X-WR-TIMEZONE, IANA zones without a VTIMEZONE.

Windows names map to IANA through the CLDR windowsZones table that icalendar
ships (``icalendar.timezone.windows_to_olson``, regenerated from CLDR by its
maintainers): the "001" territory zone of each Windows name, which is what the
name means. VTIMEZONEs for IANA zones are generated from the zoneinfo database
by icalendar (``Timezone.from_tzinfo``), covering the years the object uses
(from :data:`FIRST_YEAR` at the earliest) up to :data:`YEARS_AHEAD` years past
the later of its last year and now; generated ones are cached
(:data:`CACHE_SIZE`) and, when not cached, cost the request's budget two
instances per year covered (one per transition of a zone with daylight saving time).
"""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import icalendar
import x_wr_timezone
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from kernel.icaltext import in_zone, is_iana
from kernel.ingest.rules import Draft, calendar_repair

#: Generated VTIMEZONEs start no earlier than this year.
FIRST_YEAR = 1900
#: ... and reach this many years past the object's last year (or now, if later).
YEARS_AHEAD = 10
#: Generated VTIMEZONEs kept, as text.
CACHE_SIZE = 256

#: The properties whose times X-WR-TIMEZONE applies to.
_TIMES = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "EXDATE", "RDATE")
_ZERO = dt.timedelta(0)

_cache: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
_cache_lock = threading.Lock()


def iana_name(tzid: str) -> str | None:
    """The IANA name a TZID stands for: itself, or its Windows name's CLDR zone (None: neither)."""
    name = tzid.strip().strip('"')
    if is_iana(name):
        return name
    mapped = WINDOWS_TO_OLSON.get(name)
    return mapped if mapped is not None and is_iana(mapped) else None


def _values(component: icalendar.Component) -> Iterator[Any]:
    """Every property value of ``component`` (a property that appears twice gives two)."""
    for value in component.values():
        yield from value if isinstance(value, list) else [value]


def _zoned(calendar: icalendar.Calendar) -> Iterator[tuple[Any, str]]:
    """(value, TZID) of every property value with a TZID outside VTIMEZONEs."""
    stack = [c for c in calendar.subcomponents if c.name != "VTIMEZONE"]
    while stack:
        component = stack.pop()
        stack.extend(component.subcomponents)
        for value in _values(component):
            tzid = getattr(value, "params", {}).get("TZID")
            if tzid:
                yield value, str(tzid)


def _moments(value: Any) -> list[Any]:
    return [item.dt for item in getattr(value, "dts", [value]) if hasattr(item, "dt")]


@calendar_repair(
    "windows-zone-names",
    "A TZID that is a Windows zone name (W. Europe Standard Time) is replaced by its IANA zone"
    " (Europe/Berlin) after CLDR's windowsZones table, and its VTIMEZONE by the IANA zone's.",
)
def windows_zone_names(draft: Draft) -> bool:
    """Rename Windows zones to IANA zones, their times kept as wall clock in the IANA zone."""
    calendar = draft.calendar
    mapped: dict[str, str] = {}
    for value, tzid in list(_zoned(calendar)):
        iana = mapped.get(tzid) or (None if is_iana(tzid) else iana_name(tzid))
        if iana is None:
            continue
        mapped[tzid] = iana
        value.params["TZID"] = iana
        zone = zoneinfo.ZoneInfo(iana)
        for item in getattr(value, "dts", [value]):
            if hasattr(item, "dt"):
                item.dt = in_zone(item.dt, zone)
    windows = [c for c in calendar.subcomponents
               if c.name == "VTIMEZONE" and not is_iana(str(c.get("TZID", ""))) and iana_name(str(c.get("TZID", "")))]
    for component in windows:
        calendar.subcomponents.remove(component)
    return bool(mapped or windows)


@calendar_repair(
    "x-wr-timezone",
    "In a calendar with X-WR-TIMEZONE (Google's exports and feeds) floating and UTC times are read"
    " in that zone and written with its TZID (the x-wr-timezone package); an unknown zone is left,"
    " and so is the property.",
)
def x_wr_timezone_repair(draft: Draft) -> bool:
    """Apply a calendar's X-WR-TIMEZONE to its floating and UTC times."""
    value = draft.calendar.get("X-WR-TIMEZONE")
    if value is None or isinstance(value, list):
        return False
    name = iana_name(str(value))
    if name is None or not _has_unzoned_times(draft.calendar):
        return False
    draft.calendar = x_wr_timezone.to_standard(draft.calendar, timezone=zoneinfo.ZoneInfo(name))
    return True


def _has_unzoned_times(calendar: icalendar.Calendar) -> bool:
    """Whether a component has a floating or UTC date-time the zone would apply to."""
    for component in calendar.subcomponents:
        if component.name == "VTIMEZONE":
            continue
        for prop in _TIMES:
            for value in _listed(component.get(prop)):
                for moment in _moments(value):
                    moment = moment[0] if isinstance(moment, tuple) else moment
                    if not isinstance(moment, dt.datetime):
                        continue
                    if moment.tzinfo is None or (moment.utcoffset() == _ZERO and "TZID" not in value.params):
                        return True
    return False


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@calendar_repair(
    "missing-vtimezones",
    "A TZID that names an IANA zone but has no VTIMEZONE gets one, generated from the zoneinfo"
    " database for the years the object uses.",
)
def missing_vtimezones(draft: Draft) -> bool:
    """Add a VTIMEZONE for every IANA zone the calendar uses without defining it."""
    calendar = draft.calendar
    defined = {str(c.get("TZID", "")).strip() for c in calendar.subcomponents if c.name == "VTIMEZONE"}
    years: dict[str, list[int]] = {}
    for value, tzid in _zoned(calendar):
        if tzid not in defined and tzid != "UTC" and is_iana(tzid):
            years.setdefault(tzid, []).extend(m.year for m in _moments(value) if isinstance(m, dt.date))
    now = dt.date.today().year
    for tzid, used in sorted(years.items()):
        first = max(FIRST_YEAR, min(used, default=now))
        last = max(max(used, default=now), now) + YEARS_AHEAD
        calendar.subcomponents.insert(0, icalendar.Timezone.from_ical(_vtimezone(tzid, first, last, draft)))
    return bool(years)


def _vtimezone(tzid: str, first: int, last: int, draft: Draft) -> bytes:
    key = (tzid, first, last)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    draft.budget.spend("instances", 2 * (last - first))
    text: bytes = icalendar.Timezone.from_tzinfo(
        zoneinfo.ZoneInfo(tzid), tzid, dt.date(first, 1, 1), dt.date(last, 1, 1)
    ).to_ical()
    with _cache_lock:
        _cache[key] = text
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return text

"""A calendar's time zone: stored as the client sent it, read as a tzinfo.

``Collection.timezone`` holds either a VCALENDAR with one VTIMEZONE (from
CALDAV:calendar-timezone) or an IANA name (from calendar-timezone-id, RFC
7809). Queries read floating times in it. A VTIMEZONE that is no IANA zone
is resolved by the kernel's bounded zone tables (``kernel.zones``), and one
over their limits is refused when it is set.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache

import icalendar

from kernel import ZoneRefused
from kernel.icaltext import read_calendar, timezone_of


def _vtimezones(text: str) -> list[icalendar.Timezone]:
    cal = read_calendar(text)
    return list(cal.walk("VTIMEZONE"))


def refusal(text: str) -> str | None:
    """Why ``text`` is not a VCALENDAR holding exactly one usable VTIMEZONE with a TZID (None: it is)."""
    try:
        zones = _vtimezones(text)
        if len(zones) != 1 or not zones[0].get("TZID"):
            return "A time zone must be a VCALENDAR with one VTIMEZONE that has a TZID."
        timezone_of(zones[0])
    except ZoneRefused as exc:
        return str(exc)
    except Exception:  # noqa: BLE001 - any parse failure means invalid
        return "A time zone must be a VCALENDAR with one VTIMEZONE that has a TZID."
    return None


def is_valid(text: str) -> bool:
    """True for a VCALENDAR holding exactly one usable VTIMEZONE with a TZID."""
    return refusal(text) is None


def is_known_id(tzid: str) -> bool:
    """True for an IANA time zone name."""
    try:
        zoneinfo.ZoneInfo(tzid)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


@lru_cache(maxsize=256)
def tzid_of(stored: str) -> str | None:
    """The TZID of a stored time zone."""
    if not stored.lstrip().upper().startswith("BEGIN:"):
        return stored
    try:
        zones = _vtimezones(stored)
    except Exception:  # noqa: BLE001
        return None
    return str(zones[0]["TZID"]) if zones and zones[0].get("TZID") else None


@lru_cache(maxsize=256)
def as_vcalendar(stored: str) -> str:
    """The stored time zone as CALDAV:calendar-timezone text."""
    if stored.lstrip().upper().startswith("BEGIN:"):
        return stored
    cal = icalendar.Calendar()
    cal.add("prodid", "-//teamcal//EN")
    cal.add("version", "2.0")
    cal.add_component(icalendar.Timezone.from_tzid(stored))
    return cal.to_ical().decode("utf-8")


@lru_cache(maxsize=256)
def tzinfo(stored: str | None) -> dt.tzinfo | None:
    """The tzinfo a stored time zone stands for (None when absent or unusable)."""
    if not stored:
        return None
    tzid = tzid_of(stored)
    if tzid and is_known_id(tzid):
        return zoneinfo.ZoneInfo(tzid)
    try:
        zones = _vtimezones(stored)
        return timezone_of(zones[0]) if zones else None
    except Exception:  # noqa: BLE001
        return None

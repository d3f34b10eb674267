"""Events as the web app edits them: form fields to iCalendar and back, keeping everything else.

The browser edits a few fields of an event's series (its master VEVENT): title,
start, end, all-day, recurrence rule, location and description. An existing
object is parsed, those properties are replaced and the rest (attendees, alarms,
categories, other clients' X- properties, time zones) is kept; SEQUENCE, DTSTAMP
and LAST-MODIFIED move on. Changing the start or the rule of a recurring series
drops its exceptions (moved and removed occurrences), whose RECURRENCE-IDs would no
longer name occurrences of it. One occurrence is moved with an override component
and removed with an EXDATE. Every result is written through ``host.writes``, which
validates it like any client's.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any

import icalendar

from kernel import Rejected

_UTC = dt.UTC
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Frequencies the dialog offers; any other rule of a stored event is kept as it is.
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_TEXT_LIMITS = {"title": 1000, "location": 1000, "description": 20000}
_PRODID = "-//teamcal//web//EN"
#: Properties of a series that an override of one occurrence does not carry.
_SERIES_ONLY = frozenset({"RRULE", "RDATE", "EXDATE", "EXRULE", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID"})


@dataclass(frozen=True)
class EventFields:
    """What the dialog sends: times as the browser's wall clock in ``timezone`` (or dates when all-day)."""

    title: str
    start: dt.date
    end: dt.date
    all_day: bool
    rrule: str | None
    location: str
    description: str


def bad(message: str) -> Rejected:
    """A 400 for a field the browser sent wrong."""
    return Rejected(400, None, message)


def zone(name: Any) -> dt.tzinfo:
    """An IANA time zone by name; 400 for anything else."""
    if not isinstance(name, str) or not name or len(name) > 64 or ".." in name:
        raise bad("Give the time zone as an IANA name such as Europe/Berlin.")
    if name in ("UTC", "Etc/UTC", "Z"):
        return _UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise bad(f"Unknown time zone {name[:64]!r}.") from None


def parse_instant(value: Any, tz: dt.tzinfo, what: str) -> dt.datetime:
    """An ISO date-time: with an offset as given, without one read in ``tz``; aware, 400 otherwise."""
    if not isinstance(value, str) or len(value) > 40:
        raise bad(f"The {what} must be a date and time such as 2026-05-04T09:30.")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad(f"The {what} {value!r} is not a date and time such as 2026-05-04T09:30.") from None
    if not 1900 <= parsed.year <= 2200:
        raise bad(f"The {what} must lie between the years 1900 and 2200.")
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


def _date(value: Any, what: str) -> dt.date:
    if not isinstance(value, str) or len(value) > 40:
        raise bad(f"The {what} must be a date such as 2026-05-04.")
    try:
        parsed = dt.date.fromisoformat(value[:10])
    except ValueError:
        raise bad(f"The {what} {value!r} is not a date such as 2026-05-04.") from None
    if not 1900 <= parsed.year <= 2200:
        raise bad(f"The {what} must lie between the years 1900 and 2200.")
    return parsed


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise bad(f"The {name} must be text.")
    value = value.strip() if name != "description" else value.rstrip()
    if len(value) > _TEXT_LIMITS[name] or _CONTROL.search(value):
        raise bad(f"The {name} has at most {_TEXT_LIMITS[name]} characters and no control characters.")
    return value


def rule(value: Any) -> str | None:
    """A recurrence rule: None, one of :data:`FREQUENCIES` (every day, week, ...) or a full RRULE value."""
    if value in (None, "", "none"):
        return None
    if not isinstance(value, str) or len(value) > 500:
        raise bad("The repeat rule must be text such as FREQ=WEEKLY.")
    text = value.upper() if value.upper() in FREQUENCIES else value
    text = f"FREQ={text}" if text in FREQUENCIES else text
    try:
        parsed = icalendar.vRecur.from_ical(text)
    except (ValueError, TypeError):
        raise bad(f"{value[:100]!r} is not a recurrence rule (RFC 5545 RRULE).") from None
    if not parsed.get("FREQ"):
        raise bad("A recurrence rule needs a FREQ.")
    return text


def fields(body: dict[str, Any], tz: dt.tzinfo) -> EventFields:
    """The event fields of a JSON body; 400 for any that is missing or wrong."""
    title = _text(body, "title")
    if not title:
        raise bad("Give the event a title.")
    all_day = body.get("allDay", False)
    if not isinstance(all_day, bool):
        raise bad("allDay must be true or false.")
    start: dt.date
    end: dt.date
    if all_day:
        start = _date(body.get("start"), "start")
        end = _date(body["end"], "end") if body.get("end") else start + dt.timedelta(days=1)
        if end <= start:
            raise bad("An all-day event ends on a later day than it starts (the end is exclusive).")
    else:
        start = parse_instant(body.get("start"), tz, "start").astimezone(tz)
        end = parse_instant(body["end"], tz, "end").astimezone(tz) if body.get("end") else start + dt.timedelta(hours=1)
        if end <= start:
            raise bad("The event must end after it starts.")
    return EventFields(
        title, start, end, all_day, rule(body.get("rrule")), _text(body, "location"), _text(body, "description")
    )


def new_object(data: EventFields) -> tuple[str, bytes]:
    """A new calendar object for the fields: its resource name and its iCalendar bytes."""
    uid = str(uuid.uuid4())
    calendar = icalendar.Calendar()
    calendar.add("prodid", _PRODID)
    calendar.add("version", "2.0")
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", _now())
    event.add("created", _now())
    calendar.add_component(event)
    _apply(event, data)
    _add_zones(calendar, data)
    return f"{uid}.ics", calendar.to_ical()


def edited(stored: bytes, data: EventFields) -> bytes:
    """The stored object with its series' fields replaced (see the module's docstring)."""
    calendar = _parse(stored)
    master = _master(calendar)
    before = (master.get("DTSTART").dt if master.get("DTSTART") else None, str(master.get("RRULE", "")))
    _apply(master, data)
    after = (master.get("DTSTART").dt, str(master.get("RRULE", "")))
    if before != after:
        _drop_exceptions(calendar, master)
    _touch(master)
    _add_zones(calendar, data)
    return calendar.to_ical()


def moved(stored: bytes, start: dt.date, end: dt.date, recurrence_id: str | None) -> bytes:
    """The object with the series (or, with ``recurrence_id``, one occurrence) at new times.

    Date-times keep the zone the event was written in (a floating event stays floating).
    """
    calendar = _parse(stored)
    master = _master(calendar)
    all_day = not isinstance(start, dt.datetime)
    if recurrence_id is not None and _recurring(master):
        target = _override(calendar, master, _recurrence_value(master, recurrence_id))
    else:
        target = master
    before = (target.get("DTSTART") or master["DTSTART"]).dt
    _set_times(target, _like(before, start), _like(before, end), all_day)
    if target is master and _recurring(master) and master["DTSTART"].dt != before:
        _drop_exceptions(calendar, master)
    _touch(target)
    return calendar.to_ical()


def _like(reference: dt.date, value: dt.date) -> dt.date:
    """``value`` in the zone of ``reference``: its zone, UTC, or floating (the wall clock as given)."""
    if not isinstance(value, dt.datetime) or not isinstance(reference, dt.datetime):
        return value
    if reference.tzinfo is None or reference.utcoffset() is None:
        return value.replace(tzinfo=None)
    return value.astimezone(reference.tzinfo)


def without_occurrence(stored: bytes, recurrence_id: str) -> bytes:
    """The object with one occurrence of its series removed (an EXDATE; its override, if any, goes)."""
    calendar = _parse(stored)
    master = _master(calendar)
    if not _recurring(master):
        raise bad("Only an occurrence of a repeating event can be removed on its own.")
    rid = _recurrence_value(master, recurrence_id)
    calendar.subcomponents[:] = [
        c for c in calendar.subcomponents
        if not (c.name == "VEVENT" and c.get("RECURRENCE-ID") is not None and _same(c["RECURRENCE-ID"].dt, rid))
    ]
    master.add("exdate", rid)
    _touch(master)
    return calendar.to_ical()


def editable(calendar: icalendar.Calendar) -> dict[str, Any]:
    """The dialog's fields of an object's series, as JSON values (times in UTC, floating ones as written)."""
    master = _master(calendar)
    start = master.get("DTSTART").dt
    if master.get("DTEND") is not None:
        end = master["DTEND"].dt
    elif master.get("DURATION") is not None:
        end = start + master["DURATION"].dt
    else:
        end = start + dt.timedelta(days=1) if not isinstance(start, dt.datetime) else start
    rrule = master.get("RRULE")
    rule_text = rrule.to_ical().decode() if rrule is not None else ""
    simple = rule_text if rule_text in {f"FREQ={f}" for f in FREQUENCIES} else ("" if not rule_text else "custom")
    return {
        "title": str(master.get("SUMMARY", "")),
        "start": json_time(start),
        "end": json_time(end),
        "allDay": not isinstance(start, dt.datetime),
        "rrule": rule_text,
        "repeat": simple.removeprefix("FREQ="),
        "location": str(master.get("LOCATION", "")),
        "description": str(master.get("DESCRIPTION", "")),
        "uid": str(master.get("UID", "")),
    }


def json_time(value: dt.date) -> str:
    """A date as YYYY-MM-DD, a zoned date-time in UTC with Z, a floating one as written."""
    if not isinstance(value, dt.datetime):
        return value.isoformat()
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(microsecond=0).isoformat()
    return value.astimezone(_UTC).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


# -- inside ------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(_UTC).replace(microsecond=0)


def _parse(stored: bytes) -> icalendar.Calendar:
    try:
        return icalendar.Calendar.from_ical(stored)
    except ValueError:
        raise Rejected(409, None, "This event's stored data cannot be edited here; use a calendar app.") from None


def _master(calendar: icalendar.Calendar) -> icalendar.Event:
    events = [c for c in calendar.subcomponents if c.name == "VEVENT"]
    masters = [c for c in events if c.get("RECURRENCE-ID") is None]
    if not masters or masters[0].get("DTSTART") is None:
        raise Rejected(409, None, "This object holds no event series the web app can edit; use a calendar app.")
    return masters[0]


def _recurring(master: icalendar.Event) -> bool:
    return master.get("RRULE") is not None or master.get("RDATE") is not None


def _apply(event: icalendar.Event, data: EventFields) -> None:
    for name, value in (("SUMMARY", data.title), ("LOCATION", data.location), ("DESCRIPTION", data.description)):
        event.pop(name, None)
        if value:
            event.add(name, value)
    _set_times(event, data.start, data.end, data.all_day)
    event.pop("RRULE", None)
    if data.rrule:
        event.add("rrule", icalendar.vRecur.from_ical(data.rrule))


def _set_times(event: icalendar.Event, start: dt.date, end: dt.date, all_day: bool) -> None:
    for name in ("DTSTART", "DTEND", "DURATION"):
        event.pop(name, None)
    if all_day:
        start = start.date() if isinstance(start, dt.datetime) else start
        end = end.date() if isinstance(end, dt.datetime) else end
        end = max(end, start + dt.timedelta(days=1))
    event.add("dtstart", start)
    event.add("dtend", end)


def _touch(event: icalendar.Event) -> None:
    sequence = int(event.get("SEQUENCE", 0) or 0)
    for name in ("SEQUENCE", "DTSTAMP", "LAST-MODIFIED"):
        event.pop(name, None)
    event.add("sequence", sequence + 1)
    event.add("dtstamp", _now())
    event.add("last-modified", _now())


def _drop_exceptions(calendar: icalendar.Calendar, master: icalendar.Event) -> None:
    master.pop("EXDATE", None)
    calendar.subcomponents[:] = [
        c for c in calendar.subcomponents if not (c.name == "VEVENT" and c.get("RECURRENCE-ID") is not None)
    ]


def _add_zones(calendar: icalendar.Calendar, data: EventFields) -> None:
    """VTIMEZONEs for the zones the event uses (RFC 5545 wants one per TZID), over the years it spans."""
    if data.all_day or getattr(data.start, "tzinfo", None) in (None, _UTC):
        return
    first = data.start.date() - dt.timedelta(days=366) if isinstance(data.start, dt.datetime) else data.start
    years = 20 if data.rrule else 2
    calendar.add_missing_timezones(first_date=first, last_date=first + dt.timedelta(days=366 * years))


def _recurrence_value(master: icalendar.Event, key: str) -> dt.date:
    """The RECURRENCE-ID value an occurrence's key names, in the form of the series' DTSTART."""
    start = master["DTSTART"].dt
    if not isinstance(key, str) or len(key) > 40:
        raise bad("recurrenceId must name an occurrence.")
    try:
        if not isinstance(start, dt.datetime):
            return dt.date.fromisoformat(key[:10])
        parsed = dt.datetime.fromisoformat(key.replace("Z", "+00:00"))
    except ValueError:
        raise bad(f"recurrenceId {key[:40]!r} does not name an occurrence.") from None
    if start.tzinfo is None or start.utcoffset() is None:
        return parsed.replace(tzinfo=None)
    if parsed.tzinfo is None:
        raise bad("recurrenceId of a zoned series is written in UTC with Z.")
    return parsed.astimezone(start.tzinfo)


def _same(a: dt.date, b: dt.date) -> bool:
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime) and (a.tzinfo is None) != (b.tzinfo is None):
        return False
    return a == b


def _override(calendar: icalendar.Calendar, master: icalendar.Event, rid: dt.date) -> icalendar.Event:
    """The override component of one occurrence, made from the master when there is none."""
    for c in calendar.subcomponents:
        if c.name == "VEVENT" and c.get("RECURRENCE-ID") is not None and _same(c["RECURRENCE-ID"].dt, rid):
            return c
    override = icalendar.Event()
    for name, value in master.items():
        if name not in _SERIES_ONLY:
            override[name] = copy.deepcopy(value)
    override.add("recurrence-id", rid)
    calendar.add_component(override)
    return override

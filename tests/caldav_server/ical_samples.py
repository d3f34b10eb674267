"""Builders for the query-engine tests: calendar objects, filters, calendar-data elements."""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import icalendar

from kernel.ical import parse_object

DATA = Path(__file__).parent / "data"
C_NS = 'xmlns:C="urn:ietf:params:xml:ns:caldav"'
UTC = dt.UTC

BERLIN_VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
"""


def ts(*args: int) -> int:
    """Epoch seconds of a UTC date-time."""
    return _calendar.timegm(dt.datetime(*args).timetuple())


def utc_text(*args: int) -> str:
    """A date with UTC time as CalDAV writes it."""
    return dt.datetime(*args).strftime("%Y%m%dT%H%M%SZ")


def component(*lines: str, name: str = "VEVENT", uid: str = "uid-1", children: str = "") -> str:
    """One component with UID and DTSTAMP, the given lines and nested components."""
    body = "".join(f"{line}\n" for line in lines)
    return f"BEGIN:{name}\nUID:{uid}\nDTSTAMP:20240101T000000Z\n{body}{children}END:{name}\n"


def ics(*components: str, timezone: str = "") -> bytes:
    """A VCALENDAR (CRLF line ends) holding the components."""
    text = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//teamcal//tests//EN\n" + timezone + "".join(components)
    return (text + "END:VCALENDAR\n").replace("\n", "\r\n").encode()


def parsed(data: bytes) -> icalendar.Calendar:
    """The object as the server holds it: validated by the kernel, parsed by icalendar."""
    return parse_object(data)[0]


def rfc_object(name: str) -> bytes:
    """One calendar object of RFC 4791 Appendix B (abcd1 .. abcd8)."""
    return (DATA / "rfc4791" / f"{name}.ics").read_bytes()


def rfc_objects() -> dict[str, icalendar.Calendar]:
    """All of RFC 4791 Appendix B, parsed."""
    return {f"abcd{i}": parsed(rfc_object(f"abcd{i}")) for i in range(1, 9)}


def element(xml: str) -> ET.Element:
    """An element with the CalDAV namespace declared as C."""
    tag_end = xml.index(">")
    if xml[tag_end - 1] == "/":
        tag_end -= 1
    return ET.fromstring(xml[:tag_end] + f" {C_NS}" + xml[tag_end:])


def filter_element(inner: str) -> ET.Element:
    """<C:filter> around the given comp-filter XML."""
    return element(f"<C:filter>{inner}</C:filter>")


def vcalendar(inner: str = "") -> str:
    """A comp-filter VCALENDAR around the given XML."""
    return f'<C:comp-filter name="VCALENDAR">{inner}</C:comp-filter>'


def comp(name: str, inner: str = "") -> str:
    """A comp-filter."""
    return f'<C:comp-filter name="{name}">{inner}</C:comp-filter>'


def time_range(start: str | None = None, end: str | None = None) -> str:
    """A CALDAV:time-range element."""
    attrs = "".join(f' {k}="{v}"' for k, v in (("start", start), ("end", end)) if v is not None)
    return f"<C:time-range{attrs}/>"


def dated(prop: str, value: dt.datetime, zone: str) -> str:
    """A content line for ``value`` written as ``zone`` says: utc, berlin (TZID), floating or date."""
    if zone == "utc":
        return f"{prop}:{value:%Y%m%dT%H%M%S}Z"
    if zone == "berlin":
        return f"{prop};TZID=Europe/Berlin:{value:%Y%m%dT%H%M%S}"
    if zone == "floating":
        return f"{prop}:{value:%Y%m%dT%H%M%S}"
    return f"{prop};VALUE=DATE:{value:%Y%m%d}"

"""Every component type in calendars that do not restrict them: VFREEBUSY and VAVAILABILITY
(RFC 7953) stored, reported, filtered by comp-filter and counted in supported-calendar-component-set."""

from __future__ import annotations

import httpx
import pytest

from kernel.ical import COMPONENTS, parse_object
from kernel.testing.dav import CALDAV, error_elements, mkcalendar, parse_multistatus, propfind

C = "{" + CALDAV + "}"
DECL = f'xmlns:D="DAV:" xmlns:C="{CALDAV}"'
FREEBUSY = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VFREEBUSY\r
UID:fb-1\r
DTSTAMP:20250101T000000Z\r
DTSTART:20250303T000000Z\r
DTEND:20250310T000000Z\r
FREEBUSY:20250304T090000Z/20250304T100000Z\r
END:VFREEBUSY\r
END:VCALENDAR\r
"""
AVAILABILITY = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VAVAILABILITY\r
UID:office-hours\r
DTSTAMP:20250101T000000Z\r
DTSTART:20250301T000000Z\r
DTEND:20250401T000000Z\r
SUMMARY:Office hours\r
BEGIN:AVAILABLE\r
UID:office-hours-weekdays\r
DTSTAMP:20250101T000000Z\r
DTSTART:20250303T090000Z\r
DTEND:20250303T170000Z\r
RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR\r
END:AVAILABLE\r
END:VAVAILABILITY\r
END:VCALENDAR\r
"""
EVENT = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VEVENT\r
UID:ev\r
DTSTAMP:20250101T000000Z\r
DTSTART:20250305T090000Z\r
DTEND:20250305T100000Z\r
END:VEVENT\r
END:VCALENDAR\r
"""


def query(client: httpx.Client, path: str, filter_xml: str) -> set[str]:
    body = f"<C:calendar-query {DECL}><D:prop><D:getetag/></D:prop><C:filter>{filter_xml}</C:filter></C:calendar-query>"
    r = client.request("REPORT", path, content=body.encode(), headers={"Depth": "1"})
    return {href.rsplit("/", 1)[-1] for href in parse_multistatus(r)}


def comp(name: str, start: str | None = None, end: str | None = None) -> str:
    """VCALENDAR > comp-filter NAME [> time-range]."""
    attrs = "".join(f' {k}="{v}"' for k, v in (("start", start), ("end", end)) if v)
    inner = f"<C:time-range{attrs}/>" if attrs else ""
    return f'<C:comp-filter name="VCALENDAR"><C:comp-filter name="{name}">{inner}</C:comp-filter></C:comp-filter>'


@pytest.fixture
def cal(alice: httpx.Client) -> str:
    """A calendar made without supported-calendar-component-set, holding one of each."""
    path = mkcalendar(alice)
    for name, body in (("fb.ics", FREEBUSY), ("avail.ics", AVAILABILITY), ("ev.ics", EVENT)):
        r = alice.put(path + name, content=body)
        assert r.status_code == 201, r.text
    return path


def test_a_calendar_made_without_a_component_set_takes_every_type(alice: httpx.Client, cal: str) -> None:
    r = propfind(alice, cal, "<D:prop><C:supported-calendar-component-set/></D:prop>")
    comps = [c.get("name") for c in parse_multistatus(r)[cal].value(C + "supported-calendar-component-set")]
    assert comps == list(COMPONENTS) == ["VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VAVAILABILITY"]
    assert alice.get(cal + "avail.ics").content == AVAILABILITY
    assert alice.get(cal + "fb.ics").content == FREEBUSY


def test_comp_filters_find_each_type(alice: httpx.Client, cal: str) -> None:
    assert query(alice, cal, comp("VAVAILABILITY")) == {"avail.ics"}
    assert query(alice, cal, comp("VFREEBUSY")) == {"fb.ics"}
    assert query(alice, cal, comp("VEVENT")) == {"ev.ics"}
    assert query(alice, cal, '<C:comp-filter name="VCALENDAR"/>') == {"avail.ics", "fb.ics", "ev.ics"}


def test_availability_time_ranges_follow_rfc_7953(alice: httpx.Client, cal: str) -> None:
    assert query(alice, cal, comp("VAVAILABILITY", "20250310T000000Z", "20250311T000000Z")) == {"avail.ics"}
    assert query(alice, cal, comp("VAVAILABILITY", "20250401T000000Z", "20250402T000000Z")) == set()
    assert query(alice, cal, comp("VAVAILABILITY", "20250201T000000Z", "20250301T000000Z")) == set()
    open_ended = AVAILABILITY.replace(b"DTEND:20250401T000000Z\r\n", b"").replace(b"UID:office-hours\r", b"UID:oh2\r")
    assert alice.put(cal + "open.ics", content=open_ended).status_code == 201
    assert query(alice, cal, comp("VAVAILABILITY", "20300101T000000Z", "20300102T000000Z")) == {"open.ics"}
    nested = ('<C:comp-filter name="VCALENDAR"><C:comp-filter name="VAVAILABILITY"><C:comp-filter name="AVAILABLE">'
              '<C:time-range start="20250303T120000Z" end="20250303T130000Z"/></C:comp-filter></C:comp-filter>'
              "</C:comp-filter>")
    assert query(alice, cal, nested) == {"avail.ics", "open.ics"}


def test_a_calendar_restricted_to_events_refuses_availability(alice: httpx.Client) -> None:
    body = (f'<C:mkcalendar {DECL}><D:set><D:prop><C:supported-calendar-component-set><C:comp name="VEVENT"/>'
            "</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>")
    path = mkcalendar(alice, body=body)
    r = alice.put(path + "a.ics", content=AVAILABILITY)
    assert r.status_code == 403 and error_elements(r)[0] == C + "supported-calendar-component"
    only = body.replace('name="VEVENT"', 'name="VAVAILABILITY"')
    path = mkcalendar(alice, body=only)
    assert alice.put(path + "a.ics", content=AVAILABILITY).status_code == 201
    assert alice.put(path + "e.ics", content=EVENT).status_code == 403


def test_availability_is_validated() -> None:
    _calendar, info = parse_object(AVAILABILITY)
    assert info.component == "VAVAILABILITY" and info.instances == () and info.uid == "office-hours"
    both = AVAILABILITY.replace(b"DTEND:20250401T000000Z", b"DTEND:20250401T000000Z\r\nDURATION:P1D")
    with pytest.raises(Exception, match="both DTEND and DURATION"):
        parse_object(both)
    backwards = AVAILABILITY.replace(b"DTEND:20250401T000000Z", b"DTEND:20250201T000000Z")
    with pytest.raises(Exception, match="before its DTSTART"):
        parse_object(backwards)

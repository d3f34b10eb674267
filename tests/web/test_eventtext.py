"""A single event read from its index row and its text shows as its parse does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel import Budget, Host, Instance, make_etag
from kernel.testing import add_user, make_host
from plugins.web import occurrences, readings
from plugins.web.eventtext import event_text

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
BERLIN = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
    "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
)
OFFICE = (
    "BEGIN:VTIMEZONE\r\nTZID:Office Time\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
    "TZOFFSETFROM:+0530\r\nTZOFFSETTO:+0530\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
)
ALARM = "BEGIN:VALARM\r\nACTION:EMAIL\r\nSUMMARY:not the title\r\nDESCRIPTION:x\r\nTRIGGER:-PT5M\r\n" \
        "ATTENDEE:mailto:a@example.com\r\nEND:VALARM\r\n"
#: VEVENT bodies (between BEGIN:VEVENT, UID and DTSTAMP, and END:VEVENT), with the time zones they need.
EVENTS = [
    ("", "DTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\nSUMMARY:utc\r\n"),
    (BERLIN, "DTSTART;TZID=Europe/Berlin:20260310T090000\r\nDTEND;TZID=Europe/Berlin:20260310T100000\r\n"
             "SUMMARY:Berlin\r\nLOCATION:Room 1\r\n"),
    (BERLIN, "DTSTART;TZID=Europe/Berlin:20260328T120000\r\nDURATION:P1D\r\nSUMMARY:over the change\r\n"),
    (OFFICE, "DTSTART;TZID=Office Time:20260310T090000\r\nDTEND;TZID=Office Time:20260310T093000\r\n"
             "SUMMARY:custom zone\r\n"),
    ("", "DTSTART:20260310T090000\r\nDURATION:PT45M\r\nSUMMARY:floating\r\n"),
    ("", "DTSTART;VALUE=DATE:20260310\r\nDTEND;VALUE=DATE:20260313\r\nSUMMARY:days\r\n"),
    ("", "DTSTART;VALUE=DATE:20260310\r\nSUMMARY:one day\r\n"),
    ("", "DTSTART:20260310T090000Z\r\nSUMMARY:a moment\r\n"),
    ("", "DTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\n"),
    ("", ALARM + "DTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\nSUMMARY:after its alarm\r\n"),
    ("", "DTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\nSUMMARY;LANGUAGE=de:Caf\u00e9\\, Tee\\; "
         "und \\n mehr \\\\ Ende\r\nLOCATION;ALTREP=\"http://example.com/a:b;c\":Main St.\\, 5\r\n"
         "ATTENDEE;CN=\"Doe; Jane: PhD\":mailto:jane@example.com\r\nX-FOO;X-P=\"q:r\":s\r\n"),
    ("", "DTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\nSUMMARY:" + "long title " * 20 + "\r\n"),
    ("", "dtstart:20260310T090000Z\r\ndtend:20260310T100000Z\r\nsummary:lower case\r\n"),
    # series without overrides: their occurrences come from the index rows
    ("", "DTSTART:20260302T090000Z\r\nDTEND:20260302T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\nSUMMARY:weekly\r\n"),
    (BERLIN, "DTSTART;TZID=Europe/Berlin:20260302T090000\r\nDTEND;TZID=Europe/Berlin:20260302T100000\r\n"
             "RRULE:FREQ=WEEKLY\r\nEXDATE;TZID=Europe/Berlin:20260316T090000\r\nSUMMARY:over the change\r\n"),
    ("", "DTSTART:20260305T070000\r\nDURATION:PT30M\r\nRRULE:FREQ=DAILY;UNTIL=20260320T070000\r\n"
         "EXDATE:20260310T070000\r\nRDATE:20260325T120000\r\nSUMMARY:floating daily\r\nLOCATION:here\r\n"),
    ("", "DTSTART;VALUE=DATE:20250312\r\nRRULE:FREQ=YEARLY\r\nSUMMARY:birthday\r\n"),
    ("", "DTSTART;VALUE=DATE:20260301\r\nDTEND;VALUE=DATE:20260303\r\nRRULE:FREQ=WEEKLY;BYDAY=SU,WE\r\n"
         "SUMMARY:two days\r\n"),
    (OFFICE, "DTSTART;TZID=Office Time:20260301T230000\r\nDURATION:PT2H\r\nRRULE:FREQ=MONTHLY;BYDAY=2MO,-1TU\r\n"
             "SUMMARY:custom zone monthly\r\n"),
]


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    h = make_host(tmp_path)
    yield h
    h.close()


#: The view's range in the tests: four weeks of March 2026 in Berlin, over the change to summer time.
TZ = ZoneInfo("Europe/Berlin")
LOW = int(dt.datetime(2026, 3, 9, tzinfo=TZ).timestamp())
HIGH = int(dt.datetime(2026, 4, 6, tzinfo=TZ).timestamp())


def stored(host: Host, name: str, data: bytes) -> tuple[bytes, list[Instance] | None]:
    """Store ``data`` (through the write pipeline) and read back its text and its index rows
    near the range, as the view's query reads them."""
    alice = host.store.principal("alice") or add_user(host, "alice")
    cal = host.store.collection(alice.id, "cal") or host.writes.create_collection(alice, "cal", "calendar", principal=alice)
    resource, _, _ = host.writes.put_object(cal, name, data, principal=alice)
    rows = host.store.instances_in_range(cal.id, LOW, HIGH, tz=TZ)[resource.id]
    return bytes(host.store.data(resource.id)), rows


def shown(spans: list[readings.Span]) -> list[readings.Span]:
    """The occurrences the view shows of ``spans``, in order."""
    kept = [s for s in spans if occurrences._overlaps(s.start, s.end, LOW, HIGH, TZ)]
    return sorted(kept, key=lambda s: occurrences._seconds(s.start, TZ))


def assert_read_alike(host: Host, name: str, data: bytes) -> None:
    text, rows = stored(host, name, data)
    fast = readings.Readings().of(make_etag(text), text, Budget(), rows)
    parsed = readings._read(text, Budget())
    assert fast.text is not None, text
    quick = shown(fast.spans(LOW, HIGH, TZ, Budget(), rows))
    slow = shown(parsed.spans(LOW, HIGH, TZ, Budget(), None))
    assert quick == slow, text
    assert quick, "the range holds an occurrence of every test event"
    for a, b in zip(quick, slow, strict=True):  # the same kind of value, too
        kinds = [kind(v) for v in (a.start, a.end, a.recurrence_id)]
        assert kinds == [kind(v) for v in (b.start, b.end, b.recurrence_id)], text


def kind(value: dt.date | None) -> str:
    """None, a date, a floating date-time or a zoned one (zoned ones compare as instants,
    and a date-time never equals a date, so equal lists may still hold other kinds)."""
    if value is None:
        return "none"
    if not isinstance(value, dt.datetime):
        return "date"
    return "floating" if value.tzinfo is None else "zoned"


@pytest.mark.parametrize(("zones", "body"), EVENTS)
def test_a_single_event_from_its_row_and_text_is_its_parse(host: Host, zones: str, body: str) -> None:
    data = f"{HEAD}{zones}BEGIN:VEVENT\r\nUID:e\r\nDTSTAMP:20260101T000000Z\r\n{body}END:VEVENT\r\nEND:VCALENDAR\r\n"
    assert_read_alike(host, "e.ics", data.encode())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    title=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=200),
    location=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=80),
)
def test_any_title_and_location_read_from_the_text_as_parsed(host: Host, title: str, location: str) -> None:
    """Escaped and folded as icalendar writes them, any text reads back as the parse does."""
    event = icalendar.Event()
    event.add("uid", "h")
    event.add("dtstamp", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    event.add("dtstart", dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC))
    event.add("summary", title)
    event.add("location", location)
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//t//EN")
    calendar.add("version", "2.0")
    calendar.add_component(event)
    assert_read_alike(host, "h.ics", calendar.to_ical())


def test_what_is_not_one_plain_event_is_left_to_the_parse() -> None:
    event = "BEGIN:VEVENT\r\nUID:e\r\nDTSTART:20260310T090000Z\r\nEND:VEVENT\r\n"
    assert event_text(f"{HEAD}{event}END:VCALENDAR\r\n".encode()) is not None
    assert event_text(f"{HEAD}{event}{event}END:VCALENDAR\r\n".encode()) is None  # two events
    assert event_text(f"{HEAD}END:VCALENDAR\r\n".encode()) is None  # none
    assert event_text(f"{HEAD}BEGIN:VEVENT\r\nUID:e\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n".encode()) is None  # no DTSTART
    assert event_text(f"{HEAD}{event}".encode()) is None  # not closed
    assert event_text(f"{HEAD}{event.replace('END:VEVENT', 'END:VTODO')}END:VCALENDAR\r\n".encode()) is None
    assert event_text(b"\xff" + f"{HEAD}{event}END:VCALENDAR\r\n".encode()) is None  # not UTF-8

"""The ingest pipeline (kernel.ingest): each documented repair, its bounds, and what stays refused."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path

import icalendar
import pytest

from kernel import ingest
from kernel.budget import Budget, Limits, OverBudget, default_limits
from kernel.ical import VALID_DATA, parse_object
from kernel.ingest import REPAIRS, Draft, calendar_repair, timezones
from kernel.recurrence import to_key
from kernel.types import Rejected

DOCS = Path(__file__).resolve().parents[2] / "docs" / "caldav.md"
UTC = dt.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def crlf(text: str) -> bytes:
    """iCalendar text with CRLF line breaks."""
    return text.replace("\n", "\r\n").encode()


def wrap(*lines: str, name: str = "VEVENT", head: str = "VERSION:2.0\nPRODID:-//t//EN\n", extra: str = "") -> bytes:
    """A VCALENDAR with one component of ``lines`` (UID given by the lines or "u")."""
    body = "".join(f"{line}\n" for line in lines)
    uid = "" if any(line.startswith("UID:") for line in lines) else "UID:u\n"
    stamp = "" if any(line.startswith("DTSTAMP") for line in lines) else "DTSTAMP:20250101T000000Z\n"
    return crlf(f"BEGIN:VCALENDAR\n{head}{extra}BEGIN:{name}\n{uid}{stamp}{body}END:{name}\nEND:VCALENDAR\n")


def stored(data: bytes, budget: Budget | None = None):
    """What the write pipeline validates and stores: (ingested, parsed calendar, index info)."""
    out = ingest.repair(data, budget)
    calendar, info = parse_object(out.data, calendar=out.calendar)
    return out, calendar, info


def first(calendar: icalendar.Calendar, name: str = "VEVENT") -> icalendar.Component:
    return next(c for c in calendar.subcomponents if c.name == name)


def utc(*args: int) -> int:
    return to_key(dt.datetime(*args, tzinfo=UTC))


# --- the registry ------------------------------------------------------------------------


def test_every_repair_has_a_test_and_a_line_in_the_docs() -> None:
    names = [r.name for r in REPAIRS]
    assert len(set(names)) == len(names)
    docs = DOCS.read_text()
    section = docs.split("## What teamcal repairs", 1)[1].split("\n## ", 1)[0]
    for rule in REPAIRS:
        assert f"test_{rule.name.replace('-', '_')}" in globals(), rule.name
        assert rule.description and "\n" not in rule.description
        assert f"`{rule.name}`" in section, f"docs/caldav.md does not list {rule.name}"
        assert rule.description in " ".join(section.split()), f"docs/caldav.md describes {rule.name} otherwise"


def test_valid_data_is_stored_as_sent() -> None:
    body = wrap("DTSTART;TZID=Europe/Berlin:20250303T090000", "DTEND;TZID=Europe/Berlin:20250303T100000",
                extra=timezone_text("Europe/Berlin"))
    out = ingest.repair(body)
    assert out.repairs == [] and out.data == body and out.calendar is not None


def timezone_text(tzid: str) -> str:
    """A VTIMEZONE for an IANA zone, as a client would send it."""
    return icalendar.Timezone.from_tzid(tzid).to_ical().decode().replace("\r\n", "\n")


# --- text --------------------------------------------------------------------------------


def test_line_endings() -> None:
    lf = wrap("DTSTART:20250303T090000Z", "SUMMARY:lf").replace(b"\r\n", b"\n")
    out, _calendar, _ = stored(lf)
    assert out.repairs == ["line-endings"]
    assert out.data == lf.replace(b"\n", b"\r\n") and out.calendar is not None
    cr, _, _ = stored(lf.replace(b"\n", b"\r"))
    assert cr.data == out.data


def test_folds_inside_characters() -> None:
    line = ("SUMMARY:" + "é" * 40).encode()
    cut = 75 if line[75] & 0xC0 == 0x80 else 76  # inside a two-byte character
    assert line[cut] & 0xC0 == 0x80
    folded = line[:cut] + b"\r\n " + line[cut:]
    body = wrap("DTSTART:20250303T090000Z").replace(b"END:VEVENT", folded + b"\r\nEND:VEVENT")
    with pytest.raises(UnicodeDecodeError):
        body.decode()
    out, calendar, _ = stored(body)
    assert out.repairs == ["folds-inside-characters"]
    assert str(first(calendar)["SUMMARY"]) == "é" * 40
    assert max(len(x) for x in out.data.split(b"\r\n")) <= 75  # stored as icalendar folds it
    latin1 = wrap("DTSTART:20250303T090000Z", "SUMMARY:caf\xe9").replace("é".encode(), b"\xe9")
    assert ingest.repair(latin1).calendar is None  # not a folding problem: left to validation
    with pytest.raises(Rejected) as refused:
        stored(latin1)
    assert refused.value.precondition == VALID_DATA


def test_mis_folded_lines() -> None:
    body = crlf(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//EN\nBEGIN:VEVENT\nUID:u\nDTSTAMP:20250101T000000Z\n"
        "DTSTART:20250303T090000Z\nDESCRIPTION:Agenda\n1. budget\n2. hiring\n\nURL:https://example.org/a-very-long\n"
        "-path\nSUMMARY:Board\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    out, calendar, _ = stored(body)
    assert out.repairs == ["mis-folded-lines"]
    event = first(calendar)
    assert str(event["DESCRIPTION"]) == "Agenda\n1. budget\n2. hiring"
    assert str(event["URL"]) == "https://example.org/a-very-long-path"
    assert str(event["SUMMARY"]) == "Board"
    properly = body.replace(b"Agenda\r\n1.", b"Agenda\r\n 1.")
    assert "mis-folded-lines" in ingest.repair(properly).repairs  # the other breaks remain
    assert ingest.repair(wrap("DTSTART:20250303T090000Z")).repairs == []


# --- calendar properties -----------------------------------------------------------------


def test_version_prodid() -> None:
    out, calendar, _ = stored(wrap("DTSTART:20250303T090000Z", head=""))
    assert out.repairs == ["version-prodid"]
    assert str(calendar["VERSION"]) == "2.0" and str(calendar["PRODID"]) == ingest.properties.PRODID
    kept, calendar, _ = stored(wrap("DTSTART:20250303T090000Z", head="PRODID:-//Mine//EN\n"))
    assert kept.repairs == ["version-prodid"] and str(calendar["PRODID"]) == "-//Mine//EN"


def test_method_publish() -> None:
    out, calendar, _ = stored(wrap("DTSTART:20250303T090000Z", head="VERSION:2.0\nPRODID:-//t//EN\nMETHOD:PUBLISH\n"))
    assert out.repairs == ["method-publish"] and "METHOD" not in calendar
    with pytest.raises(Rejected) as refused:  # an invitation is not a calendar object resource
        stored(wrap("DTSTART:20250303T090000Z", head="VERSION:2.0\nPRODID:-//t//EN\nMETHOD:REQUEST\n"))
    assert "METHOD" in refused.value.message


def test_dtstamp() -> None:
    before = dt.datetime.now(UTC).replace(microsecond=0)
    body = wrap("DTSTART:20250303T090000Z").replace(b"DTSTAMP:20250101T000000Z\r\n", b"")
    out, calendar, _ = stored(body)
    assert out.repairs == ["dtstamp"]
    stamp = first(calendar)["DTSTAMP"].dt
    assert stamp.tzinfo is not None and before <= stamp <= dt.datetime.now(UTC)


# --- times -------------------------------------------------------------------------------


def test_value_types() -> None:
    berlin = timezone_text("Europe/Berlin")
    # a date-time start with a date end: the end is midnight of that day, in the start's zone
    out, calendar, info = stored(wrap("DTSTART;TZID=Europe/Berlin:20250303T090000", "DTEND;VALUE=DATE:20250304",
                                      extra=berlin))
    assert out.repairs == ["value-types"]
    assert first(calendar)["DTEND"].dt == dt.datetime(2025, 3, 4, tzinfo=BERLIN)
    assert (info.instances[0].start, info.instances[0].end) == (utc(2025, 3, 3, 8), utc(2025, 3, 3, 23))
    # a date start with a date-time end: the end's day (the next day when it ends during one)
    _, calendar, _ = stored(wrap("DTSTART;VALUE=DATE:20250303", "DTEND:20250304T120000Z"))
    assert first(calendar)["DTEND"].dt == dt.date(2025, 3, 5)
    _, calendar, _ = stored(wrap("DTSTART;VALUE=DATE:20250303", "DTEND:20250304T000000"))
    assert first(calendar)["DTEND"].dt == dt.date(2025, 3, 4)
    # floating end, zoned start: the end is read in the start's zone
    _, calendar, _ = stored(wrap("DTSTART;TZID=Europe/Berlin:20250303T090000", "DTEND:20250303T100000",
                                 extra=berlin))
    assert first(calendar)["DTEND"].dt == dt.datetime(2025, 3, 3, 10, tzinfo=BERLIN)
    # EXDATE dates remove that day's instance of a date-time series; RDATE date-times of a date series
    _, _, info = stored(wrap("DTSTART;TZID=Europe/Berlin:20250303T090000", "RRULE:FREQ=DAILY;COUNT=3",
                             "EXDATE;VALUE=DATE:20250304", "RDATE:20250310T150000Z", extra=berlin))
    assert [i.start for i in info.instances] == [utc(2025, 3, 3, 8), utc(2025, 3, 5, 8), utc(2025, 3, 10, 15)]
    _, calendar, info = stored(wrap("DTSTART;VALUE=DATE:20250303", "RRULE:FREQ=DAILY;COUNT=2",
                                    "RDATE:20250310T150000Z", "EXDATE:20250304T000000"))
    assert [i.start for i in info.instances] == [utc(2025, 3, 3), utc(2025, 3, 10)]
    # RECURRENCE-ID takes the master's type: a date means that day's instance
    body = crlf(f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//EN\n{berlin}"
                "BEGIN:VEVENT\nUID:r\nDTSTAMP:20250101T000000Z\nDTSTART;TZID=Europe/Berlin:20250303T090000\n"
                "RRULE:FREQ=DAILY;COUNT=2\nEND:VEVENT\n"
                "BEGIN:VEVENT\nUID:r\nDTSTAMP:20250101T000000Z\nRECURRENCE-ID;VALUE=DATE:20250304\n"
                "DTSTART;TZID=Europe/Berlin:20250304T150000\nSUMMARY:moved\nEND:VEVENT\nEND:VCALENDAR\n")
    out, calendar, info = stored(body)
    assert out.repairs == ["value-types"]
    moved = next(c for c in calendar.walk("VEVENT") if "RECURRENCE-ID" in c)
    assert moved["RECURRENCE-ID"].dt == dt.datetime(2025, 3, 4, 9, tzinfo=BERLIN)
    assert [i.start for i in info.instances] == [utc(2025, 3, 3, 8), utc(2025, 3, 4, 14)]


def test_end_before_start() -> None:
    out, calendar, info = stored(wrap("DTSTART:20250303T090000Z", "DTEND:20250303T080000Z"))
    assert out.repairs == ["end-before-start"] and "DTEND" not in first(calendar)
    assert (info.instances[0].start, info.instances[0].end) == (utc(2025, 3, 3, 9), utc(2025, 3, 3, 9))
    out, calendar, info = stored(wrap("DTSTART:20250303T090000Z", "DUE:20250301T090000Z", name="VTODO"))
    assert out.repairs == ["end-before-start"]
    todo = first(calendar, "VTODO")
    assert "DTSTART" not in todo and todo["DUE"].dt == dt.datetime(2025, 3, 1, 9, tzinfo=UTC)
    with pytest.raises(Rejected):  # a negative DURATION means nothing: still refused
        stored(wrap("DTSTART:20250303T090000Z", "DURATION:-PT1H"))


def test_todo_start_from_due() -> None:
    out, calendar, info = stored(wrap("DUE:20250303T170000Z", "RRULE:FREQ=WEEKLY;COUNT=3", name="VTODO"))
    assert out.repairs == ["todo-start-from-due"]
    assert first(calendar, "VTODO")["DTSTART"].dt == dt.datetime(2025, 3, 3, 17, tzinfo=UTC)
    assert [i.start for i in info.instances] == [utc(2025, 3, 3, 17), utc(2025, 3, 10, 17), utc(2025, 3, 17, 17)]
    single = wrap("DUE:20250303T170000Z", name="VTODO")
    assert ingest.repair(single).repairs == []  # a single VTODO may lack DTSTART (RFC 4791 9.9)
    with pytest.raises(Rejected) as refused:  # nothing to start from
        stored(wrap("SUMMARY:no dates", "RRULE:FREQ=WEEKLY;COUNT=3", name="VTODO"))
    assert "DTSTART" in refused.value.message and "VTODO" in refused.value.message


# --- time zones --------------------------------------------------------------------------

OUTLOOK_ZONE = """BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
"""


def test_windows_zone_names() -> None:
    lines = ('DTSTART;TZID="W. Europe Standard Time":20250703T090000',
             "DTEND;TZID=W. Europe Standard Time:20250703T100000")
    for extra in (OUTLOOK_ZONE, ""):
        out, calendar, info = stored(wrap(*lines, extra=extra))
        assert out.repairs[:1] == ["windows-zone-names"] and "missing-vtimezones" in out.repairs
        assert b"Standard Time" not in out.data
        event = first(calendar)
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        assert event["DTSTART"].dt == dt.datetime(2025, 7, 3, 9, tzinfo=BERLIN)
        assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
        assert (info.instances[0].start, info.instances[0].end) == (utc(2025, 7, 3, 7), utc(2025, 7, 3, 8))
    assert timezones.iana_name("Eastern Standard Time") == "America/New_York"
    assert timezones.iana_name("Office Time") is None  # a custom zone stays as it is defined
    custom = OUTLOOK_ZONE.replace("W. Europe Standard Time", "Office Time")
    out = ingest.repair(wrap("DTSTART;TZID=Office Time:20250703T090000", extra=custom))
    assert out.repairs == []


def test_x_wr_timezone() -> None:
    google = "X-WR-CALNAME:Team\nX-WR-TIMEZONE:America/New_York\n"
    out, calendar, info = stored(wrap("DTSTART:20250303T090000", "DTEND:20250303T100000", extra=google))
    assert out.repairs == ["x-wr-timezone", "missing-vtimezones"]
    event = first(calendar)
    assert event["DTSTART"].dt == dt.datetime(2025, 3, 3, 9, tzinfo=NEW_YORK)
    assert (info.instances[0].start, info.instances[0].flags) == (utc(2025, 3, 3, 14), 0)
    windows = google.replace("America/New_York", "Eastern Standard Time")
    assert stored(wrap("DTSTART:20250303T090000", extra=windows))[2].instances[0].start == utc(2025, 3, 3, 14)
    unknown = ingest.repair(wrap("DTSTART:20250303T090000", extra="X-WR-TIMEZONE:Mars/Olympus\n"))
    assert unknown.repairs == []  # left floating
    again = ingest.repair(out.data)  # the repaired data keeps X-WR-TIMEZONE, and needs no repair
    assert again.repairs == [] and again.data == out.data and b"X-WR-TIMEZONE:America/New_York" in out.data
    dates = ingest.repair(wrap("DTSTART;VALUE=DATE:20250303", extra=google))
    assert dates.repairs == []  # dates stay dates


def test_missing_vtimezones() -> None:
    body = wrap("DTSTART;TZID=America/New_York:20250303T090000", "RDATE;TZID=Asia/Tokyo:20300303T090000")
    out, calendar, info = stored(body)
    assert out.repairs == ["missing-vtimezones"]
    zones = {str(z["TZID"]): z for z in calendar.walk("VTIMEZONE")}
    assert set(zones) == {"America/New_York", "Asia/Tokyo"}
    assert info.instances[0].start == utc(2025, 3, 3, 14)
    # the generated zone covers the object's years: another reader gets the same offsets
    plain = icalendar.Calendar.from_ical(out.data)  # icalendar alone, as another client reads it
    assert plain.walk("VEVENT")[0]["DTSTART"].dt.utcoffset() == dt.timedelta(hours=-5)


def test_generated_time_zones_are_bounded_by_the_budget() -> None:
    names = sorted(zoneinfo.available_timezones() - {"UTC"})[:40]
    rdates = [f"RDATE;TZID={name}:21000303T090000" for name in names]
    body = wrap("DTSTART:20250303T090000Z", *rdates)
    small = Limits(**{**default_limits().__dict__, "instances": 500})
    timezones._cache.clear()  # generated zones are cached per process: start from none
    with pytest.raises(OverBudget):
        ingest.repair(body, Budget(small))
    budget = Budget()
    out = ingest.repair(body, budget)
    assert "missing-vtimezones" in out.repairs and budget.used["instances"] <= 2 * 40 * (2110 - 2025 + 1)
    again = Budget(small)
    ingest.repair(body, again)  # now cached: costs nothing
    assert again.used["instances"] == 0


# --- failures ----------------------------------------------------------------------------


def test_a_rule_that_fails_leaves_the_data_to_validation() -> None:
    @calendar_repair("boom", "Fails.")
    def boom(draft: Draft) -> bool:
        draft.calendar.add("X-HALF", "done")
        raise KeyError("unexpected shape")

    lf = wrap("DTSTART:20250303T090000Z").replace(b"\r\n", b"\n")
    out = ingest.repair(lf, repairs=(REPAIRS[0], boom))
    assert out.repairs == ["line-endings"] and out.calendar is None
    assert b"X-HALF" not in out.data


def test_what_no_rule_interprets_is_refused_saying_what_and_where() -> None:
    with pytest.raises(Rejected) as refused:
        stored(wrap("SUMMARY:no start", "UID:meeting-7"))
    assert refused.value.status == 403 and refused.value.precondition == VALID_DATA
    assert re.search(r"VEVENT.*DTSTART.*meeting-7", refused.value.message)

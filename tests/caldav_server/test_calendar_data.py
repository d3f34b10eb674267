"""CALDAV:calendar-data (RFC 4791 9.6): subsets, expand, limit-recurrence-set, limit-freebusy-set."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import icalendar
import pytest
from dateutil import rrule

from kernel.budget import Budget, OverBudget, default_limits
from plugins.caldav_server.caldav import expansion, icaltext
from plugins.caldav_server.caldav.calendar_data import CalendarDataRequest, parse_calendar_data
from plugins.caldav_server.caldav.query_error import CALDAV, QueryError
from tests.caldav_server.ical_samples import (
    BERLIN_VTIMEZONE,
    component,
    element,
    ics,
    parsed,
    rfc_object,
)

BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC


def request(inner: str = "", **attrs: str) -> CalendarDataRequest:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return parse_calendar_data(element(f"<C:calendar-data{extra}>{inner}</C:calendar-data>"))


def expand(start: str, end: str) -> str:
    return f'<C:expand start="{start}" end="{end}"/>'


def render(req: CalendarDataRequest, data: bytes, tz=None) -> str:
    return req.render(data, parsed(data), tz)


def components(text: str, name: str = "VEVENT") -> list[icalendar.Component]:
    return [c for c in icalendar.Calendar.from_ical(text).subcomponents if c.name == name]


def lines_of(text: str) -> list[str]:
    return text.split("\r\n")[:-1]


def refused(inner: str = "", **attrs: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        request(inner, **attrs)
    return caught.value


# --- the request element -------------------------------------------------------------------------


@pytest.mark.parametrize("req", [
    parse_calendar_data(None),
    request(),
    request('<C:comp name="VCALENDAR"/>'),
    request('<C:comp name="VCALENDAR"><C:allprop/><C:allcomp/></C:comp>'),
    request(content_type="text/calendar; charset=utf-8", version="2.0"),
])
def test_whole_object_requests_pass_the_stored_bytes_through(req):
    assert req.passthrough()
    stored = b"not iCalendar at all \xe2\x9c\x93"  # never parsed: sent as stored
    assert req.render(stored, None, None) == stored.decode()


@pytest.mark.parametrize("inner", [
    '<C:comp name="VCALENDAR"><C:prop name="VERSION"/></C:comp>',
    expand("20060103T000000Z", "20060105T000000Z"),
    '<C:limit-recurrence-set start="20060103T000000Z" end="20060105T000000Z"/>',
    '<C:limit-freebusy-set start="20060103T000000Z" end="20060105T000000Z"/>',
])
def test_partial_requests_do_not_pass_through(inner):
    assert not request(inner).passthrough()


@pytest.mark.parametrize("attrs", [{"content_type": "application/calendar+json"}, {"version": "3.0"}])
def test_unsupported_media_types_are_refused(attrs):
    error = refused(**attrs)
    assert (error.status, error.precondition) == (403, CALDAV + "supported-calendar-data")


def deep_comp(depth: int) -> str:
    inner = ""
    for _ in range(depth - 1):
        inner = f'<C:comp name="X-DEEP">{inner}</C:comp>'
    return f'<C:comp name="VCALENDAR">{inner}</C:comp>'


@pytest.mark.parametrize("inner", [
    '<C:expand start="20060103T000000Z"/>',
    expand("20060103T000000Z", "20060103T000000Z"),
    expand("2006-01-03", "20060105T000000Z"),
    expand("20060103T000000Z", "20060105T000000Z") * 2,
    expand("20060103T000000Z", "20060105T000000Z")
    + '<C:limit-recurrence-set start="20060103T000000Z" end="20060105T000000Z"/>',
    '<C:comp name="VEVENT"/>',
    '<C:comp name="VCALENDAR"><C:allprop/><C:prop name="VERSION"/></C:comp>',
    '<C:comp name="VCALENDAR"><C:allcomp/><C:comp name="VEVENT"/></C:comp>',
    '<C:comp name="VCALENDAR"><C:prop name="VERSION" novalue="maybe"/></C:comp>',
    '<C:comp name="VCALENDAR"><C:comp/></C:comp>',
    deep_comp(40),
])
def test_malformed_requests_are_refused_with_400(inner):
    assert refused(inner).status == 400


# --- RFC 4791 7.8.1: partial retrieval ----------------------------------------------------------------

PARTIAL = (
    '<C:comp name="VCALENDAR"><C:prop name="VERSION"/><C:comp name="VEVENT">'
    '<C:prop name="SUMMARY"/><C:prop name="UID"/><C:prop name="DTSTART"/><C:prop name="DTEND"/>'
    '<C:prop name="DURATION"/><C:prop name="RRULE"/><C:prop name="RDATE"/><C:prop name="EXRULE"/>'
    '<C:prop name="EXDATE"/><C:prop name="RECURRENCE-ID"/></C:comp><C:comp name="VTIMEZONE"/></C:comp>'
)


def test_7_8_1_partial_retrieval():
    text = render(request(PARTIAL), rfc_object("abcd3"))
    lines = lines_of(text)
    assert lines[:3] == ["BEGIN:VCALENDAR", "VERSION:2.0", "BEGIN:VTIMEZONE"]
    assert "PRODID:-//Example Corp.//CalDAV Client//EN" not in lines
    assert "TZNAME:EDT" in lines and "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in lines  # VTIMEZONE whole
    event = lines[lines.index("BEGIN:VEVENT"):]
    assert event == [
        "BEGIN:VEVENT", "DTSTART;TZID=US/Eastern:20060104T100000", "DURATION:PT1H", "SUMMARY:Event #3",
        "UID:DC6C50A017428C5216A2F1CD@example.com", "END:VEVENT", "END:VCALENDAR",
    ]


def test_novalue_keeps_name_and_parameters():
    req = request('<C:comp name="VCALENDAR"><C:comp name="VEVENT"><C:prop name="ATTENDEE" novalue="yes"/>'
                  '<C:prop name="UID"/></C:comp></C:comp>')
    lines = lines_of(render(req, rfc_object("abcd3")))
    assert lines == [
        "BEGIN:VCALENDAR", "BEGIN:VEVENT", "ATTENDEE;PARTSTAT=ACCEPTED;ROLE=CHAIR:",
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:", "UID:DC6C50A017428C5216A2F1CD@example.com", "END:VEVENT",
        "END:VCALENDAR",
    ]


def test_allprop_and_allcomp_inside_a_subset():
    data = ics(component("DTSTART:20240110T100000Z", "SUMMARY:s",
                         children="BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:d\nTRIGGER:-PT5M\nEND:VALARM\n"))
    only_props = request('<C:comp name="VCALENDAR"><C:comp name="VEVENT"><C:allprop/></C:comp></C:comp>')
    assert "BEGIN:VALARM" not in render(only_props, data)
    everything = request('<C:comp name="VCALENDAR"><C:comp name="VEVENT"><C:allprop/><C:allcomp/></C:comp>'
                         "</C:comp>")
    text = render(everything, data)
    assert "BEGIN:VALARM" in text and "SUMMARY:s" in text and "VERSION:2.0" not in text


# --- RFC 4791 7.8.2 and 9.6.6: limit-recurrence-set -------------------------------------------------

EVENT_2_BIS_BIS = (
    "BEGIN:VEVENT\nDTSTAMP:20060206T001121Z\nDTSTART;TZID=US/Eastern:20060106T140000\nDURATION:PT1H\n"
    "RECURRENCE-ID;TZID=US/Eastern:20060106T120000\nSUMMARY:Event #2 bis bis\n"
    "UID:00959BC664CA650E933C892C@example.com\nEND:VEVENT\n"
).replace("\n", "\r\n").encode()


def with_component(data: bytes, extra: bytes) -> bytes:
    return data.replace(b"END:VCALENDAR", extra + b"END:VCALENDAR")


def test_7_8_2_limit_recurrence_set():
    data = with_component(rfc_object("abcd2"), EVENT_2_BIS_BIS)
    text = render(request('<C:limit-recurrence-set start="20060103T000000Z" end="20060105T000000Z"/>'), data)
    events = components(text)
    assert [str(e["SUMMARY"]) for e in events] == ["Event #2", "Event #2 bis"]
    assert "RRULE:FREQ=DAILY;COUNT=5" in text and "BEGIN:VTIMEZONE" in text


def test_limit_recurrence_set_keeps_overrides_moved_out_of_the_range_and_thisandfuture():
    data = ics(
        component("DTSTART:20240101T100000Z", "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT=30", "SUMMARY:master"),
        component("RECURRENCE-ID:20240105T100000Z", "DTSTART:20240120T100000Z", "DURATION:PT1H",
                  "SUMMARY:moved out"),
        component("RECURRENCE-ID:20240110T100000Z", "DTSTART:20240110T100000Z", "DURATION:PT1H",
                  "SUMMARY:outside"),
        component("RECURRENCE-ID;RANGE=THISANDFUTURE:20240102T100000Z", "DTSTART:20240102T120000Z",
                  "DURATION:PT1H", "SUMMARY:from the 2nd on"),
    )
    text = render(request('<C:limit-recurrence-set start="20240105T000000Z" end="20240106T000000Z"/>'), data)
    assert [str(e["SUMMARY"]) for e in components(text)] == ["master", "moved out", "from the 2nd on"]


# --- RFC 4791 7.8.3 and 9.6.5: expand -------------------------------------------------------------------


def test_7_8_3_expanded_recurring_event_field_by_field():
    text = render(request(expand("20060103T000000Z", "20060105T000000Z")), rfc_object("abcd2"))
    assert "VTIMEZONE" not in text and "RRULE" not in text and "TZID" not in text
    lines = lines_of(text)
    assert lines[3:11] == [
        "BEGIN:VEVENT", "DTSTAMP:20060206T001121Z", "DTSTART:20060103T170000Z", "RECURRENCE-ID:20060103T170000Z",
        "DURATION:PT1H", "SUMMARY:Event #2", "UID:00959BC664CA650E933C892C@example.com", "END:VEVENT",
    ]
    first, second = components(text)
    assert first["DTSTART"].dt == dt.datetime(2006, 1, 3, 17, tzinfo=UTC)
    assert second["DTSTART"].dt == dt.datetime(2006, 1, 4, 19, tzinfo=UTC)
    assert second["RECURRENCE-ID"].dt == dt.datetime(2006, 1, 4, 17, tzinfo=UTC)
    assert str(second["SUMMARY"]) == "Event #2 bis"
    assert second["DURATION"].dt == dt.timedelta(hours=1)


def test_7_8_3_expanded_single_event_is_converted_to_utc():
    text = render(request(expand("20060103T000000Z", "20060105T000000Z")), rfc_object("abcd3"))
    (event,) = components(text)
    assert event["DTSTART"].to_ical() == b"20060104T150000Z"
    assert "RECURRENCE-ID" not in event
    assert [str(a) for a in event.get("ATTENDEE")] == ["mailto:cyrus@example.com", "mailto:lisa@example.com"]


def test_expand_drops_what_is_outside_the_range():
    text = render(request(expand("20060110T000000Z", "20060111T000000Z")), rfc_object("abcd3"))
    assert lines_of(text) == ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Example Corp.//CalDAV Client//EN",
                              "END:VCALENDAR"]


def test_expand_in_a_zone_across_daylight_saving_time():
    data = ics(
        component("DTSTART;TZID=Europe/Berlin:20240318T100000", "DTEND;TZID=Europe/Berlin:20240318T110000",
                  "RRULE:FREQ=WEEKLY;UNTIL=20240415T235959Z", "EXDATE;TZID=Europe/Berlin:20240401T100000",
                  "SUMMARY:weekly"),
        component("RECURRENCE-ID;TZID=Europe/Berlin:20240408T100000", "DTSTART;TZID=Europe/Berlin:20240409T160000",
                  "DTEND;TZID=Europe/Berlin:20240409T170000", "SUMMARY:moved"),
        timezone=BERLIN_VTIMEZONE)
    events = components(render(request(expand("20240301T000000Z", "20240501T000000Z")), data))
    got = [(e["DTSTART"].to_ical(), e["DTEND"].to_ical(), e["RECURRENCE-ID"].to_ical(), str(e["SUMMARY"]))
           for e in events]
    assert got == [
        (b"20240318T090000Z", b"20240318T100000Z", b"20240318T090000Z", "weekly"),   # CET
        (b"20240325T090000Z", b"20240325T100000Z", b"20240325T090000Z", "weekly"),   # CET until 31 March
        (b"20240409T140000Z", b"20240409T150000Z", b"20240408T080000Z", "moved"),
        (b"20240415T080000Z", b"20240415T090000Z", b"20240415T080000Z", "weekly"),   # CEST
    ]


def test_expand_keeps_dates_and_floating_times():
    all_day = ics(component("DTSTART;VALUE=DATE:20270201", "RRULE:FREQ=MONTHLY", "SUMMARY:day"))
    (event,) = components(render(request(expand("20270301T000000Z", "20270302T000000Z")), all_day))
    assert event["DTSTART"].to_ical() == b"20270301" and event["RECURRENCE-ID"].to_ical() == b"20270301"
    floating = ics(component("DTSTART:20240101T090000", "DURATION:PT1H", "RRULE:FREQ=DAILY"))
    req = request(expand("20240701T070000Z", "20240701T070001Z"))
    (event,) = components(req.render(floating, parsed(floating), BERLIN))
    assert event["DTSTART"].to_ical() == b"20240701T090000"  # chosen as 07:00Z in Berlin, written as stored
    assert components(req.render(floating, parsed(floating), None)) == []


def test_expand_writes_the_end_when_an_instance_has_another_length():
    data = ics(component("DTSTART:20240101T100000Z", "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT=2",
                         "RDATE;VALUE=PERIOD:20240105T100000Z/PT3H"))
    events = components(render(request(expand("20240101T000000Z", "20240110T000000Z")), data))
    assert [e["DURATION"].dt if "DURATION" in e else e["DTEND"].dt for e in events] == [
        dt.timedelta(hours=1), dt.timedelta(hours=1), dt.datetime(2024, 1, 5, 13, tzinfo=UTC)]


def test_expand_recurring_todo():
    data = ics(component("DTSTART:20270112T120000Z", "DUE:20270112T130000Z", "RRULE:FREQ=MONTHLY",
                         "STATUS:NEEDS-ACTION", name="VTODO"))
    (todo,) = components(render(request(expand("20270212T000000Z", "20270213T000000Z")), data), "VTODO")
    assert todo["DTSTART"].dt == dt.datetime(2027, 2, 12, 12, tzinfo=UTC)
    assert todo["DUE"].dt == dt.datetime(2027, 2, 12, 13, tzinfo=UTC)
    assert todo["RECURRENCE-ID"].dt == dt.datetime(2027, 2, 12, 12, tzinfo=UTC)


def test_expand_keeps_alarms_and_other_zoned_times_in_utc():
    data = ics(component("DTSTART;TZID=Europe/Berlin:20240101T100000", "DURATION:PT1H", "RRULE:FREQ=DAILY",
                         "X-ORIGINAL;TZID=Europe/Berlin:20231231T100000",
                         children="BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:x\nTRIGGER:-PT5M\nEND:VALARM\n"),
               timezone=BERLIN_VTIMEZONE)
    (event,) = components(render(request(expand("20240102T000000Z", "20240103T000000Z")), data))
    assert event.subcomponents[0]["TRIGGER"].to_ical() == b"-PT5M"
    assert event["X-ORIGINAL"].to_ical() == b"20231231T090000Z"


def test_expand_then_subset():
    req = request('<C:comp name="VCALENDAR"><C:comp name="VEVENT"><C:prop name="DTSTART"/>'
                  '<C:prop name="RECURRENCE-ID"/></C:comp></C:comp>' + expand("20060103T000000Z", "20060105T000000Z"))
    assert lines_of(render(req, rfc_object("abcd2"))) == [
        "BEGIN:VCALENDAR",
        "BEGIN:VEVENT", "DTSTART:20060103T170000Z", "RECURRENCE-ID:20060103T170000Z", "END:VEVENT",
        "BEGIN:VEVENT", "DTSTART:20060104T190000Z", "RECURRENCE-ID:20060104T170000Z", "END:VEVENT",
        "END:VCALENDAR",
    ]


def test_render_parses_when_the_caller_did_not():
    req = request(expand("20060103T000000Z", "20060105T000000Z"))
    data = rfc_object("abcd2")
    assert req.render(data, None, None) == req.render(data, parsed(data), None)


def test_caldav_server_tester_expansions():
    base = 2027
    monthly = ics(component(f"DTSTART:{base}0112T120000Z", f"DTEND:{base}0112T130000Z", "RRULE:FREQ=MONTHLY"))
    events = components(render(request(expand(f"{base}0212T000000Z", f"{base}0213T000000Z")), monthly))
    assert [e["DTSTART"].dt for e in events] == [dt.datetime(base, 2, 12, 12, tzinfo=UTC)]
    exception = ics(
        component(f"DTSTART:{base}0114T120000Z", f"DTEND:{base}0114T130000Z", "SEQUENCE:1", "RRULE:FREQ=MONTHLY",
                  "SUMMARY:Monthly recurring with exception (seq)"),
        component(f"RECURRENCE-ID:{base}0214T120000Z", f"DTSTART:{base}0214T120000Z", f"DTEND:{base}0214T130000Z",
                  "SEQUENCE:1", "SUMMARY:February recurrence with different summary (seq)"))
    (event,) = components(render(request(expand(f"{base}0214T110000Z", f"{base}0214T130000Z")), exception))
    assert str(event["SUMMARY"]) == "February recurrence with different summary (seq)"
    assert event["RECURRENCE-ID"].dt == dt.datetime(base, 2, 14, 12, tzinfo=UTC)


# --- expand against an independent expansion -----------------------------------------------------------


def generated(seed: int) -> tuple[bytes, list[dt.datetime]]:
    """A weekly or daily series (Berlin or UTC, COUNT or UNTIL, maybe EXDATE and an override) and its
    instance starts in UTC, computed with dateutil alone."""
    rng = random.Random(seed)
    zone = rng.choice([BERLIN, UTC])
    start = dt.datetime(2024, 1, 1, rng.randint(7, 19), rng.choice([0, 15, 30, 45]), tzinfo=zone)
    start += dt.timedelta(days=rng.randrange(300))
    freq, step = rng.choice([(rrule.WEEKLY, "WEEKLY"), (rrule.DAILY, "DAILY")])
    minutes = rng.choice([15, 30, 60, 90])

    def fmt(prop: str, value: dt.datetime) -> str:
        if zone is UTC:
            return f"{prop}:{value:%Y%m%dT%H%M%S}Z"
        return f"{prop};TZID=Europe/Berlin:{value:%Y%m%dT%H%M%S}"

    lines = [fmt("DTSTART", start), fmt("DTEND", start + dt.timedelta(minutes=minutes))]
    if rng.random() < 0.5:
        count = rng.randint(3, 25)
        wall = list(rrule.rrule(freq, dtstart=start.replace(tzinfo=None), count=count))
        lines.append(f"RRULE:FREQ={step};COUNT={count}")
    else:
        until = (start + dt.timedelta(days=rng.randint(3, 120))).astimezone(UTC).replace(hour=23, minute=59, second=59)
        wall = [w for w in rrule.rrule(freq, dtstart=start.replace(tzinfo=None), until=until.replace(tzinfo=None)
                                       + dt.timedelta(days=1))
                if w.replace(tzinfo=zone) <= until]
        lines.append(f"RRULE:FREQ={step};UNTIL={until:%Y%m%dT%H%M%S}Z")
    starts = [w.replace(tzinfo=zone) for w in wall]
    extra = ""
    if len(starts) > 3 and rng.random() < 0.5:
        lines.append(fmt("EXDATE", starts[1]))
        starts.pop(1)
    if len(starts) > 3 and rng.random() < 0.5:
        moved = starts[2] + dt.timedelta(days=1, hours=2)
        extra = component(fmt("RECURRENCE-ID", starts[2]), fmt("DTSTART", moved),
                          fmt("DTEND", moved + dt.timedelta(minutes=minutes)), uid=f"gen-{seed}")
        starts[2] = moved
    data = ics(component(*lines, uid=f"gen-{seed}") + extra, timezone=BERLIN_VTIMEZONE if zone is BERLIN else "")
    return data, sorted(s.astimezone(UTC) for s in starts)


@pytest.mark.parametrize("seed", range(40))
def test_expand_agrees_with_an_independent_expansion(seed):
    data, starts = generated(seed)
    rng = random.Random(1000 + seed)
    week_start = starts[0] + dt.timedelta(days=rng.randint(-3, 40), hours=rng.randint(0, 23))
    week_end = week_start + dt.timedelta(days=7)
    req = request(expand(f"{week_start:%Y%m%dT%H%M%SZ}", f"{week_end:%Y%m%dT%H%M%SZ}"))
    events = components(render(req, data))
    found = sorted(e["DTSTART"].dt for e in events)
    duration = components(data.decode())[0]["DTEND"].dt - components(data.decode())[0]["DTSTART"].dt
    assert found == [s for s in starts if s < week_end and s + duration > week_start]


# --- limit-freebusy-set (7.8.4) -------------------------------------------------------------------------


def test_7_8_4_limit_freebusy_set():
    req = request('<C:limit-freebusy-set start="20060102T000000Z" end="20060103T000000Z"/>')
    lines = lines_of(render(req, rfc_object("abcd8")))
    assert [line for line in lines if line.startswith("FREEBUSY")] == [
        "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20060102T100000Z/20060102T120000Z"]
    assert "DTSTART:20060101T000000Z" in lines


def test_limit_freebusy_set_cuts_inside_one_property():
    data = ics(component("DTSTART:20240101T000000Z", "DTEND:20240108T000000Z",
                         "FREEBUSY:20240101T100000Z/PT1H,20240102T100000Z/PT1H,20240103T100000Z/20240103T120000Z",
                         name="VFREEBUSY"))
    req = request('<C:limit-freebusy-set start="20240102T103000Z" end="20240103T100000Z"/>')
    assert [line for line in lines_of(render(req, data)) if line.startswith("FREEBUSY")] == [
        "FREEBUSY:20240102T100000Z/PT1H"]


# --- hostile and unusual data ------------------------------------------------------------------------------

SECONDLY = ics(component("DTSTART:20240101T000000Z", "DURATION:PT1S", "RRULE:FREQ=SECONDLY"))


def test_expanding_a_secondly_rule_over_a_year_is_refused():
    with pytest.raises(QueryError) as caught:
        render(request(expand("20250101T000000Z", "20260101T000000Z")), SECONDLY)
    assert (caught.value.status, caught.value.precondition) == (403, CALDAV + "max-instances")


def test_expanding_a_secondly_rule_over_minutes_far_away_answers_every_instance(monkeypatch):
    text = render(request(expand("20540301T000000Z", "20540301T001000Z")), SECONDLY)
    starts = [e["DTSTART"].dt for e in components(text)]
    assert len(starts) == 600
    assert starts[0] == dt.datetime(2054, 3, 1, tzinfo=UTC) and starts[-1] == dt.datetime(2054, 3, 1, 0, 9, 59,
                                                                                            tzinfo=UTC)
    monkeypatch.setattr(expansion, "MAX_INSTANCES", 599)
    with pytest.raises(QueryError):
        render(request(expand("20540301T000000Z", "20540301T001000Z")), SECONDLY)


def test_expand_spends_the_request_budget_and_stops_past_it():
    req = request(expand("20540301T000000Z", "20540301T001000Z"))
    budget = Budget()
    text = req.render(SECONDLY, parsed(SECONDLY), budget=budget)
    assert len(components(text)) == 600
    assert budget.used == {"instances": budget.used["instances"], "nodes": 600, "bytes": len(text)}
    assert 600 <= budget.used["instances"] < 1000
    small = Budget(dataclasses.replace(default_limits(), instances=300))
    with pytest.raises(OverBudget) as caught:
        req.render(SECONDLY, parsed(SECONDLY), budget=small)
    assert (caught.value.status, caught.value.counter) == (507, "instances")
    assert small.used["instances"] <= 300 + 1


def test_long_lines_are_folded_at_75_octets_without_splitting_characters():
    summary = "Überlänge " * 20
    data = ics(component("DTSTART:20240110T100000Z", f"SUMMARY:{summary}"))
    text = render(request(expand("20240101T000000Z", "20240201T000000Z")), data)
    physical = text.split("\r\n")
    assert all(len(line.encode()) <= 75 for line in physical)
    assert str(components(text)[0]["SUMMARY"]) == summary


def test_lf_only_data_and_raw_tree_round_trip():
    data = ics(component("DTSTART:20240110T100000Z", "SUMMARY:x")).replace(b"\r\n", b"\n")
    tree = icaltext.parse(data)
    assert [c.name for c in tree.children] == ["VEVENT"]
    assert icaltext.serialize(tree) == data.decode().replace("\n", "\r\n")
    text = render(request('<C:comp name="VCALENDAR"><C:comp name="VEVENT"><C:prop name="SUMMARY"/></C:comp>'
                          "</C:comp>"), data)
    assert text == "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"


def test_quoted_parameter_with_colon_and_novalue():
    data = ics(component("DTSTART:20240110T100000Z", 'ATTENDEE;CN="Doe: John";ROLE=CHAIR:mailto:j@example.com'))
    req = request('<C:comp name="VCALENDAR"><C:comp name="VEVENT"><C:prop name="ATTENDEE" novalue="yes"/></C:comp>'
                  "</C:comp>")
    assert 'ATTENDEE;CN="Doe: John";ROLE=CHAIR:' in lines_of(render(req, data))


def test_expand_with_a_custom_vtimezone_and_a_second_zone():
    custom = BERLIN_VTIMEZONE.replace("TZID:Europe/Berlin", "TZID:Office Time")
    data = ics(component("DTSTART;TZID=Office Time:20240701T100000", "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT=3",
                         "X-CALL;TZID=America/New_York:20240701T100000"), timezone=custom)
    events = components(render(request(expand("20240702T000000Z", "20240704T000000Z")), data))
    assert [e["DTSTART"].to_ical() for e in events] == [b"20240702T080000Z", b"20240703T080000Z"]
    assert {e["X-CALL"].to_ical() for e in events} == {b"20240701T140000Z"}


def test_threads_share_parsed_objects_and_series_safely():
    data = ics(component("DTSTART;TZID=Europe/Berlin:20240101T090000", "DURATION:PT1H", "RRULE:FREQ=DAILY",
                         "EXDATE;TZID=Europe/Berlin:20240301T090000"), timezone=BERLIN_VTIMEZONE)
    requests = [request(expand(f"2024{month:02d}01T000000Z", f"2024{month:02d}08T000000Z")) for month in range(1, 13)]
    expected = [req.render(data, None, None) for req in requests]

    def work(offset: int) -> list[str]:
        order = requests[offset:] + requests[:offset]
        return [req.render(data, None, None) for req in order for _ in range(3)][::3]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    for offset, got in enumerate(results):
        assert got == expected[offset:] + expected[:offset]

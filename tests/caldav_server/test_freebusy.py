"""free-busy-query answers (RFC 4791 7.10)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import icalendar
import pytest

from kernel.budget import Budget, OverBudget
from plugins.caldav_server.caldav.freebusy import coalesce, free_busy
from tests.caldav_server.ical_samples import BERLIN_VTIMEZONE, component, ics, parsed, rfc_objects, ts

BERLIN = ZoneInfo("Europe/Berlin")


def busy(text: str) -> list[str]:
    """The FREEBUSY lines of an answer."""
    return [line for line in text.split("\r\n") if line.startswith("FREEBUSY")]


def answer(*objects: bytes, start: int, end: int, tz=None) -> str:
    return free_busy([parsed(o) for o in objects], start, end, tz)


def test_7_10_1_example():
    # The example's range is 9:00 to 17:00 EST on January 4 (its end attribute has a typo).
    text = free_busy(rfc_objects().values(), ts(2006, 1, 4, 14), ts(2006, 1, 4, 22), None)
    assert busy(text) == [
        "FREEBUSY;FBTYPE=BUSY:20060104T190000Z/20060104T200000Z",
        "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20060104T150000Z/20060104T160000Z",
    ]
    lines = text.split("\r\n")
    assert lines[:4] == ["BEGIN:VCALENDAR", "VERSION:2.0", lines[2], "BEGIN:VFREEBUSY"]
    assert "DTSTART:20060104T140000Z" in lines and "DTEND:20060104T220000Z" in lines
    assert any(line.startswith("DTSTAMP:") and line.endswith("Z") for line in lines)
    (component_,) = icalendar.Calendar.from_ical(text).subcomponents
    assert component_.name == "VFREEBUSY"


def test_the_whole_appendix_b_week():
    text = free_busy(rfc_objects().values(), ts(2006, 1, 1), ts(2006, 1, 8), None)
    assert busy(text) == [
        "FREEBUSY;FBTYPE=BUSY:20060102T150000Z/20060102T160000Z",   # Event #1
        "FREEBUSY;FBTYPE=BUSY:20060102T170000Z/20060102T180000Z",   # Event #2, daily
        "FREEBUSY;FBTYPE=BUSY:20060103T100000Z/20060103T120000Z",   # stored VFREEBUSY
        "FREEBUSY;FBTYPE=BUSY:20060103T170000Z/20060103T180000Z",
        "FREEBUSY;FBTYPE=BUSY:20060104T100000Z/20060104T120000Z",
        "FREEBUSY;FBTYPE=BUSY:20060104T190000Z/20060104T200000Z",   # Event #2 bis
        "FREEBUSY;FBTYPE=BUSY:20060105T170000Z/20060105T180000Z",
        "FREEBUSY;FBTYPE=BUSY:20060106T100000Z/20060106T120000Z",
        "FREEBUSY;FBTYPE=BUSY:20060106T170000Z/20060106T180000Z",
        "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20060105T100000Z/20060105T120000Z",
        "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20060102T100000Z/20060102T120000Z",
        "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20060104T150000Z/20060104T160000Z",  # Event #3
    ]


@pytest.mark.parametrize(("lines", "expected"), [
    ([], "BUSY"),
    (["STATUS:CONFIRMED"], "BUSY"),
    (["STATUS:TENTATIVE"], "BUSY-TENTATIVE"),
    (["STATUS:X-MAYBE"], "BUSY"),
    (["STATUS:CANCELLED"], None),
    (["TRANSP:TRANSPARENT"], None),
    (["TRANSP:TRANSPARENT", "STATUS:TENTATIVE"], None),
    (["TRANSP:OPAQUE", "STATUS:TENTATIVE"], "BUSY-TENTATIVE"),
])
def test_fbtype_from_status_and_transp(lines, expected):
    data = ics(component("DTSTART:20240110T100000Z", "DTEND:20240110T110000Z", *lines))
    expected_lines = [] if expected is None else [f"FREEBUSY;FBTYPE={expected}:20240110T100000Z/20240110T110000Z"]
    assert busy(answer(data, start=ts(2024, 1, 10), end=ts(2024, 1, 11))) == expected_lines


def test_overlapping_and_touching_periods_of_one_type_are_merged():
    a = ics(component("DTSTART:20240110T100000Z", "DTEND:20240110T110000Z", uid="a"))
    b = ics(component("DTSTART:20240110T103000Z", "DTEND:20240110T113000Z", uid="b"))
    c = ics(component("DTSTART:20240110T113000Z", "DTEND:20240110T120000Z", uid="c"))
    d = ics(component("DTSTART:20240110T110000Z", "DTEND:20240110T130000Z", "STATUS:TENTATIVE", uid="d"))
    e = ics(component("DTSTART:20240110T150000Z", "DTEND:20240110T160000Z", uid="e"))
    assert busy(answer(a, b, c, d, e, start=ts(2024, 1, 10), end=ts(2024, 1, 11))) == [
        "FREEBUSY;FBTYPE=BUSY:20240110T100000Z/20240110T120000Z",
        "FREEBUSY;FBTYPE=BUSY:20240110T150000Z/20240110T160000Z",
        "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20240110T110000Z/20240110T130000Z",
    ]


def test_coalesce():
    assert coalesce([(5, 6), (1, 3), (2, 4), (4, 5), (8, 9)]) == [(1, 6), (8, 9)]
    assert coalesce([]) == []


def test_periods_are_cut_to_the_range():
    data = ics(component("DTSTART:20240110T100000Z", "DTEND:20240112T100000Z"))
    assert busy(answer(data, start=ts(2024, 1, 11), end=ts(2024, 1, 11, 12))) == [
        "FREEBUSY;FBTYPE=BUSY:20240111T000000Z/20240111T120000Z"]


def test_stored_vfreebusy_periods_keep_their_type_and_free_is_left_out():
    data = ics(component(
        "DTSTART:20240101T000000Z", "DTEND:20240108T000000Z",
        "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20240102T080000Z/PT2H,20240103T080000Z/PT2H",
        "FREEBUSY;FBTYPE=FREE:20240102T120000Z/PT2H", "FREEBUSY:20240104T235000Z/PT20M", name="VFREEBUSY"))
    assert busy(answer(data, start=ts(2024, 1, 2), end=ts(2024, 1, 5))) == [
        "FREEBUSY;FBTYPE=BUSY:20240104T235000Z/20240105T000000Z",
        "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20240102T080000Z/20240102T100000Z",
        "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20240103T080000Z/20240103T100000Z",
    ]


def test_recurring_event_with_a_cancelled_and_a_tentative_instance():
    data = ics(
        component("DTSTART;TZID=Europe/Berlin:20240108T090000", "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT=5"),
        component("RECURRENCE-ID;TZID=Europe/Berlin:20240109T090000", "DTSTART;TZID=Europe/Berlin:20240109T090000",
                  "DURATION:PT1H", "STATUS:CANCELLED"),
        component("RECURRENCE-ID;TZID=Europe/Berlin:20240110T090000", "DTSTART;TZID=Europe/Berlin:20240110T140000",
                  "DURATION:PT1H", "STATUS:TENTATIVE"),
        timezone=BERLIN_VTIMEZONE)
    assert busy(answer(data, start=ts(2024, 1, 8), end=ts(2024, 1, 11))) == [
        "FREEBUSY;FBTYPE=BUSY:20240108T080000Z/20240108T090000Z",
        "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20240110T130000Z/20240110T140000Z",
    ]


def test_todos_journals_and_zero_length_events_are_free():
    todo = ics(component("DTSTART:20240110T100000Z", "DUE:20240110T120000Z", name="VTODO", uid="t"))
    journal = ics(component("DTSTART:20240110T100000Z", name="VJOURNAL", uid="j"))
    instant = ics(component("DTSTART:20240110T100000Z", uid="e"))
    text = answer(todo, journal, instant, start=ts(2024, 1, 10), end=ts(2024, 1, 11))
    assert busy(text) == []
    assert "BEGIN:VFREEBUSY" in text and "END:VFREEBUSY" in text


def test_floating_and_all_day_events_are_read_in_the_calendar_zone():
    floating = ics(component("DTSTART:20240701T100000", "DTEND:20240701T110000", uid="f"))
    all_day = ics(component("DTSTART;VALUE=DATE:20240702", "DTEND;VALUE=DATE:20240703", uid="d"))
    text = answer(floating, all_day, start=ts(2024, 7, 1), end=ts(2024, 7, 4), tz=BERLIN)
    assert busy(text) == [
        "FREEBUSY;FBTYPE=BUSY:20240701T080000Z/20240701T090000Z",
        "FREEBUSY;FBTYPE=BUSY:20240701T220000Z/20240702T220000Z",
    ]


def test_no_objects():
    assert busy(free_busy([], ts(2024, 1, 1), ts(2024, 1, 2))) == []


def test_secondly_rule_without_end_is_bounded_by_the_request_budget():
    data = ics(component("DTSTART:20240101T000000Z", "DURATION:PT1S", "RRULE:FREQ=SECONDLY"))
    budget = Budget()
    one_hour = busy(free_busy([parsed(data)], ts(2054, 3, 1), ts(2054, 3, 1, 1), None, budget))
    assert one_hour == ["FREEBUSY;FBTYPE=BUSY:20540301T000000Z/20540301T010000Z"]
    assert 3600 <= budget.used["instances"] < 3700
    # a week holds more instances than a request may examine: refused, never cut short
    budget = Budget()
    with pytest.raises(OverBudget) as caught:
        free_busy([parsed(data)], ts(2054, 3, 1), ts(2054, 3, 8), None, budget)
    assert caught.value.status == 507 and "budget_instances" in caught.value.message
    assert budget.used["instances"] == budget.limits.instances + 1

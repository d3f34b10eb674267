"""kernel.ical: validation, RFC 4791 9.9 index rows, on-the-fly time-range checks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from kernel.budget import Budget, default_limits
from kernel.ical import CALDAV, floating_to_utc, occurs_in, overlaps, parse_object
from kernel.types import (
    FLOATING,
    INCLUSIVE_END,
    INCLUSIVE_START,
    NEG_INF,
    POS_INF,
    Instance,
    Rejected,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR, DAY = 3600, 86400
BOTH = INCLUSIVE_START | INCLUSIVE_END


def utc(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


def wall(*args: int) -> int:
    """A floating time as the index stores it: wall clock read as UTC."""
    return utc(*args)


def calendar(*components: str, head: str = "") -> bytes:
    body = "".join(components)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//teamcal//tests//EN\r\n"
        f"{head}{body}END:VCALENDAR\r\n"
    ).encode()


def component(*lines: str, name: str = "VEVENT", uid: str = "uid-1") -> str:
    props = "".join(f"{line}\r\n" for line in lines)
    return f"BEGIN:{name}\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n{props}END:{name}\r\n"


def event(*lines: str, **kw: str) -> bytes:
    return calendar(component(*lines, **kw))


def todo(*lines: str) -> bytes:
    return calendar(component(*lines, name="VTODO"))


def index(data: bytes, **kw):
    return parse_object(data, **kw)[1]


def rows(data: bytes, **kw) -> list[tuple[int, int, int]]:
    return [(i.start, i.end, i.flags) for i in index(data, **kw).instances]


def matches(data: bytes, start: int | None, end: int | None, tz=None, **kw) -> bool:
    """What a time-range query answers: the index, then occurs_in past indexed_until."""
    cal, info = parse_object(data, **kw)
    if any(overlaps(i, start, end, tz) for i in info.instances):
        return True
    until = info.indexed_until
    if until is not None and (end is None or end >= until):
        return occurs_in(cal, start, end, tz, after=until)
    return False


def rejected(data: bytes, precondition: str, **kw) -> Rejected:
    with pytest.raises(Rejected) as caught:
        parse_object(data, **kw)
    assert caught.value.status == 403
    assert caught.value.precondition == CALDAV + precondition, caught.value.message
    assert caught.value.message
    return caught.value


# --- ObjectInfo -----------------------------------------------------------------


def test_single_event_in_a_zone():
    cal, info = parse_object(event(
        "DTSTART;TZID=Europe/Berlin:20240105T100000",
        "DTEND;TZID=Europe/Berlin:20240105T113000",
        "ATTENDEE:mailto:a@example.com",
        "ATTENDEE:mailto:b@example.com",
    ))
    assert cal.name == "VCALENDAR"
    assert info.uid == "uid-1"
    assert info.component == "VEVENT"
    assert info.instances == (Instance(utc(2024, 1, 5, 9), utc(2024, 1, 5, 10, 30), 0, None),)
    assert info.indexed_until is None
    assert (info.recurring, info.unbounded, info.max_attendees) == (False, False, 2)


def test_object_info_of_a_recurring_object():
    info = index(calendar(
        component("DTSTART:20240105T100000Z", "RRULE:FREQ=DAILY", "ATTENDEE:mailto:a@x"),
        component("RECURRENCE-ID:20240106T100000Z", "DTSTART:20240106T120000Z",
                  *[f"ATTENDEE:mailto:{n}@x" for n in range(3)]),
    ))
    assert (info.recurring, info.unbounded, info.max_attendees) == (True, True, 3)
    assert index(event("DTSTART:20240105T100000Z", "RRULE:FREQ=DAILY;COUNT=2")).unbounded is False
    assert index(event("DTSTART:20240105T100000Z", "RRULE:FREQ=DAILY;UNTIL=20240110T000000Z")).unbounded is False
    assert index(event("DTSTART:20240105T100000Z", "RDATE:20240107T100000Z")).recurring is True


def test_bom_is_tolerated():
    assert index(b"\xef\xbb\xbf" + event("DTSTART:20240105T100000Z")).uid == "uid-1"


def test_vfreebusy_has_no_instances():
    info = index(calendar(component(
        "DTSTART:20240105T000000Z", "DTEND:20240106T000000Z",
        "FREEBUSY:20240105T100000Z/20240105T110000Z", name="VFREEBUSY")))
    assert (info.component, info.instances, info.indexed_until) == ("VFREEBUSY", (), None)


# --- VEVENT rows ---------------------------------------------------------------


@pytest.mark.parametrize("lines, expected", [
    (["DTSTART:20240105T100000Z", "DTEND:20240105T110000Z"], (utc(2024, 1, 5, 10), utc(2024, 1, 5, 11), 0)),
    (["DTSTART:20240105T100000Z", "DURATION:PT90M"], (utc(2024, 1, 5, 10), utc(2024, 1, 5, 11, 30), 0)),
    (["DTSTART:20240105T100000Z"], (utc(2024, 1, 5, 10), utc(2024, 1, 5, 10), INCLUSIVE_END)),
    (["DTSTART:20240105T100000Z", "DTEND:20240105T100000Z"], (utc(2024, 1, 5, 10), utc(2024, 1, 5, 10), INCLUSIVE_END)),
    (["DTSTART:20240105T100000Z", "DURATION:PT0S"], (utc(2024, 1, 5, 10), utc(2024, 1, 5, 10), INCLUSIVE_END)),
    (["DTSTART;VALUE=DATE:20240105"], (wall(2024, 1, 5), wall(2024, 1, 6), FLOATING)),
    (["DTSTART;VALUE=DATE:20240105", "DTEND;VALUE=DATE:20240108"], (wall(2024, 1, 5), wall(2024, 1, 8), FLOATING)),
    (["DTSTART;VALUE=DATE:20240105", "DURATION:P2D"], (wall(2024, 1, 5), wall(2024, 1, 7), FLOATING)),
    (["DTSTART:20240105T100000", "DTEND:20240105T120000"], (wall(2024, 1, 5, 10), wall(2024, 1, 5, 12), FLOATING)),
])
def test_vevent_rows(lines, expected):
    assert rows(event(*lines)) == [expected]


def test_zero_duration_event_matches_a_range_starting_at_it():
    data = event("DTSTART:20240105T100000Z")
    assert matches(data, utc(2024, 1, 5, 10), utc(2024, 1, 5, 11))
    assert matches(data, utc(2024, 1, 5, 9), utc(2024, 1, 5, 10, 0, 1))
    assert not matches(data, utc(2024, 1, 5, 9), utc(2024, 1, 5, 10))
    assert not matches(data, utc(2024, 1, 5, 10, 0, 1), utc(2024, 1, 5, 11))


def test_event_end_is_exclusive():
    data = event("DTSTART:20240105T100000Z", "DTEND:20240105T110000Z")
    assert not matches(data, utc(2024, 1, 5, 11), utc(2024, 1, 5, 12))
    assert not matches(data, utc(2024, 1, 5, 9), utc(2024, 1, 5, 10))
    assert matches(data, utc(2024, 1, 5, 10, 59), None)
    assert matches(data, None, utc(2024, 1, 5, 10, 0, 1))


def test_all_day_event_follows_the_query_zone():
    data = event("DTSTART;VALUE=DATE:20240105")
    # 2024-01-05 in Berlin is 2024-01-04T23:00Z .. 2024-01-05T23:00Z
    assert matches(data, utc(2024, 1, 4, 23), utc(2024, 1, 4, 23, 30), BERLIN)
    assert not matches(data, utc(2024, 1, 4, 23), utc(2024, 1, 4, 23, 30))
    assert not matches(data, utc(2024, 1, 5, 23), utc(2024, 1, 6), BERLIN)
    assert matches(data, utc(2024, 1, 5, 23), utc(2024, 1, 6))


def test_floating_event_follows_the_query_zone():
    data = event("DTSTART:20240705T100000", "DTEND:20240705T110000")
    assert matches(data, utc(2024, 7, 5, 14), utc(2024, 7, 5, 15), NEW_YORK)  # 10:00 EDT
    assert not matches(data, utc(2024, 7, 5, 10), utc(2024, 7, 5, 11), NEW_YORK)
    assert matches(data, utc(2024, 7, 5, 10), utc(2024, 7, 5, 11))


# --- VTODO rows (RFC 4791 9.9, one by one) --------------------------------------


@pytest.mark.parametrize("lines, expected", [
    # DTSTART + DURATION
    (["DTSTART:20240105T100000Z", "DURATION:PT1H"], (utc(2024, 1, 5, 10), utc(2024, 1, 5, 11), INCLUSIVE_END)),
    (["DTSTART:20240105T100000Z", "DURATION:PT0S"], (utc(2024, 1, 5, 10), utc(2024, 1, 5, 10), BOTH)),
    # DTSTART + DUE
    (["DTSTART:20240105T100000Z", "DUE:20240105T120000Z"], (utc(2024, 1, 5, 10), utc(2024, 1, 5, 12), 0)),
    (["DTSTART:20240105T100000Z", "DUE:20240105T100000Z"], (utc(2024, 1, 5, 10), utc(2024, 1, 5, 10), BOTH)),
    # DTSTART only
    (["DTSTART:20240105T100000Z"], (utc(2024, 1, 5, 10), utc(2024, 1, 5, 10), INCLUSIVE_END)),
    # DUE only
    (["DUE:20240105T100000Z"], (utc(2024, 1, 5, 10), utc(2024, 1, 5, 10), INCLUSIVE_START)),
    # COMPLETED and CREATED
    (["COMPLETED:20240105T100000Z", "CREATED:20240101T080000Z"], (utc(2024, 1, 1, 8), utc(2024, 1, 5, 10), BOTH)),
    # COMPLETED only
    (["COMPLETED:20240105T100000Z"], (utc(2024, 1, 5, 10), utc(2024, 1, 5, 10), BOTH)),
    # CREATED only
    (["CREATED:20240101T080000Z"], (utc(2024, 1, 1, 8), POS_INF, 0)),
    # none
    ([], (NEG_INF, POS_INF, 0)),
    # DTSTART as DATE without DUE: the row for DTSTART only, in wall-clock time
    (["DTSTART;VALUE=DATE:20240105"], (wall(2024, 1, 5), wall(2024, 1, 5), FLOATING | INCLUSIVE_END)),
])
def test_vtodo_rows(lines, expected):
    assert rows(todo(*lines)) == [expected]


def test_vtodo_row_semantics():
    due_only = todo("DUE:20240105T100000Z")
    assert matches(due_only, utc(2024, 1, 5, 9), utc(2024, 1, 5, 10))  # end >= DUE
    assert not matches(due_only, utc(2024, 1, 5, 10), utc(2024, 1, 5, 11))  # start < DUE fails
    start_only = todo("DTSTART:20240105T100000Z")
    assert matches(start_only, utc(2024, 1, 5, 10), utc(2024, 1, 5, 11))
    assert not matches(start_only, utc(2024, 1, 5, 9), utc(2024, 1, 5, 10))
    created = todo("CREATED:20240101T080000Z")
    assert matches(created, utc(2030, 1, 1), utc(2030, 1, 2))
    assert not matches(created, utc(2023, 1, 1), utc(2024, 1, 1, 8))
    assert matches(todo(), utc(1990, 1, 1), utc(1990, 1, 2))
    assert matches(todo(), None, None)


# --- VJOURNAL ---------------------------------------------------------------------


def test_vjournal_rows():
    journal = lambda *lines: calendar(component(*lines, name="VJOURNAL"))  # noqa: E731
    assert rows(journal("DTSTART:20240105T100000Z")) == [(utc(2024, 1, 5, 10), utc(2024, 1, 5, 10), INCLUSIVE_END)]
    assert rows(journal("DTSTART;VALUE=DATE:20240105")) == [(wall(2024, 1, 5), wall(2024, 1, 6), FLOATING)]
    assert rows(journal("SUMMARY:no date")) == []
    assert not matches(journal("SUMMARY:no date"), None, None)
    assert rows(journal("DTSTART;VALUE=DATE:20240105", "RRULE:FREQ=YEARLY;COUNT=2")) == [
        (wall(2024, 1, 5), wall(2024, 1, 6), FLOATING),
        (wall(2025, 1, 5), wall(2025, 1, 6), FLOATING),
    ]


# --- recurrence ---------------------------------------------------------------------


def test_recurrence_ids_in_utc_date_and_floating_form():
    zoned = index(event("DTSTART;TZID=Europe/Berlin:20240105T100000", "RRULE:FREQ=DAILY;COUNT=2"))
    assert [i.recurrence_id for i in zoned.instances] == ["20240105T090000Z", "20240106T090000Z"]
    dates = index(event("DTSTART;VALUE=DATE:20240105", "RRULE:FREQ=DAILY;COUNT=2"))
    assert [i.recurrence_id for i in dates.instances] == ["20240105", "20240106"]
    floating = index(event("DTSTART:20240105T100000", "RRULE:FREQ=DAILY;COUNT=2"))
    assert [i.recurrence_id for i in floating.instances] == ["20240105T100000", "20240106T100000"]
    assert [i.flags for i in floating.instances] == [FLOATING | INCLUSIVE_END] * 2


def test_weekly_series_across_dst_keeps_wall_clock():
    info = index(event("DTSTART;TZID=Europe/Berlin:20240321T100000",
                       "DTEND;TZID=Europe/Berlin:20240321T110000",
                       "RRULE:FREQ=WEEKLY;COUNT=3"))
    assert [i.start for i in info.instances] == [
        utc(2024, 3, 21, 9), utc(2024, 3, 28, 9), utc(2024, 4, 4, 8)]
    assert all(i.end - i.start == HOUR for i in info.instances)


def test_override_moves_an_instance_out_of_and_into_a_range():
    data = calendar(
        component("DTSTART:20240105T100000Z", "DTEND:20240105T110000Z", "RRULE:FREQ=DAILY;COUNT=3"),
        component("RECURRENCE-ID:20240106T100000Z", "DTSTART:20240110T100000Z",
                  "DTEND:20240110T113000Z"),
    )
    info = index(data)
    assert [(i.start, i.end, i.recurrence_id) for i in info.instances] == [
        (utc(2024, 1, 5, 10), utc(2024, 1, 5, 11), "20240105T100000Z"),
        (utc(2024, 1, 7, 10), utc(2024, 1, 7, 11), "20240107T100000Z"),
        (utc(2024, 1, 10, 10), utc(2024, 1, 10, 11, 30), "20240106T100000Z"),
    ]
    cal = parse_object(data)[0]
    for check in (lambda s, e: matches(data, s, e), lambda s, e: occurs_in(cal, s, e)):
        assert not check(utc(2024, 1, 6), utc(2024, 1, 7))
        assert check(utc(2024, 1, 10, 11), utc(2024, 1, 10, 12))


def test_override_only_object():
    info = index(event("RECURRENCE-ID:20240106T100000Z", "DTSTART:20240106T120000Z",
                       "DURATION:PT1H"))
    assert info.recurring
    assert [(i.start, i.recurrence_id) for i in info.instances] == [(utc(2024, 1, 6, 12), "20240106T100000Z")]


def test_thisandfuture_override_moves_later_instances():
    info = index(calendar(
        component("DTSTART:20240105T100000Z", "DTEND:20240105T110000Z", "RRULE:FREQ=DAILY;COUNT=4"),
        component("RECURRENCE-ID;RANGE=THISANDFUTURE:20240107T100000Z",
                  "DTSTART:20240107T120000Z", "DTEND:20240107T130000Z"),
    ))
    assert [(i.start, i.recurrence_id) for i in info.instances] == [
        (utc(2024, 1, 5, 10), "20240105T100000Z"),
        (utc(2024, 1, 6, 10), "20240106T100000Z"),
        (utc(2024, 1, 7, 12), "20240107T100000Z"),
        (utc(2024, 1, 8, 12), "20240108T100000Z"),
    ]


def test_exdate_removes_an_instance():
    data = event("DTSTART:20240105T100000Z", "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT=3",
                 "EXDATE:20240106T100000Z")
    assert [i.start for i in index(data).instances] == [utc(2024, 1, 5, 10), utc(2024, 1, 7, 10)]
    assert not matches(data, utc(2024, 1, 6), utc(2024, 1, 7))
    assert not occurs_in(parse_object(data)[0], utc(2024, 1, 6), utc(2024, 1, 7))


def test_rdate_adds_instances_including_periods():
    data = event("DTSTART:20240105T100000Z", "DURATION:PT1H",
                 "RDATE:20240201T080000Z,20240202T080000Z",
                 "RDATE;VALUE=PERIOD:20240301T100000Z/20240301T150000Z")
    assert rows(data) == [
        (utc(2024, 1, 5, 10), utc(2024, 1, 5, 11), 0),
        (utc(2024, 2, 1, 8), utc(2024, 2, 1, 9), 0),
        (utc(2024, 2, 2, 8), utc(2024, 2, 2, 9), 0),
        (utc(2024, 3, 1, 10), utc(2024, 3, 1, 15), 0),
    ]
    assert matches(data, utc(2024, 3, 1, 14), utc(2024, 3, 1, 16))
    assert occurs_in(parse_object(data)[0], utc(2024, 3, 1, 14), utc(2024, 3, 1, 16))


def test_recurring_todo_uses_its_own_row_per_instance():
    assert rows(todo("DTSTART:20240105T100000Z", "DUE:20240105T120000Z", "RRULE:FREQ=DAILY;COUNT=2")) == [
        (utc(2024, 1, 5, 10), utc(2024, 1, 5, 12), 0),
        (utc(2024, 1, 6, 10), utc(2024, 1, 6, 12), 0),
    ]
    assert rows(todo("DTSTART:20240105T100000Z", "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT=1")) == [
        (utc(2024, 1, 5, 10), utc(2024, 1, 5, 11), INCLUSIVE_END)]
    assert rows(todo("DTSTART:20240105T100000Z", "RRULE:FREQ=DAILY;COUNT=1")) == [
        (utc(2024, 1, 5, 10), utc(2024, 1, 5, 10), INCLUSIVE_END)]


def test_custom_vtimezone_defines_a_non_iana_zone():
    zone = (
        "BEGIN:VTIMEZONE\r\nTZID:Office Time\r\n"
        "BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
        "TZOFFSETFROM:+0400\r\nTZOFFSETTO:+0300\r\nEND:STANDARD\r\n"
        "BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
        "TZOFFSETFROM:+0300\r\nTZOFFSETTO:+0400\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
    )
    data = calendar(component("DTSTART;TZID=Office Time:20240105T100000",
                              "DTEND;TZID=Office Time:20240105T110000",
                              "RRULE:FREQ=MONTHLY;COUNT=7"), head=zone)
    starts = [i.start for i in index(data).instances]
    assert starts[0] == utc(2024, 1, 5, 7)  # +03:00 in winter
    assert starts[6] == utc(2024, 7, 5, 6)  # +04:00 in summer
    assert occurs_in(parse_object(data)[0], utc(2024, 7, 5, 6, 30), utc(2024, 7, 5, 6, 31))


# --- bounds: horizon, max_index_instances, rules without end ------------------------------


def test_unbounded_secondly_is_bounded_and_answers_far_in_the_future():
    data = event("DTSTART:20240105T100000Z", "RRULE:FREQ=SECONDLY;INTERVAL=10")
    budget = Budget()
    cal, info = parse_object(data, max_index_instances=1000, budget=budget)
    assert budget.used["instances"] == 1001
    assert len(info.instances) == 1000 and info.unbounded
    assert info.indexed_until == utc(2024, 1, 5, 10) + 1000 * 10
    far = utc(2100, 3, 1, 12)  # an instance: a multiple of 10 s after DTSTART
    budget = Budget()
    assert occurs_in(cal, far, far + 1, after=info.indexed_until, budget=budget)
    assert not occurs_in(cal, far + 1, far + 10, after=info.indexed_until, budget=budget)
    assert occurs_in(cal, far + 1, None, after=info.indexed_until, budget=budget)
    assert not occurs_in(cal, utc(2024, 1, 5), utc(2024, 1, 5, 10), after=info.indexed_until, budget=budget)
    assert budget.used["instances"] < 100  # each question looks near its range only, in 2100 as in 2024


def test_count_over_max_index_instances():
    data = event("DTSTART:20240105T100000Z", "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT=15")
    cal, info = parse_object(data, max_index_instances=10)
    assert len(info.instances) == 10
    assert info.indexed_until == utc(2024, 1, 15, 10)
    assert matches(data, utc(2024, 1, 17, 10, 30), utc(2024, 1, 17, 11), max_index_instances=10)
    assert not matches(data, utc(2024, 1, 20), utc(2024, 2, 1), max_index_instances=10)
    assert not occurs_in(cal, utc(2024, 1, 20), None, after=info.indexed_until)


def test_horizon_leaves_later_instances_to_occurs_in():
    data = event("DTSTART:20240105T100000Z", "DURATION:PT1H", "RRULE:FREQ=YEARLY")
    cal, info = parse_object(data, horizon=utc(2030, 1, 1))
    assert [i.start for i in info.instances][-1] == utc(2029, 1, 5, 10)
    assert info.indexed_until == utc(2030, 1, 1)
    assert occurs_in(cal, utc(2050, 1, 5, 10), utc(2050, 1, 5, 11), after=info.indexed_until)
    assert not occurs_in(cal, utc(2050, 1, 6), utc(2050, 12, 31), after=info.indexed_until)
    bounded = event("DTSTART:20240105T100000Z", "RRULE:FREQ=YEARLY;COUNT=3")
    assert index(bounded, horizon=utc(2030, 1, 1)).indexed_until is None


def test_floating_indexed_until_is_conservative_by_14_hours():
    data = event("DTSTART:20240105T100000", "RRULE:FREQ=DAILY")
    _cal, info = parse_object(data, max_index_instances=3)
    assert info.indexed_until == wall(2024, 1, 8, 10) - 14 * HOUR
    kiribati = ZoneInfo("Pacific/Kiritimati")  # UTC+14: the 8th at 10:00 is the 7th 20:00Z
    assert matches(data, utc(2024, 1, 7, 20), utc(2024, 1, 7, 20, 1), kiribati, max_index_instances=3)


def test_occurs_in_takes_sentinels_for_open_bounds():
    cal = parse_object(event("DTSTART;VALUE=DATE:20240105", "RRULE:FREQ=MONTHLY"))[0]
    assert occurs_in(cal, NEG_INF, POS_INF, BERLIN)
    assert occurs_in(cal, utc(2040, 3, 4, 23), POS_INF, BERLIN, after=utc(2040, 1, 1))
    assert not occurs_in(cal, NEG_INF, utc(2024, 1, 4, 23), BERLIN)


def test_parse_work_follows_the_instances_indexed():
    single = event("DTSTART;TZID=Europe/Berlin:20240105T100000",
                   "DTEND;TZID=Europe/Berlin:20240105T110000")
    weekly = event("DTSTART;TZID=Europe/Berlin:20240105T100000",
                   "DTEND;TZID=Europe/Berlin:20240105T110000", "RRULE:FREQ=WEEKLY;COUNT=104")
    secondly = event("DTSTART:20240105T100000Z", "RRULE:FREQ=SECONDLY")
    # one instance past the limit is expanded to learn that there are more
    for data, spent in ((single, 0), (weekly, 104), (secondly, 301)):
        budget = Budget()
        parse_object(data, max_index_instances=300, budget=budget)
        assert budget.used == {"instances": spent, "nodes": 0, "bytes": 0}


def test_a_write_over_the_budget_is_refused_with_max_instances():
    data = event("DTSTART:20240105T100000Z", "RRULE:FREQ=DAILY;COUNT=200")
    small = Budget(dataclasses.replace(default_limits(), instances=100))
    error = rejected(data, "max-instances", max_index_instances=150, budget=small)
    assert error.status == 403 and "budget_instances" in error.message


def test_occurs_in_without_after_sees_everything():
    cal = parse_object(event("DTSTART;TZID=America/New_York:20240105T100000",
                             "DURATION:PT2H", "RRULE:FREQ=WEEKLY;BYDAY=MO,FR"))[0]
    assert occurs_in(cal, utc(2024, 1, 5, 16), utc(2024, 1, 5, 17))
    assert occurs_in(cal, utc(2031, 6, 9, 15), utc(2031, 6, 9, 15, 1))  # a Monday, EDT
    assert not occurs_in(cal, utc(2031, 6, 10), utc(2031, 6, 13))  # Tuesday to Thursday
    assert occurs_in(cal, None, None)


# --- rejections ---------------------------------------------------------------------


INVALID_DATA = {
    "empty": b"",
    "not iCalendar": b"not a calendar",
    "not UTF-8": b"\xff\xfe\x00garbage",
    "not a VCALENDAR": event("DTSTART:20240105T100000Z").replace(b"VCALENDAR", b"VCARD"),
    "bare VEVENT": component("DTSTART:20240105T100000Z").encode(),
    "broken date": event("DTSTART:2024xx"),
    "DTEND before DTSTART": event("DTSTART:20240105T100000Z", "DTEND:20240105T090000Z"),
    "DTEND and DURATION": event("DTSTART:20240105T100000Z", "DTEND:20240105T110000Z", "DURATION:PT1H"),
    "negative DURATION": event("DTSTART:20240105T100000Z", "DURATION:-PT1H"),
    "DATE with DATE-TIME": event("DTSTART;VALUE=DATE:20240105", "DTEND:20240106T100000Z"),
    "floating with UTC": event("DTSTART:20240105T100000", "DTEND:20240105T110000Z"),
    "two DTSTART": event("DTSTART:20240105T100000Z", "DTSTART:20240106T100000Z"),
    "VEVENT without DTSTART": event("SUMMARY:no start"),
    "unknown TZID": event("DTSTART;TZID=Mars/Olympus_Mons:20240105T100000"),
    "unknown TZID in EXDATE": event("DTSTART:20240105T100000Z", "EXDATE;TZID=Mars/Olympus_Mons:20240106T100000"),
    "RRULE garbage": event("DTSTART:20240105T100000Z", "RRULE:FOO=bar"),
    "RRULE bad FREQ": event("DTSTART:20240105T100000Z", "RRULE:FREQ=SOMETIMES"),
    "RRULE COUNT=0": event("DTSTART:20240105T100000Z", "RRULE:FREQ=DAILY;COUNT=0"),
    "RRULE INTERVAL=0": event("DTSTART:20240105T100000Z", "RRULE:FREQ=DAILY;INTERVAL=0"),
    "RRULE never matches": event("DTSTART:20240105T100000Z", "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"),
    "RRULE BYSETPOS out of range": event("DTSTART:20240105T100000Z", "RRULE:FREQ=MONTHLY;BYSETPOS=400;BYDAY=MO"),
    "RRULE by the second on no day": event(
        "DTSTART:20240105T100000Z", "RRULE:FREQ=SECONDLY;BYHOUR=1;BYMONTHDAY=-13;BYWEEKNO=1"),
    "RRULE bad UNTIL": event("DTSTART:20240105T100000Z", "RRULE:FREQ=DAILY;UNTIL=garbage"),
    "PERIOD ends before it starts": event(
        "DTSTART:20240105T100000Z", "RDATE;VALUE=PERIOD:20240201T100000Z/20240201T090000Z"),
    "DUE before DTSTART": todo("DTSTART:20240105T100000Z", "DUE:20240105T090000Z"),
    "DUE and DURATION": todo("DTSTART:20240105T100000Z", "DUE:20240105T110000Z", "DURATION:PT1H"),
    "VTODO DURATION without DTSTART": todo("DURATION:PT1H"),
    "recurring VTODO without DTSTART": todo("DUE:20240105T100000Z", "RRULE:FREQ=DAILY;COUNT=2"),
    "VTODO override without DTSTART": calendar(
        component("DTSTART:20240105T100000Z", "DUE:20240105T110000Z", name="VTODO"),
        component("RECURRENCE-ID:20240105T100000Z", "DUE:20240105T120000Z", name="VTODO")),
    "nested VEVENT": calendar(component("DTSTART:20240105T100000Z", "BEGIN:VEVENT", "UID:x",
                                        "DTSTART:20240105T100000Z", "END:VEVENT")),
}


@pytest.mark.parametrize("data", INVALID_DATA.values(), ids=INVALID_DATA.keys())
def test_invalid_calendar_data(data):
    rejected(data, "valid-calendar-data")


def test_unknown_tzid_is_named():
    assert "Mars/Olympus_Mons" in rejected(
        event("DTSTART;TZID=Mars/Olympus_Mons:20240105T100000"), "valid-calendar-data").message


INVALID_OBJECT = {
    "METHOD": event("DTSTART:20240105T100000Z").replace(b"VERSION:2.0", b"VERSION:2.0\r\nMETHOD:PUBLISH"),
    "two UIDs": calendar(component("DTSTART:20240105T100000Z"),
                         component("DTSTART:20240105T100000Z", uid="other")),
    "two component types": calendar(component("DTSTART:20240105T100000Z"),
                                    component("DTSTART:20240105T100000Z", name="VTODO")),
    "two masters": calendar(component("DTSTART:20240105T100000Z"), component("DTSTART:20240106T100000Z")),
    "same RECURRENCE-ID twice": calendar(
        component("DTSTART:20240105T100000Z", "RRULE:FREQ=DAILY"),
        component("RECURRENCE-ID:20240106T100000Z", "DTSTART:20240106T120000Z"),
        component("RECURRENCE-ID;TZID=Europe/Berlin:20240106T110000", "DTSTART:20240106T130000Z")),
    "no UID": calendar("BEGIN:VEVENT\r\nDTSTART:20240105T100000Z\r\nEND:VEVENT\r\n"),
    "unsupported component": calendar(component("DTSTART:20240105T100000Z", name="X-THING")),
    "no component": calendar(),
}


@pytest.mark.parametrize("data", INVALID_OBJECT.values(), ids=INVALID_OBJECT.keys())
def test_invalid_calendar_object_resource(data):
    rejected(data, "valid-calendar-object-resource")


def test_rules_finer_than_daily_keeping_few_days_are_indexed():
    info = index(event("DTSTART:20240101T090000Z", "RRULE:FREQ=HOURLY;BYDAY=MO;BYHOUR=9;COUNT=3"))
    assert [i.start for i in info.instances] == [utc(2024, 1, 1, 9), utc(2024, 1, 8, 9), utc(2024, 1, 15, 9)]


@pytest.mark.parametrize("rule", [
    "FREQ=SECONDLY;COUNT=1000000",
    "FREQ=YEARLY;BYMONTH=1;BYHOUR=" + ",".join(map(str, range(24))) + ";BYMINUTE=" + ",".join(map(str, range(60))),
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=" + ",".join(map(str, range(1, 18))),
    # dateutil steps through every second (minute) to reach the few it keeps
    "FREQ=SECONDLY;BYMINUTE=0;BYSECOND=0",
    "FREQ=MINUTELY;BYHOUR=0;BYMINUTE=0",
    "FREQ=SECONDLY;BYHOUR=23;BYMONTH=2;BYMONTHDAY=29",
])
def test_rules_too_large_to_expand(rule):
    rejected(event("DTSTART:20240105T100000Z", f"RRULE:{rule}"), "max-instances")


def test_hostile_inputs_are_always_rejected_never_raised():
    rng = random.Random(4791)
    junk = "\r\n".join(
        "".join(rng.choice("ABCDEFGZ:;=,\\\" 0123456789") for _ in range(40)) for _ in range(10_000))
    samples = [bytes(rng.randrange(256) for _ in range(2000)) for _ in range(20)]
    samples.append(junk.encode())
    samples.append(calendar(junk))
    valid = event("DTSTART;TZID=Europe/Berlin:20240105T100000", "DURATION:PT1H",
                  "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20250101T000000Z",
                  "EXDATE;TZID=Europe/Berlin:20240110T100000")
    samples += [valid[:cut] for cut in range(0, len(valid), 7)]
    lines = valid.split(b"\r\n")
    for _ in range(200):
        mutated = list(lines)
        i = rng.randrange(len(mutated))
        mutated[i] = mutated[i][: rng.randrange(len(mutated[i]) + 1)] + bytes(
            rng.choice(b"0123456789:;=TZ-,") for _ in range(rng.randrange(6)))
        samples.append(b"\r\n".join(mutated))
    for data in samples:  # a hang would stop the suite; time is asserted over HTTP with latency_during
        try:
            parse_object(data)
        except Rejected as exc:
            assert exc.precondition.startswith(CALDAV)


# --- overlaps and floating_to_utc ------------------------------------------------------


def test_overlaps_encodes_the_rfc_conditions():
    timed = Instance(100, 200)
    assert overlaps(timed, 150, 160) and overlaps(timed, None, None)
    assert not overlaps(timed, 200, 300) and not overlaps(timed, 0, 100)
    assert overlaps(Instance(100, 200, INCLUSIVE_END), 200, 300)
    assert overlaps(Instance(100, 200, INCLUSIVE_START), 0, 100)
    unbounded = Instance(NEG_INF, POS_INF)
    assert overlaps(unbounded, 0, 1) and overlaps(unbounded, None, 5) and overlaps(unbounded, 5, None)
    floating = Instance(wall(2024, 7, 5, 10), wall(2024, 7, 5, 11), FLOATING)
    assert overlaps(floating, utc(2024, 7, 5, 8, 30), utc(2024, 7, 5, 9), BERLIN)
    assert not overlaps(floating, utc(2024, 7, 5, 8, 30), utc(2024, 7, 5, 9))


def test_floating_to_utc():
    assert floating_to_utc(wall(2024, 1, 5, 10), None) == utc(2024, 1, 5, 10)
    assert floating_to_utc(wall(2024, 1, 5, 10), BERLIN) == utc(2024, 1, 5, 9)
    assert floating_to_utc(wall(2024, 7, 5, 10), BERLIN) == utc(2024, 7, 5, 8)
    assert floating_to_utc(wall(2024, 7, 5, 10), NEW_YORK) == utc(2024, 7, 5, 14)
    assert floating_to_utc(NEG_INF, BERLIN) == NEG_INF
    assert floating_to_utc(POS_INF, BERLIN) == POS_INF


def test_custom_time_zones_of_different_objects_never_collide() -> None:
    """icalendar caches custom VTIMEZONEs by TZID process-wide: two users' "Office Time"s must stay apart."""
    template = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Shared Name\r\n"
        "BEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:{o}\r\nTZOFFSETTO:{o}\r\nEND:STANDARD\r\n"
        "END:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20240101T000000Z\r\n"
        "DTSTART;TZID=Shared Name:20240105T100000\r\nDTEND;TZID=\"Shared Name\":20240105T110000\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    starts = [parse_object(template.format(o=o).encode())[1].instances[0].start for o in ("+0300", "-0500", "+0300")]
    assert starts == [utc(2024, 1, 5, 7), utc(2024, 1, 5, 15), utc(2024, 1, 5, 7)]

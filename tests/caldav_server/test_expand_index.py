"""expand written from the time-range index (``ExpansionPlan``) gives the general path's answer."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kernel import make_etag
from kernel.budget import Budget
from kernel.ical import parse_object
from kernel.testing import add_user, make_host
from kernel.types import Instance, Rejected
from plugins.caldav_server.caldav import expansion
from plugins.caldav_server.caldav.icaltext import RawComponent, fold, line_name, parse
from tests.caldav_server.ical_samples import BERLIN_VTIMEZONE, component, dated, ics, parsed, rfc_object
from tests.caldav_server.test_calendar_data import expand, request

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.UTC
SLACK = 14 * 3600


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def index_rows(data: bytes, qs: int, qe: int) -> list[Instance] | None:
    """What ``Store.instances_near`` returns for one object: None when its index stops before ``qe``."""
    info = parse_object(data)[1]
    if info.indexed_until is not None and info.indexed_until <= qe:
        return None
    return [i for i in info.instances if i.start <= qe + SLACK and i.end >= qs - SLACK]


#: A calendar-data subset beside expand: the plan then builds the tree the subset is cut from.
SUBSET = ('<C:comp name="VCALENDAR"><C:prop name="VERSION"/><C:comp name="VEVENT"><C:prop name="DTSTART"/>'
          '<C:prop name="DTEND"/><C:prop name="RECURRENCE-ID"/><C:prop name="SUMMARY"/></C:comp>'
          '<C:comp name="VTODO"><C:allprop/><C:allcomp/></C:comp></C:comp>')


def both_ways(data: bytes, qs: int, qe: int, tz, subset: bool = False) -> tuple[str, str, bool]:
    """The expanded answer by the general path and from the index rows, and whether a plan was used
    (with ``subset``, only the parts :data:`SUBSET` asks for)."""
    window = expand(stamp(dt.datetime.fromtimestamp(qs, UTC)), stamp(dt.datetime.fromtimestamp(qe, UTC)))
    req = request((SUBSET if subset else "") + window)
    cal = parsed(data)
    general = req.render(data, cal, tz, budget=Budget())
    rows = index_rows(data, qs, qe)
    indexed = req.render(data, cal, tz, budget=Budget(), instances=rows)
    return general, indexed, rows is not None and expansion.plan_for(data, lambda: cal) is not None


def same(general: str, indexed: str) -> bool:
    """Whether two answers hold the same components and content lines, in order: the index path
    copies lines as stored (as GET sends them), the general path folds them at 75 octets, writes
    subcomponents after the properties and the names of the times it writes in upper case."""
    return _names_upper(parse(general)) == _names_upper(parse(indexed))


def _names_upper(component: RawComponent) -> RawComponent:
    lines = [line_name(line) + line[len(line_name(line)):] for line in component.lines]
    return RawComponent(component.name, lines, [_names_upper(child) for child in component.children])


WINDOWS = [("20060102T000000Z", "20060109T000000Z"), ("20060103T000000Z", "20060105T000000Z"),
           ("20060101T000000Z", "20070101T000000Z"), ("20060104T140000Z", "20060104T150000Z")]


def _ts(text: str) -> int:
    return int(dt.datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp())


@pytest.mark.parametrize("name", [f"abcd{i}" for i in range(1, 9)])
@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("tz", [None, BERLIN, NEW_YORK])
def test_rfc_objects_expand_the_same_from_the_index(name, window, tz):
    general, indexed, _ = both_ways(rfc_object(name), _ts(window[0]), _ts(window[1]), tz)
    assert same(general, indexed)


def test_recurring_event_with_an_override_in_a_zone_uses_the_plan():
    # abcd2: a US/Eastern series with an override, the common case the index path is for.
    general, indexed, planned = both_ways(rfc_object("abcd2"), _ts("20060102T000000Z"), _ts("20060109T000000Z"), None)
    assert planned
    assert same(general, indexed)
    assert "RECURRENCE-ID:20060104T170000Z" in indexed and "DTSTART:20060104T190000Z" in indexed


def test_series_without_overrides_are_planned_from_their_text():
    data = ics(component("DTSTART;TZID=Europe/Berlin:20240101T100000", "DTEND;TZID=Europe/Berlin:20240101T110000",
                         "RRULE:FREQ=WEEKLY;COUNT=10", "EXDATE;TZID=Europe/Berlin:20240108T100000",
                         "ORGANIZER;CN=Organizer:mailto:o@example.com"), timezone=BERLIN_VTIMEZONE)

    def unwanted():
        raise AssertionError("the text should have been enough")

    assert expansion.plan_for(data, unwanted) is not None
    general, indexed, planned = both_ways(data, _ts("20240101T000000Z"), _ts("20240201T000000Z"), NEW_YORK)
    assert planned and same(general, indexed)
    assert "DTSTART:20240115T090000Z" in indexed and "EXDATE" not in indexed


def test_overrides_in_an_iana_zone_utc_or_dates_are_planned_from_their_text():
    def unwanted():
        raise AssertionError("the text should have been enough")

    cases = [
        ("DTSTART;TZID=Europe/Berlin:20240101T100000", "RECURRENCE-ID;TZID=Europe/Berlin:20240115T100000",
         "DTSTART;TZID=Europe/Berlin:20240116T120000", BERLIN_VTIMEZONE, "RECURRENCE-ID:20240115T090000Z"),
        ("DTSTART:20240101T100000Z", "RECURRENCE-ID:20240115T100000Z", "DTSTART:20240116T120000Z", "",
         "RECURRENCE-ID:20240115T100000Z"),
        ("DTSTART;VALUE=DATE:20240101", "RECURRENCE-ID;VALUE=DATE:20240115", "DTSTART;VALUE=DATE:20240116", "",
         "RECURRENCE-ID;VALUE=DATE:20240115"),
    ]
    for start, rid, moved, timezone, written in cases:
        data = ics(component(start, "RRULE:FREQ=WEEKLY;COUNT=5", "SUMMARY:series"),
                   component(rid, moved, "SUMMARY:moved"), timezone=timezone)
        assert expansion.plan_for(data, unwanted) is not None, start
        general, indexed, planned = both_ways(data, _ts("20240101T000000Z"), _ts("20240201T000000Z"), NEW_YORK)
        assert planned and same(general, indexed), start
        assert indexed.count("SUMMARY:moved") == 1 and written in indexed


def test_an_override_in_a_zone_of_its_own_is_planned_from_the_parse():
    custom = BERLIN_VTIMEZONE.replace("Europe/Berlin", "Office Time")
    # a description of its own: plans are remembered by content, in the whole process
    data = ics(component("DTSTART;TZID=Office Time:20240101T100000", "RRULE:FREQ=WEEKLY;COUNT=5",
                         f"DESCRIPTION:{uuid.uuid4()}"),
               component("RECURRENCE-ID;TZID=Office Time:20240115T100000", "DTSTART;TZID=Office Time:20240116T120000",
                         "SUMMARY:moved"), timezone=custom)
    asked = []
    assert expansion.plan_for(data, lambda: asked.append(1) or parsed(data)) is not None
    assert asked == [1]
    general, indexed, planned = both_ways(data, _ts("20240101T000000Z"), _ts("20240201T000000Z"), None)
    assert planned and same(general, indexed) and "RECURRENCE-ID:20240115T090000Z" in indexed


def test_plans_read_the_text_without_its_time_zones():
    zone = "BEGIN:VTIMEZONE\r\nTZID:Z{n}\r\nBEGIN:STANDARD\r\nX:1\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    event = "BEGIN:VEVENT\r\nUID:1\r\nEND:VEVENT\r\n"
    data = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + zone.format(n=1) + event
            + "".join(zone.format(n=n) for n in range(2, 2000)) + "END:VCALENDAR\r\n").encode()
    assert expansion._without_timezones(data) == (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + event + "END:VCALENDAR\r\n").encode()
    unterminated = b"BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Z\r\n" + event.encode()
    assert expansion._without_timezones(unterminated) == unterminated  # left for the reader to judge


@pytest.mark.parametrize("zone", ["utc", "floating", "date", "berlin"])
def test_instances_before_1970_are_written_from_the_plan(zone):
    # index keys before the epoch are negative: their day and clock texts must still be right
    start = dt.datetime(1965, 3, 1, 23, 30)
    end = start + (dt.timedelta(days=1) if zone == "date" else dt.timedelta(hours=1))
    data = ics(component(dated("DTSTART", start, zone), dated("DTEND", end, zone), "RRULE:FREQ=WEEKLY;COUNT=8"),
               timezone=BERLIN_VTIMEZONE if zone == "berlin" else "")
    general, indexed, planned = both_ways(data, _ts("19650301T000000Z"), _ts("19650401T000000Z"), NEW_YORK)
    assert planned and same(general, indexed)
    assert indexed.count("BEGIN:VEVENT") == 5


def test_objects_the_plan_cannot_write_take_the_general_path():
    day_with_hours = ics(component("DTSTART;VALUE=DATE:20240101", "DURATION:P1DT2H", "RRULE:FREQ=DAILY;COUNT=3"))
    assert expansion.plan_for(day_with_hours, lambda: parsed(day_with_hours)) is None
    todo_without_start = ics(component("DUE:20240101T100000Z", name="VTODO"))
    assert expansion.plan_for(todo_without_start, lambda: parsed(todo_without_start)) is None
    general, indexed, planned = both_ways(day_with_hours, _ts("20240101T000000Z"), _ts("20240105T000000Z"), None)
    assert not planned and same(general, indexed)


_starts = st.datetimes(dt.datetime(2023, 1, 1), dt.datetime(2026, 1, 1)).map(lambda d: d.replace(second=0))


@st.composite
def objects(draw) -> bytes:
    """Events and to-dos in every value kind, with rules, exceptions and overrides."""
    start = draw(_starts)
    zone = draw(st.sampled_from(["utc", "berlin", "floating", "date"]))
    name = draw(st.sampled_from(["VEVENT", "VEVENT", "VTODO"]))
    minutes = draw(st.sampled_from([0, 15, 60, 24 * 60, 3 * 24 * 60]))
    if zone == "date":
        minutes = max(minutes // (24 * 60), 1) * 24 * 60

    def fmt(value: dt.datetime, prop: str) -> str:
        return dated(prop, value, zone)

    end_name = "DUE" if name == "VTODO" else "DTEND"
    lines = [fmt(start, "DTSTART"), "SUMMARY:series"]
    end_kind = draw(st.sampled_from(["end", "duration", "none"]))
    if end_kind == "end":
        lines.append(fmt(start + dt.timedelta(minutes=minutes), end_name))
    elif end_kind == "duration":
        lines.append(f"DURATION:PT{minutes}M" if zone != "date" else f"DURATION:P{minutes // 1440}D")
    rule = draw(st.sampled_from(["", "FREQ=DAILY;COUNT=20", "FREQ=WEEKLY;INTERVAL=2", "FREQ=MONTHLY;BYMONTHDAY=-1"]))
    parts = []
    if rule:
        lines.append("RRULE:" + rule)
        step = dt.timedelta(days=14 if "WEEKLY" in rule else 1)
        if draw(st.booleans()):
            lines.append(fmt(start + step * 2, "EXDATE"))
        if draw(st.booleans()) and "MONTHLY" not in rule:
            original = start + step * 3
            moved = original + dt.timedelta(hours=draw(st.sampled_from([0, 2, 30])) if zone != "date" else 0,
                                            days=1 if zone == "date" else 0)
            parts.append(component(fmt(original, "RECURRENCE-ID"), fmt(moved, "DTSTART"), "SUMMARY:moved",
                                   name=name))
    lines, children = _written_as(draw(st.sampled_from(TEXT_FORMS)), lines)
    return ics(component(*lines, name=name, children=children), *parts,
               timezone=BERLIN_VTIMEZONE if zone == "berlin" else "")


#: How clients write the text around the times: the plan copies it in slices, and must give
#: the content lines the parse and serialisation give (subcomponents last, names as written).
TEXT_FORMS = ["plain", "long line", "folded at 75", "folded narrow", "alarm", "property after alarm",
              "lower-case names"]
_ALARM = "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-PT15M\nDURATION:PT5M\nREPEAT:2\nDESCRIPTION:soon\nEND:VALARM\n"


def _written_as(form: str, lines: list[str]) -> tuple[list[str], str]:
    """The component's lines and subcomponents written in one of :data:`TEXT_FORMS`."""
    text = "DESCRIPTION:" + "agenda: résumé über 日本 " * 8
    if form == "long line":
        return [*lines, text], ""
    if form == "folded at 75":
        return [*lines, fold(text).replace("\r\n", "\n")], ""
    if form == "folded narrow":
        return [*lines, "\n ".join(text[at : at + 30] for at in range(0, len(text), 30))], ""
    if form == "alarm":
        return lines, _ALARM
    if form == "property after alarm":
        return lines, _ALARM + "LOCATION:after the alarm\n"
    if form == "lower-case names":
        return [line_name(line).lower() + line[len(line_name(line)):] for line in lines], ""
    return lines, ""


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=objects(), start=_starts, hours=st.sampled_from([1, 24, 24 * 7, 24 * 40]),
       tz=st.sampled_from([None, BERLIN, NEW_YORK]), subset=st.booleans())
def test_expand_from_the_index_agrees_with_the_general_path(data, start, hours, tz, subset):
    try:
        parse_object(data)
    except Rejected:
        assume(False)  # e.g. a Berlin time in the spring-forward gap ending at its DTEND: never stored
    qs = int(start.replace(tzinfo=UTC).timestamp())
    general, indexed, _ = both_ways(data, qs, qs + hours * 3600, tz, subset)
    assert same(general, indexed)


def test_the_store_leaves_out_objects_whose_index_stops_before_the_window(tmp_path: Path, teamcal_backend: str):
    host = make_host(tmp_path, ["caldav_server"])
    try:
        alice = add_user(host, "alice")
        cal = host.writes.create_collection(alice, "work", "calendar", principal=alice)
        other = host.writes.create_collection(alice, "home", "calendar", principal=alice)

        def put(collection, name: str, *lines: str):
            return host.writes.put_object(collection, name, ics(component(*lines, uid=name)), principal=alice).resource

        bounded = put(cal, "bounded", "DTSTART:20240101T100000Z", "DTEND:20240101T110000Z", "RRULE:FREQ=DAILY;COUNT=10")
        floating = put(cal, "floating", "DTSTART:20240101T200000", "DTEND:20240101T210000", "RRULE:FREQ=DAILY;COUNT=10")
        endless = put(cal, "endless", "DTSTART:20240101T100000Z", "DTEND:20240101T110000Z", "RRULE:FREQ=DAILY")
        later = put(cal, "later", "DTSTART:20240301T100000Z", "DTEND:20240301T110000Z")
        elsewhere = put(other, "elsewhere", "DTSTART:20240103T100000Z", "DTEND:20240103T110000Z")
        qs, qe = _ts("20240103T000000Z"), _ts("20240105T000000Z")
        ids = [bounded.id, floating.id, endless.id, later.id, elsewhere.id]
        near = host.store.instances_near(cal.id, ids, qs, qe)
        assert [i.start for i in near[bounded.id]] == [_ts("20240103T100000Z"), _ts("20240104T100000Z")]
        assert all(i.recurrence_id for i in near[bounded.id])
        # floating rows within 14 hours either side: the caller reads them in its zone
        assert [i.start for i in near[floating.id]] == [_ts(f"202401{d:02d}T200000Z") for d in (2, 3, 4)]
        assert near[later.id] == []  # in the calendar, nothing near: nothing to write
        assert elsewhere.id not in near  # another calendar's object is not this index's to answer for
        far = _ts("21000101T000000Z")
        assert endless.id in near
        assert endless.id not in host.store.instances_near(cal.id, [endless.id], far, far + 86400)
        # the time-range query's own rows: the same objects as time_range, the same rows as above
        in_range = host.store.instances_in_range(cal.id, qs, qe, tz=NEW_YORK)
        assert list(in_range) == host.store.time_range(cal.id, qs, qe, tz=NEW_YORK)
        assert set(in_range) == {bounded.id, floating.id, endless.id}
        for rid, rows in in_range.items():
            assert rows is not None and sorted(rows, key=lambda i: i.start) == near[rid], rid
        later_on = host.store.instances_in_range(cal.id, far, far + 86400)
        assert later_on == {endless.id: None}  # found by expanding its rule: no rows to write from
    finally:
        host.close()


def test_single_events_without_zones_expand_to_their_stored_text():
    """A single VEVENT in UTC, floating or dates, without VTIMEZONE, is its own expansion: the stored
    text comes back unchanged (and equals the general path's answer); a zone, a rule or another
    component sends the object the longer way."""
    itself = [
        ics(component("DTSTART:20240105T100000Z", "DTEND:20240105T110000Z", "SUMMARY:utc")),
        ics(component("DTSTART:20240105T100000", "DURATION:PT1H", "SUMMARY:floating")),
        ics(component("DTSTART;VALUE=DATE:20240105", "SUMMARY:day")),
    ]
    for data in itself:
        assert expansion.expands_to_itself(data)
        general, indexed, _ = both_ways(data, _ts("20240101T000000Z"), _ts("20240108T000000Z"), BERLIN)
        assert indexed == general == data.decode()
    longer = [
        ics(component("DTSTART;TZID=Europe/Berlin:20240105T100000", "SUMMARY:zoned"), timezone=BERLIN_VTIMEZONE),
        ics(component("DTSTART:20240105T100000Z", "RRULE:FREQ=DAILY;COUNT=2", "SUMMARY:series")),
        ics(component("DUE:20240105T100000Z", "SUMMARY:todo", name="VTODO")),
        ics(component("DTSTART:20240105T100000Z", "SUMMARY:x", "DESCRIPTION:rrule is only a word here")),
    ]
    for data in longer:
        assert not expansion.expands_to_itself(data)
    general, indexed, _ = both_ways(longer[1], _ts("20240101T000000Z"), _ts("20240108T000000Z"), None)
    assert same(general, indexed) and "RECURRENCE-ID:20240106T100000Z" in indexed and "RRULE" not in indexed


def test_a_single_event_outside_the_expand_window_leaves_an_empty_calendar():
    data = ics(component("DTSTART:20240105T100000Z", "DTEND:20240105T110000Z", "SUMMARY:utc"))
    general, indexed, _ = both_ways(data, _ts("20240201T000000Z"), _ts("20240208T000000Z"), None)
    assert same(general, indexed) and "VEVENT" not in indexed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=st.lists(objects(), min_size=1, max_size=5), start=_starts, hours=st.sampled_from([24, 24 * 7]),
       tz=st.sampled_from([None, BERLIN]), subset=st.booleans(), cold=st.booleans())
def test_a_page_of_objects_expands_as_each_does_alone(page, start, hours, tz, subset, cold):
    """``render_page`` (a report's page of objects at once, what the cache knows looked up
    together) answers each object as ``render`` does alone, and spends the same budget."""
    stored = []
    for data in page:
        try:
            parse_object(data)
        except Rejected:
            continue
        stored.append(data)
    assume(stored)
    qs = int(start.replace(tzinfo=UTC).timestamp())
    qe = qs + hours * 3600
    window = expand(stamp(dt.datetime.fromtimestamp(qs, UTC)), stamp(dt.datetime.fromtimestamp(qe, UTC)))
    req = request((SUBSET if subset else "") + window)
    items = [(make_etag(data), data, index_rows(data, qs, qe)) for data in stored]
    if cold:
        expansion.forget_all()
    together_budget, alone_budget = Budget(), Budget()
    together = req.render_page(items, tz, together_budget)
    alone = [req.render(data, None, tz, budget=alone_budget, instances=rows, etag=etag) for etag, data, rows in items]
    assert together == alone
    assert together_budget.used == alone_budget.used

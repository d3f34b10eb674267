"""Property tests: random time zones and rules are checked within the budget, and zone tables
give the offsets that walking every observance from its start gives."""

from __future__ import annotations

import datetime as dt

from dateutil import rrule as du
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel import zones
from kernel.budget import Budget
from kernel.ical import CALDAV, parse_object
from kernel.icaltext import read_calendar
from kernel.types import Rejected

UTC = dt.UTC
FREQS = ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
REFUSALS = {CALDAV + "valid-calendar-data", CALDAV + "max-instances", CALDAV + "valid-calendar-object-resource"}
# The bound is asserted by the budget's counters; the deadline only catches a runaway
# that escapes them, and is generous so that a loaded machine does not fail it.
SLOW = settings(deadline=30_000, max_examples=120, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def numbers(low: int, high: int, *, signed: bool = False) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    if signed:
        value = st.tuples(st.sampled_from((1, -1)), value).map(lambda p: p[0] * p[1])
    return st.lists(value, min_size=1, max_size=4, unique=True).map(lambda v: ",".join(map(str, v)))


@st.composite
def rules(draw: st.DrawFn) -> str:
    """Any RRULE: every frequency, and any mix of BYxxx parts, COUNT and UNTIL."""
    parts = [f"FREQ={draw(st.sampled_from(FREQS))}"]
    optional = {
        "INTERVAL": st.sampled_from(("1", "2", "3", "7", "12", "400", "4096")),
        "BYMONTH": numbers(1, 12),
        "BYMONTHDAY": numbers(1, 31, signed=True),
        "BYYEARDAY": numbers(1, 366, signed=True),
        "BYWEEKNO": numbers(1, 53, signed=True),
        "BYDAY": st.lists(st.tuples(st.sampled_from(("", "1", "2", "-1", "5", "-5", "53")), st.sampled_from(DAYS)),
                          min_size=1, max_size=3).map(lambda v: ",".join(n + d for n, d in v)),
        "BYHOUR": numbers(0, 23),
        "BYMINUTE": numbers(0, 59),
        "BYSECOND": numbers(0, 59),
        "BYSETPOS": numbers(1, 400, signed=True),
        "COUNT": st.sampled_from(("1", "3", "1000", "100000")),
        "UNTIL": st.sampled_from(("16020101T000000Z", "19800101T000000Z", "20300101T000000Z", "23990101")),
    }
    names = draw(st.lists(st.sampled_from(sorted(optional)), max_size=4, unique=True))
    for name in names:
        if name != "UNTIL" or "COUNT" not in names:  # RFC 5545: not both (dateutil warns)
            parts.append(f"{name}={draw(optional[name])}")
    return ";".join(parts)


def offsets() -> st.SearchStrategy[str]:
    return st.integers(-14 * 4, 14 * 4).map(lambda q: f"{'-' if q < 0 else '+'}{abs(q) // 4:02d}{abs(q) % 4 * 15:02d}")


@st.composite
def observances(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(("STANDARD", "DAYLIGHT")))
    year = draw(st.sampled_from((1, 1601, 1900, 1970, 2024, 2399, 2400, 9999)) | st.integers(1, 9999))
    start = f"{year:04d}{draw(st.integers(1, 12)):02d}{draw(st.integers(1, 28)):02d}T0{draw(st.integers(0, 3))}0000"
    lines = [f"DTSTART:{start}", f"TZOFFSETFROM:{draw(offsets())}", f"TZOFFSETTO:{draw(offsets())}"]
    if draw(st.booleans()):
        lines.append(f"RRULE:{draw(rules())}")
    if draw(st.booleans()):
        lines.append(f"RDATE:{start[:4]}0601T000000,{start[:4]}1201T000000")
    return f"BEGIN:{kind}\r\n" + "".join(f"{line}\r\n" for line in lines) + f"END:{kind}\r\n"


@st.composite
def zones_and_events(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(observances(), min_size=1, max_size=5))
    parts *= draw(st.sampled_from((1, 1, 1, 30)))  # now and then more observances than accepted
    zone = "BEGIN:VTIMEZONE\r\nTZID:Random\r\n" + "".join(parts) + "END:VTIMEZONE\r\n"
    rule = f"RRULE:{draw(rules())}\r\n" if draw(st.booleans()) else ""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hypothesis//EN\r\n" + zone
            + "BEGIN:VEVENT\r\nUID:r\r\nDTSTAMP:20240101T000000Z\r\nDTSTART;TZID=Random:20240105T100000\r\n"
            f"DURATION:PT1H\r\n{rule}END:VEVENT\r\nEND:VCALENDAR\r\n").encode()


@SLOW
@given(zones_and_events())
def test_random_zones_and_rules_are_checked_within_the_budget(data: bytes):
    zones._cache.clear()  # every example tabulates its zone
    budget = Budget()
    try:
        parse_object(data, budget=budget)
    except Rejected as exc:
        assert exc.status == 403 and exc.precondition in REFUSALS, exc.message
    limits = budget.limits
    # a charge is counted before it is refused: one zone's worth at most past the limit
    assert budget.used["instances"] <= limits.instances + limits.zone_transitions
    for table in zones._cache.values():
        assert len(table) <= table.cost <= limits.zone_transitions


# --- valid zones against a naive walk ----------------------------------------------------------


@st.composite
def valid_zones(draw: st.DrawFn) -> list[dict]:
    """Zones as clients write them: yearly rules on the nth weekday of a month, some ending;
    at most two with a rule, as in real zones (four rules from 1601 would pass the
    accepted number of offset changes, which another test covers)."""
    months = draw(st.lists(st.integers(1, 12), min_size=1, max_size=4, unique=True))
    found = []
    for position, month in enumerate(months):
        year = draw(st.sampled_from((1601, 1900, 1950, 1970, 2000, 2100)) | st.integers(1601, 2300))
        rule = f"FREQ=YEARLY;BYMONTH={month};BYDAY={draw(st.sampled_from(('1', '2', '3', '4', '-1')))}SU"
        if draw(st.booleans()):
            rule += f";UNTIL={draw(st.integers(year, 2398)):04d}0101T000000Z"
        found.append({
            "kind": draw(st.sampled_from(("STANDARD", "DAYLIGHT"))),
            "start": dt.datetime(year, month, draw(st.integers(1, 28)), draw(st.integers(0, 3))),
            "from": dt.timedelta(minutes=15 * draw(st.integers(-12 * 4, 14 * 4))),
            "to": dt.timedelta(minutes=15 * draw(st.integers(-12 * 4, 14 * 4))),
            "rule": rule if position < 2 and draw(st.integers(0, 4)) else None,
        })
    return found


def ical_offset(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def text_of(zone: list[dict]) -> bytes:
    body = ""
    for o in zone:
        rule = f"RRULE:{o['rule']}\r\n" if o["rule"] else ""
        body += (f"BEGIN:{o['kind']}\r\nDTSTART:{o['start']:%Y%m%dT%H%M%S}\r\n{rule}"
                 f"TZOFFSETFROM:{ical_offset(o['from'])}\r\nTZOFFSETTO:{ical_offset(o['to'])}\r\nEND:{o['kind']}\r\n")
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hypothesis//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Valid\r\n"
            f"{body}END:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:v\r\nDTSTAMP:20240101T000000Z\r\n"
            "DTSTART;TZID=Valid:20240105T100000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()


def naive_offset(zone: list[dict], instant: dt.datetime) -> dt.timedelta:
    """RFC 5545 3.6.5 read literally: every onset of every observance from its DTSTART on."""
    onsets = []
    for index, o in enumerate(zone):
        fixed = dt.timezone(o["from"])
        starts = [o["start"].replace(tzinfo=fixed)]
        if o["rule"]:
            starts += du.rrulestr(o["rule"], dtstart=starts[0]).between(starts[0], instant, inc=True)
        onsets += [(s.astimezone(UTC), index) for s in starts]
    onsets.sort()
    before = [(moment, index) for moment, index in onsets if moment <= instant]
    if before:
        return zone[before[-1][1]]["to"]
    first = max(index for moment, index in onsets if moment == onsets[0][0])
    return zone[first]["from"]


@settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(valid_zones(), st.lists(st.integers(int(dt.datetime(1971, 1, 1, tzinfo=UTC).timestamp()),
                                           int(dt.datetime(2399, 12, 1, tzinfo=UTC).timestamp())),
                               min_size=1, max_size=8))
def test_valid_zones_give_the_instants_a_naive_walk_gives(zone: list[dict], instants: list[int]):
    table = read_calendar(text_of(zone)).walk("VEVENT")[0]["DTSTART"].dt.tzinfo
    for seconds in instants:
        instant = dt.datetime.fromtimestamp(seconds, UTC)
        local = instant.astimezone(table)
        assert local.utcoffset() == naive_offset(zone, instant), (instant, zone)
        assert local.timestamp() == seconds  # and the wall clock reads back as the same instant

"""Property: the indexed time-range query equals a brute-force expansion of every object.

Objects are random single, all-day, and recurring events (COUNT, UNTIL, EXDATE,
a moved override, rules without end) in several time zones; the brute force
expands them with python-dateutil directly, independent of the kernel's
recurrence library, and applies RFC 4791 section 9.9.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from dateutil import rrule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.testing import add_user, make_host

UTC = dt.UTC
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
BASE = dt.datetime(2024, 1, 1)


def fmt(d: dt.datetime) -> str:
    return d.strftime("%Y%m%dT%H%M%S")


event_strategy = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["timed", "allday", "floating", "zero"]),
        "zone": st.sampled_from(ZONES),
        "day": st.integers(0, 120),
        "minute": st.integers(0, 24 * 4 - 1).map(lambda q: q * 15),
        "length": st.integers(1, 6 * 4).map(lambda q: q * 15),
        "days": st.integers(1, 3),
        "rule": st.sampled_from([None, "DAILY", "WEEKLY"]),
        "count": st.integers(1, 30),
        "bound": st.sampled_from(["count", "until", "none"]),
        "exdate": st.integers(0, 29) | st.none(),
        "moved": st.integers(0, 29) | st.none(),
        "shift": st.integers(-3 * 24, 3 * 24).map(lambda h: h * 3600),
    }
)


def render(i: int, e: dict) -> tuple[bytes, list[tuple[int, int]]]:
    """One event as iCalendar text, and its brute-force instances as (start, end) UTC seconds."""
    zone = ZoneInfo(e["zone"])
    allday = e["kind"] == "allday"
    floating = e["kind"] == "floating"
    start = BASE + dt.timedelta(days=e["day"], minutes=0 if allday else e["minute"])
    length = dt.timedelta(days=e["days"]) if allday else dt.timedelta(minutes=0 if e["kind"] == "zero" else e["length"])

    def prop(name: str, when: dt.datetime) -> str:
        if allday:
            return f"{name};VALUE=DATE:{when.strftime('%Y%m%d')}"
        if floating:
            return f"{name}:{fmt(when)}"
        return f"{name};TZID={e['zone']}:{fmt(when)}"

    def to_utc(when: dt.datetime) -> int:
        # floating and all-day times are read in UTC (the query passes no zone)
        local = when.replace(tzinfo=UTC if (allday or floating) else zone)
        return int(local.timestamp())

    lines = ["BEGIN:VEVENT", f"UID:u{i}", "DTSTAMP:20240101T000000Z", prop("DTSTART", start)]
    if e["kind"] != "zero":
        lines.append(prop("DTEND", start + length))
    starts = [start]
    recurring = e["rule"] is not None
    if recurring:
        freq = {"DAILY": rrule.DAILY, "WEEKLY": rrule.WEEKLY}[e["rule"]]
        rule = f"RRULE:FREQ={e['rule']}"
        if e["bound"] == "count":
            rule += f";COUNT={e['count']}"
            starts = list(rrule.rrule(freq, dtstart=start, count=e["count"]))
        elif e["bound"] == "until":
            until_local = start + (dt.timedelta(days=e["count"]) if freq == rrule.DAILY else dt.timedelta(weeks=e["count"]))
            if allday:
                rule += f";UNTIL={until_local.strftime('%Y%m%d')}"
            elif floating:
                rule += f";UNTIL={fmt(until_local)}"
            else:
                until_utc = until_local.replace(tzinfo=zone).astimezone(UTC)
                rule += f";UNTIL={fmt(until_utc)}Z"
            starts = list(rrule.rrule(freq, dtstart=start, until=until_local))
        else:
            starts = list(rrule.rrule(freq, dtstart=start, until=dt.datetime(2026, 12, 31)))
        lines.append(rule)
    exdate = moved = None
    if recurring and e["exdate"] is not None and e["exdate"] < len(starts):
        exdate = starts[e["exdate"]]
        lines.append(prop("EXDATE", exdate))
    lines.append("SUMMARY:x")
    lines.append("END:VEVENT")
    if recurring and e["moved"] is not None and e["moved"] < len(starts) and starts[e["moved"]] != exdate:
        moved = starts[e["moved"]]
        new_start = moved + dt.timedelta(seconds=e["shift"]) if not allday else moved + dt.timedelta(days=e["shift"] // 86400)
        lines += ["BEGIN:VEVENT", f"UID:u{i}", "DTSTAMP:20240101T000000Z", prop("RECURRENCE-ID", moved),
                  prop("DTSTART", new_start)]
        if e["kind"] != "zero":
            lines.append(prop("DTEND", new_start + length))
        lines += ["SUMMARY:moved", "END:VEVENT"]
    instances = []
    for s in starts:
        if s == exdate:
            continue
        if s == moved:
            s = new_start
        instances.append((to_utc(s), to_utc(s + length)))
    body = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", *lines, "END:VCALENDAR", ""])
    return body.encode(), instances


def overlaps(instances: list[tuple[int, int]], qs: int, qe: int) -> bool:
    """RFC 4791 9.9 for VEVENT: zero-length instances match when qs <= start < qe."""
    return any((s < qe and e > qs) if e > s else (qs <= s < qe) for s, e in instances)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(event_strategy, min_size=1, max_size=8),
    ranges=st.lists(st.tuples(st.integers(-5, 400), st.integers(1, 24 * 60)), min_size=1, max_size=6),
)
def test_index_equals_brute_force(tmp_path_factory, events: list[dict], ranges: list[tuple[int, int]]) -> None:
    directory = tmp_path_factory.mktemp("prop")
    # a small index budget, so objects with many instances take the beyond-the-index path too
    host = make_host(directory, extra="")
    host.kernel.index_max_instances = 12
    try:
        alice = add_user(host, "alice")
        # two calendars, so that the query of several at once (instances_in_ranges) is checked too
        cals = [host.writes.create_collection(alice, name, "calendar", principal=alice) for name in ("c", "d")]
        expected_instances: dict[int, dict[int, list[tuple[int, int]]]] = {cal.id: {} for cal in cals}
        for i, e in enumerate(events):
            data, instances = render(i, e)
            cal = cals[i % 2]
            resource, _, _ = host.writes.put_object(cal, f"e{i}.ics", data, principal=alice)
            expected_instances[cal.id][resource.id] = instances
        for day, hours in ranges:
            qs = int((BASE + dt.timedelta(days=day)).replace(tzinfo=UTC).timestamp())
            qe = qs + hours * 60
            want = {
                cid: sorted(rid for rid, inst in objects.items() if overlaps(inst, qs, qe))
                for cid, objects in expected_instances.items()
            }
            got = {cal.id: host.store.time_range(cal.id, qs, qe) for cal in cals}
            assert got == want, (day, hours, events)
            together = host.store.instances_in_ranges([cal.id for cal in cals], qs, qe)
            assert {cid: list(hits) for cid, hits in together.items()} == want, (day, hours, events)
            assert together == {cal.id: host.store.instances_in_range(cal.id, qs, qe) for cal in cals}
    finally:
        host.close()

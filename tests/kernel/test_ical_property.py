"""Property test: the index plus occurs_in answer time-range queries like a brute force.

The brute force expands the generated parameters with python-dateutil
directly (not recurring-ical-events, not kernel.recurrence's rebasing) and
applies the RFC 4791 section 9.9 table as written in the RFC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.ical import occurs_in, overlaps, parse_object
from kernel.types import Rejected

UTC = dt.UTC
ZONES = ["floating", "date", "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
QUERY_ZONES = [None, ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]
BASE = dt.datetime(2024, 1, 1)
INF = float("inf")


@dataclass
class Item:
    """One generated component (master or override) with the times it defines."""

    start: dt.date | None
    duration: dt.timedelta | None  # None: no end property (or no DTSTART)
    form: str  # VEVENT: DTEND, DURATION, none; VTODO: DUE, DURATION, start, due, completed, created, both, nothing
    recurrence_id: dt.date | None = None
    stamps: dict = field(default_factory=dict)


@dataclass
class Case:
    kind: str
    zone: str
    master: Item
    rule: str | None
    rdates: list
    periods: list
    exdates: list
    overrides: list[Item]
    limit: int
    horizon: int


def value(moment: dt.date, zone: str) -> tuple[str, str]:
    """(parameters, value) of a DATE or DATE-TIME in the case's zone form."""
    if zone == "date":
        return ";VALUE=DATE", moment.strftime("%Y%m%d")
    text = moment.strftime("%Y%m%dT%H%M%S")
    if zone == "floating":
        return "", text
    if zone == "UTC":
        return "", text + "Z"
    return f";TZID={zone}", text


def prop(name: str, moment: dt.date, zone: str) -> str:
    params, text = value(moment, zone)
    return f"{name}{params}:{text}"


def duration_text(delta: dt.timedelta) -> str:
    if delta.seconds == 0:
        return f"P{delta.days}D"
    return f"PT{int(delta.total_seconds()) // 60}M"


def localize(naive: dt.datetime, zone: str) -> dt.date:
    if zone == "date":
        return naive.date()
    if zone == "floating":
        return naive
    return naive.replace(tzinfo=UTC if zone == "UTC" else ZoneInfo(zone))


def rule_starts(case: Case, until: dt.datetime | None, first: int | None = None) -> list[dt.date]:
    """The RRULE's starts by dateutil, up to ``until`` (wall clock) or the first ``first``."""
    if case.rule is None:
        return []
    start = case.master.start
    if case.zone == "date":
        start = dt.datetime(start.year, start.month, start.day)
    found = []
    for moment in rrulestr(case.rule, dtstart=start):
        naive = moment.replace(tzinfo=None)
        if (until is not None and naive > until) or (first is not None and len(found) >= first):
            break
        found.append(moment.date() if case.zone == "date" else moment)
    return found


def to_ical(case: Case) -> bytes:
    def component(item: Item, master: bool) -> list[str]:
        lines = [f"BEGIN:{case.kind}", "UID:prop-1", "DTSTAMP:20240101T000000Z"]
        if item.recurrence_id is not None:
            lines.append(prop("RECURRENCE-ID", item.recurrence_id, case.zone))
        if item.start is not None:
            lines.append(prop("DTSTART", item.start, case.zone))
        if item.form in ("DTEND", "DUE"):
            lines.append(prop(item.form, item.start + item.duration, case.zone))
        elif item.form == "DURATION":
            lines.append(f"DURATION:{duration_text(item.duration)}")
        elif item.form == "due":
            lines.append(prop("DUE", item.stamps["due"], case.zone))
        for name in ("COMPLETED", "CREATED"):
            if name in item.stamps:
                lines.append(f"{name}:{item.stamps[name].strftime('%Y%m%dT%H%M%SZ')}")
        if master:
            if case.rule:
                lines.append(f"RRULE:{case.rule}")
            lines += [prop("RDATE", r, case.zone) for r in case.rdates]
            lines += [f"RDATE;VALUE=PERIOD:{s.strftime('%Y%m%dT%H%M%SZ')}/{e.strftime('%Y%m%dT%H%M%SZ')}"
                      for s, e in case.periods]
            lines += [prop("EXDATE", x, case.zone) for x in case.exdates]
        return lines + [f"END:{case.kind}"]

    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//teamcal//property//EN"]
    lines += component(case.master, True)
    for item in case.overrides:
        lines += component(item, False)
    return ("\r\n".join(lines + ["END:VCALENDAR"]) + "\r\n").encode()


# --- the brute force ----------------------------------------------------------------------


def real(moment: dt.date, tz: dt.tzinfo | None) -> int:
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime(moment.year, moment.month, moment.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz or UTC)
    return int(moment.timestamp())


def naive_of(moment: dt.date | int) -> dt.datetime:
    """A wall clock or UTC instant as a naive datetime (for enumeration caps)."""
    if isinstance(moment, int):
        return dt.datetime.fromtimestamp(moment, UTC).replace(tzinfo=None)
    if not isinstance(moment, dt.datetime):
        return dt.datetime(moment.year, moment.month, moment.day)
    return moment.replace(tzinfo=None)


def rfc_overlap(kind: str, item: Item, start: dt.date, qs, qe, tz) -> bool:
    """RFC 4791 9.9 for one instance; ``start`` is the instance's DTSTART (or None)."""
    if start is None:  # VTODO without DTSTART
        if item.form == "due":
            due = real(item.stamps["due"], tz)
            return qs < due and qe >= due
        completed = item.stamps.get("COMPLETED")
        created = item.stamps.get("CREATED")
        if completed and created:
            co, cr = real(completed, tz), real(created, tz)
            return (qs <= cr or qs <= co) and (qe >= cr or qe >= co)
        if completed:
            co = real(completed, tz)
            return qs <= co and qe >= co
        if created:
            return qe > real(created, tz)
        return True
    s = real(start, tz)
    end = None if item.duration is None else real(start + item.duration, tz)
    if kind == "VEVENT":
        if item.form == "none" and not isinstance(start, dt.datetime):
            return qs < real(start + dt.timedelta(days=1), tz) and qe > s
        if end is None or end == s:
            return qs <= s and qe > s
        return qs < end and qe > s
    if item.form == "DURATION":
        return qs <= end and (qe > s or qe >= end)
    if item.form == "DUE":
        return (qs < end or qs <= s) and (qe > s or qe >= end)
    return qs <= s and qe > s


def brute_force(case: Case, qs: int | None, qe: int | None, tz) -> bool:
    lo = -INF if qs is None else qs
    hi = INF if qe is None else qe
    instances: list[tuple[Item, dt.date]] = []
    if case.rule is None and not case.rdates and not case.periods:
        instances.append((case.master, case.master.start))
    else:
        # every start that could matter: up to the query's end; for an open-ended
        # query all of a finite rule, or a stretch past every EXDATE of an endless one
        if qe is not None:
            cap = dt.datetime.fromtimestamp(qe, UTC).replace(tzinfo=None) + dt.timedelta(days=2)
        elif case.rule is None or "COUNT=" in case.rule or "UNTIL=" in case.rule:
            cap = None
        else:
            special = [naive_of(x) for x in case.exdates + [o.recurrence_id for o in case.overrides]]
            cap = max([BASE, naive_of(qs or 0), *special]) + dt.timedelta(days=3 * 366)
        starts = [case.master.start, *rule_starts(case, cap), *case.rdates]
        excluded = {real(x, None) for x in case.exdates}
        moved = {real(o.recurrence_id, None) for o in case.overrides}
        seen = set()
        for moment in starts:
            key = real(moment, None)
            if key in excluded or key in moved or key in seen:
                continue
            seen.add(key)
            instances.append((case.master, moment))
        for s, e in case.periods:
            if real(s, None) not in excluded | moved | seen:
                instances.append((Item(s, e - s, "DURATION" if case.kind == "VTODO" else "DTEND"), s))
        instances += [(o, o.start) for o in case.overrides]
    return any(rfc_overlap(case.kind, item, start, lo, hi, tz) for item, start in instances)


def answer(data: bytes, case: Case, qs, qe, tz) -> bool:
    """The server's answer: the index, then occurs_in past indexed_until."""
    cal, info = parse_object(data, max_index_instances=case.limit, horizon=case.horizon)
    assert len(info.instances) <= case.limit
    if any(overlaps(i, qs, qe, tz) for i in info.instances):
        return True
    until = info.indexed_until
    return until is not None and (qe is None or qe >= until) and occurs_in(cal, qs, qe, tz, after=until)


# --- generation ------------------------------------------------------------------------------

RULES = st.one_of(
    st.builds(lambda i: f"FREQ=DAILY;INTERVAL={i}", st.integers(1, 3)),
    st.builds(lambda i, days, wkst: f"FREQ=WEEKLY;INTERVAL={i}" + (f";BYDAY={days}" if days else "") + wkst,
              st.integers(1, 3), st.sampled_from(["", "MO,WE", "TU,SA,SU", "FR"]),
              st.sampled_from(["", ";WKST=SU"])),
    st.builds(lambda i, by: f"FREQ=MONTHLY;INTERVAL={i}{by}", st.integers(1, 3),
              st.sampled_from(["", ";BYDAY=1MO", ";BYDAY=-1FR", ";BYMONTHDAY=1,15", ";BYDAY=MO,TU;BYSETPOS=2"])),
    st.just("FREQ=YEARLY"),
    st.builds(lambda i: f"FREQ=HOURLY;INTERVAL={i}", st.integers(7, 13)),
)


@st.composite
def cases(draw) -> Case:
    kind = draw(st.sampled_from(["VEVENT", "VTODO"]))
    zone = draw(st.sampled_from(ZONES))
    naive = BASE + dt.timedelta(minutes=draw(st.integers(0, 2 * 365 * 24 * 4)) * 15)
    start = localize(naive, zone)
    recurring = draw(st.booleans())
    if zone == "date":
        duration = dt.timedelta(days=draw(st.integers(1, 3)))
    else:
        duration = dt.timedelta(minutes=draw(st.sampled_from([0, 15, 60, 90, 600, 1440, 3000])))
    if kind == "VEVENT":
        forms = ["DTEND", "DURATION", "none"]
    else:
        forms = ["DUE", "DURATION", "start"] + ([] if recurring else ["due", "completed", "created", "both", "nothing"])
    form = draw(st.sampled_from(forms))
    master = Item(start, duration if form in ("DTEND", "DURATION", "DUE") else None, form)
    if form in ("due", "completed", "created", "both", "nothing"):
        master.start = None
        stamp = lambda: BASE.replace(tzinfo=UTC) + dt.timedelta(hours=draw(st.integers(0, 20000)))  # noqa: E731
        if form == "due":
            master.stamps["due"] = start
        if form in ("completed", "both"):
            master.stamps["COMPLETED"] = stamp()
        if form in ("created", "both"):
            master.stamps["CREATED"] = stamp()
    case = Case(kind, zone, master, None, [], [], [], [], draw(st.integers(1, 30)),
                real(BASE, None) + draw(st.integers(0, 3 * 366)) * 86400)
    if not recurring:
        return case
    rule = draw(RULES)
    if zone == "date" and rule.startswith("FREQ=HOURLY"):
        rule = "FREQ=DAILY"
    end = draw(st.sampled_from(["count", "until", "none"]))
    if end == "count":
        rule += f";COUNT={draw(st.integers(1, 40))}"
    elif end == "until":
        limit = naive + dt.timedelta(days=draw(st.integers(1, 900)))
        rule += ";UNTIL=" + (limit.strftime("%Y%m%d") if zone == "date" else
                             limit.strftime("%Y%m%dT%H%M%S") + ("" if zone == "floating" else "Z"))
    case.rule = rule
    step = dt.timedelta(days=1) if zone == "date" else dt.timedelta(minutes=15)
    case.rdates = [start + step * draw(st.integers(1, 4000)) for _ in range(draw(st.integers(0, 2)))]
    if zone == "UTC" and kind == "VEVENT" and draw(st.booleans()):
        s = start + step * draw(st.integers(1, 4000))
        case.periods = [(s, s + dt.timedelta(minutes=draw(st.integers(1, 3000))))]
    candidates = list(dict.fromkeys([start, *rule_starts(case, None, first=40), *case.rdates]))
    picks = draw(st.lists(st.integers(0, len(candidates) - 1), max_size=4, unique=True))
    chosen = [candidates[i] for i in picks]
    split = draw(st.integers(0, len(chosen)))
    case.exdates = chosen[:split]
    for original in chosen[split:]:
        shift = step * draw(st.integers(-200, 200))
        length = duration if master.duration is None else (
            dt.timedelta(days=draw(st.integers(1, 3))) if zone == "date"
            else dt.timedelta(minutes=draw(st.sampled_from([0, 30, 120]))))
        case.overrides.append(Item(original + shift, master.duration and length, form, original))
    return case


def anchors(case: Case) -> list[int]:
    """Instants worth querying around: instance starts (also past the index) and the horizon."""
    starts = [case.master.start, *rule_starts(case, None, first=60), *case.rdates,
              *(s for s, _ in case.periods), *(o.start for o in case.overrides)]
    return [real(s, None) for s in starts if s is not None] + [case.horizon]


@st.composite
def queries(draw, near: list[int]):
    first = int(dt.datetime(2023, 6, 1, tzinfo=UTC).timestamp())
    if draw(st.booleans()):
        start = first + draw(st.integers(0, 5 * 365 * 96)) * 900
    else:
        start = draw(st.sampled_from(near)) + draw(st.integers(-16, 16)) * 900
    start += draw(st.sampled_from([0, 0, 1, -1]))
    length = draw(st.one_of(st.integers(1, 60 * 96).map(lambda n: n * 900), st.integers(1, 3), st.none()))
    end = None if length is None else start + length
    if draw(st.integers(0, 9)) == 0:
        start = None
    return start, end, draw(st.sampled_from(QUERY_ZONES))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.data())
def test_index_and_occurs_in_agree_with_brute_force(case, data):
    qs, qe, tz = data.draw(queries(anchors(case)), label="query")
    text = to_ical(case)
    expected = brute_force(case, qs, qe, tz)
    assert answer(text, case, qs, qe, tz) == expected, text.decode()
    cal = parse_object(text)[0]
    assert occurs_in(cal, qs, qe, tz) == expected, text.decode()


# --- rules with BYxxx parts, queried far from DTSTART (rebasing) ------------------------------

BY_RULES = st.builds(
    lambda freq, interval, parts, wkst: ";".join([f"FREQ={freq}", f"INTERVAL={interval}", *parts, *wkst]),
    st.sampled_from(["YEARLY", "MONTHLY", "WEEKLY", "DAILY"]),
    st.integers(1, 4),
    st.lists(st.sampled_from([
        "BYMONTH=1,4,7,10", "BYMONTH=2", "BYDAY=MO,FR", "BYDAY=SU", "BYMONTHDAY=1,-1",
        "BYMONTHDAY=13", "BYHOUR=8,20", "BYMINUTE=0,30", "BYSETPOS=1,-1",
    ]), max_size=3, unique_by=lambda p: p.split("=")[0]),
    st.sampled_from([[], ["WKST=SU"], ["WKST=TH"]]),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BY_RULES, st.sampled_from(ZONES[2:] + ["floating"]), st.integers(0, 365 * 96), st.data())
def test_far_queries_match_dateutil(rule, zone, offset, data):
    start = localize(BASE + dt.timedelta(minutes=15 * offset), zone)
    case = Case("VEVENT", zone, Item(start, dt.timedelta(hours=1), "DURATION"), rule,
                [], [], [], [], 5000, 0)
    text = to_ical(case)
    try:
        cal = parse_object(text)[0]
    except Rejected:
        return  # a rule without any instance is refused: nothing to compare
    starts = rule_starts(case, BASE + dt.timedelta(days=6 * 366), first=3000)
    far = [real(s, None) for s in starts[len(starts) // 2:]] or [real(start, None)]
    qs = data.draw(st.sampled_from(far), label="anchor") + data.draw(st.integers(-8, 8), label="shift") * 1800
    qe = qs + data.draw(st.sampled_from([1, 1800, 3600, 86400]), label="length")
    tz = data.draw(st.sampled_from(QUERY_ZONES), label="tz")
    until = dt.datetime.fromtimestamp(qe, UTC).replace(tzinfo=None) + dt.timedelta(days=2)
    expected = any(rfc_overlap("VEVENT", case.master, s, qs, qe, tz)
                   for s in [start, *rule_starts(case, until)])
    assert occurs_in(cal, qs, qe, tz) == expected, text.decode()

"""Bounded expansion of recurring calendar components.

recurring-ical-events computes the occurrences (RRULE, RDATE incl. PERIOD,
EXDATE, overrides, RANGE=THISANDFUTURE, DURATION, VTIMEZONE zones). This module
only chooses the time windows it is asked about, so that the work stays
bounded even for a ``FREQ=SECONDLY`` rule without end:

* every window is cut after a fixed number of rule starts, found by merging
  the dateutil rules lazily;
* for a window far from DTSTART, rules without COUNT are *rebased*: the same
  rule, restarted at an aligned period near the window with the defaults
  RFC 5545 derives from DTSTART spelled out, yields the same starts there
  without iterating everything before;
* ``check_rules`` refuses rules that would defeat this (COUNT too large,
  too many candidates per period or steps per instance, no instance at all).

Times are compared as integer *keys*: seconds since the epoch in UTC for
date-times with a zone, the wall clock read as if it were UTC for floating
date-times and dates. This relies on dateutil's ``rrule`` attributes
(``_freq``, ``_byhour``, ...) and on recurring-ical-events' ``Series``
internals (``recurrence.rrules``, ``Occurrence._adapter``), both pinned.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import math
from collections.abc import Iterator
from math import gcd, prod
from typing import Any, NamedTuple

import icalendar
from dateutil import rrule as du
from recurring_ical_events import CalendarQuery
from recurring_ical_events.series import Series

from kernel.budget import Budget

UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_DAY = 86400
#: The largest change of UTC offset a wall-clock duration may cross (seconds).
DST_SLACK = 2 * 3600

#: Largest COUNT accepted: rules with COUNT cannot be rebased, so checking one
#: far out iterates up to COUNT starts.
MAX_COUNT = 100_000
#: Largest number of times of day one period of a rule may generate.
MAX_TIMESET = 1440
#: Largest number of candidate starts one period of a rule may generate.
MAX_PERIOD_CANDIDATES = 50_000
#: Largest number of BYSETPOS positions (dateutil scans a period's days once for each).
MAX_SETPOS = 16
#: How many days the check that a rule repeating daily or more often has an
#: instance looks at (about 68 years; coarser rules are checked over a whole cycle).
MAX_PROBE_DAYS = 25_000
#: Largest number of hours, minutes or seconds dateutil may step through for each
#: instance of a rule finer than daily (FREQ=SECONDLY;BYMINUTE=0;BYSECOND=0 needs 3,600;
#: FREQ=HOURLY;BYDAY=MO;BYHOUR=9 needs 78).
MAX_STEPS_PER_INSTANCE = 300
#: Rule starts per window when scanning for an overlap (grows when a window
#: holds no match).
_FIRST_WINDOW = 64
_MAX_WINDOW = 4096

_CYCLE = {  # the 400-year Gregorian cycle in units of each frequency
    du.YEARLY: 400,
    du.MONTHLY: 4800,
    du.WEEKLY: 20871,
    du.DAILY: 146097,
    du.HOURLY: 146097 * 24,
    du.MINUTELY: 146097 * 1440,
    du.SECONDLY: 146097 * 86400,
}
_UNIT = {du.DAILY: _DAY, du.HOURLY: 3600, du.MINUTELY: 60, du.SECONDLY: 1}
_UNITS_PER_DAY = {du.HOURLY: 24, du.MINUTELY: 1440, du.SECONDLY: 86400}
_PROBE_KEPT_DAYS = 500
_DAYS_PER_PERIOD = {du.YEARLY: 366, du.MONTHLY: 31, du.WEEKLY: 7}


class TooComplex(ValueError):
    """A rule this server will not expand (too many instances or candidates)."""


class Occurrence(NamedTuple):
    """One occurrence: start and end as recurring-ical-events computed them,
    the component it comes from (master or override) and its RECURRENCE-ID value."""

    start: dt.date
    end: dt.date
    component: icalendar.Component
    recurrence_id: dt.date


def to_key(value: dt.date) -> int:
    """Seconds since the epoch: real UTC for zoned date-times, wall clock as if UTC otherwise."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return int(value.timestamp())
        return (
            (value.toordinal() - _EPOCH_ORDINAL) * _DAY
            + value.hour * 3600
            + value.minute * 60
            + value.second
        )
    return (value.toordinal() - _EPOCH_ORDINAL) * _DAY


def is_floating(value: dt.date) -> bool:
    """True for dates and date-times without a zone."""
    return not isinstance(value, dt.datetime) or value.tzinfo is None


MIN_KEY = to_key(dt.datetime(2, 1, 1))
MAX_KEY = to_key(dt.datetime(9999, 12, 1))


def naive(key: int) -> dt.datetime:
    """The naive datetime of a key (clamped to years 2 to 9999)."""
    return _EPOCH + dt.timedelta(seconds=min(max(key, MIN_KEY), MAX_KEY))


def _utc(key: int) -> dt.datetime:
    return naive(key).replace(tzinfo=UTC)


def wall_key(key: int, tz: dt.tzinfo | None) -> int:
    """The wall clock in ``tz`` at UTC instant ``key``, as a key."""
    if tz is None:
        return key
    offset = _utc(key).astimezone(tz).utcoffset()
    return key + (int(offset.total_seconds()) if offset is not None else 0)


def dst_margin(key: int, tz: dt.tzinfo | None) -> int:
    """Slack for wall-clock bounds near ``key``: any change of UTC offset within a day of it."""
    if tz is None:
        return 0
    offsets = [_utc(key + d).astimezone(tz).utcoffset() or dt.timedelta() for d in (-_DAY, _DAY)]
    return abs(int((offsets[1] - offsets[0]).total_seconds()))


def build_series(calendar: icalendar.Calendar, name: str) -> Series:
    """The recurring-ical-events series of the one UID in ``calendar``."""
    (series,) = CalendarQuery(calendar, components=(name,)).series
    return series


def _rules(series: Series) -> list[du.rrulebase]:
    """The series' dateutil rules: the RDATE/DTSTART set first, then one per RRULE."""
    return list(series.recurrence.rrules) if series.recurrence.has_core else []


def check_rules(series: Series) -> None:
    """Raise TooComplex or ValueError for a master RRULE this module cannot bound."""
    for rule in _rules(series)[1:]:
        check_rule(rule)
        if not _productive(rule):
            raise ValueError("RRULE never produces an instance")


def check_rule(rule: du.rrule) -> None:
    """Raise TooComplex or ValueError for a rule whose periods cost too much to examine.

    One period of a rule costs dateutil its candidate days times its times of
    day, and its candidate days once more for every BYSETPOS position.
    """
    if rule._count is not None and rule._count > MAX_COUNT:
        raise TooComplex(f"RRULE COUNT is above {MAX_COUNT}")
    if rule._freq < du.HOURLY:
        parts = (rule._byhour, rule._byminute, rule._bysecond)
    else:
        parts = (rule._byminute, rule._bysecond)[rule._freq - du.HOURLY :]
    timeset = prod(len(p) for p in parts if p)
    days = _DAYS_PER_PERIOD.get(rule._freq, 1)
    if timeset > MAX_TIMESET or timeset * days > MAX_PERIOD_CANDIDATES:
        raise TooComplex("RRULE generates too many candidate times per period")
    if rule._bysetpos and len(rule._bysetpos) > MAX_SETPOS:
        raise TooComplex(f"RRULE BYSETPOS lists more than {MAX_SETPOS} positions")
    if rule._bysetpos and all(abs(p) > timeset * days for p in rule._bysetpos):
        # dateutil would search every period up to year 9999 for it (minutes, seconds)
        raise ValueError("RRULE BYSETPOS selects no instance")


def _explicit(rule: du.rrule) -> dict[str, Any]:
    """The BYxxx parts dateutil derived from DTSTART, spelled out so a new DTSTART keeps them."""
    weekdays = [du.weekday(d) for d in rule._byweekday or ()]
    weekdays += [du.weekday(d, n) for d, n in rule._bynweekday or ()]
    monthdays = tuple(rule._bymonthday or ()) + tuple(rule._bynmonthday or ())
    return {
        "bymonth": rule._bymonth,
        "bymonthday": monthdays or None,
        "byweekday": weekdays or None,
        "byhour": rule._byhour,
        "byminute": rule._byminute,
        "bysecond": rule._bysecond,
    }


def _productive(rule: du.rrule) -> bool:
    """Whether the rule (ignoring COUNT and UNTIL) has any instance at all.

    Its starts repeat with the 400-year Gregorian cycle (times the interval,
    where that does not divide the cycle), so one such stretch shows whether
    any exist. The stretch is tried just before year 9999, where dateutil
    stops by itself, so that even a rule without instances is checked in
    bounded time. When that stretch would exceed 800 years, interval 1 is
    probed instead (necessary, not sufficient). A daily rule is probed over
    :data:`MAX_PROBE_DAYS` days only (dateutil examines each of them): one
    without an instance in that long counts as having none. Rules finer than
    daily are judged on the days they keep, and raise TooComplex when dateutil
    would step through too many times of day per instance (:func:`_steps_per_instance`).
    """
    if rule._freq >= du.HOURLY:
        steps = _steps_per_instance(rule)
        if steps == math.inf:
            return False
        if steps > MAX_STEPS_PER_INSTANCE:
            raise TooComplex("RRULE steps through too many times of day for each instance")
        return True
    interval = rule._interval
    years = cycle_years(rule)
    if years > 800:
        years, interval = 400, 1
    if rule._freq >= du.DAILY:
        years = min(years, MAX_PROBE_DAYS // 366)
    endless = rule.replace(interval=interval, until=None, count=None, cache=False, **_explicit(rule))
    probe = rebase(endless, dt.datetime(dt.MAXYEAR - years, 1, 1))
    return probe is not None and next(iter(probe), None) is not None


def _steps_per_instance(rule: du.rrule) -> float:
    """How many hours, minutes or seconds dateutil steps through per instance of a rule finer
    than daily (infinite when it keeps no day).

    On a day it keeps, dateutil steps through the whole day; on a day it
    drops, from midnight to the first time of day the rule keeps. How often
    days are kept is counted on the same rule made daily, over at most
    :data:`MAX_PROBE_DAYS` days at the end of the calendar.
    """
    hours, minutes, seconds = (sorted(p or range(n)) for p, n in
                               ((rule._byhour, 24), (rule._byminute, 60), (rule._bysecond, 60)))
    kept = len(hours) * len(minutes) * len(seconds)
    walk: int = {du.HOURLY: hours[0], du.MINUTELY: hours[0] * 60 + minutes[0]}.get(
        rule._freq, hours[0] * 3600 + minutes[0] * 60 + seconds[0])
    steps = _UNITS_PER_DAY[rule._freq] / kept
    parts = _explicit(rule)
    if not (parts["bymonth"] or parts["bymonthday"] or parts["byweekday"] or rule._byyearday or rule._byweekno):
        return steps  # every day is kept
    daily = rule.replace(freq=du.DAILY, interval=1, until=None, count=None, bysetpos=None, cache=False,
                         **{**parts, "byhour": 0, "byminute": 0, "bysecond": 0})
    probe = rebase(daily, dt.datetime(dt.MAXYEAR - MAX_PROBE_DAYS // 366, 1, 1))
    days = list(itertools.islice(probe, _PROBE_KEPT_DAYS)) if probe is not None else []
    if not days:
        return math.inf
    span = (days[-1] - days[0]).days + 1 if len(days) > 1 else MAX_PROBE_DAYS
    return steps + (span / len(days) - 1) * max(walk, 1) / kept


def cycle_years(rule: du.rrule) -> int:
    """Years after which the rule's starts repeat: the 400-year Gregorian cycle, times
    whatever factor of the interval does not divide that cycle's count of periods."""
    interval: int = rule._interval
    return 400 * (interval // gcd(interval, _CYCLE[rule._freq]))


def _aligned(rule: du.rrule, start: dt.datetime, target: dt.datetime) -> dt.datetime:
    """The earliest time >= ``target`` (or a week start before it) in a period of the rule."""
    freq, n = rule._freq, rule._interval
    if freq == du.YEARLY:
        p = target.year - start.year
        return target if p % n == 0 else dt.datetime(start.year + (p // n + 1) * n, 1, 1)
    if freq == du.MONTHLY:
        p = (target.year - start.year) * 12 + target.month - start.month
        if p % n == 0:
            return target
        year, month = divmod(start.year * 12 + start.month - 1 + (p // n + 1) * n, 12)
        return dt.datetime(year, month + 1, 1)
    if freq == du.WEEKLY:
        # dateutil cuts the first week at DTSTART, which matters for BYSETPOS:
        # restart at the beginning of a week.
        def week(d: dt.datetime) -> dt.date:
            return d.date() - dt.timedelta(days=(d.weekday() - rule._wkst) % 7)

        first = week(start)
        p = (week(target) - first).days // 7
        return dt.datetime.combine(first + dt.timedelta(weeks=-(-p // n) * n), dt.time())
    unit = _UNIT[freq]
    p = to_key(target) // unit - to_key(start) // unit
    if p % n == 0:
        return target
    return naive((to_key(start) // unit + (p // n + 1) * n) * unit)


def rebase(rule: du.rrulebase, target: dt.datetime) -> du.rrulebase | None:
    """``rule`` restarted near wall-clock ``target`` (None: no start from there on).

    Only rules without COUNT are rebased; the RDATE set and rules whose
    DTSTART is not before ``target`` are returned as they are.
    """
    if not isinstance(rule, du.rrule) or rule._count is not None:
        return rule
    start = rule._dtstart.replace(tzinfo=None)
    if target <= start:
        return rule
    try:
        new_start = _aligned(rule, start, target)
    except (OverflowError, ValueError):
        return None
    if new_start <= start:
        return rule
    if new_start.year >= dt.MAXYEAR:
        return None
    rebased = rule.replace(
        dtstart=new_start.replace(tzinfo=rule._tzinfo), cache=False, **_explicit(rule)
    )
    rebased.until = getattr(rule, "until", rule._until)  # recurring-ical-events reads this attribute
    return rebased


def _zone(series: Series) -> dt.tzinfo | None:
    """The zone the series' rules run in (None: floating or dates)."""
    return series.recurrence.tzinfo if series.recurrence.has_core else None


def _target(series: Series, key: int) -> dt.datetime:
    """The wall-clock time in the series' zone before which no start can reach ``key``."""
    tz = _zone(series)
    if tz is None:
        return naive(key)
    return naive(wall_key(key, tz) - dst_margin(key, tz))


def _rule_time(series: Series, key: int) -> dt.datetime:
    return naive(key) if _zone(series) is None else _utc(key)


def _kth_start(series: Series, rules: list[du.rrulebase], lo: int, hi: int | None, k: int) -> int | None:
    """The key of the k-th rule start at or after ``lo``, or None when fewer than k come before ``hi``."""
    first = _rule_time(series, lo)
    starts = heapq.merge(*(map(to_key, r.xafter(first, inc=True)) for r in rules))
    for i, key in enumerate(starts, 1):
        if hi is not None and key >= hi:
            return None
        if i == k:
            return key
    return None


def _occurrences(series: Series, lo: int, hi: int) -> Iterator[Occurrence]:
    """Occurrences overlapping [lo, hi) in key space, as recurring-ical-events finds them.

    The RECURRENCE-ID of an occurrence generated from the master is its start
    (the very object, when nothing moved it).
    """
    adapters: dict[int, tuple[Any, ...]] = {}
    for occ in series.between(_utc(lo), _utc(hi)):
        adapter = occ._adapter
        known = adapters.get(id(adapter))
        if known is None:
            component = adapter._component
            rid = component["RECURRENCE-ID"].dt if "RECURRENCE-ID" in component else None
            known = adapters[id(adapter)] = (
                component, rid, adapter.start, adapter.move_recurrences_by
            )
        component, rid, own_start, move = known
        if rid is None or occ.start != own_start:  # from the master or THISANDFUTURE
            rid = occ.start - move if move else occ.start
        yield Occurrence(occ.start, occ.end, component, rid)


def _moves(series: Series) -> list[int]:
    return [int(a.move_recurrences_by.total_seconds()) for a in series.modifications]


def expand(
    series: Series, limit: int, horizon: int
) -> tuple[list[Occurrence], int | None]:
    """The occurrences starting before a cut, and the cut.

    The cut is ``horizon`` or the key of a rule start after which fewer than
    ``limit`` + 1 instances fit; it is None when nothing starts at or after
    ``horizon``. Occurrences beyond ``limit`` in the list are the caller's
    to drop.
    """
    rules = _rules(series)
    firsts = [to_key(f) for f in (next(iter(r), None) for r in rules) if f is not None]
    firsts += [to_key(a.start) for a in series.modifications]
    if not firsts:
        return [], None
    moves = _moves(series)
    lo = min(firsts) + min([0, *moves]) - 1
    exdates = len(series.recurrence.exdates) if series.recurrence.has_core else 0
    # starts of DTSTART and EXDATEs may be counted twice or in vain: add them
    cut = _kth_start(series, rules, lo, horizon, limit + 1 + exdates + len(rules))
    stop = horizon if cut is None else cut
    found = list(_occurrences(series, lo, stop)) if lo < stop else []
    if cut is None:
        later = _kth_start(series, rules, horizon - max([0, *moves]), None, 1) is not None
        if not later and all(to_key(a.start) < horizon for a in series.modifications):
            return found, None
    return found, stop


def scan(series: Series, lo: int, hi: int, budget: Budget) -> Iterator[Occurrence]:
    """Occurrences starting in [lo, hi) (and some overlapping it), lazily, window by window.

    Each window holds a bounded number of rule starts; rules are rebased to
    the window, so a window far from DTSTART costs no more than a near one.
    Every occurrence computed is spent from ``budget`` (``instances``); a
    window never holds more than the budget has left.
    """
    originals = _rules(series)
    k = _FIRST_WINDOW
    while lo < hi:
        k = min(k, budget.left("instances"))
        if k < 1:
            budget.spend("instances")  # raises: nothing left
        target = _target(series, lo)
        rules = [r for r in (rebase(r, target) for r in originals) if r is not None]
        cut = _kth_start(series, rules, lo, hi, k)
        stop = hi if cut is None else max(cut, lo + 1)
        if series.recurrence.has_core:
            series.recurrence.rrules = rules
        try:
            found = list(_occurrences(series, lo, stop))
        finally:
            if series.recurrence.has_core:
                series.recurrence.rrules = originals
        budget.spend("instances", len(found))
        yield from found
        lo, k = stop, min(k * 4, _MAX_WINDOW)


def max_duration(series: Series) -> int:
    """Seconds: the longest instance (incl. RDATE periods) plus any forward THISANDFUTURE move."""
    durations = [a.duration for a in series.components]
    if series.recurrence.has_core:
        durations += series.recurrence.replace_ends.values()
    longest = max([0, *(int(d.total_seconds()) for d in durations)])
    return longest + max([0, *_moves(series)])


def reach(series: Series, name: str) -> int:
    """Seconds before a window's start at which an instance may start and still overlap it.

    The longest instance (a dated VJOURNAL lasts a day), plus two hours unless
    every component starts in UTC: lengths are wall-clock, so across a change
    of UTC offset an instance may be longer.
    """
    longest = max_duration(series) + (_DAY if name == "VJOURNAL" else 0)
    utc = all(isinstance(a.start, dt.datetime)
              and (a.start.tzinfo is UTC or getattr(a.start.tzinfo, "key", None) == "UTC")
              for a in series.components)
    return longest + DST_SLACK if longest and not utc else longest


def key_bounds(series: Series, low: int, high: int, tz: dt.tzinfo | None) -> tuple[int, int]:
    """Real UTC bounds on instance starts as bounds in the series' key space (the wall
    clock read as UTC for floating times, read in ``tz``)."""
    los, his = [], []
    if has_zoned(series):
        los.append(low)
        his.append(high)
    if has_floating(series):
        los.append(wall_key(low, tz) - dst_margin(low, tz))
        his.append(wall_key(high, tz) + dst_margin(high, tz))
    return max(min(los), MIN_KEY), min(max(his), MAX_KEY)


def has_floating(series: Series) -> bool:
    """Whether any component of the series starts with a date or a floating date-time."""
    return any(is_floating(a.start) for a in series.components)


def has_zoned(series: Series) -> bool:
    """Whether any component of the series starts with a zoned date-time."""
    return any(not is_floating(a.start) for a in series.components)

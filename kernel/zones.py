"""Custom time zones, resolved once into bounded transition tables.

A VTIMEZONE whose TZID is not an IANA name (Outlook's "W. Europe Standard
Time", an "Office Time") defines its offsets by observances (RFC 5545
3.6.5): STANDARD and DAYLIGHT components whose onsets (DTSTART, RDATE and
RRULE instances, wall-clock times in TZOFFSETFROM) switch the offset to
TZOFFSETTO. dateutil's ``tzical`` answers every offset lookup by walking each
rule from its DTSTART, so one rule repeating every second since 1601 freezes
the process. Here a definition is resolved once into a :class:`ZoneTable`, a
tzinfo backed by the sorted UTC instants at which the offset changes, looked
up by bisection.

The table holds the onsets from the zone's first one up to :data:`END`. A
rule that began long before :data:`START` is restarted one interval before it
(or before its UNTIL, when it ended earlier; ``recurrence.rebase``), so the
onsets it had before are left out. Before the first onset in the table its
TZOFFSETFROM applies, from :data:`END` on the last offset. Resolved zones are
kept in a bounded cache (:data:`CACHE_SIZE`) keyed by the definition: the
TZID and its observances, so that two objects defining "Office Time"
differently never share offsets.

Refused with :class:`ZoneRefused` (403 CALDAV:valid-calendar-data on a
write), in a sentence naming the zone, the observance and why:

* an observance without DTSTART, TZOFFSETFROM or TZOFFSETTO, a rule with both
  COUNT and UNTIL, a rule dateutil cannot read;
* a rule finer than daily (FREQ=HOURLY, MINUTELY or SECONDLY);
* more observances than ``Limits.zone_observances``;
* more possible transitions than ``Limits.zone_transitions``: one for each
  DTSTART and RDATE and one for every period of a rule up to :data:`END`
  (dateutil examines every period, whether it holds an onset or not; once
  more for each BYSETPOS position), or
  more onsets than that once the rules are expanded.

The periods a zone examines are spent from the request's budget (counter
``instances``) when the zone is not cached. dateutil stops iterating a rule
only at an instance past its UNTIL or COUNT, or after year 9999: so each rule
runs shifted by a whole number of its cycles (``recurrence.cycle_years``,
which keeps weekdays and leap days) to end just before year 10000, and its
instances are shifted back; a rule that never has an instance in that stretch
costs no more than one that has them all.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import threading
from array import array
from collections import OrderedDict
from typing import Any, NamedTuple

import icalendar
from dateutil import rrule as du

from kernel import recurrence
from kernel.budget import Budget, Limits

#: Rules that began earlier are restarted one interval before this.
START = dt.datetime(1970, 1, 1)
#: The table ends here: from then on the last offset applies.
END = dt.datetime(2400, 1, 1)
#: Resolved zones kept (each at most ``zone_transitions`` entries).
CACHE_SIZE = 256

_FREQS = {"YEARLY": du.YEARLY, "MONTHLY": du.MONTHLY, "WEEKLY": du.WEEKLY, "DAILY": du.DAILY}
_TOO_FINE = ("HOURLY", "MINUTELY", "SECONDLY")
_PERIOD_DAYS = {du.YEARLY: 365.2425, du.MONTHLY: 30.436875, du.WEEKLY: 7, du.DAILY: 1}
_AFTER_LAST_DAY = dt.date.max.toordinal() + 1
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_DAY = dt.timedelta(days=1)
_ZERO = dt.timedelta(0)
_UTC = dt.UTC

_cache: OrderedDict[tuple[Any, ...], ZoneTable] = OrderedDict()
_cache_lock = threading.Lock()


class ZoneRefused(ValueError):
    """A VTIMEZONE this server will not resolve; the message says which zone, observance and why."""


class Observance(NamedTuple):
    """One STANDARD or DAYLIGHT component as the table needs it (hashable: part of the cache key)."""

    number: int
    kind: str
    start: dt.datetime
    offset_from: dt.timedelta
    offset_to: dt.timedelta
    name: str
    rules: tuple[str, ...]
    dates: tuple[int, ...]

    def describe(self) -> str:
        """Which observance this is, for messages."""
        return f"its {self.kind} observance {self.number} (from {self.start.isoformat(sep=' ')})"


class State(NamedTuple):
    """What applies between two transitions."""

    offset: dt.timedelta
    dst: dt.timedelta
    name: str


def _seconds(value: dt.datetime) -> int:
    """The wall clock of a datetime as seconds since 1970 (its tzinfo ignored)."""
    return ((value.toordinal() - _EPOCH_ORDINAL) * 86400 + value.hour * 3600
            + value.minute * 60 + value.second)


class ZoneTable(dt.tzinfo):
    """A tzinfo backed by a sorted table of (UTC instant, state) transitions.

    ``key`` is the TZID, as ``zoneinfo.ZoneInfo.key`` is the IANA name, so that
    icalendar writes the TZID of a date-time in this zone. ``cost`` is the
    number of transitions the definition was counted at: its possible ones
    (one per rule period), or its onsets when a period held several.
    """

    def __init__(self, key: str, instants: list[int], which: list[int], states: tuple[State, ...],
                 initial: State, cost: int) -> None:
        self.key = key
        self.cost = cost
        self._utc = array("q", instants)
        self._which = array("I", which)
        self._states = states
        self._initial = initial
        walls: tuple[array[int], array[int]] = (array("q"), array("q"))
        before = initial
        for instant, index in zip(instants, which):
            state = states[index]
            low, high = sorted((int(before.offset.total_seconds()), int(state.offset.total_seconds())))
            walls[0].append(instant + high)  # fold 0: a repeated or skipped wall time reads the earlier offset
            walls[1].append(instant + low)
            before = state
        self._walls = walls

    def __len__(self) -> int:
        return len(self._utc)

    def _state(self, position: int) -> State:
        return self._initial if position < 0 else self._states[self._which[position]]

    def _local(self, value: dt.datetime) -> State:
        return self._state(bisect.bisect_right(self._walls[value.fold], _seconds(value)) - 1)

    def utcoffset(self, value: dt.datetime | None) -> dt.timedelta | None:
        """The UTC offset at a wall-clock time (fold 1: the later of a repeated hour)."""
        return None if value is None else self._local(value).offset

    def dst(self, value: dt.datetime | None) -> dt.timedelta | None:
        """TZOFFSETTO - TZOFFSETFROM in a DAYLIGHT observance, zero in a STANDARD one."""
        return None if value is None else self._local(value).dst

    def tzname(self, value: dt.datetime | None) -> str | None:
        """The observance's TZNAME (the TZID when it has none)."""
        return None if value is None else self._local(value).name

    def fromutc(self, value: dt.datetime) -> dt.datetime:
        """The wall clock of a UTC time (``value`` carries this zone), fold 1 in a repeated hour."""
        if value.tzinfo is not self:
            raise ValueError("fromutc: the datetime's tzinfo is not this zone")
        seconds = _seconds(value)
        position = bisect.bisect_right(self._utc, seconds) - 1
        state = self._state(position)
        local = value + state.offset
        if position >= 0:
            back = self._state(position - 1).offset - state.offset
            if back > _ZERO and seconds - self._utc[position] < back.total_seconds():
                local = local.replace(fold=1)
        return local

    def __repr__(self) -> str:
        return f"ZoneTable({self.key!r}, {len(self)} transitions)"

    def __reduce__(self) -> tuple[Any, ...]:
        which = list(self._which)
        return ZoneTable, (self.key, list(self._utc), which, self._states, self._initial, self.cost)

    def __deepcopy__(self, memo: dict[int, Any]) -> ZoneTable:
        return self  # immutable


def resolve(tzid: str, component: icalendar.Timezone, budget: Budget | None = None) -> ZoneTable:
    """The zone a custom VTIMEZONE defines: from the cache, or tabulated within the budget.

    Raises :class:`ZoneRefused` for a definition over the limits or unusable,
    ``OverBudget`` when the request cannot afford to tabulate it.
    """
    budget = budget or Budget()
    limits = budget.limits
    observances = _observances(tzid, component, limits)
    key = (tzid, observances)
    with _cache_lock:
        table = _cache.get(key)
        if table is not None:
            _cache.move_to_end(key)
    if table is None:
        table = _tabulate(tzid, observances, limits, budget)
        with _cache_lock:
            _cache[key] = table
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    elif table.cost > limits.zone_transitions:  # tabulated under larger limits
        raise _too_many(tzid, table.cost, limits)
    return table


def _refused(tzid: str, message: str) -> ZoneRefused:
    return ZoneRefused(f"The time zone {tzid!r} is refused: {message}.")


def _too_many(tzid: str, count: int, limits: Limits, observance: Observance | None = None) -> ZoneRefused:
    which = f"with {observance.describe()}, " if observance else ""
    return _refused(
        tzid,
        f"{which}it needs {count:,} or more offset changes up to {END.year} (one per DTSTART, RDATE and"
        f" rule period), more than the {limits.zone_transitions:,} accepted (setting zone_max_transitions)",
    )


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _wall(value: dt.date, offset: dt.timedelta) -> dt.datetime:
    """A DTSTART, RDATE or UNTIL value as a wall-clock time in ``offset``."""
    if not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is not None and value.utcoffset() is not None:
        return (value.astimezone(_UTC) + offset).replace(tzinfo=None)
    return value.replace(tzinfo=None)


def _observances(tzid: str, component: icalendar.Timezone, limits: Limits) -> tuple[Observance, ...]:
    """The zone's STANDARD and DAYLIGHT components, checked (no rule is expanded here)."""
    subs = [c for c in component.subcomponents if c.name in ("STANDARD", "DAYLIGHT")]
    if not subs:
        raise _refused(tzid, "it has no STANDARD or DAYLIGHT observance")
    if len(subs) > limits.zone_observances:
        raise _refused(tzid, f"it has {len(subs):,} observances, more than the {limits.zone_observances:,}"
                             " accepted (setting zone_max_observances)")
    return tuple(_observance(tzid, number, sub) for number, sub in enumerate(subs, 1))


def _observance(tzid: str, number: int, sub: icalendar.Component) -> Observance:
    where = f"its {sub.name} observance {number}"
    if sub.errors:
        prop, message = sub.errors[0]
        raise _refused(tzid, f"{where} has an invalid {prop}: {message}")
    values: dict[str, Any] = {}
    for prop in ("DTSTART", "TZOFFSETFROM", "TZOFFSETTO"):
        value = sub.get(prop)
        if value is None or isinstance(value, list):
            raise _refused(tzid, f"{where} needs exactly one {prop}")
        values[prop] = getattr(value, "dt", None) if prop == "DTSTART" else getattr(value, "td", None)
    first, offset_from, offset_to = values["DTSTART"], values["TZOFFSETFROM"], values["TZOFFSETTO"]
    if not (
        isinstance(first, dt.date)
        and isinstance(offset_from, dt.timedelta) and abs(offset_from) < _DAY
        and isinstance(offset_to, dt.timedelta) and abs(offset_to) < _DAY
    ):
        raise _refused(tzid, f"{where} has an unusable DTSTART or UTC offset")
    start = _wall(first, offset_from)
    rules = tuple(_rule_text(tzid, where, rule, offset_from) for rule in _as_list(sub.get("RRULE")))
    dates = []
    for value in _as_list(sub.get("RDATE")):
        for item in getattr(value, "dts", []):
            moment = item.dt[0] if isinstance(item.dt, tuple) else item.dt
            if isinstance(moment, dt.date):
                dates.append(recurrence.to_key(_wall(moment, offset_from)) - int(offset_from.total_seconds()))
    names = _as_list(sub.get("TZNAME"))
    name = str(names[0]) if names else tzid
    return Observance(number, str(sub.name), start, offset_from, offset_to, name, rules, tuple(dates))


def _rule_text(tzid: str, where: str, rule: icalendar.vRecur, offset: dt.timedelta) -> str:
    """An observance's RRULE as dateutil reads it, with UNTIL in UTC (RFC 5545 3.6.5)."""
    freq = str((rule.get("FREQ") or [""])[0]).upper()
    if freq in _TOO_FINE:
        raise _refused(tzid, f"{where} repeats FREQ={freq}; time zone rules may repeat at most daily")
    if freq not in _FREQS:
        raise _refused(tzid, f"{where} has an RRULE without a valid FREQ")
    if "COUNT" in rule and "UNTIL" in rule:
        raise _refused(tzid, f"{where} has an RRULE with both COUNT and UNTIL")
    if "UNTIL" in rule:
        until = rule["UNTIL"][0]
        if not isinstance(until, dt.datetime):
            until = dt.datetime.combine(until, dt.time(23, 59, 59))
        rule = icalendar.vRecur(rule)
        rule["UNTIL"] = [(_wall(until, offset) - offset).replace(tzinfo=_UTC)]
    text: bytes = rule.to_ical()  # type: ignore[no-untyped-call]  # icalendar's vRecur.to_ical is unannotated
    return text.decode("ascii", "replace")


def _tabulate(tzid: str, observances: tuple[Observance, ...], limits: Limits, budget: Budget) -> ZoneTable:
    """Expand the observances into a table, counting first what the rules could cost."""
    onsets = [(recurrence.to_key(o.start) - int(o.offset_from.total_seconds()), i) for i, o in enumerate(observances)]
    onsets += [(instant, i) for i, o in enumerate(observances) for instant in o.dates]
    cost = len(onsets)
    if cost > limits.zone_transitions:
        raise _too_many(tzid, cost, limits)
    placed = []
    for i, observance in enumerate(observances):
        for text in observance.rules:
            found = _placed(tzid, observance, text)
            if found is None:
                continue
            rule, shift = found
            periods = math.ceil((_AFTER_LAST_DAY - rule._dtstart.toordinal())
                                / (_PERIOD_DAYS[rule._freq] * rule._interval)) + 1
            cost += periods * max(1, len(rule._bysetpos or ()))
            if cost > limits.zone_transitions:
                raise _too_many(tzid, cost, limits, observance)
            placed.append((i, observance, rule, shift))
    budget.spend("instances", cost)
    for i, observance, rule, shift in placed:
        offset = int(observance.offset_from.total_seconds())
        for onset in rule:
            wall = onset.replace(year=onset.year - shift, tzinfo=None)
            if wall >= END:
                break
            onsets.append((recurrence.to_key(wall) - offset, i))
            if len(onsets) > limits.zone_transitions:
                raise _too_many(tzid, len(onsets), limits, observance)
    return _table(tzid, observances, onsets, max(cost, len(onsets)))


def _placed(tzid: str, observance: Observance, text: str) -> tuple[du.rrule, int] | None:
    """The observance's rule restarted near :data:`START` and shifted by whole cycles to end
    just before year 10000, with the shift in years (None: no onset before :data:`END`)."""
    if observance.start >= END:
        return None
    fixed = dt.timezone(observance.offset_from)
    try:
        rule = du.rrulestr(text, dtstart=observance.start.replace(tzinfo=fixed))
    except (ValueError, TypeError, OverflowError) as exc:
        raise _refused(tzid, f"{observance.describe()} has an RRULE dateutil cannot read: {exc}") from None
    if not isinstance(rule, du.rrule):
        raise _refused(tzid, f"{observance.describe()} has an unusable RRULE")
    try:
        recurrence.check_rule(rule)
    except ValueError as exc:
        raise _refused(tzid, f"{observance.describe()} has an RRULE too costly to expand: {exc}") from None
    until = rule._until
    try:
        begin = START if until is None else min(START, until.astimezone(fixed).replace(tzinfo=None))
        rule = recurrence.rebase(rule, begin - dt.timedelta(days=_PERIOD_DAYS[rule._freq] * rule._interval))
    except OverflowError:  # the rule ended or restarts before year 1: keep it as it is
        pass
    if rule is None:
        return None
    cycle = recurrence.cycle_years(rule)
    shift = (10000 - END.year) // cycle * cycle
    start = rule._dtstart
    if shift and until is not None:
        until = until.replace(year=until.year + shift) if until.year + shift <= dt.MAXYEAR else None
    try:
        return rule.replace(dtstart=start.replace(year=start.year + shift), until=until, cache=False), shift
    except (ValueError, OverflowError) as exc:
        raise _refused(tzid, f"{observance.describe()} has an unusable RRULE: {exc}") from None


def _table(tzid: str, observances: tuple[Observance, ...], onsets: list[tuple[int, int]], cost: int) -> ZoneTable:
    """The transitions in UTC order (of two at one instant, the later observance wins)."""
    onsets.sort()
    instants: list[int] = []
    which: list[int] = []
    for instant, index in onsets:
        if instants and instants[-1] == instant:
            which[-1] = index
        else:
            instants.append(instant)
            which.append(index)
    states = tuple(
        State(o.offset_to, o.offset_to - o.offset_from if o.kind == "DAYLIGHT" else _ZERO, o.name)
        for o in observances
    )
    first = observances[which[0]]
    before = next((o.name for o in observances if o.offset_to == first.offset_from), tzid)
    return ZoneTable(tzid, instants, which, states, State(first.offset_from, _ZERO, before), cost)

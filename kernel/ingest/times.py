"""Repairs of start, end and recurrence times that contradict each other.

Every time of a component is read in the terms of its DTSTART (RFC 5545 3.8.2.2,
3.8.5): DTEND, DUE, EXDATE and RDATE take its value type, RECURRENCE-ID that of
the master's DTSTART.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import icalendar

from kernel.ingest.rules import Draft, calendar_repair
from kernel.recurrence import to_key

_TIMED = ("VEVENT", "VTODO", "VJOURNAL")
_END = {"VEVENT": "DTEND", "VTODO": "DUE"}
_DAY = dt.timedelta(days=1)


def _components(draft: Draft) -> list[icalendar.Component]:
    return [c for c in draft.calendar.subcomponents if c.name in _TIMED]


def _single(component: icalendar.Component, prop: str) -> Any:
    """The value of a property that appears once (None when absent or repeated)."""
    value = component.get(prop)
    return None if value is None or isinstance(value, list) else value


def in_terms_of(value: dt.date, model: dt.date, *, end: bool = False) -> dt.date:
    """``value`` with the value type of ``model``: a date becomes a date-time at ``model``'s
    time of day (at midnight when it is an ``end``) in ``model``'s zone; a date-time becomes
    its date (an ``end`` during a day: the next date, so the day is covered); a floating
    date-time is read in ``model``'s zone, a zoned one as its wall clock when ``model`` floats."""
    if isinstance(model, dt.datetime) and not isinstance(value, dt.datetime):
        moment = dt.time(0) if end else model.timetz()
        return dt.datetime.combine(value, moment.replace(tzinfo=model.tzinfo))
    if not isinstance(model, dt.datetime) and isinstance(value, dt.datetime):
        day = value.date()
        return day + _DAY if end and value.time() != dt.time(0) else day
    if isinstance(model, dt.datetime) and isinstance(value, dt.datetime):
        if model.tzinfo is None and value.tzinfo is not None:
            return value.replace(tzinfo=None)
        if model.tzinfo is not None and value.tzinfo is None:
            return value.replace(tzinfo=model.tzinfo)
    return value


def _set(component: icalendar.Component, prop: str, groups: list[Any]) -> None:
    """Replace every ``prop`` of ``component`` by one property per group of values."""
    component.pop(prop, None)
    for values in groups:
        component.add(prop, values)


@calendar_repair(
    "value-types",
    "DTEND, DUE, EXDATE and RDATE take DTSTART's value type, RECURRENCE-ID the master's: a date"
    " after a date-time start means midnight of that day (an EXDATE or RDATE date: that day at"
    " the start's time), a date-time after a date start its day; floating and zoned times are"
    " read in the start's zone.",
)
def value_types(draft: Draft) -> bool:
    """Give the times of each component DTSTART's value type."""
    components = _components(draft)
    master = next((c for c in components if "RECURRENCE-ID" not in c), None)
    master_start = _single(master, "DTSTART") if master is not None else None
    changed = False
    for component in components:
        start = _single(component, "DTSTART")
        if start is not None:
            changed |= _align_end(component, start.dt)
            changed |= _align_lists(component, start.dt)
        rid = _single(component, "RECURRENCE-ID")
        if rid is not None and master_start is not None:
            fixed = in_terms_of(rid.dt, master_start.dt)
            if fixed != rid.dt or type(fixed) is not type(rid.dt):
                _set(component, "RECURRENCE-ID", [fixed])
                changed = True
    return changed


def _align_end(component: icalendar.Component, start: dt.date) -> bool:
    prop = _END.get(component.name or "")
    if prop is None:
        return False
    end = _single(component, prop)
    if end is None or not isinstance(end.dt, dt.date):
        return False
    fixed = in_terms_of(end.dt, start, end=True)
    if fixed == end.dt and type(fixed) is type(end.dt) and _same_zone(fixed, end.dt):
        return False
    _set(component, prop, [fixed])
    return True


def _same_zone(a: dt.date, b: dt.date) -> bool:
    return getattr(a, "tzinfo", None) is getattr(b, "tzinfo", None)


def _align_lists(component: icalendar.Component, start: dt.date) -> bool:
    changed = False
    for prop in ("EXDATE", "RDATE"):
        value = component.get(prop)
        if value is None:
            continue
        groups = []
        differs = False
        for group in value if isinstance(value, list) else [value]:
            items = [d.dt for d in getattr(group, "dts", [])]
            if any(isinstance(item, tuple) for item in items):  # RDATE periods keep their form
                groups.append(items)
                continue
            fixed = [in_terms_of(item, start) for item in items]
            differs |= any(type(a) is not type(b) or not _same_zone(a, b) for a, b in zip(fixed, items))
            groups.append(fixed)
        if differs:
            _set(component, prop, groups)
            changed = True
    return changed


@calendar_repair(
    "end-before-start",
    "A VEVENT whose DTEND is before its DTSTART loses the DTEND (it lasts the default: a day for"
    " a date, no time for a date-time); a VTODO whose DUE is before its DTSTART loses the DTSTART.",
)
def end_before_start(draft: Draft) -> bool:
    """Drop the property that contradicts the other of a start and end in the wrong order."""
    changed = False
    for component in _components(draft):
        prop = _END.get(component.name or "")
        start = _single(component, "DTSTART")
        end = _single(component, prop) if prop else None
        if start is None or end is None or "DURATION" in component:
            continue
        if to_key(end.dt) < to_key(start.dt):
            component.pop(prop if component.name == "VEVENT" else "DTSTART")
            changed = True
    return changed


@calendar_repair(
    "todo-start-from-due",
    "A VTODO of a recurring to-do without DTSTART starts at its DUE: the rule repeats the due time.",
)
def todo_start_from_due(draft: Draft) -> bool:
    """Give the components of a recurring VTODO without DTSTART their DUE as DTSTART."""
    components = _components(draft)
    recurring = len(components) > 1 or any(
        p in c for c in components for p in ("RRULE", "RDATE", "RECURRENCE-ID")
    )
    changed = False
    for component in components if recurring else ():
        due = _single(component, "DUE")
        if component.name == "VTODO" and "DTSTART" not in component and due is not None:
            _set(component, "DTSTART", [due.dt])
            changed = True
    return changed

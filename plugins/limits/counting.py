"""Counting the recurrence instances of a calendar object (the kernel counts attendees).

Rules without an end (no COUNT, no UNTIL) cannot be counted and are not
refused: clients create "repeat forever" events all the time, and the
kernel's index already bounds them (``[kernel] index_max_instances`` and
``index_horizon_years``). Their explicitly listed instances (RDATE values and
overridden instances) still count. Every other object counts all its
instances, also those past the kernel's index horizon.
"""

from __future__ import annotations

from typing import Any

from kernel import ObjectInfo, recurrence

_CALENDAR_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")
#: Expansions tried before an object whose rule starts repeat each other counts as over.
_PROBES = 3


def instance_count(calendar: Any, info: ObjectInfo, limit: int) -> int:
    """The number of instances the object expands to, exact up to ``limit`` + 1.

    For a rule without end, the number of explicitly listed instances. A
    result above ``limit`` means "over the limit", not an exact total.
    """
    if not info.recurring:
        return len(info.instances)
    if info.unbounded:
        return explicit_instances(calendar)
    if info.indexed_until is None or len(info.instances) > limit:
        return len(info.instances)
    series = recurrence.build_series(calendar, info.component)
    probe = limit
    for _ in range(_PROBES):
        found, cut = recurrence.expand(series, probe, recurrence.MAX_KEY)
        if cut is None or len(found) > limit:
            return len(found)
        probe *= 4  # starts listed twice (an RDATE the rule produces anyway) filled the window
    return limit + 1


def explicit_instances(calendar: Any) -> int:
    """RDATE values of the master plus overridden instances (components with RECURRENCE-ID)."""
    total = 0
    for component in calendar.subcomponents:
        if component.name not in _CALENDAR_COMPONENTS:
            continue
        if "RECURRENCE-ID" in component:
            total += 1
            continue
        for rdate in _as_list(component.get("RDATE")):
            total += len(getattr(rdate, "dts", [rdate]))
    return total


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]

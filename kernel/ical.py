"""Parse and validate one calendar object resource; compute its time-range index.

``parse_object`` checks the data against RFC 5545 (as far as the index
needs) and RFC 4791 section 4.1, and returns the parsed calendar with an
``ObjectInfo`` whose instances encode RFC 4791 section 9.9 as
``(start, end, flags)``: a query [qs, qe) matches when
``(qs < end or (flags & INCLUSIVE_END and qs <= end)) and
(qe > start or (flags & INCLUSIVE_START and qe >= start))``.

Floating date-times and dates are stored as wall clock read as if UTC, with
the FLOATING flag; ``overlaps`` shifts them into the query's zone. Recurring
objects are expanded by ``kernel.recurrence`` (recurring-ical-events), up
to a horizon and a maximum number of instances; ``indexed_until`` then says
from where on ``occurs_in(after=...)`` must answer instead of the index. For
floating series it is the wall-clock key minus 14 hours (the largest UTC
offset), so it is never later than the real start of an instance left out.
A query [qs, qe) needs ``occurs_in`` when ``qe is None or qe >= indexed_until``.
The instances either expands, and the custom time zones a parse resolves
(``kernel.zones``), are spent from a ``kernel.budget.Budget``.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import icalendar

from kernel import recurrence, zones
from kernel.budget import Budget, OverBudget
from kernel.icaltext import read_calendar
from kernel.recurrence import MAX_KEY, is_floating, to_key
from kernel.types import (
    FLOATING,
    INCLUSIVE_END,
    INCLUSIVE_START,
    NEG_INF,
    POS_INF,
    Instance,
    ObjectInfo,
    Rejected,
)

CALDAV = "{urn:ietf:params:xml:ns:caldav}"
VALID_DATA = CALDAV + "valid-calendar-data"
VALID_OBJECT = CALDAV + "valid-calendar-object-resource"
MAX_INSTANCES = CALDAV + "max-instances"

#: Every calendar component type the server stores (RFC 4791, RFC 7953 VAVAILABILITY): what a
#: calendar created without CALDAV:supported-calendar-component-set accepts.
COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VAVAILABILITY")
#: Component types without instances in the time-range index (their time ranges are read from
#: the data: RFC 4791 9.9 for VFREEBUSY, RFC 7953 3.1 for VAVAILABILITY).
UNINDEXED = ("VFREEBUSY", "VAVAILABILITY")
_TIME_PROPERTIES = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "RDATE", "EXDATE")
_SINGLE_PROPERTIES = ("UID", "DTSTART", "DTEND", "DUE", "DURATION", "RECURRENCE-ID",
                      "COMPLETED", "CREATED")
_CHECKED_PROPERTIES = {*_SINGLE_PROPERTIES, "RRULE", "RDATE", "EXDATE"}
_FREQS = {"SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
_DAY = 86400
_MAX_OFFSET = 14 * 3600
_DEFAULT_HORIZON = 3653 * _DAY
_YEAR_1000 = to_key(dt.date(1000, 1, 1))


def parse_object(
    data: bytes,
    *,
    max_index_instances: int = 5000,
    horizon: int | None = None,
    budget: Budget | None = None,
    calendar: icalendar.Calendar | None = None,
) -> tuple[icalendar.Calendar, ObjectInfo]:
    """Parse and validate one calendar object resource, compute its index.

    ``calendar``: ``data`` as ``kernel.icaltext.read_calendar`` already read it
    (the ingest pipeline's), so it is not read again.

    Every failure on bad input is a ``Rejected`` (403 with a CalDAV
    precondition). Instances start before ``horizon`` (default: now + 10
    years, UTC seconds); at most ``max_index_instances`` are kept. The
    instances expanded and the time zones resolved are spent from ``budget``
    (a fresh default one when None); a write over it is refused with
    CALDAV:max-instances, a time zone over its limits with
    CALDAV:valid-calendar-data.
    """
    try:
        return _parse(data, max_index_instances, horizon, budget or Budget(), calendar)
    except OverBudget as exc:
        raise Rejected(403, MAX_INSTANCES, exc.message) from exc
    except Rejected:
        raise
    except recurrence.TooComplex as exc:
        raise Rejected(403, MAX_INSTANCES, f"The recurrence is too large: {exc}.") from exc
    except zones.ZoneRefused as exc:
        raise Rejected(403, VALID_DATA, str(exc)) from exc
    except Exception as exc:  # any parser or expansion error means bad data
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise Rejected(403, VALID_DATA, f"The calendar data is invalid: {detail}.") from exc


def overlaps(
    inst: Instance, start: int | None, end: int | None, tz: dt.tzinfo | None = None
) -> bool:
    """RFC 4791 9.9 overlap test of one index instance with [start, end).

    Seconds since the epoch; None is an open bound.
    """
    s, e, flags = inst.start, inst.end, inst.flags
    if flags & FLOATING:
        s, e = floating_to_utc(s, tz), floating_to_utc(e, tz)
    if start is not None and not (start < e or (flags & INCLUSIVE_END and start <= e)):
        return False
    return end is None or end > s or bool(flags & INCLUSIVE_START and end >= s)


def occurs_in(
    calendar: icalendar.Calendar,
    start: int | None,
    end: int | None,
    tz: dt.tzinfo | None = None,
    *,
    after: int | None = None,
    budget: Budget | None = None,
) -> bool:
    """On-the-fly check (no index) whether any instance overlaps [start, end).

    Bounded in time and memory even for ``FREQ=SECONDLY`` without end: the
    occurrences examined are spent from ``budget`` (``OverBudget`` past it).
    ``after``: only consider instances starting at or after this instant
    (used for the part past ``indexed_until``). ``calendar`` must be one
    that ``parse_object`` accepted.
    """
    components = _components(calendar)
    if not components or components[0].name in UNINDEXED:
        return False
    name = components[0].name or ""
    if not _is_recurring(components):
        inst = _single_instance(name, components[0])
        return inst is not None and _matches(inst, start, end, tz, after)
    series = recurrence.build_series(calendar, name)
    slack = recurrence.reach(series, name)
    lows = [x for x in (after, None if start is None else start - slack) if x is not None]
    low = max(lows) if lows else recurrence.MIN_KEY
    high = MAX_KEY if end is None else end + 1
    lo, hi = recurrence.key_bounds(series, low, high, tz)
    for occ in recurrence.scan(series, lo, hi, budget or Budget()):
        if _matches(_instance(name, occ, recurring=True), start, end, tz, after):
            return True
    return False


def floating_to_utc(wall_seconds: int, tz: dt.tzinfo | None) -> int:
    """Convert a FLOATING instance time (wall clock stored as if UTC) into real UTC seconds.

    ``tz`` is the zone the wall clock is read in (None = UTC).
    """
    if tz is None or wall_seconds <= NEG_INF or wall_seconds >= POS_INF:
        return wall_seconds
    try:
        local = dt.datetime(1970, 1, 1, tzinfo=tz) + dt.timedelta(seconds=wall_seconds)
    except OverflowError:
        return wall_seconds
    offset = local.utcoffset()
    return wall_seconds - (int(offset.total_seconds()) if offset is not None else 0)


def _matches(inst: Instance, start: int | None, end: int | None,
             tz: dt.tzinfo | None, after: int | None) -> bool:
    if after is not None:
        first = floating_to_utc(inst.start, tz) if inst.flags & FLOATING else inst.start
        if first < after:
            return False
    return overlaps(inst, start, end, tz)


# --- parsing and validation -------------------------------------------------


def _parse(data: bytes, limit: int, horizon: int | None, budget: Budget,
           calendar: icalendar.Calendar | None) -> tuple[icalendar.Calendar, ObjectInfo]:
    if calendar is None:
        calendar = read_calendar(data, budget)
    if not isinstance(calendar, icalendar.Calendar) or calendar.name != "VCALENDAR":
        raise Rejected(403, VALID_DATA, "The data is not a VCALENDAR object.")
    components = _components(calendar)
    name = _check_resource(calendar, components)
    recurring = _is_recurring(components)
    for component in components:
        try:
            _check_component(name, component, recurring)
        except Rejected as exc:
            raise _located(exc, component) from None
    _check_recurrence_ids(components)
    uid = str(components[0]["UID"])
    attendees = max(_count(c.get("ATTENDEE")) for c in components)
    rules = [r for c in components for r in _as_list(c.get("RRULE"))]
    unbounded = any("COUNT" not in r and "UNTIL" not in r for r in rules)
    instances: tuple[Instance, ...] = ()
    indexed_until = None
    if name not in UNINDEXED and not recurring:
        inst = _single_instance(name, components[0])
        instances = () if inst is None else (inst,)
    elif name not in UNINDEXED:
        if horizon is None:
            horizon = int(time.time()) + _DEFAULT_HORIZON
        instances, indexed_until = _expand(calendar, name, limit, min(horizon, MAX_KEY), budget)
    info = ObjectInfo(uid=uid, component=name, instances=instances,
                      indexed_until=indexed_until, recurring=recurring,
                      max_attendees=attendees, unbounded=unbounded)
    return calendar, info


def _components(calendar: icalendar.Calendar) -> list[icalendar.Component]:
    return [c for c in calendar.subcomponents if c.name != "VTIMEZONE"]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _count(value: Any) -> int:
    return len(_as_list(value))


def _is_recurring(components: list[icalendar.Component]) -> bool:
    return len(components) > 1 or any(
        p in c for c in components for p in ("RRULE", "RDATE", "RECURRENCE-ID")
    )


def _check_resource(calendar: icalendar.Calendar, components: list[icalendar.Component]) -> str:
    """RFC 4791 4.1: one component type, one UID, one master, no METHOD."""
    def reject(message: str) -> Rejected:
        return Rejected(403, VALID_OBJECT, message)

    if "METHOD" in calendar:
        raise reject("A calendar object resource must not have a METHOD property.")
    if not components:
        raise reject("The calendar object contains no calendar component.")
    names = {c.name for c in components}
    if len(names) > 1:
        raise reject(f"A calendar object resource must hold one component type, not {sorted(map(str, names))}.")
    name = names.pop() or ""
    if name not in COMPONENTS:
        raise reject(f"Component {name} is not supported in a calendar collection.")
    _check_nesting(calendar)
    for component in components:
        if isinstance(component.get("UID"), list):
            raise reject(f"A {name} has more than one UID.")
        if not str(component.get("UID", "")).strip():
            raise reject(f"Every {name} needs a UID.")
    if len({str(c["UID"]) for c in components}) > 1:
        raise reject("All components of a calendar object resource must share one UID.")
    if sum("RECURRENCE-ID" not in c for c in components) > 1:
        raise reject(f"The object has more than one master {name} (without RECURRENCE-ID).")
    return name


def _located(exc: Rejected, component: icalendar.Component) -> Rejected:
    """``exc`` with its message saying which component it is about (UID, RECURRENCE-ID)."""
    where = f"the {component.name} with UID {str(component.get('UID', '')).strip()!r}"
    rid = component.get("RECURRENCE-ID")
    if rid is not None and not isinstance(rid, list):
        where += f", RECURRENCE-ID {rid.to_ical().decode(errors='replace')}"
    return Rejected(exc.status, exc.precondition, f"{exc.message.rstrip('.')} (in {where}).")


def _check_recurrence_ids(components: list[Any]) -> None:
    keys = [to_key(c["RECURRENCE-ID"].dt) for c in components if "RECURRENCE-ID" in c]
    if len(set(keys)) < len(keys):
        raise Rejected(403, VALID_OBJECT, "Two components have the same RECURRENCE-ID.")


def _check_nesting(calendar: icalendar.Calendar) -> None:
    """Calendar components and time zones appear only at the top level."""
    stack = [sub for top in calendar.subcomponents for sub in top.subcomponents]
    while stack:
        component = stack.pop()
        if component.name in (*COMPONENTS, "VTIMEZONE", "VCALENDAR"):
            raise Rejected(403, VALID_DATA, f"A {component.name} must not be nested in another component.")
        stack.extend(component.subcomponents)


def _dt(component: icalendar.Component, prop: str) -> Any:
    value = component.get(prop)
    return None if value is None else value.dt


def _reject(message: str) -> Rejected:
    return Rejected(403, VALID_DATA, message)


def _check_component(name: str, component: icalendar.Component, recurring: bool) -> None:
    """The RFC 5545 rules the index relies on: parseable times, known zones, sane ranges."""
    for prop, message in component.errors:
        if prop in _CHECKED_PROPERTIES:
            raise _reject(f"{prop} of a {name} is invalid: {message}.")
    for prop in _SINGLE_PROPERTIES:
        if isinstance(component.get(prop), list):
            raise _reject(f"{prop} may appear only once in a {name}.")
    _check_zones(component)
    if name == "VFREEBUSY":
        return
    start = _dt(component, "DTSTART")
    if name == "VAVAILABILITY":
        _check_availability(component, start)
        return
    if start is None and name == "VEVENT":
        raise _reject("A VEVENT needs a DTSTART.")
    if start is None and recurring:
        raise _reject(f"Every component of a recurring {name} needs a DTSTART.")
    duration = _dt(component, "DURATION")
    if duration is not None and duration < dt.timedelta(0):
        raise _reject(f"The DURATION of a {name} must not be negative.")
    end_prop = {"VEVENT": "DTEND", "VTODO": "DUE"}.get(name)
    if end_prop and end_prop in component:
        if duration is not None:
            raise _reject(f"A {name} must not have both {end_prop} and DURATION.")
        end = _dt(component, end_prop)
        if start is not None:
            _check_pair(name, start, end_prop, end)
    if name == "VTODO" and duration is not None and start is None:
        raise _reject("A VTODO with DURATION needs a DTSTART.")
    for rule in _as_list(component.get("RRULE")):
        _check_rule(rule)


def _check_availability(component: icalendar.Component, start: dt.date | None) -> None:
    """RFC 7953 3.1: DTEND or DURATION (which needs DTSTART), not both, not before the start."""
    if "DTEND" in component and "DURATION" in component:
        raise _reject("A VAVAILABILITY must not have both DTEND and DURATION.")
    if "DURATION" in component and start is None:
        raise _reject("A VAVAILABILITY with DURATION needs a DTSTART.")
    end = _dt(component, "DTEND")
    if start is not None and end is not None:
        _check_pair("VAVAILABILITY", start, "DTEND", end)


def _check_pair(name: str, start: dt.date, end_prop: str, end: dt.date) -> None:
    if isinstance(start, dt.datetime) != isinstance(end, dt.datetime):
        raise _reject(f"DTSTART and {end_prop} of a {name} must both be dates or both date-times.")
    if is_floating(start) != is_floating(end):
        raise _reject(f"DTSTART and {end_prop} of a {name} must both be floating or both not.")
    if to_key(end) < to_key(start):
        raise _reject(f"{end_prop} of a {name} is before its DTSTART.")


def _check_rule(rule: icalendar.vRecur) -> None:
    def number(part: str) -> int | None:
        values = rule.get(part)
        if values is None:
            return None
        value = values[0] if isinstance(values, list) else values
        return int(value)

    freq = rule.get("FREQ")
    freq = freq[0] if isinstance(freq, list) and freq else freq
    if str(freq).upper() not in _FREQS:
        text: bytes = rule.to_ical()  # type: ignore[no-untyped-call]  # icalendar's vRecur.to_ical is unannotated
        raise _reject(f"RRULE has no valid FREQ: {text.decode(errors='replace')}.")
    for part in ("COUNT", "INTERVAL"):
        value = number(part)
        if value is not None and value < 1:
            raise _reject(f"RRULE {part} must be a positive number.")


def _check_zones(component: icalendar.Component) -> None:
    """A TZID that is neither an IANA name nor defined by a VTIMEZONE leaves the value naive."""
    for prop in _TIME_PROPERTIES:
        for value in _as_list(component.get(prop)):
            tzid = value.params.get("TZID")
            if not tzid:
                continue
            items = [d.dt for d in value.dts] if hasattr(value, "dts") else [value.dt]
            for item in items:
                first = item[0] if isinstance(item, tuple) else item
                if isinstance(first, dt.datetime) and first.tzinfo is None:
                    raise _reject(
                        f"Unknown time zone {tzid!r}: not an IANA name and no VTIMEZONE defines it."
                    )


# --- instances -----------------------------------------------------------------


def end_of(name: str, component: icalendar.Component, start: dt.date) -> dt.date:
    """The effective end of an instance of a component starting at ``start`` (RFC 4791 9.9,
    as recurring-ical-events computes it): DTEND (DUE for a VTODO), else start + DURATION,
    else one day after a dated VEVENT, else the start; a VJOURNAL ends where it starts."""
    if name == "VJOURNAL":
        return start
    end = _dt(component, "DUE" if name == "VTODO" else "DTEND")
    if isinstance(end, dt.date):
        return end
    duration = _dt(component, "DURATION")
    if isinstance(duration, dt.timedelta):
        if not isinstance(start, dt.datetime) and duration.seconds:
            start = dt.datetime(start.year, start.month, start.day)
        try:
            return start + duration
        except OverflowError:
            return start
    if name == "VEVENT" and not isinstance(start, dt.datetime):
        return start + dt.timedelta(days=1)
    return start


def _single_instance(name: str, component: icalendar.Component) -> Instance | None:
    """The one instance of a non-recurring component (None: never in a time range)."""
    start = _dt(component, "DTSTART")
    if start is not None:
        occ = recurrence.Occurrence(start, end_of(name, component, start), component, start)
        return _instance(name, occ, recurring=False)
    if name == "VJOURNAL":
        return None
    due = _dt(component, "DUE")  # VTODO without DTSTART: RFC 4791 9.9 rows 4 to 8
    if due is not None:
        key = to_key(due)
        return Instance(key, key, INCLUSIVE_START | (FLOATING if is_floating(due) else 0))
    stamps = [to_key(v) for v in (_dt(component, "COMPLETED"), _dt(component, "CREATED"))
              if v is not None]
    if "COMPLETED" in component:
        return Instance(min(stamps), max(stamps), INCLUSIVE_START | INCLUSIVE_END)
    if stamps:
        return Instance(stamps[0], POS_INF)
    return Instance(NEG_INF, POS_INF)


def _instance(name: str, occ: recurrence.Occurrence, *, recurring: bool) -> Instance:
    """RFC 4791 9.9 for one occurrence of a component that has DTSTART."""
    start, end = to_key(occ.start), to_key(occ.end)
    flags = FLOATING if is_floating(occ.start) else 0
    if name == "VEVENT":
        flags |= INCLUSIVE_END if end == start else 0
    elif name == "VTODO":
        if "DURATION" in occ.component:
            flags |= INCLUSIVE_END | (INCLUSIVE_START if end == start else 0)
        elif "DUE" in occ.component:
            flags |= (INCLUSIVE_START | INCLUSIVE_END) if end == start else 0
        else:
            end, flags = start, flags | INCLUSIVE_END
    elif isinstance(occ.start, dt.datetime):  # VJOURNAL
        end, flags = start, flags | INCLUSIVE_END
    else:
        end = start + _DAY
    rid = None
    if recurring:
        value = occ.recurrence_id
        rid = _rid_text(value, start if value is occ.start else to_key(value))
    return Instance(start, end, flags, rid)


def _rid_text(value: dt.date, key: int) -> str:
    """RECURRENCE-ID in iCalendar form: UTC with Z, floating, or DATE (``key`` is its key)."""
    if not isinstance(value, dt.datetime):
        form = "%Y%m%d"
    else:
        form = "%Y%m%dT%H%M%S" if value.tzinfo is None else "%Y%m%dT%H%M%SZ"
    if key < _YEAR_1000:  # strftime does not pad years before 1000 everywhere
        moment = recurrence.naive(key)
        return moment.strftime(form.replace("%Y", f"{moment.year:04d}"))
    return time.strftime(form, time.gmtime(key))


def _expand(calendar: icalendar.Calendar, name: str, limit: int,
            horizon: int, budget: Budget) -> tuple[tuple[Instance, ...], int | None]:
    series = recurrence.build_series(calendar, name)
    recurrence.check_rules(series)
    found, cut = recurrence.expand(series, limit, horizon)
    budget.spend("instances", len(found))
    instances = sorted((_instance(name, o, recurring=True) for o in found),
                       key=lambda i: (i.start, i.end))
    if len(instances) > limit:
        cut, instances = instances[limit].start, instances[:limit]
    if cut is not None and recurrence.has_floating(series):
        cut -= _MAX_OFFSET
    return tuple(instances), cut

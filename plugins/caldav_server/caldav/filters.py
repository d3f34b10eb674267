"""CALDAV:filter of a calendar-query REPORT (RFC 4791 section 9.7): parsing and evaluation.

:func:`parse_filter` turns the request's ``<C:filter>`` element into a tree
of frozen :class:`CompFilter`, :class:`PropFilter` and :class:`ParamFilter`
nodes, refusing invalid filters with ``QueryError`` (400
CALDAV:valid-filter, or 403 CALDAV:supported-collation). The root's
:meth:`CompFilter.index_plan` says what the kernel's time-range index can
answer alone; :meth:`CompFilter.matches` evaluates the whole filter on one
parsed calendar object.

Decisions where the RFC leaves room:

* Several components of the filtered type (a master and its overrides,
  several VALARMs): the comp-filter matches when one of them satisfies all
  of its conditions. With a time-range, that component must own an instance
  in the range (an override owns its own instance, the master the others).
* A prop-filter matches when one property of that name satisfies the
  text-match or time-range and all param-filters; text-match tries the
  whole value and, for list values (CATEGORIES, RESOURCES), each item.
  A text-match needs the property to exist, negated or not (9.7.2).
* Extensions for clients that leave out the component type (the ``caldav``
  library does): a time-range directly in the VCALENDAR comp-filter matches
  when any VEVENT, VTODO or VJOURNAL has an instance in it, and a
  prop-filter directly in it looks at the properties of the VCALENDAR and of
  its top-level components (VTIMEZONE excepted) together.
* text-match: leading and trailing white space is ignored, and CardDAV's
  ``match-type`` attribute is honoured (see ``collations``).
* Hostile filters: more than :data:`MAX_DEPTH` levels or
  :data:`MAX_NODES` elements are refused with 400 CALDAV:valid-filter.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Iterable
from xml.etree.ElementTree import Element

import icalendar

from kernel.budget import Budget
from plugins.caldav_server.caldav.collations import TextMatch
from plugins.caldav_server.caldav.instances import (
    ObjectTimes,
    effective_property_instants,
    property_instants,
    single_hits,
)
from plugins.caldav_server.caldav.query_error import CALDAV, QueryError, invalid_filter, unsupported_filter
from plugins.caldav_server.caldav.timerange import TimeRange, parse_time_range

__all__ = ["CALDAV", "QueryError", "TimeRange", "CompFilter", "PropFilter", "ParamFilter", "parse_filter"]

#: Deepest nesting of comp-filter, prop-filter and param-filter elements.
MAX_DEPTH = 32
#: Most comp-filter, prop-filter, param-filter, text-match and time-range elements in one filter.
MAX_NODES = 1000

#: Components the kernel's index knows (``Resource.component``) and, but VFREEBUSY and
#: VAVAILABILITY, has instances for.
INDEXED = ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VAVAILABILITY")
_WITH_INSTANCES = ("VEVENT", "VTODO", "VJOURNAL")

_KNOWN = {"VCALENDAR", "VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VTIMEZONE", "VALARM",
          "STANDARD", "DAYLIGHT", "VAVAILABILITY", "AVAILABLE"}
#: Known components and the known components that may be nested in them.
_CHILDREN = {
    "VCALENDAR": {"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VTIMEZONE", "VAVAILABILITY"},
    "VEVENT": {"VALARM"},
    "VTODO": {"VALARM"},
    "VTIMEZONE": {"STANDARD", "DAYLIGHT"},
    "VAVAILABILITY": {"AVAILABLE"},
}
_NO_TIME_RANGE = {"VTIMEZONE", "STANDARD", "DAYLIGHT"}
#: Components with a time-range rule (RFC 4791 9.9, RFC 7953): a time-range on any other
#: (an x-name, a component of a later RFC) is a filter this server does not support.
_TIME_RANGE = {"VCALENDAR", "VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VALARM", "VAVAILABILITY", "AVAILABLE"}
#: Properties with DATE or DATE-TIME values: the only ones a time-range may test (x-names aside).
_DATE_PROPERTIES = {"COMPLETED", "CREATED", "DTEND", "DTSTAMP", "DTSTART", "DUE", "LAST-MODIFIED",
                    "RECURRENCE-ID", "EXDATE", "RDATE", "TRIGGER", "ACKNOWLEDGED"}
_LIST_PROPERTIES = {"CATEGORIES", "RESOURCES"}
_NAME = re.compile(r"[A-Za-z0-9-]+")


@dataclass(frozen=True)
class ParamFilter:
    """CALDAV:param-filter (9.7.3)."""

    name: str
    is_not_defined: bool
    text_match: TextMatch | None

    def matches(self, value) -> bool:
        """Whether the parameter of one property value matches."""
        params = getattr(value, "params", None) or {}
        found = params.get(self.name)
        if self.is_not_defined:
            return found is None
        if found is None:
            return False
        if self.text_match is None:
            return True
        items = found if isinstance(found, list) else [found]
        return self.text_match.matches([str(item) for item in items])


@dataclass(frozen=True)
class PropFilter:
    """CALDAV:prop-filter (9.7.2)."""

    name: str
    is_not_defined: bool
    time_range: TimeRange | None
    text_match: TextMatch | None
    param_filters: tuple[ParamFilter, ...]

    def matches(self, components: Iterable[icalendar.Component], tz: dt.tzinfo | None) -> bool:
        """Whether the properties of this name in ``components`` (usually one) match."""
        components = list(components)
        values = [v for c in components for v in _values(c, self.name)]
        if self.is_not_defined:
            return not values
        if self.time_range is not None and not values:
            # 9.9: a test on DTEND (DUE) uses DTSTART + DURATION when that is all there is
            return any(
                any(self.time_range.contains_instant(t) for t in effective_property_instants(c, self.name, tz))
                for c in components
            )
        return any(self._value_matches(c, v, tz) for c in components for v in _values(c, self.name))

    def _value_matches(self, component: icalendar.Component, value, tz: dt.tzinfo | None) -> bool:
        if self.time_range is not None:
            instants = property_instants(component, self.name, value, tz)
            if not any(self.time_range.contains_instant(t) for t in instants):
                return False
        if self.text_match is not None and not self.text_match.matches(_texts(self.name, value)):
            return False
        return all(p.matches(value) for p in self.param_filters)


@dataclass(frozen=True)
class CompFilter:
    """CALDAV:comp-filter (9.7.1); the root of a parsed filter is the VCALENDAR one."""

    name: str
    is_not_defined: bool
    time_range: TimeRange | None
    prop_filters: tuple[PropFilter, ...]
    comp_filters: tuple["CompFilter", ...]

    def index_plan(self) -> tuple[str | None, TimeRange | None, bool]:
        """(component name or None, time range or None, exact) for the root filter.

        ``exact`` is True when the filter is just VCALENDAR >
        [comp-filter NAME [> time-range]] (or a bare VCALENDAR, or a
        VCALENDAR time-range), so the kernel answers it alone without
        parsing objects: with a time range by
        ``store.time_range(collection_id, start, end, tz=..., component=NAME)``,
        without one by listing the resources whose component is NAME (all
        resources when NAME is None). When not exact, the name and range are
        still necessary conditions the index may use to narrow the candidates
        before :meth:`matches` decides (the range only when it is not None).
        """
        if self.is_not_defined:
            return None, None, False
        if not self.prop_filters and not self.comp_filters:
            return None, self.time_range, True
        positive = [f for f in self.comp_filters if not f.is_not_defined]
        if not positive or positive[0].name not in INDEXED:
            return None, self.time_range, False
        child = positive[0]
        child_range = child.time_range if child.name in _WITH_INSTANCES else None
        simple = (
            len(self.comp_filters) == 1 and not self.prop_filters and self.time_range is None
            and not child.prop_filters and not child.comp_filters
            and (child.time_range is None or child_range is not None)
        )
        return child.name, child_range or self.time_range, simple

    def matches(self, calendar: icalendar.Calendar, tz: dt.tzinfo | None = None,
                budget: Budget | None = None) -> bool:
        """Full RFC 4791 9.7 evaluation of the root filter on one parsed calendar object.

        Floating date-times and dates are read in ``tz`` (the request's
        CALDAV:timezone or the calendar's; UTC when None). Bounded work even
        for a recurrence rule without end: the occurrences examined are spent
        from ``budget`` (the request's; a fresh default one when None).
        """
        if calendar.name != self.name or self.is_not_defined:
            return False
        times = ObjectTimes(calendar, tz, budget or Budget())
        if self.time_range is not None and not times.any_hit(list(_WITH_INSTANCES), self.time_range):
            return False
        pool = [calendar, *times.top]
        if not all(p.matches(pool, tz) for p in self.prop_filters):
            return False
        return all(self._top_child_matches(f, times) for f in self.comp_filters)

    @staticmethod
    def _top_child_matches(flt: "CompFilter", times: ObjectTimes) -> bool:
        """A comp-filter on the calendar object's top-level components (instances, overrides)."""
        components = times.components(flt.name) if flt.name != "VTIMEZONE" else [
            c for c in times.calendar.subcomponents if c.name == "VTIMEZONE"]
        if flt.is_not_defined:
            return not components
        candidates = [c for c in components if flt._conditions_hold(c, times)]
        if not candidates:
            return False
        if flt.time_range is None:
            return True
        for hit in times.hits(flt.name, flt.time_range):
            if any(hit.component is c for c in candidates):
                return True
        return False

    def _conditions_hold(self, component: icalendar.Component, times: ObjectTimes) -> bool:
        """The prop-filters and nested comp-filters (not the time-range) hold on one component."""
        if not all(p.matches([component], times.tz) for p in self.prop_filters):
            return False
        return all(f._nested_matches(component, times) for f in self.comp_filters)

    def _nested_matches(self, parent: icalendar.Component, times: ObjectTimes) -> bool:
        """A comp-filter on the subcomponents of ``parent`` (VALARM in a VEVENT, ...)."""
        components = [c for c in parent.subcomponents if c.name == self.name]
        if self.is_not_defined:
            return not components
        for component in components:
            if self.time_range is not None and not self._nested_in_range(parent, component, times):
                continue
            if self._conditions_hold(component, times):
                return True
        return False

    def _nested_in_range(self, parent: icalendar.Component, component: icalendar.Component,
                         times: ObjectTimes) -> bool:
        if self.name == "VALARM":
            return times.alarm_hit(parent.name, parent, component, self.time_range)
        return any(self.time_range.overlaps(h.span) for h in single_hits(self.name, component, times.tz))


def _values(component: icalendar.Component, name: str) -> list:
    value = component.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _texts(name: str, value) -> list[str]:
    """The texts a text-match compares with: the value, and each item of a list value."""
    if name in _LIST_PROPERTIES and hasattr(value, "cats"):
        items = [str(item) for item in value.cats]
        return [",".join(items), *items] if len(items) > 1 else items
    if isinstance(value, str):
        return [str(value)]
    try:
        raw = value.to_ical()
    except Exception:  # noqa: BLE001 - a value icalendar cannot write back: compare its text
        return [str(value)]
    return [raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)]


# --- parsing ----------------------------------------------------------------------------


class _Parser:
    """Builds the filter tree, counting elements against MAX_NODES."""

    def __init__(self) -> None:
        self.nodes = 0

    def count(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise invalid_filter(f"The filter has more than {MAX_NODES} elements.")

    @staticmethod
    def children(elem: Element, allowed: tuple[str, ...], where: str) -> list[Element]:
        """The CalDAV children of an element (other namespaces are ignored), checked by name."""
        found = []
        for child in elem:
            if not isinstance(child.tag, str) or not child.tag.startswith(CALDAV):
                continue
            local = child.tag[len(CALDAV):]
            if local not in allowed:
                raise invalid_filter(f"CALDAV:{local} is not allowed in {where}.")
            found.append(child)
        return found

    @staticmethod
    def name_of(elem: Element, what: str) -> str:
        name = (elem.get("name") or "").strip()
        if not _NAME.fullmatch(name):
            raise invalid_filter(f"A {what} needs a valid name attribute, not {name!r}.")
        return name.upper()

    def comp_filter(self, elem: Element, parent: str | None, depth: int) -> CompFilter:
        self.count()
        if depth > MAX_DEPTH:
            raise invalid_filter(f"The filter is nested deeper than {MAX_DEPTH} levels.")
        name = self.name_of(elem, "comp-filter")
        _check_nesting(parent, name)
        where = f"comp-filter {name}"
        children = self.children(elem, ("is-not-defined", "time-range", "prop-filter", "comp-filter"), where)
        tags = [c.tag[len(CALDAV):] for c in children]
        if "is-not-defined" in tags and len(tags) > 1:
            raise invalid_filter(f"is-not-defined must stand alone in {where}.")
        ranges = [c for c in children if c.tag == CALDAV + "time-range"]
        if len(ranges) > 1:
            raise invalid_filter(f"{where} has more than one time-range.")
        if ranges and name in _NO_TIME_RANGE:
            raise invalid_filter(f"A time-range cannot apply to {name}.")
        if ranges and name not in _TIME_RANGE:
            raise unsupported_filter(
                f"This server has no time-range rule for {name} components.",
                f'<C:comp-filter name="{name}"/>',
            )
        time_range = None
        if ranges:
            self.count()
            time_range = parse_time_range(ranges[0])
        return CompFilter(
            name=name,
            is_not_defined="is-not-defined" in tags,
            time_range=time_range,
            prop_filters=tuple(
                self.prop_filter(c, name, depth + 1) for c in children if c.tag == CALDAV + "prop-filter"
            ),
            comp_filters=tuple(
                self.comp_filter(c, name, depth + 1) for c in children if c.tag == CALDAV + "comp-filter"
            ),
        )

    def prop_filter(self, elem: Element, component: str, depth: int) -> PropFilter:
        self.count()
        if depth > MAX_DEPTH:
            raise invalid_filter(f"The filter is nested deeper than {MAX_DEPTH} levels.")
        name = self.name_of(elem, "prop-filter")
        where = f"prop-filter {name}"
        children = self.children(elem, ("is-not-defined", "time-range", "text-match", "param-filter"), where)
        tags = [c.tag[len(CALDAV):] for c in children]
        if "is-not-defined" in tags and len(tags) > 1:
            raise invalid_filter(f"is-not-defined must stand alone in {where}.")
        tests = [c for c in children if c.tag in (CALDAV + "time-range", CALDAV + "text-match")]
        if len(tests) > 1:
            raise invalid_filter(f"{where} may hold one time-range or one text-match.")
        time_range = text_match = None
        if tests and tests[0].tag == CALDAV + "time-range":
            if name not in _DATE_PROPERTIES and not name.startswith("X-"):
                raise invalid_filter(f"A time-range cannot test {name}, which is not a date.")
            self.count()
            time_range = parse_time_range(tests[0])
        elif tests:
            self.count()
            text_match = _text_match(tests[0])
        return PropFilter(
            name=name,
            is_not_defined="is-not-defined" in tags,
            time_range=time_range,
            text_match=text_match,
            param_filters=tuple(
                self.param_filter(c, depth + 1) for c in children if c.tag == CALDAV + "param-filter"
            ),
        )

    def param_filter(self, elem: Element, depth: int) -> ParamFilter:
        self.count()
        if depth > MAX_DEPTH:
            raise invalid_filter(f"The filter is nested deeper than {MAX_DEPTH} levels.")
        name = self.name_of(elem, "param-filter")
        where = f"param-filter {name}"
        children = self.children(elem, ("is-not-defined", "text-match"), where)
        if len(children) > 1:
            raise invalid_filter(f"{where} may hold is-not-defined or one text-match.")
        text_match = None
        if children and children[0].tag == CALDAV + "text-match":
            self.count()
            text_match = _text_match(children[0])
        return ParamFilter(
            name=name,
            is_not_defined=bool(children) and children[0].tag == CALDAV + "is-not-defined",
            text_match=text_match,
        )


def _check_nesting(parent: str | None, name: str) -> None:
    """RFC 4791 7.8 CALDAV:valid-filter: VCALENDAR at the top only, known components where they belong."""
    if parent is None:
        if name != "VCALENDAR":
            raise invalid_filter(f"The filter must start with comp-filter VCALENDAR, not {name}.")
        return
    if name == "VCALENDAR" or (name in _KNOWN and name not in _CHILDREN.get(parent, set())):
        raise invalid_filter(f"A {name} cannot be nested in a {parent}.")


def _text_match(elem: Element) -> TextMatch:
    negate = (elem.get("negate-condition") or "no").strip().lower()
    if negate not in ("yes", "no"):
        raise invalid_filter(f"negate-condition must be yes or no, not {negate!r}.")
    return TextMatch.create((elem.text or "").strip(), elem.get("collation"), elem.get("match-type"),
                            negate == "yes")


def parse_filter(elem: Element) -> CompFilter:
    """The CALDAV:filter element of a calendar-query, which must hold exactly one comp-filter VCALENDAR.

    Raises ``QueryError``: 400 CALDAV:valid-filter for an invalid filter
    (including time ranges that are not UTC date-times or end before they
    start, and filters deeper than MAX_DEPTH or larger than MAX_NODES),
    403 CALDAV:supported-collation for an unknown collation, 403 CALDAV:supported-filter
    (naming the comp-filter) for a time-range on a component without a time-range rule.
    """
    if elem is None or elem.tag != CALDAV + "filter":
        raise invalid_filter("The calendar-query needs a CALDAV:filter element.")
    parser = _Parser()
    children = parser.children(elem, ("comp-filter",), "filter")
    if len(children) != 1:
        raise invalid_filter("CALDAV:filter must hold exactly one comp-filter.")
    return parser.comp_filter(children[0], None, 1)

"""CALDAV:calendar-data in a REPORT request (RFC 4791 section 9.6): what to return of each object.

:func:`parse_calendar_data` reads the request element once per report;
:meth:`CalendarDataRequest.render` then writes one object's answer. When
nothing but the whole object is asked for, :meth:`passthrough` is True and
the stored bytes go out without being parsed.

Decisions where the RFC leaves room:

* A ``<C:comp>`` with no children returns the component whole (as RFC 4791
  7.8.1 does for VTIMEZONE). Otherwise properties are those named by
  ``<C:prop>`` (all with ``<C:allprop>``, none when neither is given) and
  subcomponents those named by ``<C:comp>`` (all with ``<C:allcomp>``, none
  when neither is given).
* Expansion and limits apply first, then the comp/prop subset.
* Errors: 403 CALDAV:supported-calendar-data for another media type or
  version; 400 (no precondition) for a malformed element; expand and the
  limits need both start and end as UTC date-times, end after start.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import icalendar

from kernel import Budget, Instance
from kernel.icaltext import read_calendar
from plugins.caldav_server.caldav import expansion, icaltext
from plugins.caldav_server.caldav.icaltext import RawComponent, line_name, value_start
from plugins.caldav_server.caldav.query_error import CALDAV, QueryError
from plugins.caldav_server.caldav.timerange import TimeRange, parse_time_range
from plugins.caldav_server.webdav.namespaces import Escaped, unescaped

#: Deepest nesting of comp elements, and most comp/prop elements, in one calendar-data element.
MAX_DEPTH = 32
MAX_NODES = 1000
#: Parsed objects kept by :func:`parsed_calendar` (some 10 KB each).
PARSE_CACHE_SIZE = 2048


_parsed: OrderedDict[bytes, icalendar.Calendar] = OrderedDict()
_parsed_lock = threading.Lock()


def parsed_calendar(data: bytes, budget: Budget) -> icalendar.Calendar:
    """The stored bytes parsed by icalendar, remembered for the next request that needs them.

    Parsing costs 2 to 4 ms an object, far more than what a query does with
    it. The result is shared: callers must not modify it. Resolving a custom
    time zone that is not cached is spent from ``budget``.
    """
    with _parsed_lock:
        calendar = _parsed.get(data)
        if calendar is not None:
            _parsed.move_to_end(data)
            return calendar
    calendar = read_calendar(data.decode("utf-8", "replace"), budget)
    with _parsed_lock:
        _parsed[data] = calendar
        if len(_parsed) > PARSE_CACHE_SIZE:
            _parsed.popitem(last=False)
    return calendar


def _bad(message: str) -> QueryError:
    return QueryError(400, None, message)


@dataclass(frozen=True)
class CompSpec:
    """A ``<C:comp>`` element: which properties (name -> novalue) and subcomponents to return."""

    name: str
    all_props: bool
    props: tuple[tuple[str, bool], ...]
    all_comps: bool
    comps: tuple[CompSpec, ...]

    def apply(self, component: RawComponent) -> RawComponent:
        """The component cut down to what this element asks for."""
        if self.all_props:
            lines = component.lines
        else:
            wanted = dict(self.props)
            lines = []
            for line in component.lines:
                novalue = wanted.get(line_name(line))
                if novalue is not None:
                    lines.append(line[: value_start(line)] if novalue else line)
        if self.all_comps:
            children = component.children
        else:
            specs = {spec.name: spec for spec in self.comps}
            children = [specs[c.name].apply(c) for c in component.children if c.name in specs]
        return RawComponent(component.name, lines, children)

    def selects_all(self) -> bool:
        """True when every property and subcomponent is returned as stored."""
        return self.all_props and self.all_comps


@dataclass(frozen=True)
class CalendarDataRequest:
    """What a report returns as CALDAV:calendar-data for each object."""

    comp: CompSpec | None = None
    expand: TimeRange | None = None
    limit_recurrence_set: TimeRange | None = None
    limit_freebusy_set: TimeRange | None = None

    def passthrough(self) -> bool:
        """True when the stored bytes can be sent as they are."""
        return (
            (self.comp is None or self.comp.selects_all())
            and self.expand is None
            and self.limit_recurrence_set is None
            and self.limit_freebusy_set is None
        )

    def render(self, data: bytes, calendar: icalendar.Calendar | None = None,
               tz: dt.tzinfo | None = None, *, budget: Budget | None = None,
               instances: list[Instance] | None = None, etag: str | None = None, xml: bool = False) -> str:
        """The calendar data of one stored object (``calendar``: its parse, when the caller has it;
        ``etag``: its ETag, by which what expansion learns of the content is remembered; with
        ``xml``, text written from a plan comes :class:`Escaped` for an answer, as plans hold it).

        Floating times are read in ``tz`` for expand and limit-recurrence-set.
        ``instances``, when given, are the object's index rows near the expand
        window (``Store.instances_near``): expand then writes from them.
        Raises ``QueryError`` 403 CALDAV:max-instances when an expansion
        would exceed ``expansion.MAX_INSTANCES`` instances, and ``OverBudget``
        when the request's ``budget`` (a fresh default one when None) runs out;
        the data generated is spent from it as ``bytes``.
        """
        if self.passthrough():
            return data.decode("utf-8", "replace")
        budget = budget or Budget()

        def parsed() -> icalendar.Calendar:
            return calendar if calendar is not None else parsed_calendar(data, budget)

        plan = None
        if self.expand is not None and instances is not None:
            if self._whole:
                text = expansion.indexed_text(data, parsed, instances, tz, self.expand, budget, etag)
                if text is not None:
                    budget.spend("bytes", len(text))
                    return text if xml or not isinstance(text, Escaped) else unescaped(text)
            else:
                plan = expansion.plan_for(data, parsed, etag)
        raw = self._expanded(data, parsed, tz, budget, instances, plan)
        if self.limit_freebusy_set is not None:
            raw = expansion.limit_freebusy_set(raw, self.limit_freebusy_set)
        if self.comp is not None:
            raw = self.comp.apply(raw)
        text = icaltext.serialize(raw)
        budget.spend("bytes", len(text))
        return text

    def render_page(self, objects: Sequence[tuple[str, bytes, list[Instance] | None]], tz: dt.tzinfo | None,
                    budget: Budget, *, xml: bool = False) -> list[str]:
        """:meth:`render` of a page of objects, each given as (ETag, stored bytes, index rows near
        the expand window or None): whole objects expanded from their index rows are written
        together (``expansion.indexed_texts``), the others one by one."""
        if self.expand is None or not self._whole:
            return [self.render(data, None, tz, budget=budget, instances=instances, etag=etag, xml=xml)
                    for etag, data, instances in objects]
        texts = expansion.indexed_texts(objects, lambda data: parsed_calendar(data, budget), tz, self.expand, budget)
        out: list[str] = []
        for (etag, data, _), text in zip(objects, texts, strict=True):
            if text is None:  # the general path: no rows to write it from, or no plan
                text = self.render(data, None, tz, budget=budget, etag=etag)
            else:
                budget.spend("bytes", len(text))
                if not xml and isinstance(text, Escaped):
                    text = unescaped(text)
            out.append(text)
        return out

    @functools.cached_property
    def _whole(self) -> bool:
        """Whether every property and component is asked for, with no limit-freebusy-set."""
        return self.limit_freebusy_set is None and (self.comp is None or self.comp.selects_all())

    def _expanded(self, data: bytes, parsed: Callable[[], icalendar.Calendar], tz: dt.tzinfo | None,
                  budget: Budget, instances: list[Instance] | None,
                  plan: expansion.ExpansionPlan | None) -> RawComponent:
        """The object's tree after expand or limit-recurrence-set (as stored without them;
        ``parsed`` gives its parse)."""
        if self.expand is None and self.limit_recurrence_set is None:
            return icaltext.parse(data)
        if self.expand is not None:
            if plan is not None:  # a subset of the planned text: its tree, read back
                return icaltext.parse(unescaped(plan.text(instances or [], tz, self.expand, budget)))
            return expansion.expand(icaltext.parse(data), parsed(), tz, self.expand, budget)
        assert self.limit_recurrence_set is not None
        return expansion.limit_recurrence_set(icaltext.parse(data), parsed(), tz, self.limit_recurrence_set)


class _SpecParser:
    def __init__(self) -> None:
        self.nodes = 0

    def comp(self, elem: Element, depth: int) -> CompSpec:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise _bad("CALDAV:calendar-data is nested too deeply or too large.")
        name = _name(elem, "comp")
        children = [c for c in elem if isinstance(c.tag, str) and c.tag.startswith(CALDAV)]
        if not children:
            return CompSpec(name, True, (), True, ())
        tags = {c.tag[len(CALDAV):] for c in children}
        if "allprop" in tags and "prop" in tags:
            raise _bad(f"comp {name} holds both allprop and prop.")
        if "allcomp" in tags and "comp" in tags:
            raise _bad(f"comp {name} holds both allcomp and comp.")
        props = []
        for child in children:
            if child.tag == CALDAV + "prop":
                self.nodes += 1
                novalue = (child.get("novalue") or "no").strip().lower()
                if novalue not in ("yes", "no"):
                    raise _bad(f"novalue must be yes or no, not {novalue!r}.")
                props.append((_name(child, "prop"), novalue == "yes"))
        return CompSpec(
            name=name,
            all_props="allprop" in tags,
            props=tuple(props),
            all_comps="allcomp" in tags,
            comps=tuple(self.comp(c, depth + 1) for c in children if c.tag == CALDAV + "comp"),
        )


def _name(elem: Element, what: str) -> str:
    name = (elem.get("name") or "").strip().upper()
    if not name:
        raise _bad(f"CALDAV:{what} needs a name attribute.")
    return name


def parse_calendar_data(elem: Element | None) -> CalendarDataRequest:
    """The CALDAV:calendar-data element of a report's DAV:prop (None: the whole object)."""
    if elem is None:
        return CalendarDataRequest()
    content_type = (elem.get("content-type") or "text/calendar").split(";", 1)[0].strip().lower()
    version = (elem.get("version") or "2.0").strip()
    if content_type != "text/calendar" or version != "2.0":
        raise QueryError(
            403, CALDAV + "supported-calendar-data",
            f"Calendar data as {content_type} version {version} is not supported; use text/calendar 2.0.",
        )
    found: dict[str, list[Element]] = {}
    for child in elem:
        if isinstance(child.tag, str) and child.tag.startswith(CALDAV):
            found.setdefault(child.tag[len(CALDAV):], []).append(child)
    if any(len(v) > 1 for v in found.values()):
        raise _bad("CALDAV:calendar-data repeats an element.")
    if "expand" in found and "limit-recurrence-set" in found:
        raise _bad("CALDAV:calendar-data holds both expand and limit-recurrence-set.")
    comp = None
    if "comp" in found:
        comp = _SpecParser().comp(found["comp"][0], 1)
        if comp.name != "VCALENDAR":
            raise _bad(f"The outer CALDAV:comp must be VCALENDAR, not {comp.name}.")

    def time_range(name: str) -> TimeRange | None:
        return parse_time_range(found[name][0], both=True, precondition=None) if name in found else None

    return CalendarDataRequest(
        comp=comp,
        expand=time_range("expand"),
        limit_recurrence_set=time_range("limit-recurrence-set"),
        limit_freebusy_set=time_range("limit-freebusy-set"),
    )

"""CALDAV:expand, limit-recurrence-set and limit-freebusy-set (RFC 4791 9.6.5 to 9.6.7).

They work on the stored text (``icaltext``) with the parsed object
(``icalendar``) beside it: the parsed object says when instances are, the
text gives the lines to copy.

Decisions where the RFC leaves room:

* expand: every instance of a recurrence set carries RECURRENCE-ID, the
  first one too; date-times with a zone (TZID or UTC) are written in UTC,
  dates and floating date-times stay as they are (they have no zone to
  convert from); DURATION stays when the instance has that length, DTEND /
  DUE is written otherwise; VTIMEZONE components are dropped. Lines copied
  from a plan keep the stored text's folds and case, as GET sends them (the
  general path writes a tree, folded at 75 octets): the same content lines.
* expand of an object whose instances the index holds (every instance up
  to the window's end; one component type, VEVENT or VTODO, each with
  DTSTART, no RANGE overrides; DURATION kept as written, since each
  instance lasts it) is written from the
  index rows and a plan made once per stored object (:class:`ExpansionPlan`,
  cached by the ETag, a digest of the content, and stored with the object by ``stored_plans``; made from
  the text alone unless a value is in a zone of the object's own), which keeps
  each component's text with slots for the
  instance's times: no parsing, no recurrence scan, no tree per instance.
  A plan holds its text escaped as XML element content (``&#13;`` for each
  carriage return), as a report sends it: what it writes is :class:`Escaped`.
  Other objects take the general path; both give the same answer.
* expand refuses an object with more than :data:`MAX_INSTANCES` instances
  in the range with 403 CALDAV:max-instances (RFC 4791 5.2.8 names the
  limit; truncating would silently lose instances); a request whose
  expansions exceed its budget (``kernel.budget``: instances examined,
  components written) ends with 507.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import threading
import time
import zoneinfo
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import icalendar

from kernel import (
    FLOATING,
    INCLUSIVE_END,
    INCLUSIVE_START,
    Budget,
    Instance,
    end_of,
    floating_to_utc,
    make_etag,
    recurrence,
)
from kernel.icaltext import is_iana
from plugins.caldav_server.caldav.icaltext import (
    RawComponent,
    fold,
    line_name,
    params_of,
    parse,
    serialize,
    value_start,
)
from plugins.caldav_server.caldav.instances import (
    Hit,
    ObjectTimes,
    date_value,
    duration_value,
    first,
    is_zoned,
    occurrence_span,
    single_hits,
)
from plugins.caldav_server.caldav.query_error import CALDAV, QueryError
from plugins.caldav_server.caldav.timerange import TimeRange, parse_utc
from plugins.caldav_server.webdav.namespaces import Escaped, content

#: Instances one object may contribute to an expanded answer.
MAX_INSTANCES = 5_000
#: What is known of objects expanded again (:func:`is_itself`, :func:`plan_for`) is kept up
#: to about this much memory in all, counted as twice the text each plan holds and 400
#: bytes an entry (close to what tracemalloc finds): the plans of a 100,000-event
#: calendar's recurring and zoned objects take about 60 MB.
PLAN_CACHE_BYTES = 64 * 1024 * 1024

_UTC = dt.UTC
_DROPPED = {"RRULE", "RDATE", "EXDATE", "EXRULE", "RECURRENCE-ID"}


def aligned(raw: RawComponent, calendar: icalendar.Calendar) -> RawComponent:
    """``raw`` when its top-level components line up with the parsed object's, else the
    parsed object written out (so positions always correspond)."""
    names = [c.name for c in calendar.subcomponents]
    if [c.name for c in raw.children] == names:
        return raw
    return parse(calendar.to_ical())


def format_value(name: str, value: dt.date) -> str:
    """A content line for a date or date-time: UTC when zoned, as written otherwise."""
    if isinstance(value, dt.datetime):
        if is_zoned(value):
            value = value.astimezone(_UTC)
            suffix = "Z"
        else:
            suffix = ""
        return (f"{name}:{value.year:04d}{value.month:02d}{value.day:02d}"
                f"T{value.hour:02d}{value.minute:02d}{value.second:02d}{suffix}")
    return f"{name};VALUE=DATE:{value.year:04d}{value.month:02d}{value.day:02d}"


def _line_in_utc(line: str, component: icalendar.Component) -> str:
    """A line whose value is a list of local date-times with TZID, rewritten in UTC (else as is)."""
    if ";" not in line[: value_start(line)]:
        return line
    params = params_of(line)
    tzid = params.get("TZID")
    if tzid is None or params.get("VALUE", "DATE-TIME").upper() != "DATE-TIME":
        return line
    zone = _zone_named(component, tzid)
    if zone is None:
        return line
    values = []
    for text in line[value_start(line):].split(","):
        try:
            local = dt.datetime.strptime(text.strip(), "%Y%m%dT%H%M%S").replace(tzinfo=zone)
        except ValueError:
            return line
        values.append(format_value("X", local)[2:])
    return f"{line_name(line)}:{','.join(values)}"


def _zone_named(component: icalendar.Component, tzid: str) -> dt.tzinfo | None:
    """The zone a TZID stands for: the one icalendar resolved for DTSTART (which may come from a
    VTIMEZONE) when DTSTART names it too, else the IANA zone of that name, else None."""
    start = first(component, "DTSTART")
    if start is not None and start.params.get("TZID") == tzid and isinstance(start.dt, dt.datetime):
        return start.dt.tzinfo
    try:
        return zoneinfo.ZoneInfo(tzid)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def instance_component(raw: RawComponent, hit: Hit, recurring: bool) -> RawComponent:
    """One expanded instance: the defining component's lines with this instance's times in UTC."""
    component, start, end = hit.component, hit.start, hit.end
    name = component.name
    end_name = "DUE" if name == "VTODO" else "DTEND"
    keep_duration = True
    if start is not None and end is not None and "DURATION" in component:
        keep_duration = _difference(end, start) == duration_value(component)
    lines: list[str] = []
    for line in raw.lines:
        prop = line_name(line)
        if prop in _DROPPED:
            continue
        if start is not None and prop == "DTSTART":
            lines.append(format_value("DTSTART", start))
            if recurring and hit.recurrence_id is not None:
                lines.append(format_value("RECURRENCE-ID", hit.recurrence_id))
        elif start is not None and end is not None and (
            prop == end_name or (prop == "DURATION" and not keep_duration)
        ):
            lines.append(format_value(end_name, end))
        else:
            lines.append(_line_in_utc(line, component))
    return RawComponent(raw.name, lines, raw.children)


def expand(raw: RawComponent, calendar: icalendar.Calendar, tz: dt.tzinfo | None,
           window: TimeRange, budget: Budget) -> RawComponent:
    """The object with each recurrence instance overlapping ``window`` as a component of its own.

    The occurrences examined and the components written are spent from ``budget``.
    """
    raw = aligned(raw, calendar)
    times = ObjectTimes(calendar, tz, budget)
    by_id = {id(c): r for c, r in zip(calendar.subcomponents, raw.children, strict=True)}
    out: list[RawComponent] = []
    names = list(dict.fromkeys(c.name for c in times.top))
    for name in names:
        recurring = name != "VFREEBUSY" and times.is_recurring(name)
        if recurring and times.series(name) is None:
            raise QueryError(403, CALDAV + "max-instances", "The recurrence of this object is too large to expand.")
        hits: list[Hit] = []
        seen: set[int] = set()
        for hit in times.hits(name, window):
            if not recurring:  # one answer per component, however many of its spans overlap
                if id(hit.component) in seen:
                    continue
                seen.add(id(hit.component))
            hits.append(hit)
            if len(out) + len(hits) > MAX_INSTANCES:
                raise QueryError(
                    403, CALDAV + "max-instances",
                    f"The object has more than {MAX_INSTANCES} instances in the expanded range.",
                )
        budget.spend("nodes", len(hits))
        hits.sort(key=lambda h: h.span[:2])
        out.extend(instance_component(by_id[id(h.component)], h, recurring) for h in hits)
    return RawComponent(raw.name, raw.lines, out)


_START, _END = 0, 1


def _value_kind(value: dt.date) -> str:
    """How a date or date-time is written in an expanded answer: date, floating or utc."""
    if not isinstance(value, dt.datetime):
        return "date"
    return "utc" if is_zoned(value) else "floating"


_YEAR_1000 = recurrence.to_key(dt.date(1000, 1, 1))


def _key_text(key: int, kind: str) -> str:
    """The iCalendar value of an index key (epoch seconds; wall clock for dates and floating times)."""
    if _YEAR_1000 <= key <= recurrence.MAX_KEY:
        day, second = divmod(key, 86400)
        if kind == "date":
            return _day_text(day)
        return f"{_day_text(day)}T{_clock_text(second)}{'Z' if kind == 'utc' else ''}"
    moment = recurrence.naive(key)
    if kind == "date":
        return f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
    return (f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
            f"T{moment.hour:02d}{moment.minute:02d}{moment.second:02d}{'Z' if kind == 'utc' else ''}")


@functools.lru_cache(maxsize=8192)
def _day_text(day: int) -> str:
    """YYYYMMDD of a day counted from 1970-01-01 (years from 1000 on: strftime pads them everywhere)."""
    return time.strftime("%Y%m%d", time.gmtime(day * 86400))


@functools.lru_cache(maxsize=4096)
def _clock_text(second: int) -> str:
    """HHMMSS of a second of the day (instances start on few of them: remembered)."""
    hours, rest = divmod(second, 3600)
    return f"{hours:02d}{rest // 60:02d}{rest % 60:02d}"


_KINDS = ("date", "floating", "utc")
#: The end of a line an instance's times add, as element content.
_CRLF = "&#13;\n"
#: The start of an instance's DTSTART line by the kind of value it holds.
_START_PREFIX = {kind: "DTSTART;VALUE=DATE:" if kind == "date" else "DTSTART:" for kind in _KINDS}
#: The start of an instance's end line (DTEND; DUE in a VTODO) by component and kind of value.
_END_PREFIX = {
    (component, kind): f"{name};VALUE=DATE:" if kind == "date" else f"{name}:"
    for component, name in (("VEVENT", "DTEND"), ("VTODO", "DUE"))
    for kind in _KINDS
}


def _line(name: str, value: str) -> str:
    """A content line for a date (eight digits) or date-time value."""
    return f"{name}:{value}" if "T" in value else f"{name};VALUE=DATE:{value}"


class _Template(NamedTuple):
    """One top-level component as written for each of its instances: its text (BEGIN, its
    lines folded, its subcomponents, END) as runs of text with an empty slot for the
    instance's start (and RECURRENCE-ID) and one for its end where the component has one."""

    name: str
    written: tuple[str, ...]
    start_at: int
    end_at: int  # -1: no end written
    start_kind: str
    end_kind: str

    @classmethod
    def slotted(cls, name: str, parts: list[str | int], start_kind: str, end_kind: str) -> _Template:
        """The template of text runs with :data:`_START` and :data:`_END` among them."""
        written = ["" if isinstance(part, int) else part for part in parts]
        end_at = parts.index(_END) if _END in parts else -1
        return cls(name, tuple(written), parts.index(_START), end_at, start_kind, end_kind)

    @classmethod
    def of(cls, name: str, parts: list[str | int], children: list[RawComponent], start_kind: str,
           end_kind: str) -> _Template:
        """The template of a component from its lines (``parts``, slots among them) and subcomponents."""
        written: list[str | int] = []
        run = [f"BEGIN:{name}\r\n"]
        for part in parts:
            if isinstance(part, int):
                written.extend(("".join(run), part))
                run = []
            else:
                run.append(fold(part) + "\r\n")
        run.extend(serialize(child) for child in children)
        run.append(f"END:{name}\r\n")
        written.append("".join(run))
        return cls.slotted(name, written, start_kind, end_kind)


class ExpansionPlan(NamedTuple):
    """What expanding one stored object from its index rows needs, made once per content:
    the calendar's own text around its components, and a template per component."""

    head: tuple[str, str]
    recurring: bool
    master: _Template | None
    overrides: dict[str, _Template]

    @classmethod
    def of(cls, calendar: RawComponent, recurring: bool, master: _Template | None,
           overrides: dict[str, _Template]) -> ExpansionPlan:
        """The plan of a stored calendar (its lines become the text around the instances)."""
        lines = "".join(fold(line) + "\r\n" for line in calendar.lines)
        head = (f"BEGIN:{calendar.name}\r\n{lines}", f"END:{calendar.name}\r\n")
        return cls(head, recurring, master, overrides)

    def text(self, instances: list[Instance], tz: dt.tzinfo | None, window: TimeRange, budget: Budget) -> Escaped:
        """The expanded object written from the index rows near ``window`` (``instances``);
        floating times are read in ``tz``. The content lines of :func:`expand` serialised, folded
        as stored (as GET sends them) where the plan was read from the text, escaped as
        element content (``namespaces.unescaped`` gives the iCalendar text)."""
        hits = instances_in(instances, tz, window, budget)
        if len(hits) > MAX_INSTANCES:
            raise QueryError(
                403, CALDAV + "max-instances",
                f"The object has more than {MAX_INSTANCES} instances in the expanded range.",
            )
        budget.spend("nodes", len(hits))
        if len(hits) > 1:
            hits.sort(key=lambda h: (h[0], h[1]))
        out = [self.head[0]]
        master, overrides, recurring = self.master, self.overrides, self.recurring
        for _, _, inst in hits:  # each instance's text runs, its times in the template's slots
            rid = inst.recurrence_id
            template = master if rid is None else overrides.get(rid, master)
            assert template is not None  # plans without a master have overrides for every row
            parts = list(template.written)
            kind = template.start_kind
            start = f"{_START_PREFIX[kind]}{_key_text(inst.start, kind)}{_CRLF}"
            if rid is not None and recurring:
                start += _line("RECURRENCE-ID", rid) + _CRLF
            parts[template.start_at] = start
            if template.end_at >= 0:
                kind = template.end_kind
                parts[template.end_at] = f"{_END_PREFIX[template.name, kind]}{_key_text(inst.end, kind)}{_CRLF}"
            out += parts
        out.append(self.head[1])
        return Escaped("".join(out))

    def escaped(self) -> ExpansionPlan:
        """This plan of iCalendar text with its text escaped as element content."""
        def of(template: _Template) -> _Template:
            return template._replace(written=tuple(content(run) for run in template.written))

        return ExpansionPlan((content(self.head[0]), content(self.head[1])), self.recurring,
                             None if self.master is None else of(self.master),
                             {rid: of(t) for rid, t in self.overrides.items()})


def instances_in(instances: list[Instance], tz: dt.tzinfo | None, window: TimeRange,
                 budget: Budget | None) -> list[tuple[int, int, Instance]]:
    """The index rows whose instance overlaps ``window`` as (UTC start, UTC end, row); floating
    times are read in ``tz``. Every row examined is spent from ``budget`` (when given) as ``instances``."""
    if budget is not None:
        budget.spend("instances", len(instances))
    hits: list[tuple[int, int, Instance]] = []
    for inst in instances:
        s, e = inst.start, inst.end
        if inst.flags & FLOATING:
            s, e = floating_to_utc(s, tz), floating_to_utc(e, tz)
        if window.overlaps((s, e, inst.flags & (INCLUSIVE_START | INCLUSIVE_END))):
            hits.append((s, e, inst))
    return hits


def expands_to_itself(data: bytes) -> bool:
    """Whether expanding a stored object gives it back unchanged when its one instance is in the
    window: one VEVENT (with its alarms), no recurrence and no zoned value (UTC, floating and
    date values are written as they are) and no VTIMEZONE. Most single events are like this,
    and their expanded answer is then the stored text, as without expand. A look at the text
    only: a word like TZID in a description sends the object the longer way, never the reverse."""
    upper = data.upper()  # names are case-insensitive; one copy is cheaper than an ignore-case search
    if (b"RRULE" in upper or b"TZID" in upper or b"RDATE" in upper or b"EXDATE" in upper or b"EXRULE" in upper
            or b"RECURRENCE-ID" in upper):
        return False
    # A BEGIN line follows a line break; text values escape theirs (RFC 5545 3.3.11), so only
    # component lines are counted. Stored objects have CRLF line ends (kernel.ingest).
    begins = upper.count(b"\nBEGIN:")
    events = upper.count(b"\nBEGIN:VEVENT\r\n")
    return upper.startswith(b"BEGIN:VCALENDAR\r\n") and events == 1 and begins == events + upper.count(b"\nBEGIN:VALARM\r\n")


class _Unplanned:
    """Marks content whose plan has not been made."""


_UNPLANNED = _Unplanned()
#: What the plan cache counts for an entry besides its plan (its key, record and slot).
_ENTRY_BYTES = 400


class _Known:
    """What the plan cache knows of one content: whether it expands to itself (None: not
    looked at) and its plan (:data:`_UNPLANNED`: not made)."""

    __slots__ = ("itself", "plan", "size")

    def __init__(self) -> None:
        self.itself: bool | None = None
        self.plan: ExpansionPlan | _Unplanned | None = _UNPLANNED
        self.size = _ENTRY_BYTES


_known: OrderedDict[str, _Known] = OrderedDict()
_known_lock = threading.Lock()
_known_bytes = 0


def _entry(etag: str) -> _Known:
    """The cache entry of the content with this ETag (new and empty when there is none), as most
    recently used. Callers hold :data:`_known_lock`."""
    global _known_bytes
    entry = _known.get(etag)
    if entry is None:
        entry = _known[etag] = _Known()
        _known_bytes += entry.size
        _evict()
    else:
        _known.move_to_end(etag)
    return entry


def _evict() -> None:
    """Drop the least recently used entries past :data:`PLAN_CACHE_BYTES` (the newest stays)."""
    global _known_bytes
    while _known_bytes > PLAN_CACHE_BYTES and len(_known) > 1:
        _known_bytes -= _known.popitem(last=False)[1].size


def _plan_size(plan: ExpansionPlan | None) -> int:
    """About the memory a plan takes: twice the length of its text runs (the runs' objects,
    the templates holding them)."""
    if plan is None:
        return 0
    size = len(plan.head[0]) + sum(sum(map(len, t.written)) for t in plan.overrides.values())
    return 2 * (size + (sum(map(len, plan.master.written)) if plan.master else 0))


def is_itself(data: bytes, etag: str | None = None) -> bool:
    """:func:`expands_to_itself` of a stored object, remembered by its ETag (``kernel.make_etag``
    of ``data`` when not given: equal ETags hold equal content)."""
    key = etag or make_etag(data)
    with _known_lock:
        itself = _entry(key).itself
    if itself is None:
        itself = expands_to_itself(data)
        with _known_lock:
            _entry(key).itself = itself
    return itself


def plan_for(data: bytes, calendar: Callable[[], icalendar.Calendar], etag: str | None = None) -> ExpansionPlan | None:
    """The expansion plan of a stored object, or None when the object needs the general path
    (see the module's docstring); remembered by its ETag (as :func:`is_itself`). Most objects
    are planned from their text alone; ``calendar`` (giving the parse) is called only for the
    others (overrides, other zoned properties)."""
    key = etag or make_etag(data)
    with _known_lock:
        plan = _entry(key).plan
    if not isinstance(plan, _Unplanned):
        return plan
    plan = plan_of(data, calendar)
    remember(key, plan)
    return plan


def plan_of(data: bytes, calendar: Callable[[], icalendar.Calendar]) -> ExpansionPlan | None:
    """:func:`plan_for` made afresh and not remembered (a write stores it, nobody may expand)."""
    plan = _text_plan(_without_timezones(data))
    if isinstance(plan, _NeedsParse):
        plan = _make_plan(parse(data), calendar())
    return None if plan is None else plan.escaped()


def indexed_text(data: bytes, calendar: Callable[[], icalendar.Calendar], instances: list[Instance],
                 tz: dt.tzinfo | None, window: TimeRange, budget: Budget, etag: str | None = None) -> str | None:
    """The whole expanded object written from its index rows near ``window`` (``instances``):
    the stored text when it expands to itself (:func:`is_itself`) and its one instance is in
    the window, else from its plan (:func:`plan_for`); None when it needs the general path."""
    return indexed_texts([(etag or make_etag(data), data, instances)], lambda _: calendar(), tz, window, budget)[0]


def indexed_texts(objects: Sequence[tuple[str, bytes, list[Instance] | None]],
                  parse: Callable[[bytes], icalendar.Calendar], tz: dt.tzinfo | None, window: TimeRange,
                  budget: Budget) -> list[str | None]:
    """:func:`indexed_text` of a page of objects, each given as (ETag, stored bytes, index rows
    near ``window`` or None), with what the cache knows of them looked up under one lock;
    ``parse`` reads an object that must be planned from its parse. None for each object of
    the general path (no rows, or no plan)."""
    with _known_lock:
        entries = [None if instances is None else _entry(etag) for etag, _, instances in objects]
    texts: list[str | None] = []
    add = texts.append
    spend = budget.spend
    for (etag, data, instances), entry in zip(objects, entries, strict=True):
        if entry is None or instances is None:
            add(None)
            continue
        # an object that expands to itself has one index row, without a recurrence id
        if len(instances) == 1 and instances[0].recurrence_id is None:
            itself = entry.itself
            if itself is None:
                itself = is_itself(data, etag)
            if itself and instances_in(instances, tz, window, None):
                spend("instances", 1)
                spend("nodes", 1)
                add(data.decode("utf-8", "replace"))
                continue
        plan = entry.plan
        if isinstance(plan, _Unplanned):
            plan = plan_for(data, functools.partial(parse, data), etag)
        add(None if plan is None else plan.text(instances, tz, window, budget))
    return texts


def plans_wanted(etags: Iterable[str]) -> set[str]:
    """Those of these ETags whose stored rows would be used: their plan is not in memory, and
    their content is not known to expand to itself (such content is rarely planned)."""
    wanted = set()
    with _known_lock:
        for etag in etags:
            entry = _known.get(etag)
            if entry is None or (isinstance(entry.plan, _Unplanned) and not entry.itself):
                wanted.add(etag)
    return wanted


def remember(etag: str, plan: ExpansionPlan | None) -> None:
    """Keep ``plan`` as the plan of the content with this ETag (made by :func:`plan_for` here
    or elsewhere and stored), within :data:`PLAN_CACHE_BYTES`."""
    remember_all([(etag, plan, _plan_size(plan))])


def remember_all(plans: Iterable[tuple[str, ExpansionPlan | None, int]], itself: Iterable[str] = ()) -> None:
    """Keep many plans at once, each as (ETag of its content, plan, about the memory it takes),
    and note the contents (by ETag) known to expand to themselves (:func:`expands_to_itself`,
    as their stored rows say: :func:`indexed_texts` then answers with their text without
    looking at it); under one lock, within :data:`PLAN_CACHE_BYTES`."""
    global _known_bytes
    with _known_lock:
        for etag in itself:
            _entry(etag).itself = True
        for etag, plan, size in plans:
            entry = _entry(etag)
            if isinstance(entry.plan, _Unplanned):
                entry.plan = plan
                entry.size += size
                _known_bytes += size
        _evict()


def forget_all() -> None:
    """Empty the plan cache (tests: a fresh process's view)."""
    global _known_bytes
    with _known_lock:
        _known.clear()
        _known_bytes = 0


#: The version of :func:`plan_text`'s format and of what a plan holds: raise it with any
#: change to how objects are planned or how a plan is written out, so that plans stored
#: before are not read (``stored_plans`` makes them again). 2: runs between separators;
#: 3: the runs escaped as XML element content.
PLAN_FORMAT = 3
#: What starts a plan written as fields between :data:`_SEP` (JSON starts otherwise).
_FIELDS = "\x1e"
_SEP = "\x1f"


def plan_text(plan: ExpansionPlan | None) -> str:
    """A plan as text, to store beside its object ("null": the object takes the general path).

    Its fields between separators (control characters iCalendar text has no use for): the
    two head runs, whether it recurs, how many templates, then each template's recurrence
    id (empty for the master), component, slots, value kinds, number of runs and runs. A
    cold expanded week reads thousands of plans: splitting them takes a third of the time
    JSON took. A plan whose text holds a separator is written as JSON."""
    if plan is None:
        return "null"
    templates = ([("", plan.master)] if plan.master is not None else []) + list(plan.overrides.items())
    fields = [plan.head[0], plan.head[1], "1" if plan.recurring else "0", str(len(templates))]
    for rid, template in templates:
        fields += (rid, template.name, str(template.start_at), str(template.end_at), template.start_kind,
                   template.end_kind, str(len(template.written)), *template.written)
    text = _SEP.join(fields)
    if text.count(_SEP) != len(fields) - 1 or _FIELDS in text:  # a field holds a separator
        return json.dumps(plan, separators=(",", ":"))
    return _FIELDS + text


def plan_from_text(text: str) -> ExpansionPlan | None:
    """The plan :func:`plan_text` wrote; ValueError when the text is not one."""
    if not text.startswith(_FIELDS):
        return _plan_from_json(text)
    fields = text[1:].split(_SEP)
    try:
        head, recurring, count = (fields[0], fields[1]), fields[2], int(fields[3])
        if recurring not in ("0", "1"):
            raise ValueError("neither recurring nor not")
        master: _Template | None = None
        overrides: dict[str, _Template] = {}
        at = 4
        for _ in range(count):
            rid, name, start_at, end_at, start_kind, end_kind, runs = fields[at : at + 7]
            first, at = at + 7, at + 7 + int(runs)
            written = tuple(fields[first:at])
            if len(written) != int(runs):
                raise ValueError("runs missing")
            template = _checked(name, written, int(start_at), int(end_at), start_kind, end_kind)
            if rid:
                overrides[rid] = template
            elif master is None:
                master = template
            else:
                raise ValueError("two masters")
        if at != len(fields):
            raise ValueError("fields left over")
    except (ValueError, IndexError) as exc:
        raise ValueError(f"not an expansion plan: {exc}") from None
    if master is None and not overrides:
        raise ValueError("not an expansion plan: no component")
    return ExpansionPlan(head, recurring == "1", master, overrides)


def _plan_from_json(text: str) -> ExpansionPlan | None:
    """A plan :func:`plan_text` wrote as JSON (its text holds a separator)."""
    value = json.loads(text)
    if value is None:
        return None
    try:
        head, recurring, master, overrides = value
        plan = ExpansionPlan(
            (str(head[0]), str(head[1])), bool(recurring), None if master is None else _template_from(master),
            {str(rid): _template_from(t) for rid, t in overrides.items()},
        )
    except (TypeError, ValueError, AttributeError, IndexError, KeyError) as exc:
        raise ValueError(f"not an expansion plan: {exc}") from None
    if plan.master is None and not plan.overrides:
        raise ValueError("not an expansion plan: no component")
    return plan


def _checked(name: str, written: tuple[str, ...], start_at: int, end_at: int, start_kind: str,
             end_kind: str) -> _Template:
    """A :class:`_Template` of text runs, its slots checked against its runs."""
    if not 0 <= start_at < len(written) or not -1 <= end_at < len(written):
        raise ValueError("slot out of range")
    if start_kind not in _KINDS or end_kind not in _KINDS or name not in ("VEVENT", "VTODO"):
        raise ValueError("unknown component or value kind")
    return _Template(name, written, start_at, end_at, start_kind, end_kind)


def _template_from(value: list[object]) -> _Template:
    """A :class:`_Template` from its JSON list, its slots checked against its runs."""
    name, written, start_at, end_at, start_kind, end_kind = value
    if type(written) is not list or type(start_at) is not int or type(end_at) is not int:
        raise ValueError("not a template")
    if not all(type(run) is str for run in written):
        raise ValueError("runs are not text")
    return _checked(str(name), tuple(written), start_at, end_at, str(start_kind), str(end_kind))


def _without_timezones(data: bytes) -> bytes:
    """The stored text without its VTIMEZONE components (as stored: upper case, CRLF), which
    an expanded answer leaves out: a quarter to a half of a zoned event's lines, not read."""
    kept: list[bytes] = []
    at = 0
    while (start := data.find(b"\r\nBEGIN:VTIMEZONE\r\n", at)) >= 0:
        end = data.find(b"\r\nEND:VTIMEZONE\r\n", start)
        if end < 0:
            break
        kept.append(data[at:start])
        at = end + len(b"\r\nEND:VTIMEZONE")
    kept.append(data[at:])
    return b"".join(kept)  # one copy, however many zones an object holds


class _NeedsParse:
    """Marks an object whose plan needs its parse."""


_NEEDS_PARSE = _NeedsParse()


#: The lines a text plan looks at, found in the upper-cased text from the line break before
#: them: component bounds, the instance's times and the recurrence, with their folded
#: continuation lines (a literal start lets the search skip from line break to line break).
_MARKED = re.compile(
    rb"\r\n(BEGIN|END|DTSTART|DTEND|DUE|DURATION|RRULE|RDATE|EXDATE|EXRULE|RECURRENCE-ID)[;:]"
    rb"[^\r]*(?:\r\n[ \t][^\r]*)*"
)
_HEAD, _TAIL = b"BEGIN:VCALENDAR\r\n", b"END:VCALENDAR\r\n"


@dataclass(slots=True)
class _Reading:
    """A top-level component while :func:`_text_plan` reads it: its text so far (runs of it
    between slots), the kinds of its DTSTART and end, its RECURRENCE-ID and whether it recurs."""

    name: str
    written: list[str | int]
    run: list[bytes]
    kinds: dict[str, str]
    rid: str | None = None
    rule: bool = False
    duration: str | None = None

    @property
    def end_name(self) -> str:
        """The property that ends this component's instances."""
        return "DUE" if self.name == "VTODO" else "DTEND"

    def cut(self, word: str, line: str, before: bytes) -> bool:
        """Take out a RECURRENCE-ID, a recurrence line, DTSTART or the end (a slot for the last
        two); ``before``: the text since the last line taken out. False when only the parse can
        read the component."""
        self.run.append(before)
        if word == "RECURRENCE-ID":
            self.rid = _text_rid(line) if self.rid is None else None
            return self.rid is not None
        if word in ("RRULE", "RDATE", "EXDATE", "EXRULE"):
            self.rule = self.rule or word in ("RRULE", "RDATE")
            return True
        kind = _text_kind(line)
        if kind is None or word in self.kinds:
            return False
        self.kinds[word] = kind
        self.written.extend((_joined(self.run), _START if word == "DTSTART" else _END))
        self.run = []
        return True


def _text_plan(data: bytes) -> ExpansionPlan | _NeedsParse | None:
    """The plan of a stored object read from its text (VTIMEZONE components cut): one master
    and its overrides, whose zoned values are only DTSTART, its end and RECURRENCE-ID in an
    IANA zone (the kernel refused every TZID it could not resolve, so a TZID means a zoned
    value). The text between the lines it looks at (:data:`_MARKED`) is copied in slices as
    stored (folds, case and order as the client wrote them), not read line by line.
    :data:`_NEEDS_PARSE` for other objects and for text not read this way (blank lines,
    components not closed in order), None for objects of the general path."""
    if not data.startswith(_HEAD) or not data.endswith(b"\r\n" + _TAIL) or b"\r\n\r\n" in data:
        return _NEEDS_PARSE
    upper = data.upper()  # ASCII letters only: the same offsets
    zoned = b"TZID=" in upper  # a TZID parameter somewhere: each component's other lines are looked at
    head: list[bytes] = []
    made: list[tuple[_Template, str | None, bool]] = []
    reading: _Reading | None = None
    children: list[bytes] = []  # the subcomponents open inside the component being read
    at = len(_HEAD)  # where the text not yet copied starts
    for mark in _MARKED.finditer(upper, at - 2, len(data) - len(_TAIL) - 2):
        word, begin, end = mark.group(1).decode(), mark.start() + 2, mark.end()  # the line is data[begin:end]
        name = upper[begin + len(word) + 1 : end].strip() if word in ("BEGIN", "END") else b""
        if reading is None:  # the calendar's own level: only components start here
            if word != "BEGIN" or name not in (b"VEVENT", b"VTODO") or (made and made[0][0].name != name.decode()):
                return _NEEDS_PARSE
            head.append(data[at:begin])
            reading, at = _Reading(name.decode(), [], [], {}), begin
            continue
        if word == "BEGIN":
            children.append(name)
            continue
        if word == "END":
            if children:
                if children.pop() != name:
                    return _NEEDS_PARSE
                continue
            if name.decode() != reading.name:
                return _NEEDS_PARSE
            reading.run.append(data[at : end + 2])
            finished = _finished(reading, zoned)
            if not isinstance(finished, tuple):
                return finished
            made.append(finished)
            reading, at = None, end + 2
            continue
        if children:
            continue  # a subcomponent's lines are copied as written
        line = _unfolded(data[begin:end])
        if word == "DURATION":
            reading.duration = line[value_start(line):]
        elif word not in ("DTEND", "DUE") or word == reading.end_name:  # else an ordinary line here
            if not reading.cut(word, line, data[at:begin]):
                return _NEEDS_PARSE
            at = end + 2
    if reading is not None or not made:
        return _NEEDS_PARSE
    head.append(data[at : len(data) - len(_TAIL)])
    master: _Template | None = None
    overrides: dict[str, _Template] = {}
    recurring = len(made) > 1
    for template, rid, rule in made:
        recurring = recurring or rule
        if rid is not None:
            overrides[rid] = template
        elif master is None:
            master = template
        else:
            return _NEEDS_PARSE
    if master is None:
        return _NEEDS_PARSE
    return ExpansionPlan(("BEGIN:VCALENDAR\r\n" + _joined(head), "END:VCALENDAR\r\n"),
                         recurring, master, overrides)


def _unfolded(line: bytes) -> str:
    """One content line without its folds."""
    return line.replace(b"\r\n ", b"").replace(b"\r\n\t", b"").decode("utf-8", "replace")


def _joined(runs: list[bytes]) -> str:
    """Runs of whole lines as one text, folded as stored (as GET and a plain calendar-data send them)."""
    return b"".join(runs).decode("utf-8", "replace")


def _finished(reading: _Reading, zoned: bool) -> tuple[_Template, str | None, bool] | _NeedsParse | None:
    """(template, the index's RECURRENCE-ID text of an override or None for a master, whether
    it has a rule) of a component read to its END; None or :data:`_NEEDS_PARSE` as
    :func:`_text_plan` says."""
    written = [*reading.written, _joined(reading.run)]
    if zoned and any("TZID=" in part.upper() for part in written if isinstance(part, str)):
        return _NEEDS_PARSE  # another value in a zone (or the word in a text): the parse converts it
    start_kind = reading.kinds.get("DTSTART")
    if start_kind is None:
        return _NEEDS_PARSE
    if reading.duration is not None and start_kind == "date":
        try:
            if icalendar.vDuration.from_ical(reading.duration.strip()).seconds:
                return None
        except ValueError:
            return _NEEDS_PARSE
    end_kind = reading.kinds.get(reading.end_name, start_kind)
    return _Template.slotted(reading.name, written, start_kind, end_kind), reading.rid, reading.rule


def _text_rid(line: str) -> str | None:
    """The index's text of a RECURRENCE-ID line (UTC, floating, a date, or local time in an
    IANA zone converted to UTC), or None when only the parse can tell (RANGE, another zone)."""
    kind = _text_kind(line)
    params = params_of(line) if ";" in line[: value_start(line)] else {}
    if kind is None or "RANGE" in params:
        return None
    value = line[value_start(line):].strip().upper()
    try:
        if kind == "date":
            moment: dt.date = dt.datetime.strptime(value, "%Y%m%d").date()
        elif value.endswith("Z"):
            moment = dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=_UTC)
        else:
            moment = dt.datetime.strptime(value, "%Y%m%dT%H%M%S")
            tzid = params.get("TZID")
            if tzid is not None:
                if not is_iana(tzid):
                    return None
                moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(tzid))
    except ValueError:
        return None
    return _key_text(recurrence.to_key(moment), kind)


def _text_kind(line: str) -> str | None:
    """The kind of a date or date-time line read from its text (None when unsure)."""
    cut = value_start(line)
    head = line[:cut].upper()
    if '"' in head or "VALUE=" in head:  # parameters read in full only when they may say more than TZID
        params = params_of(line)
        if params.get("VALUE", "").upper() == "DATE":
            return "date"
        zoned = "TZID" in params
    else:
        zoned = ";TZID=" in head
    value = line[cut:].strip()
    if "," in value or "T" not in value.upper():
        return None
    if zoned or value.upper().endswith("Z"):
        return "utc"
    return "floating"


def _make_plan(raw: RawComponent, calendar: icalendar.Calendar) -> ExpansionPlan | None:
    raw = aligned(raw, calendar)
    pairs = [(c, r) for c, r in zip(calendar.subcomponents, raw.children, strict=True) if c.name != "VTIMEZONE"]
    names = {c.name for c, _ in pairs}
    if len(names) != 1 or not names <= {"VEVENT", "VTODO"}:
        return None
    recurring = len(pairs) > 1 or any(p in c for c, _ in pairs for p in ("RRULE", "RDATE", "RECURRENCE-ID"))
    master: _Template | None = None
    overrides: dict[str, _Template] = {}
    for component, raw_child in pairs:
        template = _template(component, raw_child)
        if template is None:
            return None
        rid_prop = first(component, "RECURRENCE-ID")
        if rid_prop is None:
            if master is not None:
                return None
            master = template
            continue
        rid = date_value(component, "RECURRENCE-ID")
        if rid is None or "RANGE" in rid_prop.params:
            return None
        overrides[_key_text(recurrence.to_key(rid), _value_kind(rid))] = template
    if master is None:
        return None
    return ExpansionPlan.of(raw, recurring, master, overrides)


def _template(component: icalendar.Component, raw: RawComponent) -> _Template | None:
    """A component's template, or None when its instances need the general path."""
    start = date_value(component, "DTSTART")
    if start is None:
        return None
    duration = duration_value(component)
    if duration is not None and not isinstance(start, dt.datetime) and duration.seconds:
        return None  # a day with hours: its instances end at a date-time the index does not keep
    end_name = "DUE" if component.name == "VTODO" else "DTEND"
    end = date_value(component, end_name)
    parts: list[str | int] = []
    for line in raw.lines:
        prop = line_name(line)
        if prop in _DROPPED:
            continue
        if prop == "DTSTART":
            parts.append(_START)
        elif prop == end_name:
            parts.append(_END)
        else:
            parts.append(_line_in_utc(line, component))
    return _Template.of(component.name, parts, raw.children, _value_kind(start),
                     _value_kind(end) if end is not None else _value_kind(start))


def limit_recurrence_set(raw: RawComponent, calendar: icalendar.Calendar, tz: dt.tzinfo | None,
                         window: TimeRange) -> RawComponent:
    """The object with only the overridden components that impact ``window`` (9.6.6)."""
    raw = aligned(raw, calendar)
    masters = {c.name: c for c in calendar.subcomponents if "RECURRENCE-ID" not in c}
    kept = [
        r for c, r in zip(calendar.subcomponents, raw.children, strict=True)
        if "RECURRENCE-ID" not in c or _impacts(c, masters.get(c.name), tz, window)
    ]
    return RawComponent(raw.name, raw.lines, kept)


def _impacts(override: icalendar.Component, master: icalendar.Component | None,
             tz: dt.tzinfo | None, window: TimeRange) -> bool:
    """Whether an override's current or original time overlaps, or it changes later instances in range."""
    name = override.name
    if any(window.overlaps(h.span) for h in single_hits(name, override, tz)):
        return True
    rid_prop = override.get("RECURRENCE-ID")
    rid = date_value(override, "RECURRENCE-ID")
    if rid is None:
        return False
    if str(rid_prop.params.get("RANGE", "")).upper() == "THISANDFUTURE":
        return window.end is None or occurrence_span(name, override, rid, rid, tz)[0] < window.end
    length = dt.timedelta(0)
    master_start = None if master is None else date_value(master, "DTSTART")
    if master_start is not None:
        length = _difference(end_of(name, master, master_start), master_start)
    original_end = rid + length if length else end_of(name, override, rid)
    return window.overlaps(occurrence_span(name, master or override, rid, original_end, tz))


def _difference(end: dt.date, start: dt.date) -> dt.timedelta:
    try:
        return end - start
    except TypeError:  # a date and a date-time
        return dt.timedelta(0)


def limit_freebusy_set(raw: RawComponent, window: TimeRange) -> RawComponent:
    """The object with only the FREEBUSY periods of its VFREEBUSY components that overlap ``window``."""
    children = []
    for child in raw.children:
        if child.name != "VFREEBUSY":
            children.append(child)
            continue
        lines = []
        for line in child.lines:
            if line_name(line) != "FREEBUSY":
                lines.append(line)
                continue
            cut = value_start(line)
            periods = [p for p in line[cut:].split(",") if _period_overlaps(p, window)]
            if periods:
                lines.append(line[:cut] + ",".join(periods))
        children.append(RawComponent(child.name, lines, child.children))
    return RawComponent(raw.name, raw.lines, children)


def _period_overlaps(period: str, window: TimeRange) -> bool:
    """9.9 for one FREEBUSY period ``start/end`` or ``start/duration``: start < period end, end > period start."""
    first, _, second = period.strip().partition("/")
    try:
        start = parse_utc(first)
        if second.upper().startswith(("P", "+P", "-P")):
            end = start + int(icalendar.vDuration.from_ical(second).total_seconds())
        else:
            end = parse_utc(second)
    except (QueryError, ValueError):
        return True  # keep what cannot be read rather than hide it
    return window.overlaps((start, end, 0))

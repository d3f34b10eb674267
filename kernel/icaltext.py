"""Reading iCalendar text safely in a server that parses many users' objects in one process.

Left to itself, icalendar turns every VTIMEZONE whose TZID is not an IANA name
into a dateutil ``tzical``, remembered process-wide under its TZID: a second
object defining "Office Time" differently would get the first one's offsets,
the memory grows with every new definition, and every offset lookup walks the
zone's rules from their start (a rule repeating every second since 1601
freezes the server). :func:`read_calendar` hides TZID properties from
icalendar, so it resolves no VTIMEZONE, then puts them back and binds the
date-times that name a custom zone to that object's own definition, resolved
by ``kernel.zones`` (bounded, cached per definition). A VTIMEZONE named by an
IANA name stands for the IANA zone. The text is only changed for parsing;
what is stored is what :func:`crlf_lines` returns.

icalendar splits each content line character by character in Python, about
half of its parse. :func:`read_calendar` hands its parser (icalendar's own
``CalendarIcalParser``, which takes ready content lines) lines of a
``Contentline`` subclass that splits the plain shapes (a name, parameters
whose values hold no quote, escape, comma or edge space, a value) with one
regular expression into exactly the parts icalendar's splitter gives them,
and leaves every other line to that splitter.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from typing import Any, cast

import icalendar
from icalendar import ComponentFactory, Parameters
from icalendar.parser import unescape_backslash
from icalendar.parser.content_line import Contentline
from icalendar.parser.ical.calendar import CalendarIcalParser

from kernel import zones
from kernel.budget import Budget

_BOM = "\ufeff"
#: icalendar's unfolding (a line break followed by a space or tab continues the line), as its
#: own pattern matches: a run of line breaks then a blank, taken from the run's first break.
#: Written so that every match starts at a CR or LF the regular expression engine scans for,
#: with the look back after it (icalendar's pattern starts with it, and is tried at every
#: character: 60 us for an object of 1.2 KB, against 12 us).
_UNFOLD = re.compile(r"(?:\r(?<!\n\r)\n|\n(?<![\r\n]\n))(?:\r?\n)*[ \t]")
_HIDDEN = "X-TEAMCAL-HIDDEN-TZID"
_TZID_LINE = re.compile(r"(?:^|(?<=\n))TZID(?=[;:])", re.I)
_HIDDEN_LINE = re.compile(rf"(?:^|(?<=\n)){_HIDDEN}(?=[;:])", re.I)
_VTIMEZONE = re.compile("VTIMEZONE", re.I)
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_NEWLINE = re.compile(r"\r?\n")
#: One character of a parameter value icalendar's splitter would pass through unchanged
#: (no quote, RFC 6868 caret, backslash, percent sign, list comma, delimiter or control).
_PLAIN = r'[^\x00-\x20\x7f";:,\\%^=]'
_PLAIN_VALUE = rf"{_PLAIN}(?: *{_PLAIN})*"
_PLAIN_PARAMETER = re.compile(rf"([A-Za-z0-9-]+)=({_PLAIN_VALUE})")
_PLAIN_LINE = re.compile(rf"([A-Za-z0-9-]+)((?:;[A-Za-z0-9-]+={_PLAIN_VALUE})*):(.*)", re.S)
#: The properties whose TZID parameter icalendar resolves.
_ZONED = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "RDATE", "EXDATE")


def crlf_lines(data: bytes) -> bytes:
    """``data`` with every line break (bare CR, bare LF or CRLF) written as CRLF.

    iCalendar text has no line break that is not a CRLF (RFC 5545 3.1); parsers
    differ on a bare CR, so it is normalised before an object is validated and stored.
    """
    return _LINE_BREAK.sub(b"\r\n", data)


def unfold(text: str) -> str:
    """``text`` with its folded lines joined, exactly as icalendar unfolds them.

    Every fold ends in a line feed and a blank, so text without one is returned as it is.
    """
    if "\n " not in text and "\n\t" not in text:
        return text
    return _UNFOLD.sub("", text)


@functools.lru_cache(maxsize=1024)
def is_iana(name: str) -> bool:
    """Whether a TZID is a time zone name the IANA database (zoneinfo) knows."""
    try:
        zoneinfo.ZoneInfo(name)
    except Exception:  # noqa: BLE001 - any failure means "not a zone the provider knows"
        return False
    return True


def read_calendar(data: bytes | str, budget: Budget | None = None) -> icalendar.Calendar:
    """Parse iCalendar text into an ``icalendar.Calendar``, custom time zones bound per definition.

    Raises what icalendar raises on bad input (ValueError and friends),
    ``zones.ZoneRefused`` (a ValueError) for a VTIMEZONE over the limits and
    ``OverBudget`` when resolving the zones would exceed ``budget``.
    """
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
    if text.startswith(_BOM):
        text = text[1:]
    text = unfold(text)
    hiding = _VTIMEZONE.search(text) is not None
    if hiding:
        if _HIDDEN_LINE.search(text):
            raise ValueError(f"{_HIDDEN} is a reserved property name")
        text = _TZID_LINE.sub(_HIDDEN, text)
    # a bare component too, as icalendar's from_ical gives it (writes check for a VCALENDAR)
    calendar = cast(icalendar.Calendar, _parse(text))
    if hiding:
        _bind_zones(calendar, budget)
    return calendar


class _Line(Contentline):
    """A content line whose plain shapes are split without icalendar's character loop."""

    __slots__ = ()

    def parts(self) -> tuple[str, Parameters, str]:
        """Name, parameters and unescaped value, as ``Contentline.parts`` gives them."""
        plain = _PLAIN_LINE.fullmatch(self)
        if plain is None:
            return super().parts()
        name, parameters, value = plain.groups()
        found = Parameters(_PLAIN_PARAMETER.findall(parameters)) if parameters else Parameters()
        return name, found, unescape_backslash(value)


class _CalendarClasses:
    """The component classes ``icalendar.Calendar`` reads into: the same lookup, so a class a
    plugin registered with icalendar (``Calendar.register``) is made here too."""

    get_component_class = staticmethod(icalendar.Calendar.get_component_class)


def _parse(text: str) -> icalendar.Component:
    """The one component ``text`` holds, as ``icalendar.Calendar.from_ical`` reads it."""
    # icalendar's own reading unfolds once more before it splits the lines
    lines: list[Contentline] = [
        _Line(line) for line in _NEWLINE.split(unfold(text)) if line  # type: ignore[no-untyped-call]  # unannotated upstream
    ]
    classes = cast(ComponentFactory, _CalendarClasses)  # the parser asks only get_component_class
    components = CalendarIcalParser(lines, classes, icalendar.Calendar.types_factory).parse()
    if len(components) != 1:
        found = "no component" if not components else f"{len(components)} components"
        raise ValueError(f"Found {found} where exactly one is required")
    component: icalendar.Component = components[0]
    return component


def timezone_of(component: icalendar.Timezone, budget: Budget | None = None) -> dt.tzinfo | None:
    """The zone a VTIMEZONE stands for: the IANA zone of its TZID, else its own definition
    (None without a TZID)."""
    tzid = _tzid(component)
    if not tzid:
        return None
    return zoneinfo.ZoneInfo(tzid) if is_iana(tzid) else zones.resolve(tzid, component, budget)


def _tzid(component: icalendar.Component) -> str:
    return str(component.get("TZID", "")).strip().strip('"')


def _bind_zones(calendar: icalendar.Calendar, budget: Budget | None) -> None:
    """Give TZID properties back, resolve custom zones, bind the date-times that name them."""
    custom: dict[str, dt.tzinfo] = {}
    stack: list[icalendar.Component] = [calendar]
    while stack:
        component = stack.pop()
        stack.extend(component.subcomponents)
        if _HIDDEN in component:
            component["TZID"] = component.pop(_HIDDEN)
            tzid = _tzid(component)
            if isinstance(component, icalendar.Timezone) and tzid and not is_iana(tzid) and tzid not in custom:
                custom[tzid] = zones.resolve(tzid, component, budget)
    if custom:
        _bind(calendar, custom)


def _bind(calendar: icalendar.Calendar, custom: dict[str, dt.tzinfo]) -> None:
    stack: list[icalendar.Component] = [calendar]
    while stack:
        component = stack.pop()
        if component.name == "VTIMEZONE":
            continue
        stack.extend(component.subcomponents)
        for name in _ZONED:
            for value in _values(component.get(name)):
                zone = custom.get(str(value.params.get("TZID", "")))
                if zone is not None:
                    for item in getattr(value, "dts", [value]):
                        item.dt = in_zone(item.dt, zone)


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def in_zone(value: Any, zone: dt.tzinfo) -> Any:
    """A parsed date, date-time or period read in ``zone`` (dates as their midnight, as
    icalendar reads a date with a TZID it knows)."""
    if isinstance(value, tuple):
        return tuple(in_zone(v, zone) if isinstance(v, dt.date) else v for v in value)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=zone)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=zone)
    return value

"""The ingest pipeline: documented repairs of calendar data before it is validated and stored.

Clients and feeds send data that strict RFC 5545 refuses but whose meaning is
plain (a DTEND;VALUE=DATE after a DTSTART date-time, a Windows zone name, a
floating time in a feed with X-WR-TIMEZONE). Every write to a calendar
collection, from any front end, passes :func:`repair` in the write pipeline
(``kernel.writes``) before ``kernel.ical`` validates it. Each repair is a small
named rule (:class:`Repair`) in the ordered :data:`REPAIRS`, with a one-line
description that docs/caldav.md ("What teamcal repairs") repeats. Text rules
change the bytes before they are parsed; calendar rules change the parsed
calendar and say whether they did.

When only the line endings changed (a repair that ``keeps_form``), the stored
bytes are the body with CRLF; when any other rule applied, they are the repaired
calendar as icalendar writes it. What no rule can interpret is left for ``kernel.ical`` to refuse. The work
is linear in the size of the data; time zones generated for the data are spent
from the request's budget (``kernel.timezones`` in this package).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import icalendar

from kernel.budget import Budget
from kernel.icaltext import read_calendar
from kernel.ingest import properties, text, times, timezones
from kernel.ingest.rules import Draft, Repair, calendar_repair, text_repair
from kernel.types import Rejected

log = logging.getLogger("teamcal.ingest")

#: The repairs in the order they run.
REPAIRS: tuple[Repair, ...] = (
    text.line_endings,
    text.folds_inside_characters,
    text.mis_folded_lines,
    properties.version_prodid,
    properties.method_publish,
    timezones.windows_zone_names,
    timezones.x_wr_timezone_repair,
    times.value_types,
    times.end_before_start,
    times.todo_start_from_due,
    properties.dtstamp,
    timezones.missing_vtimezones,
)


@dataclass
class Ingested:
    """What :func:`repair` made of a body.

    ``data``: the bytes to validate and store. ``calendar``: ``data`` already
    parsed, or None when it must be read again (after calendar repairs, or when
    it could not be read: validation then says why). ``repairs``: the names of
    the repairs applied.
    """

    data: bytes
    calendar: icalendar.Calendar | None
    repairs: list[str] = field(default_factory=list)


def repair(data: bytes, budget: Budget | None = None, repairs: tuple[Repair, ...] = REPAIRS) -> Ingested:
    """Apply ``repairs`` in order to one calendar object (or feed) body.

    Never raises for bad data: what cannot be read is returned unparsed, for
    validation to refuse with a sentence saying why. ``OverBudget`` passes
    through (a request that may not afford the repair).
    """
    budget = budget or Budget()
    applied: list[str] = []
    changed = False
    for rule in repairs:
        if rule.stage == "text":
            fixed = rule.apply(data)
            if fixed != data:
                applied.append(rule.name)
                changed |= not rule.keeps_form
                data = fixed
    try:
        # object: from_ical returns whatever component the text holds (a bare VEVENT too)
        calendar: object = read_calendar(data, budget)
    except Exception:  # noqa: BLE001 - validation reads it again and says why
        return Ingested(data, None, applied)
    if not isinstance(calendar, icalendar.Calendar):
        return Ingested(data, None, applied)
    draft = Draft(calendar, budget)
    text_repairs = list(applied)
    for rule in repairs:
        if rule.stage != "calendar":
            continue
        try:
            if rule.apply(draft):
                applied.append(rule.name)
                changed = True
        except Rejected:
            raise
        except Exception as exc:  # noqa: BLE001 - data no rule foresaw: validation judges it as sent
            log.debug("repair %s failed (%s: %s); the data is validated unrepaired", rule.name,
                      type(exc).__name__, exc)
            return Ingested(data, None, text_repairs)
    if not changed:
        return Ingested(data, calendar, applied)
    return Ingested(draft.calendar.to_ical(), None, applied)


def line_breaks(data: bytes) -> bytes:
    """``data`` with the line-endings repair alone: what the pipeline stores for a body whose
    only fault is its line breaks. For comparing bytes from elsewhere (a remote server whose
    XML answer turned CRLF into LF) with stored ones, without parsing them."""
    fixed: bytes = text.line_endings.apply(data)
    return fixed


__all__ = ["REPAIRS", "Draft", "Ingested", "Repair", "calendar_repair", "line_breaks", "repair", "text_repair"]

"""Repairs of the calendar's own properties: VERSION, PRODID and DTSTAMP left out, METHOD:PUBLISH."""

from __future__ import annotations

import datetime as dt

from kernel.ingest.rules import Draft, calendar_repair

#: What PRODID says when the writer gave none (RFC 5545 3.7.3: the product that made the data).
PRODID = "-//teamcal//repaired calendar data//EN"
#: Components that need a DTSTAMP (RFC 5545 3.6, RFC 7953 3.1).
_STAMPED = ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VAVAILABILITY", "AVAILABLE")


@calendar_repair(
    "version-prodid",
    f"A VCALENDAR without VERSION gets VERSION:2.0; without PRODID, PRODID:{PRODID}.",
)
def version_prodid(draft: Draft) -> bool:
    """Add the VCALENDAR's required VERSION and PRODID."""
    calendar = draft.calendar
    changed = False
    if "VERSION" not in calendar:
        calendar.add("VERSION", "2.0")
        changed = True
    if "PRODID" not in calendar:
        calendar.add("PRODID", PRODID)
        changed = True
    return changed


@calendar_repair(
    "method-publish",
    "METHOD:PUBLISH (exports of Outlook and Google) is removed: a stored object is no iTIP message"
    " (RFC 4791 4.1); other METHODs are still refused.",
)
def method_publish(draft: Draft) -> bool:
    """Drop the METHOD of a published calendar."""
    method = draft.calendar.get("METHOD")
    if method is None or isinstance(method, list) or str(method).strip().upper() != "PUBLISH":
        return False
    del draft.calendar["METHOD"]
    return True


@calendar_repair("dtstamp", "A component without DTSTAMP gets one: the time it was stored, in UTC.")
def dtstamp(draft: Draft) -> bool:
    """Stamp components that need a DTSTAMP and have none."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    changed = False
    for component in draft.calendar.walk():
        if component.name in _STAMPED and "DTSTAMP" not in component:
            component.add("DTSTAMP", now)
            changed = True
    return changed

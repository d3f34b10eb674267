"""What the calendar view shows of a single event, read from its stored text without parsing it.

Parsing an object with icalendar is most of what the view's first look at a range costs
(about 0.3 ms an event). For an event that does not recur, the instance index already
holds its start and end (``host.store.instances_in_ranges``); the view needs besides only
its title, its location and whether it lasts whole days. Those are three lines of the
text: this module finds them with icalendar's own content-line splitter (so values are
unescaped as a parse would), among the lines of the object's one VEVENT, not its alarms'.
Stored objects have CRLF line ends and folded lines (``kernel.ingest``); anything else
(several events, no VEVENT, a line icalendar cannot split) is left to the parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from icalendar.parser import Contentline


@dataclass(frozen=True)
class EventText:
    """The title and location of an event, and whether its DTSTART is a DATE."""

    title: str
    location: str
    all_day: bool


#: The lines looked at: those opening and closing components, and the properties read.
_LINES = re.compile(r"^(BEGIN|END|SUMMARY|LOCATION|DTSTART)([;:][^\r\n]*)\r?$", re.MULTILINE | re.IGNORECASE)


def event_text(data: bytes) -> EventText | None:
    """The title, location and DTSTART's value type of the one VEVENT of a stored object, or
    None when the object is not one VEVENT (with alarms, time zones) or a line of it
    cannot be read."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    found: dict[str, Contentline] = {}
    depth: list[str] = []
    events = 0
    for match in _LINES.finditer(text.replace("\r\n ", "").replace("\r\n\t", "")):
        name, rest = match.group(1).upper(), match.group(2)
        if name in ("BEGIN", "END"):
            component = rest[1:].strip().upper()
            if name == "BEGIN":
                depth.append(component)
                events += component == "VEVENT"
            elif not depth or depth.pop() != component:
                return None
        elif depth == ["VCALENDAR", "VEVENT"] and name not in found:
            found[name] = Contentline(match.group(1) + rest)
    if events != 1 or depth or "DTSTART" not in found:
        return None
    try:
        parts = {name: line.parts() for name, line in found.items()}
    except ValueError:
        return None
    _, params, start = parts["DTSTART"]
    all_day = str(params.get("VALUE", "")).upper() == "DATE" or (len(start) == 8 and start.isdigit())
    return EventText(str(parts.get("SUMMARY", ("", {}, ""))[2]), str(parts.get("LOCATION", ("", {}, ""))[2]), all_day)

"""Reading iCalendar text safely in a server that parses many users' objects in one process.

icalendar remembers a custom VTIMEZONE (a TZID that is not an IANA name) in a
process-wide cache under its TZID, so a second object defining "Office Time"
differently would silently get the first one's offsets. :func:`read_calendar`
renames each custom TZID to one that includes a digest of its definition, so
equal definitions share a cache entry and different ones never collide. The
stored bytes are never changed: this is only how they are parsed.
"""

from __future__ import annotations

import functools
import hashlib
import re
import zoneinfo

import icalendar

_BOM = "\ufeff"
_VTIMEZONE = re.compile(r"BEGIN:VTIMEZONE\r?\n(.*?)END:VTIMEZONE", re.S)
_TZID_LINE = re.compile(r"^TZID(?:;[^:\r\n]*)?:(.*?)\r?$", re.M)


@functools.lru_cache(maxsize=1024)
def _is_iana(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except Exception:  # noqa: BLE001 - any failure means "not a zone the provider knows"
        return False
    return True


def _content_addressed(text: str) -> str:
    renames: dict[str, str] = {}
    for block in _VTIMEZONE.finditer(text):
        found = _TZID_LINE.search(block.group(1))
        if not found:
            continue
        name = found.group(1).strip().strip('"')
        if name and not _is_iana(name):
            digest = hashlib.sha256(block.group(1).encode()).hexdigest()[:12]
            renames[name] = f"{name} #{digest}"
    for name, new in renames.items():
        quoted = re.escape(name)
        text = re.sub(rf"(^TZID(?:;[^:\r\n]*)?:)\"?{quoted}\"?(\r?$)", rf"\g<1>{_escape(new)}\2", text, flags=re.M)
        text = re.sub(rf"(;TZID=)\"?{quoted}\"?(?=[:;])", rf"\g<1>{_escape(new)}", text)
    return text


def _escape(replacement: str) -> str:
    return replacement.replace("\\", "\\\\")


def read_calendar(data: bytes | str) -> icalendar.Calendar:
    """Parse iCalendar text into an ``icalendar.Calendar``, isolating custom time zones.

    Raises what icalendar raises on bad input (ValueError and friends).
    """
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
    if text.startswith(_BOM):
        text = text[1:]
    if "BEGIN:VTIMEZONE" in text:
        text = _content_addressed(text)
    return icalendar.Calendar.from_ical(text)

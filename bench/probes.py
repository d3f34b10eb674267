"""Measurements of this package's own, beside caldav_bench's.

The fixed-answer week: caldav_bench's calendar grows denser with N, so its
week query returns 100 times more at 100,000 events than at 1,000. To show
that a query's cost follows the size of its answer, not of the calendar, 20
events (16 single, 4 weekly series) are added in a week of 2027, after the
benchmark's data, and that week is queried with calendar-data: every size
then answers the same 20 objects, which are checked one by one.
"""

from __future__ import annotations

import base64
import http.client
import statistics
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.servers import Server

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
WEEK_START = "20270301T120700Z"
WEEK_END = "20270308T120700Z"
PROBE_EVENTS = 20


@dataclass(frozen=True)
class ProbeEvent:
    """One event of the fixed week."""

    name: str
    uid: str
    body: str


def probe_events() -> list[ProbeEvent]:
    """16 single events inside the week and 4 weekly series with one instance in it."""
    found = []
    for i in range(PROBE_EVENTS):
        uid = f"probe-{i:02d}@bench.teamcal.invalid"
        if i < 16:
            day = 1 + i % 7
            times = f"DTSTART:202703{day:02d}T{13 + i // 7:02d}0000Z\r\nDTEND:202703{day:02d}T{14 + i // 7:02d}0000Z\r\n"
        else:
            day = 1 + (i - 16)  # series from February, the fifth instance falls in the week
            times = (
                f"DTSTART:202702{day:02d}T150000Z\r\nDTEND:202702{day:02d}T160000Z\r\n"
                "RRULE:FREQ=WEEKLY;COUNT=8\r\n"
            )
        body = (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//teamcal//bench probe//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{times}SUMMARY:probe {i}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        found.append(ProbeEvent(f"probe-{i:02d}.ics", uid, body))
    return found


QUERY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
    '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
    f'<C:time-range start="{WEEK_START}" end="{WEEK_END}"/>'
    "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
)


class _Client:
    """One persistent connection with the server's credentials."""

    def __init__(self, server: Server) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        self.headers: dict[str, str] = {}
        if server.credentials:
            token = base64.b64encode(":".join(server.credentials).encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"

    def send(self, method: str, path: str, body: str, headers: dict[str, str]) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        self.conn.request(method, path, body=body.encode(), headers={**self.headers, **headers})
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - started

    def close(self) -> None:
        self.conn.close()


def fixed_week(server: Server, repeat: int, max_seconds: float = 60.0) -> dict[str, Any]:
    """PUT the 20 probe events, time ``repeat`` week queries (for ``max_seconds`` at most),
    check each answer; a result row."""
    events = probe_events()
    path = server.calendar_path()
    client = _Client(server)
    errors = mismatches = 0
    samples: list[str] = []
    timings: list[float] = []
    try:
        for event in events:
            status, _, _ = client.send("PUT", path + event.name, event.body, {"Content-Type": "text/calendar"})
            if status not in (200, 201, 204):
                errors += 1
                samples.append(f"PUT {event.name}: {status}")
        deadline = time.monotonic() + max_seconds
        for _ in range(repeat):
            if time.monotonic() > deadline:
                break
            status, data, elapsed = client.send("REPORT", path, QUERY, {"Depth": "1", "Content-Type": "application/xml"})
            if status != 207:
                errors += 1
                samples.append(f"REPORT: {status}")
                continue
            timings.append(elapsed)
            problem = _check(data, events)
            if problem:
                mismatches += 1
                if len(samples) < 5:
                    samples.append(problem)
    finally:
        client.close()
    return {
        "n": len(timings),
        "median_ms": round(statistics.median(timings) * 1000, 3) if timings else None,
        "p95_ms": round(sorted(timings)[int(0.95 * (len(timings) - 1))] * 1000, 3) if timings else None,
        "errors": errors,
        "mismatches": mismatches,
        "samples": samples,
    }


def _check(data: bytes, events: list[ProbeEvent]) -> str | None:
    """None when the answer holds exactly the probe events, each with its own calendar data."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return f"unparseable answer: {exc}"
    got: dict[str, str] = {}
    for response in root.iter(DAV + "response"):
        href = (response.findtext(DAV + "href") or "").rstrip("/").rsplit("/", 1)[-1]
        got[href] = "".join(response.itertext())
    wanted = {e.name: e.uid for e in events}
    if set(got) != set(wanted):
        return f"answered {len(got)} objects, expected the {len(wanted)} probe events"
    wrong = [name for name, uid in wanted.items() if f"UID:{uid}" not in got[name]]
    return f"calendar data wrong for {wrong[:3]}" if wrong else None

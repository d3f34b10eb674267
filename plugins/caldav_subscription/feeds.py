"""ICS feeds: fetch conditionally, repair the whole feed, split into one object per UID.

The feed goes through the kernel's ingest pipeline (``kernel.ingest``) before it
is split, the same repairs every write gets: line breaks, mis-folded lines, its
X-WR-TIMEZONE (which only the feed as a whole carries), Windows zone names,
VTIMEZONEs for the IANA zones it names. Each object is repaired again on its
write, where these are no-ops.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import icalendar

from kernel import ingest
from kernel.budget import Budget, OverBudget
from kernel.icaltext import read_calendar
from kernel.zones import ZoneRefused
from plugins.caldav_subscription.remote_http import RemoteClient, RemoteError

if TYPE_CHECKING:
    from kernel.host import Host

COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._-]{0,190}$")


class FeedError(Exception):
    """The feed's body is not an iCalendar document."""


@dataclass
class FeedObject:
    """One calendar object resource cut out of a feed."""

    uid: str
    name: str
    data: bytes

    @property
    def etag(self) -> str:
        """A fingerprint of the content: the feed has no per-object ETags."""
        return hashlib.sha256(self.data).hexdigest()[:32]


@dataclass
class Feed:
    """A fetched feed: ``not_modified`` when the remote answered 304."""

    not_modified: bool
    objects: list[FeedObject] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None


async def fetch_feed(
    host: Host, client: RemoteClient, url: str, etag: str | None, last_modified: str | None
) -> Feed:
    """GET the feed with If-None-Match / If-Modified-Since, and split it in a worker thread
    (its time zones resolved within one ``host.budget()``)."""
    headers = {"Accept": "text/calendar, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    reply = await client.request("GET", url, headers=headers)
    if reply.status == 304:
        return Feed(not_modified=True, etag=etag, last_modified=last_modified)
    if reply.status != 200:
        raise RemoteError(f"GET {url}: status {reply.status}")
    objects, skipped = await host.run(split_feed, reply.body, host.budget())
    return Feed(False, objects, skipped, reply.headers.get("etag"), reply.headers.get("last-modified"))


def object_name(uid: str) -> str:
    """The local resource name for a UID: the UID itself when it is a safe name, else a hash."""
    if _SAFE_NAME.match(uid):
        return uid + ".ics"
    return hashlib.sha256(uid.encode("utf-8")).hexdigest()[:32] + ".ics"


def split_feed(body: bytes, budget: Budget) -> tuple[list[FeedObject], list[tuple[str, str]]]:
    """Parse a feed and cut it into one VCALENDAR per UID, each with the VTIMEZONEs it uses.

    Returns (objects, skipped (what, why)). Raises :class:`FeedError` when the
    body is not iCalendar at all, or when one of its time zones is refused
    (``kernel.zones``) or costs more than ``budget`` allows to resolve.
    """
    try:
        repaired = ingest.repair(body, budget)
        calendar = repaired.calendar or read_calendar(repaired.data, budget)
    except (ZoneRefused, OverBudget) as exc:
        raise FeedError(f"the feed is refused: {exc}"[:500]) from None
    except Exception as exc:  # noqa: BLE001 - whatever a remote sends, this must not raise
        raise FeedError(f"the feed is not iCalendar data ({type(exc).__name__}: {exc})"[:300]) from None
    if not isinstance(calendar, icalendar.Calendar) or calendar.name != "VCALENDAR":
        raise FeedError("the feed is not a VCALENDAR")
    zone = calendar.get("X-WR-TIMEZONE")  # left when it could not be applied to the whole feed
    timezones = {str(tz.get("TZID")): tz for tz in calendar.walk("VTIMEZONE") if tz.get("TZID")}
    groups: dict[str, list[icalendar.cal.Component]] = {}
    skipped: list[tuple[str, str]] = []
    for component in calendar.subcomponents:
        if component.name not in COMPONENTS:
            continue
        uid = str(component.get("UID", "")).strip()
        if not uid:
            summary = str(component.get("SUMMARY", ""))[:60]
            skipped.append((f"{component.name} {summary!r}", "has no UID"))
            continue
        groups.setdefault(uid, []).append(component)
    objects = []
    for uid, components in groups.items():
        out = icalendar.Calendar()
        out.add("VERSION", "2.0")
        out.add("PRODID", str(calendar.get("PRODID", "-//teamcal//caldav_subscription//EN")))
        if zone is not None and not isinstance(zone, list):
            out.add("X-WR-TIMEZONE", str(zone))
        body_parts = b"".join(c.to_ical() for c in components)
        for tzid, tz in timezones.items():
            if f"TZID={tzid}".encode() in body_parts or f'TZID="{tzid}"'.encode() in body_parts:
                out.add_component(tz)
        for c in components:
            out.add_component(c)
        objects.append(FeedObject(uid, object_name(uid), out.to_ical()))
    return objects, skipped

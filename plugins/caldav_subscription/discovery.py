"""Finding the calendars behind a server URL (RFC 6764 well-known, RFC 5397, RFC 4791 6.2.1).

server URL -> /.well-known/caldav -> DAV:current-user-principal ->
CALDAV:calendar-home-set -> the calendar collections in each home.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import httpx

from kernel.netguard import Refused
from plugins.caldav_subscription import davxml
from plugins.caldav_subscription.caldav_remote import PROBE_PROPS, collection_info
from plugins.caldav_subscription.davxml import CALDAV, DAV, XMLError, clark
from plugins.caldav_subscription.remote_http import RemoteClient, RemoteError

_ENTRY_PROPS = [
    (DAV, "current-user-principal"),
    (DAV, "resourcetype"),
    (CALDAV, "calendar-home-set"),
]


class DiscoveryError(Exception):
    """No calendars could be found from the given URL."""


@dataclass(frozen=True)
class FoundCalendar:
    """A calendar found on a remote, as offered to the user."""

    url: str
    display_name: str | None
    color: str | None
    components: tuple[str, ...]
    read_only: bool

    def public(self) -> dict[str, Any]:
        """As JSON."""
        return asdict(self)


async def discover(client: RemoteClient, url: str) -> list[FoundCalendar]:
    """The calendars reachable from ``url`` (a server, a principal, a home or a calendar URL)."""
    start = httpx.URL(url)
    candidates = [start]
    if start.path in ("", "/"):
        candidates.insert(0, start.join("/.well-known/caldav"))
    errors: list[str] = []
    for candidate in candidates:
        try:
            found = await _from_entry(client, candidate)
        except (RemoteError, XMLError) as exc:
            errors.append(str(exc))
            continue
        if found is not None:
            return found
    raise DiscoveryError("; ".join(errors) or f"no CalDAV calendars found at {url}")


async def _propfind(client: RemoteClient, url: httpx.URL, depth: str, props: list[tuple[str, str]]) -> tuple[httpx.URL, davxml.Multistatus]:
    reply = await client.request(
        "PROPFIND",
        url,
        headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
        body=davxml.propfind(props),
    )
    if reply.status == 401:
        raise RemoteError(f"PROPFIND {url}: the remote refused the credentials (401)")
    if reply.status != 207:
        raise RemoteError(f"PROPFIND {url}: status {reply.status} (not a CalDAV server?)")
    return reply.url, davxml.parse_multistatus(reply.body)


async def _from_entry(client: RemoteClient, url: httpx.URL) -> list[FoundCalendar] | None:
    answered, ms = await _propfind(client, url, "0", _ENTRY_PROPS)
    if not ms.responses:
        return None
    entry = ms.responses[0]
    if clark(CALDAV, "calendar") in entry.children(clark(DAV, "resourcetype")):
        return [_calendar(entry, answered)]
    homes = entry.hrefs(clark(CALDAV, "calendar-home-set"))
    if not homes:
        principals = entry.hrefs(clark(DAV, "current-user-principal"))
        if principals:
            principal = _trusted(client, answered, principals[0])
            _, pms = await _propfind(client, principal, "0", [(CALDAV, "calendar-home-set")])
            homes = pms.responses[0].hrefs(clark(CALDAV, "calendar-home-set")) if pms.responses else []
    if not homes:
        # Perhaps the URL is itself a calendar home: look at its children.
        homes = [str(answered)]
    calendars: list[FoundCalendar] = []
    for home in homes:
        home_url = _trusted(client, answered, home)
        base, hms = await _propfind(client, home_url, "1", PROBE_PROPS)
        for r in hms.responses:
            if clark(CALDAV, "calendar") in r.children(clark(DAV, "resourcetype")):
                calendars.append(_calendar(r, base))
    return calendars or None


def _trusted(client: RemoteClient, base: httpx.URL, href: str) -> httpx.URL:
    """Resolve an href the remote gave; the authenticated remote named it, so credentials may follow."""
    url = base.join(href)
    try:
        client.trust(url)
    except Refused as exc:
        raise RemoteError(f"the remote pointed to an unusable URL: {exc}") from None
    return url


def _calendar(r: davxml.DavResponse, base: httpx.URL) -> FoundCalendar:
    info = collection_info(r, base.join(r.href))
    return FoundCalendar(info.url, info.display_name, info.color, info.components, info.read_only)

"""The CalDAV requests a subscription makes against one remote calendar collection.

Remote objects are named by their decoded path ("/alice/calendar/x.ics");
requests percent-encode it again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx

from plugins.caldav_subscription import davxml
from plugins.caldav_subscription.davxml import CALDAV, CS, DAV, ICAL, XMLError, clark
from plugins.caldav_subscription.remote_http import RemoteClient, RemoteError

#: Hrefs per calendar-multiget request.
MULTIGET_BATCH = 200
#: sync-collection rounds followed when a server truncates its answer (RFC 6578 3.6).
MAX_SYNC_ROUNDS = 1000

_WRITE_PRIVILEGES = {clark(DAV, "write"), clark(DAV, "all"), clark(DAV, "write-content")}

PROBE_PROPS = [
    (DAV, "resourcetype"),
    (DAV, "displayname"),
    (DAV, "sync-token"),
    (DAV, "supported-report-set"),
    (DAV, "current-user-privilege-set"),
    (CS, "getctag"),
    (ICAL, "calendar-color"),
    (CALDAV, "supported-calendar-component-set"),
]


class SyncTokenInvalid(Exception):
    """The remote no longer accepts our sync token (DAV:valid-sync-token): list everything again."""


class Unsupported(Exception):
    """The remote does not offer a REPORT we asked for."""


@dataclass(frozen=True)
class CollectionInfo:
    """What a PROPFIND tells about a remote collection."""

    url: str
    is_calendar: bool
    display_name: str | None
    color: str | None
    ctag: str | None
    supports_sync: bool
    supports_multiget: bool
    components: tuple[str, ...]
    read_only: bool


def collection_info(r: davxml.DavResponse, url: httpx.URL) -> CollectionInfo:
    """Read a collection's PROPFIND response (props as in :data:`PROBE_PROPS`)."""
    reports = r.children(clark(DAV, "supported-report-set"))
    privileges = set(r.children(clark(DAV, "current-user-privilege-set")))
    return CollectionInfo(
        url=str(url),
        is_calendar=clark(CALDAV, "calendar") in r.children(clark(DAV, "resourcetype")),
        display_name=r.text(clark(DAV, "displayname")),
        color=r.text(clark(ICAL, "calendar-color")),
        ctag=r.text(clark(CS, "getctag")),
        supports_sync=clark(DAV, "sync-collection") in reports,
        # RFC 4791 makes calendar-multiget mandatory: assume it unless the remote lists its reports without it.
        supports_multiget=clark(DAV, "supported-report-set") not in r.props
        or clark(CALDAV, "calendar-multiget") in reports,
        components=tuple(
            el.get("name", "")
            for el in r.props.get(clark(CALDAV, "supported-calendar-component-set"), [])
            if el.get("name")
        ),
        read_only=bool(privileges) and not (_WRITE_PRIVILEGES & privileges),
    )


@dataclass
class Listing:
    """Remote members that changed (path -> ETag) and that went away, plus the new sync token."""

    changed: dict[str, str | None] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    token: str | None = None


class CalDAVRemote:
    """One remote calendar collection reached through a :class:`RemoteClient`."""

    def __init__(
        self, client: RemoteClient, url: str, heartbeat: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.client = client
        self.heartbeat = heartbeat
        self.url = httpx.URL(url if url.endswith("/") else url + "/")
        self.path = self.url.path

    def member_url(self, path: str) -> httpx.URL:
        """The URL of a member named by its decoded path."""
        return self.url.join(quote(path))

    def member_path(self, name: str) -> str:
        """The decoded path a new member called ``name`` gets."""
        return self.path + name

    def _is_member(self, path: str) -> bool:
        return path.startswith(self.path) and len(path) > len(self.path) and "/" not in path[len(self.path):]

    async def probe(self) -> CollectionInfo:
        """PROPFIND Depth 0 on the collection: is it a calendar, how can it be synced."""
        reply = await self.client.request(
            "PROPFIND", self.url, headers=_xml_headers("0"), body=davxml.propfind(PROBE_PROPS)
        )
        _expect(reply.status, (207,), "PROPFIND", self.url)
        ms = davxml.parse_multistatus(reply.body)
        if reply.url != self.url:
            self.url = reply.url if str(reply.url).endswith("/") else httpx.URL(str(reply.url) + "/")
            self.path = self.url.path
        own = next(
            (r for r in ms.responses if davxml.href_path(r.href, reply.url).rstrip("/") == self.path.rstrip("/")),
            None,
        )
        if own is None:
            own = ms.responses[0] if ms.responses else davxml.DavResponse(str(self.url), None)
        return collection_info(own, self.url)

    async def sync_collection(self, token: str | None) -> Listing:
        """RFC 6578 sync-collection from ``token`` (None: everything), following truncation."""
        listing = Listing()
        for _ in range(MAX_SYNC_ROUNDS):
            reply = await self.client.request(
                "REPORT",
                self.url,
                headers=_xml_headers("0"),
                body=davxml.sync_collection(token, [(DAV, "getetag")]),
            )
            if reply.status in (403, 409) and clark(DAV, "valid-sync-token") in davxml.error_elements(reply.body):
                raise SyncTokenInvalid()
            if reply.status in (400, 403, 404, 405, 406, 415, 422, 501):
                raise Unsupported(f"REPORT sync-collection answered {reply.status}")
            _expect(reply.status, (207,), "REPORT sync-collection", self.url)
            ms = davxml.parse_multistatus(reply.body)
            truncated = False
            for r in ms.responses:
                path = davxml.href_path(r.href, reply.url)
                if path.rstrip("/") == self.path.rstrip("/"):
                    truncated = truncated or r.status == 507
                    continue
                if not self._is_member(path):
                    continue
                if r.status == 404:
                    listing.deleted.add(path)
                    listing.changed.pop(path, None)
                else:
                    listing.changed[path] = r.text(clark(DAV, "getetag"))
                    listing.deleted.discard(path)
            if ms.sync_token is None:
                raise XMLError("the sync-collection answer has no DAV:sync-token")
            listing.token = token = ms.sync_token
            if not truncated:
                return listing
            if self.heartbeat is not None:
                await self.heartbeat()
        raise RemoteError(f"sync-collection was still truncated after {MAX_SYNC_ROUNDS} rounds")

    async def list_etags(self) -> dict[str, str | None]:
        """PROPFIND Depth 1: every member's ETag (members without one map to None)."""
        reply = await self.client.request(
            "PROPFIND",
            self.url,
            headers=_xml_headers("1"),
            body=davxml.propfind([(DAV, "getetag"), (DAV, "resourcetype")]),
        )
        _expect(reply.status, (207,), "PROPFIND", self.url)
        found: dict[str, str | None] = {}
        for r in davxml.parse_multistatus(reply.body).responses:
            path = davxml.href_path(r.href, reply.url)
            if self._is_member(path) and clark(DAV, "collection") not in r.children(clark(DAV, "resourcetype")):
                found[path] = r.text(clark(DAV, "getetag"))
        return found

    async def multiget(self, paths: list[str]) -> tuple[dict[str, tuple[str | None, bytes]], set[str]]:
        """One calendar-multiget: (path -> (ETag, data), paths the remote no longer has).

        Callers send at most :data:`MULTIGET_BATCH` paths per call.
        """
        # RFC 4791 7.9: the Depth header does not apply to calendar-multiget.
        reply = await self.client.request(
            "REPORT",
            self.url,
            headers={"Content-Type": "application/xml; charset=utf-8"},
            body=davxml.calendar_multiget([quote(p) for p in paths]),
        )
        if reply.status in (400, 403, 405, 415, 501):
            raise Unsupported(f"REPORT calendar-multiget answered {reply.status}")
        _expect(reply.status, (207,), "REPORT calendar-multiget", self.url)
        wanted = set(paths)
        found: dict[str, tuple[str | None, bytes]] = {}
        for r in davxml.parse_multistatus(reply.body).responses:
            path = davxml.href_path(r.href, reply.url)
            data = r.props.get(clark(CALDAV, "calendar-data"))
            if path in wanted and r.status != 404 and data is not None:
                found[path] = (r.text(clark(DAV, "getetag")), (data.text or "").encode("utf-8"))
        return found, wanted - set(found)

    async def get(self, path: str) -> tuple[str | None, bytes] | None:
        """GET one member: (ETag, data), or None when it is gone."""
        reply = await self.client.request("GET", self.member_url(path))
        if reply.status in (404, 410):
            return None
        _expect(reply.status, (200,), "GET", self.member_url(path))
        return reply.headers.get("etag"), reply.body

    async def put(
        self, path: str, data: bytes, *, if_match: str | None = None, create: bool = False
    ) -> tuple[int, str | None]:
        """PUT a member conditionally; returns (status, new ETag when the remote sent one)."""
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if create:
            headers["If-None-Match"] = "*"
        elif if_match:
            headers["If-Match"] = if_match
        reply = await self.client.request("PUT", self.member_url(path), headers=headers, body=data)
        return reply.status, reply.headers.get("etag") if reply.status in (200, 201, 204) else None

    async def delete(self, path: str, *, if_match: str | None = None) -> int:
        """DELETE a member conditionally; returns the status."""
        headers = {"If-Match": if_match} if if_match else {}
        reply = await self.client.request("DELETE", self.member_url(path), headers=headers)
        return reply.status


def _xml_headers(depth: str) -> dict[str, str]:
    return {"Depth": depth, "Content-Type": "application/xml; charset=utf-8"}


def _expect(status: int, ok: tuple[int, ...], what: str, url: httpx.URL) -> None:
    if status in ok:
        return
    if status == 401:
        raise RemoteError(f"{what} {url}: the remote refused the credentials (401)")
    if status == 403:
        raise RemoteError(f"{what} {url}: access forbidden (403)")
    if status == 404:
        raise RemoteError(f"{what} {url}: no such collection (404)")
    raise RemoteError(f"{what} {url}: unexpected status {status}")

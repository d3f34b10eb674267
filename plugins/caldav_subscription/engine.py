"""The sync engine: bring one local calendar and its remote in line, once.

Pull: list what changed remotely (sync-collection, else ctag + PROPFIND
Depth 1 ETags, or a conditional GET for feeds), fetch it with
calendar-multiget, and write it locally through ``host.writes`` with
``source="subscription"``. Two-way: read the local changes since our cursor
in the change feed, resolve objects both sides changed by the conflict
policy, and push the rest with If-Match / If-None-Match.

Remote objects a local rule refuses (too large, invalid, a UID clash) are
skipped and reported; nothing a remote sends can fail the whole sync, and
an unreachable or garbled remote raises before anything local is touched
for that step. Store work and parsing run in worker threads (``host.run``);
the event loop only waits for the remote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable

from kernel.ingest import line_breaks
from kernel.types import Collection
from plugins.caldav_subscription.caldav_remote import (
    MULTIGET_BATCH,
    CalDAVRemote,
    Listing,
    SyncTokenInvalid,
    Unsupported,
)
from plugins.caldav_subscription.feeds import fetch_feed
from plugins.caldav_subscription.reconcile import (
    LOCAL_BATCH,
    Incoming,
    Push,
    Reconciler,
    Report,
)
from plugins.caldav_subscription.records import Item, Subscription
from plugins.caldav_subscription.remote_http import RemoteClient, RemoteError

if TYPE_CHECKING:
    from kernel.host import Host

Progress = Callable[[str, int, int], None]


class Engine(Reconciler):
    """One sync run of one subscription; :meth:`run` returns the :class:`Report`.

    ``state`` collects the subscription columns to save when the run succeeds
    (sync token, ctag, feed validators, local cursor).
    """

    def __init__(
        self,
        host: Host,
        sub: Subscription,
        collection: Collection,
        client: RemoteClient,
        policy: str,
        *,
        heartbeat: Callable[[], Awaitable[None]],
        progress: Progress | None = None,
    ) -> None:
        self.host = host
        self.store = host.store
        self.sub = sub
        self.collection = collection
        self.client = client
        self.policy = policy
        self.heartbeat = heartbeat
        self.progress = progress or (lambda stage, done, total: None)
        self.two_way = sub.mode == "two-way"
        self.report = Report()
        self.state: dict[str, Any] = {}
        self.size_limit = 0
        self.items: dict[str, Item] = {}
        self.by_name: dict[str, Item] = {}
        self._own: list[tuple[int, int]] = []
        self._local: dict[str, int] = {}
        self._read_seq = sub.local_seq
        self._pushes: list[Push] = []
        self._failed_seqs: list[int] = []
        self._multiget = True

    # -- entry point ------------------------------------------------------------

    async def run(self) -> Report:
        """Sync once; raises RemoteError / Refused / XMLError / FeedError when the remote fails."""
        await self.host.run(self._load_items)
        if self.sub.kind == "ics":
            await self._sync_feed()
        else:
            await self._sync_caldav()
        return self.report

    # -- CalDAV -------------------------------------------------------------------

    async def _sync_caldav(self) -> None:
        remote = CalDAVRemote(self.client, self.sub.url, self.heartbeat)
        if self.two_way:
            await self.host.run(self._read_local_changes)
        listing, full = await self._remote_listing(remote)
        changed = {
            path: etag
            for path, etag in listing.changed.items()
            if etag is None or path not in self.items or self.items[path].remote_etag != etag
        }
        deleted = {p for p in listing.deleted if p in self.items}
        if full:
            deleted |= set(self.items) - set(listing.changed)
        await self._apply_deletions(sorted(deleted))
        paths = sorted(changed)
        done = 0
        for i in range(0, len(paths), MULTIGET_BATCH):
            batch = paths[i : i + MULTIGET_BATCH]
            found: dict[str, tuple[str | None, bytes]] = {}
            gone: set[str] = set()
            if self._multiget:
                try:
                    found, gone = await remote.multiget(batch)
                except Unsupported:
                    self._multiget = False
            if not self._multiget:
                for path in batch:
                    got = await remote.get(path)
                    if got is None:
                        gone.add(path)
                    else:
                        found[path] = got
            incoming = [
                Incoming(path, self._name_for(path, path.rsplit("/", 1)[-1]), etag or changed[path], line_breaks(data))
                for path, (etag, data) in sorted(found.items())
            ]
            await self._apply_deletions(sorted(gone & set(self.items)))
            await self._apply_incoming(incoming)
            done += len(batch)
            self.progress("pulled", done, len(paths))
        if self.two_way:
            await self.host.run(self._plan_local_pushes, remote)
            await self._push(remote)
            self.state["local_seq"] = await self.host.run(self._next_cursor)

    async def _remote_listing(self, remote: CalDAVRemote) -> tuple[Listing, bool]:
        """What changed remotely; True when the listing is complete (absent members were deleted)."""
        sub = self.sub
        if sub.capability == "sync-collection" and sub.sync_token:
            try:
                listing = await remote.sync_collection(sub.sync_token)
            except (SyncTokenInvalid, Unsupported):
                pass
            else:
                self.state["sync_token"] = listing.token
                return listing, False
        info = await remote.probe()
        self._multiget = info.supports_multiget
        if not info.is_calendar:
            raise RemoteError(
                f"{sub.url} is not a calendar collection (find the calendars with `teamcal subscription discover`)"
            )
        if info.supports_sync:
            try:
                listing = await remote.sync_collection(None)
            except Unsupported:
                pass
            else:
                self.state.update(capability="sync-collection", sync_token=listing.token, ctag=info.ctag)
                return listing, True
        self.state.update(capability="ctag" if info.ctag else "etag", sync_token=None, ctag=info.ctag)
        if info.ctag and info.ctag == sub.ctag and sub.capability == "ctag":
            return Listing(), False
        return Listing(changed=await remote.list_etags()), True

    # -- feeds ------------------------------------------------------------------------

    async def _sync_feed(self) -> None:
        feed = await fetch_feed(
            self.host, self.client, self.sub.url, self.sub.feed_etag, self.sub.feed_modified
        )
        if feed.not_modified:
            return
        for what, why in feed.skipped:
            self.report.skip(what, why)
        seen = {"uid:" + obj.uid for obj in feed.objects}
        await self._apply_deletions(sorted(set(self.items) - seen))
        incoming = [
            Incoming("uid:" + obj.uid, self._name_for("uid:" + obj.uid, obj.name), obj.etag, obj.data)
            for obj in feed.objects
            if "uid:" + obj.uid not in self.items or self.items["uid:" + obj.uid].remote_etag != obj.etag
        ]
        for i in range(0, len(incoming), LOCAL_BATCH):
            await self._apply_incoming(incoming[i : i + LOCAL_BATCH])
            self.progress("pulled", min(i + LOCAL_BATCH, len(incoming)), len(incoming))
        self.state.update(feed_etag=feed.etag, feed_modified=feed.last_modified)

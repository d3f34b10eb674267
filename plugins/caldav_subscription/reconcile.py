"""The local half of a sync: compare, write locally, resolve conflicts, push, move the cursor.

:class:`Reconciler` is a mixin of :class:`plugins.caldav_subscription.engine.Engine`
(as the kernel's store is made of mixins). Every local write goes through
``host.writes`` with ``source="subscription"``, in transactions of
:data:`LOCAL_BATCH` objects whose change-feed rows are remembered as ours.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable, Iterator

from kernel.names import canonical_name, check_segment
from kernel.types import Collection, Rejected, Resource
from plugins.caldav_subscription import records
from plugins.caldav_subscription.caldav_remote import CalDAVRemote
from plugins.caldav_subscription.conflicts import winner
from plugins.caldav_subscription.records import Item, Subscription

if TYPE_CHECKING:
    from kernel.host import Host
    from kernel.store import Store

SOURCE = "subscription"
#: Local writes per transaction: small enough not to hold the write lock for long.
LOCAL_BATCH = 100
#: Skipped objects listed in the status.
MAX_REPORTED = 50


@dataclass
class Report:
    """What one sync did."""

    pulled: int = 0
    pushed: int = 0
    deleted: int = 0
    conflicts: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The counters, as stored in the status."""
        return {
            "pulled": self.pulled,
            "pushed": self.pushed,
            "deleted": self.deleted,
            "conflicts": self.conflicts,
            "skipped": len(self.skipped),
        }

    def skip(self, what: str, why: str) -> None:
        """Report one object left out."""
        self.skipped.append({"object": what, "reason": why})


@dataclass(frozen=True)
class Incoming:
    """A remote version to store: ``key`` is the remote path (or "uid:UID" for feeds)."""

    key: str
    name: str
    etag: str | None
    data: bytes


@dataclass(frozen=True)
class Push:
    """A local change to send: ``kind`` is create, update or delete."""

    kind: str
    name: str
    href: str
    if_match: str | None
    seq: int | None


class Reconciler:
    """Local-side state and steps of one sync run (see :class:`Engine` for the attributes)."""

    host: Host
    store: Store
    sub: Subscription
    collection: Collection
    policy: str
    two_way: bool
    report: Report
    size_limit: int
    heartbeat: Callable[[], Awaitable[None]]
    progress: Callable[[str, int, int], None]
    items: dict[str, Item]
    by_name: dict[str, Item]
    _own: list[tuple[int, int]]
    _local: dict[str, int]
    _read_seq: int
    _pushes: list[Push]
    _failed_seqs: list[int]

    def _load_items(self) -> None:
        """The tracked items and the size limit (in a worker thread)."""
        self.size_limit = self.host.object_size_limit(None, self.collection)
        self.items = records.items(self.store, self.sub.id)
        self.by_name = {item.name: item for item in self.items.values()}

    # -- names ----------------------------------------------------------------------------

    def _name_for(self, key: str, preferred: str) -> str:
        """The local name of a remote object: kept once chosen, else its own name when safe and free."""
        item = self.items.get(key)
        if item is not None:
            return item.name
        name = canonical_name(preferred)
        try:
            check_segment(name)
        except Rejected:
            name = ""
        holder = self.by_name.get(name)
        if not name or (holder is not None and holder.href != key):
            name = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + ".ics"
        return name

    # -- local side -------------------------------------------------------------------------

    def _read_local_changes(self) -> None:
        """Names changed locally since our cursor, with the first seq that touched each."""
        for change in self.store.changes_since(self.sub.local_seq, collection_id=self.collection.id):
            if change.name is not None:
                self._local.setdefault(change.name, change.seq)
            self._read_seq = change.seq

    def _local_state(self, item: Item | None, resource: Resource | None) -> str:
        """same, changed or deleted: the local object against what the last sync left."""
        if not self.two_way:
            return "same"
        if resource is None:
            return "deleted" if item is not None and item.local_etag is not None else "same"
        if item is None or resource.etag != item.local_etag:
            return "changed"
        return "same"

    async def _apply_deletions(self, keys: list[str]) -> None:
        for i in range(0, len(keys), LOCAL_BATCH):
            await self.host.run(self._delete_batch, keys[i : i + LOCAL_BATCH])
            await self.heartbeat()

    async def _apply_incoming(self, incoming: list[Incoming]) -> None:
        for i in range(0, len(incoming), LOCAL_BATCH):
            await self.host.run(self._change_batch, incoming[i : i + LOCAL_BATCH])
            await self.heartbeat()

    def _delete_batch(self, keys: list[str]) -> None:
        """One transaction of remote deletions (in a worker thread)."""
        with self._own_writes():
            for key in keys:
                self._remote_deleted(self.items[key])

    def _change_batch(self, incoming: list[Incoming]) -> None:
        """One transaction of remote changes: parsing, validation and writes (in a worker thread)."""
        with self._own_writes():
            for inc in incoming:
                self._remote_changed(inc)

    @contextmanager
    def _own_writes(self) -> Iterator[None]:
        """A write transaction whose change-feed rows are remembered as ours (not to be pushed back)."""
        with self.host.writes.transaction():
            first = self.store.latest_seq()
            yield
            last = self.store.latest_seq()
        if last > first:
            self._own.append((first, last))

    def _remote_deleted(self, item: Item) -> None:
        resource = self.store.resource(self.collection.id, item.name)
        state = self._local_state(item, resource)
        if state == "changed" and resource is not None:
            local = self.store.data(resource.id)
            if self._conflict(item.name, resource.uid, "remote-deleted", local, None) == "local":
                self._forget(item)
                self._pushes.append(Push("create", item.name, item.href, None, self._local.get(item.name)))
                return
        if resource is not None and state != "deleted" and self._delete_local(item.name):
            self.report.deleted += 1
        self._forget(item)

    def _remote_changed(self, inc: Incoming) -> None:
        item = self.items.get(inc.key)
        resource = self.store.resource(self.collection.id, inc.name)
        state = self._local_state(item, resource)
        if state == "changed" and resource is not None:
            local = self.store.data(resource.id)
            if local == inc.data:
                self._remember(Item(inc.key, inc.name, resource.uid, inc.etag, resource.etag))
                return
            if self._conflict(inc.name, resource.uid, "both-modified", local, inc.data) == "local":
                self._remember(Item(inc.key, inc.name, resource.uid, inc.etag, item.local_etag if item else None))
                self._pushes.append(Push("update", inc.name, inc.key, inc.etag, self._local.get(inc.name)))
                return
        elif (
            state == "deleted"
            and item is not None
            and self._conflict(inc.name, item.uid, "local-deleted", None, inc.data) == "local"
        ):
            self._remember(Item(inc.key, inc.name, item.uid, inc.etag, item.local_etag))
            self._pushes.append(Push("delete", inc.name, inc.key, inc.etag, self._local.get(inc.name)))
            return
        self._store_remote(inc, item)

    def _conflict(self, name: str, uid: str | None, kind: str, local: bytes | None, remote: bytes | None) -> str:
        won = winner(self.policy, kind, local, remote)
        records.record_conflict(self.store, self.sub.id, name, uid, kind, self.policy, won)
        self.report.conflicts += 1
        return won

    def _store_remote(self, inc: Incoming, item: Item | None) -> None:
        """Write one remote version locally, or skip it with the reason."""
        kept = item.local_etag if item else None
        reason = None
        if len(inc.data) > self.size_limit:
            reason = f"{len(inc.data)} bytes, over the limit of {self.size_limit}"
        else:
            try:
                resource = self.host.writes.put_object(
                    self.collection, inc.name, inc.data, principal=None, source=SOURCE
                ).resource
            except Rejected as exc:
                reason = exc.message
            except Exception as exc:  # noqa: BLE001 - whatever a remote sends, this must not raise
                reason = f"{type(exc).__name__}: {exc}"[:300]
            else:
                self._remember(Item(inc.key, inc.name, resource.uid, inc.etag, resource.etag))
                self.report.pulled += 1
                return
        self.report.skip(_display(inc.key), reason)
        self._remember(Item(inc.key, inc.name, item.uid if item else None, inc.etag, kept, reason))

    def _delete_local(self, name: str) -> bool:
        try:
            self.host.writes.delete_object(self.collection, name, principal=None, source=SOURCE)
        except Rejected as exc:
            if exc.status != 404:
                self.report.skip(name, f"could not delete locally: {exc.message}")
            return False
        return True

    def _remember(self, item: Item) -> None:
        records.save_item(self.store, self.sub.id, item)
        old = self.items.get(item.href)
        if old is not None and old.name != item.name:
            self.by_name.pop(old.name, None)
        holder = self.by_name.get(item.name)
        if holder is not None and holder.href != item.href:
            self.items.pop(holder.href, None)
        self.items[item.href] = item
        self.by_name[item.name] = item

    def _forget(self, item: Item) -> None:
        records.delete_item(self.store, self.sub.id, item.href)
        self.items.pop(item.href, None)
        if self.by_name.get(item.name) is item:
            self.by_name.pop(item.name)

    # -- pushing (two-way) ---------------------------------------------------------------

    def _plan_local_pushes(self, remote: CalDAVRemote) -> None:
        planned = {p.name for p in self._pushes}
        for name, seq in self._local.items():
            if name in planned:
                continue
            item = self.by_name.get(name)
            resource = self.store.resource(self.collection.id, name)
            state = self._local_state(item, resource)
            if state == "changed":
                if item is None:
                    self._pushes.append(Push("create", name, remote.member_path(name), None, seq))
                else:
                    self._pushes.append(Push("update", name, item.href, item.remote_etag, seq))
            elif state == "deleted" and item is not None:
                if item.skipped and item.local_etag is None:
                    continue
                self._pushes.append(Push("delete", name, item.href, item.remote_etag, seq))

    async def _push(self, remote: CalDAVRemote) -> None:
        run = self.host.run
        for n, push in enumerate(self._pushes, 1):
            if push.kind == "delete":
                status = await remote.delete(push.href, if_match=push.if_match)
                if status in (200, 204, 404, 410):
                    item = self.items.get(push.href)
                    if item is not None:
                        await run(self._forget, item)
                    self.report.pushed += 1
                else:
                    self._push_failed(push, status)
            else:
                found = await run(self._local_object, push.name)
                if found is None:
                    continue
                resource, data = found
                status, etag = await remote.put(
                    push.href, data, if_match=push.if_match, create=push.kind == "create"
                )
                if 200 <= status < 300:
                    await run(self._remember, Item(push.href, push.name, resource.uid, etag, resource.etag))
                    self.report.pushed += 1
                else:
                    self._push_failed(push, status)
            self.progress("pushed", n, len(self._pushes))
            await self.heartbeat()

    def _local_object(self, name: str) -> tuple[Resource, bytes] | None:
        """A local object and its data (in a worker thread); None when it is gone."""
        resource = self.store.resource(self.collection.id, name)
        return None if resource is None else (resource, self.store.data(resource.id))

    def _push_failed(self, push: Push, status: int) -> None:
        why = "the remote changed it meanwhile; retried next sync" if status == 412 else f"the remote refused it ({status})"
        self.report.skip(push.name, f"{push.kind} not pushed: {why}")
        self._failed_seqs.append(push.seq if push.seq is not None else self.sub.local_seq + 1)

    def _next_cursor(self) -> int:
        """Our new place in the change feed: past what we handled and past our own writes."""
        if self._failed_seqs:
            return max(self.sub.local_seq, min(self._failed_seqs) - 1)
        cursor = self._read_seq
        for change in self.store.changes_since(cursor, collection_id=self.collection.id):
            if not any(lo < change.seq <= hi for lo, hi in self._own):
                break
            cursor = change.seq
        return cursor


def _display(key: str) -> str:
    return key.removeprefix("uid:")


"""The journal: the kernel's change feed, narrowed to calendar events, plus window refreshes.

Every consumer (push, pull) follows this one ordered outbox with its own cursor.
A row says "export this resource again" (``changed`` / ``refresh``) or "it is
gone" (``deleted``; ``name`` NULL: the whole calendar). Its ``seq`` is both the
cursor position and the ``updateSequenceNumber`` of what it exports:

    seq = max(the kernel change's seq, the journal's last seq + 1)

so it equals the change-feed sequence number as long as nothing but the feed
fills the journal, and it is strictly increasing in every case: the window
refresh and a calendar's re-export (new grants, a new name) append rows with the
next number, greater than anything issued before, and the feed's later numbers
continue from there. A number never goes backwards for an object, across update,
delete and re-create, because every export of it comes from a later row.

:func:`ingest` copies new feed rows in (the first time, one row per existing
event instead of the whole history); :func:`refresh` appends the daily rows for
recurring series, whose occurrences enter and leave the window as days pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from kernel import Change, Collection, Store

from . import state
from .context import Deployment

FEED_CURSOR = "feed_cursor"
SETTINGS = "settings_fingerprint"
LAST_REFRESH = "last_refresh"
PAGE = 1000


@dataclass(frozen=True)
class Row:
    """One journal row."""

    seq: int
    collection_id: int
    name: str | None
    kind: str


def head(store: Store) -> int:
    """The journal's last sequence number (0 when empty)."""
    return int(store.execute("SELECT max(seq) FROM atlassian_export_journal").fetchone()[0] or 0)


def rows_after(store: Store, seq: int, limit: int, collection_id: int | None = None) -> list[Row]:
    """Journal rows after ``seq`` in order, at most ``limit`` (of one collection)."""
    sql = "SELECT seq, collection_id, name, kind FROM atlassian_export_journal WHERE seq > ?"
    args: list[object] = [seq]
    if collection_id is not None:
        sql += " AND collection_id = ?"
        args.append(collection_id)
    return [Row(*r) for r in store.execute(sql + " ORDER BY seq LIMIT ?", (*args, limit))]


def count_after(store: Store, seq: int) -> int:
    """How many journal rows lie after ``seq`` (a consumer's backlog)."""
    return int(store.execute("SELECT count(*) FROM atlassian_export_journal WHERE seq > ?", (seq,)).fetchone()[0])


def meta(store: Store, key: str) -> str | None:
    """A value of the meta table."""
    row = store.execute("SELECT value FROM atlassian_export_meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def feed_cursor(store: Store) -> int:
    """The last kernel change copied into the journal."""
    return int(meta(store, FEED_CURSOR) or 0)


def _set_meta(store: Store, key: str, value: object) -> None:
    store.execute(
        "INSERT INTO atlassian_export_meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, str(value)),
    )


class _Appender:
    """Appends rows inside one transaction, numbering them as the module docstring says."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.last = head(store)
        self.added = 0
        self.now = time.time()

    def add(self, collection_id: int, name: str | None, kind: str, feed_seq: int | None = None) -> None:
        self.last = max(feed_seq or 0, self.last + 1)
        self.store.execute(
            "INSERT INTO atlassian_export_journal (seq, collection_id, name, kind, feed_seq, at) VALUES (?, ?, ?, ?, ?, ?)",
            (self.last, collection_id, name, kind, feed_seq, self.now),
        )
        self.added += 1

    def calendar(self, deployment: Deployment, collection: Collection, feed_seq: int | None = None) -> None:
        """A row for every event of a calendar."""
        for resource in deployment.store.resources(collection.id):
            if resource.component == "VEVENT":
                self.add(collection.id, resource.name, "changed", feed_seq)


def ingest(deployment: Deployment, *, page: int = PAGE) -> int:
    """Copy the kernel changes not yet in the journal; returns how many rows were added.

    Each page is one transaction holding its rows and the moved feed cursor, so
    a crash loses nothing and two processes never copy a change twice.
    """
    store = deployment.store
    added = 0
    if meta(store, FEED_CURSOR) is None:
        with store.transaction():
            appender = _Appender(store)
            if meta(store, FEED_CURSOR) is None:
                _snapshot(deployment, appender)
        added += appender.added
    start = feed_cursor(store)
    for _ in range(max(0, store.latest_seq() - start) // page + 2):
        with store.transaction():
            appender = _Appender(store)
            _check_settings(deployment, appender)
            changes = store.changes_since(feed_cursor(store), limit=page)
            kinds: dict[int, str | None] = {}
            for change in changes:
                _ingest_change(deployment, appender, change, kinds)
            if changes:
                _set_meta(store, FEED_CURSOR, changes[-1].seq)
        added += appender.added
        if len(changes) < page:
            break
    return added


def _snapshot(deployment: Deployment, appender: _Appender) -> None:
    """The first ingest: one row per existing event, numbered by its latest change, in feed order."""
    store = deployment.store
    latest = store.latest_seq()
    last_change: dict[tuple[int, str], int] = {}
    cursor = 0
    for _ in range(latest // PAGE + 2):
        changes = store.changes_since(cursor, limit=PAGE)
        for change in changes:
            if change.name is not None and change.seq <= latest:
                last_change[(change.collection_id, change.name)] = change.seq
        if len(changes) < PAGE:
            break
        cursor = changes[-1].seq
    rows: list[tuple[int, int, str]] = []
    for owner in store.principals():
        for collection in store.collections(owner.id, parent=None, kind="calendar"):
            info = deployment.calendar(collection.id, fresh=True)
            if info is not None:
                _save_fingerprint(store, collection.id, info.fingerprint())
            rows.extend(
                (last_change.get((collection.id, r.name), 0), collection.id, r.name)
                for r in store.resources(collection.id)
                if r.component == "VEVENT"
            )
    for seq, collection_id, name in sorted(rows):
        appender.add(collection_id, name, "changed", seq)
    _set_meta(store, FEED_CURSOR, latest)
    _set_meta(store, SETTINGS, deployment.fingerprint())
    _set_meta(store, LAST_REFRESH, appender.now)


def _check_settings(deployment: Deployment, appender: _Appender) -> None:
    """Export everything again when a setting that shapes every object changed."""
    store = deployment.store
    fingerprint = deployment.fingerprint()
    if meta(store, SETTINGS) == fingerprint:
        return
    for owner in store.principals():
        for collection in store.collections(owner.id, parent=None, kind="calendar"):
            appender.calendar(deployment, collection)
    _set_meta(store, SETTINGS, fingerprint)


def _ingest_change(deployment: Deployment, appender: _Appender, change: Change, kinds: dict[int, str | None]) -> None:
    store = deployment.store
    if change.collection_id not in kinds:
        collection = store.collection_by_id(change.collection_id)
        kinds[change.collection_id] = collection.kind if collection else None
    kind = kinds[change.collection_id]
    if change.name is not None:
        if kind != "plain":
            appender.add(change.collection_id, change.name, "deleted" if change.kind == "deleted" else "changed", change.seq)
        return
    if change.kind == "deleted":
        appender.add(change.collection_id, None, "deleted", change.seq)
        store.execute("DELETE FROM atlassian_export_calendars WHERE collection_id = ?", (change.collection_id,))
        kinds.pop(change.collection_id, None)
        return
    collection = store.collection_by_id(change.collection_id)
    if collection is None:
        return
    tree = [collection] if collection.kind == "calendar" else store.descendants(collection)
    for calendar in tree:
        info = deployment.calendar(calendar.id, fresh=True)
        if info is None:
            continue
        fingerprint = info.fingerprint()
        if _fingerprint(store, calendar.id) != fingerprint:
            if change.kind == "modified":
                appender.calendar(deployment, calendar, change.seq)
            _save_fingerprint(store, calendar.id, fingerprint)


def _fingerprint(store: Store, collection_id: int) -> str | None:
    row = store.execute(
        "SELECT fingerprint FROM atlassian_export_calendars WHERE collection_id = ?", (collection_id,)
    ).fetchone()
    return row[0] if row else None


def _save_fingerprint(store: Store, collection_id: int, fingerprint: str) -> None:
    store.execute(
        "INSERT INTO atlassian_export_calendars (collection_id, fingerprint) VALUES (?, ?)"
        " ON CONFLICT (collection_id) DO UPDATE SET fingerprint = excluded.fingerprint",
        (collection_id, fingerprint),
    )


def refresh(deployment: Deployment, *, now: float | None = None, force: bool = False) -> int:
    """Once per ``refresh_interval``: re-export recurring series and reconcile; returns rows added.

    Recurring series get a row each (their occurrences move with the window). Any
    exported resource that no longer exists gets a "deleted" row: deletions the
    feed cannot show (a removed user's home) still reach Atlassian. Refresh rows
    every consumer has passed are pruned.
    """
    store = deployment.store
    now = time.time() if now is None else now
    with store.transaction():
        appender = _Appender(store)
        last = meta(store, LAST_REFRESH)
        if last is not None and not force and now - float(last) < float(deployment.settings.refresh_interval):
            return 0
        _set_meta(store, LAST_REFRESH, now)
        cursors = [c.cursor for c in state.consumers(store)]
        if not cursors:
            return 0
        for collection_id, name in state.exported_resources(store, recurring_only=True):
            appender.add(collection_id, name, "refresh")
        existing: dict[int, set[str]] = {}
        for collection_id, name in state.exported_resources(store, recurring_only=False):
            if collection_id not in existing:
                collection = store.collection_by_id(collection_id)
                existing[collection_id] = {r.name for r in store.resources(collection_id)} if collection else set()
            if name not in existing[collection_id]:
                appender.add(collection_id, name, "deleted")
        store.execute("DELETE FROM atlassian_export_journal WHERE kind = 'refresh' AND seq <= ?", (min(cursors),))
    return appender.added

"""Reading and writing the plugin's tables: subscriptions, tracked items, conflicts."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields
from typing import Any

from kernel import Leases, Store

SUBSCRIPTIONS = "caldav_subscription_subscriptions"
ITEMS = "caldav_subscription_items"
CONFLICTS = "caldav_subscription_conflicts"
#: The prefix of the kernel leases syncs hold (``caldav_subscription:ID``, kernel.leases).
LEASE_PREFIX = "caldav_subscription:"
#: Columns stored encrypted with ``host.secrets`` (declared with ``register_secret_columns``).
CREDENTIALS = ("username", "password")


@dataclass(frozen=True)
class Subscription:
    """One local calendar following one remote calendar or feed.

    ``username`` and ``password`` are as stored: encrypted with ``host.secrets``
    (plaintext only in rows from before a key was set). They never leave the
    plugin: :meth:`public` and ``repr`` leave them out.
    """

    id: int
    collection_id: int
    url: str
    kind: str
    mode: str
    interval: float
    username: str | None = field(repr=False)
    password: str | None = field(repr=False)
    paused: bool
    created: float
    created_by: int | None
    capability: str | None
    sync_token: str | None
    ctag: str | None
    feed_etag: str | None
    feed_modified: str | None
    local_seq: int
    next_run: float
    failures: int
    last_attempt: float | None
    last_success: float | None
    last_error: str | None
    last_error_at: float | None
    last_duration: float | None
    last_requests: int | None
    last_counts: str | None
    last_skipped: str | None

    @property
    def counts(self) -> dict[str, int]:
        """Counts of the last sync: pulled, pushed, deleted, conflicts, skipped."""
        return json.loads(self.last_counts) if self.last_counts else {}

    @property
    def skipped(self) -> list[dict[str, str]]:
        """Remote objects the last sync skipped, with the reason."""
        return json.loads(self.last_skipped) if self.last_skipped else []

    def public(self, calendar: str, running: bool) -> dict[str, Any]:
        """The subscription as the API and CLI show it (``running``: a sync holds its lease):
        no username, no password."""
        return {
            "id": self.id,
            "calendar": calendar,
            "url": self.url,
            "kind": self.kind,
            "mode": self.mode,
            "interval": self.interval,
            "credentials": bool(self.username or self.password),
            "paused": self.paused,
            "status": {
                "state": _state(self),
                "running": running,
                "sync_method": self.capability,
                "next_run": None if self.paused else self.next_run,
                "last_attempt": self.last_attempt,
                "last_success": self.last_success,
                "last_error": self.last_error,
                "last_error_at": self.last_error_at,
                "consecutive_failures": self.failures,
                "last_duration": self.last_duration,
                "last_requests": self.last_requests,
                "counts": self.counts,
                "skipped": self.skipped,
            },
        }


def _state(sub: Subscription) -> str:
    if sub.paused:
        return "paused"
    if sub.last_attempt is None:
        return "new"
    return "failing" if sub.failures else "ok"


@dataclass(frozen=True)
class Item:
    """A remote object the subscription tracks and the local resource it became.

    ``remote_etag`` is the remote's ETag of the version last seen (None when a
    push got no ETag back); ``local_etag`` the local ETag of what the last sync
    wrote or pushed; ``skipped`` the reason the remote version was not stored.
    """

    href: str
    name: str
    uid: str | None
    remote_etag: str | None
    local_etag: str | None
    skipped: str | None = None


@dataclass(frozen=True)
class Conflict:
    """A recorded conflict: both sides changed one object; ``winner`` says whose version stayed."""

    id: int
    at: float
    name: str
    uid: str | None
    kind: str
    policy: str
    winner: str

    def public(self) -> dict[str, Any]:
        """As JSON."""
        return {k.name: getattr(self, k.name) for k in fields(self)}


_COLUMNS = [f.name for f in fields(Subscription)]


def _subscription(row: tuple) -> Subscription:
    values = dict(zip(_COLUMNS, row))
    values["paused"] = bool(values["paused"])
    return Subscription(**values)


def create(store: Store, **values: Any) -> Subscription:
    """Insert a subscription; returns it."""
    values.setdefault("created", time.time())
    columns = list(values)
    with store.transaction():
        new_id = store.execute(
            f"INSERT INTO {SUBSCRIPTIONS} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            " RETURNING id",
            [values[c] for c in columns],
        ).fetchone()[0]
    found = get(store, new_id)
    assert found is not None
    return found


def get(store: Store, subscription_id: int) -> Subscription | None:
    """The subscription with this id, or None."""
    row = store.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM {SUBSCRIPTIONS} WHERE id = ?", (subscription_id,)
    ).fetchone()
    return _subscription(row) if row else None


def for_collection(store: Store, collection_id: int) -> Subscription | None:
    """The subscription feeding a local calendar, or None."""
    row = store.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM {SUBSCRIPTIONS} WHERE collection_id = ?", (collection_id,)
    ).fetchone()
    return _subscription(row) if row else None


def all_subscriptions(store: Store) -> list[Subscription]:
    """Every subscription, oldest first."""
    rows = store.execute(f"SELECT {', '.join(_COLUMNS)} FROM {SUBSCRIPTIONS} ORDER BY id")
    return [_subscription(r) for r in rows]


def one_way_statement(collection_id: int) -> tuple[str, tuple[int]]:
    """A read finding a row when a one-way subscription feeds this calendar (one indexed
    lookup; ``validate_object`` refuses a write with it, ``store.refuse_if``)."""
    return f"SELECT 1 FROM {SUBSCRIPTIONS} WHERE collection_id = ? AND mode = 'one-way'", (collection_id,)


def one_way_in_home_statement(store: Store, owner: str) -> tuple[str, tuple[str]]:
    """The read :func:`one_way_in_home` runs: by the owner's name, as a URL gives it, so that a
    request can name it ahead of its account's read (``dav_reads_ahead``)."""
    return store.home_rows_statement(owner, SUBSCRIPTIONS, ("collection_id", "mode"))


def one_way_in_home(store: Store, owner: str) -> frozenset[int]:
    """The ids of the calendars in ``owner``'s home that a one-way subscription feeds."""
    rows = store.execute(*one_way_in_home_statement(store, owner))
    return frozenset(collection_id for collection_id, mode in rows if mode == "one-way")


def update(store: Store, subscription_id: int, **values: Any) -> None:
    """Set columns of a subscription."""
    if not values:
        return
    unknown = set(values) - set(_COLUMNS)
    if unknown:
        raise ValueError(f"unknown subscription columns: {', '.join(sorted(unknown))}")
    sets = ", ".join(f"{k} = ?" for k in values)
    with store.transaction():
        store.execute(f"UPDATE {SUBSCRIPTIONS} SET {sets} WHERE id = ?", [*values.values(), subscription_id])


def delete(store: Store, subscription_id: int) -> None:
    """Remove a subscription with its items and conflicts (the local calendar stays)."""
    with store.transaction():
        store.execute(f"DELETE FROM {SUBSCRIPTIONS} WHERE id = ?", (subscription_id,))


def lease_name(subscription_id: int) -> str:
    """The kernel lease a sync of this subscription holds."""
    return f"{LEASE_PREFIX}{subscription_id}"


def running(leases: Leases) -> set[int]:
    """Ids of the subscriptions a sync holds the lease of, anywhere in the cluster."""
    return {int(name[len(LEASE_PREFIX):]) for name in leases.held(LEASE_PREFIX)}


def due(store: Store, now: float, running: set[int]) -> list[int]:
    """Ids of unpaused subscriptions whose next run has come, leaving out those ``running``."""
    rows = store.execute(
        f"SELECT id FROM {SUBSCRIPTIONS} WHERE paused = 0 AND next_run <= ? ORDER BY next_run", (now,)
    )
    return [r[0] for r in rows if r[0] not in running]


# -- items -------------------------------------------------------------------------


def items(store: Store, subscription_id: int) -> dict[str, Item]:
    """Every tracked item of a subscription, by remote href."""
    rows = store.execute(
        f"SELECT href, name, uid, remote_etag, local_etag, skipped FROM {ITEMS} WHERE subscription_id = ?",
        (subscription_id,),
    )
    return {r[0]: Item(*r) for r in rows}


def skipped_items(store: Store, subscription_ids: list[int], limit: int = 50) -> dict[int, list[tuple[str, str]]]:
    """(remote href, why) of the tracked items each subscription could not store, at most
    ``limit`` each, by href, by subscription id: read without the others (a feed of 10,000
    events has as many items), in one statement for all."""
    if not subscription_ids:
        return {}
    among, values = store.one_of("subscription_id", subscription_ids)
    rows = store.execute(
        "SELECT subscription_id, href, skipped FROM (SELECT subscription_id, href, skipped,"
        " ROW_NUMBER() OVER (PARTITION BY subscription_id ORDER BY href) AS n"
        f" FROM {ITEMS} WHERE {among} AND skipped IS NOT NULL AND skipped <> '') AS s"
        " WHERE n <= ? ORDER BY subscription_id, href",
        (*values, limit),
    )
    found: dict[int, list[tuple[str, str]]] = {}
    for sub_id, href, why in rows:
        found.setdefault(sub_id, []).append((href, why))
    return found


def save_item(store: Store, subscription_id: int, item: Item) -> None:
    """Insert or replace one tracked item (another item holding the same name gives it up)."""
    with store.transaction():
        store.execute(
            f"DELETE FROM {ITEMS} WHERE subscription_id = ? AND name = ? AND href <> ?",
            (subscription_id, item.name, item.href),
        )
        store.execute(
            f"INSERT INTO {ITEMS} (subscription_id, href, name, uid, remote_etag, local_etag, skipped)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subscription_id, href) DO UPDATE SET"
            " name = excluded.name, uid = excluded.uid, remote_etag = excluded.remote_etag,"
            " local_etag = excluded.local_etag, skipped = excluded.skipped",
            (subscription_id, item.href, item.name, item.uid, item.remote_etag, item.local_etag, item.skipped),
        )


def delete_item(store: Store, subscription_id: int, href: str) -> None:
    """Stop tracking one remote object."""
    with store.transaction():
        store.execute(f"DELETE FROM {ITEMS} WHERE subscription_id = ? AND href = ?", (subscription_id, href))


# -- conflicts -------------------------------------------------------------------


def record_conflict(
    store: Store, subscription_id: int, name: str, uid: str | None, kind: str, policy: str, winner: str
) -> None:
    """Remember that both sides changed an object and whose version stayed."""
    with store.transaction():
        store.execute(
            f"INSERT INTO {CONFLICTS} (subscription_id, at, name, uid, kind, policy, winner)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (subscription_id, time.time(), name, uid, kind, policy, winner),
        )


def recent_conflicts(store: Store, subscription_ids: list[int], limit: int) -> dict[int, tuple[int, list[Conflict]]]:
    """How many conflicts each subscription ever recorded and its ``limit`` most recent, newest
    first, by subscription id (those without any left out), in one statement for all."""
    if not subscription_ids:
        return {}
    among, values = store.one_of("subscription_id", subscription_ids)
    rows = store.execute(
        "SELECT subscription_id, total, id, at, name, uid, kind, policy, winner FROM"
        " (SELECT subscription_id, id, at, name, uid, kind, policy, winner,"
        " ROW_NUMBER() OVER (PARTITION BY subscription_id ORDER BY id DESC) AS n,"
        f" count(*) OVER (PARTITION BY subscription_id) AS total FROM {CONFLICTS} WHERE {among}) AS c"
        " WHERE n <= ? ORDER BY subscription_id, id DESC",
        (*values, limit),
    )
    found: dict[int, tuple[int, list[Conflict]]] = {}
    for row in rows:
        found.setdefault(row[0], (int(row[1]), []))[1].append(Conflict(*row[2:]))
    return found

"""Per-consumer state: cursor, exported objects, pending pull pages, rejections, errors.

A consumer ("push" or "pull") follows the journal. What it was handed lives in
``atlassian_export_objects`` (object id -> the resource it came from), and changes
only together with its cursor, in one transaction: push after the endpoint
accepted a batch, pull when the connector passes the page's cursor back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from kernel import Store

PUSH = "push"
PULL = "pull"
CONSUMERS = (PUSH, PULL)

#: Unacknowledged pull pages kept per consumer (a connector may retry, or lose a response).
MAX_PENDING = 10

_CONSUMER_COLUMNS = (
    "name, cursor, backfill_until, not_before, last_error, last_error_at, last_success_at, exported, deleted, created"
)


@dataclass(frozen=True)
class Consumer:
    """One consumer's row: where it is and how it went."""

    name: str
    cursor: int
    backfill_until: int
    not_before: float | None
    last_error: str | None
    last_error_at: float | None
    last_success_at: float | None
    exported: int
    deleted: int
    created: float

    @property
    def backfilling(self) -> bool:
        """True while the consumer is still in its first full export (BACKFILL)."""
        return self.cursor < self.backfill_until


@dataclass
class Effect:
    """What handing over one batch changes in a consumer's record of exported objects.

    ``resources`` are replaced by the ``objects`` listed for them (none: all gone);
    ``collections`` lose every object; ``through`` is the cursor after the batch.
    """

    through: int
    resources: list[tuple[int, str]] = field(default_factory=list)
    collections: list[int] = field(default_factory=list)
    objects: list[tuple[str, int, str, int, bool]] = field(default_factory=list)
    exported: int = 0
    deleted: int = 0

    def to_json(self) -> str:
        """Serialised for the pending table."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Effect:
        """The inverse of :meth:`to_json`."""
        data = json.loads(text)
        return cls(
            through=int(data["through"]),
            resources=[(int(c), str(n)) for c, n in data["resources"]],
            collections=[int(c) for c in data["collections"]],
            objects=[(str(o), int(c), str(n), int(u), bool(r)) for o, c, n, u, r in data["objects"]],
            exported=int(data["exported"]),
            deleted=int(data["deleted"]),
        )

    def merge(self, other: Effect) -> Effect:
        """Two computations of the same page: remember every object either handed out.

        A superset is safe: an id recorded but never delivered only earns a
        harmless deletion later.
        """
        objects = {o[0]: o for o in self.objects}
        objects.update({o[0]: o for o in other.objects})
        return Effect(
            through=self.through,
            resources=list(dict.fromkeys([*self.resources, *other.resources])),
            collections=list(dict.fromkeys([*self.collections, *other.collections])),
            objects=list(objects.values()),
            exported=max(self.exported, other.exported),
            deleted=max(self.deleted, other.deleted),
        )


# -- consumers -------------------------------------------------------------------


def consumer(store: Store, name: str) -> Consumer | None:
    """A consumer's row, or None before its first run."""
    row = store.execute(f"SELECT {_CONSUMER_COLUMNS} FROM atlassian_export_consumers WHERE name = ?", (name,)).fetchone()
    return Consumer(*row) if row else None


def consumers(store: Store) -> list[Consumer]:
    """Every consumer that has run, by name."""
    rows = store.execute(f"SELECT {_CONSUMER_COLUMNS} FROM atlassian_export_consumers ORDER BY name")
    return [Consumer(*r) for r in rows]


def ensure_consumer(store: Store, name: str, head: int) -> Consumer:
    """The consumer's row, created at cursor 0 with BACKFILL up to ``head`` on its first run."""
    with store.transaction():
        store.execute(
            "INSERT INTO atlassian_export_consumers (name, cursor, backfill_until, created)"
            " VALUES (?, 0, ?, ?) ON CONFLICT (name) DO NOTHING",
            (name, head, time.time()),
        )
        found = consumer(store, name)
    assert found is not None
    return found


def record_error(store: Store, name: str, message: str, *, not_before: float | None = None) -> None:
    """Remember why a run stopped (and, after a long Retry-After, when to try again)."""
    with store.transaction():
        store.execute(
            "UPDATE atlassian_export_consumers SET last_error = ?, last_error_at = ?, not_before = ? WHERE name = ?",
            (message[:2000], time.time(), not_before, name),
        )


def clear_error(store: Store, name: str) -> None:
    """A run reached the end of the journal: forget the last error."""
    with store.transaction():
        store.execute(
            "UPDATE atlassian_export_consumers SET last_error = NULL, last_error_at = NULL, not_before = NULL"
            " WHERE name = ?",
            (name,),
        )


def apply(store: Store, name: str, effect: Effect, *, expect_cursor: int | None = None) -> bool:
    """Record a handed-over batch and move the cursor to ``effect.through``, in one transaction.

    With ``expect_cursor``, nothing happens (False) when another process moved the
    cursor meanwhile: what it sent covers this batch.
    """
    with store.transaction():
        if expect_cursor is not None:
            current = consumer(store, name)
            if current is None or current.cursor != expect_cursor:
                return False
        for cid, resource in effect.resources:
            store.execute(
                "DELETE FROM atlassian_export_objects WHERE consumer = ? AND collection_id = ? AND name = ?",
                (name, cid, resource),
            )
        for cid in effect.collections:
            store.execute("DELETE FROM atlassian_export_objects WHERE consumer = ? AND collection_id = ?", (name, cid))
        store.executemany(
            "INSERT INTO atlassian_export_objects (consumer, object_id, collection_id, name, usn, recurring)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (consumer, object_id) DO UPDATE SET"
            " collection_id = excluded.collection_id, name = excluded.name, usn = excluded.usn,"
            " recurring = excluded.recurring",
            [(name, oid, cid, res, usn, int(rec)) for oid, cid, res, usn, rec in effect.objects],
        )
        store.execute(
            "UPDATE atlassian_export_consumers SET cursor = ?, last_success_at = ?, exported = exported + ?,"
            " deleted = deleted + ? WHERE name = ?",
            (effect.through, time.time(), effect.exported, effect.deleted, name),
        )
    return True


# -- what consumers were handed ---------------------------------------------------------


@dataclass(frozen=True)
class Handed:
    """What some consumers were handed: the view a batch computes deletions from."""

    store: Store
    names: tuple[str, ...]

    def ids(self, collection_id: int, resource: str) -> set[str]:
        """Object ids handed out for one resource."""
        return known_ids(self.store, self.names, collection_id, resource)

    def resources(self, collection_id: int) -> list[str]:
        """Resources of a collection with objects handed out."""
        return known_resources(self.store, self.names, collection_id)


def known_ids(store: Store, names: Iterable[str], collection_id: int, resource: str) -> set[str]:
    """Object ids these consumers were handed for one resource."""
    names = list(names)
    rows = store.execute(
        f"SELECT object_id FROM atlassian_export_objects WHERE consumer IN ({','.join('?' * len(names))})"
        " AND collection_id = ? AND name = ?",
        (*names, collection_id, resource),
    )
    return {r[0] for r in rows}


def known_resources(store: Store, names: Iterable[str], collection_id: int) -> list[str]:
    """Resources of a collection these consumers hold objects of."""
    names = list(names)
    rows = store.execute(
        f"SELECT DISTINCT name FROM atlassian_export_objects WHERE consumer IN ({','.join('?' * len(names))})"
        " AND collection_id = ? ORDER BY name",
        (*names, collection_id),
    )
    return [r[0] for r in rows]


def exported_resources(store: Store, *, recurring_only: bool) -> list[tuple[int, str]]:
    """(collection id, name) of every resource any consumer holds objects of (only recurring ones)."""
    sql = "SELECT DISTINCT collection_id, name FROM atlassian_export_objects"
    if recurring_only:
        sql += " WHERE recurring = 1"
    return [(r[0], r[1]) for r in store.execute(sql + " ORDER BY collection_id, name")]


def object_count(store: Store, name: str) -> int:
    """How many objects a consumer currently holds."""
    return int(store.execute("SELECT count(*) FROM atlassian_export_objects WHERE consumer = ?", (name,)).fetchone()[0])


# -- pending pull pages --------------------------------------------------------------


def save_pending(store: Store, name: str, effect: Effect) -> None:
    """Remember a page handed out (merged with an earlier computation of the same page)."""
    with store.transaction():
        row = store.execute(
            "SELECT effect FROM atlassian_export_pending WHERE consumer = ? AND through = ?", (name, effect.through)
        ).fetchone()
        merged = Effect.from_json(row[0]).merge(effect) if row else effect
        store.execute(
            "INSERT INTO atlassian_export_pending (consumer, through, effect, created) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (consumer, through) DO UPDATE SET effect = excluded.effect, created = excluded.created",
            (name, effect.through, merged.to_json(), time.time()),
        )
        store.execute(
            "DELETE FROM atlassian_export_pending WHERE consumer = ? AND through NOT IN"
            " (SELECT through FROM atlassian_export_pending WHERE consumer = ? ORDER BY created DESC LIMIT ?)",
            (name, name, MAX_PENDING),
        )


def take_pending(store: Store, name: str, through: int) -> Effect | None:
    """The page handed out up to ``through``, or None; every pending page is dropped when found."""
    with store.transaction():
        row = store.execute(
            "SELECT effect FROM atlassian_export_pending WHERE consumer = ? AND through = ?", (name, through)
        ).fetchone()
        if row is None:
            return None
        store.execute("DELETE FROM atlassian_export_pending WHERE consumer = ?", (name,))
    return Effect.from_json(row[0])


# -- rejections ----------------------------------------------------------------------


def record_rejected(store: Store, name: str, rejections: list[tuple[str, str, int | None, str]]) -> None:
    """Remember objects refused (object id, operation, sequence number, reason)."""
    now = time.time()
    with store.transaction():
        store.executemany(
            "INSERT INTO atlassian_export_rejected (consumer, object_id, operation, usn, reason, at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (consumer, object_id, operation) DO UPDATE SET"
            " usn = excluded.usn, reason = excluded.reason, at = excluded.at",
            [(name, oid, op, usn, reason[:2000], now) for oid, op, usn, reason in rejections],
        )


def clear_rejected(store: Store, name: str, operation: str, object_ids: list[str]) -> None:
    """Objects accepted now are no longer listed as rejected."""
    with store.transaction():
        for i in range(0, len(object_ids), 500):
            chunk = object_ids[i : i + 500]
            store.execute(
                f"DELETE FROM atlassian_export_rejected WHERE consumer = ? AND operation = ? AND object_id IN"
                f" ({','.join('?' * len(chunk))})",
                (name, operation, *chunk),
            )


def rejected(store: Store, name: str | None = None, limit: int = 100) -> list[dict]:
    """The latest rejections (of one consumer), newest first."""
    sql = "SELECT consumer, object_id, operation, usn, reason, at FROM atlassian_export_rejected"
    args: list[object] = []
    if name is not None:
        sql += " WHERE consumer = ?"
        args.append(name)
    rows = store.execute(sql + " ORDER BY at DESC, object_id LIMIT ?", (*args, limit))
    keys = ("consumer", "object_id", "operation", "usn", "reason", "at")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def rejected_count(store: Store, name: str) -> int:
    """How many objects a consumer has listed as rejected."""
    row = store.execute("SELECT count(*) FROM atlassian_export_rejected WHERE consumer = ?", (name,)).fetchone()
    return int(row[0])

"""Named leases in the store: one holder at a time across every process and node.

A lease is a row (name, owner, until). Taking it succeeds when it is free, has
expired, or is already ours; the holder renews it while it works and gives it
back at the end. A holder that dies stops renewing, and the lease is free
again ``ttl`` seconds after its last renewal: that is how long a crashed node
can hold up others. The kernel's jobs run under leases (:mod:`kernel.jobs`);
plugins use ``host.leases`` for work that must not run twice at once (one
sync of a subscription, say).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kernel.store import Store


def process_owner() -> str:
    """A name for this process that no other process, here or on another machine, has."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    """The leases of one store, taken in the name of one process (``owner``)."""

    def __init__(self, store: Store, owner: str | None = None) -> None:
        self.store = store
        self.owner = owner or process_owner()

    def task(self) -> Leases:
        """Leases in the name of one task of this process: what the task holds, the process's
        other tasks cannot take, as if they ran elsewhere (two syncs of one thing at once)."""
        return Leases(self.store, f"{self.owner}/{uuid.uuid4().hex[:8]}")

    def acquire(self, name: str, ttl: float) -> bool:
        """Take (or renew) the lease ``name`` for ``ttl`` seconds; False when another holds it."""
        now = time.time()
        with self.store.transaction():
            row = self.store.execute(
                "INSERT INTO leases (name, owner, until) VALUES (:name, :owner, :until)"
                " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until"
                " WHERE leases.until < :now OR leases.owner = excluded.owner RETURNING owner",
                {"name": name, "owner": self.owner, "until": now + ttl, "now": now},
            ).fetchone()
        return row is not None

    def renew(self, name: str, ttl: float) -> bool:
        """Extend a lease we hold; False when it was lost (it expired and another took it)."""
        with self.store.transaction():
            cursor = self.store.execute(
                "UPDATE leases SET until = ? WHERE name = ? AND owner = ?", (time.time() + ttl, name, self.owner)
            )
        return bool(cursor.rowcount)

    def release(self, name: str) -> None:
        """Give a lease back (nothing happens when it is no longer ours)."""
        with self.store.transaction():
            self.store.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, self.owner))

    def held(self, prefix: str) -> set[str]:
        """Names of the live leases (anyone's) that start with ``prefix``."""
        rows = self.store.execute(
            "SELECT name FROM leases WHERE until >= ? AND substr(name, 1, ?) = ?", (time.time(), len(prefix), prefix)
        )
        return {row[0] for row in rows}

    def holder(self, name: str) -> str | None:
        """Who holds the lease now (None when it is free or expired)."""
        row = self.store.execute(
            "SELECT owner FROM leases WHERE name = ? AND until >= ?", (name, time.time())
        ).fetchone()
        return row[0] if row else None

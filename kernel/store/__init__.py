"""The store: the only code that writes the database.

One SQLite file in WAL mode, one connection per thread. :class:`Store`
combines one mixin per concern (principals, collections, resources, dead
properties, the change feed, grants, the instance index). Methods named
``insert_*``, ``save_*``, ``delete_*``, ``record_*`` or ``index_*`` must run inside
``store.transaction()``; ``kernel.writes`` is the pipeline that calls them with
the plugins' ``validate_*`` hooks around.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from sqlite_utils import Database, Migrations

from kernel.store.changes import ChangeStore
from kernel.store.collections import CollectionStore
from kernel.store.db import Connections, Transactions
from kernel.store.grants import EVERYONE, GrantStore
from kernel.store.instances import InstanceStore
from kernel.store.principals import PrincipalStore
from kernel.store.properties import PropertyStore
from kernel.store.resources import ResourceStore, make_etag
from kernel.store.schema import kernel_migrations

__all__ = ["Store", "EVERYONE", "make_etag", "kernel_migrations"]


class Store(
    PrincipalStore, CollectionStore, ResourceStore, PropertyStore, ChangeStore, GrantStore, InstanceStore
):
    """The database of one host, safe to use from any thread (each has its own connection)."""

    def __init__(self, path: str | Path, synchronous: str = "full") -> None:
        self.path = path
        self.connections = Connections(path, synchronous)
        self.transaction = Transactions(self.connections)

    @property
    def conn(self) -> sqlite3.Connection:  # type: ignore[override]
        """The calling thread's connection."""
        return self.connections.slot().conn

    @property
    def db(self) -> Database:
        """The calling thread's connection as a sqlite-utils Database (for plugins' own tables)."""
        return Database(self.conn)

    def migrate(self, sets: list[Migrations]) -> None:
        """Apply the kernel's migration set, then each plugin's, in order."""
        for migrations in [kernel_migrations, *sets]:
            migrations.apply(self.db)

    def pending_migrations(self, sets: list[Migrations]) -> list[str]:
        """``set.name`` of every migration :meth:`migrate` would apply, the kernel's first."""
        return [f"{m.name}.{p.name}" for m in [kernel_migrations, *sets] for p in m.pending(self.db)]

    def is_new(self) -> bool:
        """True before the kernel's first migration ran (a new, empty database)."""
        return not kernel_migrations.applied(self.db)

    @contextmanager
    def erasing(self) -> Iterator[None]:
        """Zero what the block deletes or overwrites, then checkpoint and empty the WAL.

        For replacing secrets: the old bytes are not left in free space or in
        old WAL frames (the checkpoint waits for readers up to the busy timeout).
        Call outside a transaction.
        """
        previous = self.conn.execute("PRAGMA secure_delete").fetchone()[0]
        self.conn.execute("PRAGMA secure_delete = ON")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA secure_delete = {int(previous)}")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def close(self) -> None:
        """Close every thread's connection (checkpointing the WAL)."""
        self.connections.close()

    def execute(self, sql: str, args: Any = ()) -> Any:
        """Run SQL on the store's connection (for plugins' own tables)."""
        return self.conn.execute(sql, args)

"""The store: the only code that writes the database.

One SQLite file in WAL mode (the embedded default) or one PostgreSQL database
shared by several nodes; a connection per thread either way. :class:`Store`
combines one mixin per concern (principals, collections, resources, dead
properties, the change feed, grants, the instance index). Methods named
``insert_*``, ``save_*``, ``delete_*``, ``record_*`` or ``index_*`` must run inside
``store.transaction()``; ``kernel.writes`` is the pipeline that calls them with
the plugins' ``validate_*`` hooks around.

Plugins declare their tables with :class:`kernel.store.tables.Migrations` and
reach them through :meth:`Store.execute` in the portable SQL subset
(docs/plugins.md, "Storage"), so the same plugin runs on both backends.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from kernel.store.changes import ChangeStore
from kernel.store.collections import CollectionStore
from kernel.store.connections import Backend, Connection, Connections, StoreClosed, Transactions
from kernel.store.db import SQLiteBackend
from kernel.store.grants import EVERYONE, GrantStore
from kernel.store.instances import InstanceStore
from kernel.store.meanwhile import Later
from kernel.store.postgres import PostgresBackend, StoreUnavailable, is_postgres_url
from kernel.store.principals import PrincipalStore
from kernel.store.properties import PropertyStore
from kernel.store.resources import ResourceStore, make_etag
from kernel.store.schema import kernel_migrations
from kernel.store.sharing import Reach, SharingStore
from kernel.store.tables import Catalogue, Migrations, SchemaError, applied, one_of

T = TypeVar("T")

__all__ = ["EVERYONE", "Reach", "Store", "StoreClosed", "StoreUnavailable", "kernel_migrations", "make_etag", "open_backend"]


def open_backend(
    database: str | Path, *, password: str = "", max_connections: int = 32, synchronous: str = "full"
) -> Backend[Any]:
    """The backend a ``[kernel] database`` value names: a PostgreSQL URL, or a SQLite file path.

    ``synchronous`` is SQLite's (PostgreSQL commits durably by its own settings).
    """
    if is_postgres_url(str(database)):
        return PostgresBackend(str(database), password=password, max_connections=max_connections)
    return SQLiteBackend(database, synchronous)


class Store(
    PrincipalStore, CollectionStore, ResourceStore, PropertyStore, ChangeStore, GrantStore, InstanceStore,
    SharingStore,
):
    """The database of one host, safe to use from any thread (each has its own connection)."""

    def __init__(self, database: str | Path | Backend[Any]) -> None:
        self.backend: Backend[Any] = (
            open_backend(database) if isinstance(database, (str, os.PathLike)) else database
        )
        #: "sqlite" or "postgresql".
        self.dialect: str = self.backend.dialect
        #: Where the data is (a file path, or the URL without its password), for messages.
        self.path = self.backend.describe()
        self.integrity_errors = self.backend.integrity_errors
        self.connections = Connections(self.backend)
        self.transaction = Transactions(self.connections)
        #: Which process recorded a change row (``ChangeStore.origin``): random per store.
        self.origin = secrets.randbits(62)

    @property
    def conn(self) -> Connection:  # type: ignore[override]
        """The calling thread's connection."""
        return self.connections.slot().conn

    @property
    def db(self) -> Any:
        """The calling thread's connection as a sqlite-utils Database (SQLite only; deprecated)."""
        if self.dialect != "sqlite":
            raise SchemaError("store.db (sqlite-utils) exists on SQLite only; use store.execute")
        from sqlite_utils import Database

        conn = self.conn
        assert isinstance(conn, sqlite3.Connection)  # the SQLite backend's connections
        return Database(conn)

    def execute(self, sql: str, params: Any = ()) -> Any:
        """Run one statement of the portable SQL subset; returns a cursor.

        Parameters are ``?`` with a sequence or ``:name`` with a dict; the
        cursor has ``fetchone()``, ``fetchall()``, iteration and ``rowcount``.
        """
        return self.conn.execute(sql, params)

    def one_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """The condition "``column`` is one of ``values``" and its parameters, for a statement
        whose other markers are ``?``: ``column IN (?, ...)`` on SQLite, ``column = ANY(?)`` on
        PostgreSQL, whose statement text is then the same for any number of values (psycopg
        reads a text with hundreds of markers anew each time: about a millisecond at 500)."""
        return one_of(self.dialect, column, values)

    def executemany(self, sql: str, seq: Iterable[Any]) -> Any:
        """Run one statement of the portable subset for each parameter set."""
        return self.conn.executemany(sql, seq)

    @contextmanager
    def traced(self) -> Iterator[list[str]]:
        """The statements every thread runs on this store during the block (for tests that
        count queries: request handlers run in worker threads, each on its own connection)."""
        seen: list[str] = []
        self.connections.set_tracer(seen.append)
        try:
            yield seen
        finally:
            self.connections.set_tracer(None)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Inside a write transaction: statements of the block whose results nobody reads go to
        the database together with the next one whose result is read. On PostgreSQL (libpq's
        pipeline mode) a write's update, index rows and change row cost one round trip, not one
        each; an error surfaces at the next read, or after the block (at the transaction's
        next statement, or its COMMIT when the block ends the outermost transaction: the
        COMMIT then goes with the block's statements), and the transaction rolls back as on
        any error. Do not read ``rowcount`` inside. SQLite runs statements in-process: the
        block changes nothing there."""
        outermost = self.connections.slot().depth == 1
        with self.backend.deferred(self.conn, outermost=outermost):
            yield

    def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        self.execute("SELECT 1").fetchone()

    def database_bytes(self) -> int:
        """The size of the database (SQLite: its pages; PostgreSQL: the whole database)."""
        if self.dialect == "sqlite":
            pages = self.execute("PRAGMA page_count").fetchone()[0]
            return int(pages) * int(self.execute("PRAGMA page_size").fetchone()[0])
        return int(self.execute("SELECT pg_database_size(current_database())").fetchone()[0])

    def refuse_if(self, statement: tuple[str, Any], refusal: Exception) -> None:
        """Inside a write transaction: refuse it with ``refusal`` when the read ``statement``
        finds a row, as the transaction sees the database (a check under the write lock, for
        a ``validate_*`` hook). SQLite reads at once and raises. On PostgreSQL the check is
        sent at the start of the transaction's next deferred block (:meth:`deferred`: a
        write's rows), so it costs no round trip of its own; when it finds a row the block's
        writes fail, and the transaction raises ``refusal``. A check no block sent runs before
        the COMMIT; one of a nested transaction rolled back before it was sent is dropped."""
        slot = self.connections.slot()
        if not slot.depth:
            raise RuntimeError("store.refuse_if() outside a transaction")
        if self.dialect == "sqlite":
            if self.execute(*statement).fetchone() is not None:
                raise refusal
            return
        self.conn.refuse_if(*statement, refusal, slot.depth)  # type: ignore[attr-defined]

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read one consistent snapshot of the whole database during the block, without holding
        the write lock (writers on SQLite's WAL and on PostgreSQL go on). Only reads inside;
        call outside a transaction."""
        slot = self.connections.slot()
        if slot.depth:
            raise RuntimeError("store.snapshot() inside a transaction")
        self.backend.begin_read(slot.conn)
        slot.depth += 1  # a transaction() inside nests as a savepoint instead of beginning anew
        try:
            yield
        finally:
            slot.depth -= 1
            slot.conn.execute("ROLLBACK")

    def read_together(self, *statements: tuple[str, Any]) -> list[list[Any]]:
        """The rows of several reads that do not depend on each other's results, each a list:
        on PostgreSQL sent together, one round trip for all (libpq's pipeline); on SQLite
        run one after the other."""
        if self.dialect != "sqlite":
            return self.conn.read_together(statements)  # type: ignore[attr-defined,no-any-return]
        return [self.execute(sql, params).fetchall() for sql, params in statements]

    @contextmanager
    def expecting(self, reads: Callable[[], Iterable[tuple[str, Any]]]) -> Iterator[None]:
        """Name reads the calling thread will soon run, to save their round trips: ``reads()``
        gives them as (sql, params). On PostgreSQL they are sent with the block's next
        statement (in a transaction, the next that waits for the server), and when one runs in
        the block, the same text with the same parameters, it is answered from what came back.
        Opening a transaction forgets them (it must read what it holds), so does a write, and
        so does the end of the block: the reads it named, not those an enclosing block named
        that were not run yet (a read named by both is the enclosing block's). Such a read
        sees the database as that statement did:
        name only reads that could as well have run then; a statement that is not a read is
        never sent ahead. A read ahead that fails fails only when it runs (in a transaction
        they go in a savepoint of their own, so the transaction goes on). On SQLite, where a
        read costs no round trip, ``reads`` is not even called."""
        if self.dialect == "sqlite":
            yield
            return
        conn = self.conn
        added = conn.expect(list(reads()))  # type: ignore[attr-defined]
        try:
            yield
        finally:
            conn.forget_expected(added)  # type: ignore[attr-defined]

    @contextmanager
    def meanwhile(self, work: Callable[[], T]) -> Iterator[Later[T]]:
        """Work (CPU only: it must not use the store) to do while the database answers: on
        PostgreSQL, when the block sends the reads named ahead (:meth:`expecting`), ``work``
        runs after they leave and before their answers are read, its time hidden in their round
        trip. The block gets a :class:`Later` whose ``result()`` is what ``work`` returned (or
        raises what it raised), running it then if no round trip came first, as always on
        SQLite. ``work`` runs at most once, in the calling thread; blocks may nest."""
        later = Later(work)
        if self.dialect == "sqlite":
            yield later
            return
        conn = self.conn
        conn.meanwhile(later)  # type: ignore[attr-defined]
        try:
            yield later
        finally:
            conn.meanwhile(later, add=False)  # type: ignore[attr-defined]

    @contextmanager
    def in_order(self) -> Iterator[None]:
        """A block after which no read may see the database as it was before the block's own:
        on PostgreSQL, when the block sends a statement to the database, the reads named ahead
        (:meth:`expecting`) already answered are forgotten, and run again when their turn
        comes. For code that may observe what others made meanwhile (an account's first
        access finding the calendar another process has just created), so that what the
        request reads next is not older than what it saw. A block that sends nothing costs
        nothing; on SQLite it is nothing."""
        if self.dialect == "sqlite":
            yield
            return
        with self.conn.in_order():  # type: ignore[attr-defined]
            yield

    def stream(self, sql: str, params: Any = (), size: int = 1000) -> Iterator[list[Any]]:
        """The rows of a query in lists of ``size`` (inside :meth:`snapshot` or a transaction),
        never the whole result in memory at once."""
        if self.dialect != "sqlite":
            yield from self.conn.stream(sql, params, size)  # type: ignore[attr-defined]
            return
        cursor = self.execute(sql, params)
        while rows := cursor.fetchmany(size):
            yield rows

    def table_names(self) -> list[str]:
        """Every table in the database (PostgreSQL: in the connection's schema), sorted."""
        if self.dialect == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        else:
            sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        return sorted(r[0] for r in self.execute(sql))

    def table_exists(self, name: str) -> bool:
        """Is there a table of this name?"""
        if self.dialect == "sqlite":
            sql = "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?"
        else:
            sql = "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
        return self.execute(sql, (name,)).fetchone() is not None

    def migrate(self, sets: list[Any], catalogue: Catalogue | None = None) -> None:
        """Apply the kernel's migration set, then each plugin's, in order (``catalogue``
        notes the tables they declare).

        A plugin's ``sqlite_utils.Migrations`` set (the contract before
        :class:`~kernel.store.tables.Migrations`) still runs on SQLite, with a
        DeprecationWarning, and stops start-up on PostgreSQL.
        """
        for migrations in [kernel_migrations, *sets]:
            if isinstance(migrations, Migrations):
                migrations.apply(self, catalogue=catalogue)
                continue
            name = getattr(migrations, "name", repr(migrations))
            if self.dialect != "sqlite":
                raise SchemaError(
                    f"migration set {name!r} uses sqlite_utils.Migrations, which runs on SQLite only:"
                    " declare its tables with kernel.Migrations (docs/plugins.md, Storage)"
                )
            warnings.warn(
                f"migration set {name!r} uses sqlite_utils.Migrations; declare its tables with"
                " kernel.Migrations to run on PostgreSQL too",
                DeprecationWarning,
                stacklevel=2,
            )
            migrations.apply(self.db)

    def pending_migrations(self, sets: list[Any]) -> list[str]:
        """``set.name`` of every migration :meth:`migrate` would apply, the kernel's first."""
        found: list[str] = []
        for migrations in [kernel_migrations, *sets]:
            if isinstance(migrations, Migrations):
                found += [f"{migrations.name}.{step}" for step in migrations.pending(self)]
            elif self.dialect == "sqlite":
                found += [f"{migrations.name}.{p.name}" for p in migrations.pending(self.db)]
        return found

    def is_new(self) -> bool:
        """True before the kernel's first migration ran (a new, empty database)."""
        return "m001_initial" not in applied(self, "kernel")

    @contextmanager
    def erasing(self) -> Iterator[None]:
        """Zero what the block deletes or overwrites, then checkpoint and empty the WAL (SQLite).

        For replacing secrets: the old bytes are not left in free space or in
        old WAL frames (the checkpoint waits for readers up to the busy timeout).
        Call outside a transaction. On PostgreSQL the block just runs: its dead
        row versions go when autovacuum reclaims them.
        """
        if self.dialect != "sqlite":
            yield
            return
        previous = self.conn.execute("PRAGMA secure_delete").fetchone()[0]
        self.conn.execute("PRAGMA secure_delete = ON")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA secure_delete = {int(previous)}")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def close(self) -> None:
        """Release every thread's connection (on SQLite the last one checkpoints the WAL)."""
        self.connections.close()

"""Connections to the database, one per thread, and transactions on them, for any backend.

A :class:`Backend` knows how to open, close and lock one kind of database
(:mod:`kernel.store.db` for the SQLite file, :mod:`kernel.store.postgres` for
PostgreSQL). :class:`Connections` gives every thread its own connection, so one
thread's open transaction is never seen or joined by another, and
:class:`Transactions` nests transactions on it with savepoints.

Every write transaction holds the database's write lock from BEGIN to COMMIT:
``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock on
PostgreSQL. Writes are therefore serialised cluster-wide, as SQLite serialises
them on one machine: a check-then-write inside a transaction (If-Match, a UID
conflict, a limit count, a default calendar) never races another writer on any
node, and change-feed sequence numbers are assigned in commit order, so a
consumer reading the feed by sequence never skips a row that commits late.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Generic, Protocol, TypeVar


class Connection(Protocol):
    """What the store needs of a connection: DB-API style ``execute`` returning a cursor."""

    def execute(self, sql: str, params: Any = ..., /) -> Any:
        """Run one statement; returns a cursor (fetchone, fetchall, iteration, rowcount)."""

    def executemany(self, sql: str, seq: Any, /) -> Any:
        """Run one statement for each parameter set."""

    @property
    def in_transaction(self) -> bool:
        """True while a transaction is open on this connection."""

    def set_trace_callback(self, callback: Any) -> None:
        """Call ``callback(sql)`` for every statement run (None: stop), as sqlite3 does."""


C = TypeVar("C", bound=Connection)


class Backend(Protocol, Generic[C]):
    """One kind of database: how to connect, begin a write transaction, and close.

    ``C`` is its kind of connection (``sqlite3.Connection``, or PostgreSQL's wrapper).
    """

    #: "sqlite" or "postgresql": the dialect DDL and the few backend-specific queries follow.
    dialect: str
    #: Exceptions a constraint violation raises.
    integrity_errors: tuple[type[BaseException], ...]
    #: Pieces of work run at once before the others wait their turn (``kernel.turns``): 1
    #: where statements run in this process (a second piece only competes for the
    #: interpreter), more where each statement waits on the network.
    at_once: int

    def connect(self) -> C:
        """A new connection (in autocommit mode: one statement, one transaction)."""

    def release(self, conn: C) -> None:
        """Give back a connection the thread no longer needs (close it, or return it to a pool)."""

    def broken(self, conn: C) -> bool:
        """Has the database dropped this connection (a restart, a failover)? It is then
        replaced before the thread's next statement outside a transaction."""

    def begin(self, conn: C) -> None:
        """Open a write transaction holding the database's write lock."""

    def begin_read(self, conn: C) -> None:
        """Open a read-only transaction that sees one consistent snapshot, without blocking writers."""

    def deferred(self, conn: C, *, outermost: bool = False) -> AbstractContextManager[Any]:
        """A block whose statements go out without waiting for each answer, where the backend
        can (a round trip per result read, not per statement); a plain block where it cannot.
        ``outermost``: the block is in the outermost transaction, so what it sent may wait for
        the transaction's next statement (its ``COMMIT``), and fail there."""

    def close(self) -> None:
        """Release everything the backend holds (a pool)."""

    def describe(self) -> str:
        """Where the data is, for messages (a file path, or a URL without its password)."""


class _Slot:
    """One thread's connection and how deep its transactions are nested."""

    __slots__ = ("__weakref__", "conn", "depth", "release")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.depth = 0
        self.release: Callable[[], Any] = lambda: None  # gives the connection back (set by Connections)


class StoreClosed(RuntimeError):
    """The store was used after :meth:`Connections.close`."""


class Connections:
    """The store's connections: each thread gets its own, opened on first use.

    Request handlers, jobs and the write pipeline run in worker threads. A
    thread's connection is released when the thread ends (anyio retires idle
    workers) or at :meth:`close`. Writers in this process queue on
    :attr:`write_lock` before asking the database for its write lock, instead
    of spinning in SQLite's busy handler or piling up on PostgreSQL's.
    """

    def __init__(self, backend: Backend[Any]) -> None:
        self.backend = backend
        self.write_lock = threading.Lock()
        self._local = threading.local()
        self._finalizers: set[weakref.finalize[Any, Any]] = set()
        self._slots: weakref.WeakSet[_Slot] = weakref.WeakSet()
        self._tracer: Callable[[str], Any] | None = None
        self._guard = threading.Lock()
        self._closed = False
        self.slot()  # connect now, so that a wrong path or URL surfaces at start-up

    def slot(self) -> _Slot:
        """This thread's connection slot, connecting if needed (again, when the database
        dropped the connection and no transaction is open on it)."""
        slot: _Slot | None = getattr(self._local, "slot", None)
        if slot is not None and not slot.depth and self.backend.broken(slot.conn):
            slot.release()
            slot = self._local.slot = None
        if slot is None:
            if self._closed:
                raise StoreClosed("the store is closed")
            conn = self.backend.connect()
            slot = self._local.slot = _Slot(conn)
            finalizer = weakref.finalize(slot, self.backend.release, conn)
            slot.release = finalizer
            with self._guard:
                self._finalizers = {f for f in self._finalizers if f.alive}
                self._finalizers.add(finalizer)
                self._slots.add(slot)
                if self._tracer is not None:
                    conn.set_trace_callback(self._tracer)
        return slot

    def live(self) -> list[Any]:
        """Every thread's open connection (for tools that watch them all, as tests do)."""
        with self._guard:
            return [slot.conn for slot in self._slots]

    def set_tracer(self, callback: Callable[[str], Any] | None) -> None:
        """Report every statement any thread runs to ``callback`` (None: stop)."""
        with self._guard:
            self._tracer = callback
            slots = list(self._slots)
        for slot in slots:
            slot.conn.set_trace_callback(callback)

    def close(self) -> None:
        """Release every thread's connection, then the backend."""
        self._closed = True
        with self._guard:
            finalizers = list(self._finalizers)
        for finalizer in finalizers:
            finalizer()
        self.backend.close()


class Transactions:
    """Nestable transactions on the calling thread's connection: a write transaction
    outside (:meth:`Backend.begin`), SAVEPOINTs inside."""

    def __init__(self, connections: Connections) -> None:
        self._connections = connections

    @property
    def active(self) -> bool:
        """True inside a transaction this thread opened."""
        return self._connections.slot().depth > 0

    @contextmanager
    def __call__(self) -> Iterator[None]:
        """Run the block in a transaction: all of it is committed, or none of it."""
        slot = self._connections.slot()
        conn = slot.conn
        lock = self._connections.write_lock
        if slot.depth == 0:
            lock.acquire()
            try:
                self._connections.backend.begin(conn)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                lock.release()
                raise
        else:
            conn.execute(f"SAVEPOINT sp{slot.depth}")
        slot.depth += 1
        try:
            yield
        except BaseException:
            slot.depth -= 1
            if slot.depth == 0:
                try:
                    conn.execute("ROLLBACK")
                finally:
                    lock.release()
            else:
                conn.execute(f"ROLLBACK TO SAVEPOINT sp{slot.depth}")
                conn.execute(f"RELEASE SAVEPOINT sp{slot.depth}")
            raise
        slot.depth -= 1
        if slot.depth == 0:
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                lock.release()
        else:
            conn.execute(f"RELEASE SAVEPOINT sp{slot.depth}")

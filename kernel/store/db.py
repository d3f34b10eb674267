"""Opening the SQLite file, one connection per thread, and transactions on them."""

from __future__ import annotations

import sqlite3
import threading
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlite_utils import Database

#: Seconds a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000


def open_database(path: str | Path) -> Database:
    """Open (creating if needed) the database file in WAL mode, tuned for a server.

    Each process, and each thread in it (:class:`Connections`), opens its own connection.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, cached_statements=256
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA cache_size = -32000")
    return Database(conn)


class _Slot:
    """One thread's connection and how deep its transactions are nested."""

    __slots__ = ("conn", "depth", "__weakref__")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.depth = 0


class Connections:
    """The store's connections: each thread gets its own, opened on first use.

    Request handlers, jobs and the write pipeline run in worker threads; a
    connection is never shared between two threads, so one thread's open
    transaction is never seen or joined by another. A thread's connection
    closes when the thread ends (anyio retires idle workers) or at :meth:`close`.
    Writers in this process queue on :attr:`write_lock` before ``BEGIN
    IMMEDIATE`` instead of spinning in SQLite's busy handler; other processes
    on the same file still wait through ``busy_timeout``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self.write_lock = threading.Lock()
        self._local = threading.local()
        self._slots: weakref.WeakSet[_Slot] = weakref.WeakSet()
        self._guard = threading.Lock()
        self._closed = False
        self.slot()  # open (and create) the file now, so errors surface at start-up

    def slot(self) -> _Slot:
        """This thread's connection slot, opening the connection if needed."""
        slot: _Slot | None = getattr(self._local, "slot", None)
        if slot is None:
            if self._closed:
                raise sqlite3.ProgrammingError("the store is closed")
            slot = self._local.slot = _Slot(open_database(self.path).conn)
            with self._guard:
                self._slots.add(slot)
        return slot

    def close(self) -> None:
        """Close every thread's connection (the last one to close checkpoints the WAL)."""
        self._closed = True
        with self._guard:
            slots = list(self._slots)
        for slot in slots:
            slot.conn.close()


class Transactions:
    """Nestable transactions on the calling thread's connection: BEGIN IMMEDIATE outside,
    SAVEPOINTs inside."""

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
                conn.execute("BEGIN IMMEDIATE")
            except BaseException:
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
                conn.execute(f"ROLLBACK TO sp{slot.depth}")
                conn.execute(f"RELEASE sp{slot.depth}")
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
            conn.execute(f"RELEASE sp{slot.depth}")

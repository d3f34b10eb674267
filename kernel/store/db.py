"""Opening the SQLite file, one connection per thread, and transactions on them."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlite_utils import Database

#: Seconds a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000
#: The database file is the owner's alone; SQLite gives its -wal and -shm files the same mode.
FILE_MODE = 0o600
#: The ``PRAGMA synchronous`` levels ``[kernel] synchronous`` may choose.
SYNCHRONOUS = ("normal", "full")

log = logging.getLogger("teamcal")


def open_database(path: str | Path, synchronous: str = "full") -> Database:
    """Open (creating if needed) the database file in WAL mode, tuned for a server.

    The file is created owner-only (0600) and an existing one (with its -wal
    and -shm files) is made so. ``synchronous`` is ``"full"`` (every commit is
    on disk when COMMIT returns) or ``"normal"``. Each process, and each thread
    in it (:class:`Connections`), opens its own connection.
    """
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    restrict_files(Path(path))
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, cached_statements=256
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA cache_size = -32000")
    return Database(conn)


def restrict_files(path: Path) -> None:
    """Create the database file with mode 0600 when missing; make it and its -wal and -shm 0600.

    No umask is changed (it is process-wide, and threads create files too): the
    file is created with an explicit mode, and SQLite creates -wal and -shm
    with the mode of the database file.
    """
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except FileExistsError:
        pass
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if file.stat().st_mode & 0o777 != FILE_MODE:
                file.chmod(FILE_MODE)
        except FileNotFoundError:
            continue
        except PermissionError:
            log.warning("teamcal: cannot make %s owner-only (mode 0600): it belongs to another user", file)


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

    def __init__(self, path: str | Path, synchronous: str = "full") -> None:
        self.path = path
        self.synchronous = synchronous
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
            slot = self._local.slot = _Slot(open_database(self.path, self.synchronous).conn)
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

"""The SQLite backend: opening the file with the server's pragmas, owner-only."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from sqlite_utils import Database

#: Seconds a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000
#: The database file is the owner's alone; SQLite gives its -wal and -shm files the same mode.
FILE_MODE = 0o600
#: Page cache of one connection (KiB), and what the caches of all connections in a process may
#: hold together (bytes, SQLite's soft heap limit): the server opens a connection per worker
#: thread, and 40 threads each caching 32 MB of a big file would hold over a gigabyte. Past
#: the limit SQLite recycles cached pages instead of allocating; the OS keeps the file cached.
CACHE_KIB = 32_000
CACHE_LIMIT = 96 * 1024 * 1024
#: The ``PRAGMA synchronous`` levels ``[kernel] synchronous`` may choose.
SYNCHRONOUS = ("normal", "full")

log = logging.getLogger("teamcal")


def open_database(path: str | Path, synchronous: str = "full") -> Database:
    """Open (creating if needed) the database file in WAL mode, tuned for a server.

    The file is created owner-only (0600) and an existing one (with its -wal
    and -shm files) is made so. ``synchronous`` is ``"full"`` (every commit is
    on disk when COMMIT returns) or ``"normal"``. Each process, and each thread
    in it (:class:`kernel.store.connections.Connections`), opens its own connection.
    """
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    restrict_files(Path(path))
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, cached_statements=256
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    for attempt in range(50):  # two processes making a new file at once: the switch to WAL is not
        try:                    # covered by busy_timeout, so the loser waits and tries again (5 s at most)
            conn.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError:
            if attempt == 49:
                raise
            time.sleep(0.1)
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute(f"PRAGMA soft_heap_limit = {CACHE_LIMIT}")  # process-wide: every connection's cache
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


class SQLiteBackend:
    """The embedded default: one SQLite file in WAL mode, a connection per thread."""

    dialect = "sqlite"
    integrity_errors: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)
    at_once = 1  # statements run in this process: a second piece would only compete for the interpreter

    def __init__(self, path: str | Path, synchronous: str = "full") -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
        self.path = path
        self.synchronous = synchronous

    def connect(self) -> sqlite3.Connection:
        """Open the file (creating it owner-only) with the server's pragmas."""
        return open_database(self.path, self.synchronous).conn

    def release(self, conn: sqlite3.Connection) -> None:
        """Close a thread's connection (the last one to close checkpoints the WAL)."""
        conn.close()

    def broken(self, conn: sqlite3.Connection) -> bool:
        """Never: a file does not drop its connections."""
        return False

    def begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE: take the file's write lock now, not at the first write."""
        conn.execute("BEGIN IMMEDIATE")

    def begin_read(self, conn: sqlite3.Connection) -> None:
        """BEGIN and a first read: the snapshot is taken now (WAL: writers go on meanwhile)."""
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()

    def deferred(self, conn: sqlite3.Connection, *, outermost: bool = False) -> AbstractContextManager[Any]:
        """A plain block: statements run in-process, there is no round trip to save."""
        return nullcontext()

    def close(self) -> None:
        """Nothing beyond the connections."""

    def describe(self) -> str:
        """The file's path."""
        return str(self.path)

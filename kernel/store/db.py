"""The SQLite backend: opening the file with the server's pragmas."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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


class SQLiteBackend:
    """The embedded default: one SQLite file in WAL mode, a connection per thread."""

    dialect = "sqlite"
    integrity_errors: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)

    def __init__(self, path: str | Path) -> None:
        self.path = path

    def connect(self) -> sqlite3.Connection:
        """Open the file (creating it) with the server's pragmas."""
        return open_database(self.path).conn

    def release(self, conn: sqlite3.Connection) -> None:  # type: ignore[override]
        """Close a thread's connection (the last one to close checkpoints the WAL)."""
        conn.close()

    def begin(self, conn: sqlite3.Connection) -> None:  # type: ignore[override]
        """BEGIN IMMEDIATE: take the file's write lock now, not at the first write."""
        conn.execute("BEGIN IMMEDIATE")

    def close(self) -> None:
        """Nothing beyond the connections."""

    def describe(self) -> str:
        """The file's path."""
        return str(self.path)

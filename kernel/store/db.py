"""Opening the SQLite file and running transactions on it."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlite_utils import Database

#: Seconds a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000


def open_database(path: str | Path) -> Database:
    """Open (creating if needed) the database file in WAL mode, tuned for a server.

    ``":memory:"`` is accepted for throwaway hosts. Each process (and each
    thread) opens its own connection.
    """
    if str(path) != ":memory:":
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


class Transactions:
    """Nestable transactions on one connection: BEGIN IMMEDIATE outside, SAVEPOINTs inside."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._depth = 0

    @property
    def active(self) -> bool:
        """True inside a transaction opened here."""
        return self._depth > 0

    @contextmanager
    def __call__(self) -> Iterator[None]:
        """Run the block in a transaction: all of it is committed, or none of it."""
        conn = self._conn
        if self._depth == 0:
            conn.execute("BEGIN IMMEDIATE")
        else:
            conn.execute(f"SAVEPOINT sp{self._depth}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                conn.execute("ROLLBACK")
            else:
                conn.execute(f"ROLLBACK TO sp{self._depth}")
                conn.execute(f"RELEASE sp{self._depth}")
            raise
        self._depth -= 1
        if self._depth == 0:
            conn.execute("COMMIT")
        else:
            conn.execute(f"RELEASE sp{self._depth}")

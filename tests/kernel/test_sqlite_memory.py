"""The page caches of all SQLite connections in a process stay within ``db.CACHE_LIMIT``.

The server opens a connection per worker thread; each may cache ``db.CACHE_KIB`` of the
file, and SQLite's soft heap limit (set by every ``open_database``) keeps their sum bounded.
What SQLite holds is read from the library itself (``sqlite3_memory_used``).
"""

from __future__ import annotations

import _sqlite3
import ctypes
import threading
from pathlib import Path

import pytest

from kernel.store import db

_LIB = ctypes.CDLL(_sqlite3.__file__)
_LIB.sqlite3_memory_used.restype = ctypes.c_int64
MB = 1024 * 1024
pytestmark = pytest.mark.sqlite_only


def scanned_by_threads(path: Path, threads: int) -> int:
    """SQLite's heap (bytes) while ``threads`` connections, one per thread, have each read the whole table."""
    opened = []

    def scan() -> None:
        database = db.open_database(path)
        opened.append(database)
        database.conn.execute("SELECT sum(length(b)) FROM t").fetchone()

    workers = [threading.Thread(target=scan) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    used = _LIB.sqlite3_memory_used()
    for database in opened:
        database.conn.close()
    return int(used)


@pytest.fixture
def twenty_mb_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.sqlite3"
    database = db.open_database(path, synchronous="normal")
    database.conn.execute("CREATE TABLE t (b BLOB)")
    database.conn.execute(
        "INSERT INTO t (b) WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 6000)"
        " SELECT randomblob(3500) FROM n"
    )
    database.conn.close()
    return path


def test_the_caches_of_many_connections_stay_within_the_limit(
    twenty_mb_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _LIB.sqlite3_memory_used()
    monkeypatch.setattr(db, "CACHE_LIMIT", 0)  # no limit: each connection caches the file
    unbounded = scanned_by_threads(twenty_mb_file, 4) - before
    monkeypatch.setattr(db, "CACHE_LIMIT", 8 * MB)
    bounded = scanned_by_threads(twenty_mb_file, 4) - before
    assert unbounded > 60 * MB  # four caches of about 20 MB: what the limit is for
    assert bounded < 8 * MB + 4 * MB  # the limit, with what connections hold besides their caches

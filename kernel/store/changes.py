"""The change feed: one global sequence behind sync tokens, ctags and every durable consumer."""

from __future__ import annotations

import time
from collections.abc import Callable

from kernel.store.connections import Connection
from kernel.types import Change, ChangeKind

_COLUMNS = "seq, collection_id, name, kind, etag, uid, principal_id, at"
_INSERT = (
    "INSERT INTO changes (collection_id, name, kind, etag, uid, principal_id, at, origin)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
#: The row and the collection's new sequence in one statement (a writing WITH runs to its end
#: whether or not the outer query reads it); in a deferred block it goes with the block's
#: other statements and its number is read after them, with the COMMIT's answer.
_RECORD_PG = (
    f"WITH c AS ({_INSERT} RETURNING seq),"
    " u AS (UPDATE collections SET sync_seq = (SELECT seq FROM c), modified = ? WHERE id = ?)"
    " SELECT seq FROM c"
)
#: PostgreSQL: the next resource id, taken ahead with the rows a write reads (what a rollback,
#: or a replace that needs no new id, leaves unused is a gap).
RESERVE_ID_PG = "SELECT nextval(pg_get_serial_sequence('resources', 'id'))"


class ChangeStore:
    """Mixin of :class:`kernel.store.Store` for the change feed."""

    conn: Connection
    dialect: str

    #: Written into every change row this store records: which process made it (a random
    #: number per store), so that :meth:`changes_by_others` can leave out this process's own.
    origin: int

    def send_change(
        self,
        collection_id: int,
        name: str | None,
        kind: ChangeKind,
        *,
        etag: str | None = None,
        uid: str | None = None,
        principal_id: int | None = None,
    ) -> Callable[[], Change]:
        """Append a change row and move the collection's sync sequence (inside a write
        transaction; one statement on PostgreSQL, two on SQLite, which has no writing WITH).
        Returns a function giving the change with its number: in a deferred block on
        PostgreSQL the row goes with the block's statements and, called after the block (or
        its COMMIT), the function reads the number without a round trip of its own. The number
        comes from the row's insert, under the write lock, so numbers follow commit order."""
        now = time.time()
        args = (collection_id, name, kind, etag, uid, principal_id, now, self.origin)
        if self.dialect == "postgresql":
            sent = self.conn.execute(_RECORD_PG, (*args, now, collection_id))
            return lambda: Change(sent.fetchone()[0], collection_id, name, kind, etag, uid, principal_id, now)
        seq = self.conn.execute(f"{_INSERT} RETURNING seq", args).fetchone()[0]
        self.conn.execute("UPDATE collections SET sync_seq = ?, modified = ? WHERE id = ?", (seq, now, collection_id))
        change = Change(seq, collection_id, name, kind, etag, uid, principal_id, now)
        return lambda: change

    def changes_since(self, seq: int, *, collection_id: int | None = None, limit: int | None = None) -> list[Change]:
        """Changes after ``seq`` in order (of one collection, or all), at most ``limit``."""
        sql = f"SELECT {_COLUMNS} FROM changes WHERE seq > ?"
        args: list[object] = [seq]
        if collection_id is not None:
            sql += " AND collection_id = ?"
            args.append(collection_id)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [Change(*r) for r in self.conn.execute(sql, args)]

    def changes_by_others(self, seq: int, *, limit: int) -> tuple[int, list[Change]]:
        """The feed after ``seq`` as far as ``limit`` rows: the number of the last row read
        (``seq`` when none) and the changes among them that other processes recorded (rows of
        another :attr:`origin`, or of none: written before rows named theirs)."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS}, origin FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        if not rows:
            return seq, []
        origin = self.origin
        return rows[-1][0], [Change(*row[:-1]) for row in rows if row[-1] != origin]

    def latest_seq(self) -> int:
        """The newest sequence number in the feed (0 when empty)."""
        row = self.conn.execute("SELECT max(seq) FROM changes").fetchone()
        return int(row[0] or 0)

    def oldest_seq(self, collection_id: int | None = None) -> int:
        """The oldest sequence number still in the feed (of one collection), 0 when empty."""
        if collection_id is None:
            row = self.conn.execute("SELECT min(seq) FROM changes").fetchone()
        else:
            row = self.conn.execute("SELECT min(seq) FROM changes WHERE collection_id = ?", (collection_id,)).fetchone()
        return int(row[0] or 0)

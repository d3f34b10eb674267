"""The change feed: one global sequence behind sync tokens, ctags and every durable consumer."""

from __future__ import annotations

import time

from kernel.store.connections import Connection
from kernel.types import Change, ChangeKind

_COLUMNS = "seq, collection_id, name, kind, etag, uid, principal_id, at"
_INSERT = "INSERT INTO changes (collection_id, name, kind, etag, uid, principal_id, at) VALUES (?, ?, ?, ?, ?, ?, ?)"
#: The row and the collection's new sequence in one round trip (a writing WITH runs to its end
#: whether or not the outer query reads it).
_RECORD_PG = (
    f"WITH c AS ({_INSERT} RETURNING seq),"
    " u AS (UPDATE collections SET sync_seq = (SELECT seq FROM c), modified = ? WHERE id = ?)"
    " SELECT seq FROM c"
)
#: PostgreSQL: the next change's sequence number and the next resource id, taken ahead (the
#: write lock is held, so changes are still numbered in commit order; what a rollback, or a
#: replace that needs no new id, leaves unused is a gap).
RESERVE_PG = (
    "SELECT nextval(pg_get_serial_sequence('changes', 'seq')), nextval(pg_get_serial_sequence('resources', 'id'))"
)
#: The row with a reserved number: nothing is read back, so it can go out with the COMMIT.
_RECORD_RESERVED_PG = (
    "WITH c AS (INSERT INTO changes (seq, collection_id, name, kind, etag, uid, principal_id, at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)) UPDATE collections SET sync_seq = ?, modified = ? WHERE id = ?"
)


class ChangeStore:
    """Mixin of :class:`kernel.store.Store` for the change feed."""

    conn: Connection
    dialect: str

    def record_change(
        self,
        collection_id: int,
        name: str | None,
        kind: ChangeKind,
        *,
        etag: str | None = None,
        uid: str | None = None,
        principal_id: int | None = None,
        seq: int | None = None,
    ) -> Change:
        """Append a change row and move the collection's sync sequence (inside a write transaction;
        one statement on PostgreSQL, two on SQLite, which has no writing WITH). ``seq``: the number
        :meth:`~kernel.store.resources.ResourceStore.resource_for_write` reserved (PostgreSQL),
        written without reading anything back."""
        now = time.time()
        args = (collection_id, name, kind, etag, uid, principal_id, now)
        if self.dialect == "postgresql" and seq is not None:
            self.conn.execute(_RECORD_RESERVED_PG, (seq, *args, seq, now, collection_id))
        elif self.dialect == "postgresql":
            seq = self.conn.execute(_RECORD_PG, (*args, now, collection_id)).fetchone()[0]
        else:
            seq = self.conn.execute(f"{_INSERT} RETURNING seq", args).fetchone()[0]
            self.conn.execute(
                "UPDATE collections SET sync_seq = ?, modified = ? WHERE id = ?", (seq, now, collection_id)
            )
        return Change(seq, collection_id, name, kind, etag, uid, principal_id, now)

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

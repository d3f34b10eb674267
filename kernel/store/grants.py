"""Grants: read, write or admin on a collection to a user, a group or everyone."""

from __future__ import annotations

from kernel.store.connections import Connection
from kernel.store.tables import one_of_chunks
from kernel.types import PRIVILEGES, Privilege, Rejected

#: The grantee id that stands for every authenticated principal.
EVERYONE = 0


class GrantStore:
    """Mixin of :class:`kernel.store.Store` for grants."""

    conn: Connection
    dialect: str

    def grant(self, collection_id: int, grantee_id: int, privilege: Privilege) -> None:
        """Give a principal (or EVERYONE) a privilege on a collection, replacing an earlier grant."""
        if privilege not in PRIVILEGES:
            raise Rejected(400, None, f"Unknown privilege {privilege!r}: use read, write or admin.")
        self.conn.execute(
            "INSERT INTO grants (collection_id, grantee_id, privilege) VALUES (?, ?, ?)"
            " ON CONFLICT (collection_id, grantee_id) DO UPDATE SET privilege = excluded.privilege",
            (collection_id, grantee_id, privilege),
        )

    def revoke(self, collection_id: int, grantee_id: int) -> None:
        """Remove a principal's (or EVERYONE's) grant on a collection."""
        self.conn.execute("DELETE FROM grants WHERE collection_id = ? AND grantee_id = ?", (collection_id, grantee_id))

    def grants(self, collection_id: int) -> list[tuple[int, Privilege]]:
        """(grantee id, privilege) pairs of a collection; grantee 0 is everyone."""
        rows = self.conn.execute(
            "SELECT grantee_id, privilege FROM grants WHERE collection_id = ? ORDER BY grantee_id", (collection_id,)
        )
        return [(r[0], r[1]) for r in rows]

    def grants_of(self, collection_ids: list[int]) -> dict[int, list[tuple[int, Privilege]]]:
        """:meth:`grants` of several collections, by collection id (those without any left out):
        one query per 500."""
        found: dict[int, list[tuple[int, Privilege]]] = {}
        for among, values in one_of_chunks(self.dialect, "collection_id", collection_ids):
            rows = self.conn.execute(
                f"SELECT collection_id, grantee_id, privilege FROM grants WHERE {among} ORDER BY grantee_id", values
            )
            for collection_id, grantee, privilege in rows:
                found.setdefault(collection_id, []).append((grantee, privilege))
        return found

    def all_grants(self) -> list[tuple[int, int, Privilege]]:
        """Every grant of the server as (collection id, grantee id, privilege), by collection."""
        rows = self.conn.execute(
            "SELECT collection_id, grantee_id, privilege FROM grants ORDER BY collection_id, grantee_id"
        )
        return [(r[0], r[1], r[2]) for r in rows]

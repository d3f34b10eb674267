"""Users, groups and group membership."""

from __future__ import annotations

import time
from typing import Any

from kernel.names import check_principal_name
from kernel.store.connections import Connection
from kernel.store.tables import check_identifiers, one_of_chunks
from kernel.types import Principal, PrincipalKind, Rejected

_COLUMNS = "id, name, kind, display_name, email, is_admin"
#: :data:`_COLUMNS` of the principals table aliased ``p``.
_P_COLUMNS = ", ".join("p." + c.strip() for c in _COLUMNS.split(","))


def _principal(row: tuple[Any, ...]) -> Principal:
    return Principal(
        id=row[0], name=row[1], kind=row[2], display_name=row[3], email=row[4], is_admin=bool(row[5])
    )


class PrincipalStore:
    """Mixin of :class:`kernel.store.Store` for principals."""

    conn: Connection
    dialect: str

    def create_principal(
        self,
        name: str,
        kind: PrincipalKind,
        *,
        display_name: str | None = None,
        email: str | None = None,
        password_hash: str | None = None,
        is_admin: bool = False,
    ) -> Principal:
        """Create a user or group; 409 when the name is taken."""
        check_principal_name(name)
        row = self.conn.execute(
            "INSERT INTO principals (name, kind, display_name, email, password_hash, is_admin, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING id",
            (name, kind, display_name or name, email, password_hash, int(is_admin), time.time()),
        ).fetchone()
        if row is None:
            raise Rejected(409, None, f"A principal named {name!r} already exists.")
        return Principal(row[0], name, kind, display_name or name, email, is_admin)

    def principal(self, name: str) -> Principal | None:
        """The principal called ``name``, or None."""
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM principals WHERE name = ?", (name,)).fetchone()
        return _principal(row) if row else None

    def principal_with_hash(self, name: str) -> tuple[Principal | None, str | None]:
        """The principal called ``name`` and its stored password hash, in one query ((None, None) when absent)."""
        row = self.conn.execute(
            f"SELECT {_COLUMNS}, password_hash FROM principals WHERE name = ?", (name,)
        ).fetchone()
        return (_principal(row), row[6]) if row else (None, None)

    def principal_by_id(self, principal_id: int) -> Principal | None:
        """The principal with this id, or None."""
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM principals WHERE id = ?", (principal_id,)).fetchone()
        return _principal(row) if row else None

    def principals_by_ids(self, principal_ids: list[int]) -> dict[int, Principal]:
        """The principals with these ids, by id (those that do not exist left out): one query
        per 500 (the grantees of a calendar, say)."""
        found: dict[int, Principal] = {}
        for among, values in one_of_chunks(self.dialect, "id", principal_ids):
            for row in self.conn.execute(f"SELECT {_COLUMNS} FROM principals WHERE {among}", values):
                principal = _principal(row)
                found[principal.id] = principal
        return found

    def principals(self, kind: PrincipalKind | None = None) -> list[Principal]:
        """Every principal (of one kind), by name."""
        if kind:
            rows = self.conn.execute(
                f"SELECT {_COLUMNS} FROM principals WHERE kind = ? ORDER BY name", (kind,)
            )
        else:
            rows = self.conn.execute(f"SELECT {_COLUMNS} FROM principals ORDER BY name")
        return [_principal(r) for r in rows]

    def password_hash(self, principal_id: int) -> str | None:
        """The stored password hash of a user (None for groups and users without one)."""
        row = self.conn.execute("SELECT password_hash FROM principals WHERE id = ?", (principal_id,)).fetchone()
        return row[0] if row else None

    def replace_password_hash(self, principal_id: int, old: str, new: str) -> bool:
        """Set a user's hash to ``new`` if it is still ``old`` (inside a write transaction);
        False when it changed meanwhile (a password change wins over a hash upgrade)."""
        cur = self.conn.execute(
            "UPDATE principals SET password_hash = ? WHERE id = ? AND password_hash = ?", (new, principal_id, old)
        )
        return bool(cur.rowcount == 1)

    def update_principal(self, principal_id: int, **fields: object) -> None:
        """Change display_name, email, password_hash or is_admin."""
        allowed = {"display_name", "email", "password_hash", "is_admin"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {', '.join(sorted(unknown))}")
        if fields:
            sets = ", ".join(f"{k} = ?" for k in fields)
            self.conn.execute(f"UPDATE principals SET {sets} WHERE id = ?", (*fields.values(), principal_id))

    def delete_principal(self, principal_id: int) -> None:
        """Delete a principal, its memberships, its grants and (by cascade) its home."""
        self.conn.execute("DELETE FROM grants WHERE grantee_id = ?", (principal_id,))
        self.conn.execute("DELETE FROM principals WHERE id = ?", (principal_id,))

    def add_member(self, group_id: int, member_id: int, *, admin: bool = False) -> None:
        """Make a principal a member of a group (idempotent); ``admin`` makes (never unmakes) a group admin."""
        self.conn.execute(
            "INSERT INTO memberships (group_id, member_id, admin) VALUES (?, ?, ?)"
            " ON CONFLICT (group_id, member_id) DO UPDATE SET"
            " admin = CASE WHEN excluded.admin = 1 THEN 1 ELSE memberships.admin END",
            (group_id, member_id, int(admin)),
        )

    def set_group_admin(self, group_id: int, member_id: int, admin: bool) -> None:
        """Give or take back the admin role of a member; 404 when it is not a direct member."""
        cur = self.conn.execute(
            "UPDATE memberships SET admin = ? WHERE group_id = ? AND member_id = ?", (int(admin), group_id, member_id)
        )
        if cur.rowcount == 0:
            raise Rejected(404, None, "Not a direct member of this group.")

    def remove_member(self, group_id: int, member_id: int) -> None:
        """Remove a principal from a group."""
        self.conn.execute("DELETE FROM memberships WHERE group_id = ? AND member_id = ?", (group_id, member_id))

    def members(self, group_id: int) -> list[Principal]:
        """The direct members of a group."""
        return [member for member, _ in self.memberships(group_id)]

    def memberships(self, group_id: int) -> list[tuple[Principal, bool]]:
        """(member, is group admin) for the direct members of a group, by name."""
        rows = self.conn.execute(
            f"SELECT {_P_COLUMNS}, m.admin FROM principals p"
            " JOIN memberships m ON m.member_id = p.id WHERE m.group_id = ? ORDER BY p.name",
            (group_id,),
        )
        return [(_principal(r), bool(r[6])) for r in rows]

    def every_membership(self) -> dict[int, list[tuple[Principal, bool]]]:
        """:meth:`memberships` of every group with members, by group id, in one statement
        (a listing of all groups)."""
        rows = self.conn.execute(
            f"SELECT m.group_id, {_P_COLUMNS}, m.admin"
            " FROM memberships m JOIN principals p ON p.id = m.member_id ORDER BY p.name"
        )
        found: dict[int, list[tuple[Principal, bool]]] = {}
        for row in rows:
            found.setdefault(row[0], []).append((_principal(row[1:7]), bool(row[7])))
        return found

    def every_groups_of(self) -> dict[int, list[Principal]]:
        """:meth:`groups_of` of every principal in a group, by its id, in one statement (a
        listing of all accounts): the groups each belongs to directly or through other groups,
        by name."""
        rows = self.conn.execute(
            f"SELECT m.member_id, {_P_COLUMNS}"
            " FROM memberships m JOIN principals p ON p.id = m.group_id"
        )
        direct: dict[int, list[Principal]] = {}
        for row in rows:
            direct.setdefault(row[0], []).append(_principal(row[1:7]))
        found: dict[int, list[Principal]] = {}
        for member in direct:
            seen: dict[int, Principal] = {}
            waiting = list(direct[member])
            while waiting:  # each group once, so a cycle of groups ends too
                group = waiting.pop()
                if group.id not in seen:
                    seen[group.id] = group
                    waiting.extend(direct.get(group.id, ()))
            found[member] = sorted(seen.values(), key=lambda g: g.name)
        return found

    def group_roles(self, principal_id: int) -> dict[int, bool]:
        """Every group a principal belongs to, directly or through other groups, with whether it
        is an admin of it: it, or a group it belongs to, is an admin member of that group."""
        rows = self.conn.execute(
            "WITH RECURSIVE g(id) AS (SELECT CAST(? AS BIGINT)"
            " UNION SELECT m.group_id FROM memberships m JOIN g ON m.member_id = g.id)"
            " SELECT m.group_id, max(m.admin) FROM memberships m JOIN g ON m.member_id = g.id GROUP BY m.group_id",
            (principal_id,),
        )
        return {group_id: bool(admin) for group_id, admin in rows}

    def groups_of(self, principal_id: int) -> list[Principal]:
        """The groups a principal belongs to, directly or through other groups."""
        rows = self.conn.execute(
            "WITH RECURSIVE g(id) AS (SELECT group_id FROM memberships WHERE member_id = ?"
            " UNION SELECT m.group_id FROM memberships m JOIN g ON m.member_id = g.id)"
            f" SELECT {_P_COLUMNS} FROM principals p"
            " JOIN g ON g.id = p.id ORDER BY p.name",
            (principal_id,),
        )
        return [_principal(r) for r in rows]

    def groups_and_rows(
        self, principal: str | int, table: str, columns: tuple[str, ...], key: str = "principal_id"
    ) -> tuple[list[Principal], dict[int, list[tuple[Any, ...]]]]:
        """The groups a principal (name or id) belongs to (as :meth:`groups_of` gives them) and,
        in the same statement, the ``columns`` of a plugin's ``table`` rows whose ``key`` is the
        principal or one of those groups, by that id: settings an account takes from its
        groups, read in one round trip."""
        rows = self.conn.execute(*self.groups_and_rows_statement(principal, table, columns, key))
        groups: dict[int, Principal] = {}
        found: dict[int, list[tuple[Any, ...]]] = {}
        for row in rows:
            member = _principal(row)
            if principal not in (member.id, member.name):
                groups.setdefault(member.id, member)
            if row[-1] is not None:
                found.setdefault(member.id, []).append(tuple(row[6:-1]))
        return list(groups.values()), found

    def principal_and_row(
        self, table: str, columns: tuple[str, ...], key: str = "principal_id", **equal: Any
    ) -> tuple[Principal, str | None, tuple[Any, ...]] | None:
        """A row of a plugin's ``table`` whose columns hold ``equal``'s values (a session or a
        token by its hash), with the principal its ``key`` names and that principal's stored
        password hash: ``(principal, hash, columns' values)``, in one statement, or None when
        there is no such row. ValueError for a table or column name that is not an identifier,
        or without ``equal``."""
        if not equal:
            raise ValueError("principal_and_row finds its row by at least one column")
        check_identifiers(table, key, *columns, *equal)
        picked = "".join(f", t.{c}" for c in columns)
        where = " AND ".join(f"t.{column} = ?" for column in equal)
        row = self.conn.execute(
            f"SELECT {_P_COLUMNS}, p.password_hash{picked}"
            f" FROM {table} t JOIN principals p ON p.id = t.{key} WHERE {where}",
            tuple(equal.values()),
        ).fetchone()
        return (_principal(row), row[6], tuple(row[7:])) if row else None

    @staticmethod
    def principal_rows_statement(
        principal: str, table: str, columns: tuple[str, ...], key: str = "principal_id", **equal: Any
    ) -> tuple[str, tuple[Any, ...]]:
        """A statement reading ``columns`` of a plugin's ``table``: its rows naming ``principal``
        (by name, as a URL gives it) in ``key`` whose columns hold ``equal``'s values. So a
        request can name the read ahead of its account's (``dav_reads_ahead``); run it with
        ``store.execute``. ValueError for a table or column name that is not an identifier."""
        check_identifiers(table, key, *columns, *equal)
        picked = ", ".join(f"t.{c}" for c in columns)
        where = "".join(f" AND t.{column} = ?" for column in equal)
        return (
            f"SELECT {picked} FROM {table} t JOIN principals p ON p.id = t.{key} WHERE p.name = ?{where}",
            (principal, *equal.values()),
        )

    @staticmethod
    def groups_and_rows_statement(
        principal: str | int, table: str, columns: tuple[str, ...], key: str = "principal_id"
    ) -> tuple[str, tuple[Any, ...]]:
        """The statement :meth:`groups_and_rows` runs (to name it ahead: ``store.expecting``);
        ValueError for a table or column name that is not an identifier."""
        check_identifiers(table, key, *columns)
        picked = ", ".join(f"t.{c}" for c in (*columns, key))
        start = "SELECT id FROM principals WHERE name = ?" if isinstance(principal, str) else "SELECT CAST(? AS BIGINT)"
        return (
            f"WITH RECURSIVE g(id) AS ({start}"
            " UNION SELECT m.group_id FROM memberships m JOIN g ON m.member_id = g.id)"
            f" SELECT {_P_COLUMNS}, {picked}"
            f" FROM g JOIN principals p ON p.id = g.id LEFT JOIN {table} t ON t.{key} = g.id ORDER BY p.name",
            (principal,),
        )

"""Calendars and plain WebDAV collections in principals' homes."""

from __future__ import annotations

import time
from typing import Any

from kernel.names import canonical_name, check_path
from kernel.store.connections import Connection
from kernel.store.resources import RESOURCE_COLUMNS, RESOURCE_FIELDS, resource_of
from kernel.store.tables import check_identifiers, one_of, one_of_chunks
from kernel.types import Collection, CollectionKind, Principal, Rejected, Resource

#: RFC 4791 5.3.1 / 5.3.2: where a calendar collection may be made, copied or moved to.
LOCATION_OK = "{urn:ietf:params:xml:ns:caldav}calendar-collection-location-ok"


def inside_calendar(kind: CollectionKind) -> Rejected:
    """The refusal of a collection of ``kind`` made, copied or moved into a calendar (calendars
    hold no collections); a calendar names the CalDAV precondition."""
    return Rejected(403, LOCATION_OK if kind == "calendar" else None,
                    "A calendar collection cannot contain other collections.")

_SELECT = (
    "SELECT c.id, c.path, c.kind, c.display_name, c.description, c.color, c.sort_order, c.timezone,"
    " c.components, c.transparent, c.created, c.modified, c.sync_seq,"
    " p.id, p.name, p.kind, p.display_name, p.email, p.is_admin, c.sync_floor"
    " FROM collections c JOIN principals p ON p.id = c.owner_id"
)
#: Columns of :data:`_SELECT` (the resource a path names follows them in a member query).
_WIDTH = _SELECT.split(" FROM ", 1)[0].count(",") + 1
_MEMBER = ", ".join(f"r.{column.strip()}" for column in RESOURCE_COLUMNS.split(","))

#: Attributes of a collection that writes may set, with their column names.
ATTRIBUTES = ("display_name", "description", "color", "sort_order", "timezone", "components", "transparent")


def _collection(row: tuple[Any, ...]) -> Collection:
    owner = Principal(row[13], row[14], row[15], row[16], row[17], bool(row[18]))
    return Collection(
        id=row[0],
        owner=owner,
        path=row[1],
        kind=row[2],
        display_name=row[3],
        description=row[4],
        color=row[5],
        sort_order=row[6],
        timezone=row[7],
        components=tuple(c for c in row[8].split(",") if c),
        transparent=bool(row[9]),
        created=row[10],
        modified=row[11],
        sync_seq=row[12],
        sync_floor=row[19],
    )


def _column_values(attrs: dict[str, Any]) -> dict[str, Any]:
    unknown = set(attrs) - set(ATTRIBUTES)
    if unknown:
        raise ValueError(f"unknown collection attributes: {', '.join(sorted(unknown))}")
    values = dict(attrs)
    if "components" in values:
        values["components"] = ",".join(values["components"] or ())
    if "transparent" in values:
        values["transparent"] = int(bool(values["transparent"]))
    return values


class CollectionStore:
    """Mixin of :class:`kernel.store.Store` for collections."""

    conn: Connection
    dialect: str

    def collection(self, owner: str | int, path: str) -> Collection | None:
        """The collection at ``path`` (in any Unicode normal form) in the home of ``owner`` (name or
        id), or None."""
        key = "p.id" if isinstance(owner, int) else "p.name"
        row = self.conn.execute(f"{_SELECT} WHERE {key} = ? AND c.path = ?", (owner, canonical_name(path))).fetchone()
        return _collection(row) if row else None

    def collections_at(self, owner: str | int, paths: list[str]) -> dict[str, Collection]:
        """The collections at any of ``paths`` in the home of ``owner`` (name or id), in one query,
        by their stored (canonical) path: a resource URL's collection and its parent without two
        round trips."""
        rows = self.conn.execute(*self.collections_at_statement(owner, paths))
        return {c.path: c for c in map(_collection, rows.fetchall())}

    @staticmethod
    def collections_at_statement(owner: str | int, paths: list[str]) -> tuple[str, tuple[Any, ...]]:
        """The statement :meth:`collections_at` runs (to name it ahead: ``store.expecting``)."""
        wanted = sorted({canonical_name(p) for p in paths})
        key = "p.id" if isinstance(owner, int) else "p.name"
        return f"{_SELECT} WHERE {key} = ? AND c.path IN ({', '.join('?' * len(wanted))})", (owner, *wanted)

    def collections_with_member(
        self, owner: str | int, path: str, parent: str, name: str, *, with_data: bool = False
    ) -> tuple[dict[str, Collection], Resource | None, bytes | None]:
        """What a resource URL in the home of ``owner`` (name or id) may name, in one statement:
        the collections at ``path`` and at ``parent`` (as :meth:`collections_at` gives them), and
        the resource ``name`` of the one at ``parent`` (None when there is none), with its
        content when asked."""
        statement = self.collections_with_member_statement(owner, path, parent, name, with_data=with_data)
        rows = self.conn.execute(*statement).fetchall()
        found: dict[str, Collection] = {}
        resource: Resource | None = None
        content: bytes | None = None
        for row in rows:
            collection = _collection(row)
            found[collection.path] = collection
            if row[_WIDTH] is not None:
                resource = resource_of(row[_WIDTH : _WIDTH + len(RESOURCE_FIELDS)])
                content = row[-1] if with_data else None
        return found, resource, content

    @staticmethod
    def collections_with_member_statement(
        owner: str | int, path: str, parent: str, name: str, *, with_data: bool = False
    ) -> tuple[str, tuple[Any, ...]]:
        """The statement :meth:`collections_with_member` runs (to name it ahead: ``store.expecting``)."""
        wanted = sorted({canonical_name(path), canonical_name(parent)})
        data = ", r.data" if with_data else ""
        key = "p.id" if isinstance(owner, int) else "p.name"
        sql = (
            _SELECT.replace(" FROM ", f", {_MEMBER}{data} FROM ", 1)
            + " LEFT JOIN resources r ON r.collection_id = c.id AND c.path = ? AND r.name = ?"
            + f" WHERE {key} = ? AND c.path IN ({', '.join('?' * len(wanted))})"
        )
        return sql, (canonical_name(parent), canonical_name(name), owner, *wanted)

    def collection_by_id(self, collection_id: int) -> Collection | None:
        """The collection with this id, or None."""
        row = self.conn.execute(f"{_SELECT} WHERE c.id = ?", (collection_id,)).fetchone()
        return _collection(row) if row else None

    @staticmethod
    def home_rows_statement(
        owner: str, table: str, columns: tuple[str, ...], key: str = "collection_id"
    ) -> tuple[str, tuple[str]]:
        """A statement reading ``columns`` of a plugin's ``table`` for the collections in the
        home of ``owner``, the table's rows naming their collection's id in ``key``: by the
        owner's name, as a URL gives it, so that a request can name it ahead
        (``dav_reads_ahead``). Run it with ``store.execute``; ValueError for a table or
        column name that is not an identifier."""
        check_identifiers(table, key, *columns)
        picked = ", ".join(f"t.{c}" for c in columns)
        return (
            f"SELECT {picked} FROM {table} t JOIN collections c ON c.id = t.{key}"
            " JOIN principals p ON p.id = c.owner_id WHERE p.name = ?",
            (owner,),
        )

    def collections_by_ids(self, collection_ids: list[int]) -> dict[int, Collection]:
        """The collections with these ids, by id (those that do not exist left out): one query
        per 500."""
        found: dict[int, Collection] = {}
        for among, values in one_of_chunks(self.dialect, "c.id", collection_ids):
            for row in self.conn.execute(f"{_SELECT} WHERE {among}", values):
                collection = _collection(row)
                found[collection.id] = collection
        return found

    def collections_of_owners(
        self, owner_ids: list[int], *, top_level: bool = True, kind: CollectionKind | None = None
    ) -> list[Collection]:
        """The collections (only the top-level ones when ``top_level``; of one ``kind``) of
        several owners, their groups' calendars say, by owner in the order given, then by
        path: one query per 500 owners."""
        found: list[Collection] = []
        for first in range(0, len(owner_ids), 500):
            among, values = one_of(self.dialect, "p.id", owner_ids[first : first + 500])
            sql = f"{_SELECT} WHERE {among}" + (" AND c.path NOT LIKE '%/%'" if top_level else "")
            if kind:
                sql += " AND c.kind = ?"
                values.append(kind)
            found += [_collection(r) for r in self.conn.execute(sql + " ORDER BY c.path", values)]
        place = {owner_id: i for i, owner_id in reversed(list(enumerate(owner_ids)))}
        return sorted(found, key=lambda c: place[c.owner.id])  # stable: by path within an owner

    def collections(
        self, owner: str | int, *, parent: str | None = "", kind: CollectionKind | None = None
    ) -> list[Collection]:
        """Collections in a home (of ``owner``, a name or an id): the direct children of
        ``parent`` ("" = top level, None = all)."""
        statement = self.collections_statement(owner, parent=parent, kind=kind)
        return [_collection(r) for r in self.conn.execute(*statement)]

    @staticmethod
    def collections_statement(
        owner: str | int, *, parent: str | None = "", kind: CollectionKind | None = None
    ) -> tuple[str, tuple[Any, ...]]:
        """The statement :meth:`collections` runs (to name it ahead: ``store.expecting``)."""
        key = "p.id" if isinstance(owner, int) else "p.name"
        sql = f"{_SELECT} WHERE {key} = ?"
        args: list[Any] = [owner]
        if parent is not None:
            if parent:
                sql += " AND c.path LIKE ? ESCAPE '\\' AND c.path NOT LIKE ? ESCAPE '\\'"
                args += [_like_prefix(parent), _like_prefix(parent) + "/%"]
            else:
                sql += " AND c.path NOT LIKE '%/%'"
        if kind:
            sql += " AND c.kind = ?"
            args.append(kind)
        return sql + " ORDER BY c.path", tuple(args)

    def count_collections(self, owner_id: int, kind: CollectionKind | None = None) -> int:
        """How many collections (of one kind) a principal owns."""
        if kind:
            row = self.conn.execute(
                "SELECT count(*) FROM collections WHERE owner_id = ? AND kind = ?", (owner_id, kind)
            ).fetchone()
        else:
            row = self.conn.execute("SELECT count(*) FROM collections WHERE owner_id = ?", (owner_id,)).fetchone()
        return int(row[0])

    def insert_collection(self, owner: Principal, path: str, kind: CollectionKind, attrs: dict[str, Any]) -> Collection:
        """Insert a collection row (inside a write transaction; see kernel.writes)."""
        check_path(path)
        if "/" in path:
            parent = self.collection(owner.id, path.rsplit("/", 1)[0])
            if parent is None:
                raise Rejected(409, None, "The parent collection does not exist.")
            if parent.kind != "plain":
                raise inside_calendar(kind)
        values = _column_values(attrs)
        now = time.time()
        columns = ["owner_id", "path", "kind", "created", "modified", *values]
        row = self.conn.execute(
            f"INSERT INTO collections ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            " ON CONFLICT (owner_id, path) DO NOTHING RETURNING id",
            (owner.id, path, kind, now, now, *values.values()),
        ).fetchone()
        if row is None:
            raise Rejected(405, None, "A collection already exists at this path.")
        created = self.collection_by_id(row[0])
        assert created is not None
        return created

    def update_collection_row(self, collection_id: int, attrs: dict[str, Any]) -> None:
        """Set collection attributes (inside a write transaction)."""
        values = _column_values(attrs)
        if values:
            sets = ", ".join(f"{k} = ?" for k in values)
            self.conn.execute(
                f"UPDATE collections SET {sets}, modified = ? WHERE id = ?",
                (*values.values(), time.time(), collection_id),
            )

    def descendants(self, collection: Collection) -> list[Collection]:
        """Every collection below this one, parents before children."""
        rows = self.conn.execute(
            f"{_SELECT} WHERE c.owner_id = ? AND c.path LIKE ? ESCAPE '\\' ORDER BY c.path",
            (collection.owner.id, _like_prefix(collection.path)),
        )
        return [_collection(r) for r in rows]

    def delete_collection_row(self, collection_id: int) -> None:
        """Delete one collection row, its resources, properties and index (no children)."""
        self.conn.execute("DELETE FROM collections WHERE id = ?", (collection_id,))

    def rename_collection_tree(self, collection: Collection, owner: Principal, path: str) -> None:
        """Move a collection and everything below it to ``path`` in ``owner``'s home."""
        check_path(path)
        old = collection.path
        for c in [collection, *self.descendants(collection)]:
            new_path = path + c.path[len(old):]
            self.conn.execute(
                "UPDATE collections SET owner_id = ?, path = ?, modified = ? WHERE id = ?",
                (owner.id, new_path, time.time(), c.id),
            )


def _like_prefix(path: str) -> str:
    escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "/%"

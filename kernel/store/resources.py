"""Resources (calendar objects and plain files) and their raw content."""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from kernel.names import canonical_name, check_segment
from kernel.store.changes import RESERVE_ID_PG
from kernel.store.connections import Connection
from kernel.store.properties import BYTE_LENGTH
from kernel.store.tables import one_of_chunks
from kernel.types import Resource

RESOURCE_COLUMNS = (
    "id, collection_id, name, etag, content_type, size, uid, component, created, modified,"
    " created_by, modified_by, index_digest"
)


RESOURCE_FIELDS = tuple(f.name for f in dataclasses.fields(Resource))
_new = object.__new__


def resource_of(row: tuple[Any, ...]) -> Resource:
    """A Resource from a row in a third of the time ``Resource(*row)`` takes.

    The frozen dataclass's ``__init__`` sets each of the 12 fields through
    ``object.__setattr__``; a listing of 100,000 objects builds 100,000 of them,
    so the fields go into the instance dictionary at once (same object, same
    equality and hash).
    """
    resource = _new(Resource)
    resource.__dict__.update(zip(RESOURCE_FIELDS, row))
    return resource


def _record_fields(fields: Iterable[str]) -> tuple[str, ...]:
    """``name`` and ``fields``, each once, checked to be Resource fields (they become SQL)."""
    wanted = tuple(dict.fromkeys(("name", *fields)))
    unknown = set(wanted) - set(RESOURCE_FIELDS)
    if unknown:
        raise ValueError(f"not resource fields: {sorted(unknown)}")
    return wanted


@functools.cache
def _listing_record(fields: tuple[str, ...]) -> Any:
    """The record type :meth:`ResourceStore.iter_listing` yields for these fields."""
    return collections.namedtuple("ListedResource", fields)


def make_etag(data: bytes) -> str:
    """A strong ETag derived from the content (quoted, as HTTP sends it): a digest of the bytes,
    so equal ETags mean equal content (plugins key what they derive from content by it)."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


#: How many times the first page the largest page of a listing is.
PAGE_GROWTH = 8


def page_sizes(first: int) -> Iterator[int]:
    """The sizes of a listing's pages: ``first`` (a small collection, and the start of a big
    one's answer, come at once), then doubling up to :data:`PAGE_GROWTH` times ``first``: a
    listing of 10,000 takes 5 statements (round trips on PostgreSQL) at 500, not 20."""
    size = first
    while True:
        yield size
        size = min(size * 2, first * PAGE_GROWTH)


#: The columns a new resource row is written with, and their markers.
_INSERTED = (
    "collection_id, name, uid, component, etag, content_type, size, data,"
    " indexed_until, created, modified, created_by, modified_by, index_digest"
)
_MARKS = ", ".join("?" * (_INSERTED.count(",") + 1))
#: The resource of a name in a collection.
_BY_NAME = f"SELECT {RESOURCE_COLUMNS} FROM resources WHERE collection_id = ? AND name = ?"


#: A write's check that a row read before its transaction is unchanged (:meth:`ResourceStore.guard_row`):
#: how many rows hold that id and content (1 or 0); on PostgreSQL a division by zero (SQLSTATE
#: 22012) when none does, so that the statements sent after it in the same batch are skipped
#: and the transaction fails.
_HOLDS = "SELECT count(*) FROM resources WHERE id = ? AND etag = ?"
#: :data:`_HOLDS` for a row whose index digest was relied on too.
_HOLDS_INDEXED = f"{_HOLDS} AND index_digest = ?"
_GUARD_PG = {False: f"SELECT 1 / ({_HOLDS})", True: f"SELECT 1 / ({_HOLDS_INDEXED})"}
_DIVISION_BY_ZERO = "22012"


class StaleRow(Exception):
    """A row a write was given as read before its transaction had changed by then."""


def _by_uid(hint: str = "") -> str:
    """The statement reading the calendar object holding a UID in a collection (``hint``: an
    ``INDEXED BY`` clause)."""
    return f"SELECT {RESOURCE_COLUMNS} FROM resources{hint} WHERE collection_id = ? AND uid = ? AND uid IS NOT NULL"


class WriteTarget(NamedTuple):
    """What :meth:`ResourceStore.resource_for_write` reads before a write: the resource at the
    name, the other one holding the UID, and (PostgreSQL) a reserved id for a new row."""

    old: Resource | None
    holder: Resource | None
    new_id: int | None


class CopySource(NamedTuple):
    """What :meth:`ResourceStore.resource_for_copy` reads before an object is copied or moved:
    the source resource with its content and dead properties, and the resource already at the
    destination (None for each that is not there)."""

    source: Resource | None
    data: bytes
    properties: dict[str, str]
    existing: Resource | None


class ResourceStore:
    """Mixin of :class:`kernel.store.Store` for resources."""

    conn: Connection
    dialect: str
    #: :meth:`kernel.store.Store.read_together`
    read_together: Callable[..., list[list[Any]]]
    #: :meth:`kernel.store.Store.refuse_if`
    refuse_if: Callable[[tuple[str, Any], Exception], None]

    def resource(self, collection_id: int, name: str) -> Resource | None:
        """The resource ``name`` (in any Unicode normal form) in a collection, or None."""
        row = self.conn.execute(_BY_NAME, (collection_id, canonical_name(name))).fetchone()
        return resource_of(row) if row else None

    def resource_for_write(self, collection_id: int, name: str, uid: str | None = None) -> WriteTarget:
        """Inside a write transaction that stores one object: the resource ``name`` (as
        :meth:`resource`), the one holding ``uid`` when it is not that one, and on PostgreSQL a
        new resource id, reserved; there all of it is one round trip (``save_resource_row(new_id=...)``
        then writes without reading anything back)."""
        name = canonical_name(name)
        if self.dialect != "postgresql":
            old = self.resource(collection_id, name)
            if uid is None or (old is not None and old.uid == uid):  # no UID, or the old row holds it
                return WriteTarget(old, None, None)
            return WriteTarget(old, self.resource_by_uid(collection_id, uid), None)
        reads: list[tuple[str, Any]] = [(_BY_NAME, (collection_id, name)), (RESERVE_ID_PG, ())]
        if uid is not None:
            reads.append((_by_uid(), (collection_id, uid)))
        found = self.read_together(*reads)
        old = resource_of(found[0][0]) if found[0] else None
        holder = resource_of(found[2][0]) if uid is not None and found[2] else None
        if old is not None and old.uid == uid:  # the old row holds it, as on SQLite
            holder = None
        return WriteTarget(old, holder, int(found[1][0][0]))

    def guard_row(self, resource: Resource) -> Callable[[], bool]:
        """Inside a write transaction, in a deferred block, for a row read before the transaction
        and trusted instead of reading it again under the write lock: make the transaction fail
        unless the row still holds ``resource``'s content (its id and ETag) and, when it names
        one, its index digest (the write may leave the index rows as they are). SQLite checks at
        once and raises :class:`StaleRow`; on PostgreSQL the check goes with the block's
        statements and fails the block (and its COMMIT). The returned function tells, once the
        transaction has failed, whether the check is why; the caller then writes again,
        reading the row."""
        indexed = resource.index_digest is not None
        params = (resource.id, resource.etag, resource.index_digest) if indexed else (resource.id, resource.etag)
        if self.dialect != "postgresql":
            if not self.conn.execute(_HOLDS_INDEXED if indexed else _HOLDS, params).fetchone()[0]:
                raise StaleRow(f"resource {resource.id} changed")
            return lambda: False
        sent = self.conn.execute(_GUARD_PG[indexed], params)
        return lambda: bool(getattr(getattr(sent, "error", None), "sqlstate", None) == _DIVISION_BY_ZERO)

    def guard_absent(self, collection_id: int, name: str, uid: str | None) -> None:
        """Inside a write transaction creating an object at ``name`` (canonical), found empty
        before the transaction and trusted so instead of reading it again under the write
        lock: make the transaction fail with :class:`StaleRow` when a row holds the name, or
        another the UID, by then (``refuse_if``: on PostgreSQL the checks go with the write's
        rows). The caller then writes again, reading both."""
        self.refuse_if(("SELECT 1 FROM resources WHERE collection_id = ? AND name = ?", (collection_id, name)),
                       StaleRow(f"a resource appeared at {name}"))
        if uid is not None:
            self.refuse_if((_by_uid(), (collection_id, uid)), StaleRow(f"a resource took the UID {uid}"))

    def new_resource_id(self) -> int | None:
        """Outside a transaction, before a create: on PostgreSQL a new resource id, reserved (a
        read a request can name ahead, :meth:`new_resource_id_statement`); None on SQLite,
        where the row's insert gives it."""
        statement = self.new_resource_id_statement()
        return None if statement is None else int(self.conn.execute(*statement).fetchone()[0])

    def new_resource_id_statement(self) -> tuple[str, tuple[()]] | None:
        """The statement :meth:`new_resource_id` runs (to name it ahead); None on SQLite."""
        return (RESERVE_ID_PG, ()) if self.dialect == "postgresql" else None

    def resource_for_copy(self, collection_id: int, name: str, target_id: int, target_name: str) -> CopySource:
        """Inside the transaction copying or moving resource ``name`` of a collection to
        ``target_name`` in collection ``target_id``: what it copies and what it replaces
        (:class:`CopySource`), read in one round trip on PostgreSQL."""
        name, target_name = canonical_name(name), canonical_name(target_name)
        found, properties, existing = self.read_together(
            (f"SELECT {RESOURCE_COLUMNS}, data FROM resources WHERE collection_id = ? AND name = ?",
             (collection_id, name)),
            ("SELECT p.name, p.value FROM properties p JOIN resources r ON r.id = p.resource_id"
             " WHERE r.collection_id = ? AND r.name = ? ORDER BY p.name", (collection_id, name)),
            (_BY_NAME, (target_id, target_name)),
        )
        return CopySource(
            resource_of(found[0][:-1]) if found else None,
            bytes(found[0][-1]) if found else b"",
            dict(properties),
            resource_of(existing[0]) if existing else None,
        )

    def resource_by_uid(self, collection_id: int, uid: str) -> Resource | None:
        """The calendar object with this UID in a collection, or None.

        ``INDEXED BY`` (SQLite): without statistics SQLite prefers the covering
        listing index, which has the collection but not the UID as a prefix,
        and scans every object of the collection (a millisecond a PUT at 10,000
        objects). PostgreSQL's planner finds the UID index by itself.
        """
        hint = " INDEXED BY resources_uid" if self.dialect == "sqlite" else ""
        row = self.conn.execute(_by_uid(hint), (collection_id, uid)).fetchone()
        return resource_of(row) if row else None

    def resources(
        self, collection_id: int, names: Iterable[str] | None = None, *, component: str | None = None
    ) -> list[Resource]:
        """Resources of a collection (all, or those named, in any Unicode normal form), by name;
        with ``component``, only the calendar objects of that type (chosen by the database:
        the tasks of a calendar of 10,000 events without reading the events)."""
        kind, kinds = (" AND component = ?", (component,)) if component is not None else ("", ())
        if names is None:
            rows = self.conn.execute(
                f"SELECT {RESOURCE_COLUMNS} FROM resources WHERE collection_id = ?{kind} ORDER BY name",
                (collection_id, *kinds),
            )
            return [resource_of(r) for r in rows]
        wanted = list(dict.fromkeys(map(canonical_name, names)))
        found: list[Resource] = []
        for among, values in one_of_chunks(self.dialect, "name", wanted):
            rows = self.conn.execute(
                f"SELECT {RESOURCE_COLUMNS} FROM resources WHERE collection_id = ? AND {among}{kind}",
                (collection_id, *values, *kinds),
            )
            found.extend(resource_of(r) for r in rows)
        return sorted(found, key=lambda r: r.name)

    def iter_resources(self, collection_id: int, *, batch: int = 500) -> Iterator[Resource]:
        """Every resource of a collection by name, read in pages (:func:`page_sizes`: ``batch``
        first, then bigger).

        Each page is its own query (from the last name on), so no statement
        stays open between pages and memory follows the page, not the
        collection: a PROPFIND of 100,000 objects streams in pages.
        """
        after = ""
        sql = f"SELECT {RESOURCE_COLUMNS} FROM resources WHERE collection_id = ? AND name > ? ORDER BY name LIMIT ?"
        for size in page_sizes(batch):
            rows = self.conn.execute(sql, (collection_id, after, size)).fetchall()
            for row in rows:
                yield resource_of(row)
            if len(rows) < size:
                return
            after = rows[-1][2]

    def iter_listing(self, collection_id: int, fields: Iterable[str], *, batch: int = 500) -> Iterator[Any]:
        """Like :meth:`iter_resources`, but only ``fields`` of each resource (``name`` always)
        as light records with those attributes, read from the listing index: a
        PROPFIND that asks for ETags reads two columns of 10,000 rows, not twelve, and
        builds no :class:`Resource`. ValueError for a name that is not a Resource field."""
        for page in self.listing_pages(collection_id, fields, batch=batch):
            yield from page

    def listing_pages(self, collection_id: int, fields: Iterable[str], *, batch: int = 500) -> Iterator[list[Any]]:
        """:meth:`iter_listing`'s records a page (one query, as :func:`page_sizes` sizes them
        from ``batch``) at a time, for callers that turn a whole page into output at once."""
        wanted = _record_fields(fields)
        make = _listing_record(wanted)._make
        sql = f"SELECT {', '.join(wanted)} FROM resources WHERE collection_id = ? AND name > ? ORDER BY name LIMIT ?"
        after = ""
        for size in page_sizes(batch):
            rows = self.conn.execute(sql, (collection_id, after, size)).fetchall()
            if rows:
                yield list(map(make, rows))
            if len(rows) < size:
                return
            after = rows[-1][0]

    def resources_with_data(
        self, collection_id: int, names: Iterable[str] | None = None, *, component: str | None = None
    ) -> list[tuple[Resource, bytes]]:
        """Resources with their content (all, or those named), in one query per 500 names;
        ``component`` as for :meth:`resources`."""
        kind, kinds = (" AND component = ?", (component,)) if component is not None else ("", ())
        if names is None:
            rows = self.conn.execute(
                f"SELECT {RESOURCE_COLUMNS}, data FROM resources WHERE collection_id = ?{kind} ORDER BY name",
                (collection_id, *kinds),
            )
            return [(resource_of(r[:-1]), r[-1]) for r in rows]
        wanted = list(dict.fromkeys(map(canonical_name, names)))
        out: list[tuple[Resource, bytes]] = []
        for among, values in one_of_chunks(self.dialect, "name", wanted):
            rows = self.conn.execute(
                f"SELECT {RESOURCE_COLUMNS}, data FROM resources WHERE collection_id = ? AND {among}{kind}",
                (collection_id, *values, *kinds),
            )
            out.extend((resource_of(r[:-1]), r[-1]) for r in rows)
        return sorted(out, key=lambda pair: pair[0].name)

    def resources_by_ids(
        self, ids: Iterable[int], *, with_data: bool = False, fields: Iterable[str] | None = None
    ) -> list[tuple[Any, bytes | None]]:
        r"""Resources by id (any collection), by name, with content when asked. With ``fields``,
        light records of just those fields (and ``name``) instead of :class:`Resource`\ s, as
        :meth:`iter_listing` gives (ValueError for a name that is not a Resource field)."""
        wanted = list(dict.fromkeys(ids))
        names = RESOURCE_FIELDS if fields is None else _record_fields(fields)
        make = resource_of if fields is None else _listing_record(names)._make
        columns, width = ", ".join(names), len(names)
        cols = columns + (", data" if with_data else "")
        out: list[tuple[Any, bytes | None]] = []
        for among, values in one_of_chunks(self.dialect, "id", wanted):
            rows = self.conn.execute(f"SELECT {cols} FROM resources WHERE {among}", values)
            for r in rows:
                out.append((make(r[:width]), r[width] if with_data else None))
        return sorted(out, key=lambda pair: pair[0].name)

    @staticmethod
    def owner_count_statement(owner_id: int) -> tuple[str, tuple[int]]:
        """The statement :meth:`count_resources` runs for an owner (to name it ahead:
        ``store.expecting``)."""
        return "SELECT coalesce(sum(object_count), 0) FROM collections WHERE owner_id = ?", (owner_id,)

    def count_resources(self, collection_id: int | None = None, *, owner_id: int | None = None) -> int:
        """How many resources a collection holds, or calendar objects all collections of an owner hold.

        The owner's count adds up the per-collection counters that triggers keep
        (migration m003), so it costs the same at 100,000 objects as at 10.
        """
        if owner_id is not None:
            row = self.conn.execute(*self.owner_count_statement(owner_id)).fetchone()
        else:
            row = self.conn.execute("SELECT count(*) FROM resources WHERE collection_id = ?", (collection_id,)).fetchone()
        return int(row[0])

    def data(self, resource_id: int) -> bytes:
        """The stored content of a resource."""
        row = self.conn.execute("SELECT data FROM resources WHERE id = ?", (resource_id,)).fetchone()
        return bytes(row[0]) if row else b""

    def _count_object(self, collection_id: int, delta: int) -> None:
        """Keep the collection's count of calendar objects (``object_count``) current."""
        self.conn.execute(
            "UPDATE collections SET object_count = object_count + ? WHERE id = ?", (delta, collection_id)
        )

    def save_resource_row(
        self,
        collection_id: int,
        name: str,
        data: bytes,
        content_type: str,
        *,
        uid: str | None,
        component: str | None,
        indexed_until: int | None,
        principal_id: int | None,
        old: Resource | None,
        new_id: int | None = None,
        index_digest: int | None = None,
    ) -> Resource:
        """Insert or replace a resource row (inside a write transaction); ``name`` is canonical
        (kernel.writes makes it so). ``new_id``: the id :meth:`resource_for_write` reserved for
        a new row; ``index_digest``: :func:`kernel.store.instances.index_digest` of the rows the
        write leaves in the time-range index."""
        check_segment(name)
        etag = make_etag(data)
        now = time.time()
        if old is None:
            values = (collection_id, name, uid, component, etag, content_type, len(data), data,
                      indexed_until, now, now, principal_id, principal_id, index_digest)
            if new_id is not None:  # reserved: nothing to read back
                self.conn.execute(f"INSERT INTO resources (id, {_INSERTED}) VALUES (?, {_MARKS})", (new_id, *values))
            else:
                new_id = self.conn.execute(
                    f"INSERT INTO resources ({_INSERTED}) VALUES ({_MARKS}) RETURNING id", values
                ).fetchone()[0]
            if component is not None:
                self._count_object(collection_id, 1)
            return Resource(new_id, collection_id, name, etag, content_type, len(data),
                            uid, component, now, now, principal_id, principal_id, index_digest)
        if (old.component is None) != (component is None):
            self._count_object(collection_id, 1 if component is not None else -1)
        self.conn.execute(
            "UPDATE resources SET uid = ?, component = ?, etag = ?, content_type = ?, size = ?, data = ?,"
            " indexed_until = ?, modified = ?, modified_by = ?, index_digest = ? WHERE id = ?",
            (uid, component, etag, content_type, len(data), data, indexed_until, now, principal_id, index_digest,
             old.id),
        )
        return Resource(old.id, collection_id, name, etag, content_type, len(data), uid, component,
                        old.created, now, old.created_by, principal_id, index_digest)

    def delete_resource_row(self, resource_id: int) -> None:
        """Delete a resource with its index rows and properties (inside a write transaction),
        its collection's counters kept; two statements that read nothing back (so they can go
        in a deferred block). Nothing happens for an id that is not stored."""
        size = BYTE_LENGTH[self.dialect].format("value")
        self.conn.execute(
            "UPDATE collections SET"
            " object_count = object_count - (SELECT count(*) FROM resources WHERE id = ? AND component IS NOT NULL),"
            f" property_bytes = property_bytes - (SELECT coalesce(sum({size}), 0) FROM properties WHERE resource_id = ?)"
            " WHERE id = (SELECT collection_id FROM resources WHERE id = ?)",
            (resource_id, resource_id, resource_id),
        )
        self.conn.execute("DELETE FROM resources WHERE id = ?", (resource_id,))

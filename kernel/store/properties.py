"""Dead properties of collections and resources, stored as XML fragments."""

from __future__ import annotations

from kernel.store.connections import Connection
from kernel.store.tables import one_of, one_of_chunks


def byte_size(value: str) -> int:
    """The size of a stored property value: its UTF-8 bytes."""
    return len(value.encode("utf-8"))


#: :func:`byte_size` in SQL, per dialect (format it with the column).
BYTE_LENGTH = {"sqlite": "length(CAST({} AS BLOB))", "postgresql": "octet_length({})"}


class PropertyStore:
    """Mixin of :class:`kernel.store.Store` for dead properties.

    A property is keyed by its Clark-notation name (``{ns}local``); its value
    is the serialized XML element, which the kernel stores without reading.
    """

    conn: Connection
    dialect: str

    def properties(self, *, collection_id: int | None = None, resource_id: int | None = None) -> dict[str, str]:
        """All dead properties of one collection or resource, name -> XML."""
        key, value = _target(collection_id, resource_id)
        rows = self.conn.execute(f"SELECT name, value FROM properties WHERE {key} = ? ORDER BY name", (value,))
        return dict(rows.fetchall())

    def collections_properties(self, collection_ids: list[int]) -> dict[int, dict[str, str]]:
        """Dead properties of each of these collections, by collection id (those without any
        left out): one query per 500, for a listing of a home's calendars."""
        found: dict[int, dict[str, str]] = {}
        for among, values in one_of_chunks(self.dialect, "collection_id", collection_ids):
            rows = self.conn.execute(
                f"SELECT collection_id, name, value FROM properties WHERE {among} ORDER BY name", values
            )
            for collection_id, name, value in rows:
                found.setdefault(collection_id, {})[name] = value
        return found

    def resource_properties(self, collection_id: int) -> dict[int, dict[str, str]]:
        """Dead properties of every resource in a collection, by resource id, in one query."""
        rows = self.conn.execute(
            "SELECT p.resource_id, p.name, p.value FROM properties p JOIN resources r ON r.id = p.resource_id"
            " WHERE r.collection_id = ? ORDER BY p.name",
            (collection_id,),
        )
        found: dict[int, dict[str, str]] = {}
        for resource_id, name, value in rows:
            found.setdefault(resource_id, {})[name] = value
        return found

    def property_sizes(self, *, collection_id: int | None = None, resource_id: int | None = None) -> dict[str, int]:
        """The size in bytes (UTF-8 of the stored XML) of each dead property of one collection or resource."""
        key, value = _target(collection_id, resource_id)
        rows = self.conn.execute(f"SELECT name, value FROM properties WHERE {key} = ?", (value,))
        return {name: byte_size(xml) for name, xml in rows}

    def property_bytes(self, owner_id: int) -> int:
        """Bytes of dead properties over an account's collections and their resources."""
        row = self.conn.execute(
            "SELECT coalesce(sum(property_bytes), 0) FROM collections WHERE owner_id = ?", (owner_id,)
        ).fetchone()
        return int(row[0])

    def tree_property_bytes(self, collection_ids: list[int]) -> int:
        """Bytes of dead properties of these collections and their resources."""
        if not collection_ids:
            return 0
        row = self.conn.execute(
            "SELECT coalesce(sum(property_bytes), 0) FROM collections"
            f" WHERE id IN ({','.join('?' * len(collection_ids))})",
            collection_ids,
        ).fetchone()
        return int(row[0])

    def set_properties(
        self,
        changes: dict[str, str | None],
        *,
        collection_id: int | None = None,
        resource_id: int | None = None,
    ) -> None:
        """Set (XML value) or remove (None) dead properties (inside a write transaction; see
        ``host.writes``, which runs the ``validate_properties`` hooks first).

        Keeps the owning collection's ``property_bytes`` current. Reads nothing back, so in a
        deferred block (``Store.deferred``) its statements wait for no answer.
        """
        if not changes:
            return
        key, target = _target(collection_id, resource_id)
        named, names = one_of(self.dialect, "name", list(changes))
        added = sum(byte_size(xml) for xml in changes.values() if xml is not None)
        owner = "?" if collection_id is not None else "(SELECT collection_id FROM resources WHERE id = ?)"
        replaced = f"SELECT coalesce(sum({BYTE_LENGTH[self.dialect].format('value')}), 0) FROM properties"
        self.conn.execute(  # before the rows it counts are deleted
            f"UPDATE collections SET property_bytes = property_bytes + ? - ({replaced} WHERE {key} = ? AND {named})"
            f" WHERE id = {owner}",
            (added, target, *names, target),
        )
        self.conn.execute(f"DELETE FROM properties WHERE {key} = ? AND {named}", (target, *names))
        self.conn.executemany(
            f"INSERT INTO properties ({key}, name, value) VALUES (?, ?, ?)",
            [(target, name, xml) for name, xml in changes.items() if xml is not None],
        )


def _target(collection_id: int | None, resource_id: int | None) -> tuple[str, int]:
    if (collection_id is None) == (resource_id is None):
        raise ValueError("give exactly one of collection_id and resource_id")
    return ("collection_id", collection_id) if collection_id is not None else ("resource_id", resource_id)  # type: ignore[return-value]

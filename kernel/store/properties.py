"""Dead properties of collections and resources, stored as XML fragments."""

from __future__ import annotations
from kernel.store.connections import Connection



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

    def set_properties(
        self,
        changes: dict[str, str | None],
        *,
        collection_id: int | None = None,
        resource_id: int | None = None,
    ) -> None:
        """Set (XML value) or remove (None) dead properties (inside a write transaction)."""
        key, target = _target(collection_id, resource_id)
        for name, xml in changes.items():
            self.conn.execute(f"DELETE FROM properties WHERE {key} = ? AND name = ?", (target, name))
            if xml is not None:
                self.conn.execute(
                    f"INSERT INTO properties ({key}, name, value) VALUES (?, ?, ?)", (target, name, xml)
                )


def _target(collection_id: int | None, resource_id: int | None) -> tuple[str, int]:
    if (collection_id is None) == (resource_id is None):
        raise ValueError("give exactly one of collection_id and resource_id")
    return ("collection_id", collection_id) if collection_id is not None else ("resource_id", resource_id)  # type: ignore[return-value]

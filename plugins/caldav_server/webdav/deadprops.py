"""Dead properties of every kind of target.

Collections and resources keep theirs in the kernel's properties table
(written through ``host.writes``); principals and homes, which have no
collection row, keep theirs in this plugin's ``caldav_server_properties``
table, so Apple's PROPPATCHes on a home or principal are stored, not refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernel import Host, Principal, Store
    from plugins.caldav_server.webdav.resolve import Target


def load(host: Host, target: Target) -> dict[str, str]:
    """The dead properties of a target (name -> XML element)."""
    if target.kind == "resource":
        assert target.resource is not None
        return host.store.properties(resource_id=target.resource.id)
    if target.kind == "collection":
        assert target.collection is not None
        return host.store.properties(collection_id=target.collection.id)
    if target.kind in ("principal", "home"):
        assert target.owner is not None
        return dict(sorted(host.store.execute(*owner_statement(host, target.owner.name, target.kind)).fetchall()))
    return {}


def owner_statement(host: Host, owner: str, scope: str) -> tuple[str, tuple[Any, ...]]:
    """The read of the dead properties of ``owner``'s principal or home (``scope``), by the
    owner's name: a request names it ahead (``app._reads_ahead``)."""
    return host.store.principal_rows_statement(owner, "caldav_server_properties", ("name", "value"), scope=scope)


def save(
    host: Host,
    target: Target,
    principal: Principal,
    properties: dict[str, str | None],
    attrs: dict[str, Any],
    *,
    if_match: str | None = None,
    if_unmodified_since: float | None = None,
) -> None:
    """Write dead properties (None removes) and collection attributes, all in one transaction.

    Every kind of target goes through the kernel's ``validate_properties`` hooks (quotas).
    A resource's ``if_match`` / ``if_unmodified_since`` are checked again in that transaction."""
    if target.kind == "collection":
        assert target.collection is not None
        host.writes.update_collection(
            target.collection, principal=principal, attrs=attrs, properties=properties, source="caldav"
        )
        return
    if target.kind == "resource":
        assert target.collection is not None and target.resource is not None
        host.writes.set_resource_properties(
            target.collection, target.resource, properties, principal=principal, source="caldav",
            if_match=if_match, if_unmodified_since=if_unmodified_since,
        )
        return
    assert target.owner is not None
    with host.writes.transaction():
        previous = {
            name: len(value.encode("utf-8"))
            for name, value in host.store.execute(
                "SELECT name, value FROM caldav_server_properties WHERE principal_id = ? AND scope = ?",
                (target.owner.id, target.kind),
            )
        }
        host.writes.validate_properties(
            target.kind, target.owner, properties, previous, principal=principal, source="caldav"
        )
        for name, value in properties.items():
            host.store.execute(
                "DELETE FROM caldav_server_properties WHERE principal_id = ? AND scope = ? AND name = ?",
                (target.owner.id, target.kind, name),
            )
            if value is not None:
                host.store.execute(
                    "INSERT INTO caldav_server_properties (principal_id, scope, name, value) VALUES (?, ?, ?, ?)",
                    (target.owner.id, target.kind, name, value),
                )


class BulkProperties:
    """Dead properties of several targets, by id, read in one query on first need."""

    def __init__(self, read: Callable[[], dict[int, dict[str, str]]]) -> None:
        self._read = read
        self._bulk: dict[int, dict[str, str]] | None = None

    def getter(self, target_id: int) -> Callable[[], dict[str, str]]:
        """A callable returning one target's dead properties."""

        def load() -> dict[str, str]:
            if self._bulk is None:
                self._bulk = self._read()
            return self._bulk.get(target_id, {})

        return load


class ResourceProperties(BulkProperties):
    """The dead properties of a collection's resources, by resource id."""

    def __init__(self, store: Store, collection_id: int) -> None:
        super().__init__(lambda: store.resource_properties(collection_id))


class CollectionProperties(BulkProperties):
    """The dead properties of several collections (a home's calendars), by collection id."""

    def __init__(self, store: Store, collection_ids: list[int]) -> None:
        super().__init__(lambda: store.collections_properties(collection_ids))

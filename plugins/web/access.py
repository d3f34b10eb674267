"""Which calendar a request may name: the one place the web app turns an id into a calendar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.types import Rejected

if TYPE_CHECKING:
    from kernel import Collection, Host, Principal


def readable_calendar(host: Host, principal: Principal, collection_id: int) -> Collection:
    """The calendar with this id when ``principal`` may read it; 404 otherwise (nothing revealed)."""
    collection = host.store.collection_by_id(collection_id) if 0 < collection_id < 2**63 else None
    if collection is None or collection.kind != "calendar" or "read" not in host.privileges(principal, collection):
        raise Rejected(404, None, "No such calendar.")
    return collection

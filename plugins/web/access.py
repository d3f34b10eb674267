"""Which calendar a request may name: the one place the web app turns an id into a calendar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel import Rejected

if TYPE_CHECKING:
    from kernel import Collection, Host, Principal


def readable_calendar(host: Host, principal: Principal, collection_id: int) -> Collection:
    """The calendar with this id when ``principal`` may read it; 404 otherwise (nothing revealed)."""
    return readable_calendars(host, principal, [collection_id])[0]


def readable_calendars(host: Host, principal: Principal, collection_ids: list[int]) -> list[Collection]:
    """The calendars with these ids, in their order, when ``principal`` may read each (read in
    one query); 404 when one is not (nothing revealed)."""
    wanted = [i for i in collection_ids if 0 < i < 2**63]
    found = host.store.collections_by_ids(wanted) if len(wanted) == len(collection_ids) else {}
    calendars = [c for c in (found.get(i) for i in collection_ids) if c is not None and c.kind == "calendar"]
    held = host.privileges_of(principal, calendars)
    if len(calendars) < len(collection_ids) or any("read" not in held[c.id] for c in calendars):
        raise Rejected(404, None, "No such calendar.")
    return calendars

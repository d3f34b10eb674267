"""The DAV:prop of a CalDAV report, and CALDAV:calendar-data computed from stored bytes.

Without comp/expand/limit options the stored bytes are sent as they are (no
parsing); with them the calendar-data engine renders the asked-for subset.
Carriage returns are sent as ``&#13;`` so that XML line-end normalisation
leaves the client the exact CRLF lines that were stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from plugins.caldav_server.caldav import stored_plans
from plugins.caldav_server.caldav.calendar_data import (
    CalendarDataRequest,
    parse_calendar_data,
)
from plugins.caldav_server.webdav.namespaces import Escaped, content
from plugins.caldav_server.webdav.properties import PropRequest
from plugins.caldav_server.webdav.xml import Element, c, d

if TYPE_CHECKING:
    import datetime as dt

    import icalendar

    from kernel import Budget, Instance, Resource, Store
    from plugins.caldav_server.caldav.timerange import TimeRange

CALENDAR_DATA = c("calendar-data")


def _element(text: str) -> dict[str, str]:
    """{CALDAV:calendar-data: the element holding ``text``}, its carriage returns as ``&#13;``
    (text :class:`Escaped` already, as expanded objects are written from their plans, as it is)."""
    return {CALENDAR_DATA: f"<C:calendar-data>{text if isinstance(text, Escaped) else content(text)}</C:calendar-data>"}


class CalendarDataRenderer:
    """Renders CALDAV:calendar-data for one report, or nothing when it was not asked for."""

    def __init__(self, spec: CalendarDataRequest | None) -> None:
        self.spec = spec
        self._as_stored = spec is not None and spec.passthrough()  # decided once, not per object

    @classmethod
    def from_report(cls, body: Element) -> tuple[PropRequest, CalendarDataRenderer]:
        """The property request of a report body and the renderer for its calendar-data.

        Raises ``QueryError`` for a calendar-data element the engine refuses.
        """
        for name in ("allprop", "propname"):
            if body.find(d(name)) is not None:
                return PropRequest(name, []), cls(None)
        prop = body.find(d("prop"))
        if prop is None:
            return PropRequest("prop", [d("getetag")]), cls(None)
        elem = prop.find(CALENDAR_DATA)
        return PropRequest.from_element(prop), cls(parse_calendar_data(elem) if elem is not None else None)

    def cheap(self) -> bool:
        """True when rendering needs no parsing (no calendar-data, or the whole stored object)."""
        return self.spec is None or self.spec.passthrough()

    def computed(
        self, resource: Resource, data: bytes, tz: dt.tzinfo | None, budget: Budget,
        calendar: icalendar.Calendar | None = None, instances: list[Instance] | None = None,
    ) -> dict[str, str] | None:
        """{CALDAV:calendar-data: element} for one resource and its stored bytes (floating times
        in ``tz``; ``calendar`` is the parsed object when the caller has it; ``instances`` its
        index rows near the expand window, see :meth:`near`; the work spent from the
        request's ``budget``)."""
        if self.spec is None:
            return None
        if self._as_stored:
            text = data.decode("utf-8", "replace")
        else:
            text = self.spec.render(data, calendar, tz, budget=budget, instances=instances, etag=resource.etag,
                                    xml=True)
        return _element(text)

    def computed_page(
        self, rows: Sequence[tuple[Resource, bytes | None]], tz: dt.tzinfo | None, budget: Budget,
        near: Mapping[int, list[Instance] | None],
    ) -> list[dict[str, str] | None]:
        """:meth:`computed` of a page of resources (rows with their stored bytes; ``near``: their
        index rows near the expand window by resource id, as :meth:`near` gives them)."""
        if self.spec is None:
            return [None] * len(rows)
        if self._as_stored:
            texts = [(data or b"").decode("utf-8", "replace") for _, data in rows]
        else:
            texts = self.spec.render_page([(r.etag, data or b"", near.get(r.id)) for r, data in rows], tz, budget,
                                          xml=True)
        return [_element(text) for text in texts]

    def expand_window(self) -> TimeRange | None:
        """The range CALDAV:expand asks for, if it does."""
        return None if self.spec is None else self.spec.expand

    def preload(self, store: Store, rows: Iterable[tuple[Resource, bytes | None]]) -> None:
        """Before :meth:`computed` of these objects (resource rows and their stored bytes):
        bring their stored expansion plans into memory when the report expands
        (``stored_plans``), in one query."""
        if self.expand_window() is not None:
            stored_plans.preload(store, rows)

    def near(self, store: Store, collection_id: int, resource_ids: list[int]) -> dict[int, list[Instance]]:
        """The index rows near the expand window of the collection's resources whose index
        holds them all (empty when nothing is expanded), for :meth:`computed`."""
        window = self.expand_window()
        if window is None or window.start is None or window.end is None:
            return {}
        return store.instances_near(collection_id, resource_ids, window.start, window.end)

"""What the mapping needs from the deployment: calendars, principals, URLs and settings.

:class:`Deployment` is built once per run from the host (or from a store and the
settings); it caches calendars and principal names for the run, and turns one
stored resource into its Teamwork Graph objects with :func:`mapping.map_object`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kernel import Collection, Resource, Store
from kernel.icaltext import read_calendar

from .mapping import EventContext, MappingError, MappingSettings, map_object
from .permissions import calendar_permissions
from .settings import Settings

if TYPE_CHECKING:
    from kernel import Host

_PCHAR = "@:!$&'()*+,;="


@dataclass(frozen=True)
class CalendarInfo:
    """A calendar as the export sees it: its key (``owner/path``), name and permissions."""

    collection: Collection
    key: str
    name: str
    permissions: list[dict]

    def fingerprint(self) -> str:
        """Changes when anything exported with every event of the calendar changes."""
        return _digest([self.key, self.name, self.permissions])


@dataclass
class Deployment:
    """One run's view of the deployment; caches calendars and principal names."""

    store: Store
    settings: Settings
    base_url: str
    max_attendees: int | None = None
    max_expansions: int | None = None
    _calendars: dict[int, CalendarInfo | None] = field(default_factory=dict)
    _names: dict[int, str | None] = field(default_factory=dict)

    @classmethod
    def from_host(cls, host: Host, store: Store | None = None) -> Deployment:
        """The deployment of ``host`` (reading through ``store``, default the host's).

        The limits plugin's ``max_attendees`` and ``max_recurrence_expansions`` are
        read through ``host.settings("limits")`` when that table exists.
        """
        try:
            limits: Any = host.settings("limits")
        except KeyError:
            limits = None
        return cls(
            store=store or host.store,
            settings=host.settings("atlassian_export"),
            base_url=host.base_url,
            max_attendees=_optional_int(limits, "max_attendees"),
            max_expansions=_optional_int(limits, "max_recurrence_expansions"),
        )

    @cached_property
    def mapping(self) -> MappingSettings:
        """The mapping layer's settings: the window, bounded by the limits, and the eventType table."""
        s = self.settings
        bound = int(s.max_occurrences)
        if self.max_expansions is not None:
            bound = min(bound, self.max_expansions)
        return MappingSettings(
            window_past_days=int(s.window_past_days),
            window_future_days=int(s.window_future_days),
            max_occurrences=bound,
            category_event_types=dict(s.category_event_types),
        )

    def fingerprint(self) -> str:
        """Changes when a setting that shapes every exported object changes (then all is exported again)."""
        m = self.mapping
        return _digest([
            m.window_past_days, m.window_future_days, m.max_occurrences, sorted(m.category_event_types.items()),
            str(self.settings.event_url), self.base_url, self.max_attendees,
        ])

    def calendar(self, collection_id: int, *, fresh: bool = False) -> CalendarInfo | None:
        """The calendar with this id, or None when it is gone or not a calendar (``fresh``: not cached)."""
        if fresh or collection_id not in self._calendars:
            collection = self.store.collection_by_id(collection_id)
            info = None
            if collection is not None and collection.kind == "calendar":
                info = CalendarInfo(
                    collection=collection,
                    key=f"{collection.owner.name}/{collection.path}",
                    name=collection.display_name or collection.name,
                    permissions=calendar_permissions(self.store, collection),
                )
            self._calendars[collection_id] = info
        return self._calendars[collection_id]

    def principal_name(self, principal_id: int | None) -> str | None:
        """A principal's name (the ``externalId`` of createdBy / lastUpdatedBy), None when unknown."""
        if principal_id is None:
            return None
        if principal_id not in self._names:
            principal = self.store.principal_by_id(principal_id)
            self._names[principal_id] = principal.name if principal else None
        return self._names[principal_id]

    def event_url(self, calendar: CalendarInfo, name: str) -> str:
        """An event's ``url`` from the ``event_url`` template."""
        collection = calendar.collection
        return self.settings.event_url.format(
            base_url=self.base_url,
            owner=quote(collection.owner.name, safe=_PCHAR),
            calendar="/".join(quote(segment, safe=_PCHAR) for segment in collection.path.split("/")),
            name=quote(name, safe=_PCHAR),
        )

    def objects(self, calendar: CalendarInfo, resource: Resource, data: bytes, usn: int, now: datetime) -> list[dict]:
        """Every object one stored resource becomes ([] for one without a VEVENT); raises MappingError."""
        if resource.component != "VEVENT":
            return []
        try:
            parsed = read_calendar(data)
        except (ValueError, AttributeError, UnicodeDecodeError) as exc:
            raise MappingError(f"stored iCalendar cannot be parsed: {exc}") from exc
        ctx = EventContext(
            calendar_key=calendar.key,
            calendar_name=calendar.name,
            event_url=self.event_url(calendar, resource.name),
            created_at=resource.created,
            modified_at=resource.modified,
            created_by=self.principal_name(resource.created_by),
            modified_by=self.principal_name(resource.modified_by),
            sequence=usn,
            permissions=calendar.permissions,
            max_attendees=self.max_attendees,
        )
        return map_object(parsed, ctx, self.mapping, now)


def _optional_int(settings: Any, name: str) -> int | None:
    value = getattr(settings, name, None) if settings is not None else None
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:32]

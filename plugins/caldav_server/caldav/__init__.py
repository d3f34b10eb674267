"""The CalDAV layer (RFC 4791): calendars on top of the WebDAV layer.

:func:`install` adds to a DAV app's registries: MKCALENDAR, the calendar
properties and resource type, the calendar reports, the whole-calendar GET,
and the PUT rules for calendar collections.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugins.caldav_server.caldav import properties
from plugins.caldav_server.caldav.calendar_query import calendar_query
from plugins.caldav_server.caldav.export import render_calendar
from plugins.caldav_server.caldav.freebusy_query import free_busy_query
from plugins.caldav_server.caldav.mkcalendar import mkcalendar
from plugins.caldav_server.caldav.multiget import calendar_multiget
from plugins.caldav_server.webdav.app import Method, Report
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.resolve import Target
from plugins.caldav_server.webdav.xml import c

if TYPE_CHECKING:
    from kernel import Collection
    from plugins.caldav_server.webdav.app import DavApp
    from plugins.caldav_server.webdav.context import DavContext

CALENDAR_TYPES = ("text/calendar",)


def _in_calendar(t: Target) -> bool:
    return t.kind in ("collection", "resource") and t.collection is not None and t.collection.kind == "calendar"


def _is_calendar(t: Target) -> bool:
    return t.kind == "collection" and t.collection is not None and t.collection.kind == "calendar"


def _check_content_type(ctx: DavContext, collection: Collection, content_type: str | None) -> None:
    """Calendars take text/calendar only (CALDAV:supported-calendar-data)."""
    if collection.kind != "calendar" or not content_type:
        return
    if content_type.split(";", 1)[0].strip().lower() not in CALENDAR_TYPES:
        # RFC 4791 1.3: a precondition that will always fail is a 403
        raise DavError(403, "A calendar takes text/calendar data only.", c("supported-calendar-data"))


def _size_precondition(collection: Collection) -> str | None:
    return c("max-resource-size") if collection.kind == "calendar" else None


def install(app: DavApp) -> None:
    """Register the CalDAV pieces on a DAV app."""
    properties.register(app)
    app.methods["MKCALENDAR"] = Method(mkcalendar, lambda t: t.kind == "unmapped", checks_locks=True)
    app.reports[c("calendar-query")] = Report(calendar_query, _in_calendar)
    app.reports[c("calendar-multiget")] = Report(calendar_multiget, _in_calendar)
    app.reports[c("free-busy-query")] = Report(free_busy_query, _is_calendar)
    app.collection_renderers.append(render_calendar)
    app.put_checks.append(_check_content_type)
    app.size_preconditions.append(_size_precondition)
    app.collection_kinds[c("calendar")] = "calendar"
    app.dav_classes.append("calendar-access")

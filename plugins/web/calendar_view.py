"""The calendar view (FullCalendar) and the small JSON API it reads and writes events through.

``GET /web/api/events`` answers from the instance index (see ``occurrences``);
the writes build iCalendar with ``eventdata`` and store it through
``host.writes.put_object`` / ``delete_object`` with the signed-in user as
principal, so privileges, limits, validation, the change feed and exports apply
as for CalDAV. Read-modify-write steps send the etag they read as If-Match: a
change in between is a 412, never a lost update. A calendar the user cannot read
is a 404, like a missing one.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kernel import Rejected
from kernel.icaltext import read_calendar
from plugins.web import eventdata
from plugins.web.access import readable_calendar, readable_calendars
from plugins.web.calendars import Entry, listing, read_seen, visible_calendars
from plugins.web.endpoints import WEB, WebApp
from plugins.web.occurrences import occurrences

if TYPE_CHECKING:
    from starlette.requests import Request

    from kernel import Collection, Host, Principal, Resource
    from plugins.web.sessions import Session

API = f"{WEB}/api"
#: The longest range one events request may ask for (a month view asks for six weeks).
MAX_RANGE_DAYS = 400
#: The most calendars one events request may name.
MAX_CALENDARS = 100


def routes(app: WebApp) -> list[BaseRoute]:
    """The view page and the events API."""
    host = app.host

    def page(request: Request, session: Session, body: Any) -> Response:
        """GET: the calendar view of the calendars asked for (all visible ones by default)."""
        entries = [e for _, section in listing(host, session.principal) for e in section]
        wanted = _ids(request.query_params.get("calendars")) or [e.collection.id for e in entries]
        data = {
            "api": app.url(request, API),
            "csrf": session.csrf,
            "calendars": [_calendar_json(e, e.collection.id in wanted) for e in entries],
        }
        return app.render(request, "view.html", session=session, data=data, entries=entries, wanted=wanted)

    def events(request: Request, session: Session, body: Any) -> Response:
        """GET: occurrences in a range, from the instance index."""
        params = request.query_params
        tz = eventdata.zone(params.get("tz", "UTC"))
        start = eventdata.parse_instant(params.get("start"), tz, "start")
        end = eventdata.parse_instant(params.get("end"), tz, "end")
        if not start < end <= start + dt.timedelta(days=MAX_RANGE_DAYS):
            raise eventdata.bad(f"The range must end after it starts and span at most {MAX_RANGE_DAYS} days.")
        principal = session.principal
        ids = _ids(params.get("calendars")) if params.get("calendars") is not None else None
        if ids is None:
            seen = read_seen(host, principal)
            chosen = [c for _, section in visible_calendars(host, principal, seen) for c in section]
            held = host.privileges_of(principal, chosen, reach=seen.reach)
        else:
            chosen = readable_calendars(host, principal, ids)
            held = host.privileges_of(principal, chosen)
        shown = [(collection, "write" in held[collection.id]) for collection in chosen]
        found = occurrences(host, shown, int(start.timestamp()), int(end.timestamp()), tz, host.budget())
        return _json({"events": found})

    def create(request: Request, session: Session, body: dict[str, Any]) -> Response:
        """POST: a new event from the dialog's fields."""
        collection = readable_calendar(host, session.principal, request.path_params["id"])
        data = eventdata.fields(body, eventdata.zone(body.get("timeZone", "UTC")))
        name, ical = eventdata.new_object(data)
        stored = host.writes.put_object(
            collection, name, ical, principal=session.principal, if_none_match="*", source="web"
        )
        return _json({"name": stored.resource.name, "etag": stored.resource.etag}, 201)

    def show(request: Request, session: Session, body: Any) -> Response:
        """GET: the series' fields for the dialog, with its etag."""
        collection, resource = _event(host, session.principal, request)
        try:
            parsed = read_calendar(host.store.data(resource.id), host.budget())
        except ValueError:  # stored before a limit it now fails (a time zone refused)
            raise Rejected(409, None, "This event's stored data cannot be shown here; use a calendar app.") from None
        fields = eventdata.editable(parsed)
        return _json({**fields, "name": resource.name, "etag": resource.etag, "calendar": collection.id})

    def update(request: Request, session: Session, body: dict[str, Any]) -> Response:
        """PUT: the series with the dialog's fields (If-Match: the etag sent)."""
        collection, resource = _event(host, session.principal, request)
        data = eventdata.fields(body, eventdata.zone(body.get("timeZone", "UTC")))
        etag = body.get("etag") if isinstance(body.get("etag"), str) else resource.etag
        changed = eventdata.edited(host.store.data(resource.id), data)
        stored = host.writes.put_object(
            collection, resource.name, changed, principal=session.principal, if_match=etag, source="web",
            expected=resource,
        )
        return _json({"name": stored.resource.name, "etag": stored.resource.etag})

    def move(request: Request, session: Session, body: dict[str, Any]) -> Response:
        """POST: new times for the event, or for one occurrence of it."""
        collection, resource = _event(host, session.principal, request)
        tz = eventdata.zone(body.get("timeZone", "UTC"))
        when = {"title": "moved", **{k: body[k] for k in ("start", "end", "allDay") if k in body}}
        times = eventdata.fields(when, tz)
        rid = body.get("recurrenceId")
        if rid is not None and not isinstance(rid, str):
            raise eventdata.bad("recurrenceId must name an occurrence.")
        changed = eventdata.moved(host.store.data(resource.id), times.start, times.end, rid)
        stored = host.writes.put_object(
            collection, resource.name, changed, principal=session.principal, if_match=resource.etag, source="web",
            expected=resource,
        )
        return _json({"name": stored.resource.name, "etag": stored.resource.etag})

    def delete(request: Request, session: Session, body: dict[str, Any]) -> Response:
        """DELETE: the event, or one occurrence of it."""
        collection, resource = _event(host, session.principal, request)
        rid = body.get("recurrenceId")
        if rid is None:
            host.writes.delete_object(collection, resource.name, principal=session.principal, source="web",
                                      expected=resource)
            return _json({"deleted": resource.name})
        changed = eventdata.without_occurrence(host.store.data(resource.id), rid)
        stored = host.writes.put_object(
            collection, resource.name, changed, principal=session.principal, if_match=resource.etag, source="web",
            expected=resource,
        )
        return _json({"name": stored.resource.name, "etag": stored.resource.etag})

    event = f"{API}/calendars/{{id:int}}/events/{{name}}"
    return [
        Route(f"{WEB}/view", app.endpoint(page), methods=["GET"]),
        Route(f"{API}/events", app.endpoint(events, as_json=True), methods=["GET"]),
        Route(f"{API}/calendars/{{id:int}}/events", app.endpoint(create, write=True, as_json=True), methods=["POST"]),
        Route(event, app.endpoint(show, as_json=True), methods=["GET"]),
        Route(event, app.endpoint(update, write=True, as_json=True), methods=["PUT"]),
        Route(event, app.endpoint(delete, write=True, as_json=True), methods=["DELETE"]),
        Route(f"{event}/move", app.endpoint(move, write=True, as_json=True), methods=["POST"]),
    ]


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status, headers={"Cache-Control": "no-store"})


def _ids(text: str | None) -> list[int]:
    """Calendar ids from "1,2,3"; 400 for anything else or too many."""
    if not text:
        return []
    parts = text.split(",")
    if len(parts) > MAX_CALENDARS or not all(p.strip().isdigit() and len(p.strip()) < 19 for p in parts):
        raise eventdata.bad(f"calendars is a list of at most {MAX_CALENDARS} calendar ids, such as 3,7.")
    return [int(p) for p in parts]


def _event(host: Host, principal: Principal, request: Request) -> tuple[Collection, Resource]:
    """The calendar and the event a URL names; 404 when the user cannot read it or it is no event."""
    collection = readable_calendar(host, principal, request.path_params["id"])
    name = request.path_params["name"]
    resource = host.store.resource(collection.id, name) if 0 < len(name) <= 255 else None
    if resource is None or resource.component != "VEVENT":
        raise Rejected(404, None, "No such event.")
    return collection, resource


def _calendar_json(entry: Entry, shown: bool) -> dict[str, Any]:
    return {
        "id": entry.collection.id,
        "title": entry.title,
        "color": entry.colour,
        "writable": entry.privilege in ("write", "admin"),
        "shown": shown,
    }

"""The calendars page: a user's own, team and shared calendars; create, rename, recolour, delete.

Everything is decided by the kernel: what a user sees is what ``host.privileges``
lets him read, and every change goes through ``host.writes`` with him as the
principal, so the same privilege rules, ``validate_calendar`` hooks (limits) and
change feed apply as for a CalDAV client. A calendar the user cannot read
answers 404, like one that does not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from kernel import PRIVILEGES, Rejected
from plugins.web.access import readable_calendar
from plugins.web.context import PageContext
from plugins.web.endpoints import WEB, WebApp
from plugins.web.subscribe import APPS

if TYPE_CHECKING:
    from starlette.requests import Request

    from kernel import Collection, Host, Principal, Reach
    from plugins.web.sessions import Session

_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}(?:[0-9A-Fa-f]{2})?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: Fixed messages a redirect after a change may show (never text from the request).
DONE = {"created": "Calendar created.", "saved": "Calendar saved.", "deleted": "Calendar deleted."}
#: Colour of calendars that have none.
DEFAULT_COLOUR = "#2457c5"


@dataclass(frozen=True)
class Entry:
    """One calendar as the page lists it, with what the user may do to it."""

    collection: Collection
    privilege: str
    events: int
    can_edit: bool
    can_delete: bool

    @property
    def title(self) -> str:
        """The calendar's display name, or its path."""
        return self.collection.display_name or self.collection.path

    @property
    def colour(self) -> str:
        """The calendar's colour as CSS (#RRGGBB)."""
        colour = self.collection.color or ""
        return colour[:7] if _COLOUR.fullmatch(colour) else DEFAULT_COLOUR


def routes(app: WebApp) -> list[BaseRoute]:
    """The page and its three forms."""
    host = app.host

    def page(request: Request, session: Session, body: Any) -> Response:
        """GET: the calendars page."""
        seen = read_seen(host, session.principal)
        sections = listing(host, session.principal, seen)
        return app.render(
            request, "calendars.html", session=session, sections=sections,
            owners=creatable_homes(host, session.principal, seen.reach),
            notice=DONE.get(request.query_params.get("done", "")), apps=list(APPS.items()),
        )

    def one(request: Request, session: Session, body: Any) -> Response:
        """GET: one calendar's page: what it is, what the user may do, and the panels plugins add."""
        collection = readable_calendar(host, session.principal, request.path_params["id"])
        principal = session.principal
        entry = _entry(
            collection, host.privileges(principal, collection), event_counts(host, [collection.id]).get(collection.id, 0),
            host.container_privileges(principal, collection.owner, collection.path),
        )
        panels = app.extensions.calendar_panels(PageContext(app, request, session, None), collection)
        return app.render(
            request, "calendar.html", session=session, e=entry, panels=panels, apps=list(APPS.items()),
            feeds=app.extensions.feeds is not None,
        )

    def create(request: Request, session: Session, form: dict[str, str]) -> Response:
        """POST: a new calendar in the user's home or a team's he administers."""
        principal = session.principal
        owner = next((o for o in creatable_homes(host, principal) if o.name == form.get("owner", principal.name)), None)
        if owner is None:
            raise Rejected(403, None, "You may not create calendars there.")
        attrs = attributes(form, require_name=True)
        host.writes.create_collection(
            owner, free_path(host, owner, attrs["display_name"]), "calendar", principal=principal, attrs=attrs,
            source="web",
        )
        return _done(app, request, "created")

    def edit(request: Request, session: Session, form: dict[str, str]) -> Response:
        """POST: rename, recolour, describe."""
        collection = readable_calendar(host, session.principal, request.path_params["id"])
        host.writes.update_collection(
            collection, principal=session.principal, attrs=attributes(form, require_name=True), source="web"
        )
        return _done(app, request, "saved")

    def delete(request: Request, session: Session, form: dict[str, str]) -> Response:
        """POST: delete the calendar and its events."""
        collection = readable_calendar(host, session.principal, request.path_params["id"])
        host.writes.delete_collection(collection, principal=session.principal, source="web")
        return _done(app, request, "deleted")

    return [
        Route(f"{WEB}/calendars", app.endpoint(page), methods=["GET"]),
        Route(f"{WEB}/calendars/{{id:int}}", app.endpoint(one), methods=["GET"]),
        Route(f"{WEB}/calendars/new", app.endpoint(create, write=True), methods=["POST"]),
        Route(f"{WEB}/calendars/{{id:int}}/edit", app.endpoint(edit, write=True), methods=["POST"]),
        Route(f"{WEB}/calendars/{{id:int}}/delete", app.endpoint(delete, write=True), methods=["POST"]),
    ]


def _done(app: WebApp, request: Request, what: str) -> Response:
    return RedirectResponse(app.url(request, f"{WEB}/calendars?done={what}"), 303)


@dataclass(frozen=True)
class Seen:
    """What the calendar pages start from: what the user reaches through groups and grants
    (``store.reach``) and his own calendars."""

    reach: Reach
    own: list[Collection]


def read_seen(host: Host, principal: Principal) -> Seen:
    """:class:`Seen` for ``principal``: one round trip on PostgreSQL (the reach named ahead
    goes with the read of his calendars)."""
    store = host.store
    with store.expecting(lambda: store.reach_statements(principal.id)):
        own = store.collections(principal.id, parent=None, kind="calendar")
        return Seen(store.reach(principal.id), own)


def visible_calendars(host: Host, principal: Principal, seen: Seen | None = None) -> list[tuple[str, list[Collection]]]:
    """The calendars ``principal`` can read, in sections: his own, each team's, shared with him.

    ``seen``: :func:`read_seen`'s answer, read here when not given. Every privilege asked
    here is worked out from its reach, so the round trips do not grow with the teams and
    grants."""
    seen = seen or read_seen(host, principal)
    reach = seen.reach
    sections: list[tuple[str, list[Collection]]] = [("My calendars", seen.own)]
    teams = host.store.collections_of_owners([g.id for g in reach.groups], top_level=False, kind="calendar")
    allowed = host.privileges_of(principal, teams, reach=reach)
    for group in reach.groups:
        team = [c for c in teams if c.owner.id == group.id and "read" in allowed[c.id]]
        sections.append((f"Team: {group.display_name or group.name}", team))
    in_teams = {g.id for g in reach.groups}
    shared = [
        c for c in host.reachable_collections(principal, reach=reach)
        if c.kind == "calendar" and c.owner.id not in in_teams
    ]
    sections.append(("Shared with me", sorted(shared, key=lambda c: (c.owner.name, c.path))))
    return sections


def listing(host: Host, principal: Principal, seen: Seen | None = None) -> list[tuple[str, list[Entry]]]:
    """:func:`visible_calendars` with each calendar's event count and what the user may do
    (``seen`` as there)."""
    seen = seen or read_seen(host, principal)
    sections = visible_calendars(host, principal, seen)
    every = [c for _, cs in sections for c in cs]
    counts = event_counts(host, [c.id for c in every])
    held = host.privileges_of(principal, every, reach=seen.reach)
    # what one may do where a calendar is bound: the same for every calendar of one home
    containers: dict[tuple[int, str], frozenset[str]] = {}
    for c in every:
        where = (c.owner.id, c.path.rpartition("/")[0])
        if where not in containers:
            containers[where] = host.container_privileges(principal, c.owner, c.path, reach=seen.reach)
    result = []
    for title, collections in sections:
        entries = [
            _entry(c, held[c.id], counts.get(c.id, 0), containers[(c.owner.id, c.path.rpartition("/")[0])])
            for c in collections
        ]
        if entries or title == "My calendars":
            result.append((title, entries))
    return result


def _entry(collection: Collection, held: frozenset[str], events: int, container: frozenset[str]) -> Entry:
    return Entry(collection, max(held, key=PRIVILEGES.index), events, "admin" in held, "admin" in container)


def event_counts(host: Host, collection_ids: list[int]) -> dict[int, int]:
    """How many events (VEVENT objects, a recurring one counted once) each calendar holds."""
    if not collection_ids:
        return {}
    among, values = host.store.one_of("collection_id", collection_ids)
    rows = host.store.execute(
        f"SELECT collection_id, count(*) FROM resources WHERE component = 'VEVENT' AND {among} GROUP BY collection_id",
        values,
    )
    return {int(cid): int(n) for cid, n in rows}


def creatable_homes(host: Host, principal: Principal, reach: Reach | None = None) -> list[Principal]:
    """Where ``principal`` may create calendars: his own home and those of teams he administers
    (``reach``: his ``store.reach``, read here when not given)."""
    if reach is None:
        reach = host.store.reach(principal.id)
    return [principal, *(g for g in reach.groups if "admin" in host.home_privileges(principal, g, reach=reach))]


def attributes(form: dict[str, str], *, require_name: bool) -> dict[str, Any]:
    """A calendar's name, colour and description from a form; 400 when one is unusable."""
    name = form.get("display_name", "").strip()
    if require_name and not name:
        raise Rejected(400, None, "Give the calendar a name.")
    if len(name) > 200 or _CONTROL.search(name):
        raise Rejected(400, None, "A calendar name has at most 200 characters and no control characters.")
    colour = form.get("color", "").strip() or DEFAULT_COLOUR
    if not _COLOUR.fullmatch(colour):
        raise Rejected(400, None, "A colour is written #RRGGBB, such as #2457c5.")
    description = form.get("description", "").strip()
    if len(description) > 2000 or _CONTROL.search(description):
        raise Rejected(400, None, "A description has at most 2000 characters and no control characters.")
    return {"display_name": name, "color": colour, "description": description or None}


def free_path(host: Host, owner: Principal, name: str) -> str:
    """A new calendar's path in ``owner``'s home: its name made URL-friendly, numbered if taken."""
    stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "calendar"
    for n in range(1, 100):
        path = stem if n == 1 else f"{stem}-{n}"
        if host.store.collection(owner.id, path) is None:
            return path
    raise Rejected(409, None, "Too many calendars with this name: choose another.")

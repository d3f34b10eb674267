"""The Subscribe dialog's answers: for one calendar and one app, the URL, the user name and the steps.

Confluence's flow: pick a calendar, pick the app, get what to paste. The addresses
are the CalDAV server's public ones (docs/caldav.md, "Addresses") on the public
``base_url``: apps that discover calendars get the server's address, apps that
subscribe to one calendar get that calendar's address. They are offered only while
the ``caldav_server`` plugin is enabled.

Subscribe-only apps (Google Calendar, Outlook.com) need a secret feed URL. The
feeds belong to the ``caldav_server`` plugin, which offers them to the web app as
a feed provider through the ``web_extend`` hook (``web.set_feed_provider``): the
user then makes and revokes his own feed URLs of a calendar he may read, in the
dialog (``/web/api/calendars/{id}/feeds``). Without a provider the dialog gives
the command an administrator runs instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kernel.types import Rejected
from plugins.web.access import readable_calendar
from plugins.web.endpoints import WEB, WebApp

if TYPE_CHECKING:
    from starlette.requests import Request

    from kernel import Collection
    from plugins.web.sessions import Session

#: Characters left as they are in a path segment of a DAV address.
_SAFE = "-._~!$&'()*+,;=:@"


@dataclass(frozen=True)
class App:
    """A calendar app: what it is given (the server, one calendar, or a feed) and the steps in it."""

    title: str
    #: "server" (it discovers the calendars), "calendar" (the calendar's own URL) or "feed" (read-only).
    gives: str
    steps: tuple[str, ...]


APPS: dict[str, App] = {
    "apple-macos": App("Apple Calendar (macOS)", "server", (
        "Open Calendar, then Calendar → Settings → Accounts and click +.",
        "Choose Other CalDAV Account; set Account Type to Manual.",
        "Enter the user name {user}, your password, and the server address {url}.",
        "Click Sign In: the calendars you can see here appear in Calendar, this one among them.",
    )),
    "apple-ios": App("Apple Calendar (iPhone, iPad)", "server", (
        "Open Settings → Calendar → Accounts → Add Account → Other → Add CalDAV Account.",
        "Server: {url}; user name: {user}; your password.",
        "Tap Next: your calendars, this one among them, appear in the Calendar app.",
    )),
    "thunderbird": App("Thunderbird", "calendar", (
        "In the Calendar tab choose New Calendar → On the Network.",
        "User name: {user}. Location: {url}",
        "Click Find Calendars, pick this calendar and subscribe; enter your password when asked.",
    )),
    "outlook-caldav-synchronizer": App("Outlook with CalDav Synchronizer", "calendar", (
        "Install the CalDav Synchronizer add-in for Outlook (caldavsynchronizer.org).",
        "In its ribbon choose Synchronization Profiles → Add new profile → Generic CalDAV/CardDAV.",
        "DAV URL: {url}; user name: {user}; your password. Click Test or discover settings.",
        "Pick an Outlook calendar folder to sync this calendar into and click OK.",
    )),
    "davx5": App("DAVx5 (Android)", "server", (
        "In DAVx5 tap + and choose Login with URL and user name.",
        "Base URL: {url}; user name: {user}; your password.",
        "Create the account, then tick this calendar in the account's CalDAV list.",
    )),
    "gnome-evolution": App("GNOME Calendar / Evolution", "calendar", (
        "In Evolution choose File → New → Calendar and set Type to CalDAV.",
        "URL: {url}; user name: {user}.",
        "Click Find Calendars, pick this calendar and confirm; GNOME Calendar shows it too.",
    )),
    "google": App("Google Calendar (read-only)", "feed", (
        "Google can only read a calendar through a secret feed URL: {feed}",
        "In Google Calendar, next to Other calendars click + → From URL.",
        "Paste the feed URL and click Add calendar. Google refreshes it every few hours.",
    )),
    "outlook-com": App("Outlook.com (read-only)", "feed", (
        "Outlook.com can only read a calendar through a secret feed URL: {feed}",
        "In Outlook.com open the calendar, choose Add calendar → Subscribe from web.",
        "Paste the feed URL, give the calendar a name and click Import.",
    )),
}


#: How the first step of a read-only app says where its feed URL comes from.
SELF_SERVICE = "create one below with Create a feed URL (it is yours; revoke it here when you stop using it)."
BY_ADMIN = "ask an administrator to make one with: {command}"


def routes(app: WebApp) -> list[BaseRoute]:
    """``GET /web/api/calendars/{id}/subscribe?app=...`` and the user's own feed URLs of a calendar."""
    host = app.host

    def answer(request: Request, session: Session, body: Any) -> Response:
        """GET: the dialog's answer for one calendar and one app."""
        collection = readable_calendar(host, session.principal, request.path_params["id"])
        key = request.query_params.get("app", "")
        chosen = APPS.get(key)
        if chosen is None:
            raise Rejected(400, None, f"Choose an app: one of {', '.join(APPS)}.")
        return _json(instructions(
            chosen, collection, session.principal.name, host.base_url, "caldav_server" in host.plugin_names(),
            self_service=app.extensions.feeds is not None,
        ))

    def provider() -> Any:
        if app.extensions.feeds is None:
            raise Rejected(404, None, "Feed URLs are not offered here: the caldav_server plugin is not enabled.")
        return app.extensions.feeds

    def feeds(request: Request, session: Session, body: Any) -> Response:
        """GET: the user's active feed URLs of the calendar (ids and dates, never the URLs)."""
        collection = readable_calendar(host, session.principal, request.path_params["id"])
        return _json({"feeds": [_feed(f) for f in provider().feeds(session.principal, collection)]})

    def create(request: Request, session: Session, body: Any) -> Response:
        """POST: a new feed URL of the calendar, made by the user, shown only in this answer."""
        collection = readable_calendar(host, session.principal, request.path_params["id"])
        url = provider().create(session.principal, collection)
        made = provider().feeds(session.principal, collection)
        return _json({"url": url, "feeds": [_feed(f) for f in made]}, 201)

    def revoke(request: Request, session: Session, body: Any) -> Response:
        """DELETE: one of the user's feed URLs of the calendar stops working."""
        collection = readable_calendar(host, session.principal, request.path_params["id"])
        if not provider().revoke(session.principal, collection, request.path_params["feed"]):
            raise Rejected(404, None, "No such feed URL of yours on this calendar.")
        return _json({"revoked": request.path_params["feed"]})

    base = f"{WEB}/api/calendars/{{id:int}}"
    return [
        Route(f"{base}/subscribe", app.endpoint(answer, as_json=True), methods=["GET"]),
        Route(f"{base}/feeds", app.endpoint(feeds, as_json=True), methods=["GET"]),
        Route(f"{base}/feeds", app.endpoint(create, write=True, as_json=True), methods=["POST"]),
        Route(f"{base}/feeds/{{feed:int}}", app.endpoint(revoke, write=True, as_json=True), methods=["DELETE"]),
    ]


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status, headers={"Cache-Control": "no-store"})


def _feed(link: Any) -> dict[str, Any]:
    created = dt.datetime.fromtimestamp(link.created, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {"id": link.id, "created": created}


def calendar_url(base_url: str, collection: Collection) -> str:
    """The calendar's CalDAV address on the public URL (docs/caldav.md)."""
    path = "/".join(quote(segment, safe=_SAFE) for segment in collection.path.split("/"))
    return f"{base_url}/dav/cal/{quote(collection.owner.name, safe=_SAFE)}/{path}/"


def instructions(
    app: App, collection: Collection, user: str, base_url: str, caldav: bool, *, self_service: bool = False
) -> dict[str, Any]:
    """What the dialog shows for one app and one calendar (``self_service``: the user makes feed URLs here)."""
    command = f"teamcal feed create {collection.owner.name}/{collection.path}"
    feed = SELF_SERVICE if self_service else BY_ADMIN.format(command=command)
    if app.gives == "feed":
        url = None
    elif not caldav:
        return {"app": app.title, "available": False, "readOnly": False, "url": None, "user": user,
                "steps": ["CalDAV is not enabled on this server: ask your administrator to enable caldav_server."]}
    else:
        url = f"{base_url}/" if app.gives == "server" else calendar_url(base_url, collection)
    steps = [s.format(url=url or "", user=user, feed=feed) for s in app.steps]
    return {
        "app": app.title,
        "available": True,
        "readOnly": app.gives == "feed",
        "url": url,
        "user": user,
        "steps": steps,
        "feedCommand": command if app.gives == "feed" and not self_service else None,
        "selfService": app.gives == "feed" and self_service,
    }

"""Web app for browsers: sign in, see and manage calendars, a calendar view, and the Subscribe dialog.

The hook implementations only: ``sessions`` keeps sign-ins, ``endpoints`` the
plumbing every page shares (session, CSRF, answers), ``signin`` the sign-in
form and the server root, ``calendars`` the calendars page, ``calendar_view``
the calendar view and its JSON API (``eventdata``, ``occurrences``), ``subscribe``
the Subscribe dialog's answers, ``admin`` and ``admin_*`` the admin console (with
``extensions``, the sections other plugins add to it); templates and
static files (FullCalendar vendored under ``static/vendor/``) sit beside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from kernel import Job, SecretColumn, hookimpl
from plugins.web import admin, calendar_view, calendars, sessions, signin, subscribe
from plugins.web.endpoints import WEB, WebApp
from plugins.web.schema import migrations
from plugins.web.settings import Settings

if TYPE_CHECKING:
    from kernel import Host

STATIC = Path(__file__).parent / "static"


@hookimpl
def register_settings() -> dict[str, type]:
    """Declare the ``[web]`` table (session lifetime, sign-in form size)."""
    return {"web": Settings}


@hookimpl
def register_migrations(host: Host) -> Any:
    """The plugin's tables: sessions and the cookie-signing key."""
    return migrations


@hookimpl
def register_secret_columns() -> list[SecretColumn]:
    """The cookie-signing key is encrypted with ``[kernel] secret_key`` when one is set."""
    return [SecretColumn("web_keys", "name", "value")]


@hookimpl
def register_routes(host: Host) -> list[BaseRoute]:
    """The server root for browsers, the sign-in pages, the app's pages and its static files."""
    app = WebApp(host)
    return [
        *signin.routes(app),
        *calendars.routes(app),
        *calendar_view.routes(app),
        *subscribe.routes(app),
        *admin.routes(app),
        Mount(f"{WEB}/static", app=StaticFiles(directory=STATIC), name="web-static"),
    ]


@hookimpl
def register_jobs(host: Host) -> list[Job]:
    """Forget ended sessions every hour."""
    return [Job("web: purge ended sessions", 3600, sessions.purge)]

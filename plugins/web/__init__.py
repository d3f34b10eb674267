"""Web app for browsers: sign in, see and manage calendars, a calendar view, and the Subscribe dialog.

The hook implementations only: ``sessions`` keeps sign-ins, ``endpoints`` the
plumbing every page shares (session, CSRF, answers), ``signin`` the sign-in
form and the server root, ``calendars`` the calendars page, ``calendar_view``
the calendar view and its JSON API (``eventdata``, ``occurrences``), ``subscribe``
the Subscribe dialog's answers, ``admin`` and ``admin_*`` the admin console;
``extensions``, ``context`` and ``plugin_pages`` what other plugins add through the
``web_extend`` hook (``hookspecs``: pages, calendar panels, admin sections); templates and
static files (FullCalendar vendored under ``static/vendor/``) sit beside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from kernel import Job, SecretColumn, hookimpl
from plugins.web import (
    admin,
    calendar_view,
    calendars,
    hookspecs,
    plugin_pages,
    sessions,
    signin,
    subscribe,
)
from plugins.web.endpoints import WEB, WebApp
from plugins.web.extensions import WebExtensions
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
def register_hookspecs() -> Any:
    """Offer ``web_extend`` to other plugins (pages, calendar panels, admin sections, feed URLs)."""
    return hookspecs


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
    """The server root for browsers, the sign-in pages, the app's pages, the pages other plugins
    add through ``web_extend``, and the static files."""
    app = WebApp(host, extend(host))
    return [
        *signin.routes(app),
        *calendars.routes(app),
        *calendar_view.routes(app),
        *subscribe.routes(app),
        *admin.routes(app),
        *plugin_pages.routes(app),
        Mount(f"{WEB}/static", app=StaticFiles(directory=STATIC), name="web-static"),
    ]


@hookimpl
def register_jobs(host: Host) -> list[Job]:
    """Forget ended sessions every hour."""
    return [Job("web: purge ended sessions", 3600, sessions.purge)]


def extend(host: Host) -> WebExtensions:
    """Ask every ``web_extend`` implementation for its pages, panels and sections (oldest plugin first)."""
    extensions = WebExtensions()
    given = {"host": host, "web": extensions}
    # one implementation at a time, as pluggy calls them (positionally, so hook tracing sees
    # each), to name each registration after its plugin
    for impl in reversed(host.hook.web_extend.get_hookimpls()):
        extensions.current_plugin = impl.plugin_name
        impl.function(*(given[name] for name in impl.argnames))
    extensions.current_plugin = "?"
    return extensions

"""CalDAV server: WebDAV (RFC 4918) and CalDAV (RFC 4791) for Apple Calendar, Thunderbird, DAVx5 and co.

The hook implementations only: the protocol lives in ``webdav/`` (generic,
never importing CalDAV), ``caldav/`` (calendars on top of it) and ``feeds/``
(secret read-only ICS feed URLs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Mount, Route

from kernel import Job, hookimpl
from plugins.caldav_server import caldav, discovery, hookspecs, webdav
from plugins.caldav_server.caldav import stored_plans
from plugins.caldav_server.feeds import commands as feed_commands
from plugins.caldav_server.feeds import route as feed_route
from plugins.caldav_server.feeds.self_service import SelfServiceFeeds
from plugins.caldav_server.settings import Settings
from plugins.caldav_server.webdav.app import DAV_ROOT, DavApp
from plugins.caldav_server.webdav.context import DavContext
from plugins.caldav_server.webdav.extensions import DavExtensions
from plugins.caldav_server.webdav.resolve import Target
from plugins.caldav_server.webdav.schema import migrations

if TYPE_CHECKING:
    from kernel import Host, ObjectWrite, Resource, Store


#: What other plugins may import for DAV extensions (``dav_extend`` and the ``dav_*`` hooks):
#: the extension registry, the request context and target handlers receive, the DAV URL
#: prefix, and the hook specifications. Everything else in this package is internal.
__all__ = ["DAV_ROOT", "DavContext", "DavExtensions", "Target", "hookspecs"]

#: Seconds between runs of the job that plans objects stored without a plan.
PLANS_INTERVAL = 600.0

#: The sub-commands it adds, read without importing it: while it is disabled they say how to enable it.
COMMANDS = ("feed",)


@hookimpl
def register_settings() -> dict[str, type]:
    """Declare the ``[caldav_server]`` table (lock timeouts, request budgets)."""
    return {"caldav_server": Settings}


@hookimpl
def register_hookspecs() -> Any:
    """Offer dav_properties, dav_reports, dav_methods and dav_extend to other plugins."""
    return hookspecs


@hookimpl
def register_migrations(host: Host) -> Any:
    """The plugin's tables (dead properties of principals and homes, locks, feed tokens, expansion plans)."""
    return migrations


@hookimpl
def object_stored(tx: Store, write: ObjectWrite, resource: Resource) -> None:
    """Store the expansion plan of a calendar object with it (``caldav.stored_plans``)."""
    if write.collection.kind == "calendar" and write.data is not None and write.calendar is not None:
        stored_plans.record(tx, resource, write.data, write.calendar)


@hookimpl
def register_jobs(host: Host) -> list[Job]:
    """Plan the calendar objects stored without a current plan (``caldav.stored_plans.backfill``)."""
    return [Job("caldav_server.plans", PLANS_INTERVAL, lambda host: stored_plans.backfill(
        host.store, host.state("caldav_server.plans", stored_plans.Progress)))]


@hookimpl
def register_routes(host: Host) -> list[BaseRoute]:
    """Mount the DAV tree at /dav, discovery at /.well-known, PROPFIND on the server root, ICS feeds at /feeds."""
    app = DavApp(host)
    webdav.install(app)
    caldav.install(app)
    host.hook.dav_extend(host=host, dav=DavExtensions(app))
    app.add_hooked()
    return [
        Mount(DAV_ROOT, app=app.asgi),
        Route("/.well-known/caldav", discovery.well_known(host, DAV_ROOT), methods=discovery.METHODS),
        Route("/.well-known/carddav", discovery.no_carddav),
        Route("/", app.endpoint, methods=["PROPFIND", "OPTIONS", "REPORT"]),
        *feed_route.routes(host),
    ]


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``teamcal feed`` (secret ICS feed URLs of calendars)."""
    feed_commands.register(cli)


@hookimpl(optionalhook=True)
def web_extend(host: Host, web: Any) -> None:
    """Let web users make and revoke their own feed URLs in the Subscribe dialog (the web plugin's hook)."""
    web.set_feed_provider(SelfServiceFeeds(host))
